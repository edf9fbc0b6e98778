"""``sonomorph effect ...``: DSP effects that need no model.

``sonomorph effect growl IN... --style fry|growl|scream`` turns a clean voice into vocal
fry, a growl or a scream (subharmonics, roughness, shaped noise, distortion, lowered
formants; see :mod:`sonomorph.audio.growl`). Outputs follow the command line's output
convention: ``<out>/<track>_<style>.<ext>``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sonomorph.cli.common import (
    ONE_FILE,
    add_jobs_option,
    add_output_options,
    collect,
    out_dir,
    plan_outputs,
    process_batch,
)


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
    p.add_argument("inputs", nargs="+", metavar="IN", help="audio files or folders of them")
    add_output_options(p, command="effect-growl", stems=STYLES, filename=ONE_FILE,
                       with_bit_depth=False)
    p.add_argument("--style", choices=STYLES, default="growl",
                   help="fry: creaky and low; growl: deep and rough; scream: noisy and "
                   "distorted (default: growl)")
    p.add_argument("--amount", type=_amount, default=1.0, metavar="X",
                   help="strength from 0 (unchanged) to 2 (extreme) (default: 1)")
    p.add_argument("--seed", type=int, default=0, metavar="N",
                   help="random seed of the noise and parameter draws (default: 0)")
    add_jobs_option(p)
    p.set_defaults(func=_run_growl)


def _run_growl(args) -> int:
    from sonomorph.audio.growl import growl_file

    out = out_dir(args)
    plan = plan_outputs(collect(args.inputs, out), out, args.filename, (args.style,),
                        args.format)

    def work(src: Path, outputs: dict[str, Path], progress) -> None:
        growl_file(src, outputs[args.style], args.style, amount=args.amount, seed=args.seed,
                   overwrite=args.force)

    return process_batch(args, plan, work, description=f"growl ({args.style})")
