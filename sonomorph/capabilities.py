"""The capability registry: what each capability is, whether it can run here, and one runner
each. The web UI (:mod:`sonomorph.app`), the demo (:mod:`sonomorph.demo`) and the command
line (``--model KIND=FILE``) all use it, so they call the pipelines the same way:
``run(key, inputs, out_dir, models=..., progress=..., **options)`` returns an
:class:`~sonomorph.demo_report.Outcome` (audio files, images, metrics, notes).

Whether a capability can run (:func:`unavailable`): only a missing model makes it "not
available" (the shipped weights are not in this build and no ``--model KIND=FILE`` names
one). Its pipeline module is imported without any guard: a pipeline that fails to import is
a bug, and the error surfaces instead of being reported as a skipped capability.
"""

from __future__ import annotations

import importlib
import logging
import os
import shutil
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sonomorph.demo_report import (
    Outcome,
    accompaniment_scores,
    content_kept,
    separation_metrics,
    spectrogram_png,
)
from sonomorph.errors import ConfigError, SonomorphError
from sonomorph.utils.progress import ProgressCallback

log = logging.getLogger(__name__)

__all__ = ["Capability", "CAPABILITIES", "capability", "unavailable", "model_kinds", "run",
           "parse_models", "check_models", "safe_stem", "EXAMPLES_DIR"]

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLES_DIR = REPO_ROOT / "examples"


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

def capability(key: str) -> Capability:
    for cap in CAPABILITIES:
        if cap.key == key:
            return cap
    raise ConfigError(f"unknown capability {key!r} (known: {', '.join(c.key for c in CAPABILITIES)})")


def _shipped(kind: str) -> bool:
    from sonomorph import pretrained

    return kind in pretrained.available()


def unavailable(cap: Capability, models: Mapping[str, str] | None = None) -> str | None:
    """Why ``cap`` cannot run here, or None when it can. Only a missing model is a reason:
    the pipeline module is imported as it is, so an import error (a bug, or a dependency
    missing from the install) is raised, not turned into a note."""
    module = importlib.import_module(cap.module)
    missing = [n for n in cap.needs if not hasattr(module, n)]
    if missing:
        raise ImportError(f"{cap.module} lacks {', '.join(missing)} (the {cap.title} "
                          "capability needs them)", name=cap.module)
    kind = cap.model_kind
    if kind and not cap.model_optional and not (models or {}).get(kind) and not _shipped(kind):
        return (f"no shipped '{kind}' model in this build yet: train one (docs/training.md) and "
                f"pass it with --model {kind}=FILE")
    return None


def model_kinds() -> list[str]:
    """The model kinds ``--model KIND=FILE`` takes (one per capability with a model)."""
    return sorted({c.model_kind for c in CAPABILITIES if c.model_kind})


def parse_models(specs: list[str] | None) -> dict[str, str]:
    """``["separator=a.safetensors", ...]`` -> ``{"separator": "a.safetensors"}``."""
    kinds = set(model_kinds())
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
            from sonomorph.pipelines.scream import load_backend

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
                progress: ProgressCallback | None = None, device: str = "cpu",
                model: str | None = None, stems: str = "both", format: str = "wav") -> Outcome:
    """``model``: None (the ``--model separator=FILE`` one, else the shipped one),
    ``"shipped"``, or a model file; ``stems``: both, vocals or karaoke; ``format``: wav,
    flac, mp3 or ogg (the CLI's choices)."""
    from sonomorph.pipelines.separate import Separator

    song = Path(inputs["song"])
    spec = models.get("separator") or "default" if model is None else model
    spec = "default" if spec == "shipped" else spec
    sep = _cached(("separator", spec, device), lambda: Separator(spec, device=device))
    stem = safe_stem(song.name, "song")
    paths = sep.process_file(song, out, filename=f"{stem}_{{source}}", stems=stems,
                             format=format, progress=progress)
    labels = {"vocals": "vocals", "karaoke": "karaoke (accompaniment)"}
    o = Outcome(audio=[(labels[k], p) for k, p in paths.items()])
    # Which model ran: the file (or the shipped one) and the architecture its header records.
    name = "the shipped separator" if spec == "default" else Path(spec).name
    o.notes.append(f"model: {name} ({sep.meta.get('model', 'unknown architecture')})")
    o.images = _pngs(out, stem, [("input song", song)] + [(k, p) for k, p in paths.items()])
    if inputs.get("reference_vocals") and set(paths) == {"vocals", "karaoke"}:
        o.metrics += separation_metrics(song, Path(inputs["reference_vocals"]),
                                         paths["vocals"], paths["karaoke"])
    return o


