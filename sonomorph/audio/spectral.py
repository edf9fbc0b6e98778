"""Spectral transforms as ``torch.nn.Module`` s: STFT, ISTFT, (mel) spectrograms and their inverses.

Windows, DFT bases and mel filterbanks are registered buffers, so they are saved in ``state_dict``,
follow ``.to(device)`` / ``.to(dtype)`` and are never shared through a global cache. Modules take
any leading shape: a waveform is ``(..., time)``, a spectrogram ``(..., freq, frames)``; nothing
loops over frames in Python. Spectrograms have two backends: ``"torch"`` (:func:`torch.stft`) and
``"conv"`` (a strided ``conv1d`` with a windowed DFT basis, which exports to ONNX opset 17+ with
reflect padding). The mel filterbank is librosa's Slaney mel (``htk=False, norm="slaney"``).
"""

from __future__ import annotations

import math
from typing import Literal

import librosa
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sonomorph.errors import ConfigError, InputTooShortError

__all__ = ["STFT", "ISTFT", "Spectrogram", "MelSpectrogram", "InverseMel", "GriffinLim",
           "MelToAudio", "make_window", "mel_filterbank", "spectral_convergence"]

WindowSpec = str | Tensor
_WINDOWS = {  # name -> periodic window function (length, dtype)
    "hann": lambda n, dtype: torch.hann_window(n, periodic=True, dtype=dtype),
    "hamming": lambda n, dtype: torch.hamming_window(n, periodic=True, dtype=dtype),
    "blackman": lambda n, dtype: torch.blackman_window(n, periodic=True, dtype=dtype),
    "bartlett": lambda n, dtype: torch.bartlett_window(n, periodic=True, dtype=dtype),
    "rectangular": lambda n, dtype: torch.ones(n, dtype=dtype),
}
_WINDOWS["boxcar"] = _WINDOWS["ones"] = _WINDOWS["rectangular"]
_PAD_MODES = ("reflect", "constant", "replicate", "circular")


# ----------------------------------------------------------------------------- helpers


