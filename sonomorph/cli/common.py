"""Pieces every command shares: the output convention, input expansion, batches, the
device, progress in seconds, the closing summary, training and evaluation runs.

The output convention (docs/cli.md, "Outputs"): ``-o/--out DIR`` is always a folder
(default ``./sonomorph-out/<command>``); each output's name below it comes from
``--filename TEMPLATE`` with the fields ``{track}`` (the input's name without extension),
``{trackext}`` (its extension), ``{stem}`` (what the file holds: vocals, scream...) and
``{ext}`` (the output format); two inputs of one batch with the same name keep their
extension in ``{track}`` (``song-mp3``, ``song-ogg``); ``--format`` is one of ``FORMATS``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import string
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from sonomorph.errors import AudioLoadError, ConfigError, SonomorphError, printable_path
from sonomorph.utils.device import resolve_device  # noqa: F401 - one definition, shared with the benchmarks
from sonomorph.utils.progress import console, progress_bar

BIT_DEPTHS = ("16", "24", "32f")
FORMATS = ("wav", "flac", "mp3", "ogg")
#: Every file-writing command writes below ``<OUT_ROOT>/<command>`` unless ``-o`` says otherwise.
OUT_ROOT = "sonomorph-out"
#: Default ``--filename``: one folder per input when a command writes several files for
#: it, else one file per input beside the others.
MANY_FILES = "{track}/{stem}.{ext}"
ONE_FILE = "{track}_{stem}.{ext}"
FIELDS = ("track", "trackext", "stem", "ext")


def default_out(command: str) -> Path:
    return Path(OUT_ROOT) / command


def add_output_options(p: argparse.ArgumentParser, *, command: str, stems: Sequence[str],
                       filename: str = ONE_FILE, formats: Sequence[str] | None = FORMATS,
                       default_format: str = "wav", bit_depth: str | None = "16",
                       with_bit_depth: bool = True) -> None:
    """``-o/--out DIR``, ``--filename``, ``--format``, ``--bit-depth`` and ``-f/--force``.

    ``command`` names the default folder, ``stems`` the values ``{stem}`` takes;
    ``formats=None`` leaves out ``--format`` and ``--bit-depth`` (a command whose outputs
    are not audio); ``bit_depth=None`` keeps the input's; ``with_bit_depth=False`` leaves
    out ``--bit-depth`` (a command that writes 16-bit wav and flac only)."""
    p.add_argument("-o", "--out", metavar="DIR", default=None,
                   help=f"output folder (default: ./{default_out(command)})")
    p.add_argument("--filename", metavar="TEMPLATE", default=filename,
                   help="name of each output below the output folder; fields {track} (the "
                   "input's name without extension; NAME-EXT when two inputs share a name), "
                   "{trackext} (its extension), {stem} (" + ", ".join(stems) + ") and {ext} "
                   f"(the output format); .{{ext}} is added if missing (default: {filename})"
                   .replace("%", "%%"))
    if formats is not None:
        p.add_argument("--format", choices=formats, default=default_format,
                       help=f"output format (default: {default_format})")
        depth = "the input's" if bit_depth is None else bit_depth
        if with_bit_depth:
            p.add_argument("--bit-depth", choices=BIT_DEPTHS, default=bit_depth,
                           help=f"sample format for wav and flac (default: {depth}; 32f = "
                           "32-bit float, wav only)")
    p.add_argument("-f", "--force", action="store_true", help="replace existing outputs")
    p.set_defaults(out_command=command)


def out_dir(args) -> Path:
    """The output folder of a command (``-o`` or the default), checked to be usable as a
    folder: an existing file on the way is a one-line error in the user's words."""
    out = Path(args.out) if args.out else default_out(args.out_command)
    for part in (out, *out.parents):
        if part.exists():
            if not part.is_dir():
                what = "is a file" if part == out else f"cannot be made: {printable_path(part)} is a file"
                raise ConfigError(f"the output folder {what} (-o names a folder; the file "
                                  "names come from --filename)", out)
            break
    return out


