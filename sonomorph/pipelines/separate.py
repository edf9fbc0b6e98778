"""Karaoke: split a song into vocals and accompaniment, any length, in constant memory.

``Separator(model="default")`` loads the shipped separator (or a ``.safetensors`` file, or
takes a model object). :meth:`Separator.separate` works on an array,
:meth:`Separator.separate_file` streams a file of any length to ``<out>/<track>/vocals.<ext>``
and ``<out>/<track>/karaoke.<ext>``.

How a song of any length is processed with bounded memory:

1. The file is read block by block (:func:`sonomorph.audio.io.iter_blocks`); mono is
   duplicated to stereo for the model, more channels were downmixed (with a warning).
2. The blocks are resampled to the model's 44.1 kHz with a streaming soxr resampler.
3. :class:`~sonomorph.pipelines.engine.ChunkEngine` cuts the stream into chunks (30 s by default) that overlap by a
   fraction (``overlap``, 0.1 by default: 3 s); the model estimates the vocals of each
   chunk, and consecutive chunks are cross-faded over the overlap with complementary
   raised-cosine weights (they sum to one), so there is no seam and no level change.
4. The vocals are resampled back to the input's rate (streaming) and the accompaniment is
   the input minus the vocals, at the input's rate: the two stems add up to the input
   exactly, and content the model never saw (above 22 kHz in a 96 kHz file) stays in the
   karaoke track.
5. Both stems are written block by block into temporary files that are renamed onto the
   outputs only when everything succeeded (:func:`sonomorph.utils.fs.atomic_path`).

At most one chunk plus one block plus the resamplers' filters are held at any time, so
memory does not grow with the song's length (see ``benchmarks/separation.py``).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import soxr
import torch
from torch import nn

from sonomorph.audio import blockwriter
from sonomorph.audio import io as audio_io
from sonomorph.errors import AudioLoadError, ConfigError, InputTooShortError
from sonomorph.pipelines.engine import ChunkEngine, ResampledChunkEngine
from sonomorph.utils.fs import check_output
from sonomorph.utils.progress import ProgressCallback

log = logging.getLogger(__name__)

__all__ = ["Separator", "ChunkEngine", "STEM_FILES", "DEFAULT_TEMPLATE", "output_paths"]

#: File stems written for each choice of ``stems``: the accompaniment file is "karaoke".
STEM_FILES = {"vocals": ("vocals",), "karaoke": ("karaoke",), "both": ("vocals", "karaoke")}
DEFAULT_TEMPLATE = "{track}/{source}"
OUTPUT_FORMATS = ("wav", "flac", "mp3", "ogg")
_READ_BLOCK_S = 10.0  # seconds read from the file at a time


def output_paths(path: str | os.PathLike, out_dir: str | os.PathLike, *,
                 stems: str = "both", format: str = "wav",
                 filename: str = DEFAULT_TEMPLATE) -> dict[str, Path]:
    """Output file of each source for input ``path``: ``filename`` is formatted with
    ``track`` (the input's name without extension; ``stem`` is an alias) and ``source``
    (``vocals`` or ``karaoke``), then ``.<format>`` is appended."""
    if stems not in STEM_FILES:
        raise ConfigError(f"stems must be vocals, karaoke or both, not {stems!r}")
    track = Path(path).stem
    out: dict[str, Path] = {}
    for source in STEM_FILES[stems]:
        try:
            name = filename.format(track=track, stem=track, source=source)
        except (KeyError, IndexError, ValueError) as exc:
            raise ConfigError(f"bad --filename template {filename!r}: use {{track}} and "
                              f"{{source}} ({exc})") from None
        if "{source}" not in filename and len(STEM_FILES[stems]) > 1:
            raise ConfigError(f"--filename template {filename!r} must contain {{source}} "
                              "when writing both stems")
        out[source] = Path(out_dir) / f"{name}.{format}"
    return out


# ----------------------------------------------------------------------------- separator


class Separator:
    """Vocals / accompaniment separation with a mask network.

    ``model`` is ``"default"`` (the shipped model), a path to a ``.safetensors`` model, or
    an ``nn.Module`` that maps ``(batch, 2, samples)`` to ``(batch, 2, 2, samples)``
    (vocals, accompaniment) and has a ``sample_rate`` attribute. ``chunk_seconds`` and
    ``overlap`` (a fraction of the chunk) set the chunking; ``wiener_iterations > 0`` turns on
    the multichannel Wiener refinement of the model (slower).
    """

    def __init__(self, model: str | os.PathLike | nn.Module = "default", *,
                 device: str | torch.device = "cpu", chunk_seconds: float = 30.0,
                 overlap: float = 0.1, wiener_iterations: int = 0) -> None:
        if not 0.0 <= overlap < 1.0:
            raise ConfigError(f"overlap must be in [0, 1), got {overlap}")
        if not chunk_seconds > 0:
            raise ConfigError(f"chunk length must be positive, got {chunk_seconds}")
        if isinstance(model, nn.Module):
            self.model, self.meta = model, {}
        else:
            from sonomorph.models import load_model, resolve_model

            path = resolve_model(None if model == "default" else model, "separator")
            self.model, self.meta = load_model(path, expect="separator")
        self.device = torch.device(device)
        self.model = self.model.to(self.device).eval()
        self.sample_rate = int(getattr(self.model, "sample_rate", 44100))
        self.chunk = max(1, int(round(chunk_seconds * self.sample_rate)))
        self.overlap = min(int(round(overlap * self.chunk)), self.chunk - 1)
        self.wiener_iterations = int(wiener_iterations)
        config = getattr(self.model, "config", None)
        n_fft = int(getattr(config, "n_fft", 4096))
        self.min_model_samples = n_fft  # shorter chunks are zero-padded to this
        # Shortest input accepted: one STFT window (93 ms at 44.1 kHz).
        self.min_seconds = n_fft / self.sample_rate

    # ------------------------------------------------------------------ model calls

    def _vocals(self, chunk: np.ndarray) -> torch.Tensor:
        """Model vocals of one stereo chunk at the model rate, ``(2, n)``, left on the
        model's device (the chunks are cross-faded there)."""
        n = chunk.shape[-1]
        x = torch.from_numpy(np.ascontiguousarray(chunk, dtype=np.float32))
        if n < self.min_model_samples:
            x = torch.nn.functional.pad(x, (0, self.min_model_samples - n))
        with torch.inference_mode():
            x = x.to(self.device)[None]
            if self.wiener_iterations:
                y = self.model(x, wiener_iterations=self.wiener_iterations)
            else:
                y = self.model(x)
            # A [0, 1] mask of a finite input is finite; only a custom model could do worse.
            return torch.nan_to_num(y[0, 0, :, :n].float(), nan=0.0, posinf=0.0, neginf=0.0)

    def _min_samples(self, sr: int) -> int:
        return max(2, math.ceil(self.min_seconds * sr))

    # ------------------------------------------------------------------ streaming core

    def stream(self, blocks: Iterable[np.ndarray], sr: int, *,
               progress: ProgressCallback | None = None, total: int | None = None,
               name: str | os.PathLike | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Separate a stream of ``(channels, n)`` float32 blocks (1 or 2 channels, at
        ``sr``); yields ``(vocals, accompaniment)`` blocks at ``sr`` with the input's
        channel count, in order, summing to the input. ``progress(done, total)`` counts
        input samples. Raises :class:`InputTooShortError` for input shorter than
        :attr:`min_seconds`."""
        sr = int(sr)
        engine = ResampledChunkEngine(self._vocals, self.chunk, self.overlap, rate=sr,
                                      model_rate=self.sample_rate, channels=2, out_channels=2)
        channels: int | None = None
        seen = 0
        min_n = self._min_samples(sr)

        def stems(pairs: list[tuple[np.ndarray, np.ndarray]]
                  ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
            for original, vocals in pairs:
                if channels == 1:
                    vocals = vocals.mean(axis=0, keepdims=True)
                vocals = vocals.astype(np.float32, copy=False)
                yield vocals, (original - vocals).astype(np.float32)

        blocks = iter(blocks)
        for block in blocks:
            block = np.asarray(block, dtype=np.float32)
            if block.ndim == 1:
                block = block[None]
            if channels is None:
                channels = block.shape[0]
                if channels not in (1, 2):
                    raise ConfigError(f"expected 1 or 2 channels, got {channels}")
            if block.shape[-1] == 0:
                continue
            if seen == 0 and block.shape[-1] < min_n:
                # Gather enough to tell a too-short input from a small first block.
                more = [block]
                for extra in blocks:
                    more.append(np.asarray(extra, dtype=np.float32).reshape(channels, -1))
                    if sum(b.shape[-1] for b in more) >= min_n:
                        break
                block = np.concatenate(more, axis=-1)
                if block.shape[-1] < min_n:
                    raise InputTooShortError(
                        f"too short to separate: {block.shape[-1]} samples "
                        f"({block.shape[-1] / sr:.4f} s at {sr} Hz); at least "
                        f"{self.min_seconds:.3f} s needed", name)
            seen += block.shape[-1]
            stereo = block if channels == 2 else np.repeat(block, 2, axis=0)
            yield from stems(engine.push(block, stereo))
            if progress is not None:
                progress(seen, total if total is not None else seen)
        if seen == 0:
            raise InputTooShortError("no audio samples to separate", name)
        yield from stems(engine.finish())
        if progress is not None:
            progress(seen, seen)

    # ------------------------------------------------------------------ public API

    def separate(self, wav: np.ndarray, sr: int, *,
                 progress: ProgressCallback | None = None) -> dict[str, np.ndarray]:
        """Separate an array: ``(samples,)`` or ``(channels, samples)`` float audio at
        ``sr`` Hz (any rate; more than two channels are downmixed with a warning).
        Returns ``{"vocals", "accompaniment"}``, each shaped like the (downmixed) input at
        ``sr``; they sum to the input."""
        x = np.asarray(wav, dtype=np.float32)
        if x.ndim == 1:
            x = x[None]
        if x.ndim != 2 or x.shape[0] == 0:
            raise ConfigError(f"expected audio shaped (channels, samples), got {x.shape}")
        if x.shape[0] > 64 and x.shape[1] <= 64:
            raise ConfigError(f"got {x.shape[0]} channels: pass (channels, samples)")
        if not np.isfinite(x).all():
            raise AudioLoadError("input holds NaN or infinite samples")
        x = audio_io.mix_channels(x, None)
        step = int(_READ_BLOCK_S * sr)
        blocks = (x[:, i: i + step] for i in range(0, x.shape[1], step))
        parts = list(self.stream(blocks, sr, progress=progress, total=x.shape[1]))
        vocals = np.concatenate([p[0] for p in parts], axis=-1)
        acc = np.concatenate([p[1] for p in parts], axis=-1)
        return {"vocals": vocals, "accompaniment": acc}

    def separate_file(self, path: str | os.PathLike, out_dir: str | os.PathLike, *,
                      stems: str = "both", format: str = "wav", bit_depth: str = "16",
                      filename: str = DEFAULT_TEMPLATE, overwrite: bool = False,
                      skip_existing: bool = False,
                      progress: ProgressCallback | None = None) -> dict[str, Path]:
        """Separate an audio file into ``out_dir`` (default names
        ``<track>/vocals.<format>`` and ``<track>/karaoke.<format>``); returns
        ``{source: path}``. Streams: memory does not depend on the file's length.

        Outputs keep the input's sample rate and channel count (mp3 at a rate mp3 cannot
        hold is written at 44.1 kHz). An existing output raises
        :class:`~sonomorph.errors.OutputExistsError` before any work unless ``overwrite``;
        with ``skip_existing`` a file whose outputs all exist is left alone (the paths are
        returned and nothing is computed).
        """
        path = Path(path)
        blockwriter.check_block_format(format, str(bit_depth))
        outputs = output_paths(path, out_dir, stems=stems, format=format, filename=filename)
        if skip_existing and all(p.exists() for p in outputs.values()):
            return outputs
        for p in outputs.values():
            check_output(p, overwrite=overwrite, inputs=[path])
        meta = audio_io.info(path)
        sr = meta.sample_rate
        if meta.backend == "soundfile" and meta.frames < self._min_samples(sr):
            raise InputTooShortError(
                f"too short to separate: {meta.frames} samples ({meta.frames / sr:.4f} s); "
                f"at least {self.min_seconds:.3f} s needed", path)
        out_sr = sr
        if format == "mp3" and sr not in audio_io.MP3_RATES:
            out_sr = self.sample_rate
            log.info("%s: mp3 cannot hold %d Hz; writing %d Hz", path, sr, out_sr)
        # iter_blocks warns (naming the file) when it downmixes more than two channels.
        blocks = audio_io.iter_blocks(path, int(_READ_BLOCK_S * sr), channels=None)
        channels = min(meta.channels, 2)
        self._write(path, blocks, sr, out_sr, channels, outputs, format, str(bit_depth),
                    overwrite, progress, meta.frames)
        return outputs

    def _write(self, path: Path, blocks: Iterator[np.ndarray], sr: int, out_sr: int,
               channels: int, outputs: dict[str, Path], fmt: str, bit_depth: str,
               overwrite: bool, progress: ProgressCallback | None, total: int) -> None:
        index = {"vocals": 0, "karaoke": 1}
        back = None
        if out_sr != sr:
            back = soxr.ResampleStream(sr, out_sr, 2 * channels, dtype="float32", quality="HQ")
        with blockwriter.block_writers(outputs, fmt, out_sr, channels, bit_depth,
                                    overwrite=overwrite, inputs=[path]) as writers:
            pairs = self.stream(blocks, sr, progress=progress, total=total, name=path)
            for last, (vocals, acc) in _mark_last(pairs):
                both = np.concatenate([vocals, acc], axis=0)
                if back is not None:
                    both = np.ascontiguousarray(
                        back.resample_chunk(np.ascontiguousarray(both.T), last=last).T)
                for source, writer in writers.items():
                    i = index[source]
                    writer.write(both[i * channels:(i + 1) * channels])


    # ------------------------------------------------------------------ the pipeline contract

    def process(self, wav: np.ndarray, sr: int, *,
                progress: ProgressCallback | None = None) -> dict[str, np.ndarray]:
        """The pipeline contract's name for :meth:`separate`."""
        return self.separate(wav, sr, progress=progress)

    def process_file(self, src: str | os.PathLike, out: str | os.PathLike, *,
                     overwrite: bool = False, progress: ProgressCallback | None = None,
                     **options) -> dict[str, Path]:
        """The pipeline contract's name for :meth:`separate_file` (``out`` is a folder;
        ``options``: stems, format, bit_depth, filename, skip_existing)."""
        return self.separate_file(src, out, overwrite=overwrite, progress=progress, **options)


def _mark_last(it: Iterable[tuple[np.ndarray, np.ndarray]]
               ) -> Iterator[tuple[bool, tuple[np.ndarray, np.ndarray]]]:
    """(is_last, item) pairs (the output resampler must be told which block ends it)."""
    prev = None
    for item in it:
        if prev is not None:
            yield False, prev
        prev = item
    if prev is not None:
        yield True, prev


def separate_files(separator: Separator, paths: Sequence[str | os.PathLike],
                   out_dir: str | os.PathLike, **options) -> list[dict[str, Path]]:
    """Convenience: :meth:`Separator.separate_file` for each path, in order."""
    return [separator.separate_file(p, out_dir, **options) for p in paths]
