"""A convolutional U-Net vocal mask (the Spleeter family of separators, much narrower).

The frame-wise :class:`~sonomorph.models.separator.MaskSeparator` sees one frame's whole
spectrum through one dense layer, so every pattern it learns is tied to absolute bins. A
U-Net convolves over time *and* frequency: a harmonic stack, a vibrato or a consonant is the
same filter wherever it sits, and the encoder's strided layers see seconds of context.

Design:

- the same STFT framing and log-power features as the frame-wise model (``n_fft=4096``,
  ``hop=1024``, learned per-bin mean and scale), so both share training, the pipeline and
  the Wiener refinement (:class:`~sonomorph.models.separator.SpectralMaskSeparator`);
- the network sees the lowest ``unet_bins`` bins (1024 = 11 kHz at 44.1 kHz, where almost all
  of a voice's energy lies) with the stereo channels as input planes;
- ``depth`` encoder layers of 5x5 convolutions with stride 2 (batch norm, leaky ReLU), widths
  ``base``, 2 x ``base``, ...; a mirrored decoder of transposed convolutions (ReLU, batch
  norm) with skip connections; a 3x3 convolution to one sigmoid mask per channel;
- above ``unet_bins`` the mask of each frame is the mean of its top 64 bins;
- frames are zero-padded (in the normalised domain) to a multiple of ``2 ** depth`` and the
  padding is cropped again, so any length works.

With ``base=8, depth=6`` it has about 2.6 M parameters and costs about as much per second
of audio as the frame-wise model. Models map tensors to tensors; chunking and files live in
:mod:`sonomorph.pipelines.separate`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sonomorph.audio.spectral import ISTFT, STFT
from sonomorph.errors import ConfigError
from sonomorph.models.registry import register_model
from sonomorph.models.separator import SpectralMaskSeparator

__all__ = ["UNetConfig", "UNetSeparator"]

_TOP_BINS = 64  # the mask above the network's band is the mean of this many top bins


@dataclass
class UNetConfig:
    """Everything needed to rebuild a :class:`UNetSeparator` (stored with its weights)."""

    sample_rate: int = 44100
    channels: int = 2
    n_fft: int = 4096
    hop: int = 1024
    base: int = 8
    depth: int = 6
    unet_bins: int = 1024

    def __post_init__(self) -> None:
        for name in ("sample_rate", "channels", "n_fft", "hop", "base", "depth", "unet_bins"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"U-Net separator {name} must be positive, "
                                  f"got {getattr(self, name)}")
        if self.unet_bins > self.bins:
            raise ConfigError(f"unet_bins ({self.unet_bins}) exceeds the {self.bins} STFT bins")
        if self.unet_bins % (2 ** self.depth):
            raise ConfigError(f"unet_bins ({self.unet_bins}) must be a multiple of "
                              f"2 ** depth = {2 ** self.depth}")
        if self.unet_bins < _TOP_BINS:
            raise ConfigError(f"unet_bins must be at least {_TOP_BINS}")

    @property
    def bins(self) -> int:
        return self.n_fft // 2 + 1

    def to_dict(self) -> dict:
        return asdict(self)


class _Down(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 5, stride=2, padding=2)
        self.norm = nn.BatchNorm2d(cout)

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(self.norm(self.conv(x)), 0.2)


class _Up(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.ConvTranspose2d(cin, cout, 5, stride=2, padding=2, output_padding=1)
        self.norm = nn.BatchNorm2d(cout)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(F.relu(self.conv(x)))


@register_model("unet_separator", kind="separator")
class UNetSeparator(SpectralMaskSeparator):
    """Stereo vocal-mask U-Net; see the module docstring. The constructor takes the
    :class:`UNetConfig` fields as plain keywords (recorded in checkpoints)."""

    def __init__(self, sample_rate: int = 44100, channels: int = 2, n_fft: int = 4096,
                 hop: int = 1024, base: int = 8, depth: int = 6,
                 unet_bins: int = 1024) -> None:
        super().__init__()
        self.config = c = UNetConfig(sample_rate=sample_rate, channels=channels, n_fft=n_fft,
                                     hop=hop, base=base, depth=depth, unet_bins=unet_bins)
        feats = c.channels * c.bins
        self.stft = STFT(c.n_fft, c.hop)
        self.istft = ISTFT(c.n_fft, c.hop)
        self.input_mean = nn.Parameter(torch.full((feats,), -8.0))
        self.input_scale = nn.Parameter(torch.full((feats,), 0.25))
        widths = [c.base * 2 ** i for i in range(c.depth)]
        self.down = nn.ModuleList(
            _Down(cin, cout) for cin, cout in zip([c.channels] + widths[:-1], widths))
        # Decoder from the bottom up: each layer halves the width; from the second one on its
        # input is the previous layer's output concatenated with the encoder's skip.
        ups = []
        for i in reversed(range(c.depth)):
            cin = widths[i] * (1 if i == c.depth - 1 else 2)
            cout = widths[i - 1] if i > 0 else c.base
            ups.append(_Up(cin, cout))
        self.up = nn.ModuleList(ups)
        self.head = nn.Conv2d(c.base, c.channels, 3, padding=1)

    @property
    def context_samples(self) -> int:
        """Samples of context on each side that change an output sample: the encoder's
        receptive field in frames (5x5 kernels, stride 2 per layer) times the hop, plus a
        window."""
        frames = sum(2 * 2 ** i for i in range(self.config.depth))
        return frames * self.config.hop + self.config.n_fft

    def _mask_tf(self, spec_tf: Tensor) -> Tensor:
        b, c, t, f = spec_tf.shape
        cfg = self.config
        if c != cfg.channels or f != cfg.bins:
            raise ValueError(f"expected a ({cfg.channels} channels, {cfg.bins} bins) "
                             f"spectrogram, got {tuple(spec_tf.shape)}")
        ub = cfg.unet_bins
        x = self._log_power(spec_tf[..., :ub])  # (B, C, T, ub)
        mean = self.input_mean.reshape(c, f)[:, :ub].reshape(1, c, 1, ub)
        scale = self.input_scale.reshape(c, f)[:, :ub].reshape(1, c, 1, ub)
        x = (x - mean) * scale
        step = 2 ** cfg.depth
        pad = (-t) % step
        if pad:
            x = F.pad(x, (0, 0, 0, pad))
        skips = []
        for layer in self.down:
            x = layer(x)
            skips.append(x)
        y = self.up[0](skips[-1])
        for layer, skip in zip(self.up[1:], reversed(skips[:-1])):
            y = layer(torch.cat([y, skip], dim=1))
        m = torch.sigmoid(self.head(y))[:, :, :t]  # (B, C, T, ub)
        top = m[..., -_TOP_BINS:].mean(-1, keepdim=True)
        return torch.cat([m, top.expand(b, c, t, f - ub)], dim=-1)
