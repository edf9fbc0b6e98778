"""Waveform-to-waveform models on long files and in real time, reproducing whole-file output.

A *backend* is a waveform model with a known receptive field: output sample ``n`` depends
only on input samples ``n - past .. n + future``, and shifting the input by a multiple of
``hop_length`` shifts the output by the same amount. Two backends: :class:`TorchBackend`
(a sonomorph generator) and :class:`OnnxBackend` (the exported file, run by onnxruntime).

Both consumers below run the model on hop-aligned windows wide enough that every sample
they keep has its whole receptive field inside the window, so they give the whole-file
output (up to float rounding), not an approximation of it:

* :func:`render_chunked` (offline): overlapping chunks, each computed with ``past``/``future``
  context and crossfaded over ``crossfade`` samples with its neighbours. Memory is bounded by
  the chunk size, and the input's gain is one number for the whole file.
* :class:`StreamingEngine` (real time): blocks of any size in, the same number of samples
  out, delayed by a fixed ``delay`` of at most ``future`` samples (the look-ahead). With the
  fast generator in torch it runs the model frame by frame (its exact incremental stream:
  each block costs only its own frames); otherwise each block recomputes a hop-aligned window
  with the receptive field's context (any backend, ONNX included). State is bounded either
  way. Its algorithmic latency is ``delay + block_size`` samples (:attr:`latency_ms`).
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import Tensor

from sonomorph.audio.spectral import MelSpectrogram
from sonomorph.errors import CheckpointError, ConfigError
from sonomorph.models.melgan import conv_few, envelope_ola
from sonomorph.pipelines.engine import chunked_with_context, context_window
from sonomorph.utils.progress import ProgressCallback

__all__ = ["Backend", "TorchBackend", "OnnxBackend", "ISTFTStream", "render_chunked",
           "StreamingEngine",
           "audio_devices", "run_live", "MIN_BLOCK", "MAX_BLOCK"]

MIN_BLOCK, MAX_BLOCK = 256, 2048


class Backend(Protocol):
    """What the chunked and streaming runners need of a model."""

    sample_rate: int
    hop_length: int
    past: int
    future: int
    peak_guard: float
    name: str

    def __call__(self, x: np.ndarray, gain: float) -> np.ndarray:
        """(N,) float32 input at ``sample_rate`` -> (N,) output; ``gain`` <= 0 means the
        model's own peak normalisation of this window."""
        ...


class TorchBackend:
    """A sonomorph scream generator (``forward(x, gain)``, ``receptive_field()``) in eval mode."""

    def __init__(self, model, device: str = "cpu", name: str = "model") -> None:
        import torch

        self.torch = torch
        self.model = model.eval().to(device)
        self.device = device
        self.sample_rate = int(model.sample_rate)
        self.hop_length = int(model.hop_length)
        self.past, self.future = (int(v) for v in model.receptive_field())
        self.peak_guard = float(model.front.peak_guard)
        self.name = name

    def stream(self) -> _TorchStream | None:
        """An exact incremental stream when the model has one (the fast generator), else None."""
        from sonomorph.models.melgan import ISTFTGenerator

        if not isinstance(self.model, ISTFTGenerator):
            return None
        return _TorchStream(ISTFTStream(self.model), self.device)

    def __call__(self, x: np.ndarray, gain: float) -> np.ndarray:
        t = self.torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(self.device)
        return self.on_device(t, gain).cpu().numpy()

    def on_device(self, x: Tensor, gain: float) -> Tensor:
        """(N,) tensor on the model's device -> (N,) float32 output, left on the device
        (the chunked runner joins chunks there and copies the whole output back once)."""
        torch = self.torch
        with torch.inference_mode():
            g = torch.full((1,), float(gain), device=x.device)
            y = self.model(x.reshape(1, 1, -1).float(), g)
        return y.reshape(-1).float()


