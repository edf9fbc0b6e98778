"""The demo: every capability on the shipped example inputs, with the shipped models.

``make demo`` runs ``python -m sonomorph.demo`` (also ``sonomorph demo``): each capability
runs on the files in ``examples/`` (made by our corpus builders, see examples/README.md),
its outputs go to ``demo/out/<capability>/`` and ``demo/out/index.html`` shows them with
audio players, spectrograms and metrics. A capability whose pipeline is not in this build,
or whose shipped model is missing, is skipped with a note in the report (and on the
terminal). The run is staged in a temporary folder and swapped in at the end, so a crash
leaves the previous report whole; the previous demo run is replaced, but a folder that is
not a demo's own output is never touched without ``--force``.

This module also holds the one-call runner of each capability (:data:`CAPABILITIES`,
:func:`run`), used by the demo and by the web UI (:mod:`sonomorph.app`), so both call the
pipelines the same way: ``run(key, inputs, out_dir, models=..., progress=..., **options)``
returns a :class:`~sonomorph.demo_report.Outcome`.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sonomorph.demo_report import (
    Outcome,
    Section,
    accompaniment_scores,
    content_kept,
    separation_metrics,
    spectrogram_png,
    write_report,
)
from sonomorph.errors import AudioLoadError, ConfigError, OutputExistsError, SonomorphError
from sonomorph.utils.fs import TMP_PREFIX
from sonomorph.utils.progress import ProgressCallback

log = logging.getLogger(__name__)

__all__ = ["Capability", "CAPABILITIES", "capability", "unavailable", "run", "run_demo",
           "parse_models", "check_models", "safe_stem", "DEFAULT_OUT", "EXAMPLES_DIR", "DEMO_INPUTS"]

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLES_DIR = REPO_ROOT / "examples"
DEFAULT_OUT = Path("demo") / "out"
MARKER = ".sonomorph-demo"  # marks a folder as a demo run's own output


@dataclass(frozen=True)
class Capability:
    """One capability: the pipeline module and names it needs, and its shipped model kind
    (``model_optional``: it still runs without the model, e.g. the growl preset)."""

    key: str
    title: str
    blurb: str
    module: str
    needs: tuple[str, ...]
    model_kind: str | None = None
    model_optional: bool = False


CAPABILITIES: tuple[Capability, ...] = (
    Capability("karaoke", "Karaoke", "Split a song into its vocals and the karaoke "
               "(accompaniment); the two add up to the song.", "sonomorph.pipelines.separate",
               ("Separator",), "separator"),
    Capability("scream", "Scream", "Turn a sung or spoken voice into a scream, keeping the "
               "words (MelGAN), or through the DSP growl preset.", "sonomorph.pipelines.scream",
               ("Screamer",), "scream", model_optional=True),
    Capability("accompany", "Vocals to song", "Generate an accompaniment that fits a vocal "
               "line (pix2pix on spectrograms) and mix it with the voice.",
               "sonomorph.pipelines.accompany", ("Accompanist",), "accompany"),
    Capability("style", "Style transfer", "Give a content clip the texture of a style clip "
               "(time-Grams of a random CNN).", "sonomorph.pipelines.style", ("stylise_file",)),
    Capability("genre", "Genre", "Classify a music clip: the top three genres with their "
               "probabilities.", "sonomorph.pipelines.analysis", ("GenreClassifier",), "genre"),
    Capability("speakers", "Speaker ID", "Enrol speakers from a few recordings each, then "
               "name the speaker of a new recording (1-nearest neighbour).",
               "sonomorph.pipelines.speakers", ("SpeakerDatabase", "enroll_folder",
                                                "make_extractor")),
    Capability("silence", "Silence removal", "Cut the pauses out of a recording.",
               "sonomorph.pipelines.silence", ("SilenceRemover",)),
)

#: The example files (relative to the examples folder) each capability runs on in the demo.
DEMO_INPUTS: dict[str, dict[str, str]] = {
    "karaoke": {"song": "song.ogg", "reference_vocals": "song_vocals.ogg"},
    "scream": {"voice": "sung_voice.ogg"},
    "accompany": {"vocals": "song_vocals.ogg", "reference_song": "song.ogg"},
    "style": {"content": "spoken_voice.ogg", "style": "sung_voice.ogg"},
    "genre": {"clip": "genre_clip.ogg", "song": "song.ogg"},
    "speakers": {"query": "spoken_voice.ogg", "enrolment": "speakers"},
    "silence": {"audio": "sung_voice.ogg"},
}
_INPUT_LABELS = {"reference_vocals": "reference vocals (ground truth)",
                 "reference_song": "reference song (ground truth)"}


def capability(key: str) -> Capability:
    for cap in CAPABILITIES:
        if cap.key == key:
            return cap
    raise ConfigError(f"unknown capability {key!r} (known: {', '.join(c.key for c in CAPABILITIES)})")


def _shipped(kind: str) -> bool:
    from sonomorph import pretrained

    return kind in pretrained.available()


def unavailable(cap: Capability, models: Mapping[str, str] | None = None) -> str | None:
    """Why ``cap`` cannot run here (its pipeline is not in this build, or its model is
    missing), or None when it can."""
    try:
        module = importlib.import_module(cap.module)
    except ModuleNotFoundError as exc:
        if exc.name and (cap.module.startswith(exc.name) or exc.name.startswith("sonomorph")):
            return f"{cap.title} is not available in this build ({cap.module} is missing)"
        return f"{cap.title} needs the package {exc.name!r}, which is not installed"
    except Exception as exc:  # noqa: BLE001 - a broken module must not break the others
        return f"{cap.title} cannot be loaded: {type(exc).__name__}: {exc}"
    missing = [n for n in cap.needs if not hasattr(module, n)]
    if missing:
        return f"{cap.title} is not available in this build ({cap.module} lacks {', '.join(missing)})"
    kind = cap.model_kind
    if kind and not cap.model_optional and not (models or {}).get(kind) and not _shipped(kind):
        return (f"no shipped '{kind}' model in this build yet: train one (docs/training.md) and "
                f"pass it with --model {kind}=FILE")
    return None


def parse_models(specs: list[str] | None) -> dict[str, str]:
    """``["separator=a.safetensors", ...]`` -> ``{"separator": "a.safetensors"}``."""
    kinds = {c.model_kind for c in CAPABILITIES if c.model_kind}
    out: dict[str, str] = {}
    for spec in specs or []:
        kind, sep, path = spec.partition("=")
        if not sep or kind not in kinds or not path:
            raise ConfigError(f"--model takes KIND=FILE with KIND one of {', '.join(sorted(kinds))}"
                              f", not {spec!r}")
        out[kind] = path
    return out


def check_models(models: Mapping[str, str]) -> None:
    """Load each model a user named once, so that a bad file (missing, damaged, pickled,
    of another kind) is a one-line error naming it before any work is done."""
    from sonomorph.models import load_model, resolve_model

    for kind, spec in models.items():
        if kind == "scream":
            try:
                from sonomorph.pipelines.scream import load_backend
            except ImportError:  # pipeline not in this build: its tab says so
                continue
            load_backend(spec)  # a checkpoint or an exported .onnx
        else:
            load_model(resolve_model(spec, kind), expect=kind)


def safe_stem(name: str | os.PathLike, fallback: str = "audio") -> str:
    """A file name stem safe to build output names from: the last path component without
    its extension, letters, digits, ``-`` and ``_`` only, at most 60 characters."""
    import re
    import unicodedata

    text = unicodedata.normalize("NFKC", str(name)).replace("\\", "/").split("/")[-1]
    stem = text.rsplit(".", 1)[0] if "." in text.lstrip(".") else text
    stem = re.sub(r"[^\w-]+", "_", stem, flags=re.UNICODE).strip("._-")[:60]
    return stem or fallback


# ----------------------------------------------------------------------------- pipelines

_cache: dict[tuple, Any] = {}
_cache_lock = threading.Lock()


def _cached(key: tuple, make: Callable[[], Any]) -> Any:
    """One loaded model per (kind, file, device), shared by the runs of a process."""
    with _cache_lock:
        if key not in _cache:
            _cache[key] = make()
        return _cache[key]


def _pngs(out: Path, stem: str, rows: list[tuple[str, Path]]) -> list[tuple[str, Path]]:
    png = spectrogram_png(rows, out / f"{stem}_spectrograms.png", overwrite=True)
    return [("mel spectrograms: " + ", ".join(label for label, _ in rows), png)]


def run_karaoke(inputs: Mapping[str, Path], out: Path, *, models: Mapping[str, str],
                progress: ProgressCallback | None = None, device: str = "cpu") -> Outcome:
    from sonomorph.pipelines.separate import Separator

    song = Path(inputs["song"])
    spec = models.get("separator") or "default"
    sep = _cached(("separator", spec, device), lambda: Separator(spec, device=device))
    stem = safe_stem(song.name, "song")
    paths = sep.separate_file(song, out, filename=f"{stem}_{{source}}", progress=progress)
    o = Outcome(audio=[("vocals", paths["vocals"]), ("karaoke (accompaniment)", paths["karaoke"])])
    o.images = _pngs(out, stem, [("input song", song), ("vocals", paths["vocals"]),
                                 ("karaoke", paths["karaoke"])])
    if inputs.get("reference_vocals"):
        o.metrics += separation_metrics(song, Path(inputs["reference_vocals"]),
                                         paths["vocals"], paths["karaoke"])
    return o


def run_scream(inputs: Mapping[str, Path], out: Path, *, models: Mapping[str, str],
               progress: ProgressCallback | None = None, device: str = "cpu",
               strength: float = 1.0, preset: str = "model") -> Outcome:
    """``preset``: "model" (the scream model), "growl" (the DSP effect) or "both"."""
    from sonomorph.pipelines.scream import Screamer, load_backend

    voice = Path(inputs["voice"])
    stem = safe_stem(voice.name, "voice")
    o = Outcome()
    spec = models.get("scream")
    want_model = preset in ("model", "both")
    if want_model and not spec and not _shipped("scream"):
        if preset == "model":
            raise SonomorphError("no shipped scream model in this build yet: choose the growl "
                                 "preset, or pass a model (--model scream=FILE)")
        o.notes.append("No shipped scream model in this build yet: only the DSP growl preset ran.")
        want_model = False
    rows = [("input voice", voice)]
    if want_model:
        backend = _cached(("scream", spec, device), lambda: load_backend(spec, device=device))
        report = Screamer(backend=backend, style_strength=strength, progress=progress
                          ).process_file(voice, out / f"{stem}_scream.wav", overwrite=True)
        o.audio.append((f"scream ({backend.name})", report.dst))
        o.notes += report.notes
        rows.append(("scream (model)", report.dst))
    if preset in ("growl", "both"):
        report = Screamer(preset="growl", style_strength=strength).process_file(
            voice, out / f"{stem}_growl.wav", overwrite=True)
        o.audio.append(("growl (DSP preset)", report.dst))
        rows.append(("growl (DSP preset)", report.dst))
    o.images = _pngs(out, stem, rows)
    o.metrics.append(("style strength", f"{strength:g}"))
    o.metrics += content_kept(voice, [(label, p) for label, p in rows[1:]])
    return o


def run_accompany(inputs: Mapping[str, Path], out: Path, *, models: Mapping[str, str],
                  progress: ProgressCallback | None = None, device: str = "cpu") -> Outcome:
    from sonomorph.pipelines.accompany import Accompanist

    vocals = Path(inputs["vocals"])
    spec = models.get("accompany") or "default"
    acc = _cached(("accompany", spec, device), lambda: Accompanist(spec, device=device))
    paths = acc.accompany_file(vocals, out, progress=progress, overwrite=True)
    o = Outcome(audio=[("song (voice + accompaniment)", paths["song"]),
                       ("accompaniment", paths["accompaniment"])])
    o.images = _pngs(out, safe_stem(vocals.name, "vocals"),
                     [("input vocals", vocals), ("generated accompaniment", paths["accompaniment"]),
                      ("song", paths["song"])])
    if inputs.get("reference_song"):
        o.metrics += accompaniment_scores(vocals, Path(inputs["reference_song"]),
                                           paths["accompaniment"])
    return o


def run_style(inputs: Mapping[str, Path], out: Path, *, models: Mapping[str, str],
              progress: ProgressCallback | None = None, device: str = "cpu",
              method: str = "random", steps: int | None = None) -> Outcome:
    from sonomorph.pipelines.style import stylise_file

    content, style = Path(inputs["content"]), Path(inputs["style"])
    stem = safe_stem(content.name, "content")
    options: dict[str, Any] = {"device": device}
    if steps:
        options["steps"] = int(steps)
    if method == "classifier" and models.get("genre"):
        options["model"] = models["genre"]
    result = stylise_file(content, style, out / f"{stem}_styled.wav", method=method,
                          overwrite=True, progress=progress, **options)
    dst = out / f"{stem}_styled.wav"
    o = Outcome(audio=[("result", dst)])
    o.images = _pngs(out, stem, [("content", content), ("style", style), ("result", dst)])
    for name, value in result.metrics.items():
        o.metrics.append((name.replace("_", " "), f"{value:.4g}"))
    return o


def run_genre(inputs: Mapping[str, Path], out: Path, *, models: Mapping[str, str],
              progress: ProgressCallback | None = None, device: str = "cpu") -> Outcome:
    """Classify each input clip; :attr:`Outcome.probabilities` of the first clip go to the
    UI's label widget."""
    from sonomorph.pipelines.analysis import GenreClassifier

    spec = models.get("genre") or "default"
    clf = _cached(("genre", spec, device), lambda: GenreClassifier(spec, device=device))
    o = Outcome()
    lines = []
    clips = [Path(p) for p in inputs.values() if p]
    for i, clip in enumerate(clips):
        pred = clf.predict_file(clip)
        top = pred.top(3)
        if not o.probabilities:
            o.probabilities = {label: float(p) for label, p in zip(pred.labels,
                                                                   pred.probabilities)}
        lines.append(f"{clip.name}: " + ", ".join(f"{g} {p:.1%}" for g, p in top))
        o.metrics.append((f"{clip.name}: top genre", f"{top[0][0]} ({top[0][1]:.1%})"))
        if progress is not None:
            progress(i + 1, len(clips))
    o.text = "\n".join(lines)
    o.notes.append(f"model: {clf.describe()}")
    o.images = _pngs(out, safe_stem(clips[0].name, "clip"), [(c.name, c) for c in clips])
    return o


