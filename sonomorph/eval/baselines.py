"""Separation baselines, computed on the same tracks as a model to put its scores in context.

Every baseline maps a mixture ``(channels, samples)`` float32 array to
``{"vocals": ..., "accompaniment": ...}`` of the same shape, and (like the network) returns
the accompaniment as ``mixture - vocals`` so the two stems always sum to the mixture.

- :func:`mixture_baseline` does nothing: both stems are the mixture. The floor.
- :func:`oracle_irm` is the ideal ratio mask computed from the true stems
  (``|V|^2 / (|V|^2 + |A|^2)``, per channel, with the model's STFT): the ceiling of any
  real-valued mask applied to the mixture with the mixture's phase.
- :func:`centre_cancel` is the classic karaoke trick: the side signal ``(L - R) / 2``
  (anything panned dead centre, usually the voice, cancels) is the accompaniment, in
  antiphase on the two channels; the vocals are what remains, the mid ``(L + R) / 2``.
- :func:`repet_sim` is REPET-SIM (Rafii & Pardo, 2012) the way librosa's documentation
  builds it: a nearest-neighbour median filter over similar frames
  (:func:`librosa.decompose.nn_filter`, cosine similarity, frames at least 2 s apart)
  estimates the repeating background's magnitude; soft masks (margin 10 for the voice)
  pick out the non-repeating part, the vocals.
"""

from __future__ import annotations

from collections.abc import Callable

import librosa
import numpy as np
import torch

from sonomorph.audio.spectral import ISTFT, STFT

__all__ = ["mixture_baseline", "oracle_irm", "centre_cancel", "repet_sim", "BLIND_BASELINES"]

N_FFT = 4096
HOP = 1024
Stems = dict[str, np.ndarray]


def _stems(mix: np.ndarray, vocals: np.ndarray) -> Stems:
    vocals = np.ascontiguousarray(vocals, dtype=np.float32)
    return {"vocals": vocals, "accompaniment": (mix - vocals).astype(np.float32)}


def _stft(x: np.ndarray, n_fft: int, hop: int) -> torch.Tensor:
    return STFT(n_fft, hop)(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))


def _apply_mask(mix: np.ndarray, spec: torch.Tensor, mask: np.ndarray | torch.Tensor,
                n_fft: int, hop: int) -> np.ndarray:
    mask_t = torch.as_tensor(mask, dtype=torch.float32)
    y = ISTFT(n_fft, hop)(spec * mask_t, length=mix.shape[-1])
    return y.numpy()


def mixture_baseline(mix: np.ndarray, sample_rate: int | None = None) -> Stems:
    """Do nothing: vocals = accompaniment = mixture (the accompaniment is *not* the residual
    here, which would be silence)."""
    m = np.asarray(mix, dtype=np.float32)
    return {"vocals": m.copy(), "accompaniment": m.copy()}


def oracle_irm(mix: np.ndarray, vocals: np.ndarray, accompaniment: np.ndarray,
               sample_rate: int | None = None, *, n_fft: int = N_FFT, hop: int = HOP,
               power: float = 2.0) -> Stems:
    """Oracle ideal ratio mask ``|V|^p / (|V|^p + |A|^p)`` from the true stems (p = 2: the
    Wiener-like mask, usually the stronger of the two common choices)."""
    mix = np.asarray(mix, dtype=np.float32)
    if mix.shape[-1] <= n_fft // 2:
        return mixture_baseline(mix)
    spec = _stft(mix, n_fft, hop)
    v = _stft(vocals, n_fft, hop).abs().pow(power)
    a = _stft(accompaniment, n_fft, hop).abs().pow(power)
    mask = v / (v + a + 1e-12)
    return _stems(mix, _apply_mask(mix, spec, mask, n_fft, hop))


def centre_cancel(mix: np.ndarray, sample_rate: int | None = None) -> Stems:
    """Centre-channel cancellation: accompaniment = side (L - R)/2 on L, (R - L)/2 on R;
    vocals = mid (L + R)/2 on both. A mono mixture has no side: vocals = mixture."""
    mix = np.asarray(mix, dtype=np.float32)
    if mix.shape[0] < 2:
        return _stems(mix, mix)
    mid = 0.5 * (mix[0] + mix[1])
    vocals = np.repeat(mid[None, :], mix.shape[0], axis=0)
    if mix.shape[0] > 2:  # only the first two channels form the stereo pair
        vocals[2:] = mix[2:]
    return _stems(mix, vocals)


def repet_sim(mix: np.ndarray, sample_rate: int, *, n_fft: int = N_FFT, hop: int = HOP,
              width_s: float = 2.0, margin_voice: float = 10.0, power: float = 2.0) -> Stems:
    """REPET-SIM vocals by nearest-neighbour median filtering of the magnitude (on the
    channel average, the same mask for every channel); accompaniment = the residual."""
    mix = np.asarray(mix, dtype=np.float32)
    if mix.shape[-1] <= n_fft // 2:
        return mixture_baseline(mix)
    spec = _stft(mix, n_fft, hop)
    mag = spec.abs().mean(0).numpy().astype(np.float64)  # (F, T)
    frames = mag.shape[1]
    width = int(librosa.time_to_frames(width_s, sr=sample_rate, hop_length=hop))
    if frames <= 2 * width + 1:  # too short for a 2-s exclusion zone: shrink it
        width = max(1, frames // 4)
    if frames < 3:
        return mixture_baseline(mix)
    # Fortran order: nn_filter gathers whole frames (columns), 2-3x faster this way.
    background = librosa.decompose.nn_filter(np.asfortranarray(mag), aggregate=np.median,
                                             metric="cosine",
                                             width=width)
    background = np.minimum(mag, background)
    mask = librosa.util.softmask(mag - background, margin_voice * background, power=power)
    mask = np.nan_to_num(mask, nan=0.0)
    return _stems(mix, _apply_mask(mix, spec, mask[None].astype(np.float32), n_fft, hop))


# Baselines that need no ground truth, by display name.
BLIND_BASELINES: dict[str, Callable[[np.ndarray, int], Stems]] = {
    "mixture (do nothing)": mixture_baseline,
    "centre-channel cancellation": centre_cancel,
    "REPET-SIM": repet_sim,
}