class ISTFTStream:
    """Exact incremental streaming of an :class:`ISTFTGenerator`, one block at a time.

    ``push(x)`` takes the next (already gained) input samples (1-D tensor) and returns the
    output samples that became final; ``finish()`` returns the rest, computed as the whole-
    file forward pass ends a signal. Concatenated, they equal ``model(x, gain)`` (the gain
    applied by the caller) up to float rounding. Per block, only the new frames are computed:
    state is the last ``n_fft / 2 + hop`` input samples, ``kernel - 1`` frames per causal
    conv, and ``2 * hop`` samples of overlap-add. An output sample is final once the input
    is ``model.receptive_field()[1]`` samples past it (at most).
    """

    def __init__(self, model) -> None:
        self.m = model
        p = next(model.parameters())
        mel = model.front.mel
        # The same log-mel through torch.stft: on a few frames it is far faster than the conv
        # backend the exported graph needs (the two agree to float rounding).
        self.mel = MelSpectrogram(mel.sample_rate, mel.n_fft, mel.hop_length, mel.n_mels,
                                  mel.fmin, mel.fmax, power=mel.power, log=True,
                                  log_floor=mel.log_floor, log_base=mel.log_base,
                                  backend="torch", center=True, pad_mode=mel.pad_mode
                                  ).to(device=p.device, dtype=p.dtype)
        self.hop, self.half = model.hop_length, model.n_fft // 2
        self.buf = torch.zeros(self.half, device=p.device, dtype=p.dtype)  # time -half on
        self.buf_t0 = -self.half
        self.received = 0
        self.next_mel = 0  # next mel frame to compute
        k, la = model.kernel_size, model.lookahead
        self.in_hist = torch.zeros(1, model.conv_in.in_channels, k - 1 - la, device=p.device,
                                   dtype=p.dtype)
        dim = model.conv_in.out_channels
        self.block_hist = [torch.zeros(1, dim, k - 1, device=p.device, dtype=p.dtype)
                           for _ in model.blocks]
        self.next_frame = 0  # next synthesis frame
        self.gates = torch.zeros(1, 1, 0, device=p.device, dtype=p.dtype)  # gate of frames >= next_frame
        self.phasors = torch.zeros(1, 2 * model.n_bins, 0, device=p.device, dtype=p.dtype)
        self.acc = torch.zeros(0, device=p.device, dtype=p.dtype)  # audio from time acc_t0
        self.gacc = torch.zeros(0, device=p.device, dtype=p.dtype)  # gate envelope from acc_t0
        self.acc_t0 = 0
        self.done = False

    def final_count(self, received: int) -> int:
        """How many output samples are final once ``received`` input samples were pushed."""
        frames = (received - self.half) // self.hop - self.m.lookahead  # synthesised frames
        return max(0, frames * self.hop + 1) if frames >= 0 else 0

    @property
    def state_samples(self) -> int:
        """Samples (and frames, counted as samples) of state held."""
        frames = self.in_hist.shape[-1] + sum(h.shape[-1] for h in self.block_hist)
        return int(self.buf.numel() + self.acc.numel() + frames + self.gates.shape[-1]
                   + self.phasors.shape[-1])

    @torch.no_grad()
    def push(self, x: Tensor) -> Tensor:
        if self.done:
            raise RuntimeError("this stream has finished; start a new one")
        self.buf = torch.cat([self.buf, x.reshape(-1).to(self.buf.dtype)])
        self.received += x.numel()
        last = (self.received - self.half) // self.hop  # last mel frame with all its input
        return self._advance(last, extra_frames=0, upto=None)

    @torch.no_grad()
    def finish(self) -> Tensor:
        """The remaining output (zero padding at the end, as the whole-file pass does)."""
        self.buf = torch.cat([self.buf, self.buf.new_zeros(self.half)])
        out = self._advance(self.received // self.hop, extra_frames=self.m.lookahead,
                            upto=self.received)
        self.done = True
        return out

    def _advance(self, last: int, extra_frames: int, upto: int | None) -> Tensor:
        m, hop, half = self.m, self.hop, self.half
        if last >= self.next_mel:
            a = self.next_mel * hop - half - self.buf_t0
            span = self.buf[a: a + (last - self.next_mel) * hop + 2 * half][None]
            mel = self.mel(span)[..., 2:-2]
            self.gates = torch.cat([self.gates, m.front.gate(span[:, None])[..., 2:-2]], -1)
            if m.phase == "input":  # synthesis frames t: samples [t*hop - hop, t*hop + hop)
                frames = span[:, half - hop: span.shape[-1] - half + hop].unfold(-1, 2 * hop, hop)
                spec = torch.matmul(frames, m.analysis[:, 0].T).transpose(1, 2)
                self.phasors = torch.cat([self.phasors, m.input_phasors(spec)], -1)
            self.next_mel = last + 1
            keep = self.next_mel * hop - half - self.buf_t0
            self.buf, self.buf_t0 = self.buf[keep:], self.buf_t0 + keep
        else:
            mel = self.in_hist[..., :0]
        if extra_frames:  # the whole-file pass pads the mel with lookahead zero frames
            mel = torch.cat([mel, mel.new_zeros(1, mel.shape[1], extra_frames)], -1)
        h = torch.cat([self.in_hist, mel], -1)
        k = m.kernel_size
        self.in_hist = h[..., max(0, h.shape[-1] - (k - 1)):]
        if h.shape[-1] >= k:  # (with look-ahead, the first frames wait for their future)
            h = conv_few(m.conv_in, h)
            for i, block in enumerate(m.blocks):
                nxt = torch.cat([self.block_hist[i], h], -1)[..., h.shape[-1]:]
                h, self.block_hist[i] = block(h, self.block_hist[i]), nxt
            self._synthesize(h)
        end = self.next_frame * hop - hop + 1 if upto is None else upto  # final samples end
        n = max(0, end - self.acc_t0)
        out = self.acc[:n] * self.gacc[:n]
        self.acc, self.gacc, self.acc_t0 = self.acc[n:], self.gacc[n:], self.acc_t0 + n
        return out

    def _synthesize(self, h: Tensor) -> None:
        """Overlap-add the frames of ``h`` (and their gates) into the accumulators."""
        m, hop = self.m, self.hop
        count = h.shape[-1]
        if not count:
            return
        f0 = self.next_frame
        phasors = self.phasors[..., :count] if m.phase == "input" else None
        self.phasors = self.phasors[..., count:]
        audio = m.overlap_add(m.coefficients(h, phasors))[0, 0]
        gate = envelope_ola(self.gates[..., :count], hop)[0, 0]  # same times as audio
        self.gates = self.gates[..., count:]
        self.next_frame += count
        start = f0 * hop - hop  # time of audio[0]
        end = start + audio.shape[0]
        grow = end - (self.acc_t0 + self.acc.shape[0])
        if grow > 0:
            self.acc = torch.cat([self.acc, self.acc.new_zeros(grow)])
            self.gacc = torch.cat([self.gacc, self.gacc.new_zeros(grow)])
        skip = max(0, self.acc_t0 - start)  # already-final times get zero-weight samples
        off = start + skip - self.acc_t0
        self.acc[off: off + audio.shape[0] - skip] += audio[skip:]
        self.gacc[off: off + audio.shape[0] - skip] += gate[skip:]


