"""``sonomorph eval separator`` on the folders a user has at hand (issue 14, items 4-5):
a 16-bit stereo mixture (whose centre-channel side signal has exactly opposite channels,
which museval takes for silence), stems-only folders without a mixture or split folders,
and the weights record of any registered separator architecture."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from sonomorph.eval import baselines as B
from sonomorph.eval.metrics import si_sdr, track_scores

SR = 44100


def _stems(seconds: float = 1.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A harmonic voice near the centre and a wide, not dual-mono, noisy accompaniment.
    No stem has one channel proportional to the other: BSSEval's projections are then
    ill-conditioned and its values numerically unstable."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    voice = sum(np.sin(2 * np.pi * 233 * h * t) / h for h in range(1, 5)) * 0.12
    air = 0.01 * rng.standard_normal((2, t.size))
    acc = np.stack([0.08 * rng.standard_normal(t.size), 0.05 * rng.standard_normal(t.size)])
    return (np.stack([voice, 0.9 * voice]) + air).astype(np.float32), acc.astype(np.float32)


def _write(path: Path, x: np.ndarray, subtype: str = "PCM_16") -> np.ndarray:
    """Write ``x`` (channels, samples) and return what reading it back gives."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, x.T, SR, subtype=subtype)
    return sf.read(path, dtype="float32", always_2d=True)[0].T


def _model(path: Path, name: str = "mask_separator", meta: dict | None = None) -> Path:
    from sonomorph.models import build_model, save_model

    args = {"mask_separator": dict(n_fft=1024, hop=256, hidden=8, layers=1),
            "unet_separator": dict(n_fft=1024, hop=256, base=2, depth=2, unet_bins=64)}[name]
    torch.manual_seed(0)
    return save_model(path, build_model(name, **args), meta=meta)


def _eval(capsys, data: Path, model: Path, out: Path, *extra: str) -> tuple[dict, str]:
    from sonomorph.cli import main

    code = main(["-q", "eval", "separator", "--data", str(data), "--model", str(model),
                 "--json", str(out), *extra])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "Traceback" not in captured.err + captured.out
    return json.loads(out.read_text()), captured.out


def _nudged(x: np.ndarray) -> np.ndarray:
    """``x`` with its second channel a millionth louder: no longer exact opposites, so
    museval accepts it, and its scores are those of ``x`` to well under 0.01 dB."""
    y = np.array(x, dtype=np.float64)
    y[1] *= 1 + 1e-6
    return y


# ----------------------------------------------------------------------------- 16-bit stereo


def test_centre_channel_of_a_16_bit_stereo_mixture_is_scored(tmp_path, capsys):
    v, a = _stems()
    song = tmp_path / "data" / "test" / "song"
    v = _write(song / "vocals.wav", v, "FLOAT")
    a = _write(song / "accompaniment.wav", a, "FLOAT")
    mix = _write(song / "mixture.wav", v + a)  # 16-bit
    side = B.centre_cancel(mix, SR)["accompaniment"]
    # The case of the issue: exact opposites, which museval calls silence.
    assert np.any(side) and not np.any(side.sum(axis=0))
    with pytest.raises(ValueError, match="silent"):
        track_scores({"vocals": v, "accompaniment": a},
                     {"vocals": mix - side, "accompaniment": side}, SR)

    doc, printed = _eval(capsys, tmp_path / "data", _model(tmp_path / "m.safetensors"),
                         tmp_path / "scores.json")
    centre = doc["splits"]["test"]["methods"]["centre-channel cancellation"]
    expected = track_scores({"vocals": v, "accompaniment": a},
                            {"vocals": mix - side, "accompaniment": _nudged(side)}, SR)
    for source in ("vocals", "accompaniment"):
        for metric in ("SDR", "SIR", "SAR", "ISR", "SI-SDR"):
            assert centre[source][metric] == pytest.approx(expected[source][metric],
                                                           abs=0.01), (source, metric)
    row = next(line for line in printed.splitlines()
               if line.startswith("| centre-channel cancellation"))
    assert "–" not in row
    assert "cancel exactly" in printed
    assert doc["splits"]["test"]["notes"]["centre-channel cancellation"]


def test_score_track_turns_cancelling_channels_and_keeps_the_scores():
    v, a = _stems(seed=3)
    rng = np.random.default_rng(4)
    side = rng.standard_normal(v.shape[1]).astype(np.float32) * 0.05
    opposite = np.stack([side, -side])  # a reference whose channels cancel
    refs = {"vocals": v, "accompaniment": opposite}
    ests = {"vocals": v + 0.3 * opposite, "accompaniment": 0.8 * opposite + 0.1 * v}
    scores, note = B.score_track(refs, ests, SR)
    expected = track_scores({"vocals": v, "accompaniment": _nudged(opposite)}, ests, SR)
    for source in refs:
        for metric, value in expected[source].items():
            assert scores[source][metric] == pytest.approx(value, abs=0.01), (source, metric)
    assert "accompaniment reference" in note and "cancel exactly" in note
    # Nothing to say when museval can score the sources as they are.
    assert B.score_track({"vocals": v, "accompaniment": a},
                         {"vocals": v + 0.1 * a, "accompaniment": a + 0.1 * v}, SR)[1] is None


