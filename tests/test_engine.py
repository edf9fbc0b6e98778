"""The long-audio engine (sonomorph.pipelines.engine): the one ramp, chunked output equal to
whole-array output, streaming equal to offline, any length (shorter than one chunk too),
numpy and torch blocks alike."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sonomorph.errors import ConfigError
from sonomorph.pipelines.engine import (
    ChunkEngine,
    ResampledChunkEngine,
    apply_chunked,
    chunked_with_context,
    crossfade_weights,
    fade_in,
    tile_starts,
)
from sonomorph.pipelines.streaming import StreamingEngine, render_chunked

LENGTHS = [1, 7, 99, 100, 101, 250, 1000, 1237]


def _signal(n: int, channels: int = 2, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (channels, n)).astype(np.float32)


@pytest.mark.parametrize("n", [1, 2, 3, 64, 1001])
def test_the_ramp_and_its_mirror_sum_to_one(n) -> None:
    ramp = fade_in(n)
    assert ramp.dtype == np.float32 and ramp.shape == (n,)
    assert np.all(np.diff(ramp) > 0) and 0 < ramp[0] <= 0.5 <= ramp[-1] < 1
    # float32 rounding of two cosines: a couple of ulps of 1.0.
    np.testing.assert_allclose(ramp + ramp[::-1], 1.0, atol=2 * np.finfo(np.float32).eps)
    assert fade_in(0).shape == (0,)


@pytest.mark.parametrize("tile,overlap", [(16, 4), (256, 64), (8, 0)])
def test_tile_weights_normalise_to_one(tile, overlap) -> None:
    frames = 5 * tile + 3
    w = crossfade_weights(tile, overlap)
    total = np.zeros(frames)
    for start in tile_starts(frames, tile, overlap):
        total[start:start + tile] += w
    assert np.all(total > 0)
    assert tile_starts(frames, tile, overlap)[-1] == frames - tile
    assert tile_starts(tile - 1, tile, overlap) == [0]


@pytest.mark.parametrize("n", LENGTHS)
@pytest.mark.parametrize("chunk,overlap", [(100, 10), (100, 0), (37, 36), (1, 0)])
def test_a_pointwise_model_chunked_equals_whole(n, chunk, overlap) -> None:
    """A model with no context (receptive field of one sample): the cross-fades blend two
    equal outputs with weights summing to one, so the result is the whole-array output."""
    x = _signal(n)

    def model(block):
        return np.tanh(3 * block) * 0.5

    seen = []
    y = apply_chunked(lambda b: (seen.append(b.shape[-1]), model(b))[1], x, chunk, overlap)
    assert y.shape == x.shape
    np.testing.assert_allclose(y, model(x), atol=1e-6)
    assert max(seen) <= chunk


@pytest.mark.parametrize("n", LENGTHS)
def test_streaming_blocks_of_any_size_give_the_same_output(n) -> None:
    x = _signal(n)
    whole = apply_chunked(lambda b: b * 2, x, 64, 16)
    rng = np.random.default_rng(n)
    engine = ChunkEngine(lambda b: b * 2, 64, 16)
    parts, i = [], 0
    while i < n:
        step = int(rng.integers(1, 90))
        parts += engine.push(x[:, i:i + step])
        i += step
    parts += engine.finish()
    np.testing.assert_allclose(np.concatenate(parts, axis=-1), whole, atol=1e-6)


def test_torch_blocks_stay_tensors_and_on_their_device() -> None:
    x = torch.from_numpy(_signal(300))
    devices = []

    def model(block):
        devices.append(block.device)
        return block * 0.5

    y = apply_chunked(model, x, 64, 16)
    assert isinstance(y, torch.Tensor) and y.device == x.device and y.shape == x.shape
    torch.testing.assert_close(y, x * 0.5)
    assert set(devices) == {x.device}


def test_progress_counts_chunks() -> None:
    calls = []
    apply_chunked(lambda b: b, _signal(1000), 100, 10, progress=lambda d, t: calls.append((d, t)))
    assert calls[-1][0] == calls[-1][1] == len(calls) == 1 + int(np.ceil(900 / 90))


def test_bad_chunking_is_refused() -> None:
    for chunk, overlap in ((0, 0), (10, 10), (10, -1)):
        with pytest.raises(ConfigError):
            ChunkEngine(lambda b: b, chunk, overlap)


class _ConvBackend:
    """A model with a bounded receptive field: a fixed FIR filter taking ``past`` samples
    before and ``future`` after each output sample (zero outside the signal)."""

    sample_rate, hop_length, peak_guard, name = 8000, 4, 0.01, "fir"

    def __init__(self, past: int = 9, future: int = 5) -> None:
        self.past, self.future = past, future
        self.taps = np.random.default_rng(1).normal(size=past + future + 1).astype(np.float32)

    def __call__(self, x: np.ndarray, gain: float) -> np.ndarray:
        padded = np.concatenate([np.zeros(self.past, np.float32), x * np.float32(gain),
                                 np.zeros(self.future, np.float32)])
        return np.correlate(padded, self.taps, mode="valid").astype(np.float32)


@pytest.mark.parametrize("n", LENGTHS)
def test_a_bounded_receptive_field_chunked_equals_whole(n) -> None:
    backend = _ConvBackend()
    x = _signal(n, 1)[0]
    whole = backend(x, 0.7)
    y = render_chunked(backend, x, 0.7, chunk=64, crossfade=16)
    assert y.shape == (n,)
    np.testing.assert_allclose(y, whole, atol=1e-5)
    # The generic form, on torch tensors.
    t = chunked_with_context(lambda w: torch.from_numpy(backend(w.numpy(), 0.7)),
                             torch.from_numpy(x), chunk=64, crossfade=16,
                             past=backend.past, future=backend.future, hop=4)
    np.testing.assert_allclose(t.numpy(), whole, atol=1e-5)


@pytest.mark.parametrize("n", [300, 1237])
def test_streaming_equals_offline_delayed(n) -> None:
    backend = _ConvBackend()
    x = _signal(n, 1)[0]
    offline = backend(x, 0.5)
    engine = StreamingEngine(backend, 256, gain=0.5)
    out = [engine.process(x[i:i + 256]) for i in range(0, n, 256)] + [engine.flush()]
    y = np.concatenate(out)
    assert y.shape == (n + engine.delay,)
    np.testing.assert_allclose(y[engine.delay:], offline, atol=1e-5)


@pytest.mark.parametrize("rate,n", [(4000, 30_000), (11025, 60_000), (11025, 700)])
def test_a_stream_at_another_rate_comes_back_at_its_rate_paired_with_its_input(rate, n):
    """The model runs at 4 kHz on chunks of at most 8000 samples; its three outputs come
    back at the stream's rate, as many samples as went in, each with the block it belongs
    to, and pairs are handed out while the stream goes on (not all at the end)."""
    t = np.arange(n) / rate
    kept = np.stack([np.sin(2 * np.pi * 110 * t), np.cos(2 * np.pi * 110 * t)])
    kept = kept.astype(np.float32)
    heard = kept[:1]
    sizes = []

    def model(chunk: np.ndarray) -> np.ndarray:
        sizes.append(chunk.shape[-1])
        return np.concatenate([chunk, 0.5 * chunk, -chunk])

    engine = ResampledChunkEngine(model, 8000, 1000, rate=rate, model_rate=4000, channels=1,
                                  out_channels=3)
    early = []
    for i in range(0, n, 3001):
        early += engine.push(kept[:, i:i + 3001], heard[:, i:i + 3001])
    pairs = early + engine.finish()
    assert all(k.shape[-1] == o.shape[-1] for k, o in pairs)
    np.testing.assert_array_equal(np.concatenate([k for k, _ in pairs], axis=-1), kept)
    out = np.concatenate([o for _, o in pairs], axis=-1)
    assert out.shape == (3, n) and max(sizes) <= 8000
    if n > 8000:
        assert len(early) > 1
    # A 110 Hz tone survives the round trip through 4 kHz (away from the resamplers' edges).
    inner = slice(300, n - 300)
    expected = np.concatenate([heard, 0.5 * heard, -heard])
    np.testing.assert_allclose(out[:, inner], expected[:, inner], atol=1e-3)

