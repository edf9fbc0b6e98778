"""The training logger: TensorBoard scalars, audio clips and spectrogram images.

Tasks receive a :class:`TrainLogger` in ``log_samples`` and call ``audio``/``spectrogram``/
``image`` on it; the trainer writes the scalars. Only rank 0 logs: on other ranks (and when
TensorBoard is not installed) every method does nothing, so task code never checks.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

log = logging.getLogger(__name__)


def _mono(audio: Any) -> np.ndarray:
    """(samples,) float32 from a numpy array or tensor shaped (samples,), (channels,
    samples) or (1, channels, samples): channels are averaged."""
    a = audio.detach().float().cpu().numpy() if isinstance(audio, torch.Tensor) else np.asarray(audio)
    a = a.astype(np.float32, copy=False)
    while a.ndim > 2 and a.shape[0] == 1:
        a = a[0]
    if a.ndim == 2:
        a = a.mean(axis=0)
    if a.ndim != 1:
        raise ValueError(f"expected audio shaped (samples,) or (channels, samples), got {a.shape}")
    return np.nan_to_num(a)


def colourise(values: np.ndarray, colormap: str | None = "magma") -> np.ndarray:
    """A 2-D array scaled to [0, 1] (min to max) as an RGB uint8 image (H, W, 3), row 0 at
    the top; ``colormap=None`` gives grey levels."""
    v = np.nan_to_num(np.asarray(values, dtype=np.float64))
    lo, hi = float(v.min()), float(v.max())
    v = (v - lo) / (hi - lo) if hi > lo else np.zeros_like(v)
    if colormap is None:
        grey = (v * 255).round().astype(np.uint8)
        return np.stack([grey] * 3, axis=-1)
    import matplotlib

    rgba = matplotlib.colormaps[colormap](v)
    return (rgba[..., :3] * 255).round().astype(np.uint8)


def log_spectrogram(audio: Any, n_fft: int = 1024, hop_length: int = 256,
                    top_db: float = 80.0) -> np.ndarray:
    """Magnitude in dB, (frequency, frames), clipped to ``top_db`` below its peak."""
    x = torch.from_numpy(_mono(audio))
    if x.numel() < n_fft:
        x = torch.nn.functional.pad(x, (0, n_fft - x.numel()))
    spec = torch.stft(x, n_fft, hop_length=hop_length, window=torch.hann_window(n_fft),
                      return_complex=True).abs()
    db = 20 * torch.log10(spec.clamp_min(1e-8))
    return db.clamp_min(db.max() - top_db).numpy()


class TrainLogger:
    """TensorBoard writer for one run (``log_dir``); inert when ``enabled`` is False."""

    def __init__(self, log_dir: str | os.PathLike, *, enabled: bool = True,
                 purge_step: int | None = None):
        self.log_dir = Path(log_dir)
        self._writer = None
        if not enabled:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            log.warning("TensorBoard is not installed (pip install tensorboard): training "
                        "goes on without logs")
            return
        self.log_dir.mkdir(parents=True, exist_ok=True)
        # purge_step: on resume, TensorBoard drops events logged after the checkpoint by
        # the interrupted run, so curves do not fold back on themselves.
        self._writer = SummaryWriter(str(self.log_dir), purge_step=purge_step)

    @property
    def enabled(self) -> bool:
        return self._writer is not None

    def scalar(self, tag: str, value: float, step: int) -> None:
        if self._writer is not None:
            self._writer.add_scalar(tag, float(value), step)

    def scalars(self, values: Mapping[str, float], step: int, prefix: str = "") -> None:
        """Each value under ``prefix + name`` (``prefix="train/"`` gives ``train/loss``)."""
        for name, value in values.items():
            self.scalar(f"{prefix}{name}", value, step)

    def audio(self, tag: str, audio: Any, step: int, sample_rate: int) -> None:
        """A clip (numpy or tensor, (samples,) or (channels, samples); mixed to mono and
        clipped to [-1, 1])."""
        if self._writer is None:
            return
        clip = np.clip(_mono(audio), -1.0, 1.0)
        self._writer.add_audio(tag, torch.from_numpy(clip)[None], step, sample_rate=int(sample_rate))

    def spectrogram(self, tag: str, audio: Any, step: int, *, n_fft: int = 1024,
                    hop_length: int = 256, top_db: float = 80.0) -> None:
        """The log-magnitude spectrogram of a clip as a colour image, low frequencies at
        the bottom."""
        if self._writer is None:
            return
        db = log_spectrogram(audio, n_fft, hop_length, top_db)
        self.image(tag, db[::-1], step)

    def image(self, tag: str, image: Any, step: int, *, colormap: str | None = "magma") -> None:
        """A 2-D array (any range; row 0 drawn at the top) through ``colormap``, or an RGB
        uint8 / [0, 1] float image shaped (H, W, 3)."""
        if self._writer is None:
            return
        a = image.detach().float().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
        if a.ndim == 2:
            a = colourise(a, colormap)
        elif not (a.ndim == 3 and a.shape[-1] == 3):
            raise ValueError(f"expected a 2-D array or an (H, W, 3) image, got {a.shape}")
        self._writer.add_image(tag, np.ascontiguousarray(a), step, dataformats="HWC")

    def text(self, tag: str, text: str, step: int) -> None:
        if self._writer is not None:
            self._writer.add_text(tag, text, step)

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
