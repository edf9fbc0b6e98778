"""What an evaluation file records about the weights it scored, without this machine's paths.

:func:`weights_record` gives the file's name (relative to the working folder or to the
package when it is below one of them, else just its name), size and sha256, and the
training steps from its metadata; :func:`portable_path` is the path rule on its own.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["weights_record", "portable_path"]


def portable_path(path: str | os.PathLike) -> str:
    """``path`` as it can be written in a shared results file: relative to the working
    folder, or ``sonomorph/...`` inside the package, when below them; otherwise its name."""
    import sonomorph

    p = Path(path).resolve()
    package = Path(sonomorph.__file__).resolve().parent
    for base, prefix in ((package, Path("sonomorph")), (Path.cwd().resolve(), Path())):
        try:
            return (prefix / p.relative_to(base)).as_posix()
        except ValueError:
            continue
    return p.name


def weights_record(path: str | os.PathLike, meta: Mapping[str, Any] | None = None
                   ) -> dict[str, Any]:
    """``{"file", "bytes", "sha256", "steps", ...}`` of a weights file. ``steps`` is the
    training steps behind the weights: the metadata's ``total_steps`` when the run
    recorded it (steps carried over from ``--init-from``), else its ``step`` (None when
    the metadata has neither, e.g. a peer's published weights). ``step`` (the last run's
    own count) and ``init_from`` (a file name) are added when known."""
    from sonomorph.utils.hashing import sha256_file

    meta = dict(meta or {})
    path = Path(path)
    record: dict[str, Any] = {"file": portable_path(path), "bytes": path.stat().st_size,
                              "sha256": sha256_file(path)}
    step = meta.get("step")
    total = meta.get("total_steps")
    record["steps"] = total if total is not None else step
    if step is not None:
        record["step"] = step
    train = meta.get("train_config")
    init = train.get("init_from") if isinstance(train, Mapping) else None
    if init:
        record["init_from"] = Path(str(init)).name
    return record
