"""``sonomorph remove-silence IN OUT``: cut the silences out of a file or a folder tree.

IN a file: OUT is the output file (its extension picks the format; an existing folder
receives a file of IN's name). IN a folder: every audio file below it is processed and
the tree is mirrored under OUT, each output in its input's format (video and wma inputs
become .wav). OUT may sit inside IN: it is never read as input. The work is done by
:class:`sonomorph.pipelines.silence.SilenceRemover`.
"""

from __future__ import annotations

import argparse
import threading
from collections import Counter
from pathlib import Path

from sonomorph.cli.common import BIT_DEPTHS, add_jobs_option, run_batch
from sonomorph.utils.progress import progress_bar


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
        "kept, and the joins are crossfaded. IN and OUT are two files, or two folders "
        "(the tree is mirrored; each output keeps its input's format, sample rate, "
        "channels and bit depth).",
    )
    p.add_argument("input", metavar="IN", help="an audio file or a folder of them")
    p.add_argument("output", metavar="OUT", help="the output file, or folder when IN is one")
    p.add_argument("--top-db", type=_db, default=30.0, metavar="DB",
                   help="silence threshold in dB below the peak (default: 30)")
    p.add_argument("--min-gap", type=_seconds, default=0.1, metavar="S",
                   help="silences shorter than this are kept (default: 0.1 s)")
    p.add_argument("--padding", type=_seconds, default=0.05, metavar="S",
                   help="kept around each loud part (default: 0.05 s)")
    p.add_argument("--bit-depth", choices=BIT_DEPTHS, default=None,
                   help="wav/flac sample format (default: the input's)")
    p.add_argument("-f", "--force", action="store_true", help="replace existing outputs")
    add_jobs_option(p)
    p.set_defaults(func=run)


def _folder_outputs(items: list[Path], src: Path, out: Path) -> dict[Path, Path]:
    """Mirror ``items`` under ``out``; an input whose format we cannot write gets .wav,
    keeping its old extension in the name if another output already takes that name."""
    from sonomorph.audio.io import output_path_for, writable_suffix

    plain = {item: output_path_for(item, out, ext=writable_suffix(item), root=src)
             for item in items}
    taken = Counter(plain.values())
    return {item: dst if taken[dst] == 1 or writable_suffix(item) == item.suffix.lower()
            else output_path_for(item, out, "{name}", ext=".wav", root=src)
            for item, dst in plain.items()}


def _summary(reports: list) -> str:
    total = sum(r.seconds_in for r in reports)
    removed = sum(r.seconds_removed for r in reports)
    share = 100.0 * removed / total if total > 0 else 0.0
    files = f"{len(reports)} file{'s' if len(reports) != 1 else ''}"
    return f"removed {removed:.1f} s of {total:.1f} s ({share:.1f}%) from {files}"


def run(args: argparse.Namespace) -> int:
    from sonomorph.audio.io import find_audio_files, writable_suffix
    from sonomorph.errors import AudioLoadError, ConfigError
    from sonomorph.pipelines.silence import SilenceRemover

    src, out = Path(args.input), Path(args.output)
    quiet = getattr(args, "quiet", False)
    remover = SilenceRemover(top_db=args.top_db, min_gap=args.min_gap, padding=args.padding)
    if not src.exists():
        raise AudioLoadError("no such file or folder", src)
    if not src.is_dir():
        dst = out / (src.stem + writable_suffix(src)) if out.is_dir() else out
        with progress_bar("removing silence", total=3, quiet=quiet) as update:
            report = remover.process_file(src, dst, overwrite=args.force,
                                          bit_depth=args.bit_depth, progress=update)
        print(_summary([report]))
        return 0
    if out.exists() and not out.is_dir():
        raise ConfigError("OUT must be a folder when IN is a folder", out)
    if out.resolve() == src.resolve():
        raise ConfigError("OUT must be another folder than IN (inputs are never replaced)", out)
    items = find_audio_files(src, recursive=True, exclude=[out])
    if not items:
        raise AudioLoadError("folder holds no audio files", src)
    targets = _folder_outputs(items, src, out)
    reports = []
    lock = threading.Lock()

    def one(item: Path) -> None:
        report = remover.process_file(item, targets[item], overwrite=args.force,
                                      bit_depth=args.bit_depth)
        with lock:
            reports.append(report)

    batch = run_batch(items, one, description="removing silence", jobs=args.jobs, quiet=quiet)
    print(_summary(reports))
    return batch.exit_code
