"""Progress reporting. Pipelines take a plain callback ``progress(done, total)``; the CLI
turns it into a rich progress bar. Nothing here is global state."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

ProgressCallback = Callable[[float, float], None]

# Messages go to stderr so that stdout stays clean for results (classify, identify...).
console = Console(stderr=True)


def make_progress(quiet: bool = False, unit: str | None = None) -> Progress:
    """A rich progress display. ``unit`` (e.g. ``"s"``) shows the count as ``12.5/60.0 s``;
    without it the count is of whole things (files, steps): ``3/10``."""
    digits = 1 if unit == "s" else 0
    count = (MofNCompleteColumn() if unit is None else TextColumn(
        f"{{task.completed:.{digits}f}}/{{task.total:.{digits}f}} {unit}"))
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        count,
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=quiet,
        transient=False,
    )


@contextlib.contextmanager
def progress_bar(description: str, total: float | None, quiet: bool = False,
                 unit: str | None = None) -> Iterator[ProgressCallback]:
    """A context manager yielding a ``progress(done, total)`` callback bound to one bar.
    When the block raises, the bar is wiped from the screen, so that the error message is
    all that is left."""
    with make_progress(quiet, unit) as prog:
        task = prog.add_task(description, total=total)

        def update(done: float, tot: float | None = None) -> None:
            if tot is not None:
                prog.update(task, total=tot)
            prog.update(task, completed=done)

        try:
            yield update
        except BaseException:
            prog.live.transient = True  # stop() then clears the bar instead of keeping it
            raise
