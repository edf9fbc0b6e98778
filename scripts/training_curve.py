"""Write a training run's validation curve as a results file a model card can cite.

Usage::

    python scripts/training_curve.py RUN_DIR WEIGHTS OUT_JSON [--tag val/vocals_sdr ...]
        [--offset N]

Reads the run's TensorBoard scalars (``RUN_DIR/logs``) and writes, for each ``--tag``
(default: every ``val/`` scalar), the list of ``[run step, total step, value]``, where the
total step adds ``--offset`` (default: the steps the run started from, read from the
weights' metadata: ``total_steps - step``), plus the record of ``WEIGHTS`` (file, sha256,
steps) and the throughput the run logged (``perf/steps_per_s``: median and quartiles).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from sonomorph.eval.records import weights_record
from sonomorph.models.checkpoint import read_metadata


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("weights", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--tag", action="append", default=None)
    ap.add_argument("--offset", type=int, default=None)
    args = ap.parse_args(argv)
    meta = read_metadata(args.weights)
    offset = args.offset
    if offset is None:
        total, step = meta.get("total_steps"), meta.get("step")
        offset = int(total) - int(step) if total is not None and step is not None else 0
    logs = args.run / "logs" if (args.run / "logs").is_dir() else args.run
    acc = EventAccumulator(str(logs), size_guidance={"scalars": 0})
    acc.Reload()
    tags = args.tag or sorted(t for t in acc.Tags()["scalars"] if t.startswith("val/"))
    curves = {}
    for tag in tags:
        by_step = {e.step: e.value for e in acc.Scalars(tag)}  # a resumed run rewrites steps
        curves[tag] = [[s, s + offset, round(float(v), 4)] for s, v in sorted(by_step.items())]
    speed = [e.value for e in acc.Scalars("perf/steps_per_s")] if (
        "perf/steps_per_s" in acc.Tags()["scalars"]) else []
    record = {
        "run": args.run.name,
        "offset_steps": offset,
        "columns": ["run_step", "total_step", "value"],
        "curves": curves,
        "steps_per_s": ({"median": round(statistics.median(speed), 3),
                         "quartiles": [round(q, 3) for q in statistics.quantiles(speed, n=4)],
                         "n": len(speed)} if len(speed) >= 2 else None),
        "weights": weights_record(args.weights, meta),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    tmp.replace(args.out)
    print(f"{args.out}: {', '.join(f'{t} ({len(c)} points)' for t, c in curves.items())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
