"""Shared machinery of the offline corpus builders (multitrack, speech, genres, screams).

A corpus is a list of :class:`Job` s, one per unit of output (a track folder, a speaker,
a clip). Each job carries every parameter it needs, including its own integer seed, so
it renders the same bytes in any process, in any order, with any worker count.
:func:`run_jobs` renders the jobs not finished yet in a process pool, records each
finished job in a done-marker (``out_dir/.done/<key>.json`` with the sha256 of each
file written), and ends with ``out_dir/manifest.json`` (builder, version, parameters,
sources and licences, and a sha256 per file). A second run with the same arguments does
no work; a job whose files were deleted or changed is rendered again.

Also here: stable seeds (:func:`job_seed`, :func:`job_rng`), a split by group
(:func:`split_groups`), checks for the Debian programs and data the builders need
(:func:`check_tools`), a subprocess runner for text2wave / flite / espeak-ng
(:func:`run_tool`), and byte-deterministic writers (:func:`write_wav`,
:func:`write_json`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import multiprocessing
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sonomorph import __version__
from sonomorph.errors import DependencyError, SonomorphError
from sonomorph.utils.fs import atomic_path
from sonomorph.utils.hashing import sha256_file  # noqa: F401 - its home; re-exported here
from sonomorph.utils.progress import progress_bar

DONE_DIR = ".done"
MANIFEST = "manifest.json"


class CorpusError(SonomorphError):
    """A corpus build failed (a job raised, or a system tool misbehaved)."""


@dataclass
class Job:
    """One unit of output. ``key`` names it (unique within a build, usable as a file
    name); ``params`` is JSON-serialisable and holds everything needed to render it
    deterministically, including its own seed."""

    key: str
    params: dict


# ----------------------------------------------------------------------------- seeds


def job_seed(seed: int, *keys: object) -> int:
    """A 63-bit seed derived from the corpus seed and any keys (track name, role...).

    Uses sha256 of a canonical JSON text, so it is the same in every process, run and
    machine (Python's ``hash()`` is salted per process)."""
    text = json.dumps([int(seed), *[str(k) for k in keys]], separators=(",", ":"))
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def job_rng(seed: int, *keys: object) -> np.random.Generator:
    """A numpy Generator seeded with :func:`job_seed` ``(seed, *keys)``."""
    return np.random.Generator(np.random.PCG64(job_seed(seed, *keys)))


def split_groups(groups: Sequence[str], test_fraction: float, seed: int) -> dict[str, str]:
    """Assign each distinct group (a piece, a speaker) to ``"train"`` or ``"test"``.

    The order is a seeded shuffle of the sorted distinct groups, so the result depends
    only on the set of groups and the seed. At least one group goes to each side when
    there are two or more groups and ``0 < test_fraction < 1``."""
    distinct = sorted(set(groups))
    order = [distinct[i] for i in job_rng(seed, "split").permutation(len(distinct))]
    n_test = int(round(test_fraction * len(distinct)))
    if len(distinct) >= 2 and 0.0 < test_fraction < 1.0:
        n_test = min(max(n_test, 1), len(distinct) - 1)
    test = set(order[:n_test])
    return {g: ("test" if g in test else "train") for g in distinct}


# ----------------------------------------------------------------------------- tools

SF2_DIR = Path("/usr/share/sounds/sf2")
FESTIVAL_VOICES_DIR = Path("/usr/share/festival/voices")

# name -> (kind, what to look for, Debian package)
_TOOLS: dict[str, tuple[str, str, str]] = {
    "festival": ("bin", "festival", "festival"),
    "text2wave": ("bin", "text2wave", "festival"),
    "fluidsynth": ("bin", "fluidsynth", "fluidsynth"),
    "flite": ("bin", "flite", "flite"),
    "espeak-ng": ("bin", "espeak-ng", "espeak-ng"),
    "FluidR3_GM": ("file", str(SF2_DIR / "FluidR3_GM.sf2"), "fluid-soundfont-gm"),
    "TimGM6mb": ("file", str(SF2_DIR / "TimGM6mb.sf2"), "timgm6mb-soundfont"),
    "voice_kal_diphone": ("file", str(FESTIVAL_VOICES_DIR / "english/kal_diphone"), "festvox-kallpc16k"),
    "voice_ked_diphone": ("file", str(FESTIVAL_VOICES_DIR / "english/ked_diphone"), "festvox-kdlpc16k"),
    "voice_lp_diphone": ("file", str(FESTIVAL_VOICES_DIR / "italian/lp_diphone"), "festvox-italp16k"),
    "voice_pc_diphone": ("file", str(FESTIVAL_VOICES_DIR / "italian/pc_diphone"), "festvox-itapc16k"),
    "voice_suo_fi_lj_diphone": ("file", str(FESTIVAL_VOICES_DIR / "finnish/suo_fi_lj_diphone"), "festvox-suopuhe-lj"),
    "voice_hy_fi_mv_diphone": ("file", str(FESTIVAL_VOICES_DIR / "finnish/hy_fi_mv_diphone"), "festvox-suopuhe-mv"),
    "libfluidsynth": ("lib", "fluidsynth", "libfluidsynth3"),
}


def tool_path(name: str) -> Path | None:
    """Where the named program, soundfont or voice is, or None when it is missing."""
    if name not in _TOOLS:
        raise ValueError(f"unknown tool {name!r}; known: {', '.join(sorted(_TOOLS))}")
    kind, what, _ = _TOOLS[name]
    if kind == "bin":
        found = shutil.which(what)
        return Path(found) if found else None
    if kind == "lib":
        import ctypes.util

        found = ctypes.util.find_library(what)
        return Path(found) if found else None
    return Path(what) if Path(what).exists() else None


def missing_tools(*names: str) -> list[str]:
    """The Debian packages to install for the named tools that are missing (sorted,
    without duplicates). Empty when everything is there."""
    return sorted({_TOOLS[n][2] for n in names if tool_path(n) is None})


def check_tools(*names: str) -> None:
    """Raise :class:`DependencyError` naming the Debian packages to install when any of
    the named programs, soundfonts or voices is missing."""
    missing = [n for n in names if tool_path(n) is None]
    if missing:
        packages = " ".join(missing_tools(*missing))
        raise DependencyError(
            f"missing {', '.join(missing)}: install the Debian package(s) {packages} "
            "(or run scripts/install-system-deps.sh)"
        )


@contextlib.contextmanager
def private_tempdir(prefix: str = "sonomorph-corpus-") -> Iterator[Path]:
    """A temporary folder of our own, removed afterwards (tools write scratch files
    there, never beside the outputs)."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        yield Path(tmp)


def run_tool(
    args: Sequence[str | os.PathLike],
    *,
    cwd: str | os.PathLike,
    timeout: float = 120.0,
    input_text: str | None = None,
) -> subprocess.CompletedProcess:
    """Run a system program with an argument list (never a shell) in ``cwd`` (a private
    temporary folder), with a timeout and a fixed locale. A non-zero exit, a timeout or
    a missing program raises :class:`CorpusError` with the last line of its stderr."""
    argv = [os.fspath(a) for a in args]
    env = dict(os.environ, LC_ALL="C.UTF-8", LANG="C.UTF-8")
    try:
        proc = subprocess.run(
            argv, cwd=os.fspath(cwd), input=input_text, capture_output=True, text=True,
            timeout=timeout, env=env, check=False,
        )
    except FileNotFoundError:
        raise DependencyError(f"program not found: {argv[0]}") from None
    except subprocess.TimeoutExpired:
        raise CorpusError(f"{argv[0]} took longer than {timeout:.0f} s") from None
    if proc.returncode != 0:
        last = (proc.stderr or proc.stdout or "").strip().splitlines()[-1:] or ["no message"]
        raise CorpusError(f"{argv[0]} failed (exit {proc.returncode}): {last[0][:200]}")
    return proc


# ----------------------------------------------------------------------------- writers


def _wav_header(channels: int, frames: int, sample_rate: int) -> bytes:
    block = 4 * channels
    fmt = struct.pack("<HHIIHHH", 3, channels, sample_rate, sample_rate * block, block, 32, 0)
    fact = struct.pack("<I", frames)
    data_size = frames * block
    chunks = (b"fmt " + struct.pack("<I", len(fmt)) + fmt
              + b"fact" + struct.pack("<I", len(fact)) + fact
              + b"data" + struct.pack("<I", data_size))
    return b"RIFF" + struct.pack("<I", 4 + len(chunks) + data_size) + b"WAVE" + chunks


def _checked_audio(audio: np.ndarray) -> np.ndarray:
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim == 1:
        audio = audio[None, :]
    if audio.ndim != 2:
        raise ValueError(f"audio must be (channels, samples), got shape {audio.shape}")
    if not np.all(np.isfinite(audio)):
        raise ValueError("audio holds NaN or infinite samples")
    return audio


def wav_bytes(audio: np.ndarray, sample_rate: int) -> bytes:
    """A 32-bit float WAV (format 3) of ``audio`` shaped (channels, samples).

    Written by hand because libsndfile adds a PEAK chunk holding the wall-clock time,
    which would make two identical builds differ; this header has no timestamp."""
    audio = _checked_audio(audio)
    data = np.ascontiguousarray(audio.T).astype("<f4").tobytes()
    return _wav_header(audio.shape[0], audio.shape[1], sample_rate) + data


def write_wav(path: str | os.PathLike, audio: np.ndarray, sample_rate: int) -> Path:
    """Write ``audio`` (channels, samples) as float32 WAV atomically and deterministically
    (the bytes of :func:`wav_bytes`, streamed).

    Replaces a previous file of the same job (a job being rendered again owns its
    outputs)."""
    audio = _checked_audio(audio)
    with atomic_path(path, overwrite=True) as tmp:
        with open(tmp, "wb") as f:
            f.write(_wav_header(audio.shape[0], audio.shape[1], sample_rate))
            np.ascontiguousarray(audio.T, dtype="<f4").tofile(f)
    return Path(path)


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as sorted, indented JSON atomically (same object -> same bytes)."""
    text = json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    return _write_bytes(path, text.encode("utf-8"))


def _write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(path, overwrite=True) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
    return Path(path)


# ----------------------------------------------------------------------------- runner


def _marker_path(out_dir: Path, key: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", key)
    return out_dir / DONE_DIR / f"{safe}.json"


def _canonical(obj: Any) -> Any:
    return json.loads(json.dumps(obj, sort_keys=True))


def _read_marker(out_dir: Path, job: Job) -> dict | None:
    try:
        marker = json.loads(_marker_path(out_dir, job.key).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(marker, dict) or marker.get("key") != job.key:
        return None
    return marker


def _job_done(out_dir: Path, job: Job, verify: bool) -> dict | None:
    """The job's marker when its files are all there and unchanged, else None.

    A file whose size and modification time match the marker is taken as unchanged;
    otherwise (or with ``verify``) its sha256 is recomputed and compared."""
    marker = _read_marker(out_dir, job)
    if marker is None or marker.get("params") != _canonical(job.params):
        return None
    files = marker.get("files")
    if not isinstance(files, dict) or not files:
        return None
    for rel, info in files.items():
        path = out_dir / rel
        try:
            st = path.stat()
        except OSError:
            return None
        if not verify and st.st_size == info.get("size") and st.st_mtime_ns == info.get("mtime_ns"):
            continue
        if st.st_size != info.get("size") or sha256_file(path) != info.get("sha256"):
            return None
    return marker


def _forget_job(out_dir: Path, job: Job) -> None:
    """Remove the marker of a job about to be rendered again and the files it listed
    (they are this builder's own outputs; a new rendering may name other files)."""
    marker = _read_marker(out_dir, job)
    if marker is not None:
        for rel in marker.get("files", {}):
            path = (out_dir / rel).resolve()
            if out_dir.resolve() in path.parents:
                with contextlib.suppress(OSError):
                    path.unlink()
    with contextlib.suppress(OSError):
        _marker_path(out_dir, job.key).unlink()


def _record_job(out_dir: Path, job: Job, written: Sequence[Path]) -> dict:
    files: dict[str, dict] = {}
    root = out_dir.resolve()
    for p in written:
        path = Path(p).resolve()
        if root not in path.parents:
            raise CorpusError(f"job {job.key} wrote outside the corpus folder", p)
        st = path.stat()
        files[path.relative_to(root).as_posix()] = {
            "sha256": sha256_file(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns,
        }
    marker = {"key": job.key, "params": _canonical(job.params), "files": dict(sorted(files.items()))}
    write_json(_marker_path(out_dir, job.key), marker)
    return marker


def _render_one(render: Callable[[Job, Path], list[Path]], job: Job, out_dir: Path) -> list[Path]:
    """Worker entry point: fewer threads per process, as many processes run at once."""
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)
    return [Path(p) for p in render(job, out_dir)]


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


def run_jobs(
    out_dir: str | os.PathLike,
    *,
    builder: str,
    jobs: list[Job],
    render: Callable[[Job, Path], list[Path]],
    workers: int,
    parameters: dict,
    sources: list[dict],
    quiet: bool = False,
    verify: bool = False,
) -> dict:
    """Render the jobs not finished yet and write ``out_dir/manifest.json``.

    ``render(job, out_dir)`` must be a module-level function (it runs in worker
    processes); it writes its files atomically under ``out_dir`` and returns their
    paths. Failures of single jobs are collected; the others go on, and at the end a
    :class:`CorpusError` lists the failed keys (no manifest is written then; the next
    run resumes). Returns ``{"manifest": dict, "manifest_path": Path, "rendered": int,
    "skipped": int}``.
    """
    out_dir = Path(out_dir)
    keys = [j.key for j in jobs]
    if len(set(keys)) != len(keys):
        raise ValueError("job keys must be unique")
    out_dir.mkdir(parents=True, exist_ok=True)
    markers: dict[str, dict] = {}
    pending: list[Job] = []
    for job in jobs:
        marker = _job_done(out_dir, job, verify)
        if marker is None:
            pending.append(job)
        else:
            markers[job.key] = marker
    failed: list[tuple[str, str]] = []
    description = f"corpus {builder}"
    with progress_bar(description, total=len(jobs), quiet=quiet) as update:
        done = len(jobs) - len(pending)
        update(done)
        for job in pending:
            _forget_job(out_dir, job)

        def finish(job: Job, fut_result: Callable[[], list[Path]]) -> None:
            nonlocal done
            try:
                markers[job.key] = _record_job(out_dir, job, fut_result())
            except Exception as exc:  # noqa: BLE001 - reported per job below
                failed.append((job.key, f"{type(exc).__name__}: {exc}"))
            done += 1
            update(done)

        if workers <= 1 or len(pending) <= 1:
            for job in pending:
                finish(job, lambda job=job: _render_one(render, job, out_dir))
        else:
            ctx = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=min(workers, len(pending)), mp_context=ctx) as pool:
                futures: dict[Future, Job] = {}
                try:
                    for job in pending:
                        futures[pool.submit(_render_one, render, job, out_dir)] = job
                    remaining = set(futures)
                    while remaining:
                        finished, remaining = wait(remaining, return_when=FIRST_COMPLETED)
                        for fut in sorted(finished, key=lambda f: futures[f].key):
                            finish(futures[fut], fut.result)
                except BaseException:
                    pool.shutdown(wait=False, cancel_futures=True)
                    raise
    if failed:
        failed.sort()
        shown = "; ".join(f"{k}: {m}" for k, m in failed[:3])
        more = f" (and {len(failed) - 3} more)" if len(failed) > 3 else ""
        print("\n".join(f"  {k}: {m}" for k, m in failed), file=sys.stderr)
        raise CorpusError(f"{len(failed)} of {len(jobs)} jobs failed: {shown}{more}", out_dir)
    files = {}
    for key in sorted(markers):
        for rel, info in markers[key]["files"].items():
            files[rel] = info["sha256"]
    manifest = {
        "builder": builder,
        "sonomorph_version": __version__,
        "seed": parameters.get("seed"),
        "parameters": _canonical(parameters),
        "sources": _canonical(sources),
        "jobs": sorted(keys),
        "files": dict(sorted(files.items())),
    }
    manifest_path = out_dir / MANIFEST
    write_json(manifest_path, manifest)
    return {"manifest": manifest, "manifest_path": manifest_path,
            "rendered": len(pending), "skipped": len(jobs) - len(pending)}


# ----------------------------------------------------------------------------- sources

# Entries for manifest["sources"]: what the corpus is made from and under which licence.
SOURCES: dict[str, dict] = {
    "music21": {"name": "music21 corpus (Bach chorales)", "package": "music21 (PyPI)",
                "licence": "music21 BSD-3-Clause; the scores are public domain"},
    "FluidR3_GM": {"name": "FluidR3_GM.sf2", "package": "fluid-soundfont-gm (Debian)",
                   "licence": "MIT"},
    "TimGM6mb": {"name": "TimGM6mb.sf2", "package": "timgm6mb-soundfont (Debian)",
                 "licence": "GPL-2.0"},
    "fluidsynth": {"name": "FluidSynth", "package": "fluidsynth (Debian), pyfluidsynth (PyPI)",
                   "licence": "LGPL-2.1"},
    "festival": {"name": "Festival Speech Synthesis System", "package": "festival (Debian)",
                 "licence": "X11-style (free, attribution)"},
    "festvox-english-diphone": {"name": "festival kal and ked diphone voices",
                                "package": "festvox-kallpc16k, festvox-kdlpc16k (Debian)",
                                "licence": "free use, attribution (CSTR/CMU festvox licence)"},
    "festvox-italian-diphone": {"name": "festival Italian lp and pc diphone voices",
                                "package": "festvox-italp16k, festvox-itapc16k (Debian)",
                                "licence": "free for non-commercial and commercial use (Padova licence)"},
    "festvox-finnish-diphone": {"name": "festival Finnish suo_fi_lj and hy_fi_mv voices",
                                "package": "festvox-suopuhe-lj, festvox-suopuhe-mv (Debian)",
                                "licence": "LGPL-2.1 (voices), attribution"},
    "flite": {"name": "CMU Flite and its kal, awb, rms, slt voices", "package": "flite (Debian)",
              "licence": "BSD-like (CMU)"},
    "espeak-ng": {"name": "eSpeak NG", "package": "espeak-ng (Debian)", "licence": "GPL-3.0"},
}


def sources(*names: str) -> list[dict]:
    """The :data:`SOURCES` entries for ``names``, in the given order, for a manifest."""
    return [dict(SOURCES[n], id=n) for n in names]
