"""The web UI without a browser: the command's safe defaults, what launch() asks Gradio
for, the tabs (and the note a missing capability shows), and the request handler: job
folders, sanitised output names, upload limits and one-line errors that do not leak the
server's temporary paths. The browser test (tests/test_browser.py) drives the real page."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sonomorph import app, capabilities, demo
from sonomorph.cli import build_parser

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _tiny_models import make_tiny_models  # noqa: E402

gr = pytest.importorskip("gradio")


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, str]:
    return make_tiny_models(tmp_path_factory.mktemp("models"))


@pytest.fixture
def settings(tmp_path, models) -> app.AppSettings:
    return app.AppSettings(tmp_path / "work", models=models, max_upload_mb=1.0)


@pytest.fixture
def song(tmp_path, tone) -> Path:
    """Two seconds of a stereo 'song' (two tones) under an awkward name."""
    wav = tone(220.0, 2.0, 22050, 2) + tone(660.0, 2.0, 22050, 2)[::-1]
    path = tmp_path / "uploads" / "my song (live) #1.wav"
    path.parent.mkdir()
    sf.write(path, wav.T, 22050)
    return path


def _find(ui, elem_id: str):
    return next((b for b in ui.blocks.values() if getattr(b, "elem_id", None) == elem_id), None)


def test_app_command_defaults_are_safe() -> None:
    args = build_parser().parse_args(["app"])
    assert args.host == "127.0.0.1"
    assert args.max_upload_mb == app.DEFAULT_MAX_UPLOAD_MB
    assert args.model == [] and args.func.__name__ == "run_app"
    args = build_parser().parse_args(["app", "--host", "0.0.0.0", "--port", "0",
                                      "--max-upload-mb", "5", "--model", "separator=x"])
    assert (args.host, args.port, args.max_upload_mb) == ("0.0.0.0", 0, 5.0)
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["app", "--port", "70000"])
    assert exit_.value.code == 2


def test_launch_asks_gradio_for_loopback_limits_and_a_private_folder(monkeypatch, tmp_path,
                                                                     models) -> None:
    monkeypatch.setenv("GRADIO_TEMP_DIR", "unset")
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "True")
    monkeypatch.setattr(app.tempfile, "tempdir", str(tmp_path))
    seen: dict = {}

    def fake_launch(self, **kwargs):
        seen.update(kwargs)
        seen["temp"] = os.environ["GRADIO_TEMP_DIR"]
        seen["analytics"] = os.environ["GRADIO_ANALYTICS_ENABLED"]
        seen["existed"] = Path(seen["temp"]).is_dir()

    monkeypatch.setattr(gr.Blocks, "launch", fake_launch)
    app.launch(port=0, max_upload_mb=3, models=models, quiet=True)
    assert seen["server_name"] == "127.0.0.1" and seen["share"] is False
    assert seen["max_file_size"] == 3 * 1024 * 1024
    assert seen["analytics"] == "False" and seen["ssr_mode"] is False
    assert seen["existed"] and Path(seen["temp"]).is_relative_to(tmp_path)
    assert Path(seen["temp"]).parent.name.startswith("sonomorph-app-")
    assert all(Path(p).is_relative_to(tmp_path) or Path(p) == demo.EXAMPLES_DIR
               for p in seen["allowed_paths"])
    assert 0 < seen["server_port"] < 65536
    # The private folder is removed once the server stops.
    assert not Path(seen["temp"]).parent.exists()


def test_launch_refuses_a_missing_model_file(tmp_path) -> None:
    from sonomorph.errors import CheckpointError

    with pytest.raises(CheckpointError, match="no such separator model file"):
        app.launch(models={"separator": str(tmp_path / "nope.safetensors")}, block=False)


def test_every_capability_has_a_tab(settings) -> None:
    """With a small test model of every kind, every tab has its form (no "not available")."""
    ui = app.build_app(settings)
    titles = [b.label for b in ui.blocks.values() if isinstance(b, gr.Tab)]
    assert titles == ["Karaoke", "Scream", "Vocals to song", "Style transfer", "Genre",
                      "Speaker ID", "Silence removal"]
    for cap in capabilities.CAPABILITIES:
        assert _find(ui, f"{cap.key}-unavailable") is None, cap.key
        assert _find(ui, f"{cap.key}-run") is not None, cap.key
    song_in = _find(ui, "karaoke-input")
    assert song_in.type == "filepath" and set(song_in.sources) == {"upload", "microphone"}
    # The Karaoke tab has the command line's options and takes several files.
    assert _find(ui, "karaoke-batch").file_count == "multiple"
    assert [c[0] for c in _find(ui, "karaoke-stems").choices] == ["both", "vocals", "karaoke"]
    assert [c[0] for c in _find(ui, "karaoke-format").choices] == ["wav", "flac", "mp3", "ogg"]
    model_values = [c[1] for c in _find(ui, "karaoke-model").choices]
    assert model_values[0] == settings.models["separator"]


def test_a_missing_model_shows_a_note_and_a_broken_pipeline_stops_the_app(settings,
                                                                          monkeypatch) -> None:
    needs = capabilities.Capability("ghost", "Ghost", "nothing", "sonomorph.pipelines.silence",
                                    ("SilenceRemover",), model_kind="no-such-kind")
    monkeypatch.setattr(app, "CAPABILITIES", (needs, capabilities.capability("silence")))
    ui = app.build_app(settings)
    note = _find(ui, "ghost-unavailable")
    assert note is not None and "no shipped 'no-such-kind' model" in note.value
    assert _find(ui, "ghost-run") is None and _find(ui, "silence-run") is not None
    broken = capabilities.Capability("ghost", "Ghost", "", "sonomorph.pipelines.ghost", ("X",))
    monkeypatch.setattr(app, "CAPABILITIES", (broken,))
    with pytest.raises(ModuleNotFoundError):
        app.build_app(settings)


def test_launch_prints_no_public_link_hint(monkeypatch, tmp_path, models, capsys) -> None:
    monkeypatch.setattr(app.tempfile, "tempdir", str(tmp_path))
    seen: dict = {}
    monkeypatch.setattr(gr.Blocks, "launch", lambda self, **kw: seen.update(kw))
    app.launch(port=0, models=models, quiet=False)
    out = capsys.readouterr()
    assert seen["share"] is False and seen["quiet"] is True  # Gradio's banner ends with the hint
    assert "share" not in out.out + out.err
    assert "http://127.0.0.1:" in out.out and "this computer only" in out.out


def test_scream_without_a_model_option_runs_the_shipped_model(tmp_path) -> None:
    settings = app.AppSettings(tmp_path / "work", models={}, max_upload_mb=1.0)
    assert capabilities.unavailable(capabilities.capability("scream"), settings.models) is None
    o = app.call("scream", {"voice": demo.EXAMPLES_DIR / "spoken_voice.ogg"}, settings,
                 preset="both")
    labels = [label for label, _ in o.audio]
    assert labels[0].startswith("scream (") and labels[1] == "growl (DSP preset)", labels
    assert not any("No shipped scream model" in n for n in o.notes), o.notes
    wet = sf.read(o.audio[0][1], dtype="float32")[0]
    assert np.isfinite(wet).all() and np.abs(wet).max() > 0.05


def test_scream_tab_strength_reaches_the_pipeline(settings) -> None:
    """The slider spans the pipeline's range; strength 0 gives the voice back (through the
    22.05 kHz round trip), 2 more change than 1 (the growl preset: no model needed)."""
    from sonomorph.audio import io
    from sonomorph.pipelines.scream import MAX_STRENGTH

    slider = _find(app.build_app(settings), "scream-strength")
    assert (slider.minimum, slider.maximum, slider.value) == (0.0, MAX_STRENGTH, 1.0)
    voice, sr = io.load(demo.EXAMPLES_DIR / "spoken_voice.ogg")
    voice = voice.mean(axis=0)
    dist = {}
    for strength in (0.0, 1.0, 2.0):
        o = app.call("scream", {"voice": demo.EXAMPLES_DIR / "spoken_voice.ogg"}, settings,
                     preset="growl", strength=strength)
        y, rate = sf.read(o.audio[0][1], dtype="float32")
        assert rate == sr and y.shape == voice.shape
        dist[strength] = float(np.abs(y - voice).mean() / np.abs(voice).mean())
    assert dist[0.0] < 0.01 < 0.5 < dist[1.0] < dist[2.0], dist  # 0: only the resampling round trip


def test_karaoke_request_writes_sanitised_names_in_its_own_job_folder(settings, song) -> None:
    first = app.call("karaoke", {"song": song}, settings)
    second = app.call("karaoke", {"song": song}, settings)
    jobs = settings.workdir / "jobs"
    for o in (first, second):
        names = sorted(p.name for _, p in o.audio)
        assert names == ["my_song_live_1_karaoke.wav", "my_song_live_1_vocals.wav"]
        assert all(p.parent.parent == jobs for _, p in o.audio + o.images)
    assert first.audio[0][1].parent != second.audio[0][1].parent
    vocals = sf.read(first.audio[0][1], dtype="float32")[0]
    karaoke = sf.read(first.audio[1][1], dtype="float32")[0]
    original = sf.read(song, dtype="float32")[0]
    np.testing.assert_allclose(vocals + karaoke, original, atol=2e-3)
    assert first.images[0][1].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_karaoke_options_stems_and_format(settings, song) -> None:
    o = app.call("karaoke", {"song": song}, settings, stems="vocals", format="flac")
    assert [p.name for _, p in o.audio] == ["my_song_live_1_vocals.flac"]
    assert sf.info(o.audio[0][1]).format == "FLAC"
    o = app.call("karaoke", {"song": song}, settings, stems="karaoke", format="ogg",
                 model=settings.models["separator"])
    assert [(label, p.name) for label, p in o.audio] == [
        ("karaoke (accompaniment)", "my_song_live_1_karaoke.ogg")]


def test_several_songs_give_one_zip(settings, song, tmp_path) -> None:
    import zipfile

    other = tmp_path / "more" / song.name  # the same name: the results must not collide
    other.parent.mkdir()
    other.write_bytes(song.read_bytes())
    broken = tmp_path / "more" / "broken.wav"
    broken.write_bytes(b"not audio" * 100)
    seen = []
    outcomes, archive, failures = app.call_batch(
        "karaoke", "song", [song, other, broken], settings,
        progress=lambda fraction, desc: seen.append(fraction), stems="both", format="wav")
    assert len(outcomes) == 2 and len(failures) == 1 and failures[0].startswith("broken.wav:")
    names = sorted(zipfile.ZipFile(archive).namelist())
    assert names == sorted(f"{folder}/my_song_live_1_{part}" for folder in
                           ("my_song_live_1", "my_song_live_1-2")
                           for part in ("vocals.wav", "karaoke.wav", "spectrograms.png"))
    assert seen and max(seen) <= 1.0
    with pytest.raises(gr.Error):
        app.call_batch("karaoke", "song", [broken], settings)


def test_errors_are_one_line_and_name_the_upload_not_the_server_path(settings, tmp_path) -> None:
    bad = tmp_path / "uploads" / "deep" / "broken.wav"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"this is not audio" * 64)
    with pytest.raises(gr.Error) as err:
        app.call("silence", {"audio": bad}, settings)
    message = err.value.message
    assert "broken.wav" in message and str(bad.parent) not in message and "\n" not in message


def test_uploads_are_checked(settings, tmp_path) -> None:
    with pytest.raises(gr.Error, match="Upload or record the song first"):
        app._check_upload(None, settings, "song")
    big = tmp_path / "big.wav"
    big.write_bytes(b"\0" * (settings.max_upload_bytes + 1))
    with pytest.raises(gr.Error, match="larger than the upload limit of 1 MB"):
        app._check_upload(str(big), settings, "song")
    with pytest.raises(gr.Error, match="missing"):
        app._check_upload(str(tmp_path / "gone.wav"), settings, "song")


def test_old_job_folders_are_cleared(settings) -> None:
    old = settings.new_job("karaoke")
    stamp = old.stat().st_mtime - app.JOB_MAX_AGE_S - 10
    os.utime(old, (stamp, stamp))
    new = settings.new_job("karaoke")
    assert new.is_dir() and not old.exists()


def test_prepare_environment(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("GRADIO_TEMP_DIR", "x")
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "True")
    uploads = app.prepare_environment(tmp_path)
    assert os.environ["GRADIO_TEMP_DIR"] == str(uploads) and uploads.is_dir()
    assert os.environ["GRADIO_ANALYTICS_ENABLED"] == "False"


ONE_FILE_TABS = ["karaoke", "scream", "accompany", "style", "genre", "silence"]


def _handler(ui, api_name: str):
    return next(f.fn for f in ui.fns.values() if f.api_name == api_name)


def _tab_args(key: str, single, many, style: Path) -> list:
    """The arguments each tab's form sends, in the order of its inputs (as the browser does)."""
    return {"karaoke": [single, many, None, "vocals", "wav"],
            "scream": [single, "growl", 1.0, many],
            "accompany": [single, many],
            "style": [single, str(style), "random", 10, many],
            "genre": [single, many],
            "silence": [single, 40, 0.3, 0.05, many]}[key]


