"""Back from spectrograms to sound, as ``torch.nn.Module`` s: :class:`InverseMel` (mel to
linear magnitude), :class:`GriffinLim` (magnitude to waveform, from random, zero or given
phases), :class:`MelToAudio` (the two in a row) and :func:`spectral_convergence`, the figure
of merit of a phase reconstruction. They invert the transforms of
:mod:`sonomorph.audio.spectral` and take the same settings.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor, nn

from sonomorph.audio.spectral import (
    _LOG_BASES,
    ISTFT,
    STFT,
    MelSpectrogram,
    WindowSpec,
    _check_frame_params,
    _check_mel_params,
    _undo_log,
    mel_filterbank,
)
from sonomorph.errors import ConfigError

__all__ = ["InverseMel", "GriffinLim", "MelToAudio", "spectral_convergence"]


class InverseMel(nn.Module):
    """Mel spectrogram ``(..., n_mels, frames)`` -> linear magnitude ``(..., n_fft//2+1, frames)``.

    The mel input has the given ``power`` (2: built from a power spectrogram, 1: from magnitude);
    the output is always a magnitude (``power``-th root of the linear estimate), as
    ``librosa.feature.inverse.mel_to_stft`` returns.

    - ``method="pinv"``: pseudo-inverse of the filterbank, clamped at zero. One matmul.
    - ``method="nnls"``: non-negative least squares ``min ||B X - M||^2, X >= 0`` per frame,
      started from the clamped pseudo-inverse and refined by ``n_iter`` accelerated projected
      gradient steps (FISTA with per-frame gradient restart) scaled by the diagonal majorizer
      ``D = diag(B^T B 1)`` (``D - B^T B`` is diagonally dominant, so a step of ``D^-1`` is safe;
      bins no filter covers stay at zero). A frame whose final error is not below its starting
      error keeps the start, so the mel-domain error is never above the pseudo-inverse's.
    """

    def __init__(
        self,
        sample_rate: float = 22050,
        n_fft: int = 2048,
        n_mels: int = 128,
        fmin: float = 0.0,
        fmax: float | None = None,
        method: Literal["nnls", "pinv"] = "nnls",
        power: float = 2.0,
        n_iter: int = 50,
    ) -> None:
        super().__init__()
        if method not in ("nnls", "pinv"):
            raise ConfigError(f"unknown inverse-mel method {method!r}; choose nnls or pinv")
        if not power > 0:
            raise ConfigError(f"power must be positive, got {power}")
        if int(n_iter) != n_iter or n_iter < 0:
            raise ConfigError(f"n_iter must be a non-negative integer, got {n_iter}")
        n_fft, _, _ = _check_frame_params(n_fft, None, None)
        self.fmax = _check_mel_params(sample_rate, n_mels, fmin, fmax)
        self.sample_rate, self.n_fft, self.n_freqs = float(sample_rate), n_fft, n_fft // 2 + 1
        self.n_mels, self.fmin, self.method = int(n_mels), float(fmin), method
        self.power, self.n_iter = float(power), int(n_iter)
        fb = mel_filterbank(sample_rate, n_fft, n_mels, fmin, self.fmax, dtype=torch.float64)
        majorizer = fb.T @ (fb @ torch.ones(self.n_freqs, dtype=torch.float64))
        step = torch.where(majorizer > 0, 1.0 / majorizer.clamp_min(1e-300),
                           torch.zeros_like(majorizer))
        self.register_buffer("mel_basis", fb.to(torch.float32))
        self.register_buffer("mel_pinv", torch.linalg.pinv(fb).to(torch.float32))
        self.register_buffer("nnls_step", step.to(torch.float32).unsqueeze(-1))

    def forward(self, mel: Tensor) -> Tensor:
        if mel.ndim < 2 or mel.shape[-2] != self.n_mels:
            raise ValueError(f"InverseMel expects (..., {self.n_mels}, frames), "
                             f"got {tuple(mel.shape)}")
        dtype = mel.dtype
        fb = self.mel_basis.to(dtype)
        x = torch.matmul(self.mel_pinv.to(dtype), mel).clamp_min(0.0)
        if self.method == "nnls" and self.n_iter > 0:
            x = self._nnls(fb, mel, x)
        if self.power == 1.0:
            return x
        if self.power == 2.0:
            return torch.sqrt(x)
        return x.pow(1.0 / self.power)

    def _nnls(self, fb: Tensor, mel: Tensor, start: Tensor) -> Tensor:
        """Accelerated projected gradient for ``min ||fb x - mel||^2, x >= 0`` from ``start``."""
        fb_t, step = fb.T, self.nnls_step.to(mel.dtype)
        x, y = start, start
        t = torch.ones_like(mel[..., :1, :])  # momentum counter, one per frame
        for _ in range(self.n_iter):
            grad = torch.matmul(fb_t, torch.matmul(fb, y) - mel)
            x_new = (y - step * grad).clamp_min(0.0)
            # Restart a frame's momentum when the step goes uphill (O'Donoghue & Candes 2015).
            restart = (grad * (x_new - x)).sum(dim=-2, keepdim=True) > 0
            t_new = 0.5 * (1.0 + torch.sqrt(1.0 + 4.0 * t * t))
            beta = torch.where(restart, torch.zeros_like(t), (t - 1.0) / t_new)
            t = torch.where(restart, torch.ones_like(t), t_new)
            y = x_new + beta * (x_new - x)
            x = x_new

        def sq_err(v: Tensor) -> Tensor:
            return (torch.matmul(fb, v) - mel).square().sum(dim=-2, keepdim=True)

        return torch.where(sq_err(x) <= sq_err(start), x, start)

    def mel_error(self, magnitude: Tensor, mel: Tensor) -> Tensor:
        """Relative mel-domain error ``||B |X|^power - M|| / ||M||`` of a magnitude estimate,
        the quantity ``method="nnls"`` minimises (per leading index, over mels and frames)."""
        approx = torch.matmul(self.mel_basis.to(mel.dtype), magnitude.pow(self.power))
        num = torch.linalg.vector_norm(approx - mel, dim=(-2, -1))
        return num / torch.linalg.vector_norm(mel, dim=(-2, -1)).clamp_min(1e-30)


class GriffinLim(nn.Module):
    """Fast Griffin-Lim (Perraudin, Balazs & Sondergaard 2013): magnitude ``(..., n_fft//2+1,
    frames)`` -> waveform ``(..., time)``.

    Each iteration projects onto consistent spectrograms (ISTFT then STFT) and extrapolates with
    ``momentum``: ``t_n = c_n + momentum * (c_n - c_{n-1})``; only the phase of ``t_n`` is kept.
    ``momentum=0`` is the classic algorithm. ``init="random"`` draws the initial phases from a
    generator seeded with ``seed`` on the input's device, so the output is deterministic;
    ``init="zeros"`` starts from zero phase. ``length`` (here or in forward) trims the output.
    """

    def __init__(
        self,
        n_fft: int = 2048,
        hop_length: int | None = None,
        win_length: int | None = None,
        window: WindowSpec = "hann",
        n_iter: int = 32,
        momentum: float = 0.99,
        init: Literal["random", "zeros"] = "random",
        seed: int = 0,
        length: int | None = None,
        center: bool = True,
        pad_mode: str = "reflect",
    ) -> None:
        super().__init__()
        if int(n_iter) != n_iter or n_iter < 0:
            raise ConfigError(f"n_iter must be a non-negative integer, got {n_iter}")
        if not 0.0 <= momentum <= 1.0:
            raise ConfigError(f"momentum must be between 0 and 1, got {momentum}")
        if init not in ("random", "zeros"):
            raise ConfigError(f"unknown Griffin-Lim init {init!r}; choose random or zeros")
        self.n_iter, self.momentum, self.init = int(n_iter), float(momentum), init
        self.seed, self.length = int(seed), length
        self.stft = STFT(n_fft, hop_length, win_length, window, center, pad_mode)
        self.istft = ISTFT(n_fft, hop_length, win_length, window, center, pad_mode)
        self.n_fft, self.hop_length = self.stft.n_fft, self.stft.hop_length
        self.win_length, self.n_freqs = self.stft.win_length, self.stft.n_freqs

    def initial_phase(self, magnitude: Tensor) -> Tensor:
        """Unit-modulus complex starting phases, shaped like ``magnitude``."""
        if self.init == "zeros":
            return torch.polar(torch.ones_like(magnitude), torch.zeros_like(magnitude))
        gen = torch.Generator(device=magnitude.device)
        gen.manual_seed(self.seed)
        phase = torch.rand(magnitude.shape, generator=gen, device=magnitude.device,
                           dtype=magnitude.dtype) * (2.0 * math.pi)
        return torch.polar(torch.ones_like(magnitude), phase)

    def forward(self, magnitude: Tensor, length: int | None = None,
                phase: Tensor | None = None) -> Tensor:
        """``phase``: unit-modulus complex starting phases shaped like ``magnitude`` (for
        example a model's phase estimate, or another signal's), used instead of ``init``;
        from a good start fewer iterations reach a consistent signal."""
        if magnitude.ndim < 2 or magnitude.shape[-2] != self.n_freqs:
            raise ValueError(f"GriffinLim expects (..., {self.n_freqs}, frames), "
                             f"got {tuple(magnitude.shape)}")
        if phase is not None and (phase.shape != magnitude.shape or not phase.is_complex()):
            raise ValueError(f"GriffinLim's starting phase must be complex and shaped like "
                             f"the magnitude {tuple(magnitude.shape)}, got {phase.dtype} "
                             f"{tuple(phase.shape)}")
        if magnitude.is_complex():
            raise ValueError("GriffinLim expects a real magnitude spectrogram")
        length = self.length if length is None else length
        frames = magnitude.shape[-1]
        if length is not None and self.stft.center and 1 + length // self.hop_length != frames:
            raise ValueError(f"length={length} gives {1 + length // self.hop_length} frames at "
                             f"hop {self.hop_length}, but the spectrogram has {frames}")
        tiny = torch.finfo(magnitude.dtype).tiny
        alpha = self.momentum / (1.0 + self.momentum)  # t_n / (1 + momentum), same phase
        angles = self.initial_phase(magnitude) if phase is None else phase.to(magnitude.device)
        previous: Tensor | None = None
        for _ in range(self.n_iter):
            rebuilt = self.stft(self.istft(magnitude * angles, length=length))
            target = rebuilt if previous is None else rebuilt - alpha * previous
            angles = target / target.abs().clamp_min(tiny)
            previous = rebuilt
        return self.istft(magnitude * angles, length=length)


def spectral_convergence(magnitude: Tensor, waveform: Tensor, stft: STFT) -> Tensor:
    """``||S - |STFT(x)||| / ||S||`` per leading index: how consistent a waveform is with a target
    magnitude (0 is perfect). The usual figure of merit for phase reconstruction."""
    rebuilt = stft(waveform).abs()
    num = torch.linalg.vector_norm(magnitude - rebuilt, dim=(-2, -1))
    return num / torch.linalg.vector_norm(magnitude, dim=(-2, -1)).clamp_min(1e-30)


class MelToAudio(nn.Module):
    """Mel spectrogram -> waveform: :class:`InverseMel` then :class:`GriffinLim`.

    For listening to a mel (previews, vocoder baselines, sanity checks), not for quality audio.
    With ``log=True`` the input is first mapped back from ``log_base`` (the inverse of
    :class:`MelSpectrogram`'s log; values at the floor stay at the floor).
    :meth:`from_mel_spectrogram` copies every setting from a :class:`MelSpectrogram`.
    """

    def __init__(
        self,
        sample_rate: float = 22050,
        n_fft: int = 2048,
        hop_length: int | None = None,
        n_mels: int = 128,
        fmin: float = 0.0,
        fmax: float | None = None,
        power: float = 2.0,
        log: bool = False,
        log_base: Literal["e", "10", "db"] = "e",
        win_length: int | None = None,
        window: WindowSpec = "hann",
        center: bool = True,
        pad_mode: str = "reflect",
        method: Literal["nnls", "pinv"] = "nnls",
        nnls_iter: int = 50,
        n_iter: int = 32,
        momentum: float = 0.99,
        init: Literal["random", "zeros"] = "random",
        seed: int = 0,
    ) -> None:
        super().__init__()
        if log_base not in _LOG_BASES:
            raise ConfigError(f"unknown log_base {log_base!r}; choose e, 10 or db")
        self.log = bool(log)
        self.log_base = log_base
        self.inverse_mel = InverseMel(sample_rate, n_fft, n_mels, fmin, fmax, method, power,
                                      nnls_iter)
        self.griffin_lim = GriffinLim(n_fft, hop_length, win_length, window, n_iter, momentum,
                                      init, seed, None, center, pad_mode)
        self.sample_rate, self.n_mels = self.inverse_mel.sample_rate, self.inverse_mel.n_mels
        self.n_fft, self.hop_length = self.griffin_lim.n_fft, self.griffin_lim.hop_length
        self.power = self.inverse_mel.power

    @classmethod
    def from_mel_spectrogram(cls, mel: MelSpectrogram, **kwargs) -> MelToAudio:
        """Build the inverse of ``mel`` (same rate, framing, filterbank, power and log);
        ``kwargs`` set the inversion options (method, nnls_iter, n_iter, momentum, init, seed)."""
        settings = dict(
            sample_rate=mel.sample_rate, n_fft=mel.n_fft, hop_length=mel.hop_length,
            n_mels=mel.n_mels, fmin=mel.fmin, fmax=mel.fmax, power=mel.power, log=mel.log,
            log_base=mel.log_base, win_length=mel.win_length, window=mel.spectrogram.window,
            center=mel.center, pad_mode=mel.pad_mode,
        )
        settings.update(kwargs)
        return cls(**settings)

    def forward(self, mel: Tensor, length: int | None = None) -> Tensor:
        if self.log:
            mel = _undo_log(mel, self.log_base, self.power)
        return self.griffin_lim(self.inverse_mel(mel), length=length)
