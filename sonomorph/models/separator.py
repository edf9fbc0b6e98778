"""The karaoke network: a soft (sigmoid) vocal mask on the stereo magnitude spectrogram.

Design (chosen by ``benchmarks/separation.py`` and the model card in
``sonomorph/pretrained/separator.md``):

- STFT of stereo 44.1 kHz audio with ``n_fft=4096, hop=1024`` (the Open-Unmix framing: 10.8 Hz
  bins resolve the harmonics of a singing voice, and 43 frames per second keep the per-frame
  network cheap).
- Features: the log power of both channels, every bin up to Nyquist (full bandwidth), with a
  learned per-bin mean and scale.
- A frame-wise dense *encoder* maps the ``channels x bins`` log powers of one frame to a small
  vector (192 numbers); a *core* models time: a stack of dilated temporal convolutions (``tcn``,
  the default: a finite receptive field of about ±1.5 s, so chunks with a modest overlap give
  the same answer as the whole song) or a bidirectional LSTM (``lstm``, kept for comparison);
  a dense *decoder* maps back to one sigmoid mask value per channel and bin.
- vocals = mask x mixture (mixture phase); accompaniment = mixture - vocals, the residual, so
  the two stems always add up to the input. An optional multichannel Wiener / EM refinement
  (:func:`wiener_refine`) re-estimates the vocals with 2x2 spatial covariances.

Nothing here follows the original karaoke CNN: that net predicted raw vocal magnitudes with
67M dense parameters, kept dropout on at inference and subtracted 2.5x its prediction. This one
has ~2.5M parameters and predicts a bounded mask, deterministic at inference.

Models map tensors to tensors: ``forward(mix)`` takes ``(batch, channels, samples)`` and
returns ``(batch, 2, channels, samples)`` = (vocals, accompaniment). Chunking, resampling and
files live in :mod:`sonomorph.pipelines.separate`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sonomorph.audio.spectral import ISTFT, STFT
from sonomorph.errors import ConfigError
from sonomorph.models.registry import register_model

__all__ = ["SeparatorConfig", "SpectralMaskSeparator", "MaskSeparator", "wiener_refine", "SOURCES"]

SOURCES = ("vocals", "accompaniment")
_LOG_EPS = 1e-8  # floor of the power spectrogram: silence gives finite features


@dataclass
class SeparatorConfig:
    """Everything needed to rebuild a :class:`MaskSeparator` (stored with its weights)."""

    sample_rate: int = 44100
    channels: int = 2
    n_fft: int = 4096
    hop: int = 1024
    hidden: int = 192
    layers: int = 8
    kernel: int = 3
    core: str = "tcn"  # "tcn" (dilated temporal convolutions) or "lstm" (bidirectional LSTM)

    def __post_init__(self) -> None:
        if self.core not in ("tcn", "lstm"):
            raise ConfigError(f"unknown separator core {self.core!r}; choose tcn or lstm")
        for name in ("sample_rate", "channels", "n_fft", "hop", "hidden", "layers", "kernel"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"separator {name} must be positive, got {getattr(self, name)}")
        if self.kernel % 2 != 1:
            raise ConfigError(f"separator kernel must be odd, got {self.kernel}")

    @property
    def bins(self) -> int:
        return self.n_fft // 2 + 1

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> SeparatorConfig:
        """Build from a stored dict, ignoring unknown keys (forward compatibility)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