def test_a_silent_estimate_is_still_a_handled_nan_row():
    v, a = _stems()
    scores, note = B.score_track({"vocals": v, "accompaniment": a},
                                 {"vocals": v + a, "accompaniment": np.zeros_like(a)}, SR)
    assert all(math.isnan(x) for x in scores["accompaniment"].values())
    assert math.isfinite(scores["vocals"]["SDR"])
    assert "accompaniment estimate is silent" in note and "NaN" in note


# ----------------------------------------------------------------------------- stems only


def test_a_track_folder_with_only_vocals_and_accompaniment(tmp_path, capsys):
    v, a = _stems(seed=1)
    song = tmp_path / "my song"
    v = _write(song / "vocals.wav", v)
    a = _write(song / "accompaniment.wav", a)
    doc, _ = _eval(capsys, song, _model(tmp_path / "m.safetensors"), tmp_path / "s.json")
    scores = doc["splits"]["test"]
    assert scores["tracks"] == ["my song"]
    # Doing nothing returns the mixture: its scores say the mixture was vocals + accomp.
    nothing = scores["methods"]["mixture (do nothing)"]
    assert nothing["vocals"]["SI-SDR"] == pytest.approx(si_sdr(v, v + a), abs=1e-3)
    assert nothing["accompaniment"]["SI-SDR"] == pytest.approx(si_sdr(a, v + a), abs=1e-3)


def test_a_folder_of_stem_folders_without_splits(tmp_path, capsys):
    root = tmp_path / "songs"
    truth = {}
    v, a = _stems(seed=2)
    truth["two-stem"] = (_write(root / "two-stem" / "vocals.flac", v),
                         _write(root / "two-stem" / "accompaniment.flac", a))
    # MUSDB's four stems, no mixture and no accompaniment file: accompaniment = the sum of
    # drums, bass and other.
    v, a = _stems(seed=5)
    d = root / "musdb-like"
    parts = [_write(d / f"{n}.wav", x) for n, x in
             (("drums", a), ("bass", 0.5 * a[::-1]), ("other", 0.3 * v[::-1]))]
    truth["musdb-like"] = (_write(d / "vocals.wav", v), sum(parts))
    (root / "notes").mkdir()  # not a track: left alone
    (root / "notes" / "readme.txt").write_text("hello")
    doc, _ = _eval(capsys, root, _model(tmp_path / "m.safetensors"), tmp_path / "s.json",
                   "--no-baselines")
    assert doc["splits"]["test"]["tracks"] == ["musdb-like", "two-stem"]

    from sonomorph.data.layouts import scoring_tracks
    from sonomorph.eval.baselines import load_track

    for track in scoring_tracks(root, "test"):
        audio = load_track(track, SR)
        v, a = truth[track.name]
        np.testing.assert_allclose(audio["accompaniment"], a, atol=1e-6)
        np.testing.assert_allclose(audio["mixture"], v + a, atol=1e-6)


def test_a_folder_without_tracks_is_one_line_exit_2(tmp_path, capsys):
    from sonomorph.cli import main

    folder = tmp_path / "loose"
    _write(folder / "a song.wav", np.zeros((2, 1000), np.float32))
    code = main(["-q", "eval", "separator", "--data", str(folder), "--model",
                 str(_model(tmp_path / "m.safetensors"))])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "folder folder" not in err and "vocals" in err


# ----------------------------------------------------------------------------- weights


def _separator_architectures() -> list[str]:
    from sonomorph.models import model_kind, model_names

    names = [n for n in model_names() if model_kind(n) == "separator"]
    return [n for n in ("mask_separator", "unet_separator") if n in names]


@pytest.mark.parametrize("arch", _separator_architectures())
def test_the_json_records_the_weights_of_any_separator_architecture(tmp_path, capsys,
                                                                     monkeypatch, arch):
    v, a = _stems(1.0, seed=6)
    song = tmp_path / "data" / "song"
    _write(song / "vocals.wav", v)
    _write(song / "accompaniment.wav", a)
    model = _model(tmp_path / f"{arch}.safetensors", arch,
                   meta={"step": 40, "total_steps": 1040})
    monkeypatch.chdir(tmp_path)
    doc, _ = _eval(capsys, tmp_path / "data", model, tmp_path / "s.json", "--no-baselines")
    record = doc["models"]["sonomorph separator"]
    assert record["sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    assert record["steps"] == 1040 and record["step"] == 40
    assert record["file"] == f"{arch}.safetensors"
    assert math.isfinite(doc["splits"]["test"]["methods"]["sonomorph separator"]["vocals"]
                         ["SI-SDR"])
