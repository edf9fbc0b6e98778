"""Silence removal on files: load, cut (see :mod:`sonomorph.audio.silence`), save.

The output keeps the input's format: the same extension (unless the caller names
another), sample rate, channel count (every channel is kept, even beyond stereo) and,
when the output format can hold it, the same sample format (a 24-bit WAV stays 24-bit).
The whole file is held in memory (a 10-minute stereo song at 44.1 kHz is about 200 MB
of float32).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sonomorph.audio import io
from sonomorph.audio.silence import (
    DEFAULT_MIN_GAP,
    DEFAULT_PADDING,
    DEFAULT_TOP_DB,
    check_params,
    remove_silence,
)
from sonomorph.errors import AudioLoadError
from sonomorph.utils.fs import check_output
from sonomorph.utils.progress import ProgressCallback


@dataclass
class SilenceReport:
    """What :meth:`SilenceRemover.process_file` did: seconds in and out, kept intervals
    (input samples, shape (k, 2)) and where it wrote."""

    src: Path
    dst: Path
    sample_rate: int
    seconds_in: float
    seconds_out: float
    intervals: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((0, 2), np.int64))

    @property
    def seconds_removed(self) -> float:
        return self.seconds_in - self.seconds_out

    @property
    def fraction_removed(self) -> float:
        return self.seconds_removed / self.seconds_in if self.seconds_in > 0 else 0.0


MIN_SECONDS = 0.01  # shorter than one analysis hop: nothing meaningful to detect


class SilenceRemover:
    """Remove silences louder than nothing but quieter than ``top_db`` below the peak.

    ``min_gap``: silences shorter than this (seconds) are kept. ``padding``: seconds kept
    around every kept region. Joins are crossfaded over 5 ms.

    >>> out = SilenceRemover(top_db=30).process(wav, sr)          # arrays
    >>> report = SilenceRemover().process_file("in.flac", "out.flac")  # files
    """

    def __init__(self, top_db: float = DEFAULT_TOP_DB, min_gap: float = DEFAULT_MIN_GAP,
                 padding: float = DEFAULT_PADDING):
        check_params(top_db, min_gap, padding)
        self.top_db, self.min_gap, self.padding = float(top_db), float(min_gap), float(padding)

    def process(self, wav: np.ndarray, sr: int, *,
                progress: ProgressCallback | None = None) -> np.ndarray:
        """The audio without its silences ((samples,) or (channels, samples) float32)."""
        out = self._cut(wav, sr)[0]
        if progress is not None:
            progress(1, 1)
        return out

    def _cut(self, wav: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
        return remove_silence(wav, sr, top_db=self.top_db, min_gap=self.min_gap,
                              padding=self.padding)

    def process_file(self, src: str | os.PathLike, dst: str | os.PathLike, *,
                     overwrite: bool = False, bit_depth: str | None = None,
                     progress: ProgressCallback | None = None) -> SilenceReport:
        """Write ``src`` without its silences to ``dst`` (format from ``dst``'s extension).

        ``bit_depth`` ("16", "24", "32f") overrides keeping the input's sample format.
        Raises :class:`AudioLoadError` for an unreadable input or one that is entirely
        (digitally) silent, :class:`AudioSaveError`/:class:`OutputExistsError` for the output.
        """
        src, dst = Path(src), Path(dst)
        fmt = io.output_format(dst)  # fail on an unwritable format or a taken name first
        check_output(dst, overwrite=overwrite, inputs=(src,))
        steps = 3
        if progress:
            progress(0, steps)
        wav, sr = io.load(src, channels="all", min_seconds=MIN_SECONDS)
        if progress:
            progress(1, steps)
        out, intervals = self._cut(wav, sr)
        if out.shape[-1] == 0:
            raise AudioLoadError("the audio is entirely silent: nothing to keep", src)
        if progress:
            progress(2, steps)
        subtype = None
        if bit_depth is None:
            try:
                src_info = io.info(src)
            except AudioLoadError:
                src_info = None
            if src_info is not None and src_info.backend == "soundfile":
                subtype = src_info.subtype
            bit_depth = "16"
        io.save(dst, out, sr, bit_depth=bit_depth, format=fmt, overwrite=overwrite,
                inputs=(src,), subtype=subtype)
        if progress:
            progress(3, steps)
        return SilenceReport(src, dst, sr, wav.shape[-1] / sr, out.shape[-1] / sr, intervals)
