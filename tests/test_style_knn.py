"""The knn style transfer (frame matching with a source-filter split).

Built by hand: a "voice" is a harmonic tone whose harmonics are weighted by one formant
(a Gaussian bump); the content's formant is low (700 Hz), the style's high (2500 Hz), and
their pitches differ (120 Hz and 220 Hz). Where the output's energy lies is measured here
with numpy's FFT (energy around each formant) and its pitch with librosa's pYIN; no
expected value is derived from the code under test.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sonomorph.errors import AudioLoadError, ConfigError, InputTooShortError
from sonomorph.pipelines.style import METHODS, build_transfer
from sonomorph.pipelines.style_knn import KnnStyleTransfer

SR = 16000


def voice(seconds: float, f0: float, formant: float, seed: int, sr: int = SR) -> np.ndarray:
    """Harmonics of ``f0`` up to 7 kHz under one formant bump at ``formant`` Hz (plus a
    weak 1/k floor), a slow syllable-like amplitude swing and a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    x = np.zeros_like(t)
    for k in range(1, int(7000 / f0)):
        weight = np.exp(-(((k * f0 - formant) / 300.0) ** 2)) + 0.05 / k
        x += weight * np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 2 * np.pi))
    x *= 0.6 + 0.4 * np.sin(2 * np.pi * 3.0 * t + seed) ** 2
    x += 0.001 * rng.standard_normal(t.shape)
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


def low_over_high_db(y: np.ndarray, sr: int = SR) -> float:
    """Energy in 400-1000 Hz (the content's formant) over 2-3 kHz (the style's), in dB."""
    power = np.abs(np.fft.rfft(np.asarray(y, np.float64).reshape(-1))) ** 2
    f = np.fft.rfftfreq(np.asarray(y).size, 1.0 / sr)
    low = power[(f > 400) & (f < 1000)].sum()
    high = power[(f > 2000) & (f < 3000)].sum()
    return float(10.0 * np.log10(low / high))


def pitch(y: np.ndarray, sr: int = SR) -> float:
    """Median pYIN f0 of the voiced frames (librosa, independent of the transfer)."""
    import librosa

    f0, voiced, _ = librosa.pyin(np.asarray(y, np.float32).reshape(-1), fmin=60, fmax=500,
                                 sr=sr)
    return float(np.nanmedian(f0[voiced]))


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One thread, as the commands run it: small tensors on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def pair():
    return voice(1.2, 120.0, 700.0, 1), voice(1.2, 220.0, 2500.0, 2)


def test_knn_is_a_method_and_builds():
    assert "knn" in METHODS
    t = build_transfer("knn", k=3, strength=0.5)
    assert isinstance(t, KnnStyleTransfer) and (t.k, t.strength) == (3, 0.5)


@pytest.mark.parametrize("bad", [{"k": 0}, {"k": -2}, {"k": 1.5}, {"strength": -0.1},
                                 {"strength": 1.01}, {"lifter": 0}, {"lifter": 10_000},
                                 {"excitation": "both"}])
def test_bad_options_raise_config_errors(bad):
    with pytest.raises(ConfigError):
        build_transfer("knn", **bad)


def test_output_keeps_the_contents_length_rate_and_level(pair):
    content, style = pair
    style22 = voice(1.0, 220.0, 2500.0, 3, sr=22050)  # another rate, stereo
    stereo = np.stack([style22, 0.5 * style22])
    r = build_transfer("knn", pitch_match=False).transfer(content, SR, stereo, 22050)
    assert r.sample_rate == SR and r.audio.shape == (1, content.size)
    assert np.isfinite(r.audio).all() and np.abs(r.audio).max() < 1.0
    rms_in = np.sqrt(np.mean(content.astype(np.float64) ** 2))
    rms_out = np.sqrt(np.mean(r.audio.astype(np.float64) ** 2))
    assert rms_out == pytest.approx(rms_in, rel=0.05)
    assert r.history == [] and np.isfinite(r.result).all()


