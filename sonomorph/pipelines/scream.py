"""Voice to scream on arrays and files: :class:`Screamer`.

What happens to a file:

1. it is downmixed to mono and resampled to the model's 22.05 kHz (a note says so);
2. one input gain for the whole file, ``1 / max(peak, guard)``, so every chunk sees the
   same level (the original normalised each 1-s chunk, so loudness jumped at every seam);
3. the model runs on overlapping chunks with full receptive-field context, crossfaded
   (:func:`~sonomorph.pipelines.streaming.render_chunked`): the result equals processing
   the whole file at once, with no clicks at the seams;
4. ``style_strength`` ``s`` in ``[0, MAX_STRENGTH]`` sets how much of the style there is.
   Up to 1 it blends the scream with the dry voice: ``s * wet + (1 - s) * dry``, where the
   wet signal is first brought to the dry one's RMS (0 = the input unchanged, 1 = the model
   alone, 0.5 = both at equal loudness). Above 1 it exaggerates what the model changed
   (:func:`exaggerate`): the wet signal's short-time spectrum is multiplied by its
   smoothed ratio to the dry one's, raised to the power ``s - 1`` (so the log-spectral
   difference from the input grows ``s`` times; each bin's change is held within
   ``±EXAGGERATE_LIMIT_DB``), with the wet phase;
5. one loudness normalisation for the whole file: the output gets the input's RMS, lowered
   if needed so its peak stays at or below 0.98; silence stays silent (the model gates it);
6. it is resampled back to the input's rate (mono).

Files longer than ``LONG_FILE_S`` go through the streaming engine and a temporary float file
instead of memory (three passes over the audio, constant memory). ``preset="growl"`` uses
the DSP growl effect (:func:`sonomorph.audio.growl.growl`) instead of a model.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sonomorph.audio import io
from sonomorph.errors import ConfigError, InputTooShortError
from sonomorph.pipelines.engine import fade_in
from sonomorph.pipelines.streaming import (
    Backend,
    OnnxBackend,
    StreamingEngine,
    TorchBackend,
    render_chunked,
)
from sonomorph.utils.progress import ProgressCallback

log = logging.getLogger(__name__)

__all__ = ["Screamer", "ScreamReport", "load_backend", "export_scream_onnx", "exaggerate",
           "PRESETS", "MODEL_RATE", "MIN_SAMPLES", "MAX_STRENGTH"]

MODEL_RATE = 22050
MIN_SAMPLES = 1024  # at the model rate (46 ms): shorter input is refused
TARGET_PEAK = 0.98
LONG_FILE_S = 600.0
PRESETS = ("growl",)
_GROWL_CHUNK_S, _GROWL_FADE_S = 30.0, 0.5
MAX_STRENGTH = 2.0  #: style strength above 1 exaggerates the model's change, up to this
EXAGGERATE_LIMIT_DB = 30.0  #: the most one bin's gain may change when exaggerating
_EXAG_FFT, _EXAG_HOP = 1024, 256
_EXAG_CHUNK_S, _EXAG_OVERLAP_S = 10.0, 0.25


def load_backend(model: str | os.PathLike | None = None, *, device: str = "cpu",
                 threads: int = 1) -> Backend:
    """The model a user named: None/"default" (the shipped scream model), a shipped name, a
    ``.safetensors``/``.pt`` checkpoint, or an exported ``.onnx`` file."""
    from sonomorph.models import load_model, resolve_model

    if model is not None and Path(model).suffix.lower() == ".onnx":
        return OnnxBackend(model, threads=threads)
    path = resolve_model(model, "scream")
    net, meta = load_model(path, expect="scream", map_location=device)
    return TorchBackend(net, device=device, name=str(meta.get("model", path.stem)))


def export_scream_onnx(path: str | os.PathLike, model: str | os.PathLike | None = None, *,
                       overwrite: bool = False, atol: float = 1e-3) -> tuple[Path, float]:
    """Export a scream generator (front end, gain and gate included) to ONNX.

    Inputs ``audio`` (batch, 1, samples) float32 at 22.05 kHz and ``gain`` (batch,) (<= 0:
    peak normalisation with the silence guard inside the model); output ``scream`` (batch, 1,
    samples). The file's metadata holds sample_rate, hop_length, past, future (receptive
    field in samples) and peak_guard, which :class:`OnnxBackend` and the streaming engine
    read. onnxruntime is checked against torch within ``atol``. Returns (path, difference).
    """
    import torch

    from sonomorph.models import load_model, resolve_model
    from sonomorph.models.melgan import fold_weight_norm
    from sonomorph.models.onnx_export import export_onnx

    src = resolve_model(model, "scream")
    net, meta = load_model(src, expect="scream")
    fold_weight_norm(net)
    past, future = net.receptive_field()
    gen = torch.Generator().manual_seed(0)
    t = torch.arange(int(1.5 * MODEL_RATE)) / MODEL_RATE
    x = (0.3 * torch.sin(2 * torch.pi * 220 * t) * (1 + torch.sin(2 * torch.pi * 3 * t))
         + 0.05 * torch.randn(t.shape, generator=gen)).view(1, 1, -1)
    out, diff = export_onnx(
        net, path, (x, torch.zeros(1)), input_names=["audio", "gain"], output_names=["scream"],
        dynamic_axes={"audio": {0: "batch", 2: "samples"}, "gain": {0: "batch"},
                      "scream": {0: "batch", 2: "samples"}},
        metadata={"sample_rate": net.sample_rate, "hop_length": net.hop_length, "past": past,
                  "future": future, "peak_guard": net.front.peak_guard,
                  "model": meta.get("model", ""), "source": Path(src).name,
                  "inputs": "audio (batch,1,samples) float32 at sample_rate; gain (batch,) "
                            "float32, <= 0 for peak normalisation"},
        atol=atol, overwrite=overwrite)
    return out, float(diff or 0.0)


@dataclass
class ScreamReport:
    """What :meth:`Screamer.process_file` did."""

    src: Path
    dst: Path
    sample_rate: int
    seconds: float
    notes: list[str] = field(default_factory=list)
    streamed: bool = False


def exaggerate(wet: np.ndarray, dry: np.ndarray, amount: float,
               sample_rate: int = MODEL_RATE) -> np.ndarray:
    """``wet`` (n,) with its spectral change from ``dry`` (n,) pushed further: each STFT bin
    of ``wet`` is multiplied by ``(|W| / |D|) ** amount`` (magnitudes smoothed over 5 bins
    and 3 frames; the gain held within ``±EXAGGERATE_LIMIT_DB``), keeping the wet phase.
    ``amount`` 0 gives ``wet`` back; where ``wet`` is silent the result is. Runs in overlapping chunks (:func:`apply_chunked`), so
    memory is bounded and a whole file and its blocks agree."""
    from sonomorph.pipelines.engine import apply_chunked

    wet = np.asarray(wet, np.float32)
    if amount == 0 or wet.size == 0:
        return wet
    pair = np.stack([wet, np.asarray(dry, np.float32)])
    return apply_chunked(lambda b: _exaggerate_chunk(b, amount), pair,
                         int(_EXAG_CHUNK_S * sample_rate), int(_EXAG_OVERLAP_S * sample_rate))[0]


def _exaggerate_chunk(pair: np.ndarray, amount: float) -> np.ndarray:
    """(1, n) exaggerated wet of one (wet, dry) chunk (2, n)."""
    import torch
    import torch.nn.functional as F

    from sonomorph.audio.spectral import ISTFT, STFT

    n = pair.shape[-1]
    if n <= _EXAG_FFT // 2:  # too short to frame: left as it is
        return pair[:1].copy()
    x = torch.from_numpy(np.ascontiguousarray(pair))
    spec = STFT(_EXAG_FFT, _EXAG_HOP)(x)  # (2, freqs, frames)
    mag = F.avg_pool2d(spec.abs()[:, None], (5, 3), stride=1, padding=(2, 1),
                       count_include_pad=False)[:, 0]
    floor = 1e-6 * float(mag.max().clamp_min(1e-12))
    limit = EXAGGERATE_LIMIT_DB / 20 * np.log(10)
    log_ratio = (torch.log(mag[0] + floor) - torch.log(mag[1] + floor)) * float(amount)
    gain = torch.exp(log_ratio.clamp(-limit, limit))
    y = ISTFT(_EXAG_FFT, _EXAG_HOP)(spec[0] * gain, length=n)
    # where the model's output is silent (it gates silence) the result is too, not the
    # overlap-add's rounding residue
    live = F.max_pool1d(x[:1, None].abs(), _EXAG_FFT + 1, stride=1, padding=_EXAG_FFT // 2)[0, 0]
    return torch.where(live > 0, y, torch.zeros_like(y))[None].numpy().astype(np.float32)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0


class Screamer:
    """Turn voices into screams while keeping the words.

    ``model``: see :func:`load_backend` (ignored with ``preset``); ``backend``: an already
    loaded backend; ``preset="growl"``: the DSP effect instead of a model.
    ``style_strength`` in [0, ``MAX_STRENGTH``]: 0 = the dry input, 1 = the model alone, in
    between a blend, above 1 the model's change exaggerated (see the module docstring). ``chunk_seconds``: model chunk
    length (memory use), ``crossfade_seconds``: overlap between chunks.

    >>> out = Screamer().process(wav, sr)                 # (channels, n) -> (1, n) at sr
    >>> Screamer(style_strength=0.7).process_file("in.wav", "out.wav")
    >>> Screamer(style_strength=1.5).process(wav, sr)     # more scream than the model
    """

    def __init__(self, model: str | os.PathLike | None = None, *, backend: Backend | None = None,
                 preset: str | None = None, style_strength: float = 1.0, device: str = "cpu",
                 chunk_seconds: float = 10.0, crossfade_seconds: float = 0.1,
                 growl_style: str = "growl", progress: ProgressCallback | None = None) -> None:
        if not 0.0 <= float(style_strength) <= MAX_STRENGTH:  # (NaN fails too)
            raise ConfigError(f"style strength must be between 0 and {MAX_STRENGTH:g}, got "
                              f"{style_strength}")
        if preset is not None and preset not in PRESETS:
            raise ConfigError(f"unknown preset {preset!r} (choose from {', '.join(PRESETS)})")
        if chunk_seconds <= 0 or crossfade_seconds < 0:
            raise ConfigError("chunk length must be positive and crossfade not negative")
        self.preset, self.style_strength = preset, float(style_strength)
        self.growl_style = growl_style
        self.backend: Backend | None = None
        if preset is None:
            self.backend = backend if backend is not None else load_backend(model, device=device)
        self.sample_rate = self.backend.sample_rate if self.backend is not None else MODEL_RATE
        self.chunk = int(chunk_seconds * self.sample_rate)
        self.crossfade = int(crossfade_seconds * self.sample_rate)
        self.progress = progress

    # ------------------------------------------------------------------ core (model rate)
    def gain_for(self, x: np.ndarray) -> float:
        """The one input gain of a whole signal: ``1 / max(peak, guard)``."""
        guard = self.backend.peak_guard if self.backend is not None else 0.01
        return 1.0 / max(float(np.max(np.abs(x))) if x.size else 0.0, guard)

    def wet(self, x: np.ndarray, gain: float | None = None, *,
            progress: ProgressCallback | None = None) -> np.ndarray:
        """The raw effect of a mono signal (N,) at the model rate, before any level matching.
        ``progress(done, total)`` counts samples (default: the one given at construction)."""
        x = np.asarray(x, dtype=np.float32)
        progress = progress if progress is not None else self.progress
        if self.preset == "growl":
            y = self._growl(x)
            if progress is not None:
                progress(x.shape[0], x.shape[0])
            return y
        gain = self.gain_for(x) if gain is None else gain
        return render_chunked(self.backend, x, gain, chunk=self.chunk, crossfade=self.crossfade,
                              progress=progress)

    def _growl(self, x: np.ndarray) -> np.ndarray:
        """The DSP preset, in overlapping 30-s chunks (its f0 tracking holds a whole chunk)."""
        from sonomorph.audio.growl import growl

        sr, n = self.sample_rate, x.shape[0]
        chunk, fade = int(_GROWL_CHUNK_S * sr), int(_GROWL_FADE_S * sr)
        if n <= chunk + fade:
            return growl(x, sr, self.growl_style)
        out = np.zeros(n, dtype=np.float32)
        ramp = fade_in(fade)
        for k, start in enumerate(range(0, n, chunk)):
            lo, hi = max(0, start - fade // 2), min(n, start + chunk + fade // 2)
            y = growl(x[lo:hi], sr, self.growl_style, seed=k)
            if lo > 0:
                y[: min(fade, y.shape[0])] *= ramp[: min(fade, y.shape[0])]
            if hi < n:
                y[-fade:] *= ramp[::-1]
            out[lo:hi] += y
        return out

    def mix(self, wet: np.ndarray, dry: np.ndarray) -> np.ndarray:
        """Style-strength blend and the one loudness normalisation of a whole signal."""
        target = _rms(dry)
        wet_rms = _rms(wet)
        if wet_rms > 1e-12:
            wet = wet * np.float32(target / wet_rms)
        y = self._blend(wet, dry)
        return y * np.float32(_final_gain(_rms(y), float(np.max(np.abs(y))) if y.size else 0.0,
                                          target))

    def _blend(self, wet: np.ndarray, dry: np.ndarray) -> np.ndarray:
        """The style-strength step on a level-matched ``wet`` and its ``dry`` input."""
        s = self.style_strength
        if s > 1.0:
            return exaggerate(wet, dry, s - 1.0, self.sample_rate)
        return (np.float32(s) * wet + np.float32(1.0 - s) * dry).astype(np.float32)

    # ------------------------------------------------------------------ arrays
    def process(self, wav: np.ndarray, sr: int, *, notes: list[str] | None = None,
                progress: ProgressCallback | None = None) -> np.ndarray:
        """(channels, n) or (n,) audio at ``sr`` -> (1, m) scream at ``sr``."""
        x = self.prepare(wav, sr, notes=notes)
        y = self.mix(self.wet(x, progress=progress), x)
        return io.resample(y, self.sample_rate, sr)[None, :] if sr != self.sample_rate else y[None, :]

    def prepare(self, wav: np.ndarray, sr: int, *, notes: list[str] | None = None,
                path: str | os.PathLike | None = None) -> np.ndarray:
        """Mono at the model rate (with notes on what was changed); refuses too-short input."""
        x = np.asarray(wav, dtype=np.float32)
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2 or x.shape[0] < 1:
            raise ConfigError(f"expected (channels, samples) audio, got shape {x.shape}")
        if x.shape[0] > 1:
            _note(notes, f"{x.shape[0]} channels downmixed to mono")
            x = io.mix_channels(x, 1)
        if sr != self.sample_rate:
            _note(notes, f"resampled from {sr} Hz to {self.sample_rate} Hz for the model "
                  "(output resampled back)")
            x = io.resample(x, sr, self.sample_rate)
        if x.shape[1] < MIN_SAMPLES:
            raise InputTooShortError(
                f"too short: {x.shape[1]} samples at {self.sample_rate} Hz "
                f"({x.shape[1] / self.sample_rate * 1000:.1f} ms); at least {MIN_SAMPLES} "
                f"({MIN_SAMPLES / self.sample_rate * 1000:.0f} ms) needed", path)
        if not np.all(np.isfinite(x)):
            raise ConfigError("input holds NaN or infinite samples", path)
        return x[0]

    # ------------------------------------------------------------------ files
    def check_input(self, src: str | os.PathLike) -> float:
        """Raise the error a file would cause (unreadable, too short) before any work;
        returns its duration in seconds."""
        meta = io.info(src)
        if meta.frames * self.sample_rate / meta.sample_rate < MIN_SAMPLES:
            raise InputTooShortError(
                f"too short: {meta.frames} samples at {meta.sample_rate} Hz "
                f"({meta.duration * 1000:.1f} ms); at least "
                f"{MIN_SAMPLES / self.sample_rate * 1000:.0f} ms needed", src)
        return meta.duration

    def process_file(self, src: str | os.PathLike, dst: str | os.PathLike, *,
                     format: str | None = None, bit_depth: str = "16",
                     overwrite: bool = False,
                     progress: ProgressCallback | None = None) -> ScreamReport:
        """Scream ``src`` into ``dst`` (written atomically; never replaces ``src``, nor an
        existing ``dst`` unless ``overwrite``). ``progress(done, total)`` counts samples."""
        progress = progress if progress is not None else self.progress
        src, dst = Path(src), Path(dst)
        self.check_input(src)
        meta = io.info(src)
        io.output_format(dst, format)  # refuse an unwritable format before the work
        notes: list[str] = []
        if meta.duration > LONG_FILE_S and self.preset is None:
            self._process_long(src, dst, meta, notes, format, bit_depth, overwrite, progress)
            return ScreamReport(src, dst, meta.sample_rate, meta.duration, notes, True)
        wav, sr = io.load(src)
        x = self.prepare(wav, sr, notes=notes, path=src)
        y = self.mix(self.wet(x, progress=progress), x)
        out = io.resample(y, self.sample_rate, sr) if sr != self.sample_rate else y
        io.save(dst, out, sr, bit_depth=bit_depth, format=format, overwrite=overwrite,
                inputs=[src])
        return ScreamReport(src, dst, sr, wav.shape[1] / sr, notes)

    def _process_long(self, src: Path, dst: Path, meta: io.AudioInfo, notes: list[str],
                      format: str | None, bit_depth: str, overwrite: bool,
                      progress: ProgressCallback | None = None) -> None:
        """Constant-memory path: a peak pass, a model pass (streaming engine) into a temporary
        float file of (wet, dry) pairs, a pass for the blend's peak, and the write pass with
        one gain, resampled back to the input's rate."""
        import soundfile as sf
        import soxr

        from sonomorph.utils.fs import atomic_path

        sr, rate, block = meta.sample_rate, self.sample_rate, _LONG_BLOCK
        if meta.channels > 1:
            _note(notes, f"{meta.channels} channels downmixed to mono")
        if sr != rate:
            _note(notes, f"resampled from {sr} Hz to {rate} Hz for the model "
                  "(output resampled back)")
        peak = 0.0
        for b in io.iter_blocks(src, block, sr=rate, channels=1):
            peak = max(peak, float(np.max(np.abs(b))))
        gain = 1.0 / max(peak, self.backend.peak_guard)
        engine = StreamingEngine(self.backend, block, gain=gain, realtime=False)
        sums = np.zeros(3)  # sum wet^2, dry^2, wet*dry
        total = max(1, int(meta.duration * rate))
        fmt = io.output_format(dst, format)
        subtype = {"mp3": "MPEG_LAYER_III", "ogg": "VORBIS", "oga": "VORBIS"}.get(
            fmt, {"24": "PCM_24", "32f": "FLOAT"}.get(str(bit_depth), "PCM_16"))
        sf_format = {"mp3": "MP3", "ogg": "OGG", "oga": "OGG", "flac": "FLAC"}.get(fmt, "WAV")
        dst.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".sonomorph-tmp-scream-", dir=dst.parent) as td:
            tmp = Path(td) / "wet-dry.w64"
            with sf.SoundFile(tmp, "w", rate, 2, subtype="FLOAT", format="W64") as f:
                delay = _Aligner(engine.delay)
                done = 0
                for b in io.iter_blocks(src, block, sr=rate, channels=1):
                    wet, dry = delay.push(engine.process(b[0]), b[0])
                    _write_pairs(f, wet, dry, sums)
                    done += b.shape[1]
                    if progress is not None:
                        progress(min(done, total), total)
                wet, dry = delay.push(engine.flush(), np.zeros(engine.delay, np.float32))
                _write_pairs(f, wet, dry, sums)
            a = float(np.sqrt(sums[1] / sums[0])) if sums[0] > 1e-20 else 1.0
            count = max(1, sf.info(tmp).frames)
            peak_y, sum_sq = 0.0, 0.0
            for y in self._long_blend(tmp, a, block):
                peak_y = max(peak_y, float(np.max(np.abs(y))) if y.size else 0.0)
                sum_sq += float(np.dot(y.astype(np.float64), y.astype(np.float64)))
            g = _final_gain(float(np.sqrt(sum_sq / count)), peak_y,
                            float(np.sqrt(sums[1] / count)))
            resampler = soxr.ResampleStream(rate, sr, 1, dtype="float32") if sr != rate else None
            with atomic_path(dst, overwrite=overwrite, inputs=[src]) as out_tmp:
                with sf.SoundFile(out_tmp, "w", sr, 1, subtype=subtype, format=sf_format) as out:
                    for y in self._long_blend(tmp, a, block):
                        y = (np.float32(g) * y).astype(np.float32)
                        if resampler is not None:
                            y = resampler.resample_chunk(y)
                        out.write(np.clip(y, -1.0, 1.0))
                    if resampler is not None:
                        out.write(np.clip(resampler.resample_chunk(np.zeros(0, np.float32),
                                                                   last=True), -1.0, 1.0))


    def _long_blend(self, tmp: Path, a: float, block: int):
        """The style-strength step, block by block, on the (wet, dry) pairs of ``tmp`` (the
        wet side scaled by ``a`` to the dry RMS): what :meth:`_blend` gives the whole signal."""
        import soundfile as sf

        from sonomorph.pipelines.engine import ChunkEngine

        s = self.style_strength
        engine = None
        if s > 1.0:
            engine = ChunkEngine(lambda b: _exaggerate_chunk(b, s - 1.0),
                                 int(_EXAG_CHUNK_S * self.sample_rate),
                                 int(_EXAG_OVERLAP_S * self.sample_rate))
        for pair in sf.blocks(tmp, blocksize=block, dtype="float32", always_2d=True):
            wet, dry = np.float32(a) * pair[:, 0], pair[:, 1]
            if engine is None:
                yield (np.float32(s) * wet + np.float32(1.0 - s) * dry).astype(np.float32)
            else:
                yield from (y[0] for y in engine.push(np.stack([wet, dry])))
        if engine is not None:
            yield from (y[0] for y in engine.finish())


