"""The demo: every capability on the shipped example inputs, with the shipped models.

``make demo`` runs ``python -m sonomorph.demo`` (also ``sonomorph demo``): each capability
runs on the files in ``examples/`` (made by our corpus builders, see examples/README.md),
its outputs go to ``demo/out/<capability>/`` and ``demo/out/index.html`` shows them with
audio players, spectrograms and metrics. A capability whose shipped model is missing is
skipped with a note in the report (and on the terminal); one that fails (a pipeline that
cannot even be imported included) is reported as failed and the demo exits with status 1.
The run is staged in a temporary folder and swapped in at the end, so a crash leaves the
previous report whole; the previous demo run is replaced, but a folder that is not a
demo's own output is never touched without ``--force``.

The capabilities and their runners are :mod:`sonomorph.capabilities` (shared with the web
UI and the command line); their names stay importable from here.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sonomorph.capabilities import (  # noqa: F401 - re-exported (older imports)
    CAPABILITIES,
    EXAMPLES_DIR,
    Capability,
    capability,
    check_models,
    model_kinds,
    parse_models,
    run,
    safe_stem,
    unavailable,
)
from sonomorph.demo_report import Section, write_report
from sonomorph.errors import AudioLoadError, OutputExistsError, SonomorphError
from sonomorph.utils.fs import TMP_PREFIX

log = logging.getLogger(__name__)

__all__ = ["run_demo", "run_from_args", "add_arguments", "DEFAULT_OUT", "DEMO_INPUTS",
           "DEMO_OPTIONS", "MARKER"]

DEFAULT_OUT = Path("demo") / "out"
MARKER = ".sonomorph-demo"  # marks a folder as a demo run's own output

#: The example files (relative to the examples folder) each capability runs on in the demo;
#: a folder role (speakers' enrolment, the scream's held-out voices) names a folder.
DEMO_INPUTS: dict[str, dict[str, str]] = {
    "karaoke": {"song": "song.ogg", "reference_vocals": "song_vocals.ogg"},
    "scream": {"voice": "sung_voice.ogg", "held_out": "scream_voices"},
    "accompany": {"vocals": "song_vocals.ogg", "reference_song": "song.ogg"},
    "style": {"content": "spoken_voice.ogg", "style": "sung_voice.ogg"},
    "genre": {"clip": "genre_clip.ogg", "song": "song.ogg"},
    "speakers": {"query": "spoken_voice.ogg", "enrolment": "speakers"},
    "silence": {"audio": "sung_voice.ogg"},
}
_INPUT_LABELS = {"reference_vocals": "reference vocals (ground truth)",
                 "reference_song": "reference song (ground truth)"}


# ----------------------------------------------------------------------------- the demo

# The scream section also plays the held-out voices (in no training split of `corpus
# screams`) through the default model and the opt-in real-scream one.
DEMO_OPTIONS: dict[str, dict[str, Any]] = {"scream": {"preset": "both",
                                                      "also_models": ("scream-real",)},
                                           "silence": {"min_gap": 0.25}}


def _stage_dir(out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}demo-", dir=out.parent))


def _swap_in(stage: Path, out: Path, force: bool) -> None:
    """Move the finished run onto ``out``: the previous demo run (marked) is replaced; any
    other non-empty folder only with ``force``."""
    if out.exists():
        if not out.is_dir():
            raise OutputExistsError("the demo output is a file, not a folder", out)
        if any(out.iterdir()) and not (out / MARKER).exists() and not force:
            raise OutputExistsError("folder exists and is not a previous demo's output "
                                    "(use --force to replace it)", out)
        trash = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}old-", dir=out.parent))
        os.replace(out, trash / "old")
        os.replace(stage, out)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(stage, out)


def _check_out(out: Path, force: bool) -> None:
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MARKER).exists()
                                               and not force)):
        raise OutputExistsError("exists and is not a previous demo's output (use --force to "
                                "replace it)", out)


def run_demo(out: str | os.PathLike = DEFAULT_OUT, *, examples: str | os.PathLike | None = None,
             models: Mapping[str, str] | None = None, only: list[str] | None = None,
             force: bool = False, quiet: bool = False, device: str = "cpu") -> list[Section]:
    """Run the demo; returns its sections (status ok, skipped or failed). Writes
    ``out/index.html`` and the outputs under ``out/<capability>/``."""
    from sonomorph.utils.progress import console, progress_bar

    out, ex = Path(out), Path(examples) if examples is not None else EXAMPLES_DIR
    if not ex.is_dir():
        raise AudioLoadError("no examples folder (pass --examples DIR)", ex)
    caps = [capability(k) for k in only] if only else list(CAPABILITIES)
    _check_out(out, force)
    models = dict(models or {})
    stage = _stage_dir(out)
    sections: list[Section] = []
    try:
        (stage / MARKER).write_text("written by sonomorph.demo; replaced by the next run\n")
        for cap in caps:
            files = {role: ex / name for role, name in DEMO_INPUTS[cap.key].items()}
            missing = [p for p in files.values() if not p.exists()]
            section = Section(cap.key, cap.title, cap.blurb, "ok")
            try:
                reason = unavailable(cap, models)
            except ImportError as exc:  # a bug or a broken install: a failure, not a skip
                log.debug("%s cannot be imported", cap.key, exc_info=True)
                section.inputs = _copy_inputs(files, stage / "inputs")
                section.status = "failed"
                section.reason = f"cannot be imported (a bug or a broken install): {exc}"
                console.print(f"[red]{cap.title}: failed[/] ({section.reason})", highlight=False)
                sections.append(section)
                continue
            if reason is None and missing:
                reason = f"example input missing: {missing[0]} (see examples/README.md)"
            section.inputs = _copy_inputs(files, stage / "inputs")
            if reason is not None:
                section.status, section.reason = "skipped", reason
                console.print(f"[yellow]{cap.title}: skipped[/] ({reason})", highlight=False)
                sections.append(section)
                continue
            inputs = {role: stage / "inputs" / p.name if p.is_file() else p
                      for role, p in files.items()}
            start = time.perf_counter()
            try:
                with progress_bar(cap.title, total=None, quiet=quiet) as update:
                    section.outcome = run(cap.key, inputs, stage / cap.key, models=models,
                                          progress=update, device=device,
                                          **DEMO_OPTIONS.get(cap.key, {}))
                    update(1, 1)  # some steps report no progress of their own (DSP presets)
                console.print(f"[green]{cap.title}: done[/]", highlight=False)
            except SonomorphError as exc:
                section.status, section.reason = "failed", str(exc)
                console.print(f"[red]{cap.title}: failed[/] ({exc})", highlight=False)
            except Exception as exc:  # noqa: BLE001 - report it and go on with the others
                log.debug("%s failed", cap.key, exc_info=True)
                section.status = "failed"
                section.reason = f"unexpected error (a bug): {type(exc).__name__}: {exc}"
                console.print(f"[red]{cap.title}: failed[/] ({section.reason})", highlight=False)
            section.seconds = time.perf_counter() - start
            sections.append(section)
        facts = [("examples", str(ex)), ("device", device),
                 ("models", ", ".join(f"{k}={v}" for k, v in models.items()) or "shipped")]
        write_report(sections, stage, facts=facts)
        _swap_in(stage, out, force)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    # Paths in the sections pointed into the staging folder; they now live under ``out``.
    for s in sections:
        s.inputs = [(label, out / p.relative_to(stage)) for label, p in s.inputs]
        if s.outcome is not None:
            s.outcome.audio = [(k, out / p.relative_to(stage)) for k, p in s.outcome.audio]
            s.outcome.images = [(k, out / p.relative_to(stage)) for k, p in s.outcome.images]
    return sections


def _copy_inputs(files: Mapping[str, Path], dest: Path) -> list[tuple[str, Path]]:
    shown = []
    for role, path in files.items():
        if not path.is_file():
            continue
        dest.mkdir(parents=True, exist_ok=True)
        target = dest / path.name
        if not target.exists():
            shutil.copyfile(path, target)
        shown.append((_INPUT_LABELS.get(role, f"{role}: {path.name}"), target))
    return shown


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The demo's options (shared by ``python -m sonomorph.demo`` and ``sonomorph demo``)."""
    p.add_argument("-o", "--out", metavar="DIR", default=str(DEFAULT_OUT),
                   help=f"output folder (default: {DEFAULT_OUT}); the previous demo run there "
                   "is replaced")
    p.add_argument("--examples", metavar="DIR", default=None,
                   help="folder of example inputs (default: the repository's examples/)")
    p.add_argument("--only", metavar="NAME", action="append",
                   choices=[c.key for c in CAPABILITIES],
                   help="run only this capability (repeatable; default: all)")
    p.add_argument("--model", metavar="KIND=FILE", action="append", default=[],
                   help="use this model instead of the shipped one, e.g. separator=best.safetensors"
                   f" (kinds: {', '.join(model_kinds())})")
    p.add_argument("-f", "--force", action="store_true",
                   help="replace the output folder even if it is not a previous demo run")


def run_from_args(args: argparse.Namespace, device: str = "cpu") -> int:
    """Run the demo from parsed arguments: 0 when nothing failed, 1 otherwise."""
    from sonomorph.utils.progress import console

    models = parse_models(args.model)
    check_models(models)
    sections = run_demo(args.out, examples=args.examples, models=models,
                        only=args.only, force=args.force, quiet=getattr(args, "quiet", False),
                        device=device)
    page = Path(args.out) / "index.html"
    ok = sum(s.status == "ok" for s in sections)
    console.print(f"demo: {ok} of {len(sections)} capabilities ran; report: {page} "
                  f"(open it in a browser)", highlight=False)
    return 1 if any(s.status == "failed" for s in sections) else 0


def main(argv: list[str] | None = None) -> int:
    """``python -m sonomorph.demo``: the same as ``sonomorph demo``."""
    from sonomorph.cli import main as cli_main

    return cli_main(["demo", *(argv if argv is not None else __import__("sys").argv[1:])])


if __name__ == "__main__":
    raise SystemExit(main())