def run_speakers(inputs: Mapping[str, Path], out: Path, *, models: Mapping[str, str],
                 progress: ProgressCallback | None = None, device: str = "cpu",
                 database: Any = None, features: str = "gram") -> Outcome:
    """Enrol ``inputs["enrolment"]`` (a ``<speaker>/<files>`` folder) unless a
    ``database`` is given, then identify ``inputs["query"]``."""
    from sonomorph.pipelines.speakers import enroll_folder

    query = Path(inputs["query"])
    db = database
    if db is None:
        db = enroll_folder(inputs["enrolment"], features=features, device=device,
                           progress=progress)
    matches = db.identify_file(query, extractor=db.extractor(device))
    o = Outcome(text=f"{query.name}: most likely {matches[0].speaker}\n" + "\n".join(
        f"  {m.speaker}: cosine distance {m.distance:.4f}" for m in matches))
    o.metrics += [("best match", matches[0].speaker),
                  ("enrolled", f"{len(db.speakers)} speakers, {len(db.labels)} recordings"),
                  ("features", db.method)]
    o.images = _pngs(out, safe_stem(query.name, "query"), [("query", query)])
    return o


def run_silence(inputs: Mapping[str, Path], out: Path, *, models: Mapping[str, str],
                progress: ProgressCallback | None = None, device: str = "cpu",
                top_db: float | None = None, min_gap: float | None = None,
                padding: float | None = None) -> Outcome:
    from sonomorph.pipelines.silence import SilenceRemover

    src = Path(inputs["audio"])
    settings = {k: v for k, v in (("top_db", top_db), ("min_gap", min_gap),
                                  ("padding", padding)) if v is not None}
    remover = SilenceRemover(**settings)
    stem = safe_stem(src.name)
    report = remover.process_file(src, out / f"{stem}_no_silence.wav", overwrite=True,
                                  bit_depth="16", progress=progress)
    o = Outcome(audio=[("without silences", report.dst)])
    o.images = _pngs(out, stem, [("input", src), ("without silences", report.dst)])
    o.metrics += [("seconds in", f"{report.seconds_in:.2f}"),
                  ("seconds out", f"{report.seconds_out:.2f}"),
                  ("removed", f"{report.fraction_removed:.1%}"),
                  ("settings", f"top_db={remover.top_db:g}, min_gap={remover.min_gap:g} s, "
                               f"padding={remover.padding:g} s")]
    return o


RUNNERS: dict[str, Callable[..., Outcome]] = {
    "karaoke": run_karaoke, "scream": run_scream, "accompany": run_accompany,
    "style": run_style, "genre": run_genre, "speakers": run_speakers, "silence": run_silence,
}


def run(key: str, inputs: Mapping[str, Path], out_dir: str | os.PathLike, *,
        models: Mapping[str, str] | None = None, progress: ProgressCallback | None = None,
        device: str = "cpu", **options: Any) -> Outcome:
    """Run capability ``key`` on ``inputs`` (role -> file) into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return RUNNERS[key](inputs, out, models=dict(models or {}), progress=progress,
                        device=device, **options)


# ----------------------------------------------------------------------------- the demo

DEMO_OPTIONS: dict[str, dict[str, Any]] = {"scream": {"preset": "both"},
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
            reason = unavailable(cap, models)
            if reason is None and missing:
                reason = f"example input missing: {missing[0]} (see examples/README.md)"
            if reason is None and cap.key == "genre" and not files["clip"].exists():
                reason = "no genre example clip"
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
                   " (kinds: separator, scream, accompany, genre)")
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
