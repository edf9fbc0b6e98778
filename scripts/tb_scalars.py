"""Print the last values of every scalar in a training run's TensorBoard log.

Usage: python scripts/tb_scalars.py runs/separator [N]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def main() -> None:
    parser = argparse.ArgumentParser(description="Print the last values of every scalar in "
                                     "a training run's TensorBoard log.")
    parser.add_argument("run", type=Path, help="training folder (its logs/ is read)")
    parser.add_argument("last", type=int, nargs="?", default=3,
                        help="values per scalar, the latest (default: 3)")
    args = parser.parse_args()
    run, last = args.run, args.last
    if not run.is_dir():
        parser.exit(2, f"{parser.prog}: error: {run} is not a folder\n")
    logs = run / "logs" if (run / "logs").is_dir() else run
    acc = EventAccumulator(str(logs), size_guidance={"scalars": 0})
    acc.Reload()
    for tag in sorted(acc.Tags()["scalars"]):
        values = [(e.step, round(e.value, 4)) for e in acc.Scalars(tag)][-last:]
        print(f"{tag}: {values}")


if __name__ == "__main__":
    main()