@pytest.mark.parametrize("key", ONE_FILE_TABS)
def test_every_one_file_tab_takes_several_files_and_gives_one_zip(key, settings, song,
                                                                  tmp_path) -> None:
    """Each tab's own handler, given two uploads and a broken one: one sub-folder of results
    per good file in one zip, the first file's results in the players, a summary naming the
    failure; the same tab with one upload gives no zip."""
    import zipfile

    ui = app.build_app(settings)
    assert _find(ui, f"{key}-batch").file_count == "multiple"
    other = tmp_path / "more" / "second take.wav"
    other.parent.mkdir()
    sf.write(other, sf.read(song, dtype="float32")[0][:, 0] * 0.5, 22050)
    broken = tmp_path / "more" / "broken.wav"
    broken.write_bytes(b"not audio" * 100)
    fn = _handler(ui, key)
    out = fn(*_tab_args(key, None, [str(song), str(other), str(broken)], other))
    listing = next(x for x in out if isinstance(x, list))
    summary = out[-1]
    archive = Path(listing[0])
    assert archive.suffix == ".zip" and archive.is_file()
    folders = {}
    for name in zipfile.ZipFile(archive).namelist():
        folder, file = name.split("/")
        folders.setdefault(folder, []).append(file)
    assert sorted(folders) == ["my_song_live_1", "second_take"], folders
    for folder, files in folders.items():
        assert f"{folder}_spectrograms.png" in files
        assert all(f.startswith(folder) for f in files), files
        if key != "genre":  # every other tab writes audio for each file
            assert any(f.endswith(".wav") for f in files), files
    assert summary.startswith("2 of 3 ") and "failed: broken.wav:" in summary, summary
    assert all(Path(p).is_relative_to(archive.parent / "my_song_live_1") for p in listing[1:])
    if key == "genre":  # each clip's answer is in the summary, with the test model's labels
        for name in (song.name, other.name):
            line = next(x for x in summary.split("\n") if name in x)
            assert any(g in line for g in ("chorale", "rock", "jazz")), line
    single = fn(*_tab_args(key, str(song), None, other))
    listing = next(x for x in single if isinstance(x, list))
    assert listing and not any(p.endswith(".zip") for p in listing)
    assert "of 3" not in single[-1]
    if key == "karaoke":  # both fields filled: the single upload joins the batch, first
        both = fn(*_tab_args(key, str(other), [str(song)], other))
        names = zipfile.ZipFile(next(x for x in both if isinstance(x, list))[0]).namelist()
        assert sorted({n.split("/")[0] for n in names}) == ["my_song_live_1", "second_take"]
        assert both[-1].startswith("2 of 2 "), both[-1]


def test_karaoke_names_the_model_that_ran(settings, song) -> None:
    """The model menu's choice reaches the separator: the note names the file and the
    architecture recorded in its header (the test model is a mask network; the shipped
    one's architecture is read from its own file here)."""
    import json

    from safetensors import safe_open

    from sonomorph import pretrained

    o = app.call("karaoke", {"song": song}, settings, model=settings.models["separator"])
    assert "model: tiny-separator.safetensors (mask_separator)" in o.notes, o.notes
    assert "separator" in pretrained.available()  # it ships
    with safe_open(str(pretrained.path_for("separator")), "np") as f:
        shipped = json.loads(f.metadata()["sonomorph"])["model"]
    o = app.call("karaoke", {"song": song}, settings, model="shipped")
    assert f"model: the shipped separator ({shipped})" in o.notes, o.notes