class _TorchStream:
    """numpy in and out around a model's incremental stream (``push``/``finish``)."""

    def __init__(self, stream, device: str) -> None:
        import torch

        self.torch, self.stream, self.device = torch, stream, device

    def final_count(self, received: int) -> int:
        return self.stream.final_count(received)

    @property
    def state_samples(self) -> int:
        return self.stream.state_samples

    def push(self, x: np.ndarray) -> np.ndarray:
        with self.torch.inference_mode():
            y = self.stream.push(self.torch.from_numpy(x).to(self.device))
        return y.float().cpu().numpy()

    def finish(self) -> np.ndarray:
        with self.torch.inference_mode():
            return self.stream.finish().float().cpu().numpy()


class OnnxBackend:
    """An exported scream model (inputs ``audio`` (B, 1, N) and ``gain`` (B,), output
    ``scream``), whose metadata gives the sample rate, hop and receptive field."""

    REQUIRED = ("sample_rate", "hop_length", "past", "future", "peak_guard")

    def __init__(self, path: str | os.PathLike, threads: int = 1) -> None:
        from sonomorph.models.onnx_export import onnx_session

        path = Path(path)
        self.session = onnx_session(path, threads=threads)
        meta = dict(self.session.get_modelmeta().custom_metadata_map)
        missing = [k for k in self.REQUIRED if k not in meta]
        names = [i.name for i in self.session.get_inputs()]
        if missing or names != ["audio", "gain"]:
            raise CheckpointError("not a sonomorph scream ONNX model (export one with "
                                  "`sonomorph export scream --onnx OUT.onnx`)", path)
        self.sample_rate, self.hop_length = int(meta["sample_rate"]), int(meta["hop_length"])
        self.past, self.future = int(meta["past"]), int(meta["future"])
        self.peak_guard = float(meta["peak_guard"])
        self.name = meta.get("model", path.stem)
        self.path = path

    def __call__(self, x: np.ndarray, gain: float) -> np.ndarray:
        audio = np.ascontiguousarray(x, dtype=np.float32).reshape(1, 1, -1)
        out = self.session.run(["scream"], {"audio": audio,
                                            "gain": np.array([gain], dtype=np.float32)})[0]
        return out.reshape(-1)


