"""Signal levels: the active RMS of a signal (its loudness while it sounds) and the gain that
brings it to a reference level. Used by the corpus builders (stem levels), the accompanist
(the voice's level before the model) and its training recipe (the same gain at training)."""

from __future__ import annotations

import numpy as np

__all__ = ["active_rms", "gain_to_rms", "SILENT_RMS"]

SILENT_RMS = 1e-6  # below this (-120 dBFS) a signal counts as silence


def active_rms(x: np.ndarray, *, frame: int = 2048, floor_db: float = -50.0) -> float:
    """RMS over the frames that are not silent (relative to the loudest frame), so a
    stem that plays half the time is not judged quieter than it sounds. ``x`` is
    ``(samples,)`` or ``(channels, samples)`` (channels averaged first)."""
    x = np.asarray(x)
    mono = np.mean(np.asarray(x, np.float64).reshape(-1, x.shape[-1]), axis=0)
    n = len(mono) // frame
    if n == 0:
        return float(np.sqrt(np.mean(mono**2))) if len(mono) else 0.0
    power = np.mean(mono[: n * frame].reshape(n, frame) ** 2, axis=1)
    top = float(power.max())
    if top <= 0:
        return 0.0
    keep = power > top * 10 ** (floor_db / 10)
    return float(np.sqrt(np.mean(power[keep])))


def gain_to_rms(x: np.ndarray, reference: float) -> float:
    """The gain that brings the active RMS of ``x`` to ``reference``; 0.0 for silence
    (active RMS at or below :data:`SILENT_RMS`: no gain can be measured)."""
    rms = active_rms(np.asarray(x, dtype=np.float32))
    return 0.0 if not rms > SILENT_RMS else float(reference / rms)