class _Aligner:
    """Pairs the streaming engine's delayed wet output with the dry input it belongs to,
    dropping the engine's ``delay`` leading zeros."""

    def __init__(self, delay: int) -> None:
        self.skip = delay
        self.dry = np.zeros(0, np.float32)

    def push(self, wet: np.ndarray, dry: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.dry = np.concatenate([self.dry, dry])
        drop = min(self.skip, wet.shape[0])
        self.skip -= drop
        wet = wet[drop:]
        out_dry, self.dry = self.dry[: wet.shape[0]], self.dry[wet.shape[0]:]
        return wet, out_dry


def _write_pairs(f, wet: np.ndarray, dry: np.ndarray, sums: np.ndarray) -> None:
    if wet.shape[0]:
        w, d = wet.astype(np.float64), dry.astype(np.float64)
        sums += (np.dot(w, w), np.dot(d, d), np.dot(w, d))
        f.write(np.stack([wet, dry], axis=1))


_LONG_BLOCK = 1 << 16


def _final_gain(rms_y: float, peak_y: float, target_rms: float) -> float:
    """The one output gain: ``target_rms / rms_y``, lowered so the peak is <= TARGET_PEAK."""
    if rms_y <= 1e-12 or peak_y <= 1e-12:
        return 1.0
    return float(min(target_rms / rms_y, TARGET_PEAK / peak_y))


def _note(notes: list[str] | None, text: str) -> None:
    if notes is not None:
        notes.append(text)
    log.info(text)