def _window(backend: Backend, start: int, stop: int, n: int) -> tuple[int, int]:
    """Input window ``[a, b)`` whose output is exact on ``[start, stop)`` (the backend's
    receptive field: :func:`~sonomorph.pipelines.engine.context_window`)."""
    return context_window(start, stop, n, past=backend.past, future=backend.future,
                          hop=backend.hop_length)


def render_chunked(backend: Backend, x: np.ndarray, gain: float, *, chunk: int = 220500,
                   crossfade: int = 2048, progress: ProgressCallback | None = None) -> np.ndarray:
    """Run ``backend`` over a mono signal ``x`` (N,) in overlapping chunks; returns (N,).

    Chunk ``k`` owns output ``[k * chunk, (k + 1) * chunk)`` and is computed ``crossfade / 2``
    samples wider on each side, with full receptive-field context; neighbours are blended
    with the shared raised-cosine crossfade over their shared ``crossfade`` samples
    (:func:`~sonomorph.pipelines.engine.chunked_with_context`). ``gain`` is applied to every
    chunk (one gain for the file; see the module docstring). A torch backend gets the signal
    on its device once; the chunks are joined there and the output copied back once.
    """
    options = dict(chunk=chunk, crossfade=crossfade, past=backend.past, future=backend.future,
                   hop=backend.hop_length, progress=progress)
    on_device = getattr(backend, "on_device", None)
    if on_device is None:
        return chunked_with_context(lambda window: backend(window, gain), x, **options)
    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(backend.device)
    return chunked_with_context(lambda window: on_device(window, gain), t,
                                **options).cpu().numpy()


