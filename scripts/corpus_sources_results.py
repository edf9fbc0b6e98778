"""Write benchmarks/results/corpus-sources.json: the figures of a `corpus sources` build.

    .venv/bin/python scripts/corpus_sources_results.py --library corpora/sources \\
        --debs corpora/debs --time-log logs/sources-build.log --compare other/manifest.json
    .venv/bin/python scripts/corpus_sources_results.py --library corpora/sources --merge \\
        --note "why the figures were refreshed"

Files, minutes and groups (music sources, speakers, characters) per category and per
split come from the library's manifest.json; disk use from the files on disk; wall time,
CPU time and peak memory from the ``/usr/bin/time -v`` output the build was run under;
with ``--compare``, how many files another build of the same packages wrote byte-identically.
With ``--merge``, the figures this run cannot measure (no ``--time-log``, ``--compare``,
``--debs`` or ``--machine`` given) are kept from the existing output file, and its
``provenance`` names which keys were measured now and which were kept.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
OUT = ROOT / "benchmarks" / "results" / "corpus-sources.json"


def _size_gb(path: Path) -> float:
    return round(sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**30, 2)


def _largest_archive(debs: Path) -> dict:
    """The largest .pk3/.zip member among the packages whose archives the build opens (the
    biggest temporary file it writes), from ``dpkg-deb -c``."""
    from sonomorph.data.corpus.sources_debs import find_deb
    from sonomorph.data.corpus.sources_packages import PACKAGES

    best = {"bytes": 0}
    for name, pkg in sorted(PACKAGES.items()):
        deb = find_deb(debs, name)
        if pkg.temp_mb == 0 or deb is None:
            continue
        listing = subprocess.run(["dpkg-deb", "-c", str(deb.path)], capture_output=True, text=True,
                                 check=True).stdout
        for line in listing.splitlines():
            fields = line.split(None, 5)
            if len(fields) == 6 and fields[5].endswith((".pk3", ".zip")) and int(fields[2]) > best["bytes"]:
                best = {"bytes": int(fields[2]), "package": name, "member": fields[5]}
    return best


def _rel(path: Path) -> str:
    path = path.resolve()
    return path.relative_to(ROOT).as_posix() if ROOT in path.parents else path.name


def _time_log(path: Path) -> dict:
    text = path.read_text(encoding="utf-8", errors="replace")
    out: dict = {"log": _rel(path)}
    m = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([0-9:.]+)", text)
    if m:
        parts = [float(x) for x in m.group(1).split(":")]
        seconds = 0.0
        for part in parts:
            seconds = seconds * 60 + part
        out["wall_seconds"] = round(seconds)
    user = re.search(r"User time \(seconds\): ([0-9.]+)", text)
    system = re.search(r"System time \(seconds\): ([0-9.]+)", text)
    if user and system:
        out["cpu_seconds"] = round(float(user.group(1)) + float(system.group(1)))
    rss = re.search(r"Maximum resident set size \(kbytes\): ([0-9]+)", text)
    if rss:
        out["peak_rss_mb_largest_process"] = round(int(rss.group(1)) / 1024)
    command = re.search(r'Command being timed: "(.*)"', text)
    if command:
        out["command"] = command.group(1)
    return out


def compare(manifest: dict, other: Path) -> dict:
    """How many files two builds share by path, and how many of those are byte-identical."""
    theirs = json.loads(other.read_text(encoding="utf-8"))["files"]
    mine = manifest["files"]
    shared = sorted(set(mine) & set(theirs))
    same = sum(mine[p]["sha256"] == theirs[p]["sha256"] for p in shared)
    return {"files_at_the_same_path": len(shared), "byte_identical": same,
            "paths_only_in_one_build": len(set(mine) ^ set(theirs))}


def figures(library: Path, debs: Path | None, time_logs: list[Path], other: Path | None = None) -> dict:
    manifest = json.loads((library / "manifest.json").read_text(encoding="utf-8"))
    noun = {"music": "sources", "speech": "speakers", "screams": "characters"}
    categories = {}
    for kind, s in manifest["summary"].items():
        at_least = {}
        if kind != "music":  # speakers and characters with at least 15 or 20 clips, per split
            at_least[f"{noun[kind]}_with_at_least"] = {
                str(n): {split: sum(1 for v in manifest["groups"][kind].values()
                                    if v["split"] == split and v["clips"] >= n)
                         for split in ("train", "valid", "test-real")} for n in (15, 20)}
        categories[kind] = {
            "files": s["files"], "minutes": round(s["seconds"] / 60, 1), noun[kind]: s["groups"],
            "splits": {name: {"files": v["files"], "minutes": round(v["seconds"] / 60, 1),
                              noun[kind]: v["groups"]} for name, v in s["splits"].items()},
            "skipped": s["skipped"],
            **at_least,
            "held_out": {split: sorted(g for g, v in manifest["groups"][kind].items() if v["split"] == split)
                         for split in ("valid", "test-real")},
        }
    result = {
        "what": "real-recordings library built by `sonomorph corpus sources` from Debian packages",
        "policy": manifest["policy"],
        "categories": categories,
        "packages": manifest["packages"],
        "missing_packages": manifest["missing"],
        "disk_gib": {"library": _size_gb(library) - (_size_gb(library / ".debs") if (library / ".debs").is_dir()
                                                      else 0.0)},
    }
    if debs is not None and debs.is_dir():
        result["disk_gib"]["debs"] = _size_gb(debs)
        largest = _largest_archive(debs)
        result["disk_gib"]["largest_temporary"] = round(largest.pop("bytes") / 2**30, 2)
        result["largest_temporary"] = largest
    if time_logs:
        result["builds"] = [_time_log(p) for p in time_logs]
    if other is not None:
        result["determinism"] = compare(manifest, other)
    return result


def merge(new: dict, old: dict, note: str | None = None) -> dict:
    """``new`` with the top-level keys (and ``disk_gib`` entries) only ``old`` has, and a
    ``provenance`` record of which keys come from which."""
    out = dict(new)
    kept = sorted(k for k in old if k not in new and k != "provenance")
    for key in kept:
        out[key] = old[key]
    old_disk, new_disk = old.get("disk_gib") or {}, new.get("disk_gib") or {}
    kept_disk = sorted(k for k in old_disk if k not in new_disk)
    if kept_disk:
        out["disk_gib"] = {**new_disk, **{k: old_disk[k] for k in kept_disk}}
    out["provenance"] = {
        "measured_now": sorted(k for k in new if k != "provenance"),
        "kept_from_previous_file": kept + [f"disk_gib.{k}" for k in kept_disk],
    }
    if note:
        out["provenance"]["note"] = note
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--library", type=Path, default=ROOT / "corpora" / "sources")
    ap.add_argument("--debs", type=Path, default=None, help="folder of the downloaded .deb files")
    ap.add_argument("--time-log", type=Path, action="append", default=[],
                    help="a build's /usr/bin/time -v output (repeat for several builds)")
    ap.add_argument("--compare", type=Path, default=None,
                    help="manifest.json of another build of the same packages (byte-identity check)")
    ap.add_argument("--machine", default=None, help="a line describing the machine and its load")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--merge", action="store_true",
                    help="keep from the existing --out file the figures this run does not measure")
    ap.add_argument("--note", default=None, help="with --merge: a line saying why and how the file was refreshed")
    args = ap.parse_args(argv)
    if not (args.library / "manifest.json").is_file():
        print(f"error: no manifest.json in {args.library}", file=sys.stderr)
        return 2
    if args.note and not args.merge:
        print("error: --note needs --merge", file=sys.stderr)
        return 2
    old = None
    if args.merge:
        try:
            old = json.loads(args.out.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            print(f"error: --merge needs a readable {args.out}: {exc}", file=sys.stderr)
            return 2
    result = figures(args.library, args.debs, args.time_log, args.compare)
    if args.machine:
        result["machine"] = args.machine
    if old is not None:
        result = merge(result, old, args.note)
    from sonomorph.utils.fs import atomic_write_text

    atomic_write_text(args.out, json.dumps(result, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
                      overwrite=True)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
