"""On-the-fly mixes and augmentation: ratios, consistency, determinism, and that each
augmentation does what it says (gain, EQ response, reverb tail, pitch ratio)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.signal
import soundfile as sf
import torch

from sonomorph.data.mixing import (
    Augment,
    OnTheFlyMixes,
    biquad,
    equalize,
    reverberate,
    varispeed,
)

SR = 8000


def write(path: Path, wav: np.ndarray, sr: int = SR) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, wav.T if wav.ndim == 2 else wav, sr, subtype="FLOAT")


def sine(freq: float, seconds: float, sr: int = SR, level: float = 0.3) -> np.ndarray:
    return (level * np.sin(2 * np.pi * freq * np.arange(int(seconds * sr)) / sr)).astype(np.float32)


def peak_freq(x: np.ndarray, sr: int = SR) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / sr)[np.argmax(spec)])


@pytest.fixture()
def folders(tmp_path):
    vocals, music = tmp_path / "vocals", tmp_path / "music"
    for i in range(3):
        v = np.concatenate([np.zeros(SR // 2, np.float32), sine(300 + 50 * i, 1.5)])
        write(vocals / f"v{i}.wav", v)
    for i in range(2):
        write(music / "sub" / f"m{i}.wav", np.stack([sine(100 + 20 * i, 3.0), sine(130, 3.0)]))
    return vocals, music


def test_mixes_hold_the_drawn_ratio_and_sum(folders):
    vocals, music = folders
    ds = OnTheFlyMixes(vocals, music, segment_seconds=0.5, sr=SR, snr_db=(3.0, 3.0),
                       augment=Augment.none(), channels=2, seed=0)
    assert len(ds) == 12  # three 2 s vocal files / 0.5 s segments
    for i in range(len(ds)):
        item = ds[i]
        assert set(item) == {"mixture", "vocals", "accompaniment"}
        assert item["mixture"].shape == (2, SR // 2)
        torch.testing.assert_close(item["mixture"], item["vocals"] + item["accompaniment"])
        rv = item["vocals"].pow(2).mean().sqrt()
        rm = item["accompaniment"].pow(2).mean().sqrt()
        assert abs(20 * torch.log10(rv / rm).item() - 3.0) < 0.05
        assert float(item["mixture"].abs().max()) <= 0.99 + 1e-6


def test_mixes_are_deterministic_per_seed_epoch_index(folders):
    vocals, music = folders
    a = OnTheFlyMixes(vocals, music, 0.5, SR, seed=7)
    b = OnTheFlyMixes(vocals, music, 0.5, SR, seed=7)
    for i in range(4):
        assert torch.equal(a[i]["mixture"], b[i]["mixture"])
    a.set_epoch(1)
    assert any(not torch.equal(a[i]["mixture"], b[i]["mixture"]) for i in range(4))
    c = OnTheFlyMixes(vocals, music, 0.5, SR, seed=8)
    assert any(not torch.equal(c[i]["mixture"], b[i]["mixture"]) for i in range(4))


def test_gain_and_pitch_augmentation():
    x = sine(440, 1.0)[None]
    aug = Augment(gain_db=(-6.0, -6.0), eq_probability=0, reverb_probability=0,
                  pitch_probability=1.0, pitch_semitones=2.0)
    rng = np.random.default_rng(0)
    draw = aug.draw(rng)
    assert draw.ratio != 1.0 and 2 ** (-2 / 12) - 1e-9 <= draw.ratio <= 2 ** (2 / 12) + 1e-9
    n = SR // 2
    src = sine(440, 1.0)[None][:, : Augment.frames_needed(n, draw)]
    y = Augment.apply(src, SR, draw, n)
    assert y.shape == (1, n)
    assert abs(peak_freq(y[0]) - 440 * draw.ratio) < 8
    rms_ratio = np.sqrt(np.mean(y[:, 200:-200] ** 2)) / np.sqrt(np.mean(x**2))
    assert abs(20 * np.log10(rms_ratio) + 6.0) < 0.3
    assert varispeed(x, 2.0, 4000).shape == (1, 4000)
    assert abs(peak_freq(varispeed(x, 2.0, 4000)[0]) - 880) < 8


def test_rbj_biquads_have_the_asked_gains():
    for kind, f, g in (("lowshelf", 200.0, 6.0), ("highshelf", 3000.0, -5.0), ("peak", 1000.0, 4.0)):
        sos = biquad(kind, f, g, 0.707 if kind != "peak" else 1.0, SR)
        probe = {"lowshelf": 20.0, "highshelf": 3900.0, "peak": 1000.0}[kind]
        _, h = scipy.signal.sosfreqz(sos[None], worN=[probe], fs=SR)
        assert abs(20 * np.log10(abs(h[0])) - g) < 0.5, kind
    x = sine(1000, 0.5)[None]
    y = equalize(x, SR, [("peak", 1000.0, 6.0, 1.0)])
    assert abs(20 * np.log10(np.std(y[:, 1000:]) / np.std(x[:, 1000:])) - 6.0) < 0.3


def test_reverb_adds_a_tail_keeps_length_and_level():
    x = np.zeros((2, SR), np.float32)
    x[:, 100:300] = sine(500, 200 / SR)
    y = reverberate(x, SR, rt60=0.5, predelay=0.01, wet=0.5, seed=1)
    assert y.shape == x.shape
    assert np.sqrt(np.mean(y[:, 1000:3000] ** 2)) > 1e-3  # energy after the dry burst ended
    assert not np.allclose(y[0], y[1])  # decorrelated channels
    assert abs(np.sqrt(np.mean(y**2)) / np.sqrt(np.mean(x**2)) - 1) < 1e-3
    assert np.array_equal(y, reverberate(x, SR, 0.5, 0.01, 0.5, seed=1))


def test_augment_none_is_identity_and_draws_are_reproducible():
    x = sine(300, 0.25)[None]
    rng = np.random.default_rng(1)
    assert np.array_equal(Augment.none()(x, SR, rng), x)
    full = Augment(eq_probability=1, reverb_probability=1, pitch_probability=1)
    d1 = full.draw(np.random.default_rng(5))
    d2 = full.draw(np.random.default_rng(5))
    assert d1 == d2 and d1.eq and d1.reverb is not None
    out = Augment.apply(x[:, : Augment.frames_needed(1000, d1)], SR, d1, 1000)
    assert out.shape == (1, 1000) and np.all(np.isfinite(out))
