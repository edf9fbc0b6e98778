"""Screen library music for voice: the level of the shipped separator's vocals stem on the
middle 30 s of each music file of the named sources, relative to the file's own level
(dB). Instrumental music scores far below 0 (the separator's median leak on held-out
instrumental music is about -23 dB); a file near 0 may hold voice and is worth a listen
before it serves as accompaniment. Also records the library's music per split, from its
manifest.

    .venv/bin/python benchmarks/music_voice_screen.py --library corpora/sources \\
        --source hyperrogue --source nexuiz --source ufoai --source warzone2100 \\
        --file digital-pursuit.ogg --json benchmarks/results/music-voice-screen.json

(``digital-pursuit.ogg``: the Nexuiz track the library's rules leave out, taken from
``sound/cdtracks/`` of ``music.pk3`` in the nexuiz-music package.)
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sonomorph.cli.common import write_json  # noqa: E402
from sonomorph.eval.bench import add_device_option, parse_args  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--library", default="corpora/sources", help="sources library folder")
    p.add_argument("--source", action="append", default=[],
                   help="music source (folder under music/) to screen; repeat")
    p.add_argument("--file", action="append", default=[],
                   help="also screen this audio file (for example one a rule leaves out of "
                        "the library); repeat")
    p.add_argument("--seconds", type=float, default=30.0, help="seconds from the middle")
    p.add_argument("--json", help="write the levels here")
    add_device_option(p)
    args = parse_args(p, argv)
    if not args.source and not args.file:
        p.exit(2, f"{p.prog}: error: give at least one --source or --file\n")

    import soundfile as sf

    from sonomorph.audio.io import load
    from sonomorph.eval.metrics import level_db
    from sonomorph.eval.records import weights_record
    from sonomorph.models import resolve_model
    from sonomorph.pipelines.separate import Separator

    path = resolve_model(None, "separator")
    sep = Separator(path, device=args.device)
    rows = []
    groups = [(s, sorted((Path(args.library) / "music" / s).glob("*.flac"))) for s in args.source]
    groups += [("file", [Path(f)]) for f in args.file]
    for source, files in groups:
        if not files or not all(f.is_file() for f in files):
            p.exit(2, f"{p.prog}: error: no music files for {source}: {files}\n")
        for f in files:
            seconds = sf.info(f).duration
            part = min(args.seconds, seconds)
            x, sr = load(f, offset=(seconds - part) / 2, duration=part)
            level = level_db(sep.separate(x, sr)["vocals"], x)
            rows.append({"source": source, "file": f.name, "seconds": round(seconds, 1),
                         "vocals_level_db": round(level, 2)})
    rows.sort(key=lambda r: -r["vocals_level_db"])
    per_source = {s: {"files": len(lv), "median_db": round(statistics.median(lv), 2),
                      "max_db": max(lv)}
                  for s in dict.fromkeys(g for g, _ in groups)
                  for lv in [[r["vocals_level_db"] for r in rows if r["source"] == s]]}
    for r in rows[:10]:
        print(f"{r['vocals_level_db']:7.2f} dB  {r['source']}/{r['file']}")
    for s, d in per_source.items():
        print(f"{s}: {d['files']} files, median {d['median_db']:.2f} dB, max {d['max_db']:.2f} dB")
    if args.json:
        manifest = json.loads((Path(args.library) / "manifest.json").read_text("utf-8"))
        write_json(args.json, {
            "what": "vocals-stem level of the shipped separator on library music, middle "
                    f"{args.seconds:g} s per file, dB relative to the input",
            "model": weights_record(path, sep.meta), "device": args.device,
            "per_source": per_source, "files": rows,
            "library_music": manifest["summary"]["music"],
            "packages": {k: v for k, v in manifest["packages"].items()
                         if k in ("hyperrogue-music", "warzone2100-music", "nexuiz-music",
                                  "ufoai-music")}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
