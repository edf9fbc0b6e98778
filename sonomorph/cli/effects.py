"""``sonomorph effect ...``: DSP effects that need no model.

``sonomorph effect growl IN OUT --style fry|growl|scream`` turns a clean voice into vocal
fry, a growl or a scream (subharmonics, roughness, shaped noise, distortion, lowered
formants; see :mod:`sonomorph.audio.growl`). IN may be a file or a folder; with a
folder (or several inputs) OUT is a folder and each output keeps its input's name.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sonomorph.cli.common import add_jobs_option, expand_inputs, run_batch
from sonomorph.errors import ConfigError


def _amount(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 2.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 2]: {text}")
    return value


# The growl module's STYLES, spelled out so that building the parser needs no scipy/librosa
# (tests/test_bad_inputs.py checks that the two agree).
STYLES = ("fry", "growl", "scream")


def register(sub, groups) -> None:
    effect = groups["effect"]
    p = effect.add_parser(
        "growl",
        help="turn a clean voice into vocal fry, a growl or a scream (DSP, no model)",
        description="Apply the growl effect: period doubling (energy at f0/2), roughness "
        "amplitude modulation (20-150 Hz), turbulent noise shaped by the voice's envelope, "
        "waveshaping distortion and lowered formants. Deterministic for a given --seed; the "
        "output keeps the input's length, rate, channels and loudness.",
    )
    p.add_argument("input", metavar="IN", help="input audio file or folder")
    p.add_argument("output", metavar="OUT",
                   help="output file (or folder when IN is a folder)")
    p.add_argument("--style", choices=STYLES, default="growl",
                   help="fry: creaky and low; growl: deep and rough; scream: noisy and "
                   "distorted (default: growl)")
    p.add_argument("--amount", type=_amount, default=1.0, metavar="X",
                   help="strength from 0 (unchanged) to 2 (extreme) (default: 1)")
    p.add_argument("--seed", type=int, default=0, metavar="N",
                   help="random seed of the noise and parameter draws (default: 0)")
    p.add_argument("-f", "--force", action="store_true", help="replace existing outputs")
    add_jobs_option(p)
    p.set_defaults(func=_run_growl)


def _run_growl(args) -> int:
    from sonomorph.audio.growl import growl_file

    src = Path(args.input)
    inputs = expand_inputs([src])
    out = Path(args.output)
    if src.is_dir():
        if out.exists() and not out.is_dir():
            raise ConfigError("IN is a folder, so OUT must be a folder", out)

        def target(item: Path) -> Path:
            return out / item.relative_to(src)
    else:
        if out.is_dir():
            raise ConfigError("OUT is a folder; give an output file name", out)

        def target(item: Path) -> Path:
            return out

    def one(item: Path) -> None:
        growl_file(item, target(item), args.style, amount=args.amount, seed=args.seed,
                   overwrite=args.force)

    report = run_batch(inputs, one, description=f"growl ({args.style})", jobs=args.jobs,
                       quiet=args.quiet)
    return report.exit_code
