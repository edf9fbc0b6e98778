"""Test-time averaging for the separator: does averaging the vocals of a second pass over a
changed input lift the score? Quality only, on the valid split (no held-out split is used).

Rows, all on the same tracks in one run (BSSEval v4, the harness of ``eval separator``):

- ``plain``: the model once (what ``sonomorph separate`` does);
- ``swap``: the mean of the plain pass and a pass with left and right swapped (swapped back);
- ``shift``: the mean of the plain pass and a pass over the input delayed by half a hop
  (512 samples: other STFT frames), the delay taken off again;
- ``swapshift``: the mean of the plain pass and a pass with both changes.

Each averaged row costs two passes: twice the model's time, which the speed target (twice
Spleeter's speed; the model runs at 2.89 times it) leaves no room for unless the gain is
worth a faster network. The accompaniment of every row is the mixture minus its vocals.

    .venv/bin/python benchmarks/separator_tta.py --data corpora/multitrack --split valid \\
        --json benchmarks/results/separator-tta-valid.json
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

HALF_HOP = 512


def averaged(separator, swap: bool, shift: int):
    """A ``(mix, sr) -> stems`` callable: the mean of the plain pass and one changed pass."""
    def run(mix: np.ndarray, sr: int) -> dict[str, np.ndarray]:
        a = separator.separate(mix, sr)["vocals"]
        x = mix[::-1] if swap else mix
        b = separator.separate(np.pad(x, ((0, 0), (shift, 0))), sr)["vocals"][:, shift:]
        v = 0.5 * (a + (b[::-1] if swap else b))
        return {"vocals": v, "accompaniment": mix - v}
    return run


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="corpora/multitrack", help="multitrack corpus folder")
    p.add_argument("--split", default="valid", help="split to score (default: valid)")
    p.add_argument("--model", default="default", help="separator weights (default: shipped)")
    p.add_argument("--seconds", type=float, default=30.0, help="seconds per track (middle)")
    p.add_argument("--threads", type=int, default=2, help="torch threads (default: 2)")
    p.add_argument("--json", help="write the scores here")
    add_device_option(p)
    args = parse_args(p, argv)

    import torch

    from sonomorph.eval.baselines import evaluate_separation, format_scores
    from sonomorph.eval.records import weights_record
    from sonomorph.models import resolve_model
    from sonomorph.pipelines.separate import Separator

    torch.set_num_threads(args.threads)
    path = resolve_model(None if args.model == "default" else args.model, "separator")
    sep = Separator(path, device=args.device)
    rows = {"plain": lambda mix, sr: sep.separate(mix, sr),
            "swap": averaged(sep, True, 0), "shift": averaged(sep, False, HALF_HOP),
            "swapshift": averaged(sep, True, HALF_HOP)}
    r = evaluate_separation(None, args.data, split=args.split, seconds=args.seconds,
                            baselines=False, peers=rows)
    print(format_scores(r))
    real = [i for i, n in enumerate(r["tracks"]) if n.startswith("real-")]
    groups = {}
    for name, per in r["per_track"].items():
        sdr = [t["vocals"]["SDR"] for t in per]
        groups[name] = {
            "real-backed": float(np.nanmedian([sdr[i] for i in real])) if real else None,
            "synthetic": float(np.nanmedian([s for i, s in enumerate(sdr) if i not in real]))
            if len(real) < len(sdr) else None}
        print(f"{name}: vocals SDR median, real-backed {groups[name]['real-backed']:.2f}, "
              f"synthetic {groups[name]['synthetic']:.2f}")
    if args.json:
        write_json(args.json, {"what": "test-time averaging of the separator (valid split)",
                               "model": weights_record(path, sep.meta), "device": args.device,
                               "vocals_sdr_by_kind": groups, **r})
    return 0


if __name__ == "__main__":
    sys.exit(main())
