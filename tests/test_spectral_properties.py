"""Property tests (hypothesis) for sonomorph.audio.spectral: STFT/ISTFT round trips over sizes,
hops, lengths, batch shapes and dtypes; mel spectrograms over sample rates 8-48 kHz."""

from __future__ import annotations

import warnings

import librosa
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sonomorph.audio.spectral import ISTFT, STFT, MelSpectrogram
from sonomorph.errors import ConfigError

FAST = settings(max_examples=25, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])

LEAD_SHAPES = st.sampled_from([(), (1,), (3,), (2, 2)])
DTYPES = st.sampled_from([torch.float32, torch.float64])
# Windows and hops that satisfy NOLA (the overlap-added squared window never vanishes), so the
# inverse is exact: hann at 75% and 50% overlap, hamming at 75%.
FRAMINGS = st.sampled_from([(n, n // d, w) for n in (256, 512, 1024, 2048)
                            for d, w in ((4, "hann"), (2, "hann"), (4, "hamming"))])


@settings(FAST, max_examples=60)
@given(framing=FRAMINGS, lead=LEAD_SHAPES, dtype=DTYPES, extra=st.integers(1, 3000),
       seed=st.integers(0, 2**31 - 1), pad_mode=st.sampled_from(["reflect", "constant"]))
def test_stft_istft_round_trip(framing, lead, dtype, extra, seed, pad_mode):
    """Any length above n_fft // 2 (the reflect-padding minimum) comes back exactly:
    max abs error < 1e-5 in float32 and < 1e-10 in float64."""
    n_fft, hop, window = framing
    length = n_fft // 2 + extra
    x = torch.from_numpy(np.random.default_rng(seed).uniform(-1, 1, lead + (length,))).to(dtype)
    stft = STFT(n_fft, hop, window=window, pad_mode=pad_mode)
    istft = ISTFT(n_fft, hop, window=window, pad_mode=pad_mode)
    spec = stft(x)
    assert spec.shape == lead + (n_fft // 2 + 1, 1 + length // hop)
    y = istft(spec, length=length)
    assert y.shape == x.shape and y.dtype == dtype
    tol = 1e-5 if dtype == torch.float32 else 1e-10
    assert (y - x).abs().max().item() < tol


SAMPLE_RATES = st.sampled_from([8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000])


@FAST
@given(sr=SAMPLE_RATES, fmax_frac=st.floats(0.5, 1.0), fmin=st.floats(0.0, 200.0),
       n_fft=st.sampled_from([1024, 2048]), n_mels=st.integers(16, 64),
       power=st.sampled_from([1.0, 2.0]),
       lead=LEAD_SHAPES, seed=st.integers(0, 2**31 - 1))
def test_mel_matches_librosa_at_any_rate(sr, fmax_frac, fmin, n_fft, n_mels, power, lead, seed):
    """For rates 8-48 kHz and fmax <= sr/2: shape (..., n_mels, frames), non-negative, each batch
    item equal to librosa's melspectrogram (same per-bin measure as test_spectral), and the conv
    backend equal to the torch one."""
    fmax = fmax_frac * sr / 2
    hop = n_fft // 4
    length = sr // 4 + seed % 997
    x = np.random.default_rng(seed).uniform(-0.5, 0.5, lead + (length,)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # librosa: "Empty filters detected"
        mel = MelSpectrogram(sr, n_fft, hop, n_mels=n_mels, fmin=fmin, fmax=fmax, power=power,
                             pad_mode="constant")
        conv = MelSpectrogram(sr, n_fft, hop, n_mels=n_mels, fmin=fmin, fmax=fmax, power=power,
                              pad_mode="constant", backend="conv")
        ref = librosa.feature.melspectrogram(
            y=x.reshape(-1, length), sr=sr, n_fft=n_fft, hop_length=hop, n_mels=n_mels,
            fmin=fmin, fmax=fmax, power=power, pad_mode="constant")
    out = mel(torch.from_numpy(x))
    assert out.shape == lead + (n_mels, 1 + length // hop)
    assert out.min().item() >= 0.0
    got = out.reshape(ref.shape).numpy()
    err = np.abs(got - ref) / (np.abs(ref) + 1e-6 * np.abs(ref).max())
    assert err.max() <= 1e-4
    other = conv(torch.from_numpy(x)).numpy()
    assert np.abs(other - out.numpy()).max() <= 1e-5 * np.abs(out.numpy()).max()


@settings(max_examples=15, deadline=None)
@given(sr=st.integers(8000, 48000), over=st.floats(1.0001, 2.0))
def test_mel_rejects_fmax_above_nyquist(sr, over):
    with pytest.raises(ConfigError):
        MelSpectrogram(sr, 512, n_mels=32, fmax=over * sr / 2)
