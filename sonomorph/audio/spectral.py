"""Spectral transforms as ``torch.nn.Module`` s: STFT, ISTFT and (mel) spectrograms; their
inverses (mel to linear, Griffin-Lim) are in :mod:`sonomorph.audio.inverse`.

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

__all__ = ["STFT", "ISTFT", "Spectrogram", "MelSpectrogram", "make_window", "mel_filterbank"]

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