class _TemporalBlock(nn.Module):
    """Residual block: dilated conv over time -> batch norm -> GELU, added to the input."""

    def __init__(self, hidden: int, kernel: int, dilation: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(hidden, hidden, kernel, dilation=dilation,
                              padding=dilation * (kernel - 1) // 2)
        self.norm = nn.BatchNorm1d(hidden)

    def forward(self, x: Tensor) -> Tensor:
        return x + F.gelu(self.norm(self.conv(x)))


class _TCNCore(nn.Module):
    """Dilations 1, 2, 4, ... 32, then again: receptive field grows exponentially with depth."""

    def __init__(self, hidden: int, layers: int, kernel: int) -> None:
        super().__init__()
        self.dilations = [2 ** (i % 6) for i in range(layers)]
        self.blocks = nn.ModuleList(_TemporalBlock(hidden, kernel, d) for d in self.dilations)
        self.kernel = kernel

    @property
    def context_frames(self) -> int:
        """Frames of context on each side that influence one output frame."""
        return sum(d * (self.kernel - 1) // 2 for d in self.dilations)

    def forward(self, x: Tensor) -> Tensor:  # (B, H, T) -> (B, H, T)
        for block in self.blocks:
            x = block(x)
        return x


class _LSTMCore(nn.Module):
    """Bidirectional LSTM over frames (the Open-Unmix idea, much narrower)."""

    def __init__(self, hidden: int, layers: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(hidden, hidden // 2, num_layers=layers, bidirectional=True,
                            batch_first=True)

    @property
    def context_frames(self) -> int:
        return 10**9  # unbounded: the whole chunk

    def forward(self, x: Tensor) -> Tensor:
        y, _ = self.lstm(x.transpose(1, 2))
        return x + y.transpose(1, 2)


class SpectralMaskSeparator(nn.Module):
    """What every vocal-mask separator shares: the STFT pair, the per-bin log-power
    normalisation (``input_mean``, ``input_scale``), mask application, the optional Wiener
    refinement and the ``forward`` contract. A subclass sets ``self.config`` (with
    ``sample_rate``, ``channels``, ``n_fft``, ``hop`` and ``bins``), ``self.stft``,
    ``self.istft``, the two normalisation parameters, and implements :meth:`_mask_tf`."""

    config: SeparatorConfig

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    @property
    def channels(self) -> int:
        return self.config.channels

    def set_input_stats(self, mean: Tensor, std: Tensor) -> None:
        """Initialise the per-bin normalisation from training-data log-power statistics
        (shape ``(channels * bins,)``): a better start than the generic default."""
        with torch.no_grad():
            self.input_mean.copy_(mean.reshape(-1))
            self.input_scale.copy_(1.0 / std.reshape(-1).clamp_min(1e-3))

    def _mask_tf(self, spec_tf: Tensor) -> Tensor:  # pragma: no cover - abstract
        """The vocal mask in [0, 1] in frame-major layout ``(B, C, T, F)``."""
        raise NotImplementedError

    def _log_power(self, spec_tf: Tensor) -> Tensor:
        """Log power of a frame-major complex spectrogram; finite for silence."""
        power = spec_tf.real.square() + spec_tf.imag.square()
        return torch.log(power.clamp_min_(_LOG_EPS))

    def spectrogram(self, mix: Tensor) -> Tensor:
        """``(B, C, N)`` waveform -> ``(B, C, bins, frames)`` complex STFT."""
        return self.stft(mix)

    def mask(self, spec: Tensor) -> Tensor:
        """Vocal mask in [0, 1], ``(B, C, F, T)``, for a complex mixture spectrogram."""
        return self._mask_tf(spec.transpose(-1, -2)).transpose(-1, -2)

    def separate_spec(self, spec: Tensor, wiener_iterations: int = 0) -> Tensor:
        """Complex vocal spectrogram estimate ``(B, C, F, T)`` for a mixture spectrogram."""
        spec_tf = spec.transpose(-1, -2)
        m = self._mask_tf(spec_tf)
        if wiener_iterations > 0:
            return wiener_refine(spec, m.transpose(-1, -2), wiener_iterations)
        vocals = torch.view_as_complex(torch.view_as_real(spec_tf) * m.unsqueeze(-1))
        return vocals.transpose(-1, -2)

    def forward(self, mix: Tensor, wiener_iterations: int = 0,
                return_mask: bool = False) -> Tensor | tuple[Tensor, Tensor, Tensor]:
        """``(B, C, N)`` mixture -> ``(B, 2, C, N)``: vocals, accompaniment (= mix - vocals).

        With ``return_mask`` (training) returns ``(stems, mask, spectrogram)``: the mask
        ``(B, C, F, T)`` and the mixture's complex STFT, for spectral losses.
        """
        if mix.ndim != 3 or mix.shape[1] != self.config.channels:
            raise ValueError(f"expected (batch, {self.config.channels}, samples), "
                             f"got {tuple(mix.shape)}")
        spec = self.spectrogram(mix)
        if return_mask:
            spec_tf = spec.transpose(-1, -2)
            m = self._mask_tf(spec_tf)
            vocal_spec = torch.view_as_complex(torch.view_as_real(spec_tf) * m.unsqueeze(-1))
            vocals = self.istft(vocal_spec.transpose(-1, -2), length=mix.shape[-1])
            stems = torch.stack([vocals, mix - vocals], dim=1)
            return stems, m.transpose(-1, -2), spec
        vocals = self.istft(self.separate_spec(spec, wiener_iterations), length=mix.shape[-1])
        return torch.stack([vocals, mix - vocals], dim=1)


@register_model("mask_separator", kind="separator")
class MaskSeparator(SpectralMaskSeparator):
    """Stereo vocal-mask network; see the module docstring for the design. The constructor
    takes the :class:`SeparatorConfig` fields as plain keywords (recorded in checkpoints)."""

    def __init__(self, sample_rate: int = 44100, channels: int = 2, n_fft: int = 4096,
                 hop: int = 1024, hidden: int = 192, layers: int = 8, kernel: int = 3,
                 core: str = "tcn") -> None:
        super().__init__()
        config = SeparatorConfig(sample_rate=sample_rate, channels=channels, n_fft=n_fft,
                                 hop=hop, hidden=hidden, layers=layers, kernel=kernel, core=core)
        self.config = config
        c = config
        feats = c.channels * c.bins
        self.stft = STFT(c.n_fft, c.hop)
        self.istft = ISTFT(c.n_fft, c.hop)
        # Per-bin normalisation of the log power, folded into the encoder's weights.
        self.input_mean = nn.Parameter(torch.full((feats,), -8.0))
        self.input_scale = nn.Parameter(torch.full((feats,), 0.25))
        self.enc_weight = nn.Parameter(torch.empty(c.hidden, feats))
        self.enc_bias = nn.Parameter(torch.zeros(c.hidden))
        self.enc_norm = nn.BatchNorm1d(c.hidden)
        self.core = (_TCNCore(c.hidden, c.layers, c.kernel) if c.core == "tcn"
                     else _LSTMCore(c.hidden, c.layers))
        self.dec_weight = nn.Parameter(torch.empty(feats, c.hidden))
        self.dec_bias = nn.Parameter(torch.zeros(feats))
        nn.init.xavier_uniform_(self.enc_weight)
        nn.init.xavier_uniform_(self.dec_weight)

    # ------------------------------------------------------------------ sizes

    @property
    def context_samples(self) -> int:
        """Samples of context on each side that change an output sample (receptive field
        of the core plus one STFT window); the pipeline overlaps chunks by at least this
        much to hide chunk edges. Unbounded cores return a large number."""
        frames = self.core.context_frames
        return min(frames, 10**6) * self.config.hop + self.config.n_fft

    # ------------------------------------------------------------------ pieces

    def _mask_tf(self, spec_tf: Tensor) -> Tensor:
        """The mask computed in frame-major layout ``(B, C, T, F)``.

        :func:`torch.stft` returns ``(..., F, T)`` as a transposed view of frame-major
        memory; working in that layout avoids copying the big full-resolution arrays and
        keeps every elementwise pass contiguous (this matters: those passes cost as much as
        the network itself).
        """
        b, c, t, f = spec_tf.shape
        cfg = self.config
        if c != cfg.channels or f != cfg.bins:
            raise ValueError(f"expected a ({cfg.channels} channels, {cfg.bins} bins) "
                             f"spectrogram, got {tuple(spec_tf.shape)}")
        x = self._log_power(spec_tf)  # (B, C, T, F)
        # W @ ((x - mean) * scale) + b  ==  (W * scale) @ x + (b - (W * scale) @ mean):
        # one GEMM per channel over the big array instead of two extra full-size passes.
        w = self.enc_weight * self.input_scale
        bias = self.enc_bias - w @ self.input_mean
        w = w.reshape(cfg.hidden, c, f).permute(1, 2, 0)  # (C, F, H)
        h = torch.matmul(x, w).sum(1) + bias  # (B, T, H)
        h = torch.tanh(self.enc_norm(h.transpose(1, 2)))  # (B, H, T)
        h = self.core(h).transpose(1, 2)  # (B, T, H)
        wd = self.dec_weight.reshape(c, f, cfg.hidden).transpose(1, 2)  # (C, H, F)
        logits = torch.matmul(h.unsqueeze(1), wd)  # (B, C, T, F)
        logits = logits + self.dec_bias.reshape(c, 1, f)
        return torch.sigmoid(logits)


def wiener_refine(spec: Tensor, vocal_mask: Tensor, iterations: int = 1,
                  eps: float = 1e-10) -> Tensor:
    """Multichannel Wiener filtering with EM updates (the norbert / Open-Unmix approach).

    ``spec`` is the complex mixture ``(B, C, F, T)``, ``vocal_mask`` the network's mask. The
    initial estimates are mask x mixture (vocals) and (1 - mask) x mixture (accompaniment).
    Each iteration estimates, per source, a power spectral density ``v(f, t)`` (mean over
    channels) and a spatial covariance ``R(f)`` (C x C, averaged over time), then filters the
    mixture with ``v_j R_j (sum_k v_k R_k)^-1``. Returns the complex vocal estimate; the
    accompaniment is the residual. Implemented for C <= 2 (explicit 2x2 inverse).
    """
    b, c, f, t = spec.shape
    if c > 2:
        raise ValueError("wiener_refine supports mono or stereo spectrograms")
    x = spec.permute(0, 2, 3, 1)  # (B, F, T, C)
    m = vocal_mask.permute(0, 2, 3, 1)
    estimates = [x * m, x * (1.0 - m)]
    eye = torch.eye(c, dtype=spec.dtype, device=spec.device)
    for _ in range(max(1, iterations)):
        psd, cov = [], []
        for y in estimates:
            v = (y.real.square() + y.imag.square()).mean(-1)  # (B, F, T)
            r = torch.einsum("bftc,bftd->bfcd", y, y.conj())
            r = r / (v.sum(-1)[..., None, None] + eps) + eps * eye
            psd.append(v)
            cov.append(r)
        cxx = sum(v[..., None, None] * r[:, :, None] for v, r in zip(psd, cov))
        cxx = cxx + eps * eye
        inv = _inverse_small(cxx)
        new = []
        for v, r in zip(psd, cov):
            w = v[..., None, None] * torch.matmul(r[:, :, None], inv)  # (B, F, T, C, C)
            new.append(torch.matmul(w, x.unsqueeze(-1)).squeeze(-1))
        estimates = [new[0], x - new[0]]
    return estimates[0].permute(0, 3, 1, 2).contiguous()


def _inverse_small(a: Tensor) -> Tensor:
    """Inverse of (..., C, C) matrices for C in {1, 2} in closed form (fast, batched)."""
    if a.shape[-1] == 1:
        return 1.0 / a
    a00, a01, a10, a11 = a[..., 0, 0], a[..., 0, 1], a[..., 1, 0], a[..., 1, 1]
    det = a00 * a11 - a01 * a10
    inv = torch.stack([torch.stack([a11, -a01], -1), torch.stack([-a10, a00], -1)], -2)
    return inv / det[..., None, None]
