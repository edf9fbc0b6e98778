"""How much the real-speaker accuracy depends on which clips enrol: the protocol of
``sonomorph eval speakers --split test-real`` repeated over seeded draws of the clips.

``eval speakers --split test-real`` enrols each held-out speaker's first 8 usable clips and
tests on its last 7: one fixed draw, 84 trials for 12 speakers, where one trial is 1.2
points of accuracy. Issue 16's target compares feature sets on that draw. This benchmark
asks how stable such a comparison is. For every speaker of ``--split`` it describes every
usable clip (readable, not silent, at least 0.5 s, bytes not seen before) with each feature
set, then draws ``--draws`` times, seeded, 8 enrolment and 7 test clips per speaker
(speakers with fewer than 15 usable clips are left out), and scores 1-NN cosine
identification on each draw, for all feature sets on the same draws. Feature sets:

* ``gram``, ``resemblyzer``, ``ours`` (the shipped speaker encoder) and ``adapted``
  (resemblyzer through the speaker back-end, ``--backend``, default the shipped one), as in
  ``eval speakers``; ``adapted`` is computed from the same clip's resemblyzer vector;
* ``resemblyzer+gram``: the two unit vectors joined, each scaled by the square root of 0.5,
  so that its cosine is the mean of the two cosines (score fusion with equal weights,
  chosen before any draw was scored);
* ``resemblyzer+ours``: the same with our encoder.

It prints, per feature set, the accuracy on the mean draw, its range, and how often it is
above, equal to and below resemblyzer on the same draw. Nothing is trained.

Run::

    .venv/bin/python benchmarks/speaker_draws.py --data corpora/speech --split test-real \\
        --json benchmarks/results/speakers-real-draws.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sonomorph.cli.common import write_json  # noqa: E402
from sonomorph.eval.bench import add_device_option, parse_args  # noqa: E402
from sonomorph.utils.fs import portable_path  # noqa: E402

SINGLE = ("gram", "resemblyzer", "ours", "adapted")
FUSED = {"resemblyzer+gram": ("resemblyzer", "gram"), "resemblyzer+ours": ("resemblyzer", "ours")}
ENROL, TEST, MIN_SECONDS = 8, 7, 0.5


def describe_split(root: Path, split: str, progress=None, device: str = "cpu",
                   backend: str | None = None) -> tuple[dict, dict, dict]:
    """Every usable clip of every ``split`` speaker: ``{speaker: [{feature: vector}]}``,
    the skip counts by reason, and each extractor's versions (settings, sha256)."""
    from sonomorph.eval.analysis import describe_speaker_clips
    from sonomorph.pipelines.speakers import feature_versions, make_extractor

    extractors = {n: make_extractor(n, device=device) for n in SINGLE if n != "adapted"}
    adapted = make_extractor("adapted", {"model": backend or "default"}, device=device)
    clips, skipped = describe_speaker_clips(
        root, split, extractors, min_seconds=MIN_SECONDS, progress=progress,
        derived={"adapted": lambda row: adapted.adapt(row["resemblyzer"])})
    versions = {n: feature_versions(ex) for n, ex in {**extractors, "adapted": adapted}.items()}
    return clips, skipped, versions


def vector(row: dict, feature: str) -> np.ndarray:
    """One clip's vector for a single or fused feature set."""
    if feature in FUSED:
        return np.concatenate([np.sqrt(0.5) * row[part] for part in FUSED[feature]])
    return row[feature]


def score_draws(clips: dict[str, list[dict]], draws: int, seed: int) -> dict:
    """Accuracy of every feature set on ``draws`` seeded draws of ENROL + TEST clips per
    speaker (:func:`sonomorph.eval.analysis._closed_set`, the protocol's 1-NN scoring)."""
    from sonomorph.eval.analysis import _closed_set

    speakers = sorted(s for s, rows in clips.items() if len(rows) >= ENROL + TEST)
    features = [*SINGLE, *FUSED]
    acc: dict[str, list[float]] = {f: [] for f in features}
    rng = np.random.default_rng(seed)
    for _ in range(draws):
        picks = {s: rng.permutation(len(clips[s]))[: ENROL + TEST] for s in speakers}
        for f in features:
            vectors = {s: ([vector(clips[s][i], f) for i in picks[s][:ENROL]],
                           [vector(clips[s][i], f) for i in picks[s][ENROL:]])
                       for s in speakers}
            acc[f].append(_closed_set(f, vectors)["accuracy"])
    ref = np.array(acc["resemblyzer"])
    rows = {}
    for f in features:
        a = np.array(acc[f])
        rows[f] = {"mean": float(a.mean()), "min": float(a.min()), "max": float(a.max()),
                   "median": float(np.median(a)), "per_draw": [round(float(x), 6) for x in a],
                   "above_resemblyzer": int((a > ref + 1e-9).sum()),
                   "equal_resemblyzer": int((np.abs(a - ref) <= 1e-9).sum()),
                   "below_resemblyzer": int((a < ref - 1e-9).sum())}
    return {"speakers": speakers, "clips": {s: len(clips[s]) for s in speakers},
            "trials_per_draw": len(speakers) * TEST, "draws": draws, "seed": seed,
            "features": rows}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=Path("corpora/speech"),
                   help="speech corpus (sonomorph corpus speech) (default: corpora/speech)")
    p.add_argument("--split", default="test-real", help="speakers to use (default: test-real)")
    p.add_argument("--draws", type=int, default=20, help="seeded draws (default: 20)")
    p.add_argument("--seed", type=int, default=0, help="seed of the draws (default: 0)")
    p.add_argument("--backend", default=None, metavar="PATH",
                   help="speaker back-end for the adapted features (default: the shipped one)")
    p.add_argument("--json", type=Path, default=None, help="write the results here")
    add_device_option(p)
    args = parse_args(p, argv)
    if args.draws < 1:
        p.error("--draws must be at least 1")

    from sonomorph.utils.progress import progress_bar

    with progress_bar(f"describing {args.split} clips", None) as update:
        clips, skipped, versions = describe_split(args.data, args.split, update, args.device,
                                                   args.backend)
    result = score_draws(clips, args.draws, args.seed)
    print(f"{len(result['speakers'])} speakers, {result['trials_per_draw']} trials per draw, "
          f"{args.draws} draws; skipped clips: {skipped or 'none'}")
    print("| features | mean | min | max | draws above / equal / below resemblyzer |")
    print("|---|---|---|---|---|")
    for f, r in result["features"].items():
        print(f"| {f} | {r['mean']:.1%} | {r['min']:.1%} | {r['max']:.1%} | "
              f"{r['above_resemblyzer']} / {r['equal_resemblyzer']} / {r['below_resemblyzer']} |")
    if args.json:
        out = {"benchmark": "speaker_draws", "data": portable_path(args.data), "split": args.split, "enroll": ENROL, "test": TEST,
               "min_seconds": MIN_SECONDS, "fusion": "unit vectors joined, each scaled by "
               "sqrt(0.5): the mean of the two cosines", "versions": versions,
               "skipped": skipped, **result}
        write_json(args.json, out)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
