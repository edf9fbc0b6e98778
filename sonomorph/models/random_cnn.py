"""A frozen, seeded random 2-D CNN over a log spectrogram, and memory-light time-Grams.

Why a *random* network: the statistics over time of random filter responses (their Gram
matrix) describe the texture of a sound (a voice's timbre, hoarseness, pitch range) well
enough to transfer it, with no training data at all (Ulyanov & Lebedev 2016; the "random-CNN
voice transfer" experiments). Two faults of earlier code are fixed here:

* the filters are drawn from a :class:`torch.Generator` seeded with ``seed``, so the same
  settings give the same filters on every run and machine (and a test checks it);
* the Gram is normalised by the number of frames, so a clip and the same clip repeated twice
  have the same Gram, and style and content clips of different lengths compare fairly.

Memory: the original code built one ``(C*F) x (C*F)`` Gram (8160 x 8160 for 32 channels over
255 bins), which ran out of memory. :func:`time_gram` instead computes, for every frequency
bin, the ``C x C`` Gram of the channels over time (``F * C * C`` numbers, independent of the
clip's length, and never a ``T x T`` matrix), then averages it within ``bands`` contiguous
frequency bands. ``bands=1`` is the classic channels-only Gram; more bands keep *where* in
frequency a texture lives (formants, pitch), which is what makes a voice recognisable.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sonomorph.errors import ConfigError
from sonomorph.models.registry import register_model

__all__ = ["RandomCNN", "parse_kernel", "time_gram", "band_edges"]

KERNELS = ("3x1", "3x3")


def parse_kernel(spec: str | tuple[int, int] | list[int]) -> tuple[int, int]:
    """``"3x1"`` (3 frequency bins by 1 frame) -> ``(3, 1)``; a pair is checked and returned."""
    if isinstance(spec, str):
        parts = spec.lower().split("x")
        try:
            pair = tuple(int(p) for p in parts)
        except ValueError:
            raise ConfigError(f"kernel must look like 3x1 or 3x3, not {spec!r}") from None
    else:
        pair = tuple(int(p) for p in spec)
    if len(pair) != 2 or min(pair) < 1 or max(pair) > 31:
        raise ConfigError(f"kernel must be two sizes between 1 and 31 (FxT), not {spec!r}")
    return pair[0], pair[1]


def band_edges(n_bins: int, bands: int) -> list[int]:
    """Edges of ``bands`` contiguous, nearly equal groups of ``n_bins`` frequency bins."""
    bands = max(1, min(int(bands), n_bins))
    return [round(i * n_bins / bands) for i in range(bands + 1)]


def time_gram(features: Tensor, bands: int = 1) -> Tensor:
    """Memory-light Gram over time of a feature map, normalised by the frame count.

    ``features`` is ``(batch, channels, freq, frames)``. For each frequency bin ``f`` the
    channel Gram ``G_f = X_f X_f^T / frames`` (``X_f`` is ``channels x frames``) is computed,
    then the ``G_f`` are averaged within ``bands`` contiguous bands. Returns
    ``(batch, bands, channels, channels)``. Cost ``O(C^2 F T)``, memory ``O(F C^2)``: no
    ``T x T`` and no ``(C F) x (C F)`` matrix is ever formed.
    """
    if features.ndim != 4:
        raise ValueError(f"time_gram expects (batch, channels, freq, frames), got "
                         f"{tuple(features.shape)}")
    b, c, f, t = features.shape
    if t < 1:
        raise ValueError("time_gram needs at least one frame")
    x = features.permute(0, 2, 1, 3)  # (b, f, c, t)
    per_bin = torch.matmul(x, x.transpose(-1, -2)) / t  # (b, f, c, c)
    edges = band_edges(f, bands)
    if len(edges) == f + 1:
        return per_bin
    # Average within bands with one matmul against a (bands, f) averaging matrix.
    avg = torch.zeros(len(edges) - 1, f, dtype=per_bin.dtype, device=per_bin.device)
    for i in range(len(edges) - 1):
        avg[i, edges[i]:edges[i + 1]] = 1.0 / (edges[i + 1] - edges[i])
    return torch.einsum("kf,bfcd->bkcd", avg, per_bin)


@register_model("random_cnn", kind="random_cnn")
class RandomCNN(nn.Module):
    """One frozen random ``Conv2d(1, channels, kernel)`` + LeakyReLU over a log spectrogram.

    Input ``(batch, freq, frames)`` or ``(batch, 1, freq, frames)`` (a log1p-magnitude
    spectrogram); output ``(batch, channels, freq - kf + 1, frames - kt + 1)`` (valid
    convolution, so no padding invents texture at the edges). The weights are drawn from
    ``N(0, 2 / fan_in)`` (He initialisation, which keeps the response scale independent of
    the kernel size) with a generator seeded by ``seed``, there are no biases, and nothing
    requires a gradient: the network is a fixed feature extractor.
    """

    def __init__(self, channels: int = 32, kernel: str = "3x1", seed: int = 0,
                 negative_slope: float = 0.2) -> None:
        super().__init__()
        if int(channels) != channels or not 1 <= channels <= 4096:
            raise ConfigError(f"channels must be an integer in 1..4096, not {channels}")
        self.kernel = parse_kernel(kernel)
        self.channels, self.seed, self.negative_slope = int(channels), int(seed), negative_slope
        self.conv = nn.Conv2d(1, self.channels, self.kernel, bias=False)
        gen = torch.Generator().manual_seed(self.seed)
        fan_in = self.kernel[0] * self.kernel[1]
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=gen)
                                   * math.sqrt(2.0 / fan_in))
        self.requires_grad_(False)

    @property
    def receptive_field(self) -> tuple[int, int]:
        """(frequency bins, frames) one output value sees; an input needs at least this."""
        return self.kernel

    def forward(self, spec: Tensor) -> Tensor:
        if spec.ndim == 3:
            spec = spec.unsqueeze(1)
        if spec.ndim != 4 or spec.shape[1] != 1:
            raise ValueError(f"RandomCNN expects (batch, freq, frames), got {tuple(spec.shape)}")
        kf, kt = self.kernel
        f, t = spec.shape[-2:]
        if f < kf or t < kt:
            raise ValueError(f"spectrogram {tuple(spec.shape[-2:])} is smaller than the "
                             f"kernel {kf}x{kt}")
        # The same valid convolution as self.conv, written as shifted views times a (C, K)
        # matrix, computed in (batch, freq, channels, frames) memory order and returned as a
        # (batch, channels, freq, frames) view: with one input channel and a tiny kernel this
        # is about twice as fast as conv2d on the CPU, and time_gram's per-bin products then
        # read contiguous rows (no copy). This is the transfer's inner loop.
        fo, to = f - kf + 1, t - kt + 1
        shifted = torch.stack([spec[:, 0, i:i + fo, j:j + to]
                               for i in range(kf) for j in range(kt)], dim=2)  # (b, fo, K, to)
        weight = self.conv.weight.reshape(self.channels, kf * kt).to(spec.dtype)
        out = torch.matmul(weight, shifted)  # (b, fo, C, to)
        return F.leaky_relu(out.permute(0, 2, 1, 3), self.negative_slope)

    def extra_repr(self) -> str:
        return f"seed={self.seed}, frozen"
