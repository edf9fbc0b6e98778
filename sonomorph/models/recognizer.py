"""Words kept: pocketsphinx's English recogniser and the word error rate against known text.

:class:`Recognizer` wraps pocketsphinx's English model (it ships in the wheel; nothing is
registered or downloaded). :func:`word_error_rate` compares a recognition with the known
text of a clip, which sits beside the audio as ``<stem>.txt`` (the layout of the scream
corpus's ``test-text/``): :func:`text_clips` finds such clips, :func:`clip_text` reads one.
The evaluation (``sonomorph eval scream``, ``eval style``) and the scream recipe's
validation (``val_text``) both use them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from sonomorph.errors import DependencyError

__all__ = ["Recognizer", "word_error_rate", "require_pocketsphinx", "with_text", "text_clips",
           "clip_text"]


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def word_error_rate(reference: str, hypothesis: str) -> float:
    """(substitutions + deletions + insertions) / reference words (Levenshtein on words)."""
    ref, hyp = _words(reference), _words(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1] / len(ref)


def require_pocketsphinx():
    """pocketsphinx's ``Decoder`` class; :class:`DependencyError` when it is not installed."""
    try:
        from pocketsphinx import Decoder
    except ImportError as exc:
        raise DependencyError(f"word error rate needs pocketsphinx ({exc}); "
                              "pip install pocketsphinx") from None
    return Decoder


class Recognizer:
    """pocketsphinx's English recogniser on float audio at any rate (resampled to 16 kHz)."""

    def __init__(self) -> None:
        self.decoder = require_pocketsphinx()(samprate=16000, loglevel="FATAL")

    def __call__(self, x: np.ndarray, sr: int) -> str:
        from sonomorph.audio.io import resample

        y = resample(np.asarray(x, np.float32).reshape(-1), sr, 16000)
        peak = float(np.max(np.abs(y))) if y.size else 0.0
        y = y / peak * 0.9 if peak > 1e-6 else y
        self.decoder.start_utt()
        self.decoder.process_raw((y * 32767).astype(np.int16).tobytes(), full_utt=True)
        self.decoder.end_utt()
        hyp = self.decoder.hyp()
        return hyp.hypstr if hyp is not None else ""


def with_text(files: Iterable[str | os.PathLike]) -> list[Path]:
    """Those of ``files`` with a known text (a ``<stem>.txt`` beside them)."""
    return [Path(p) for p in files if Path(p).with_suffix(".txt").is_file()]


def text_clips(folder: str | os.PathLike) -> list[Path]:
    """The audio files of ``folder`` (and its subfolders, sorted) with a known text."""
    from sonomorph.audio.io import find_audio_files

    return with_text(find_audio_files(folder))


def clip_text(clip: str | os.PathLike) -> str:
    """The known text of ``clip``: its ``<stem>.txt``."""
    return Path(clip).with_suffix(".txt").read_text("utf-8", "replace")
