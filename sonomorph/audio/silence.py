"""Silence removal on arrays: keep what is louder than ``top_db`` below the peak.

Detection is librosa's :func:`librosa.effects.split` (frame RMS compared with the
loudest frame, all channels together). On top of it:

* gaps between loud regions shorter than ``min_gap`` seconds are kept (the pauses
  between words or notes stay; only real silences go);
* ``padding`` seconds are kept on each side of every kept region, so attacks and decays
  are not clipped;
* consecutive kept regions are joined with a short equal-gain raised-cosine crossfade,
  and a cut at the very start or end gets a short fade, so no join clicks.

The file-level pipeline (formats, batches) is :mod:`sonomorph.pipelines.silence`.
"""

from __future__ import annotations

import numpy as np

from sonomorph.errors import ConfigError

DEFAULT_TOP_DB = 30.0
DEFAULT_MIN_GAP = 0.1
DEFAULT_PADDING = 0.05
DEFAULT_CROSSFADE = 0.005


def check_params(top_db: float, min_gap: float, padding: float, crossfade: float = 0.0) -> None:
    """Raise :class:`ConfigError` for values that make no sense."""
    if not np.isfinite(top_db) or top_db <= 0:
        raise ConfigError(f"top_db must be a positive number of decibels, not {top_db}")
    for name, value in (("min_gap", min_gap), ("padding", padding), ("crossfade", crossfade)):
        if not np.isfinite(value) or value < 0:
            raise ConfigError(f"{name} must be a number of seconds >= 0, not {value}")


def _frames(sr: int) -> tuple[int, int]:
    """Analysis frame and hop: about 46 ms and 11.6 ms (librosa's 2048/512 at 44.1 kHz)."""
    frame = 1 << max(6, int(round(np.log2(max(1, sr) * 0.0464))))
    return frame, frame // 4


def detect_nonsilent(wav: np.ndarray, sr: int, top_db: float = DEFAULT_TOP_DB) -> np.ndarray:
    """Intervals ``[start, end)`` (samples, shape (k, 2)) louder than ``top_db`` below the
    peak. A digitally silent signal has none."""
    x = np.asarray(wav, dtype=np.float32)
    if x.size == 0 or not np.any(x):
        return np.zeros((0, 2), dtype=np.int64)
    import librosa  # heavy import, only when needed

    frame, hop = _frames(sr)
    intervals = librosa.effects.split(x, top_db=top_db, frame_length=frame, hop_length=hop)
    return np.asarray(intervals, dtype=np.int64).reshape(-1, 2)


def kept_intervals(nonsilent: np.ndarray, n: int, sr: int, *, min_gap: float = DEFAULT_MIN_GAP,
                   padding: float = DEFAULT_PADDING) -> np.ndarray:
    """Merge detected regions across gaps shorter than ``min_gap``, widen each by
    ``padding`` (clipped to the signal), and merge what then touches or overlaps."""
    if len(nonsilent) == 0:
        return np.zeros((0, 2), dtype=np.int64)
    gap, pad = int(round(min_gap * sr)), int(round(padding * sr))
    merged: list[list[int]] = []
    for start, end in nonsilent:
        if merged and start - merged[-1][1] < gap:
            merged[-1][1] = max(merged[-1][1], int(end))
        else:
            merged.append([int(start), int(end)])
    out: list[list[int]] = []
    for start, end in merged:
        start, end = max(0, start - pad), min(n, end + pad)
        if out and start <= out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return np.asarray(out, dtype=np.int64).reshape(-1, 2)


def _fade(n: int) -> np.ndarray:
    """A raised-cosine fade-in of n samples (0 -> 1); fade-out is its reverse. A fade-in
    and the matching fade-out sum to exactly 1, so a join of correlated audio keeps its
    level."""
    t = (np.arange(n, dtype=np.float64) + 0.5) / n
    return np.sin(0.5 * np.pi * t).astype(np.float32) ** 2


def join(wav: np.ndarray, intervals: np.ndarray, sr: int,
         crossfade: float = DEFAULT_CROSSFADE) -> np.ndarray:
    """Concatenate ``wav[:, start:end]`` for each interval, crossfading the joins over up
    to ``crossfade`` seconds (shorter when a piece is shorter), and fading in/out where a
    piece starts or ends inside the signal."""
    x = np.asarray(wav, dtype=np.float32)
    squeeze = x.ndim == 1
    x = x[None, :] if squeeze else x
    n = x.shape[-1]
    xf = max(1, int(round(crossfade * sr)))
    out: np.ndarray | None = None
    for i, (start, end) in enumerate(intervals):
        piece = x[:, start:end].copy()
        if piece.shape[1] == 0:
            continue
        if out is None:
            if start > 0:  # cut at the beginning: fade in
                k = min(xf, piece.shape[1])
                piece[:, :k] *= _fade(k)
            out = piece
        else:
            k = min(xf, piece.shape[1], out.shape[1])
            ramp = _fade(k)
            tail = out[:, -k:] * ramp[::-1] + piece[:, :k] * ramp
            out = np.concatenate([out[:, :-k], tail, piece[:, k:]], axis=1)
        if i == len(intervals) - 1 and end < n:  # cut at the end: fade out
            k = min(xf, out.shape[1])
            out[:, -k:] *= _fade(k)[::-1]
    if out is None:
        out = np.zeros((x.shape[0], 0), dtype=np.float32)
    return out[0] if squeeze else out


def remove_silence(wav: np.ndarray, sr: int, *, top_db: float = DEFAULT_TOP_DB,
                   min_gap: float = DEFAULT_MIN_GAP, padding: float = DEFAULT_PADDING,
                   crossfade: float = DEFAULT_CROSSFADE) -> tuple[np.ndarray, np.ndarray]:
    """Remove the silent parts of ``wav`` ((samples,) or (channels, samples)).

    Returns the shortened audio (same shape convention, float32) and the kept intervals
    ``[start, end)`` in input samples, shape (k, 2). A digitally silent input gives an
    empty array and no intervals; the caller decides whether that is an error.
    """
    check_params(top_db, min_gap, padding, crossfade)
    x = np.asarray(wav, dtype=np.float32)
    if not np.isfinite(x).all():
        raise ConfigError("audio contains NaN or infinite samples")
    n = x.shape[-1]
    intervals = kept_intervals(detect_nonsilent(x, sr, top_db), n, sr,
                               min_gap=min_gap, padding=padding)
    if len(intervals) == 1 and intervals[0, 0] == 0 and intervals[0, 1] == n:
        return x.copy(), intervals
    return join(x, intervals, sr, crossfade), intervals
