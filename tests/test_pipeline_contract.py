"""The pipeline contract: every capability class exported from sonomorph.pipelines has
process(wav, sr, *, progress) and process_file(src, out, *, overwrite, progress), and
they run (small test models), calling progress and refusing to replace an output."""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import sonomorph.pipelines as pipelines
from sonomorph.errors import OutputExistsError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _tiny_models import make_tiny_models  # noqa: E402

CLASSES = ["Separator", "Accompanist", "Screamer", "SilenceRemover", "GenreClassifier",
           "RandomStyleTransfer", "ClassifierStyleTransfer", "SpeakerDatabase"]


@pytest.mark.parametrize("name", CLASSES)
def test_every_capability_class_keeps_the_contract(name) -> None:
    cls = getattr(pipelines, name)
    assert name in pipelines.__all__
    for method in ("process", "process_file"):
        params = inspect.signature(getattr(cls, method)).parameters
        assert "progress" in params and params["progress"].kind is inspect.Parameter.KEYWORD_ONLY
        assert params["progress"].default is None
    params = inspect.signature(cls.process_file).parameters
    assert params["overwrite"].kind is inspect.Parameter.KEYWORD_ONLY
    assert params["overwrite"].default is False
    assert list(inspect.signature(cls.process).parameters)[1:3] == ["wav", "sr"]
    src, out = list(inspect.signature(cls.process_file).parameters)[1:3]
    assert src == "src" and out in ("out", "dst")  # dst: the older name, kept


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return make_tiny_models(tmp_path_factory.mktemp("models"))


def _voice(seconds: float = 1.5, sr: int = 22050) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    env = (np.sin(2 * np.pi * 2 * t) > -0.3).astype(np.float32)
    return (0.3 * np.sin(2 * np.pi * 220 * t) * env).astype(np.float32)[None]


def _build(name: str, models: dict):
    if name == "Separator":
        return pipelines.Separator(models["separator"], chunk_seconds=0.5)
    if name == "Accompanist":
        return pipelines.Accompanist(models["accompany"], gl_iters=1)
    if name == "Screamer":
        return pipelines.Screamer(models["scream"])
    if name == "GenreClassifier":
        return pipelines.GenreClassifier(models["genre"])
    if name == "RandomStyleTransfer":
        return pipelines.RandomStyleTransfer(steps=2)
    if name == "ClassifierStyleTransfer":
        return pipelines.ClassifierStyleTransfer(models["genre"], steps=2)
    if name == "SpeakerDatabase":
        db = pipelines.SpeakerDatabase("gram", {})
        extractor = db.extractor()
        voices = [_voice(1.0, 16000)[0], _voice(1.0, 16000)[0][::-1].copy()]
        db.add(np.stack([extractor(v) for v in voices]), ["low", "high"], ["a.wav", "b.wav"])
        return db
    return pipelines.SilenceRemover()


@pytest.mark.parametrize("name", CLASSES)
def test_process_and_process_file_run_and_report_progress(name, models, tmp_path) -> None:
    obj = _build(name, models)
    wav, sr = _voice(), 22050
    extra = {"style": _voice(1.5)[:, ::-1].copy()} if "Style" in name else {}
    calls: list[tuple[float, float]] = []
    result = obj.process(wav, sr, progress=lambda d, t: calls.append((d, t)), **extra)
    assert result is not None and calls and calls[-1][0] == calls[-1][1]
    src = tmp_path / "in.wav"
    sf.write(src, wav.T, sr)
    out = tmp_path / ("out" if name in ("Separator", "Accompanist") else "out.wav")
    if name in ("GenreClassifier", "SpeakerDatabase"):
        out = tmp_path / "out.json"
    file_extra = {}
    if "Style" in name:
        style = tmp_path / "style.wav"
        sf.write(style, extra["style"].T, sr)
        file_extra = {"style": style}
    calls.clear()
    obj.process_file(src, out, progress=lambda d, t: calls.append((d, t)), **file_extra)
    assert calls and calls[-1][0] == calls[-1][1]
    assert out.exists()
    if out.is_file():
        with pytest.raises(OutputExistsError):
            obj.process_file(src, out, **file_extra)
        obj.process_file(src, out, overwrite=True, **file_extra)


def test_speaker_database_process_answers_like_identify_file(tmp_path) -> None:
    """process on a waveform at another rate and channel count ranks the speakers as
    identify_file does on the same audio written to a file; process_file writes the
    answer as JSON."""
    import json

    db = _build("SpeakerDatabase", {})
    wav = np.concatenate([_voice(1.2, 22050)] * 2)  # stereo at 22.05 kHz
    src = tmp_path / "voice.wav"
    sf.write(src, wav.T, 22050, subtype="FLOAT")
    ranked = db.process(wav, 22050)
    expected = db.identify_file(src)
    assert [m.speaker for m in ranked] == [m.speaker for m in expected]
    assert np.allclose([m.distance for m in ranked], [m.distance for m in expected], atol=1e-5)
    db.process_file(src, tmp_path / "a.json")
    doc = json.loads((tmp_path / "a.json").read_text())
    assert doc["speaker"] == doc["nearest"] == ranked[0].speaker
    assert set(doc["distances"]) == {"low", "high"}
