"""Pieces every file-processing command shares: input expansion, output options, batches."""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from sonomorph.errors import AudioLoadError, SonomorphError, printable_path
from sonomorph.utils.progress import console, progress_bar

BIT_DEPTHS = ("16", "24", "32f")
FORMATS = ("wav", "flac", "mp3", "ogg")


def add_output_options(p: argparse.ArgumentParser, *, formats: Sequence[str] = FORMATS,
                       default_format: str | None = "wav", out_help: str = "output folder") -> None:
    p.add_argument("-o", "--out", metavar="DIR", default=None, help=out_help)
    p.add_argument("--format", choices=formats, default=default_format,
                   help=f"output format (default: {default_format or 'same as input'})")
    p.add_argument("--bit-depth", choices=BIT_DEPTHS, default="16",
                   help="sample format for wav/flac (default: 16; 32f = 32-bit float, wav only)")
    p.add_argument("-f", "--force", action="store_true", help="replace existing outputs")


def add_jobs_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("-j", "--jobs", type=positive_int, default=1, metavar="N",
                   help="files processed at once (default: 1)")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a positive finite number: {text}")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more: {text}")
    return value


def unit_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1): {text}")
    return value


def expand_inputs(paths: Sequence[str | os.PathLike], *, recursive: bool = True) -> list[Path]:
    """Files as given, and the audio files inside folders (sorted). A missing path is
    an error naming it; a folder with no audio is an error too."""
    from sonomorph.audio.io import find_audio_files

    out: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = find_audio_files(path, recursive=recursive)
            if not found:
                raise AudioLoadError("folder holds no audio files", path)
            out.extend(found)
        elif path.exists():
            out.append(path)
        else:
            raise AudioLoadError("no such file or folder", path)
    return out


@dataclass
class BatchReport:
    done: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


class Skipped(Exception):
    """Raised by a batch item function to report the item as skipped (e.g. --skip-existing)."""


def run_batch(
    items: Sequence[Path],
    fn: Callable[[Path], object],
    *,
    description: str,
    jobs: int = 1,
    quiet: bool = False,
) -> BatchReport:
    """Run ``fn`` on each item with a progress bar.

    A single item that fails raises its error as it is (one line, exit 2). In a batch of
    several, failures are collected, the others go on, and the failures are listed at
    the end (exit 1). KeyboardInterrupt stops everything (atomic writers clean up).
    """
    report = BatchReport()
    if len(items) == 1:
        try:
            fn(items[0])
            report.done.append(items[0])
        except Skipped:
            report.skipped.append(items[0])
        return report

    def one(item: Path):
        try:
            fn(item)
            return item, None
        except Skipped:
            return item, "skipped"
        except SonomorphError as exc:
            return item, str(exc)

    with progress_bar(description, total=len(items), quiet=quiet) as update:
        count = 0
        if jobs <= 1:
            results = (one(i) for i in items)
            for item, err in results:
                count += 1
                update(count)
                _record(report, item, err)
        else:
            pool = ThreadPoolExecutor(max_workers=jobs)
            try:
                futures = [pool.submit(one, i) for i in items]
                for fut in as_completed(futures):
                    count += 1
                    update(count)
                    _record(report, *fut.result())
            except BaseException:
                # Ctrl-C / SIGTERM: the files being written finish (atomically), the
                # queued ones never start.
                pool.shutdown(wait=True, cancel_futures=True)
                raise
            pool.shutdown(wait=True)
    if report.failed:
        console.print(f"[red]{len(report.failed)} of {len(items)} failed:")
        for item, err in report.failed:
            shown = printable_path(item)
            print(f"  {err if shown in err else f'{shown}: {err}'}", file=sys.stderr)
    return report


def _record(report: BatchReport, item: Path, err: str | None) -> None:
    if err is None:
        report.done.append(item)
    elif err == "skipped":
        report.skipped.append(item)
    else:
        report.failed.append((item, err))
