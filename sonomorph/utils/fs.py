"""Atomic outputs: write to a temporary file beside the target, then rename.

A crash, Ctrl-C or SIGTERM part way through leaves the previous file (or nothing),
never a half-written one. An output never replaces an input, and replaces an existing
output only when asked.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from sonomorph.errors import OutputExistsError

TMP_PREFIX = ".sonomorph-tmp-"
#: The reason of the OutputExistsError for an output that exists; the command line adds
#: the option that replaces it (an API caller passes ``overwrite=True``).
EXISTS_REASON = "output exists"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_output(
    path: str | os.PathLike, *, overwrite: bool = False, inputs: Iterable[str | os.PathLike] = ()
) -> Path:
    """Raise :class:`OutputExistsError` if writing ``path`` would replace an input or,
    unless ``overwrite``, an existing file. Returns the path as a :class:`Path`."""
    path = Path(path)
    for src in inputs:
        src = Path(src)
        if _same_file(path, src) or path.resolve() == src.resolve():
            raise OutputExistsError("output would replace an input file", path)
    if path.is_dir():
        raise OutputExistsError("output path is a folder", path)
    if path.exists() and not overwrite:
        raise OutputExistsError(EXISTS_REASON, path)
    return path


@contextlib.contextmanager
def atomic_path(
    path: str | os.PathLike,
    *,
    overwrite: bool = False,
    inputs: Iterable[str | os.PathLike] = (),
) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto ``path`` on success.

    The temporary name keeps the target's suffix so that libraries choosing a format
    by extension (soundfile, matplotlib, PIL) behave. On any exception, including
    KeyboardInterrupt, the temporary file is removed and the target is left untouched.
    """
    path = check_output(path, overwrite=overwrite, inputs=inputs)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=path.suffix, dir=path.parent)
    os.close(fd)
    # mkstemp makes the file private (0600); an output should get the usual permissions.
    os.chmod(tmp, 0o666 & ~_umask())
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if not tmp_path.exists() or tmp_path.stat().st_size == 0:
            raise OSError(f"nothing was written to {path}")
        # Re-check: another job may have created the output meanwhile.
        check_output(path, overwrite=overwrite, inputs=inputs)
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp_path.unlink()
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, overwrite: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically (fsync'd before the rename)."""
    with atomic_path(path, overwrite=overwrite) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str, *, overwrite: bool = False) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"), overwrite=overwrite)


def portable_path(path: str | os.PathLike) -> str:
    """A folder or file as results and model files record it: relative to the working
    directory when given absolute (files carry no absolute paths), with forward slashes."""
    text = os.fspath(path)
    if os.path.isabs(text):
        text = os.path.relpath(text)
    return Path(text).as_posix()