@dataclass
class Item:
    """One input of a batch and the names its outputs get."""

    src: Path
    sub: Path = Path()  # sub-folder below the output folder (a folder input's tree)
    track: str = ""

    def fields(self) -> dict[str, str]:
        return {"track": self.track or self.src.stem, "trackext": self.src.suffix.lstrip(".")}


def collect(inputs: Sequence[str | os.PathLike], out: Path) -> list[Item]:
    """The audio files to process: files as given, folders searched (their sub-folders
    mirrored below the output folder, files inside the output folder left out), each once.
    Two inputs bound for the same sub-folder with the same name keep their extension in
    ``{track}`` (``song-mp3``, ``song-ogg``), then a number if that is not enough."""
    out_resolved = out.resolve()
    items: list[Item] = []
    seen: set[Path] = set()
    for raw in inputs:
        root = Path(raw)
        for path in expand_inputs([raw]):
            resolved = path.resolve()
            found = root.is_dir()  # found by searching a folder, not named
            if resolved in seen or (found and out_resolved in resolved.parents):
                continue
            seen.add(resolved)
            sub = path.parent.resolve().relative_to(root.resolve()) if found else Path()
            items.append(Item(path, sub))
    if not items:
        raise AudioLoadError("no audio files to process (are they all inside the output "
                             "folder?)", out)
    by_name: dict[tuple[Path, str], list[Item]] = {}
    for item in items:
        by_name.setdefault((item.sub, item.src.stem.lower()), []).append(item)
    taken: set[tuple[Path, str]] = set()
    for group in by_name.values():
        for item in group:
            name = item.src.stem
            if len(group) > 1:
                name = f"{name}-{item.src.suffix.lstrip('.').lower()}" if item.src.suffix else name
            k, base = 2, name
            while (item.sub, name.lower()) in taken:
                name, k = f"{base}-{k}", k + 1
            taken.add((item.sub, name.lower()))
            item.track = name
    return items


def _escape(value: str) -> str:
    return value.replace("{", "{{").replace("}", "}}")


def check_template(template: str) -> str:
    """The template, with ``.{ext}`` added when it does not end with it; a field other
    than :data:`FIELDS`, an absolute path or ``..`` is a one-line error."""
    try:
        used = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        raise ConfigError(f"bad --filename template {template!r}: {exc}") from None
    unknown = [f for f in used if f not in (*FIELDS, "source")]
    if unknown or not template.strip():
        raise ConfigError(f"bad --filename template {template!r}: use the fields "
                          + ", ".join("{" + f + "}" for f in FIELDS))
    if not template.endswith(".{ext}"):
        template += ".{ext}"
    parts = Path(template).parts
    if Path(template).is_absolute() or ".." in parts:
        raise ConfigError(f"--filename {template!r} must stay inside the output folder")
    return template


def output_name(template: str, item: Item, stem: str, ext: str) -> Path:
    """``template`` (checked) filled in for ``item``: a path relative to the output folder."""
    values = {**item.fields(), "stem": stem, "source": stem, "ext": ext}
    return item.sub / template.format(**values)


def pipeline_template(template: str, item: Item, ext: str, stem: str) -> str:
    """For a pipeline that names its outputs from a template of its own (``{source}``) and
    adds ``.ext`` itself: ``template`` filled in for ``item``, ``{stem}`` left as ``stem``,
    braces in the input's name escaped, the extension taken off."""
    template = check_template(template)
    values = {k: _escape(v) for k, v in item.fields().items()}
    name = str(item.sub / template.format(**values, ext=_escape(ext), stem=stem, source=stem))
    return name.removesuffix("." + _escape(ext))


