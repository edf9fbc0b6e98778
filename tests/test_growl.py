"""The growl effect adds subharmonic and roughness energy, keeps length, is deterministic,
keeps silence silent and peaks safe; ``sonomorph effect growl`` writes files safely."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
import soundfile as sf

from sonomorph.audio.growl import STYLES, growl
from sonomorph.errors import ConfigError

SR = 22050
F0 = 220.0


def vowel(seconds: float = 1.5, f0: float = F0, level: float = 0.3) -> np.ndarray:
    """A steady sung /a/-like vowel: harmonics of f0 weighted by two formant bumps."""
    t = np.arange(int(seconds * SR)) / SR
    x = np.zeros_like(t)
    for k in range(1, int(5000 / f0)):
        f = k * f0
        w = np.exp(-(((f - 750) / 250) ** 2)) + 0.6 * np.exp(-(((f - 1200) / 300) ** 2)) + 0.05
        x += w / k**0.5 * np.sin(2 * np.pi * f * t + 0.3 * k)
    return (level * x / np.max(np.abs(x))).astype(np.float32)


def band_energy(sig: np.ndarray, f: float, width: float = 10.0) -> float:
    spec = np.abs(np.fft.rfft(sig * np.hanning(len(sig)))) ** 2
    freqs = np.fft.rfftfreq(len(sig), 1 / SR)
    return float(spec[(freqs > f - width) & (freqs < f + width)].sum())


def subharmonic_ratio(sig: np.ndarray) -> float:
    """Energy at f0/2 (and 3f0/2) relative to the energy at f0."""
    return (band_energy(sig, F0 / 2) + band_energy(sig, 1.5 * F0)) / band_energy(sig, F0)


def roughness(sig: np.ndarray) -> float:
    """Amplitude-envelope modulation energy in 20-150 Hz relative to the envelope's DC."""
    env = np.abs(scipy.signal.hilbert(sig))
    sos = scipy.signal.butter(4, 170, fs=SR, output="sos")
    env = scipy.signal.sosfiltfilt(sos, env)[SR // 10 : -SR // 10]
    spec = np.abs(np.fft.rfft(env)) ** 2
    freqs = np.fft.rfftfreq(len(env), 1 / SR)
    return float(spec[(freqs >= 20) & (freqs <= 150)].sum() / spec[0])


@pytest.mark.parametrize("style", STYLES)
def test_adds_subharmonic_and_roughness_energy(style):
    x = vowel()
    y = growl(x, SR, style, seed=1)
    assert y.shape == x.shape and y.dtype == np.float32
    sub_in, sub_out = subharmonic_ratio(x), subharmonic_ratio(y)
    rough_in, rough_out = roughness(x), roughness(y)
    assert sub_in < 1e-6
    assert sub_out > 0.01, f"{style}: subharmonic ratio {sub_out:.4f}"
    assert rough_in < 1e-6
    assert rough_out > 0.005, f"{style}: roughness {rough_out:.4f}"


def test_more_amount_more_subharmonics():
    x = vowel()
    weak = subharmonic_ratio(growl(x, SR, "growl", amount=0.3, seed=2))
    strong = subharmonic_ratio(growl(x, SR, "growl", amount=1.5, seed=2))
    assert strong > 2 * weak


def test_deterministic_and_seed_dependent():
    x = vowel(0.7)
    a = growl(x, SR, "scream", seed=5)
    b = growl(x, SR, "scream", seed=5)
    c = growl(x, SR, "scream", seed=6)
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)


def test_length_shape_and_peak_kept_for_stereo_and_odd_lengths():
    x = vowel(0.5, level=1.0)
    stereo = np.stack([x, 0.5 * x])[:, :10_001]
    y = growl(stereo, SR, "growl", amount=2.0, seed=0)
    assert y.shape == stereo.shape
    assert np.max(np.abs(y)) <= 0.98 + 1e-6
    assert np.all(np.isfinite(y))
    # Loudness stays about the same (within 3 dB).
    rms_in, rms_out = np.sqrt(np.mean(stereo**2)), np.sqrt(np.mean(y**2))
    assert 0.7 < rms_out / rms_in < 1.05


def test_silence_stays_silent():
    assert not np.any(growl(np.zeros((2, 5000), np.float32), SR, "scream"))
    x = np.concatenate([vowel(0.6), np.zeros(SR, np.float32)])
    y = growl(x, SR, "scream", seed=3)
    tail = y[-SR // 2 :]
    assert np.max(np.abs(tail)) < 1e-3
    assert np.max(np.abs(y[: SR // 2])) > 0.05


def test_amount_zero_is_identity_and_bad_arguments_raise():
    x = vowel(0.3)
    assert np.array_equal(growl(x, SR, "fry", amount=0.0), x)
    with pytest.raises(ConfigError):
        growl(x, SR, "howl")
    with pytest.raises(ConfigError):
        growl(x, SR, "growl", amount=3.0)


def test_cli_writes_output_and_refuses_to_overwrite(tmp_path, capsys):
    from sonomorph.cli import main

    src = tmp_path / "voice.wav"
    sf.write(src, vowel(0.5), SR, subtype="PCM_16")
    folder = tmp_path / "out"
    dst = folder / "scream.wav"
    argv = ["-q", "effect", "growl", str(src), "-o", str(folder), "--filename", "scream"]
    assert main([*argv, "--style", "scream"]) == 0
    out, sr = sf.read(dst, dtype="float32")
    assert sr == SR and len(out) == int(0.5 * SR)
    assert subharmonic_ratio(out) > 0.005
    before = dst.read_bytes()
    assert main(argv) == 2
    assert "exists" in capsys.readouterr().err
    assert dst.read_bytes() == before
    assert main([*argv, "--style", "fry", "--force"]) == 0
    assert dst.read_bytes() != before
    # The output never replaces its input.
    assert main(["-q", "effect", "growl", str(src), "-o", str(tmp_path), "--filename",
                 "{track}", "--force"]) == 2
