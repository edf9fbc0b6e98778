"""``sonomorph remove-silence IN... [-o DIR]``: cut the silences out of files and folder trees.

Every audio file given or found below a folder is processed; a folder's tree is mirrored
below the output folder (default ``./sonomorph-out/remove-silence``), each output named
``<track>_trimmed.<ext>`` unless ``--filename`` says otherwise. The output folder may sit
inside an input folder: it is never read as input. The work is done by
:class:`sonomorph.pipelines.silence.SilenceRemover`.
"""

from __future__ import annotations

import argparse
import threading
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

STEM = "trimmed"


def _db(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < 200:
        raise argparse.ArgumentTypeError(f"must be between 0 and 200 dB: {text}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value < 3600:
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0: {text}")
    return value


def register(sub, groups) -> None:
    p = sub.add_parser(
        "remove-silence",
        help="cut the silences out of audio files",
        description="Remove the parts quieter than --top-db below the loudest moment. "
        "Pauses shorter than --min-gap stay, --padding seconds are kept around what is "
        "kept, and the joins are crossfaded. Outputs keep their input's sample rate and "
        "channels (and, unless --bit-depth says otherwise, its sample format); a folder's "
        "tree is mirrored below the output folder.",
    )
    p.add_argument("inputs", nargs="+", metavar="IN", help="audio files or folders of them")
    add_output_options(p, command="remove-silence", stems=(STEM,), filename=ONE_FILE,
                       bit_depth=None)
    p.add_argument("--top-db", type=_db, default=30.0, metavar="DB",
                   help="silence threshold in dB below the peak (default: 30)")
    p.add_argument("--min-gap", type=_seconds, default=0.1, metavar="S",
                   help="silences shorter than this are kept (default: 0.1 s)")
    p.add_argument("--padding", type=_seconds, default=0.05, metavar="S",
                   help="kept around each loud part (default: 0.05 s)")
    add_jobs_option(p)
    p.set_defaults(func=run)


def _summary(reports: list) -> str:
    total = sum(r.seconds_in for r in reports)
    removed = sum(r.seconds_removed for r in reports)
    share = 100.0 * removed / total if total > 0 else 0.0
    files = f"{len(reports)} file{'s' if len(reports) != 1 else ''}"
    return f"removed {removed:.1f} s of {total:.1f} s ({share:.1f}%) from {files}"


def run(args: argparse.Namespace) -> int:
    from sonomorph.pipelines.silence import SilenceRemover

    remover = SilenceRemover(top_db=args.top_db, min_gap=args.min_gap, padding=args.padding)
    out = out_dir(args)
    plan = plan_outputs(collect(args.inputs, out), out, args.filename, (STEM,), args.format)
    reports = []
    lock = threading.Lock()

    def work(src: Path, outputs: dict[str, Path], progress) -> None:
        report = remover.process_file(src, outputs[STEM], overwrite=args.force,
                                      bit_depth=args.bit_depth, progress=progress)
        with lock:
            reports.append(report)

    status = process_batch(args, plan, work, description="removing silence")
    if reports:
        print(_summary(reports))
    return status
