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


def make_progress(quiet: bool = False) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=quiet,
        transient=False,
    )


@contextlib.contextmanager
def progress_bar(description: str, total: float | None, quiet: bool = False) -> Iterator[ProgressCallback]:
    """A context manager yielding a ``progress(done, total)`` callback bound to one bar."""
    with make_progress(quiet) as prog:
        task = prog.add_task(description, total=total)

        def update(done: float, tot: float | None = None) -> None:
            if tot is not None:
                prog.update(task, total=tot)
            prog.update(task, completed=done)

        yield update
