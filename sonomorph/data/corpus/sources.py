"""A library of real recordings (music, speech, screams) built offline from Debian packages.

``sonomorph corpus sources --out DIR`` fetches the packages listed in
:data:`~sonomorph.data.corpus.sources_packages.PACKAGES` with ``apt-get download`` (nothing is
installed), reads only the members it needs out of each ``.deb`` (and out of the
``.pk3``/``.zip`` archives inside some of them), and writes::

    DIR/music/<source>/<track>.flac       44.1 kHz stereo, 16-bit FLAC
    DIR/speech/<speaker>/<clip>.flac      mono, 16-bit FLAC, native rate capped at 44.1 kHz
    DIR/screams/<character>/<clip>.flac   mono, 16-bit FLAC, native rate capped at 44.1 kHz
    DIR/manifest.json                      one record per file (see below)

Sample-rate policy: music is resampled (soxr HQ) to 44.1 kHz stereo (mono tracks are
duplicated) so that music from every source mixes without a resampling step; speech and
screams keep their recorded rate, resampled down to 44.1 kHz only when it is higher, and
are folded to mono. Nothing is upsampled (an 8 kHz telephone prompt stays 8 kHz, and its
record says so). Levels are kept; a decoded signal whose peak exceeds full scale is scaled
down to 0.999 instead of being clipped.

The folder under each category is the unit of the split: a music *source* (an album, or one
0ad culture's tracks), a *speaker* or a scream *character*. Every file of a folder has the
same split, ``train``, ``valid`` or ``test-real``; ``test-real`` folders never occur in
another split. Folders that hold the same recording are one unit of the split; the
manifest lists each folder's ``linked`` folders. The rules are in
:mod:`sonomorph.data.corpus.sources_splits`; which members of a package are read and how
they are labelled is :mod:`sonomorph.data.corpus.sources_labels`.

Reading the built library (the Python API for other corpus builders) is
:mod:`sonomorph.data.corpus.sources_library`; the packages, their licences and build units
are :mod:`sonomorph.data.corpus.sources_packages`; fetching the packages and reading their
members are :mod:`sonomorph.data.corpus.sources_debs`. This module is the builder behind the
command (:func:`build_sources`): decoding and writing the clips, resuming, and writing the
manifest.

Resume and determinism: one done-marker per (package, category) under ``DIR/.done/``
(the machinery of :mod:`sonomorph.data.corpus.common`) lists the files written with their
sha256; a second run does no work for a finished (package, category), and a package whose
files were deleted or changed is rebuilt. Decoding, resampling (soxr) and FLAC encoding
(libsndfile, encoded in memory, no timestamps) are deterministic, so the same packages give
the same bytes. Label hygiene: synthetic voices (OpenArena's ``festivoxmale``), duplicate
folders (KTuberling's Serbian variants), byte-identical clips, clips shorter than
:data:`MIN_SECONDS` and silent clips are skipped and counted in the summary.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import multiprocessing
import os
import shutil
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from sonomorph import __version__
from sonomorph.audio.io import resample
from sonomorph.data.corpus.common import (
    MANIFEST,
    CorpusError,
    Job,
    _forget_job,
    _job_done,
    _record_job,
    write_json,
)
from sonomorph.data.corpus.sources_debs import Deb, fetch_debs, find_deb, read_members
from sonomorph.data.corpus.sources_labels import (
    AUDIO_EXTS,
    RULES,
    RULES_VERSION,
    Item,
    _is_audio,
    _safe,
)
from sonomorph.data.corpus.sources_library import (
    BUILDER,
    KINDS,
    SPLITS,
)
from sonomorph.data.corpus.sources_packages import PACKAGES, UNITS, unit_kinds
from sonomorph.data.corpus.sources_splits import assign_splits, shared_recordings
from sonomorph.errors import ConfigError, SonomorphError
from sonomorph.utils.fs import atomic_path

FORMAT = 1  # bump when the way a package is turned into files changes (rebuilds everything)

MUSIC_RATE = 44100
MAX_RATE = 44100
MIN_SECONDS = 0.3
SILENCE_PEAK = 10 ** (-50 / 20)  # a clip whose peak stays below -50 dBFS counts as silent


class DiskSpaceError(SonomorphError):
    """Not enough free disk space for the build."""


# ----------------------------------------------------------------------------- rendering


def _decode(data: bytes) -> tuple[np.ndarray, int]:
    with sf.SoundFile(io.BytesIO(data)) as f:
        rate = f.samplerate
        audio = f.read(dtype="float32", always_2d=True)
    return np.ascontiguousarray(audio.T), int(rate)


def normalise(audio: np.ndarray, rate: int, kind: str) -> tuple[np.ndarray, int]:
    """Apply the library's policy: music 44.1 kHz stereo, speech and screams mono at their
    own rate capped at 44.1 kHz; a peak above full scale is scaled to 0.999."""
    if kind == "music":
        if audio.shape[0] == 1:
            audio = np.repeat(audio, 2, axis=0)
        elif audio.shape[0] > 2:
            audio = audio[:2]
        target = MUSIC_RATE
    else:
        audio = audio.mean(axis=0, keepdims=True) if audio.shape[0] > 1 else audio
        target = min(rate, MAX_RATE)
    if target != rate:
        audio = resample(audio, rate, target)
    audio = np.asarray(audio, dtype=np.float32)
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak > 1.0:
        audio = audio * np.float32(0.999 / peak)
    return audio, target


def flac_bytes(audio: np.ndarray, rate: int) -> bytes:
    """16-bit FLAC of ``audio`` (channels, samples), encoded in memory (no timestamp in
    the stream, so the same samples give the same bytes)."""
    buf = io.BytesIO()
    sf.write(buf, np.ascontiguousarray(np.clip(audio, -1.0, 1.0).T), rate, format="FLAC", subtype="PCM_16")
    return buf.getvalue()


def _write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, overwrite=True) as tmp, open(tmp, "wb") as f:
        f.write(data)


def render_item(item: Item, out_dir: Path, meta: dict, skipped: Counter) -> dict | None:
    """Decode, check, normalise and write one clip; its manifest record, or None when it
    was skipped (unreadable, too short, silent: counted in ``skipped``)."""
    try:
        audio, rate = _decode(item.data)
    except (RuntimeError, sf.LibsndfileError, ValueError):
        skipped["unreadable"] += 1
        return None
    if audio.shape[1] < MIN_SECONDS * rate:
        skipped["short"] += 1
        return None
    if not np.all(np.isfinite(audio)):
        skipped["unreadable"] += 1
        return None
    if float(np.max(np.abs(audio))) < SILENCE_PEAK:
        skipped["silent"] += 1
        return None
    source_channels = int(audio.shape[0])
    audio, out_rate = normalise(audio, rate, item.kind)
    data = flac_bytes(audio, out_rate)
    rel = f"{item.kind}/{item.group}/{item.clip}.flac"
    _write_bytes(out_dir / rel, data)
    label = dict(item.label)
    return {
        "path": rel, "kind": item.kind, "group": item.group, "label": label,
        "package": item.package, "version": meta.get(item.package, {}).get("version", ""),
        "licence": meta.get(item.package, {}).get("licence", ""), "member": item.member,
        "sha256": hashlib.sha256(data).hexdigest(), "duration": round(audio.shape[1] / out_rate, 4),
        "sample_rate": out_rate, "channels": int(audio.shape[0]), "source_rate": rate,
        "source_channels": source_channels,
    }


def _unique_items(items: list[Item], skipped: dict[str, Counter]) -> list[Item]:
    """Sorted by output path; a later item with the same path replaces an earlier one
    (items come in package order, so a patch wins); byte-identical clips are kept once."""
    by_path: dict[tuple[str, str, str], Item] = {}
    for it in items:
        by_path[(it.kind, it.group, it.clip)] = it
    seen: set[str] = set()
    out = []
    for key in sorted(by_path):
        it = by_path[key]
        digest = hashlib.sha256(it.data).hexdigest()
        if digest in seen:
            skipped[it.kind]["duplicate"] += 1
            continue
        seen.add(digest)
        out.append(it)
    return out


def records_path(out_dir: Path, key: str) -> Path:
    return out_dir / ".records" / f"{key}.json"


def _post(queue, *msg) -> None:
    if queue is not None:
        queue.put(msg)


def build_unit(unit: str, kinds: list[str], debs: dict[str, dict], out_dir: str, tmp_root: str,
               queue=None) -> dict[str, dict]:
    """Worker: read the unit's packages once and write its clips of ``kinds``.

    Returns {kind: {"written": [paths], "records": [...], "skipped": {...}}}; the records
    also go to ``.records/<unit>.<kind>.json`` (one of the written files)."""
    out = Path(out_dir)
    meta = {name: {"version": d["version"], "licence": PACKAGES[name].licence} for name, d in debs.items()}
    skipped: Counter = Counter()
    items: list[Item] = []
    Path(tmp_root).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"{unit}-", dir=tmp_root) as tmp:
        for name in UNITS[unit]:
            if name not in debs:
                continue
            rule = RULES[name]
            _post(queue, "stage", unit, f"reading {name}")
            files = read_members(Path(debs[name]["path"]), rule, Path(tmp), skipped)
            kind_set = tuple(k for k in kinds if k in PACKAGES[name].kinds)
            before = len(items)
            for it in rule.label(files, kind_set, skipped):
                if it.kind in kind_set:
                    it.package = name
                    items.append(it)
            del files
            _post(queue, "stage", unit, f"{name}: {len(items) - before} clips")
    per_kind: dict[str, dict] = {k: {"written": [], "records": [], "skipped": Counter()} for k in kinds}
    # skips seen while reading: a synthetic voice is a scream package's, a duplicate
    # language folder a speech package's
    for reason, n in skipped.items():
        kind = "screams" if reason == "synthetic" else "speech" if reason == "duplicate-folder" else kinds[0]
        if kind in per_kind:
            per_kind[kind]["skipped"][reason] += n
    items = _unique_items(items, {k: v["skipped"] for k, v in per_kind.items()})
    _post(queue, "total", unit, len(items))
    for i, it in enumerate(items):
        skip_k = per_kind[it.kind]["skipped"]
        rec = render_item(it, out, meta, skip_k)
        if rec is not None:
            per_kind[it.kind]["records"].append(rec)
            per_kind[it.kind]["written"].append(out / rec["path"])
        it.data = b""
        _post(queue, "done", unit, i + 1)
    result = {}
    for k, v in per_kind.items():
        skips = dict(sorted(v["skipped"].items()))
        side = records_path(out, f"{unit}.{k}")
        write_json(side, {"unit": unit, "kind": k, "records": v["records"], "skipped": skips,
                          "packages": {n: meta[n] for n in UNITS[unit] if n in meta and k in PACKAGES[n].kinds}})
        result[k] = {"written": [str(p) for p in v["written"]] + [str(side)], "records": v["records"],
                     "skipped": skips}
    return result


# ----------------------------------------------------------------------------- --from


def scan_user_folder(root: Path, kinds: Iterable[str]) -> list[tuple[str, str, Path]]:
    """``(kind, group, file)`` for every audio file of a user's folder in the library's
    layout (``<kind>/<group>/<clip>.<ext>``). Raises :class:`ConfigError` naming the
    first file that does not fit the layout."""
    root = Path(root)
    if not root.is_dir():
        raise ConfigError("--from must be a folder holding music/, speech/ or screams/", root)
    found = []
    tops = sorted(p for p in root.iterdir() if not p.name.startswith("."))
    if not any(p.name in KINDS and p.is_dir() for p in tops):
        raise ConfigError("--from folder holds none of music/, speech/, screams/", root)
    for top in tops:
        if top.name not in KINDS or not top.is_dir():
            raise ConfigError("unexpected entry (the layout is music|speech|screams/<group>/<clip>)", top)
        if top.name not in kinds:
            continue
        for group in sorted(top.iterdir()):
            if group.name.startswith("."):
                continue
            if not group.is_dir() or _safe(group.name) != group.name:
                raise ConfigError("expected a folder named with letters, digits, '.', '_' or '-'", group)
            for f in sorted(group.iterdir()):
                if f.name.startswith("."):
                    continue
                if not f.is_file() or not _is_audio(f.name):
                    raise ConfigError(f"not an audio file ({', '.join(AUDIO_EXTS)})", f)
                found.append((top.name, group.name, f))
    return found


# ----------------------------------------------------------------------------- the build


def _unit_params(unit: str, kind: str, debs: dict[str, Deb]) -> dict:
    return {"format": FORMAT, "rules": RULES_VERSION.get(unit, 1), "unit": unit, "kind": kind,
            "min_seconds": MIN_SECONDS,
            "silence_peak": SILENCE_PEAK, "music_rate": MUSIC_RATE, "max_rate": MAX_RATE,
            "packages": {n: debs[n].version for n in UNITS[unit] if n in debs and kind in PACKAGES[n].kinds}}


def check_disk(out_dir: Path, debs_dir: Path, need_mb: float) -> None:
    """Raise :class:`DiskSpaceError` when the disks of ``out_dir`` and ``debs_dir`` lack
    ``need_mb`` megabytes (both folders are usually on one disk)."""
    probe = out_dir
    while not probe.exists():
        probe = probe.parent
    free_mb = shutil.disk_usage(probe).free / 2**20
    if free_mb < need_mb:
        raise DiskSpaceError(f"not enough free disk space: the build needs about {need_mb / 1024:.1f} GB "
                             f"(downloads, one temporary archive and the FLAC files), {free_mb / 1024:.1f} GB "
                             "are free", probe)


class _Bars:
    """Rich bars: one for all files, one per unit being built (its files)."""

    def __init__(self, quiet: bool):
        from sonomorph.utils.progress import make_progress

        self.progress = make_progress(quiet)
        self.tasks: dict[str, Any] = {}
        self.totals: dict[str, int] = {}
        self.done: dict[str, int] = {}

    def __enter__(self):
        self.progress.__enter__()
        self.all = self.progress.add_task("sources: files", total=None)
        return self

    def __exit__(self, *exc):
        return self.progress.__exit__(*exc)

    def put(self, msg: tuple) -> None:
        what, unit, value = msg
        if unit not in self.tasks:
            self.tasks[unit] = self.progress.add_task(f"  {unit}", total=None)
        task = self.tasks[unit]
        if what == "stage":
            self.progress.update(task, description=f"  {unit}: {value}")
        elif what == "total":
            self.totals[unit] = value
            self.progress.update(task, total=value, description=f"  {unit}")
            self.progress.update(self.all, total=sum(self.totals.values()))
        elif what == "done":
            self.done[unit] = value
            self.progress.update(task, completed=value)
            self.progress.update(self.all, completed=sum(self.done.values()))


def build_sources(
    out: str | os.PathLike,
    *,
    debs_dir: str | os.PathLike | None = None,
    only: Iterable[str] | None = None,
    packages: Iterable[str] | None = None,
    from_dir: str | os.PathLike | None = None,
    workers: int = 1,
    quiet: bool = False,
    verify: bool = False,
    report: Callable[[str], None] | None = None,
) -> dict:
    """Build (or finish, or check) the library in ``out``; returns the summary.

    ``only``: categories to build (default all); ``packages``: restrict to these package
    names (default all of :data:`PACKAGES`); ``debs_dir``: where the .deb files are kept
    (default ``out/.debs``); ``from_dir``: a user's folder in the library's layout, whose
    files are normalised and added. A package that cannot be fetched is reported (one
    line through ``report``) and listed in the summary; the rest is built."""
    out_dir = Path(out)
    debs = Path(debs_dir) if debs_dir is not None else out_dir / ".debs"
    kinds = tuple(k for k in KINDS if only is None or k in set(only))
    if not kinds:
        raise ConfigError(f"nothing to build: --only takes {', '.join(KINDS)}")
    names = list(PACKAGES) if packages is None else list(dict.fromkeys(packages))
    unknown = [n for n in names if n not in PACKAGES]
    if unknown:
        raise ConfigError(f"unknown package(s) {', '.join(unknown)}: choose from {', '.join(PACKAGES)}")
    report = report or (lambda line: None)
    names = [n for n in names if set(PACKAGES[n].kinds) & set(kinds)]
    user_files = scan_user_folder(Path(from_dir), kinds) if from_dir is not None else []
    out_dir.mkdir(parents=True, exist_ok=True)

    # what is already done (no download needed for it)
    units = [u for u in UNITS if any(p in names for p in UNITS[u])]
    present = {n: d for n in names if (d := find_deb(debs, n)) is not None}
    to_download = [n for n in names if n not in present]
    pending_mb = sum(PACKAGES[n].deb_mb for n in to_download)
    out_mb = sum(PACKAGES[n].out_mb for n in names)
    temp_mb = max([PACKAGES[n].temp_mb for n in names] + [0]) * max(1, min(workers, 2))
    check_disk(out_dir, debs, 1.1 * (pending_mb + out_mb + temp_mb) + 200)

    found, missing = fetch_debs(names, debs, report=report, present=present)
    jobs: list[tuple[str, list[str]]] = []
    done_markers: dict[str, dict] = {}
    for unit in units:
        todo = []
        for kind in unit_kinds(unit):
            if kind not in kinds or not any(p in found and kind in PACKAGES[p].kinds for p in UNITS[unit]):
                continue
            job = Job(f"{unit}.{kind}", _unit_params(unit, kind, found))
            marker = _job_done(out_dir, job, verify)
            if marker is None:
                todo.append(kind)
            else:
                done_markers[job.key] = marker
        if todo:
            jobs.append((unit, todo))
    tmp_root = out_dir / ".tmp"
    failed: list[str] = []
    rendered = 0
    with _Bars(quiet) as bars:
        def finish(unit: str, todo: list[str], result: dict) -> None:
            nonlocal rendered
            for kind in todo:
                job = Job(f"{unit}.{kind}", _unit_params(unit, kind, found))
                done_markers[job.key] = _record_job(out_dir, job, [Path(p) for p in result[kind]["written"]])
                rendered += 1

        for unit, todo in jobs:
            for kind in todo:
                _forget_job(out_dir, Job(f"{unit}.{kind}", _unit_params(unit, kind, found)))
        unit_debs = {u: {n: {"path": str(found[n].path), "version": found[n].version}
                         for n in UNITS[u] if n in found} for u, _ in jobs}
        if workers <= 1 or len(jobs) <= 1:
            for unit, todo in jobs:
                try:
                    finish(unit, todo, build_unit(unit, todo, unit_debs[unit], str(out_dir), str(tmp_root), bars))
                except SonomorphError as exc:
                    failed.append(f"{unit}: {exc}")
                    report(f"{unit} failed: {exc}")
        else:
            ctx = multiprocessing.get_context("spawn")
            with ctx.Manager() as manager:
                queue = manager.Queue()
                with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=ctx) as pool:
                    futures = {pool.submit(build_unit, u, t, unit_debs[u], str(out_dir), str(tmp_root), queue):
                               (u, t) for u, t in jobs}
                    remaining = set(futures)
                    try:
                        while remaining:
                            finished, remaining = wait(remaining, timeout=0.5, return_when=FIRST_COMPLETED)
                            while not queue.empty():
                                bars.put(queue.get())
                            for fut in sorted(finished, key=lambda f: futures[f][0]):
                                unit, todo = futures[fut]
                                try:
                                    finish(unit, todo, fut.result())
                                except SonomorphError as exc:
                                    failed.append(f"{unit}: {exc}")
                                    report(f"{unit} failed: {exc}")
                        while not queue.empty():
                            bars.put(queue.get())
                    except BaseException:
                        pool.shutdown(wait=False, cancel_futures=True)
                        raise
    with contextlib.suppress(OSError):
        tmp_root.rmdir()
    _remove_empty_groups(out_dir)
    user_records = _build_user(out_dir, user_files, from_dir, done_markers, verify, kinds) if user_files else []
    summary = write_manifest(out_dir, kinds_built=kinds, found=found, missing=missing,
                             user_records=user_records, failed=failed)
    summary.update(rendered=rendered, skipped_jobs=len(done_markers) - rendered, failed=failed)
    if failed:
        raise CorpusError(f"{len(failed)} unit(s) failed: {'; '.join(failed)[:400]}", out_dir)
    return summary


def _remove_empty_groups(out_dir: Path) -> None:
    """Remove group folders left empty when a unit was rebuilt under other labels."""
    for kind in KINDS:
        top = out_dir / kind
        if not top.is_dir():
            continue
        for group in sorted(top.iterdir()):
            if group.is_dir() and not any(group.iterdir()):
                with contextlib.suppress(OSError):
                    group.rmdir()


def _build_user(out_dir: Path, files: list[tuple[str, str, Path]], from_dir, done_markers: dict,
                verify: bool, kinds: tuple[str, ...]) -> list[dict]:
    """Normalise a user's files into the library (one job per category)."""
    records: list[dict] = []
    root = Path(from_dir).resolve()
    tag = hashlib.sha256(str(root).encode()).hexdigest()[:10]
    for kind in kinds:
        mine = [(g, f) for k, g, f in files if k == kind]
        if not mine:
            continue
        params = {"format": FORMAT, "from": str(root), "kind": kind,
                  "files": {f"{g}/{f.name}": [f.stat().st_size, f.stat().st_mtime_ns] for g, f in mine}}
        job = Job(f"from-{tag}.{kind}", params)
        side = records_path(out_dir, job.key)
        if _job_done(out_dir, job, verify) is not None:
            records += json.loads(side.read_text("utf-8"))["records"]
            continue
        _forget_job(out_dir, job)
        skipped: Counter = Counter()
        recs, written = [], []
        meta = {"--from": {"version": "", "licence": "supplied by the user (--from)"}}
        for group, f in mine:
            item = Item(kind, group, _safe(f.stem), f"{kind}/{group}/{f.name}", f.read_bytes(),
                        {"speaker" if kind == "speech" else "character" if kind == "screams" else "source": group},
                        "--from")
            rec = render_item(item, out_dir, meta, skipped)
            if rec is None:
                raise ConfigError(f"not usable ({', '.join(skipped)}: unreadable, shorter than "
                                  f"{MIN_SECONDS} s or silent)", f)
            recs.append(rec)
            written.append(out_dir / rec["path"])
        write_json(side, {"unit": job.key, "kind": kind, "records": recs, "skipped": {}, "packages": {}})
        done_markers[job.key] = _record_job(out_dir, job, written + [side])
        records += recs
    return records