def run_scream(inputs: Mapping[str, Path], out: Path, *, models: Mapping[str, str],
               progress: ProgressCallback | None = None, device: str = "cpu",
               strength: float = 1.0, preset: str = "model",
               also_models: Sequence[str] = ()) -> Outcome:
    """``preset``: "model" (the scream model), "growl" (the DSP effect) or "both";
    ``also_models``: more scream models (shipped names or files) run beside the main one.
    An optional ``inputs["held_out"]`` folder: each of its clips goes through the main
    model (when the preset runs it) and the ``also_models``, its ``<stem>.txt`` shown."""
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

    def backend_of(name: str | None):
        return _cached(("scream", name, device), lambda: load_backend(name, device=device))

    def scream(name: str | None, src: Path, dst: Path) -> Path:
        report = Screamer(backend=backend_of(name), style_strength=strength, progress=progress
                          ).process_file(src, dst, overwrite=True)
        o.notes += [n for n in report.notes if n not in o.notes]
        return report.dst

    if want_model:
        backend = backend_of(spec)
        dst = scream(spec, voice, out / f"{stem}_scream.wav")
        o.audio.append((f"scream ({backend.name})", dst))
        rows.append(("scream (model)", dst))
    if preset in ("growl", "both"):
        report = Screamer(preset="growl", style_strength=strength).process_file(
            voice, out / f"{stem}_growl.wav", overwrite=True)
        o.audio.append(("growl (DSP preset)", report.dst))
        rows.append(("growl (DSP preset)", report.dst))
    # (label, tag for file names, model spec): the main model first, then ``also_models``.
    used, labels, extra = {"scream", "growl"}, {_model_label(spec)} if want_model else set(), []
    for m in also_models:
        if not Path(m).suffix and not _shipped(str(m)):  # a shipped name this build lacks
            o.notes.append(f"No shipped '{m}' model in this build: it did not run.")
            continue
        extra.append((_unique(_model_label(m), labels), _unique(safe_stem(m, "model"), used), m))
    for label, tag, name in extra:
        dst = scream(name, voice, out / f"{stem}_{tag}.wav")
        o.audio.append((f"scream ({label})", dst))
        rows.append((f"scream ({label})", dst))
    o.images = _pngs(out, stem, rows)
    o.metrics.append(("style strength", f"{strength:g}"))
    o.metrics += content_kept(voice, [(label, p) for label, p in rows[1:]])
    runs = ([(_model_label(spec), "scream", spec)] if want_model else []) + extra
    if inputs.get("held_out") and runs:
        o.text = _scream_held_out(Path(inputs["held_out"]), out / "held-out", runs, o, scream)
    return o


def _model_label(spec: str | os.PathLike | None) -> str:
    """How a scream model is named in labels: the shipped name, or the file's stem."""
    return "scream" if spec in (None, "", "default") else Path(spec).stem


def _unique(tag: str, used: set[str]) -> str:
    """``tag``, or ``tag-2``, ``tag-3`` ... when taken; the result is marked as used."""
    n, found = 1, tag
    while found in used:
        n += 1
        found = f"{tag}-{n}"
    used.add(found)
    return found


def _scream_held_out(folder: Path, out: Path, runs: list[tuple[str, str, Any]], o: Outcome,
                     scream: Callable[[Any, Path, Path], Path]) -> str:
    """Each clip of ``folder`` (copied beside its outputs) through each (label, tag, model)
    of ``runs`` with ``scream(model, src, dst)``: the outputs and their mel correlations go
    to ``o``; returns the clips' known sentences (``<stem>.txt``), one a line."""
    from sonomorph.audio.io import find_audio_files

    lines, clips = [], set()
    for clip in find_audio_files(folder, recursive=False):
        name = _unique(safe_stem(clip.name, "clip"), clips)
        (out / name).mkdir(parents=True, exist_ok=True)
        shown = out / name / f"{name}_input{clip.suffix.lower()}"
        shutil.copyfile(clip, shown)
        o.audio.append((f"held-out {name}: input voice", shown))
        made = []
        for label, tag, model in runs:
            row = (f"held-out {name}: scream ({label})",
                   scream(model, clip, out / name / f"{name}_{tag}.wav"))
            o.audio.append(row)
            made.append(row)
        o.metrics += content_kept(clip, made)
        text = clip.with_suffix(".txt")
        if text.is_file():
            lines.append(f"held-out {name}: \u201c{text.read_text().strip()}\u201d")
    return "\n".join(lines)


def run_accompany(inputs: Mapping[str, Path], out: Path, *, models: Mapping[str, str],
                  progress: ProgressCallback | None = None, device: str = "cpu") -> Outcome:
    from sonomorph.pipelines.accompany import Accompanist

    vocals = Path(inputs["vocals"])
    spec = models.get("accompany") or "default"
    acc = _cached(("accompany", spec, device), lambda: Accompanist(spec, device=device))
    stem = safe_stem(vocals.name, "vocals")
    written = acc.accompany_file(vocals, out, progress=progress, overwrite=True)
    # The pipeline writes song.wav and accompaniment.wav (the CLI gives each input its own
    # folder); here they take the upload's name, like every other capability's results.
    paths = {k: written[k].replace(out / f"{stem}_{k}{written[k].suffix}")
             for k in ("song", "accompaniment")}
    o = Outcome(audio=[("song (voice + accompaniment)", paths["song"]),
                       ("accompaniment", paths["accompaniment"])])
    o.images = _pngs(out, stem,
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
                 database: Any = None, features: str | None = None) -> Outcome:
    """Enrol ``inputs["enrolment"]`` (a ``<speaker>/<files>`` folder) unless a
    ``database`` is given, then identify ``inputs["query"]``. ``features``: None for the
    pipeline's default (:data:`sonomorph.pipelines.speakers.DEFAULT_FEATURES`)."""
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
