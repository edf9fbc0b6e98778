"""Debian packages for the real-audio library (:mod:`sonomorph.data.corpus.sources`):
finding or downloading each package's .deb (``apt-get download``; nothing is installed) and
reading the members a package's :class:`~sonomorph.data.corpus.sources_labels.Rule` needs,
streamed from ``dpkg-deb --fsys-tarfile`` (zip and pk3 members through a temporary file,
deleted at once)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tarfile
import tempfile
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from sonomorph.data.corpus.common import CorpusError
from sonomorph.data.corpus.sources_labels import Rule
from sonomorph.errors import DependencyError

APT_GET = "apt-get"
APT_LISTS = Path("/var/lib/apt/lists")


# ----------------------------------------------------------------------------- fetching


@dataclass(frozen=True)
class Deb:
    package: str
    version: str
    path: Path


def _deb_field(path: Path, name: str) -> str:
    proc = subprocess.run(["dpkg-deb", "-f", os.fspath(path), name], capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        raise CorpusError(f"not a readable Debian package: {(proc.stderr.strip() or 'dpkg-deb failed')[:200]}",
                          path)
    return proc.stdout.strip()


def _newest(paths: list[Path]) -> Path:
    """The .deb with the highest version (dpkg's ordering) among ``paths``."""
    best = paths[0]
    for p in paths[1:]:
        if subprocess.run(["dpkg", "--compare-versions", _deb_field(p, "Version"), "gt",
                           _deb_field(best, "Version")], check=False).returncode == 0:
            best = p
    return best


def find_deb(debs_dir: Path, package: str) -> Deb | None:
    """The downloaded .deb of ``package`` in ``debs_dir`` (the newest when there are several)."""
    found = sorted(Path(debs_dir).glob(f"{package}_*.deb"))
    found = [p for p in found if p.name.split("_", 1)[0] == package]
    if not found:
        return None
    path = _newest(found) if len(found) > 1 else found[0]
    return Deb(package, _deb_field(path, "Version"), path)


def apt_lists_present() -> bool:
    return any(APT_LISTS.glob("*_Packages*"))


def fetch_debs(packages: Iterable[str], debs_dir: Path, *, report: Callable[[str], None],
               present: dict[str, Deb] | None = None) -> tuple[dict[str, Deb], dict[str, str]]:
    """Find or download (``apt-get download``) each package's .deb into ``debs_dir``.

    Returns ``(found, missing)``; ``missing`` maps a package to a one-line reason, which is
    also passed to ``report``. Raises :class:`DependencyError` when a download is needed
    and apt's package lists are missing (or apt-get is not there)."""
    debs_dir = Path(debs_dir)
    found: dict[str, Deb] = {}
    missing: dict[str, str] = {}
    wanted = list(dict.fromkeys(packages))
    to_fetch = []
    for name in wanted:
        deb = present[name] if present and name in present else find_deb(debs_dir, name)
        if deb is None:
            to_fetch.append(name)
        else:
            found[name] = deb
    if not to_fetch:
        return found, missing
    if shutil.which(APT_GET) is None:
        raise DependencyError(f"{APT_GET} not found: the sources build downloads Debian packages with "
                              "`apt-get download` (or pass --debs DIR holding the .deb files)")
    if not apt_lists_present():
        raise DependencyError(f"apt's package lists are missing ({APT_LISTS}): run `apt-get update` "
                              f"once, then build again (needed to download {', '.join(to_fetch)})")
    debs_dir.mkdir(parents=True, exist_ok=True)
    for name in to_fetch:
        with tempfile.TemporaryDirectory(prefix=".download-", dir=debs_dir) as tmp:
            proc = subprocess.run([APT_GET, "download", name], cwd=tmp, capture_output=True, text=True,
                                  check=False, env=dict(os.environ, LC_ALL="C.UTF-8"))
            got = sorted(Path(tmp).glob(f"{name}_*.deb"))
            if proc.returncode != 0 or not got:
                lines = [ln for ln in (proc.stderr or proc.stdout or "").strip().splitlines() if ln.strip()]
                reason = lines[-1].strip() if lines else f"apt-get download exited {proc.returncode}"
                missing[name] = reason[:200]
                report(f"cannot fetch {name}: {missing[name]}")
                continue
            os.replace(got[0], debs_dir / got[0].name)
        deb = find_deb(debs_dir, name)
        if deb is None:
            missing[name] = "downloaded file not found"
            report(f"cannot fetch {name}: {missing[name]}")
        else:
            found[name] = deb
    return found, missing


# ----------------------------------------------------------------------------- extraction


def _tar_name(name: str) -> str:
    return name if name.startswith("./") else "./" + name.lstrip("/")


def read_members(deb: Path, rule: Rule, tmp_dir: Path, skipped: Counter) -> dict[str, bytes]:
    """The needed members of one .deb as {member: bytes}, read from ``dpkg-deb
    --fsys-tarfile`` as a stream. An archive member (pk3, zip) is copied to a temporary
    file in ``tmp_dir``, its needed members read, and the temporary deleted at once;
    archive members are named ``<tar member>!<inner name>``."""
    files: dict[str, bytes] = {}
    with tempfile.TemporaryFile(dir=tmp_dir) as err:
        proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", os.fspath(deb)], stdout=subprocess.PIPE,
                                stderr=err)
        try:
            with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
                for member in tar:
                    if not member.isfile():
                        continue
                    name = _tar_name(member.name)
                    if rule.plain(name):
                        f = tar.extractfile(member)
                        files[name] = f.read() if f is not None else b""
                    elif rule.archive(name):
                        f = tar.extractfile(member)
                        if f is None:
                            continue
                        inner_tmp = tmp_dir / f"inner-{len(files)}.zip"
                        try:
                            with open(inner_tmp, "wb") as out:
                                shutil.copyfileobj(f, out, 1 << 20)
                            with zipfile.ZipFile(inner_tmp) as z:
                                for info in z.infolist():
                                    if info.is_dir():
                                        continue
                                    if info.filename.startswith("sound/voices/festivoxmale/"):
                                        skipped["synthetic"] += 1
                                    elif rule.inner(info.filename):
                                        files[f"{name}!{info.filename}"] = z.read(info)
                        except zipfile.BadZipFile:
                            raise CorpusError(f"{name} is not a readable zip archive", deb) from None
                        finally:
                            with contextlib.suppress(OSError):
                                inner_tmp.unlink()
        except tarfile.TarError as exc:
            raise CorpusError(f"cannot read the package's files: {exc}", deb) from None
        finally:
            if proc.stdout is not None:
                proc.stdout.close()
            rc = proc.wait()
        if rc not in (0, -13):  # -13: SIGPIPE when we stop reading early (never on success)
            err.seek(0)
            last = err.read().decode("utf-8", "replace").strip().splitlines()[-1:] or ["no message"]
            raise CorpusError(f"dpkg-deb --fsys-tarfile failed: {last[0][:200]}", deb)
    return files
