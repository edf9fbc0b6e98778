"""The web UI (``sonomorph app``): every capability in the browser, built with Gradio.

One tab per capability (Karaoke, Scream, Vocals to song, Style transfer, Genre, Speaker ID,
Silence removal). Each takes an upload or a microphone recording, runs the capability's
runner (:func:`sonomorph.capabilities.run`, the same calls the demo makes) with a progress
bar, and shows audio players, a spectrogram image and download links. A tab whose shipped
model is missing shows a note saying so instead of its form; a pipeline that cannot be
imported stops the app with its error (a bug is not hidden as a missing feature). The
Karaoke tab has the command line's options (model, stems, format). Every tab that works on
one file (Karaoke, Scream, Vocals to song, Style transfer's content, Genre, Silence removal)
also takes several files at once, through one shared handler (:func:`sonomorph.app_jobs.run_one_or_many`): one
result per file, all of them in one zip, the first file's shown in the players.

Safety, because a web server takes files from a browser:

* it listens on 127.0.0.1 (this computer only) unless ``host`` says otherwise, and never
  opens a public share link (nor prints Gradio's hint about making one); Gradio's
  analytics are off, so nothing calls out;
* uploads larger than ``max_upload_mb`` are refused (by Gradio at upload, and again here);
* uploads and results live in a private temporary folder (``GRADIO_TEMP_DIR`` points
  into it) that is removed when the app exits; each request writes into its own job folder;
* output names are built from a sanitised stem of the uploaded name (no folders, no
  ``..``), and error messages name the uploaded file, not the server's temporary path.

Gradio is imported only when the UI is built, so importing this module stays cheap.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sonomorph.app_jobs import (  # noqa: F401 - the requests' API, used as app.X too
    BATCH_WORDS,
    DEFAULT_MAX_UPLOAD_MB,
    JOB_MAX_AGE_S,
    AppSettings,
    _check_upload,
    _files,
    _friendly,
    call,
    call_batch,
    run_one_or_many,
)
from sonomorph.capabilities import (
    CAPABILITIES,
    EXAMPLES_DIR,
    capability,
    check_models,
    unavailable,
)
from sonomorph.demo_report import Outcome
from sonomorph.errors import CheckpointError, SonomorphError

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "DEFAULT_MAX_UPLOAD_MB", "AppSettings",
           "build_app", "launch", "prepare_environment"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860


def prepare_environment(root: str | os.PathLike) -> Path:
    """Point Gradio at a private temporary folder under ``root`` and switch its analytics
    off. Must run before Gradio is imported for the first time in the process."""
    uploads = Path(root) / "gradio"
    uploads.mkdir(parents=True, exist_ok=True)
    os.environ["GRADIO_TEMP_DIR"] = str(uploads)
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    return uploads


# ----------------------------------------------------------------------------- handlers


def _image(o: Outcome) -> str | None:
    return str(o.images[0][1]) if o.images else None


def _metrics_md(o: Outcome) -> str:
    rows = [f"| {k} | {v} |" for k, v in o.metrics]
    table = "| metric | value |\n|---|---|\n" + "\n".join(rows) if rows else ""
    notes = "\n".join(f"- {n}" for n in o.notes)
    return "\n\n".join(x for x in (table, notes) if x)


# ----------------------------------------------------------------------------- layout


def _audio_in(gr, label: str, elem_id: str):
    return gr.Audio(sources=["upload", "microphone"], type="filepath", label=label,
                    elem_id=elem_id, buttons=["download"])


def _audio_out(gr, label: str, elem_id: str, visible: bool = True):
    return gr.Audio(type="filepath", label=label, interactive=False, elem_id=elem_id,
                    buttons=["download"], visible=visible)


def _results(gr, key: str):
    image = gr.Image(type="filepath", label="Spectrograms", interactive=False,
                     elem_id=f"{key}-spectrogram", buttons=["download"])
    files = gr.File(label="Download", file_count="multiple", interactive=False,
                    elem_id=f"{key}-files")
    return image, files


def _example(gr, component, name: str) -> None:
    path = EXAMPLES_DIR / name
    if path.is_file():
        gr.Examples(examples=[[str(path)]], inputs=[component], label="Example input")


KARAOKE_STEMS = ("both", "vocals", "karaoke")
KARAOKE_FORMATS = ("wav", "flac", "mp3", "ogg")


def separator_choices(s: AppSettings) -> list[tuple[str, str]]:
    """(label, value) of the separator models the Karaoke tab offers: the one named with
    ``--model separator=FILE`` first, then the shipped one (when in this build)."""
    choices = []
    if s.models.get("separator"):
        choices.append((f"{Path(s.models['separator']).name} (--model)", s.models["separator"]))
    if _has_model("separator"):
        choices.append(("shipped separator", "shipped"))
    return choices


def _batch_in(gr, key: str, extra: str = ""):
    """The several-files upload a tab offers beside its single input (``{key}-batch``)."""
    return gr.File(label=f"Or several {BATCH_WORDS[key][1]} at once{extra} (one zip of all "
                         "the results)", file_count="multiple", file_types=["audio"],
                   type="filepath", elem_id=f"{key}-batch")


def _joined(*parts: str) -> str:
    return "\n\n".join(p for p in parts if p)


def _karaoke_tab(gr, s: AppSettings) -> None:
    song = _audio_in(gr, "Song", "karaoke-input")
    _example(gr, song, "song.ogg")
    batch = _batch_in(gr, "karaoke")
    with gr.Row():
        models = separator_choices(s)
        model = gr.Dropdown(models, value=models[0][1] if models else None, label="Model",
                            elem_id="karaoke-model",
                            info="the separator that splits the song (sonomorph separate "
                                 "--model)")
        stems = gr.Radio(list(KARAOKE_STEMS), value="both", label="Stems",
                         elem_id="karaoke-stems",
                         info="both files, only the vocals, or only the karaoke (--stems)")
        fmt = gr.Radio(list(KARAOKE_FORMATS), value="wav", label="Format",
                       elem_id="karaoke-format", info="output file format (--format)")
    go = gr.Button("Separate", variant="primary", elem_id="karaoke-run")
    with gr.Row():
        vocals = _audio_out(gr, "Vocals", "karaoke-vocals")
        karaoke = _audio_out(gr, "Karaoke (accompaniment)", "karaoke-karaoke")
    image, files = _results(gr, "karaoke")
    notes = gr.Markdown(elem_id="karaoke-notes")

    def separate(path, many, which, kind, ext, progress=gr.Progress()):
        o, listing, summary = run_one_or_many("karaoke", "song", path, many, s, progress,
                                              model=which or None, stems=kind, format=ext)
        found = {label.split(" ")[0]: str(p) for label, p in o.audio}
        return (found.get("vocals"), found.get("karaoke"), _image(o), listing,
                _joined(summary, _metrics_md(o)))

    go.click(separate, [song, batch, model, stems, fmt],
             [vocals, karaoke, image, files, notes], api_name="karaoke")


def _scream_tab(gr, s: AppSettings, model_missing: bool) -> None:
    if model_missing:
        gr.Markdown("No shipped scream model in this build yet: the DSP growl preset is "
                    "used (start the app with `--model scream=FILE` to use a trained model).",
                    elem_id="scream-note")
    voice = _audio_in(gr, "Voice (sung, spoken or whispered)", "scream-input")
    _example(gr, voice, "sung_voice.ogg")
    batch = _batch_in(gr, "scream")
    with gr.Row():
        choices = ["growl"] if model_missing else ["model", "growl", "both"]
        preset = gr.Radio(choices, value=choices[0], label="Effect",
                          info="model: the MelGAN scream model; growl: the DSP effect")
        strength = gr.Slider(0.0, 2.0, value=1.0, step=0.05, label="Style strength",
                             info="0 = the dry voice, 1 = the effect alone, above 1 its "
                             "change exaggerated (2 = twice the change)",
                             elem_id="scream-strength")
    go = gr.Button("Scream", variant="primary", elem_id="scream-run")
    with gr.Row():
        first = _audio_out(gr, "Scream (model)", "scream-result", visible=not model_missing)
        second = _audio_out(gr, "Growl (DSP preset)", "scream-growl")
    image, files = _results(gr, "scream")
    metrics = gr.Markdown(elem_id="scream-notes")

    def scream(path, effect, amount, many=None, progress=gr.Progress()):
        o, listing, summary = run_one_or_many("scream", "voice", path, many, s, progress,
                                              strength=float(amount), preset=effect)
        model = next((str(p) for label, p in o.audio if label.startswith("scream")), None)
        dsp = next((str(p) for label, p in o.audio if label.startswith("growl")), None)
        return model, dsp, _image(o), listing, _joined(summary, _metrics_md(o))

    go.click(scream, [voice, preset, strength, batch], [first, second, image, files, metrics],
             api_name="scream")


def _accompany_tab(gr, s: AppSettings) -> None:
    vocals = _audio_in(gr, "Vocal line", "accompany-input")
    _example(gr, vocals, "song_vocals.ogg")
    batch = _batch_in(gr, "accompany")
    go = gr.Button("Make a song", variant="primary", elem_id="accompany-run")
    with gr.Row():
        song = _audio_out(gr, "Song (voice + accompaniment)", "accompany-song")
        acc = _audio_out(gr, "Accompaniment", "accompany-accompaniment")
    image, files = _results(gr, "accompany")
    notes = gr.Markdown(elem_id="accompany-notes")

    def accompany(path, many=None, progress=gr.Progress()):
        o, listing, summary = run_one_or_many("accompany", "vocals", path, many, s, progress)
        return (str(o.audio[0][1]), str(o.audio[1][1]), _image(o), listing,
                _joined(summary, _metrics_md(o)))

    go.click(accompany, [vocals, batch], [song, acc, image, files, notes],
             api_name="accompany")


def _style_tab(gr, s: AppSettings) -> None:
    with gr.Row():
        content = _audio_in(gr, "Content (what is said or played)", "style-content")
        style = _audio_in(gr, "Style (the texture to take on)", "style-style")
    if (EXAMPLES_DIR / "spoken_voice.ogg").is_file() and (EXAMPLES_DIR / "sung_voice.ogg").is_file():
        gr.Examples(examples=[[str(EXAMPLES_DIR / "spoken_voice.ogg"),
                               str(EXAMPLES_DIR / "sung_voice.ogg")]],
                    inputs=[content, style], label="Example inputs")
    batch = _batch_in(gr, "style", ", each given the one style")
    with gr.Row():
        methods = ["random"] + (["classifier"] if unavailable(capability("genre"), s.models)
                                is None else [])
        method = gr.Radio(methods, value="random", label="Method",
                          info="random: a seeded random CNN (no data); classifier: the genre CNN")
        steps = gr.Slider(10, 500, value=150, step=10, label="Optimisation steps")
    go = gr.Button("Transfer", variant="primary", elem_id="style-run")
    result = _audio_out(gr, "Result", "style-result")
    image, files = _results(gr, "style")
    metrics = gr.Markdown(elem_id="style-notes")

    def transfer(c, st, how, n, many=None, progress=gr.Progress()):
        style_clip = {"style": _check_upload(st, s, "style")}
        o, listing, summary = run_one_or_many("style", "content", c, many, s, progress,
                                              fixed=style_clip, method=how, steps=int(n))
        return str(o.audio[0][1]), _image(o), listing, _joined(summary, _metrics_md(o))

    go.click(transfer, [content, style, method, steps, batch], [result, image, files, metrics],
             api_name="style")


def _genre_tab(gr, s: AppSettings) -> None:
    clip = _audio_in(gr, "Music clip (5 s or more is best)", "genre-input")
    _example(gr, clip, "genre_clip.ogg")
    batch = _batch_in(gr, "genre")
    go = gr.Button("Classify", variant="primary", elem_id="genre-run")
    label = gr.Label(num_top_classes=3, label="Genre", elem_id="genre-label")
    notes = gr.Markdown(elem_id="genre-notes")
    image, files = _results(gr, "genre")

    def classify(path, many=None, progress=gr.Progress()):
        o, listing, summary = run_one_or_many("genre", "clip", path, many, s, progress)
        return o.probabilities, _image(o), listing, _joined(summary, _metrics_md(o))

    go.click(classify, [clip, batch], [label, image, files, notes], api_name="genre")


def _speakers_tab(gr, s: AppSettings) -> None:
    from sonomorph.pipelines.speakers import SpeakerDatabase, make_extractor

    gr.Markdown("Enrol the example speakers, or your own: a name and one or more recordings "
                "each. The enrolment lasts for this browser session.")
    db_state = gr.State(None)
    with gr.Row():
        with gr.Column():
            name = gr.Textbox(label="Speaker name", max_length=60, elem_id="speakers-name")
            voice = _audio_in(gr, "A recording of this speaker", "speakers-enrol-input")
            with gr.Row():
                enrol = gr.Button("Enrol", elem_id="speakers-enrol")
                examples = gr.Button("Enrol the example speakers", elem_id="speakers-examples",
                                     visible=(EXAMPLES_DIR / "speakers").is_dir())
            enrolled = gr.Markdown("Nobody enrolled yet.", elem_id="speakers-enrolled")
        with gr.Column():
            query = _audio_in(gr, "Who is speaking?", "speakers-query")
            _example(gr, query, "spoken_voice.ogg")
            go = gr.Button("Identify", variant="primary", elem_id="speakers-run")
            answer = gr.Markdown(elem_id="speakers-answer")

    def listing(db) -> str:
        counts = {spk: db.labels.count(spk) for spk in db.speakers}
        return "Enrolled: " + ", ".join(f"{k} ({v})" for k, v in counts.items())

    def add(db, who, path):
        import re

        from sonomorph.pipelines.speakers import load_voice

        p = _check_upload(path, s, "recording")
        who = re.sub(r"[^\w .'-]+", "", who or "", flags=re.UNICODE).strip()[:60]
        if not who:
            raise gr.Error("Give the speaker a name (letters, digits, - and _).")
        try:  # a new database takes the default features, an existing one keeps its own
            ext = db.extractor(s.device) if db is not None else make_extractor(device=s.device)
        except SonomorphError as exc:
            raise gr.Error(_friendly(exc, {"r": p})) from None
        db = db or SpeakerDatabase(ext.name, dict(ext.settings))
        try:
            db.add(ext(load_voice(p, ext.sample_rate), p)[None], [who], [p.name])
        except SonomorphError as exc:
            raise gr.Error(_friendly(exc, {"r": p})) from None
        return db, listing(db), None

    def add_examples(db):
        from sonomorph.pipelines.speakers import enroll_folder

        try:
            db = enroll_folder(EXAMPLES_DIR / "speakers", db, device=s.device)
        except SonomorphError as exc:
            raise gr.Error(str(exc)) from None
        return db, listing(db)

    def identify(db, path, progress=gr.Progress()):
        p = _check_upload(path, s, "recording")
        if db is None or not db.labels:
            raise gr.Error("Enrol at least one speaker first.")
        o = call("speakers", {"query": p}, s, progress, database=db)
        return o.text.replace("\n", "  \n")

    enrol.click(add, [db_state, name, voice], [db_state, enrolled, voice], api_name=False)
    examples.click(add_examples, [db_state], [db_state, enrolled], api_name=False)
    go.click(identify, [db_state, query], [answer], api_name="speakers")


def _silence_tab(gr, s: AppSettings) -> None:
    from sonomorph.audio.silence import DEFAULT_MIN_GAP, DEFAULT_PADDING, DEFAULT_TOP_DB

    audio = _audio_in(gr, "Recording", "silence-input")
    _example(gr, audio, "sung_voice.ogg")
    batch = _batch_in(gr, "silence")
    with gr.Row():
        top_db = gr.Slider(10, 80, value=DEFAULT_TOP_DB, step=1, label="Silence threshold (dB "
                           "below the peak)")
        min_gap = gr.Slider(0.0, 2.0, value=DEFAULT_MIN_GAP, step=0.05,
                            label="Shortest pause removed (s)")
        padding = gr.Slider(0.0, 0.5, value=DEFAULT_PADDING, step=0.01,
                            label="Kept around each sound (s)")
    go = gr.Button("Remove silences", variant="primary", elem_id="silence-run")
    result = _audio_out(gr, "Without silences", "silence-result")
    image, files = _results(gr, "silence")
    metrics = gr.Markdown(elem_id="silence-notes")

    def cut(path, db, gap, pad, many=None, progress=gr.Progress()):
        o, listing, summary = run_one_or_many("silence", "audio", path, many, s, progress,
                                              top_db=float(db), min_gap=float(gap),
                                              padding=float(pad))
        return str(o.audio[0][1]), _image(o), listing, _joined(summary, _metrics_md(o))

    go.click(cut, [audio, top_db, min_gap, padding, batch], [result, image, files, metrics],
             api_name="silence")


_TABS = {"karaoke": _karaoke_tab, "accompany": _accompany_tab, "style": _style_tab,
         "genre": _genre_tab, "speakers": _speakers_tab, "silence": _silence_tab}


def build_app(settings: AppSettings):
    """The Gradio Blocks of the UI (not launched)."""
    import gradio as gr

    with gr.Blocks(title="sonomorph", analytics_enabled=False) as ui:
        gr.Markdown("# sonomorph\nTransform audio with neural networks. Upload a file or "
                    f"record one (up to {settings.max_upload_mb:g} MB); the results can be "
                    "played here and downloaded.")
        for cap in CAPABILITIES:
            with gr.Tab(cap.title, id=cap.key, elem_id=f"tab-{cap.key}"):
                gr.Markdown(cap.blurb)
                reason = unavailable(cap, settings.models)
                if reason is not None:
                    gr.Markdown(f"**Not available:** {reason}.", elem_id=f"{cap.key}-unavailable")
                    continue
                if cap.key == "scream":
                    missing = not settings.models.get("scream") and not _has_model("scream")
                    _scream_tab(gr, settings, missing)
                else:
                    _TABS[cap.key](gr, settings)
    ui.queue(default_concurrency_limit=1, max_size=16)
    return ui


def _has_model(kind: str) -> bool:
    from sonomorph import pretrained

    return kind in pretrained.available()


def _theme(gr):
    """The default look with the system's fonts: the stock theme would ask Google Fonts."""
    return gr.themes.Default(font=["system-ui", "Segoe UI", "Roboto", "sans-serif"],
                             font_mono=["ui-monospace", "Consolas", "monospace"])


