"""A voice's pitch: its median fundamental frequency, and a pitch shift that keeps the length.

:func:`median_f0` is librosa's probabilistic YIN (pYIN, Mauch & Dixon 2014) over the clip,
the median of the frames it finds voiced; :func:`shift_pitch` is librosa's pitch shift (a
phase-vocoder time stretch then a resampling back to the length), so the duration and the
timing of the words stay. :func:`match_pitch` moves one clip's median f0 onto another's:
the pitch-matching step of the speaker-aware style transfer.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["median_f0", "shift_pitch", "semitones_between", "match_pitch", "F0_RANGE"]

F0_RANGE = (55.0, 600.0)  #: Hz searched: low male speech to high child speech


def median_f0(wav: np.ndarray, sr: int, *, fmin: float = F0_RANGE[0],
              fmax: float = F0_RANGE[1]) -> float:
    """The median f0 (Hz) over the voiced frames of a mono clip; NaN when none is voiced."""
    import librosa

    x = np.asarray(wav, dtype=np.float32).reshape(-1)
    frame = 1 << max(10, int(math.ceil(math.log2(2.2 * sr / fmin))))  # two longest periods
    if x.shape[0] < frame:
        x = np.pad(x, (0, frame - x.shape[0]))
    f0, voiced, _ = librosa.pyin(x, fmin=fmin, fmax=fmax, sr=sr, frame_length=frame)
    good = f0[np.asarray(voiced, dtype=bool) & np.isfinite(f0)]
    return float(np.median(good)) if good.size else float("nan")


def semitones_between(f_from: float, f_to: float) -> float:
    """``12 log2(f_to / f_from)``; 0 when either is not a positive finite frequency."""
    if not (np.isfinite(f_from) and np.isfinite(f_to) and f_from > 0 and f_to > 0):
        return 0.0
    return 12.0 * math.log2(f_to / f_from)


def shift_pitch(wav: np.ndarray, sr: int, semitones: float) -> np.ndarray:
    """``wav`` (mono) ``semitones`` higher (negative: lower), same length."""
    import librosa

    x = np.asarray(wav, dtype=np.float32).reshape(-1)
    if abs(semitones) < 1e-3:
        return x.copy()
    y = librosa.effects.pitch_shift(x, sr=sr, n_steps=float(semitones))
    return np.asarray(y, dtype=np.float32)[: x.shape[0]]


def match_pitch(wav: np.ndarray, sr: int, target: np.ndarray, target_sr: int | None = None, *,
                max_semitones: float = 12.0) -> tuple[np.ndarray, dict[str, float]]:
    """``wav`` shifted so that its median f0 lands on ``target``'s (the shift clipped to
    +-``max_semitones``), and what was measured: ``f0_content``, ``f0_style`` (Hz, NaN
    when unvoiced: then nothing moves) and ``pitch_shift`` (semitones applied)."""
    f_from = median_f0(wav, sr)
    f_to = median_f0(target, target_sr or sr)
    shift = float(np.clip(semitones_between(f_from, f_to), -max_semitones, max_semitones))
    return shift_pitch(wav, sr, shift), {"f0_content": f_from, "f0_style": f_to,
                                         "pitch_shift": shift}
