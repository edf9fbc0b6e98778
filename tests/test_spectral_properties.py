"""Property tests (hypothesis) for sonomorph.audio.spectral: STFT/ISTFT round trips over sizes,
hops, lengths, batch shapes and dtypes; mel spectrograms over sample rates 8-48 kHz."""

from __future__ import annotations

import math
import warnings

import librosa
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sonomorph.audio.spectral import ISTFT, STFT, MelSpectrogram, make_window
from sonomorph.errors import ConfigError

FAST = settings(max_examples=25, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])

LEAD_SHAPES = st.sampled_from([(), (1,), (3,), (2, 2)])
DTYPES = st.sampled_from([torch.float32, torch.float64])
# Windows and hops that satisfy NOLA (the overlap-added squared window never vanishes), so the
# inverse is exact: hann at 75% and 50% overlap, hamming at 75%.
FRAMINGS = st.sampled_from([(n, n // d, w) for n in (256, 512, 1024, 2048)
                            for d, w in ((4, "hann"), (2, "hann"), (4, "hamming"))])


def overlap_gain(n_fft: int, hop: int, window: str, length: int) -> float:
    """max over the signal's samples of sum_k w_k(t) / sum_k w_k(t)^2, over the frames k
    that cover sample t (frame k spans [k*hop - n_fft/2, k*hop + n_fft/2) with centring).

    The inverse divides the overlap-added frames by sum w^2; each frame's rounding error
    enters weighted by w, so this ratio is how much a frame's error can grow in the output.
    It is n_fft/hop / sum(w^2)-ish inside the signal (1.33 for hann at 75 % overlap) but
    grows near the end, where the last frame's tail alone covers a few samples."""
    win = make_window(window, n_fft, torch.float64).numpy()
    s1, s2 = np.zeros(length), np.zeros(length)
    for k in range(1 + length // hop):
        a = k * hop - n_fft // 2
        lo, hi = max(0, a), min(length, a + n_fft)
        s1[lo:hi] += win[lo - a:hi - a]
        s2[lo:hi] += win[lo - a:hi - a] ** 2
    return float((s1 / s2).max())


@settings(FAST, max_examples=60)
@given(framing=FRAMINGS, lead=LEAD_SHAPES, dtype=DTYPES, extra=st.integers(1, 3000),
       seed=st.integers(0, 2**31 - 1), pad_mode=st.sampled_from(["reflect", "constant"]))
def test_stft_istft_round_trip(framing, lead, dtype, extra, seed, pad_mode):
    """Any length above n_fft // 2 (the reflect-padding minimum) comes back to rounding.

    The bound: a length-N FFT has a worst-case relative rounding error of about
    eps * log2(N); a round trip makes two transforms, and the inverse's division by the
    overlap-added squared window amplifies a frame's error by at most
    :func:`overlap_gain`. So |y - x| <= 2 * eps * log2(N) * overlap_gain * max|x|. (A
    fixed 1e-5 failed on a fresh clone at 1.21e-5: hann at 50 % overlap, where the last
    samples are covered by one frame's tail.) Over 400 random draws the measured error
    stayed below 0.3 of eps * log2(N) * overlap_gain * max|x|, so the factor 2 is margin,
    not slack that hides a bug: a wrong window or hop gives errors of order max|x|."""
    n_fft, hop, window = framing
    length = n_fft // 2 + extra
    x = torch.from_numpy(np.random.default_rng(seed).uniform(-1, 1, lead + (length,))).to(dtype)
    stft = STFT(n_fft, hop, window=window, pad_mode=pad_mode)
    istft = ISTFT(n_fft, hop, window=window, pad_mode=pad_mode)
    spec = stft(x)
    assert spec.shape == lead + (n_fft // 2 + 1, 1 + length // hop)
    y = istft(spec, length=length)
    assert y.shape == x.shape and y.dtype == dtype
    eps = torch.finfo(dtype).eps
    tol = 2 * eps * math.log2(n_fft) * overlap_gain(n_fft, hop, window, length) * \
        x.abs().max().item()
    assert (y - x).abs().max().item() <= tol


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
    # Both sides are float32 FFTs (relative rounding ~ eps * log2(2048) = 1.3e-6 of a frame's
    # norm, doubled by squaring for power 2) summed through the same filterbank; a bin
    # well below the frame's norm carries that error relative to the norm, which the
    # floor of 1e-6 of the largest bin absorbs. 1e-4 leaves two orders of magnitude for the
    # filterbanks' own float32 rounding; a wrong filter or scaling errs by O(1). (The 25
    # derandomised examples reach at most 1 % of this limit.)
    err = np.abs(got - ref) / (np.abs(ref) + 1e-6 * np.abs(ref).max())
    assert err.max() <= 1e-4
    # The conv backend sums n_fft products per bin directly: float32 error ~ eps * n_fft
    # ** 0.5 (5e-6 at 2048) of the frame's norm, ~1e-5 once squared, relative to the peak.
    # (The 25 derandomised examples reach at most 14 % of this limit.)
    other = conv(torch.from_numpy(x)).numpy()
    assert np.abs(other - out.numpy()).max() <= 1e-5 * np.abs(out.numpy()).max()


@settings(max_examples=15, deadline=None)
@given(sr=st.integers(8000, 48000), over=st.floats(1.0001, 2.0))
def test_mel_rejects_fmax_above_nyquist(sr, over):
    with pytest.raises(ConfigError):
        MelSpectrogram(sr, 512, n_mels=32, fmax=over * sr / 2)
