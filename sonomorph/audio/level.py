"""Signal levels: the active RMS of a signal (its loudness while it sounds) and the gain that
brings it to a reference level. Used by the corpus builders (stem levels), the accompanist
(the voice's level before the model) and its training recipe (the same gain at training)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import numpy as np

__all__ = ["active_rms", "active_rms_blocks", "gain_to_rms", "gain_to_rms_blocks",
           "SILENT_RMS"]

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


def _frame_powers(blocks: Iterable[np.ndarray], frame: int
                  ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(mean power of each whole frame, the samples left after the last whole frame so far)
    per block of a mono stream: the frames are those of the concatenated stream."""
    rest = np.zeros(0, np.float64)
    for block in blocks:
        x = np.asarray(block, np.float64).reshape(-1)
        buf = np.concatenate([rest, x]) if rest.size else x
        n = len(buf) // frame
        rest = buf[n * frame:]
        yield np.mean(buf[: n * frame].reshape(n, frame) ** 2, axis=1), rest


def active_rms_blocks(blocks: Callable[[], Iterable[np.ndarray]], *, frame: int = 2048,
                      floor_db: float = -50.0) -> float:
    """:func:`active_rms` of a mono stream too long to hold: ``blocks()`` yields its
    ``(samples,)`` blocks (any sizes) and is called twice, once for the loudest frame and
    once for the frames within ``floor_db`` of it. Memory holds one block and one frame."""
    top, whole, rest = 0.0, 0, np.zeros(0)
    for power, tail in _frame_powers(blocks(), frame):
        rest = tail
        whole += len(power)
        if len(power):
            top = max(top, float(power.max()))
    if whole == 0:  # shorter than a frame: the plain RMS, as active_rms
        return float(np.sqrt(np.mean(rest ** 2))) if len(rest) else 0.0
    if top <= 0:
        return 0.0
    threshold = top * 10 ** (floor_db / 10)
    kept, count = 0.0, 0
    for power, _ in _frame_powers(blocks(), frame):
        keep = power[power > threshold]
        kept += float(keep.sum())
        count += len(keep)
    return float(np.sqrt(kept / count)) if count else 0.0


def gain_to_rms_blocks(blocks: Callable[[], Iterable[np.ndarray]], reference: float) -> float:
    """:func:`gain_to_rms` of a mono stream (see :func:`active_rms_blocks`)."""
    rms = active_rms_blocks(lambda: (np.asarray(b, dtype=np.float32) for b in blocks()))
    return 0.0 if not rms > SILENT_RMS else float(reference / rms)
