"""Run ``sonomorph train`` for a wall-clock budget, with the recipe's final learning-rate
decay ending on time.

A rented accelerator comes for a fixed number of minutes, and the rate of a run there is
not known in advance (it depends on the data loader as much as on the chip). This runs the
training command in two parts:

1. *Probe*: the run starts with an open-ended step count and a checkpoint every
   ``--probe-every`` steps; the times at which the checkpoints appear give the steady
   step rate. After ``--probe-checkpoints`` of them the run is stopped (SIGTERM: the
   trainer saves its state at the last finished step).
2. *Main*: the same command resumes in the same folder with ``--steps`` set to what fits
   in the time left (less the restart the probe measured and ``--reserve-s``) and
   ``decay_steps`` a fraction ``--decay-fraction`` of the remaining steps, validating
   ``--validations`` times. At the deadline it is stopped in any case.

The learning rate at a step depends only on the step and the final ``steps`` /
``decay_steps`` (the recipes' schedules), so the two parts make one run.

    python scripts/train_for.py --budget-s 480 --out runs/sep -- \\
        train separator --data corpora/multitrack --init-from default --device cuda
"""

from __future__ import annotations

import argparse
import json
import math
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

_STATE = re.compile(r"state-(\d+)\.json$")


def _states(out: Path) -> set[int]:
    folder = out / "state"
    if not folder.is_dir():
        return set()
    return {int(m.group(1)) for p in folder.iterdir() if (m := _STATE.match(p.name))}


def _stop(proc: subprocess.Popen, grace: float) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--" not in argv:
        print("error: give the train command after --", file=sys.stderr)
        return 2
    cut = argv.index("--")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget-s", type=float, required=True,
                        help="seconds from now until the run must have ended")
    parser.add_argument("--out", required=True, help="the run folder (passed as --out)")
    parser.add_argument("--probe-every", type=int, default=100)
    parser.add_argument("--probe-checkpoints", type=int, default=3)
    parser.add_argument("--probe-max-s", type=float, default=120.0)
    parser.add_argument("--decay-fraction", type=float, default=0.4,
                        help="decay_steps as a share of the steps after the probe; 0: the "
                        "recipe has no decay_steps (its schedule follows steps alone)")
    parser.add_argument("--validations", type=int, default=4)
    parser.add_argument("--reserve-s", type=float, default=20.0,
                        help="seconds kept for the final validation and export")
    parser.add_argument("--startup-s", type=float, default=15.0,
                        help="start-up time assumed when the probe saw fewer than two checkpoints")
    parser.add_argument("--checkpoint-every", type=int, default=1000)
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--report", help="write the probe's figures and the plan here (JSON)")
    args = parser.parse_args(argv[:cut])
    train = argv[cut + 1:]
    deadline = time.monotonic() + args.budget_s
    out = Path(args.out)
    base = [args.python, "-m", "sonomorph", *train, "--out", str(out)]

    # 1. probe
    t0 = time.monotonic()
    decay_off = ["--set", "decay_steps=0"] if args.decay_fraction > 0 else []
    probe = subprocess.Popen([*base, "--steps", "100000000", *decay_off,
                                     "--set", f"checkpoint_every={args.probe_every}",
                                     "--set", "validate_every=100000000"])
    seen: dict[int, float] = {}
    while probe.poll() is None:
        now = time.monotonic()
        for s in _states(out) - set(seen):
            seen[s] = now
        if len(seen) >= args.probe_checkpoints or now - t0 > min(args.probe_max_s,
                                                                 0.3 * args.budget_s):
            break
        time.sleep(0.25)
    if probe.poll() is not None and probe.returncode != 0:
        print(f"train_for: the probe run failed (exit {probe.returncode})", file=sys.stderr)
        return probe.returncode or 1
    _stop(probe, 60.0)
    stopped = time.monotonic()
    done = max(_states(out) | {0})
    if done == 0:
        print("train_for: the probe run saved no checkpoint", file=sys.stderr)
        return 1
    steps = sorted(seen)
    if len(steps) >= 2:
        rate = (steps[-1] - steps[0]) / max(seen[steps[-1]] - seen[steps[0]], 1e-6)
        startup = max(seen[steps[0]] - t0 - steps[0] / rate, 0.0)
    else:  # slower than planned: the steps it managed, with --startup-s assumed
        startup = args.startup_s
        rate = done / max(stopped - t0 - startup, 1.0)
    left = deadline - stopped - startup - args.reserve_s
    more = int(rate * left * 0.97)
    if more <= 0:
        print("train_for: no time left after the probe", file=sys.stderr)
        return 1
    total = done + more
    decay = max(1, int(args.decay_fraction * more))
    every = max(1, math.ceil(more / max(1, args.validations)))
    plan = {"probe_rate_steps_per_s": round(rate, 3), "startup_s": round(startup, 1),
            "probe_steps": done, "probe_wall_s": round(stopped - t0, 1), "steps": total,
            "decay_steps": decay, "validate_every": every}
    print("train_for:", json.dumps(plan), flush=True)

    # 2. main
    t1 = time.monotonic()
    decay_on = ["--set", f"decay_steps={decay}"] if args.decay_fraction > 0 else []
    main_run = subprocess.Popen([*base, "--steps", str(total), *decay_on,
                                        "--set", f"checkpoint_every={args.checkpoint_every}",
                                        "--set", f"validate_every={every}"])
    try:
        main_run.wait(max(deadline - time.monotonic(), 1.0))
    except subprocess.TimeoutExpired:
        print("train_for: deadline reached; stopping the run", file=sys.stderr)
        _stop(main_run, 30.0)
    plan.update({"main_wall_s": round(time.monotonic() - t1, 1), "exit": main_run.returncode,
                 "final_step": max(_states(out) | {done})})
    print("train_for:", json.dumps(plan), flush=True)
    if args.report:
        Path(args.report).write_text(json.dumps(plan, indent=1) + "\n")
    return 0 if main_run.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