def plan_outputs(items: Sequence[Item], out: Path, template: str, stems: Sequence[str],
                 ext: str | dict[str, str]) -> dict[Path, dict[str, Path]]:
    """``{input: {stem: output path}}`` for the whole batch, checked before any work: a
    template that gives two outputs one name is a one-line error naming them."""
    template = check_template(template)
    plan: dict[Path, dict[str, Path]] = {}
    owner: dict[Path, str] = {}
    for item in items:
        files = {}
        for stem in stems:
            e = ext[stem] if isinstance(ext, dict) else ext
            path = out / output_name(template, item, stem, e)
            key = Path(os.path.normcase(path))
            if key in owner:
                raise ConfigError(f"--filename {template!r} gives two outputs the same name "
                                  f"{printable_path(path)} ({owner[key]}); add "
                                  + ("{stem}" if len(stems) > 1 else "{track}"))
            owner[key] = f"{printable_path(item.src.name)}, {stem}"
            files[stem] = path
        plan[item.src] = files
    return plan


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


# --------------------------------------------------------------------------- device


def device(args) -> str:
    """The device the entry point resolved (``"cpu"`` when a handler is called directly)."""
    spec = getattr(args, "device", "cpu")
    return spec if spec in ("cpu", "cuda") else resolve_device(spec)


# --------------------------------------------------------------------------- progress


@contextlib.contextmanager
def lazy_progress(description: str, *, quiet: bool = False, unit: str | None = None,
                  convert: Callable[[float, float], tuple[float, float]] | None = None
                  ) -> Iterator[Callable[[float, float], None]]:
    """A ``progress(done, total)`` callback whose bar appears with the first step, after
    the inputs were read and checked, so that an error about them is the only thing
    printed; the bar is wiped if the work fails. ``convert`` maps the pipeline's counts to
    the ``unit`` shown."""
    with contextlib.ExitStack() as stack:
        bar: list = []

        def update(done: float, total: float | None = None) -> None:
            if quiet:
                return
            if convert is not None:
                done, total = convert(done, total)
            if not bar:
                bar.append(stack.enter_context(progress_bar(description, total, quiet=quiet,
                                                            unit=unit)))
            bar[0](done, total)

        yield update


@contextlib.contextmanager
def seconds_progress(description: str, path: str | os.PathLike, *,
                     quiet: bool = False) -> Iterator[Callable[[float, float], None]]:
    """:func:`lazy_progress` for one file, in seconds of its audio: ``done / total`` of its
    duration, whatever the pipeline counts (samples, chunks, tiles)."""
    seconds: list[float] = []

    def convert(done: float, total: float | None) -> tuple[float, float]:
        if not seconds:
            from sonomorph.audio.io import info

            try:
                seconds.append(round(float(info(path).duration), 1))
            except SonomorphError:
                seconds.append(0.0)
        whole = seconds[0]
        return (min(whole, whole * float(done) / float(total)) if total else 0.0), whole

    with lazy_progress(description, quiet=quiet, unit="s", convert=convert) as update:
        yield update


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