def write_manifest(out_dir: Path, *, kinds_built, found: dict[str, Deb], missing: dict[str, str],
                   user_records: list[dict], failed: list[str]) -> dict:
    """Gather the records of every finished (unit, kind) in ``out_dir`` (also those of
    earlier runs with another ``--only``), assign the splits and write manifest.json."""
    records: dict[str, dict] = {}
    skipped: dict[str, Counter] = {k: Counter() for k in KINDS}
    packages: dict[str, dict] = {}
    for unit in UNITS:
        for kind in unit_kinds(unit):
            side = records_path(out_dir, f"{unit}.{kind}")
            marker = out_dir / ".done" / f"{unit}.{kind}.json"
            if not side.exists() or not marker.exists():
                continue
            data = json.loads(side.read_text("utf-8"))
            for r in data["records"]:
                if (out_dir / r["path"]).exists():
                    records[r["path"]] = r
            skipped[kind].update(data.get("skipped", {}))
            for name, meta in data.get("packages", {}).items():
                packages[name] = {"version": meta["version"], "licence": meta["licence"],
                                  "note": PACKAGES[name].note}
    for r in user_records:
        if r["path"] in records and records[r["path"]]["package"] != "--from":
            raise ConfigError(f"--from file {r['member']} would replace a packaged clip {r['path']}")
        records[r["path"]] = r
    groups: dict[str, dict[str, dict]] = {k: {} for k in KINDS}
    for r in records.values():
        g = groups[r["kind"]].setdefault(r["group"], {"clips": 0, "seconds": 0.0, "packages": set()})
        g["clips"] += 1
        g["seconds"] += r["duration"]
        g["packages"].add(r["package"])
    links = shared_recordings(out_dir, records.values())
    splits = assign_splits(groups, links)
    linked: dict[str, dict[str, set[str]]] = {k: defaultdict(set) for k in KINDS}
    for kind, pairs in links.items():
        for a, b in (sorted(p) for p in pairs):
            linked[kind][a].add(b)
            linked[kind][b].add(a)
    for r in records.values():
        r["split"] = splits[r["kind"]][r["group"]]
    summary: dict[str, Any] = {}
    for kind in KINDS:
        per = {s: {"files": 0, "seconds": 0.0, "groups": 0} for s in SPLITS}
        for g, info in groups[kind].items():
            s = per[splits[kind][g]]
            s["files"] += info["clips"]
            s["seconds"] += info["seconds"]
            s["groups"] += 1
        for s in per.values():
            s["seconds"] = round(s["seconds"], 1)
        summary[kind] = {"files": sum(v["files"] for v in per.values()),
                         "seconds": round(sum(v["seconds"] for v in per.values()), 1),
                         "groups": len(groups[kind]), "splits": per,
                         "skipped": dict(sorted(skipped[kind].items()))}
    manifest = {
        "builder": BUILDER, "format": FORMAT, "sonomorph_version": __version__,
        "policy": {"music": f"{MUSIC_RATE} Hz stereo FLAC 16-bit", "speech": f"mono FLAC 16-bit, "
                   f"native rate capped at {MAX_RATE} Hz", "screams": f"mono FLAC 16-bit, native rate "
                   f"capped at {MAX_RATE} Hz", "min_seconds": MIN_SECONDS,
                   "silence_peak_dbfs": -50},
        "packages": dict(sorted(packages.items())),
        "missing": dict(sorted(missing.items())),
        "groups": {k: {g: {"split": splits[k][g], "clips": v["clips"], "seconds": round(v["seconds"], 2),
                           "packages": sorted(v["packages"]),
                           **({"linked": sorted(linked[k][g])} if linked[k].get(g) else {})}
                       for g, v in sorted(groups[k].items())}
                   for k in KINDS},
        "summary": summary,
        "files": dict(sorted(records.items())),
    }
    write_json(out_dir / MANIFEST, manifest)
    return {"summary": summary, "missing": dict(sorted(missing.items())), "manifest_path": out_dir / MANIFEST,
            "files": len(records)}
