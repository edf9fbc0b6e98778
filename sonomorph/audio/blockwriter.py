"""Writing one audio file block by block, for outputs of any length in constant memory
(:func:`sonomorph.audio.io.save` writes whole arrays, with the same format conventions)."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import numpy as np
import soundfile as sf

from sonomorph.audio.io import LOSSY_ENCODERS, PCM_SUBTYPES, write_frames
from sonomorph.errors import AudioSaveError, ConfigError
from sonomorph.utils.fs import atomic_path

log = logging.getLogger(__name__)

_SOUNDFILE_FORMATS = {"wav": "WAV", "flac": "FLAC", "mp3": "MP3", "ogg": "OGG"}


class BlockWriter:
    """Write one file block by block (``write`` takes ``(channels, n)`` float arrays), for
    outputs of any length in constant memory; :func:`~sonomorph.audio.io.save` writes whole
    arrays.

    ``fmt`` is wav, flac, mp3 or ogg with :func:`~sonomorph.audio.io.save`'s conventions: 16/24-bit PCM or
    32-bit float (``bit_depth``), mp3 VBR, Ogg Vorbis; integer and lossy formats are
    clipped to [-1, 1] and :attr:`clipped` counts the clipped samples. Write into a path
    from :func:`~sonomorph.utils.fs.atomic_path` so a failure leaves no half-written file.
    """

    FORMATS = ("wav", "flac", "mp3", "ogg")

    def __init__(self, path: str | os.PathLike, fmt: str, sr: int, channels: int,
                 bit_depth: str = "16"):
        check_block_format(fmt, str(bit_depth))
        self.clip = True
        sf_format = _SOUNDFILE_FORMATS[fmt]
        kwargs: dict = {}
        if sf_format in LOSSY_ENCODERS:
            subtype, kwargs = LOSSY_ENCODERS[sf_format]
        else:
            subtype = PCM_SUBTYPES[str(bit_depth)]
            self.clip = subtype != "FLOAT"
        self.clipped = 0
        self.file = sf.SoundFile(path, "w", samplerate=int(sr), channels=int(channels),
                                 format=sf_format, subtype=subtype, **kwargs)

    def write(self, block: np.ndarray) -> None:
        if self.clip:
            over = np.abs(block) > 1.0
            if over.any():
                self.clipped += int(over.sum())
                block = np.clip(block, -1.0, 1.0)
        write_frames(self.file, np.asarray(block, dtype=np.float32).T)

    def close(self) -> None:
        self.file.close()


def check_block_format(fmt: str, bit_depth: str) -> None:
    """ConfigError unless :class:`BlockWriter` can write ``fmt`` at ``bit_depth``."""
    if fmt not in BlockWriter.FORMATS:
        raise ConfigError(f"output format must be one of {', '.join(BlockWriter.FORMATS)}, "
                          f"not {fmt!r}")
    if bit_depth not in PCM_SUBTYPES:
        raise ConfigError(f"bit depth must be 16, 24 or 32f, not {bit_depth!r}")
    if fmt == "flac" and bit_depth == "32f":
        raise ConfigError("flac cannot hold 32-bit float samples (use 16 or 24, or wav)")


@contextlib.contextmanager
def block_writers(targets: Mapping[str, Path], fmt: str, sr: int, channels: int,
                  bit_depth: str = "16", *, overwrite: bool = False,
                  inputs: Iterable[str | os.PathLike] = ()
                  ) -> Iterator[dict[str, BlockWriter]]:
    """One :class:`BlockWriter` per target (same keys), each writing into an atomic
    temporary (:func:`~sonomorph.utils.fs.atomic_path`) that is renamed onto its target
    only when the ``with`` block ends without an error, and removed otherwise. A file that
    cannot be opened raises :class:`AudioSaveError`; clipped samples are logged."""
    with contextlib.ExitStack() as stack:
        writers: dict[str, BlockWriter] = {}
        try:
            try:
                for name, target in targets.items():
                    tmp = stack.enter_context(atomic_path(target, overwrite=overwrite,
                                                          inputs=inputs))
                    writers[name] = BlockWriter(tmp, fmt, sr, channels, bit_depth)
            except (sf.LibsndfileError, RuntimeError, OSError) as exc:
                raise AudioSaveError(f"cannot write {fmt}: {exc}",
                                     next(iter(targets.values()))) from None
            yield writers
        finally:
            for w in writers.values():
                w.close()
        for name, w in writers.items():
            if w.clipped:
                log.warning("%s: %d samples clipped to [-1, 1]", targets[name], w.clipped)
