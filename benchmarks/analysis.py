"""Analysis benchmark: speed (x real time) and peak memory of the genre classifier, the four
speaker feature sets and the scream judge, with one thread and with two.

Every setting runs in a fresh subprocess (:mod:`sonomorph.eval.bench`); the models are
loaded untimed (the shipped weights: their sha256 is recorded). The timed work:

* **genre**: ``GenreClassifier.process`` (the pipeline contract of ``sonomorph classify``)
  on a 30-s clip: resampling to the model's rate, the 384-band mel, the half-overlapping
  5-s segments, the network and the mean probability. Not timed: decoding the file, and the
  pitch analysis that ``classify`` adds when the top probability stays below 0.9;
* **speaker features**: the extractor of ``--features ours`` (our speaker encoder),
  ``gram`` (random-CNN time-Grams), ``resemblyzer`` and ``adapted`` (resemblyzer through the
  shipped speaker back-end) on a 10-s utterance at 16 kHz, resemblyzer's voice-activity
  trimming included;
* **scream judge**: ``clip_scores`` (what ``sonomorph eval scream`` runs per clip: 1-s
  windows with a 0.5-s hop, P(scream) and the embedding) on 10 s of voice at 22.05 kHz.

Inputs are the shipped examples, tiled to the length: ``examples/genre_clip.ogg`` for the
genre, ``examples/spoken_voice.ogg`` for the speaker features and the judge.

All cases are measured side by side (:func:`sonomorph.eval.bench.side_by_side`): each
round runs every case once, in a fresh process, so a change in a shared machine's load
falls on all of them alike; a case's figures are medians over its timed calls in all
rounds (one warm-up call per process first). ``vs ours`` is a speaker feature set's median
time over that of ``ours`` with the same threads (wall clock, and process CPU time, which
hardly changes when other processes compete for the cores). The 1-minute load average is
recorded before and after each case, and for the whole run.

Run::

    .venv/bin/python benchmarks/analysis.py             # 3 rounds x 3 calls (about 5 minutes on 2 cores)
    .venv/bin/python benchmarks/analysis.py --quick     # one round of one call
    .venv/bin/python benchmarks/analysis.py --device cuda   # the models on the GPU (gram stays on the CPU)

Prints a markdown table and writes ``benchmarks/results/analysis.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sonomorph.eval.bench import (  # noqa: E402
    add_device_option,
    markdown_table,
    parse_args,
    side_by_side,
)
from sonomorph.utils.fs import atomic_write_text  # noqa: E402

THIS = str(Path(__file__).resolve())
RESULTS = ROOT / "benchmarks" / "results" / "analysis.json"
EXAMPLES = ROOT / "examples"
GENRE_CLIP = "genre_clip.ogg"
VOICE_CLIP = "spoken_voice.ogg"
FEATURES = ("ours", "gram", "resemblyzer", "adapted")
#: The shipped weights measured here (sonomorph/pretrained/<name>.safetensors).
SHIPPED = ("genre", "speaker-encoder", "speaker-backend", "scream-judge")


def example(name: str, seconds: float, sr: int | None = None) -> tuple[np.ndarray, int]:
    """A shipped example as mono float32 at ``sr`` (default: its own rate), repeated to
    exactly ``seconds``; returns ``(wav, rate)``."""
    from sonomorph.audio.io import load

    wav, rate = load(EXAMPLES / name, sr=sr, channels=1)
    n = int(round(seconds * rate))
    wav = np.tile(wav[0], -(-n // wav.shape[-1]))[:n]
    return np.ascontiguousarray(wav, dtype=np.float32), rate


# ----------------------------------------------------------------------------- cases


def genre_case(seconds: float, device: str = "cpu"):
    """Bench factory: the shipped genre classifier on ``seconds`` of the genre example."""
    from sonomorph.pipelines.analysis import GenreClassifier

    classifier = GenreClassifier(device=device)
    wav, sr = example(GENRE_CLIP, seconds)
    return lambda: classifier.process(wav, sr)


def speaker_case(seconds: float, features: str = "ours", device: str = "cpu"):
    """Bench factory: one speaker feature set (``ours`` is the shipped encoder) on
    ``seconds`` of the spoken example at the extractor's rate."""
    from sonomorph.pipelines.speaker_features import make_extractor

    extractor = make_extractor(features, device=device)
    wav, _ = example(VOICE_CLIP, seconds, extractor.sample_rate)
    return lambda: extractor(wav)


def judge_case(seconds: float, device: str = "cpu"):
    """Bench factory: the shipped scream judge's clip scores of ``seconds`` of voice."""
    import torch

    from sonomorph.eval.scream import load_judge
    from sonomorph.models.scream_judge import clip_scores

    judge = load_judge()[0].to(device).eval()
    wav, _ = example(VOICE_CLIP, seconds, judge.sample_rate)
    x = torch.from_numpy(wav)
    return lambda: clip_scores(judge, x)