def make_window(window: WindowSpec, win_length: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """Return a periodic analysis window of ``win_length`` samples (the STFT convention, as
    ``scipy.signal.get_window(..., fftbins=True)`` and librosa use).

    ``window`` is a name (hann, hamming, blackman, bartlett, rectangular/boxcar/ones) or a 1-D
    tensor of length ``win_length`` used as is.
    """
    if isinstance(window, Tensor):
        if window.ndim != 1 or window.shape[0] != win_length:
            raise ConfigError(
                f"window tensor must be 1-D of length win_length={win_length}, got shape "
                f"{tuple(window.shape)}"
            )
        return window.detach().to("cpu", dtype).clone()
    if window.lower() in _WINDOWS:
        return _WINDOWS[window.lower()](win_length, dtype)
    raise ConfigError(f"unknown window {window!r}; choose one of {', '.join(_WINDOWS)}")


def mel_filterbank(sample_rate: float, n_fft: int, n_mels: int = 128, fmin: float = 0.0,
                   fmax: float | None = None, dtype: torch.dtype = torch.float32) -> Tensor:
    """Slaney-style mel filterbank ``(n_mels, n_fft // 2 + 1)`` from ``librosa.filters.mel``
    (``htk=False, norm="slaney"``), computed in float64 then cast to ``dtype``."""
    fb = librosa.filters.mel(
        sr=float(sample_rate), n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax,
        htk=False, norm="slaney", dtype=np.float64,
    )
    return torch.from_numpy(fb).to(dtype)


def _check_frame_params(n_fft: int, hop_length: int | None, win_length: int | None
                        ) -> tuple[int, int, int]:
    """Validate and fill in STFT framing parameters; returns (n_fft, hop_length, win_length)."""
    if int(n_fft) != n_fft or n_fft < 2:
        raise ConfigError(f"n_fft must be an integer >= 2, got {n_fft}")
    n_fft = int(n_fft)
    hop = n_fft // 4 if hop_length is None else int(hop_length)
    win = n_fft if win_length is None else int(win_length)
    if hop < 1:
        raise ConfigError(f"hop_length must be >= 1, got {hop_length}")
    if not 1 <= win <= n_fft:
        raise ConfigError(f"win_length must be between 1 and n_fft={n_fft}, got {win_length}")
    return n_fft, hop, win


def _check_length(x: Tensor, n_fft: int, center: bool, pad_mode: str) -> None:
    """Raise InputTooShortError when the signal cannot be framed with these settings."""
    if torch.jit.is_tracing() or torch.onnx.is_in_onnx_export():
        return  # shapes are symbolic while exporting: leave the check to eager runs
    n = x.shape[-1]
    if center and pad_mode == "reflect" and n <= n_fft // 2:
        raise InputTooShortError(
            f"signal of {n} samples is too short for reflect padding with n_fft={n_fft} "
            f"(needs more than {n_fft // 2})"
        )
    if not center and n < n_fft:
        raise InputTooShortError(f"signal of {n} samples is shorter than n_fft={n_fft}")


def _magnitude_power(re: Tensor, im: Tensor, power: float) -> Tensor:
    """``|re + i im| ** power`` without a complex dtype and without NaN gradients at zero."""
    energy = re * re + im * im
    if power == 2.0:
        return energy
    energy = energy.clamp_min(torch.finfo(energy.dtype).tiny)
    if power == 1.0:
        return torch.sqrt(energy)
    return energy.pow(power / 2.0)


# ----------------------------------------------------------------------------- STFT / ISTFT


class _Framed(nn.Module):
    """Shared framing settings (validated) and the ``window`` buffer of STFT-like modules."""

    def __init__(self, n_fft: int, hop_length: int | None, win_length: int | None,
                 window: WindowSpec, center: bool, pad_mode: str) -> None:
        super().__init__()
        self.n_fft, self.hop_length, self.win_length = _check_frame_params(
            n_fft, hop_length, win_length)
        self.center = bool(center)
        if pad_mode not in _PAD_MODES:
            raise ConfigError(f"unknown pad_mode {pad_mode!r}; choose one of {', '.join(_PAD_MODES)}")
        self.pad_mode = pad_mode
        self.n_freqs = self.n_fft // 2 + 1
        self.register_buffer("window", make_window(window, self.win_length))

    def _stft(self, x: Tensor, normalized: bool = False) -> Tensor:
        """torch.stft over any leading shape: (..., time) -> (..., n_freqs, frames) complex."""
        _check_length(x, self.n_fft, self.center, self.pad_mode)
        lead = x.shape[:-1]
        spec = torch.stft(
            x.reshape(-1, x.shape[-1]), self.n_fft, self.hop_length, self.win_length,
            window=self.window.to(x.dtype), center=self.center, pad_mode=self.pad_mode,
            normalized=normalized, onesided=True, return_complex=True,
        )
        return spec.reshape(lead + spec.shape[-2:])

    def extra_repr(self) -> str:
        return (f"n_fft={self.n_fft}, hop_length={self.hop_length}, win_length={self.win_length}, "
                f"center={self.center}, pad_mode={self.pad_mode!r}")


class STFT(_Framed):
    """Short-time Fourier transform: ``(..., time)`` real -> ``(..., n_fft//2+1, frames)`` complex.

    A thin module around :func:`torch.stft` whose window is a buffer. With ``center=True`` the
    signal is padded by ``n_fft // 2`` on both sides with ``pad_mode`` so frame ``t`` is centred
    on sample ``t * hop_length``; there are ``1 + time // hop_length`` frames.
    """

    def __init__(
        self,
        n_fft: int = 2048,
        hop_length: int | None = None,
        win_length: int | None = None,
        window: WindowSpec = "hann",
        center: bool = True,
        pad_mode: str = "reflect",
        normalized: bool = False,
    ) -> None:
        super().__init__(n_fft, hop_length, win_length, window, center, pad_mode)
        self.normalized = bool(normalized)

    def forward(self, x: Tensor) -> Tensor:
        return self._stft(x, self.normalized)


class ISTFT(_Framed):
    """Inverse STFT (weighted overlap-add, :func:`torch.istft`): ``(..., n_fft//2+1, frames)``
    complex -> ``(..., time)`` real. Takes the same parameters as :class:`STFT` so that
    ``ISTFT(**p)(STFT(**p)(x), length=x.shape[-1])`` gives ``x`` back (when the window satisfies
    NOLA, e.g. hann with hop n_fft/4 or n_fft/2). ``pad_mode`` is accepted for symmetry only:
    the padding is cut away, whatever it was.
    """

    def __init__(
        self,
        n_fft: int = 2048,
        hop_length: int | None = None,
        win_length: int | None = None,
        window: WindowSpec = "hann",
        center: bool = True,
        pad_mode: str = "reflect",
        normalized: bool = False,
    ) -> None:
        super().__init__(n_fft, hop_length, win_length, window, center, pad_mode)
        self.normalized = bool(normalized)

    def forward(self, spec: Tensor, length: int | None = None) -> Tensor:
        if spec.ndim < 2 or spec.shape[-2] != self.n_freqs or not spec.is_complex():
            raise ValueError(f"ISTFT expects a complex (..., {self.n_freqs}, frames) tensor, "
                             f"got {spec.dtype} {tuple(spec.shape)}")
        lead = spec.shape[:-2]
        y = torch.istft(
            spec.reshape((-1,) + spec.shape[-2:]), self.n_fft, self.hop_length, self.win_length,
            window=self.window.to(spec.real.dtype), center=self.center,
            normalized=self.normalized, onesided=True, length=length,
        )
        return y.reshape(lead + y.shape[-1:])


# ----------------------------------------------------------------------------- spectrograms


class Spectrogram(_Framed):
    """Magnitude (``power=1``) or power (``power=2``) spectrogram ``(..., n_fft//2+1, frames)``.

    ``backend="torch"`` uses :func:`torch.stft`. ``backend="conv"`` pads with :func:`F.pad` and
    convolves with a buffer ``basis`` of shape ``(2 * n_freqs, 1, n_fft)`` holding the windowed
    cosine rows then the windowed (negated) sine rows, so the graph is Pad + Conv + arithmetic and
    exports to ONNX. The two backends agree to float32 rounding.
    """

    def __init__(
        self,
        n_fft: int = 2048,
        hop_length: int | None = None,
        win_length: int | None = None,
        window: WindowSpec = "hann",
        center: bool = True,
        pad_mode: str = "reflect",
        power: float = 1.0,
        backend: Literal["torch", "conv"] = "torch",
    ) -> None:
        super().__init__(n_fft, hop_length, win_length, window, center, pad_mode)
        if backend not in ("torch", "conv"):
            raise ConfigError(f"unknown spectrogram backend {backend!r}; choose torch or conv")
        if not power > 0:
            raise ConfigError(f"power must be positive, got {power}")
        self.power = float(power)
        self.backend = backend
        if backend == "conv":
            self.register_buffer("basis", self._dft_basis(self.window))

    def _dft_basis(self, window: Tensor) -> Tensor:
        """Windowed real DFT rows, computed in float64 with exact integer phase indices."""
        n = torch.arange(self.n_fft, dtype=torch.int64)
        k = torch.arange(self.n_freqs, dtype=torch.int64)
        phase = (k[:, None] * n[None, :]) % self.n_fft  # exact, avoids large-argument error
        angle = phase.to(torch.float64) * (2.0 * math.pi / self.n_fft)
        left = (self.n_fft - self.win_length) // 2  # centre the window in n_fft, as torch.stft
        w = F.pad(window.to(torch.float64), (left, self.n_fft - self.win_length - left))
        basis = torch.cat([torch.cos(angle) * w, -torch.sin(angle) * w], dim=0)
        return basis.unsqueeze(1).to(window.dtype)

    def forward(self, x: Tensor) -> Tensor:
        if self.backend == "torch":
            spec = self._stft(x)
            return _magnitude_power(spec.real, spec.imag, self.power)
        _check_length(x, self.n_fft, self.center, self.pad_mode)
        # STFT as Pad + strided Conv1d: exportable to ONNX with dynamic batch and time.
        lead = x.shape[:-1]
        frames = x.reshape(-1, 1, x.shape[-1])
        if self.center:
            p = self.n_fft // 2
            frames = F.pad(frames, (p, p), mode=self.pad_mode)
        out = F.conv1d(frames, self.basis.to(x.dtype), stride=self.hop_length)
        mag = _magnitude_power(out[:, : self.n_freqs], out[:, self.n_freqs:], self.power)
        return mag.reshape(lead + mag.shape[-2:])

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, power={self.power}, backend={self.backend!r}"


_LOG_BASES = ("e", "10", "db")


def _apply_log(x: Tensor, floor: float, base: str, power: float) -> Tensor:
    """``log(max(x, floor))`` in base e, base 10, or decibels (``20/power * log10``)."""
    x = x.clamp_min(floor)
    if base == "e":
        return torch.log(x)
    if base == "10":
        return torch.log10(x)
    return (20.0 / power) * torch.log10(x)


def _undo_log(x: Tensor, base: str, power: float) -> Tensor:
    """Inverse of :func:`_apply_log` (the floor is not undone: it only lost tiny values)."""
    if base == "e":
        return torch.exp(x)
    if base == "10":
        return torch.pow(10.0, x)
    return torch.pow(10.0, x * (power / 20.0))


def _check_mel_params(sample_rate: float, n_mels: int, fmin: float, fmax: float | None
                      ) -> float:
    """Validate mel settings; returns the effective fmax (``sample_rate / 2`` if None)."""
    if not sample_rate > 0:
        raise ConfigError(f"sample_rate must be positive, got {sample_rate}")
    if int(n_mels) != n_mels or n_mels < 1:
        raise ConfigError(f"n_mels must be a positive integer, got {n_mels}")
    nyquist = sample_rate / 2.0
    top = nyquist if fmax is None else float(fmax)
    if not 0.0 <= fmin < top <= nyquist:
        raise ConfigError(
            f"need 0 <= fmin < fmax <= sample_rate/2 = {nyquist:g} Hz, got fmin={fmin}, "
            f"fmax={fmax}")
    return top


class MelSpectrogram(nn.Module):
    """Slaney mel spectrogram ``(..., n_mels, frames)`` of a waveform ``(..., time)``.

    ``power=1`` filters the magnitude, ``power=2`` the power (librosa's default). With
    ``log=True`` the output is ``log(max(mel, log_floor))`` in base ``log_base``: ``"e"``,
    ``"10"`` or ``"db"`` (``20 / power * log10``, i.e. 10 log10 of a power spectrogram).
    The filterbank is the buffer ``mel_basis`` of shape ``(n_mels, n_fft // 2 + 1)``; the
    framing lives in the submodule ``spectrogram`` and is mirrored as attributes here.
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
        log_floor: float = 1e-5,
        log_base: Literal["e", "10", "db"] = "e",
        backend: Literal["torch", "conv"] = "torch",
        center: bool = True,
        pad_mode: str = "reflect",
        win_length: int | None = None,
        window: WindowSpec = "hann",
    ) -> None:
        super().__init__()
        if log_base not in _LOG_BASES:
            raise ConfigError(f"unknown log_base {log_base!r}; choose e, 10 or db")
        if log and not log_floor > 0:
            raise ConfigError(f"log_floor must be positive, got {log_floor}")
        self.fmax = _check_mel_params(sample_rate, n_mels, fmin, fmax)
        self.sample_rate, self.n_mels, self.fmin = float(sample_rate), int(n_mels), float(fmin)
        self.log, self.log_floor, self.log_base = bool(log), float(log_floor), log_base
        spec = Spectrogram(n_fft, hop_length, win_length, window, center, pad_mode, power, backend)
        self.spectrogram = spec
        self.n_fft, self.hop_length, self.win_length = spec.n_fft, spec.hop_length, spec.win_length
        self.center, self.pad_mode, self.n_freqs = spec.center, spec.pad_mode, spec.n_freqs
        self.power, self.backend = spec.power, spec.backend
        self.register_buffer(
            "mel_basis", mel_filterbank(sample_rate, self.n_fft, n_mels, fmin, self.fmax))

    def forward(self, x: Tensor) -> Tensor:
        spec = self.spectrogram(x)
        mel = torch.matmul(self.mel_basis.to(spec.dtype), spec)
        if self.log:
            mel = _apply_log(mel, self.log_floor, self.log_base, self.power)
        return mel

    def extra_repr(self) -> str:
        return (f"sample_rate={self.sample_rate:g}, n_mels={self.n_mels}, fmin={self.fmin:g}, "
                f"fmax={self.fmax:g}, log={self.log}, log_base={self.log_base!r}")


# ----------------------------------------------------------------------------- inverses


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
