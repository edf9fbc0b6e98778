"""The long-audio engine: chunking, overlap, cross-fading and streaming, for every pipeline.

A model sees a bounded amount of audio at a time; a pipeline cuts any length into chunks,
runs the model on each, and joins the outputs so that no seam is heard and the level does
not change. Every pipeline does it with the pieces here, on one ramp:

* :func:`fade_in` is the one raised-cosine ramp. Its mirror image is ``1 - ramp``
  (``ramp[::-1] == 1 - ramp``), so a fade-out and the next fade-in always sum to one.
* :class:`ChunkEngine` streams: blocks of any size in, final output out, through chunks of
  ``chunk`` samples overlapping by ``overlap`` and cross-faded (the separator; the
  accompanist's long inputs). :func:`apply_chunked` runs it over a whole array.
* :class:`ResampledChunkEngine` is a :class:`ChunkEngine` at the model's sample rate for a
  stream at another rate (streaming soxr both ways), whose outputs come back paired with
  the input samples they belong to (the separator's and the accompanist's files).
* :func:`chunked_with_context` is for models with a known receptive field (``past`` and
  ``future`` samples, frames of ``hop``): each chunk is computed with its full context, so
  the joined output equals the whole-array output (the scream model's offline path;
  its real-time engine is :class:`sonomorph.pipelines.streaming.StreamingEngine`).
* :func:`tile_starts` and :func:`crossfade_weights` place overlapping tiles over a
  spectrogram image and weight them for a normalised overlap-add (the accompanist).

Blocks may be numpy arrays or torch tensors: a chunk function that keeps tensors on the
model's device gets its cross-fades computed there, with no copy back to the CPU inside
the chunk loop.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from sonomorph.errors import ConfigError
from sonomorph.utils.progress import ProgressCallback

__all__ = ["fade_in", "ChunkEngine", "ResampledChunkEngine", "apply_chunked", "chunked_with_context", "tile_starts",
           "crossfade_weights", "context_window"]


def fade_in(n: int) -> np.ndarray:
    """The raised-cosine ramp 0 -> 1 of ``n`` samples (float32), sampled at half-sample
    offsets so that ``fade_in(n)[::-1] == 1 - fade_in(n)``: a fade-out (``1 - ramp``) and
    the matching fade-in sum to exactly one at every sample."""
    if n <= 0:
        return np.zeros(0, dtype=np.float32)
    i = (np.arange(n, dtype=np.float64) + 0.5) / n
    return (0.5 - 0.5 * np.cos(np.pi * i)).astype(np.float32)


def _is_tensor(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


def _cat(parts: Sequence[Any]) -> Any:
    if len(parts) == 1:
        return parts[0]
    if _is_tensor(parts[0]):
        import torch

        return torch.cat(list(parts), dim=-1)
    return np.concatenate(parts, axis=-1)


def _like(ramp: np.ndarray, y: Any) -> Any:
    """``ramp`` as an array that broadcasts with ``y`` (a tensor on ``y``'s device)."""
    if _is_tensor(y):
        import torch

        return torch.from_numpy(ramp).to(device=y.device, dtype=y.dtype)
    return ramp


def _float(y: Any) -> Any:
    if _is_tensor(y):
        return y.float().clone()
    return np.array(y, dtype=np.float32)


class ChunkEngine:
    """Apply ``fn`` ((C, n) -> (C, n)) to a stream of blocks in overlapping chunks.

    Chunks hold ``chunk`` samples and start every ``chunk - overlap`` samples; each
    chunk's output is cross-faded with the previous one's over the ``overlap`` samples
    (:func:`fade_in`, weights summing to one). :meth:`push` takes a block of any size and
    returns the output samples that are final; :meth:`finish` processes what is left. The
    concatenated outputs have exactly as many samples as the concatenated inputs, for any
    length (shorter than one chunk included). ``fn`` sees at most ``chunk`` samples at once.
    Blocks are numpy arrays or torch tensors (then the blend happens on their device).
    """

    def __init__(self, fn: Callable[[Any], Any], chunk: int, overlap: int):
        if chunk < 1 or not 0 <= overlap < chunk:
            raise ConfigError(f"need chunk >= 1 and 0 <= overlap < chunk (got {chunk}, {overlap})")
        self.fn = fn
        self.chunk = int(chunk)
        self.overlap = int(overlap)
        self.ramp = fade_in(self.overlap)
        self._pending: list[Any] = []
        self._held = 0
        self._tail: Any = None  # previous chunk's output over the overlap

    def _blend(self, y: Any) -> Any:
        if self._tail is not None and self.overlap:
            n = min(self.overlap, y.shape[-1])
            ramp = _like(self.ramp[:n], y)
            y[..., :n] = self._tail[..., :n] * (1.0 - ramp) + y[..., :n] * ramp
        return y

    def push(self, block: Any) -> list[Any]:
        out: list[Any] = []
        if block.shape[-1] == 0:
            return out
        self._pending.append(block)
        self._held += block.shape[-1]
        step = self.chunk - self.overlap
        while self._held >= self.chunk:
            buf = _cat(self._pending)
            y = self._blend(_float(self.fn(buf[..., : self.chunk])))
            out.append(y[..., :step])
            self._tail = y[..., step:]
            rest = buf[..., step:]
            self._pending, self._held = [rest], rest.shape[-1]
        return out

    def finish(self) -> list[Any]:
        if not self._pending:
            return []
        buf = _cat(self._pending)
        self._pending, self._held = [], 0
        if self._tail is not None and buf.shape[-1] <= self.overlap:
            return [self._tail[..., : buf.shape[-1]]]  # nothing new after the last chunk
        return [self._blend(_float(self.fn(buf)))]


class ResampledChunkEngine:
    """A :class:`ChunkEngine` at ``model_rate`` for a stream at ``rate``.

    :meth:`push` takes one block of the stream twice: ``keep`` (any ``(C, n)`` array: what
    each output sample must be matched with, such as the input to be written beside it)
    and ``model_in`` (``(channels, n)`` float32, what the model hears). ``model_in`` is
    resampled to ``model_rate`` (streaming soxr HQ; nothing when the rates are equal), cut
    into cross-faded chunks for ``fn`` as by :class:`ChunkEngine`, and the output
    (``out_channels`` rows; tensors are copied to the CPU once per finished chunk) is
    resampled back to ``rate``. :meth:`push` and :meth:`finish` return ``(kept, output)``
    pairs of equal length, in order; together they cover every kept sample (the output is
    padded with zeros where the resamplers' rounding leaves it a few samples short, and cut
    where it is longer). Memory holds at most a chunk, the blocks that wait for it and the
    resamplers' filters, whatever the stream's length.
    """

    def __init__(self, fn: Callable[[Any], Any], chunk: int, overlap: int, *, rate: int,
                 model_rate: int, channels: int, out_channels: int):
        self.engine = ChunkEngine(fn, chunk, overlap)
        self.channels, self.out_channels = int(channels), int(out_channels)
        self._to_model = self._back = None
        if int(rate) != int(model_rate):
            import soxr

            self._to_model = soxr.ResampleStream(int(rate), int(model_rate), self.channels,
                                                 dtype="float32", quality="HQ")
            self._back = soxr.ResampleStream(int(model_rate), int(rate), self.out_channels,
                                             dtype="float32", quality="HQ")
        self._kept: list[Any] = []
        self._out: list[np.ndarray] = []
        self._held_kept = self._held_out = 0

    def push(self, keep: Any, model_in: np.ndarray) -> list[tuple[Any, np.ndarray]]:
        self._kept.append(keep)
        self._held_kept += keep.shape[-1]
        x = model_in
        if self._to_model is not None:
            x = np.ascontiguousarray(
                self._to_model.resample_chunk(np.ascontiguousarray(model_in.T)).T)
        self._take(self.engine.push(x), last=False)
        return self._pairs(final=False)

    def finish(self) -> list[tuple[Any, np.ndarray]]:
        parts: list[Any] = []
        if self._to_model is not None:
            tail = self._to_model.resample_chunk(np.zeros((0, self.channels), np.float32),
                                                 last=True)
            parts = self.engine.push(np.ascontiguousarray(tail.T))
        self._take(parts + self.engine.finish(), last=True)
        return self._pairs(final=True)

    def _take(self, parts: list[Any], last: bool) -> None:
        data = [p.cpu().numpy() if _is_tensor(p) else p for p in parts]
        y = _cat(data) if data else np.zeros((self.out_channels, 0), np.float32)
        if self._back is not None:
            y = np.ascontiguousarray(self._back.resample_chunk(np.ascontiguousarray(y.T),
                                                               last=last).T)
        if y.shape[-1]:
            self._out.append(y)
            self._held_out += y.shape[-1]

    def _pairs(self, final: bool) -> list[tuple[Any, np.ndarray]]:
        n = self._held_kept if final else min(self._held_kept, self._held_out)
        if n <= 0:
            return []
        kept = _cat(self._kept)
        out = _cat(self._out) if self._out else np.zeros((self.out_channels, 0), np.float32)
        if out.shape[-1] < n:  # the resamplers' rounding at the very end
            out = np.pad(out, ((0, 0), (0, n - out.shape[-1])))
        self._kept, self._out = [kept[..., n:]], [out[:, n:]]
        self._held_kept, self._held_out = kept.shape[-1] - n, out.shape[-1] - n
        return [(kept[..., :n], out[:, :n])]


def apply_chunked(fn: Callable[[Any], Any], x: Any, chunk: int, overlap: int, *,
                  progress: ProgressCallback | None = None) -> Any:
    """:class:`ChunkEngine` over a whole ``(C, n)`` array or tensor; ``progress(done,
    total)`` counts chunks."""
    n = int(x.shape[-1])
    total = 1 + max(0, math.ceil((n - chunk) / (chunk - overlap))) if n > chunk else 1
    count = [0]

    def counted(block: Any) -> Any:
        y = fn(block)
        count[0] += 1
        if progress is not None:
            progress(min(count[0], total), total)
        return y

    engine = ChunkEngine(counted, chunk, overlap)
    return _cat(engine.push(x) + engine.finish())


def context_window(start: int, stop: int, n: int, *, past: int, future: int,
                   hop: int = 1) -> tuple[int, int]:
    """Input window ``[a, b)`` whose output is exact on ``[start, stop)`` for a model whose
    output sample ``t`` depends on inputs ``t - past .. t + future`` and which is
    shift-equivariant by multiples of ``hop``: ``past`` samples before (rounded down to a
    hop multiple so frames line up with the whole signal's), ``future`` after, clipped to
    ``[0, n)``."""
    a = max(0, ((start - past) // hop) * hop)
    return a, min(n, stop + future)


def chunked_with_context(fn: Callable[[Any], Any], x: Any, *, chunk: int, crossfade: int,
                         past: int, future: int, hop: int = 1,
                         progress: ProgressCallback | None = None) -> Any:
    """Run ``fn`` ((n,) -> (n,)) over a 1-D signal in chunks computed with their full
    receptive-field context (:func:`context_window`); returns the same length.

    Chunk ``k`` owns ``[k * chunk, (k + 1) * chunk)`` and is computed ``crossfade / 2``
    samples wider on each side; neighbours are blended with :func:`fade_in` over their
    shared ``crossfade`` samples. Every kept sample has its whole context, so the result
    equals ``fn(x)`` to float rounding."""
    n = int(x.shape[-1])
    chunk = max(hop, (int(chunk) // hop) * hop)
    half = min(int(crossfade) // 2, chunk // 2)
    n_chunks = max(1, math.ceil(n / chunk))
    fade = fade_in(2 * half) if half else None
    out: Any = None
    for k in range(n_chunks):
        lo, hi = max(0, k * chunk - half), min(n, (k + 1) * chunk + half)
        a, b = context_window(lo, hi, n, past=past, future=future, hop=hop)
        y = _float(fn(x[a:b])[lo - a: hi - a])
        if out is None:
            out = y.new_zeros(n) if _is_tensor(y) else np.zeros(n, dtype=np.float32)
        if fade is not None:
            if k > 0:  # fade in over [k*chunk - half, k*chunk + half)
                m = min(2 * half, hi - lo)
                y[:m] *= _like(fade[:m], y)
            if k < n_chunks - 1:  # fade out over [(k+1)*chunk - half, (k+1)*chunk + half)
                s = (k + 1) * chunk - half - lo
                m = min(2 * half, hi - lo - s)
                y[s: s + m] *= _like(1.0 - fade[:m], y)
        out[lo:hi] += y
        if progress is not None:
            progress(min(n, (k + 1) * chunk), n)
    return out


def tile_starts(frames: int, tile: int, overlap: int) -> list[int]:
    """Start frames of tiles of ``tile`` frames covering ``frames`` (padded when shorter),
    consecutive ones overlapping by ``overlap`` frames; the last one ends at the end."""
    if frames <= tile:
        return [0]
    step = max(1, tile - overlap)
    starts = list(range(0, frames - tile, step))
    starts.append(frames - tile)
    return starts


def crossfade_weights(tile: int, overlap: int) -> np.ndarray:
    """Per-frame weights of one tile: :func:`fade_in` over ``overlap`` frames at both ends,
    1 in between (always positive). Overlap-added with the same weights and divided by
    their sum, consecutive tiles cross-fade smoothly."""
    w = np.ones(tile, dtype=np.float32)
    if overlap > 0:
        ramp = fade_in(overlap)
        w[:overlap] = ramp
        w[tile - overlap:] = np.minimum(w[tile - overlap:], ramp[::-1])
    return np.maximum(w, 1e-3)