def cases(genre_seconds: float, voice_seconds: float) -> dict[str, dict]:
    """The settings measured side by side: name -> run_case arguments."""
    out = {"genre": {"target": f"{THIS}:genre_case", "seconds": genre_seconds}}
    for features in FEATURES:
        out[f"speaker {features}"] = {"target": f"{THIS}:speaker_case",
                                      "seconds": voice_seconds,
                                      "kwargs": {"features": features}}
    out["scream judge"] = {"target": f"{THIS}:judge_case", "seconds": voice_seconds}
    return out


# ----------------------------------------------------------------------------- records


def weights() -> dict[str, dict]:
    """File, size, sha256 and steps of each shipped model measured here, and what the
    resemblyzer features load (package version, weights' sha256)."""
    from sonomorph import pretrained
    from sonomorph.eval.records import weights_record
    from sonomorph.models import read_metadata

    out = {}
    for name in SHIPPED:
        if name in pretrained.available():
            path = pretrained.path_for(name)
            out[name] = weights_record(path, read_metadata(path))
    try:
        from sonomorph.pipelines.speaker_features import feature_versions, make_extractor

        v = feature_versions(make_extractor("resemblyzer"))
        out["resemblyzer"] = {"file": v.get("weights"), "package": v.get("package"),
                              "sha256": v.get("sha256")}
    except Exception as exc:  # noqa: BLE001 - a missing peer is recorded, not fatal
        out["resemblyzer"] = {"file": None, "error": str(exc).splitlines()[0][:200]}
    return out


def summary(measured: dict) -> list[dict]:
    """One compact row per (case, threads): the figures docs/results.md shows."""
    rows = []
    for (name, threads), m in measured.items():
        ours = measured.get(("speaker ours", threads))
        vs_time = vs_cpu = None
        if name.startswith("speaker ") and ours is not None and ours.ok and m.ok:
            vs_time = m.median_s / ours.median_s
            if m.x_realtime_cpu and ours.x_realtime_cpu:
                vs_cpu = ours.x_realtime_cpu / m.x_realtime_cpu
        row = {"case": name, "threads": threads, "seconds": m.seconds,
               "x_realtime": m.x_realtime, "x_realtime_cpu": m.x_realtime_cpu,
               "peak_rss_mb": m.peak_rss_mb, "time_vs_ours": vs_time, "cpu_vs_ours": vs_cpu,
               "load": list(m.load) if m.load else None}
        if m.error:
            row["error"] = m.error
        rows.append(row)
    return rows


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=" ".join(__doc__.split("\n\n")[0].split()),
        epilog="Writes benchmarks/results/analysis.json (or --out) and prints a table.")
    parser.add_argument("--quick", action="store_true",
                        help="one round of one timed call per case (a smoke run)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                        help="thread counts, one row each (default: 1 2)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of fresh processes, every case once per round (default 3)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed calls per process, after one warm-up call (default 3)")
    parser.add_argument("--genre-seconds", type=float, default=30.0,
                        help="length of the genre clip (default 30)")
    parser.add_argument("--voice-seconds", type=float, default=10.0,
                        help="length of the utterance for the speaker features and the "
                        "judge (default 10)")
    parser.add_argument("--out", type=Path, default=RESULTS,
                        help="results file (default: benchmarks/results/analysis.json)")
    add_device_option(parser)
    args = parse_args(parser, argv)
    rounds, repeats = (1, 1) if args.quick else (args.rounds, args.repeats)
    load_start = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    measured = {}
    for threads in args.threads:
        got = side_by_side(cases(args.genre_seconds, args.voice_seconds), rounds=rounds,
                           threads=threads, repeats=repeats, warmup=1, timeout=900,
                           device=args.device)
        measured.update({(name, threads): m for name, m in got.items()})
    load_end = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    rows = summary(measured)
    print(markdown_table(
        ["case", "threads", "audio s", "median ms", "x real time", "x real time (CPU)",
         "peak MB", "vs ours (wall)", "vs ours (CPU)", "load before/after", "error"],
        [[r["case"], r["threads"], r["seconds"], (m.median_s * 1000 if m.ok else None),
          r["x_realtime"], r["x_realtime_cpu"], r["peak_rss_mb"], r["time_vs_ours"],
          r["cpu_vs_ours"], "/".join(f"{v:.1f}" for v in r["load"] or ()) or None,
          m.error] for r, m in zip(rows, measured.values())]))
    print(f"\n{rounds} round(s) x {repeats} call(s) per process; load average (1, 5, 15 min) "
          f"{'/'.join(f'{v:.1f}' for v in load_start or ())} at the start, "
          f"{'/'.join(f'{v:.1f}' for v in load_end or ())} at the end; "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs")
    record = {
        "device": args.device, "rounds": rounds, "repeats": repeats, "warmup": 1,
        "quick": bool(args.quick), "genre_input": f"examples/{GENRE_CLIP}",
        "voice_input": f"examples/{VOICE_CLIP}",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "load_start": load_start, "load_end": load_end},
        "weights": weights(),
        "summary": rows,
        "measurements": [m.to_dict() for m in measured.values()],
    }
    atomic_write_text(args.out, json.dumps(record, indent=2) + "\n", overwrite=True)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