def closed_unit_float(text: str) -> float:
    """A share from 0 to 1, both included (NaN and infinities refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1]: {text}")
    return value


@dataclass
class BatchReport:
    done: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)  # the files the items wrote

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
    """Run ``fn`` on each item with a progress bar counting files; ``fn`` may return the
    files it wrote (they are listed in :attr:`BatchReport.written`).

    A single item that fails raises its error as it is (one line, exit 2). In a batch of
    several, failures are collected, the others go on, and the failures are listed at
    the end (exit 1). KeyboardInterrupt stops everything (atomic writers clean up).
    """
    report = BatchReport()
    if len(items) == 1:
        try:
            report.written.extend(fn(items[0]) or ())
            report.done.append(items[0])
        except Skipped:
            report.skipped.append(items[0])
        return report
    written: dict[Path, list[Path]] = {}

    def one(item: Path):
        try:
            written[item] = list(fn(item) or ())
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
    report.written = [p for item in items for p in written.get(item, ())]
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


def print_summary(report: BatchReport, *, quiet: bool = False) -> None:
    """The closing lines of a file-writing command: every file written, then what was
    skipped (stderr, like every message; ``-q`` leaves it out)."""
    if quiet:
        return
    n = len(report.written)
    if n:
        console.print(f"wrote {n} file{'s' if n != 1 else ''}:", highlight=False)
        for path in report.written:
            console.print(f"  {printable_path(path)}", highlight=False, soft_wrap=True)
    if report.skipped:
        console.print(f"{len(report.skipped)} input(s) skipped: their outputs exist "
                      "(--force replaces them)", highlight=False)


def process_batch(args, plan: dict[Path, dict[str, Path]],
                  work: Callable[[Path, dict[str, Path], Callable | None], object], *,
                  description: str) -> int:
    """The body of every file-processing command: ``work(src, outputs, progress)`` on each
    input of ``plan`` (see :func:`plan_outputs`), a bar in seconds of audio for a single
    input or in files for several, failures listed, the files written summed up."""
    items = list(plan)
    single = len(items) == 1
    quiet = getattr(args, "quiet", False)

    def one(src: Path) -> list[Path]:
        outputs = plan[src]
        if getattr(args, "skip_existing", False) and all(p.exists() for p in outputs.values()):
            raise Skipped
        if single:
            with seconds_progress(f"{description} {src.name}", src, quiet=quiet) as update:
                work(src, outputs, update)
        else:
            work(src, outputs, None)
        return [p for p in outputs.values() if p.exists()]

    report = run_batch(items, one, description=description, jobs=getattr(args, "jobs", 1),
                       quiet=quiet)
    print_summary(report, quiet=quiet)
    return report.exit_code


def write_json(path: str | os.PathLike, data) -> None:
    """Scores or results as JSON, replacing the file (``eval ... --json PATH``)."""
    from sonomorph.utils.fs import atomic_write_text

    atomic_write_text(path, json.dumps(data, indent=2, allow_nan=True, default=float) + "\n",
                      overwrite=True)


def train_model(args, task_cls, config_cls, *, default_out: str, overrides: Sequence[str] = (),
                best: str | None = None) -> int:
    """``sonomorph train MODEL``: the options' overrides, the recipe's default run folder,
    one :class:`~sonomorph.train.Trainer` run, one closing line. ``best`` describes the
    metric the best model was kept by (e.g. "vocals SDR {:.2f} dB")."""
    from sonomorph.train import Trainer, config_from_args

    args.overrides = [*getattr(args, "overrides", []), *overrides]
    if not args.out:
        args.out = default_out
    cfg = config_from_args(config_cls, args)
    result = Trainer(task_cls(cfg), cfg, quiet=args.quiet).fit()
    if not args.quiet:
        kept = (f"; best {best.format(result.best_metric)}: {result.best}"
                if best and result.best else "")
        console.print(f"trained {result.step} steps -> {result.last}{kept}", highlight=False)
    return 0


def quoted(value) -> str:
    """A value as a ``--set`` override (TOML/JSON quoting)."""
    return json.dumps(str(value))


def model_row_name(spec: str | os.PathLike | None, n_models: int, taken, *,
                   single: str = "model") -> str:
    """An evaluation's row name for a model given as ``spec`` (a path, or None for the
    shipped one): ``single`` when it is the only model scored, else its file's stem; the
    folder is added (then a number) when that name is already in ``taken``, so baseline
    rows and several ``last.safetensors`` of different runs stay apart."""
    if n_models == 1:
        return single
    path = Path(spec or "default")
    for name in (path.stem, f"{path.parent.name}/{path.stem}"):
        if name and name not in taken and not name.startswith("/"):
            return name
    k = 2
    while f"{path.stem} ({k})" in taken:
        k += 1
    return f"{path.stem} ({k})"