def test_strength_zero_keeps_the_envelope_and_strength_one_takes_the_styles(pair):
    content, style = pair
    c_db, s_db = low_over_high_db(content), low_over_high_db(style)
    assert c_db > 30 and s_db < -20  # the two voices are far apart by construction

    def run(strength):
        return build_transfer("knn", strength=strength, pitch_match=False,
                              excitation="content").transfer(content, SR, style, SR).audio

    kept, moved, half = run(0.0), run(1.0), run(0.5)
    assert abs(low_over_high_db(kept) - c_db) < 1.0
    assert abs(low_over_high_db(moved) - s_db) < 10.0  # most of the 60+ dB way
    assert s_db < low_over_high_db(moved) < low_over_high_db(half) < c_db - 10
    # without pitch matching the content's pitch stays, whatever the envelope
    assert pitch(moved) == pytest.approx(120.0, rel=0.06)


def test_style_excitation_takes_the_styles_whole_frames_pitch_included(pair):
    content, style = pair
    s_db = low_over_high_db(style)
    r = build_transfer("knn", pitch_match=False).transfer(content, SR, style, SR)  # default
    assert r.audio.shape == (1, content.size) and np.isfinite(r.audio).all()
    assert abs(low_over_high_db(r.audio) - s_db) < 10.0
    # the harmonics come from the style's frames: its pitch, although nothing shifted it
    assert pitch(r.audio) == pytest.approx(220.0, rel=0.06)
    kept = build_transfer("knn", excitation="style", strength=0.0, pitch_match=False)
    assert pitch(kept.transfer(content, SR, style, SR).audio) == pytest.approx(120.0, rel=0.06)


def test_pitch_matching_moves_f0_to_the_styles(pair):
    content, style = pair
    # the content's own harmonics, shifted: the pitch comes from the shift alone
    r = build_transfer("knn", excitation="content").transfer(content, SR, style, SR)
    assert pitch(r.audio) == pytest.approx(220.0, rel=0.05)
    assert r.metrics["pitch_shift"] == pytest.approx(12 * np.log2(220 / 120), abs=0.3)
    kept = build_transfer("knn", pitch_match=False).transfer(content, SR, style, SR)
    assert kept.metrics["pitch_shift"] == 0.0


def test_silent_frames_stay_silent_and_bad_input_raises_like_the_other_methods(pair):
    content, style = pair
    gap = np.concatenate([content[:8000], np.zeros(8000, np.float32), content[:8000]])
    r = build_transfer("knn", pitch_match=False).transfer(gap, SR, style, SR)
    y = r.audio[0]
    assert y.shape == gap.shape and np.isfinite(y).all()
    middle = np.sqrt(np.mean(y[9000:15000].astype(np.float64) ** 2))
    loud = np.sqrt(np.mean(y[:7000].astype(np.float64) ** 2))
    assert middle < 1e-3 * loud
    t = build_transfer("knn")
    with pytest.raises(AudioLoadError):
        t.transfer(np.zeros(SR, np.float32), SR, style, SR)
    with pytest.raises(AudioLoadError):
        t.transfer(content, SR, np.zeros(SR, np.float32), SR)
    with pytest.raises(InputTooShortError):
        t.transfer(content[:200], SR, style, SR)


def test_a_very_short_clip_still_gives_a_finite_output(pair):
    content, style = pair
    short = content[:1200]  # 75 ms: a few frames
    r = build_transfer("knn").transfer(short, SR, style[:1200], SR)
    assert r.audio.shape == (1, short.size) and np.isfinite(r.audio).all()


def test_the_command_writes_a_file(tmp_path, pair):
    import soundfile as sf

    from sonomorph.cli import main

    content, style = pair
    c, s = tmp_path / "c.wav", tmp_path / "s.wav"
    sf.write(c, content, SR)
    sf.write(s, style, SR)
    out = tmp_path / "out"
    assert main(["-q", "style", str(c), str(s), "-o", str(out), "--method", "knn",
                 "--k", "2", "--strength", "0.8", "--no-pitch-match"]) == 0
    y, sr = sf.read(out / "c_styled.wav")
    assert sr == SR and y.shape == (content.size,) and np.isfinite(y).all()
    assert main(["-q", "style", str(c), str(s), "-o", str(tmp_path / "o2"), "--method",
                 "knn", "--steps", "3"]) != 0  # an optimiser option: refused
    assert main(["-q", "style", str(c), str(s), "-o", str(tmp_path / "o3"), "--k", "3"]) != 0