class StreamingEngine:
    """Real-time block processing with bounded state; output equals the whole-file output
    delayed by ``delay`` samples.

    ``process(block)`` takes a mono block (any length, typically ``block_size`` samples) and
    returns as many samples; ``flush()`` returns the last ``delay`` samples when the input
    ends. ``fixed_blocks=True`` promises blocks of exactly ``block_size`` (a sound card's
    callback): with the incremental stream the delay is then the lag at block ends only
    (511 samples instead of 766 with 256-sample blocks). ``realtime=False`` lifts the 256-2048 block limit (offline use of long files). ``gain`` is the fixed input gain (> 0), or ``"auto"``: a peak follower (instant
    attack, ``release_db_per_s`` release) sets ``1 / max(peak, peak_guard)`` per block.
    """

    def __init__(self, backend: Backend, block_size: int = 256, *, gain: float | str = "auto",
                 release_db_per_s: float = 3.0, realtime: bool = True,
                 incremental: bool = True, fixed_blocks: bool = False) -> None:
        if realtime and not MIN_BLOCK <= int(block_size) <= MAX_BLOCK:
            raise ConfigError(f"block size must be between {MIN_BLOCK} and {MAX_BLOCK} samples, "
                              f"got {block_size}")
        if gain != "auto":
            if not (isinstance(gain, numbers.Real) and gain > 0):
                raise ConfigError(f"gain must be positive or 'auto', got {gain!r}")
            gain = float(gain)
        self.backend = backend
        self.block_size = int(block_size)
        self.gain = gain
        self._make_stream = getattr(backend, "stream", None) if incremental else None
        probe = self._make_stream() if self._make_stream is not None else None
        if probe is None:
            self._make_stream = None
            self.delay = int(backend.future)
        elif fixed_blocks:  # the largest lag between input and final output at a block end
            hop, b = backend.hop_length, self.block_size
            self.delay = max(j * b - probe.final_count(j * b) for j in range(1, 2 * hop + 8))
        else:  # blocks of any size: the largest lag at any input length
            hop = backend.hop_length
            self.delay = max(r - probe.final_count(r) for r in range(1, 4 * hop + 8))
        self.fixed_blocks = bool(fixed_blocks)
        self._release = 10.0 ** (-release_db_per_s / 20.0 / backend.sample_rate)
        self.reset()

    @property
    def incremental(self) -> bool:
        """True when the model runs frame by frame (fast generator, torch); False when each
        block recomputes a window with the receptive field's context (ONNX, MelGAN)."""
        return self._make_stream is not None

    @property
    def latency_samples(self) -> int:
        """Algorithmic latency: the look-ahead plus one block."""
        return self.delay + self.block_size

    @property
    def latency_ms(self) -> float:
        return 1000.0 * self.latency_samples / self.backend.sample_rate

    @property
    def state_samples(self) -> int:
        """Samples of state held: input history (or the model's stream state) plus pending
        output."""
        held = self._stream.state_samples if self._stream is not None else self._hist.shape[0]
        return int(held + self._fifo.shape[0])

    def reset(self) -> None:
        """Forget everything (a new stream starts at time 0)."""
        self._hist = np.zeros(0, dtype=np.float32)  # input samples [hist_start, received)
        self._hist_start = 0
        self._received = 0
        self._computed = 0  # final output samples produced so far (model time)
        self._fifo = np.zeros(self.delay, dtype=np.float32)
        self._peak = 0.0
        self._stream = self._make_stream() if self._make_stream is not None else None

    def _current_gain(self, block: np.ndarray) -> float:
        if self.gain != "auto":
            return float(self.gain)
        peak = float(np.max(np.abs(block))) if block.size else 0.0
        self._peak = max(peak, self._peak * self._release ** block.shape[0])
        return 1.0 / max(self._peak, self.backend.peak_guard)

    def _compute(self, upto: int, gain: float, final: bool) -> None:
        """Extend the final output to ``upto`` (exclusive) from the history."""
        if upto <= self._computed:
            return
        end = self._received
        a, _ = _window(self.backend, self._computed, upto, end)
        a = max(a, self._hist_start)
        window = self._hist[a - self._hist_start: end - self._hist_start]
        y = self.backend(window, gain)
        self._fifo = np.concatenate([self._fifo, y[self._computed - a: upto - a]])
        self._computed = upto
        # Keep only the history the next window can need.
        keep_from = max(0, ((self._computed - self.backend.past) // self.backend.hop_length)
                        * self.backend.hop_length)
        if keep_from > self._hist_start:
            self._hist = self._hist[keep_from - self._hist_start:]
            self._hist_start = keep_from

    def process(self, block: np.ndarray) -> np.ndarray:
        """Feed one mono block; returns the same number of output samples."""
        block = np.asarray(block, dtype=np.float32).reshape(-1)
        if self.fixed_blocks and block.shape[0] != self.block_size:
            raise ConfigError(f"this engine takes blocks of exactly {self.block_size} samples "
                              f"(fixed_blocks=True), got {block.shape[0]}")
        if not np.all(np.isfinite(block)):
            block = np.nan_to_num(block, nan=0.0, posinf=0.0, neginf=0.0)
        gain = self._current_gain(block)
        self._received += block.shape[0]
        if self._stream is not None:
            y = self._stream.push(block * np.float32(gain))
            self._fifo = np.concatenate([self._fifo, y])
        else:
            self._hist = np.concatenate([self._hist, block])
            self._compute(self._received - self.delay, gain, final=False)
        out, self._fifo = self._fifo[: block.shape[0]], self._fifo[block.shape[0]:]
        return out

    def flush(self) -> np.ndarray:
        """End of input: the remaining ``delay`` samples (computed with the true end)."""
        gain = float(self.gain) if self.gain != "auto" else 1.0 / max(
            self._peak, self.backend.peak_guard)
        if self._stream is not None:
            self._fifo = np.concatenate([self._fifo, self._stream.finish()])
        else:
            self._compute(self._received, gain, final=True)
        out, self._fifo = self._fifo, np.zeros(0, dtype=np.float32)
        return out


def audio_devices():
    """The sounddevice module, after checking that PortAudio, a microphone and speakers
    exist; DependencyError (one line) otherwise."""
    from sonomorph.errors import DependencyError

    try:
        import sounddevice as sd
    except (ImportError, OSError) as exc:
        raise DependencyError(f"live mode needs sounddevice with PortAudio ({exc}); install "
                              "libportaudio2 or process files instead") from None
    try:
        devices = sd.query_devices()
        has_in = any(d.get("max_input_channels", 0) > 0 for d in devices)
        has_out = any(d.get("max_output_channels", 0) > 0 for d in devices)
    except Exception as exc:  # noqa: BLE001 - PortAudio errors
        raise DependencyError(f"no audio devices available ({exc})") from None
    if not (has_in and has_out):
        raise DependencyError("live mode needs a microphone and speakers: no audio "
                              f"{'input' if not has_in else 'output'} device found")
    return sd


def run_live(engine: StreamingEngine, *, input_device: str | int | None = None,
             output_device: str | int | None = None, duration: float | None = None,
             on_status: Callable[[str], None] | None = None) -> None:
    """Microphone -> engine -> speakers through sounddevice until Ctrl-C (or ``duration``
    seconds). Raises DependencyError when PortAudio or an audio device is missing."""
    import time

    from sonomorph.errors import DependencyError

    sd = audio_devices()

    def callback(indata, outdata, frames, time_info, status) -> None:  # noqa: ARG001
        if status and on_status is not None:
            on_status(str(status))
        outdata[:, 0] = engine.process(indata[:, 0])
        if outdata.shape[1] > 1:
            outdata[:, 1:] = outdata[:, :1]

    try:
        with sd.Stream(samplerate=engine.backend.sample_rate, blocksize=engine.block_size,
                       channels=(1, 1), dtype="float32", device=(input_device, output_device),
                       latency="low", callback=callback):
            start = time.monotonic()
            while duration is None or time.monotonic() - start < duration:
                time.sleep(0.1)
    except sd.PortAudioError as exc:
        raise DependencyError(f"cannot open the audio devices: {exc}") from None
