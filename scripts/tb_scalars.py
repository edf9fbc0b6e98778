"""Print the last values of every scalar in a training run's TensorBoard log.

Usage: python scripts/tb_scalars.py runs/separator [N]
"""

from __future__ import annotations

import sys
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def main() -> None:
    run = Path(sys.argv[1])
    last = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    logs = run / "logs" if (run / "logs").is_dir() else run
    acc = EventAccumulator(str(logs), size_guidance={"scalars": 0})
    acc.Reload()
    for tag in sorted(acc.Tags()["scalars"]):
        values = [(e.step, round(e.value, 4)) for e in acc.Scalars(tag)][-last:]
        print(f"{tag}: {values}")


if __name__ == "__main__":
    main()