def launch(*, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
           max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB, models: Mapping[str, str] | None = None,
           device: str = "cpu", open_browser: bool = False, quiet: bool = False,
           block: bool = True):
    """Start the UI on ``host:port`` (``port`` 0: a free one) and serve until interrupted
    (or return the running Blocks with ``block=False``). The private temporary folder is
    removed when the process exits."""
    for kind, path in (models or {}).items():
        if not Path(path).is_file():
            raise CheckpointError(f"no such {kind} model file", path)
    check_models(models or {})  # a damaged, pickled or wrong-kind file: refused before serving
    root = Path(tempfile.mkdtemp(prefix="sonomorph-app-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    uploads = prepare_environment(root)
    examples = (EXAMPLES_DIR,) if EXAMPLES_DIR.is_dir() else ()
    settings = AppSettings(root / "work", models=models, device=device,
                           max_upload_mb=max_upload_mb, upload_dirs=(uploads, *examples))
    ui = build_app(settings)
    if port == 0:
        port = _free_port(host)
    allowed = [str(settings.workdir)] + ([str(EXAMPLES_DIR)] if EXAMPLES_DIR.is_dir() else [])
    import gradio as gr

    try:
        # quiet=True: Gradio's own banner ends with its hint to "set share=True", which this
        # app never does (see the module docstring); the address is printed here instead.
        if not quiet:
            shown = f"[{host}]" if ":" in host else host
            reach = ("this computer only" if host in ("127.0.0.1", "::1", "localhost")
                     else "anyone who can reach this computer")
            print(f"sonomorph app: http://{shown}:{port}/ ({reach}; Ctrl-C stops it)",
                  flush=True)
        ui.launch(server_name=host, server_port=port, share=False, inbrowser=open_browser,
                  max_file_size=settings.max_upload_bytes, allowed_paths=allowed, quiet=True,
                  show_error=True, ssr_mode=False, footer_links=["api", "settings"],
                  theme=_theme(gr), prevent_thread_lock=not block, mcp_server=False)
    finally:
        if block:
            shutil.rmtree(root, ignore_errors=True)
    if not block:  # closing the server removes the uploads and results too
        close = ui.close

        def close_and_clean(*args: Any, **kwargs: Any) -> Any:
            try:
                return close(*args, **kwargs)
            finally:
                shutil.rmtree(root, ignore_errors=True)

        ui.close = close_and_clean
    return ui


def _free_port(host: str) -> int:
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
