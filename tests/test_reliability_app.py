"""The web UI against hostile uploads, through the real server over HTTP: a file name with
``..``, an absolute path, a NUL or backslashes is stored only inside the private temporary
folder; results get sanitised names there too; a request naming a server file that was
never uploaded is refused; and closing the server removes the whole folder."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sonomorph import app

gr = pytest.importorskip("gradio")
httpx = pytest.importorskip("httpx")

SR = 16000


def _wav_bytes() -> bytes:
    t = np.arange(SR) / SR
    wav = np.concatenate([0.3 * np.sin(2 * np.pi * 220 * t), np.zeros(SR),
                          0.3 * np.sin(2 * np.pi * 330 * t)]).astype(np.float32)
    buf = io.BytesIO()
    sf.write(buf, wav, SR, format="WAV")
    return buf.getvalue()


def _call(base: str, api: str, data: list) -> tuple[str, object]:
    """Gradio's HTTP API: start a call, read its event stream; (event, data)."""
    r = httpx.post(f"{base}/gradio_api/call/{api}", json={"data": data}, timeout=60)
    r.raise_for_status()
    event_id = r.json()["event_id"]
    with httpx.stream("GET", f"{base}/gradio_api/call/{api}/{event_id}", timeout=120) as s:
        text = "".join(s.iter_text())
    events = [line[len("event: "):] for line in text.splitlines() if line.startswith("event: ")]
    payloads = [line[len("data: "):] for line in text.splitlines() if line.startswith("data: ")]
    return events[-1], json.loads(payloads[-1])


def _files(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


def test_hostile_upload_names_stay_in_the_private_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(app.tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv("GRADIO_TEMP_DIR", "unset")
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.wav"
    secret.write_bytes(_wav_bytes())
    ui = app.launch(port=0, block=False, quiet=True)
    root = Path(os.environ["GRADIO_TEMP_DIR"]).parent
    try:
        assert root.parent == tmp_path and root.name.startswith("sonomorph-app-")
        base = ui.local_url.rstrip("/")
        assert base.startswith("http://127.0.0.1:")
        before_outside = _files(outside)
        names = ["../../x.wav", "../../../outside/planted.wav", f"{outside}/absolute.wav",
                 "nul\x00byte.wav", "..\\..\\windows.wav", "....//....//dots.wav", ".."]
        stored = []
        for name in names:
            r = httpx.post(f"{base}/gradio_api/upload",
                           files=[("files", (name, _wav_bytes(), "audio/wav"))], timeout=60)
            if r.status_code != 200:  # refused outright: fine too
                assert r.status_code == 400, (name, r.status_code, r.text)
                continue
            (path,) = r.json()
            path = Path(path)
            assert path.resolve().is_relative_to((root / "gradio").resolve()), (name, path)
            assert path.is_file() and "\x00" not in path.name and ".." not in path.parts
            stored.append(path)
        assert len(stored) >= len(names) - 1
        # Nothing landed outside the private folder.
        assert _files(outside) == before_outside
        assert not (root / "x.wav").exists() and not (tmp_path / "x.wav").exists()
        assert {p for p in _files(tmp_path) if not p.is_relative_to(root)} == before_outside

        # A traversal-named upload is processed; its results get safe names, in the folder.
        # (The last input is the several-files upload, empty here.)
        event, data = _call(base, "silence", [{"path": str(stored[0]),
                                               "meta": {"_type": "gradio.FileData"}},
                                              40, 0.3, 0.05, None])
        assert event == "complete", data
        audio = Path(data[0]["path"])
        assert audio.resolve().is_relative_to(root.resolve())
        assert audio.name == "x_no_silence.wav"
        assert sf.info(audio).duration == pytest.approx(2.0, abs=0.2)

        # A request naming a file that was never uploaded is refused.
        event, data = _call(base, "silence", [{"path": str(secret),
                                               "meta": {"_type": "gradio.FileData"}},
                                              40, 0.3, 0.05, None])
        assert event == "error"
        # So is one slipped in among several files.
        event, data = _call(base, "silence", [None, 40, 0.3, 0.05, [
            {"path": str(stored[0]), "meta": {"_type": "gradio.FileData"}},
            {"path": str(secret), "meta": {"_type": "gradio.FileData"}}]])
        assert event == "error"
        assert _files(outside) == before_outside
    finally:
        ui.close()
    assert not root.exists(), "the private folder outlived the server"
    assert {p for p in _files(tmp_path)} == before_outside


def test_handlers_take_only_uploaded_files(tmp_path):
    uploads = tmp_path / "gradio"
    uploads.mkdir()
    inside = uploads / "abc" / "song.wav"
    inside.parent.mkdir()
    inside.write_bytes(_wav_bytes())
    elsewhere = tmp_path / "elsewhere.wav"
    elsewhere.write_bytes(_wav_bytes())
    settings = app.AppSettings(tmp_path / "work", upload_dirs=(uploads,))
    assert app._check_upload(str(inside), settings, "song") == inside
    for path in (elsewhere, uploads / ".." / "elsewhere.wav", Path("/etc/hostname")):
        with pytest.raises(gr.Error, match="not an uploaded file"):
            app._check_upload(str(path), settings, "song")
