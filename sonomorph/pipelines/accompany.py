"""Vocals to song: generate an accompaniment that fits a vocal line (pix2pix on spectrograms).

``Accompanist(model="default")`` loads the shipped generator (or a ``.safetensors`` file, or
takes a :class:`~sonomorph.models.pix2pix.UNetGenerator`). :meth:`Accompanist.generate` works
on an array of any sample rate, channel count and length and returns stereo;
:meth:`Accompanist.accompany_file` writes ``song.<ext>`` (voice plus accompaniment) and
``accompaniment.<ext>`` into a folder, both stereo, and with ``plot=True`` a PNG of the
input's and the output's spectrograms.

How a file of any length becomes a song:

1. The voice is averaged to mono and resampled to the model's rate (22.05 kHz for the
   shipped model), and its level is set to the training level: a gain from its *active*
   RMS (frames within 50 dB of the loudest). The accompaniment is scaled back by the
   inverse gain, so it follows the voice's level. A silent input gives a silent
   accompaniment (no gain can be measured; nothing is generated). Inputs longer than
   ``chunk_seconds`` (60 s) go through steps 2-3 in chunks cross-faded over 2 s, so the
   model's working memory does not grow with the input.
2. The spectrogram image (log magnitude, cos and sin of the phase) is cut into tiles of
   ``tile_frames`` frames (256, 3 s) overlapping by ``overlap`` of a tile; an input shorter
   than a tile is padded with silence. Each tile goes through the U-Net; overlapping
   outputs are cross-faded with raised-cosine weights that sum to one.
3. The phase comes from the model (``phase="model"``) or from Griffin-Lim on the generated
   magnitude started from the model's phase (``phase="griffinlim"``, the default: see the
   model card for the comparison).
4. Stereo: the model's accompaniment is mono. Each chunk also gets a decorrelated copy of
   it, the *side*: the accompaniment through a fixed all-pass-like filter of
   ``DECORRELATION_SECONDS`` (unit gain at every frequency but DC, seeded random phases),
   so it has the accompaniment's spectrum but little correlation with it. Left is
   ``accompaniment + width * side`` and right ``accompaniment - width * side``
   (``width`` 0.3 by default; 0 puts the same accompaniment in both channels). The two
   channels differ but stay correlated, nothing is delayed, and their average is exactly
   the model's accompaniment, so a mono downmix has no comb filtering.
5. The accompaniment is resampled back to the input's rate. The voice is placed in the
   centre (a mono input in both channels; more than two channels are averaged first) or,
   when the input is stereo, keeps its own left and right; ``song = voice +
   accompaniment``. A model trained on whole mixtures (``target="mixture"``, the
   original's choice) gives the song directly; its accompaniment is then the song's
   magnitude minus the voice's, with the song's phase, and the song gets the same side as
   its accompaniment. When the song would clip, both outputs are scaled to peak at 0.99.
6. Files stream (:meth:`Accompanist.accompany_file`): memory does not grow with the file's
   length. The file is read ``READ_BLOCK_SECONDS`` at a time, twice for the gain (the
   loudest frame, then the active frames: :func:`~sonomorph.audio.level.gain_to_rms_blocks`)
   and once for the song: the blocks go through the shared
   :class:`~sonomorph.pipelines.engine.ResampledChunkEngine` (streaming soxr to the model's
   rate, the chunks of step 1, and back, as the separator does), and song and
   accompaniment are made block by block at the input's rate into a temporary float file
   beside the outputs (disk, not memory: 16 bytes per input frame). Only when the whole
   song's peak is known are the two outputs written from it, block by block, each into a
   temporary file renamed into place at the end. The files equal
   :meth:`~Accompanist.generate` on the whole array to float rounding (streaming soxr
   and whole-array soxr differ only by rounding).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import torch
from torch import nn

from sonomorph.audio import blockwriter
from sonomorph.audio import io as audio_io
from sonomorph.audio.inverse import GriffinLim
from sonomorph.audio.level import gain_to_rms, gain_to_rms_blocks
from sonomorph.errors import AudioSaveError, CheckpointError, ConfigError, InputTooShortError
from sonomorph.models.pix2pix import UNetGenerator
from sonomorph.pipelines.engine import (
    ResampledChunkEngine,
    apply_chunked,
    crossfade_weights,
    tile_starts,
)
from sonomorph.utils.fs import TMP_PREFIX, atomic_path, check_output
from sonomorph.utils.progress import ProgressCallback

log = logging.getLogger(__name__)

__all__ = ["Accompanist", "Accompaniment", "REFERENCE_RMS", "PHASES", "input_gain",
           "output_paths", "plot_spectrograms", "tile_starts", "crossfade_weights"]

#: Active RMS the voice is brought to before the model (the training recipe does the same).
REFERENCE_RMS = 0.05
PHASES = ("griffinlim", "model")
CHUNK_OVERLAP_S = 2.0  # cross-fade between the chunks of long inputs
STEREO_WIDTH = 0.3  # default level of the decorrelated side, relative to the accompaniment
DECORRELATION_SECONDS = 0.02  # length of the decorrelation filter
OUTPUT_FORMATS = ("wav", "flac", "mp3", "ogg")
READ_BLOCK_SECONDS = 10.0  # seconds of a file read, joined and written at a time


def decorrelation_filter(sample_rate: int, seconds: float = DECORRELATION_SECONDS,
                         seed: int = 0) -> np.ndarray:
    """A float32 FIR filter of ``seconds`` whose DFT has unit magnitude at every bin but DC
    (zero) and seeded random phases: it keeps a signal's spectrum and energy but scrambles
    its phase, so its output is little correlated with its input (the side of the stereo
    accompaniment). The same ``sample_rate`` and ``seed`` always give the same filter."""
    n = max(8, 2 * int(round(seconds * sample_rate / 2)))
    rng = np.random.default_rng(seed)
    bins = n // 2 + 1
    spectrum = np.exp(1j * rng.uniform(-np.pi, np.pi, bins))
    spectrum[0] = 0.0
    spectrum[-1] = np.sign(spectrum[-1].real) or 1.0  # the Nyquist bin of a real filter is real
    return np.fft.irfft(spectrum, n).astype(np.float32)


def _convolve(x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """``x`` (n,) through the FIR ``h``, the first n samples (FFT convolution, on ``x``'s
    device)."""
    n = x.shape[-1]
    size = 1 << int(n + h.shape[-1] - 1).bit_length()
    y = torch.fft.irfft(torch.fft.rfft(x, size) * torch.fft.rfft(h, size), size)
    return y[..., :n]


def input_gain(mono: np.ndarray, reference: float = REFERENCE_RMS) -> float:
    """The gain that brings a voice's active RMS to ``reference``; 0.0 for silence
    (:func:`sonomorph.audio.level.gain_to_rms`, which the training recipe uses too)."""
    return gain_to_rms(mono, reference)


@dataclass
class Accompaniment:
    """What :meth:`Accompanist.generate` returns: float32 stereo ``(2, samples)`` arrays at
    ``sample_rate`` (the input's, and its length), and the model-rate images for plotting."""

    song: np.ndarray
    accompaniment: np.ndarray
    sample_rate: int
    input_image: np.ndarray | None = None  #: normalised log magnitude (bins, frames)
    output_image: np.ndarray | None = None  #: the same, generated (first chunk of long inputs)
    model_rate: int = 0
    hop: int = 0


MIN_FILE_SECONDS = 0.01  # a file shorter than this holds no vocal line (1-sample files, stubs)


class Accompanist:
    """Generate an accompaniment for a vocal line.

    ``model``: "default" (the shipped model), a path or shipped name, or a
    :class:`UNetGenerator`. ``phase``: "griffinlim" (default) or "model". ``overlap``: the
    fraction of a tile shared by consecutive tiles. ``gl_iters``: Griffin-Lim iterations.
    ``width``: the stereo width, the level of the decorrelated side relative to the
    accompaniment (0: the same accompaniment in both channels; at most 1).
    """

    def __init__(self, model: str | os.PathLike | nn.Module = "default", *, device: str = "cpu",
                 phase: str = "griffinlim", overlap: float = 0.25, tile_frames: int | None = None,
                 gl_iters: int = 16, reference_rms: float | None = None,
                 chunk_seconds: float = 60.0, width: float = STEREO_WIDTH) -> None:
        if phase not in PHASES:
            raise ConfigError(f"phase must be one of {', '.join(PHASES)}, not {phase!r}")
        if not 0.0 <= overlap < 1.0:
            raise ConfigError(f"overlap must be in [0, 1), got {overlap}")
        if not chunk_seconds >= 2 * CHUNK_OVERLAP_S:
            raise ConfigError(f"chunk_seconds must be at least {2 * CHUNK_OVERLAP_S:g}")
        if gl_iters < 0:
            raise ConfigError(f"gl_iters must not be negative, got {gl_iters}")
        if not 0.0 <= width <= 1.0:
            raise ConfigError(f"the stereo width must be between 0 and 1, got {width}")
        meta: dict = {}
        if isinstance(model, nn.Module):
            net = model
        else:
            from sonomorph.models.checkpoint import load_model, resolve_model

            path = resolve_model(model, "accompany")
            net, meta = load_model(path, expect="accompany", map_location=device)
        if not isinstance(net, UNetGenerator):
            raise CheckpointError(f"not an accompaniment generator ({type(net).__name__})")
        self.model = net.to(device).eval()
        self.device = torch.device(device)
        self.meta = meta
        self.phase, self.overlap, self.gl_iters = phase, float(overlap), int(gl_iters)
        self.chunk_seconds = float(chunk_seconds)
        tile = int(tile_frames or meta.get("tile_frames") or 256)
        if tile % net.multiple:
            raise ConfigError(f"tile_frames must be a multiple of {net.multiple}, got {tile}")
        self.tile = tile
        self.reference_rms = float(reference_rms or meta.get("reference_rms") or REFERENCE_RMS)
        self.sample_rate = net.sample_rate
        self.width = float(width)
        self._side_filter = torch.from_numpy(decorrelation_filter(net.sample_rate)).to(
            self.device)

    # ------------------------------------------------------------------ arrays

    def _overlap_frames(self) -> int:
        return int(round(self.overlap * self.tile))

    @torch.no_grad()
    def _generate_image(self, image: torch.Tensor, progress: ProgressCallback | None,
                        total: float) -> torch.Tensor:
        """Run the U-Net over overlapping tiles of an image ``(1, C, bins, frames)``; the
        result stays on the model's device."""
        frames = image.shape[-1]
        overlap = self._overlap_frames()
        starts = tile_starts(frames, self.tile, overlap)
        dev = self.device
        weights = torch.from_numpy(crossfade_weights(self.tile, overlap)).to(dev)
        span = max(frames, self.tile)
        # Tiles, weights and the sum stay on the model's device.
        image = image.to(dev)
        out = torch.zeros(1, self.model.out_channels, image.shape[-2], span, device=dev)
        norm = torch.zeros(span, device=dev)
        floor = torch.tensor([-1.0, 1.0, 0.0], device=dev)[: image.shape[1]].view(1, -1, 1, 1)
        for k, start in enumerate(starts):
            tile = image[..., start:start + self.tile]
            if tile.shape[-1] < self.tile:  # shorter than a tile: pad with silence
                pad = floor.expand(1, -1, image.shape[-2], self.tile - tile.shape[-1])
                tile = torch.cat([tile, pad], dim=-1)
            y = self.model(tile).float()
            out[..., start:start + self.tile] += y * weights
            norm[start:start + self.tile] += weights
            if progress is not None:
                progress(k + 1, total)
        return (out / norm)[..., :frames]

    def _waveform(self, magnitude: torch.Tensor, phase: torch.Tensor, length: int
                  ) -> torch.Tensor:
        """``(length,)`` waveform on ``magnitude``'s device."""
        net = self.model
        if self.phase == "model" or self.gl_iters == 0:
            from sonomorph.audio.spectral import ISTFT

            istft = ISTFT(net.n_fft, net.hop).to(magnitude.device)
            wav = istft(magnitude * phase, length=length)
        else:
            # started from the model's phase: fewer iterations to a consistent signal
            wav = GriffinLim(net.n_fft, net.hop, n_iter=self.gl_iters).to(magnitude.device)(
                magnitude, length=length, phase=phase)
        return wav[0].float()

    @torch.no_grad()
    def _render(self, chunk: torch.Tensor, progress: ProgressCallback | None = None,
                pictures: list[tuple[np.ndarray, np.ndarray]] | None = None) -> torch.Tensor:
        """Model-rate mono voice ``(1, n)`` at the reference level -> ``(3, n)`` on the
        model's device: the accompaniment, its decorrelated side (see the module's step 4)
        and the model's song (the mixture target) or zeros. An empty ``pictures`` list receives the input and output images' log
        magnitudes (for plots); nothing else leaves the device."""
        net = self.model
        length = chunk.shape[-1]
        x = chunk.to(device=self.device, dtype=torch.float32)
        x = torch.nn.functional.pad(x, (0, max(0, net.n_fft - length)))
        image = net.image(x)
        total = float(len(tile_starts(image.shape[-1], self.tile, self._overlap_frames())) + 1)
        out = self._generate_image(image, progress, total)
        magnitude, phase = net.spectrogram(out)
        acc = self._waveform(magnitude, phase, x.shape[-1])
        song = torch.zeros_like(acc)
        if net.target == "mixture":  # the model made the song; the accompaniment is the rest
            song, acc = acc, self._rest(x, magnitude, acc)
        if progress is not None:
            progress(total, total)
        if pictures is not None and not pictures:
            pictures.append((image[0, 0].cpu().numpy(), out[0, 0].cpu().numpy()))
        side = _convolve(acc[:length], self._side_filter)
        return torch.stack([acc[:length], side, song[:length]])

    @torch.no_grad()
    def generate(self, vocals: np.ndarray, sample_rate: int, *,
                 progress: ProgressCallback | None = None) -> Accompaniment:
        """Stereo song and accompaniment for float32 ``vocals`` ``(channels, samples)`` (or
        ``(samples,)``) at ``sample_rate``; outputs are ``(2, samples)`` at the input's rate,
        with the voice in the centre, or in its own place when the input is stereo.

        Inputs longer than ``chunk_seconds`` are processed in chunks that overlap by
        ``CHUNK_OVERLAP_S`` and are cross-faded (:func:`~sonomorph.pipelines.engine.apply_chunked`),
        with one gain for the whole input, so memory for the model's work stays bounded."""
        wav = np.asarray(vocals, dtype=np.float32)
        if wav.ndim == 1:
            wav = wav[None]
        if wav.ndim != 2 or wav.shape[1] == 0:
            raise ConfigError(f"expected audio shaped (channels, samples), got {wav.shape}")
        if not np.isfinite(wav).all():
            raise ConfigError("the voice holds NaN or infinite samples")
        net = self.model
        n, sr = wav.shape[1], int(sample_rate)
        mono = audio_io.resample(wav.mean(axis=0), sr, net.sample_rate)
        gain = input_gain(mono, self.reference_rms)
        voice = wav if wav.shape[0] == 2 else np.repeat(wav.mean(axis=0, keepdims=True), 2, 0)
        if gain == 0.0:  # silence in, silence out
            log.info("the voice is silent: the accompaniment is silence")
            return Accompaniment(voice.copy(), np.zeros_like(voice), sr)
        # The voice goes to the model's device once; the chunks' outputs are cross-faded
        # there and come back once, at the end.
        scaled = torch.from_numpy(np.ascontiguousarray(mono * np.float32(gain)))[None]
        scaled = scaled.to(self.device)
        chunk = int(self.chunk_seconds * net.sample_rate)
        pictures: list[tuple[np.ndarray, np.ndarray]] = []  # the first chunk's images
        if scaled.shape[1] <= chunk:
            rendered = self._render(scaled, progress, pictures)
        else:
            overlap = int(CHUNK_OVERLAP_S * net.sample_rate)
            rendered = apply_chunked(lambda block: self._render(block, pictures=pictures),
                                     scaled, chunk, overlap, progress=progress)
        images = pictures[0]
        acc, side, song_model = rendered.cpu().numpy() / np.float32(gain)
        acc = self._to_input_rate(acc, net.sample_rate, sr, n)
        side = self._to_input_rate(side, net.sample_rate, sr, n)
        if net.target == "mixture":
            song_model = self._to_input_rate(song_model, net.sample_rate, sr, n)
        song, accompaniment = self._stereo(voice, acc, side, song_model)
        peak = float(np.abs(song).max())
        if peak > 0.99:
            scale = np.float32(0.99 / peak)
            song, accompaniment = song * scale, accompaniment * scale
        return Accompaniment(np.nan_to_num(song).astype(np.float32),
                             np.nan_to_num(accompaniment).astype(np.float32), sr,
                             images[0], images[1], net.sample_rate, net.hop)

    def _stereo(self, voice: np.ndarray, acc: np.ndarray, side: np.ndarray,
                song_model: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Step 4-5 at the input's rate: (song, accompaniment), both ``(2, n)``, from the
        ``(2, n)`` voice and the model's mono accompaniment, its side and its song."""
        side = np.float32(self.width) * side
        accompaniment = np.stack([acc + side, acc - side])
        if self.model.target == "mixture":
            song = np.stack([song_model + side, song_model - side])
        else:
            song = voice + accompaniment
        return song, accompaniment

    def _rest(self, voice: torch.Tensor, magnitude: torch.Tensor, song: torch.Tensor
              ) -> torch.Tensor:
        """The generated song's magnitude minus the voice's, with the song's phase (on the
        voice's device)."""
        from sonomorph.audio.spectral import ISTFT, STFT

        net = self.model
        stft = STFT(net.n_fft, net.hop).to(voice.device)
        istft = ISTFT(net.n_fft, net.hop).to(voice.device)
        voice_mag = stft(voice).abs()
        spec = stft(song[None])
        unit = spec / spec.abs().clamp_min(1e-12)
        rest = (magnitude - voice_mag).clamp_min(0.0)
        return istft(rest * unit, length=voice.shape[-1])[0].float()

    @staticmethod
    def _to_input_rate(x: np.ndarray, rate: int, target: int, n: int) -> np.ndarray:
        y = audio_io.resample(np.ascontiguousarray(x, dtype=np.float32), rate, target)
        if len(y) < n:
            y = np.pad(y, (0, n - len(y)))
        return y[:n].astype(np.float32)

    # ------------------------------------------------------------------ files

    def accompany_file(self, path: str | os.PathLike, out_dir: str | os.PathLike, *,
                       format: str = "wav", bit_depth: str = "16", overwrite: bool = False,
                       plot: bool = False, progress: ProgressCallback | None = None
                       ) -> dict[str, Path]:
        """Write ``out_dir/song.<format>``, ``out_dir/accompaniment.<format>`` (and
        ``out_dir/spectrograms.png`` with ``plot``) for the voice in ``path``. Outputs are
        checked before any work and written atomically; returns them by name.

        Streams (module docstring, step 6): memory does not grow with the file's length,
        and the outputs equal :meth:`generate` on the whole file. ``progress(done, total)``
        counts input samples."""
        path = Path(path)
        outputs = output_paths(out_dir, format=format, plot=plot)
        for p in outputs.values():
            check_output(p, overwrite=overwrite, inputs=[path])
        blockwriter.check_block_format(format, str(bit_depth))
        meta = audio_io.info(path)
        sr, net = meta.sample_rate, self.model
        needed = max(1, math.ceil(MIN_FILE_SECONDS * sr))
        if meta.frames < needed:
            raise InputTooShortError(f"too short: {meta.frames} samples ({meta.frames / sr:.3f} s "
                                     f"at {sr} Hz), at least {needed} needed", path)
        model_block = max(1, int(READ_BLOCK_SECONDS * net.sample_rate))
        gain = gain_to_rms_blocks(
            lambda: (b[0] for b in audio_io.iter_blocks(path, model_block, sr=net.sample_rate,
                                                        channels=1)),
            self.reference_rms)
        if gain == 0.0:
            log.info("%s: the voice is silent: the accompaniment is silence", path)
        folder = outputs["song"].parent
        made = not folder.exists()
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=".w64", dir=folder)
        os.close(fd)
        mix = Path(name)  # song (2 channels) then accompaniment (2), float, unscaled
        pictures: list[tuple[np.ndarray, np.ndarray]] = []
        ok = False
        try:
            try:
                with sf.SoundFile(mix, "w", samplerate=sr, channels=4, format="W64",
                                  subtype="FLOAT") as sink:
                    peak, seen = self._stream_song(
                        path, sr, gain, lambda song, acc: sink.write(
                            np.ascontiguousarray(np.concatenate([song, acc]).T)),
                        pictures, meta.frames, progress)
            except sf.LibsndfileError as exc:
                raise AudioSaveError(f"cannot write a temporary file: {exc}", mix) from None
            if seen < needed:  # an ffmpeg container's duration can be wrong
                raise InputTooShortError(f"too short: {seen} samples ({seen / sr:.3f} s at "
                                         f"{sr} Hz), at least {needed} needed", path)
            scale = np.float32(0.99 / peak) if peak > 0.99 else None
            self._write_outputs(mix, path, outputs, format, str(bit_depth), overwrite, scale)
            ok = True
        finally:
            with contextlib.suppress(OSError):
                mix.unlink()
            if made and not ok:
                with contextlib.suppress(OSError):
                    folder.rmdir()  # only when empty: nothing of ours stays behind
        if plot:
            images = pictures[0] if pictures else (None, None)
            empty = np.zeros((2, 0), np.float32)
            shown = Accompaniment(empty, empty, sr, images[0], images[1], net.sample_rate,
                                  net.hop)
            plot_spectrograms(outputs["plot"], shown, title=path.name, overwrite=overwrite)
        return outputs

    @torch.no_grad()
    def _stream_song(self, path: Path, sr: int, gain: float,
                     sink: Callable[[np.ndarray, np.ndarray], None],
                     pictures: list[tuple[np.ndarray, np.ndarray]], total: int,
                     progress: ProgressCallback | None) -> tuple[float, int]:
        """Read ``path`` block by block and hand ``sink(song, accompaniment)`` the unscaled
        ``(2, k)`` blocks at the input's rate, in order; returns the song's peak and the
        number of input samples. The model's side runs on the shared
        :class:`~sonomorph.pipelines.engine.ResampledChunkEngine` (steps 1-3 as
        :meth:`generate`'s, chunk by chunk), so memory holds one read block, one model
        chunk and the blocks waiting for it, whatever the length."""
        net = self.model
        g = np.float32(gain)
        engine = ResampledChunkEngine(
            lambda chunk: self._render(torch.from_numpy(chunk * g), pictures=pictures) / float(g),
            int(self.chunk_seconds * net.sample_rate), int(CHUNK_OVERLAP_S * net.sample_rate),
            rate=sr, model_rate=net.sample_rate, channels=1, out_channels=3)
        peak, seen = 0.0, 0

        def emit(voice: np.ndarray, rendered: np.ndarray | None) -> None:
            nonlocal peak
            if rendered is None:  # silence in, silence out (as generate)
                song, acc = voice.copy(), np.zeros_like(voice)
            else:
                song, acc = self._stereo(voice, *rendered)
            song, acc = np.nan_to_num(song), np.nan_to_num(acc)
            peak = max(peak, float(np.abs(song).max()))
            sink(song, acc)

        block = max(1, int(READ_BLOCK_SECONDS * sr))
        for data in audio_io.iter_blocks(path, block, channels=None):
            seen += data.shape[1]
            voice = data if data.shape[0] == 2 else np.repeat(data.mean(axis=0, keepdims=True),
                                                              2, 0)
            if gain == 0.0:
                emit(voice, None)
            else:
                for pair in engine.push(voice, data.mean(axis=0, keepdims=True)):
                    emit(*pair)
            if progress is not None:
                progress(min(seen, total), max(total, seen))
        if gain != 0.0:
            for pair in engine.finish():
                emit(*pair)
        if progress is not None:
            progress(seen, seen)
        return peak, seen

    def _write_outputs(self, mix: Path, path: Path, outputs: dict[str, Path], fmt: str,
                       bit_depth: str, overwrite: bool, scale: np.float32 | None) -> None:
        """Copy the temporary song/accompaniment file onto the outputs block by block,
        scaled by ``scale`` (the song's peak to 0.99) and resampled when mp3 cannot hold
        the rate; each output is renamed into place only when all is written."""
        with sf.SoundFile(mix) as src:
            sr, frames = src.samplerate, src.frames
            rate = 44100 if fmt == "mp3" and sr not in audio_io.MP3_RATES else sr
            back = None
            if rate != sr:
                back = soxr.ResampleStream(sr, rate, 4, dtype="float32", quality="HQ")
            block = max(1, int(READ_BLOCK_SECONDS * sr))
            targets = {name: outputs[name] for name in ("song", "accompaniment")}
            try:
                with blockwriter.block_writers(targets, fmt, rate, 2, bit_depth,
                                            overwrite=overwrite, inputs=[path]) as writers:
                    done = 0
                    while done < frames:
                        data = src.read(min(block, frames - done), dtype="float32",
                                        always_2d=True)
                        if data.shape[0] == 0:
                            raise AudioSaveError("the temporary file ended early", mix)
                        done += data.shape[0]
                        x = data.T if scale is None else data.T * scale
                        if back is not None:
                            x = back.resample_chunk(np.ascontiguousarray(x.T),
                                                    last=done >= frames).T
                        writers["song"].write(x[:2])
                        writers["accompaniment"].write(x[2:])
            except sf.LibsndfileError as exc:
                raise AudioSaveError(f"cannot write {fmt}: {exc}", outputs["song"]) from None


    # ------------------------------------------------------------------ the pipeline contract

    def process(self, wav: np.ndarray, sr: int, *,
                progress: ProgressCallback | None = None) -> Accompaniment:
        """The pipeline contract's name for :meth:`generate`."""
        return self.generate(wav, sr, progress=progress)

    def process_file(self, src: str | os.PathLike, out: str | os.PathLike, *,
                     overwrite: bool = False, progress: ProgressCallback | None = None,
                     **options) -> dict[str, Path]:
        """The pipeline contract's name for :meth:`accompany_file` (``out`` is a folder;
        ``options``: format, bit_depth, plot)."""
        return self.accompany_file(src, out, overwrite=overwrite, progress=progress, **options)


def output_paths(out_dir: str | os.PathLike, *, format: str = "wav",
                 plot: bool = False) -> dict[str, Path]:
    """The files :meth:`Accompanist.accompany_file` writes into ``out_dir``."""
    if format not in OUTPUT_FORMATS:
        raise ConfigError(f"format must be one of {', '.join(OUTPUT_FORMATS)}, not {format!r}")
    out = Path(out_dir)
    paths = {"song": out / f"song.{format}", "accompaniment": out / f"accompaniment.{format}"}
    if plot:
        paths["plot"] = out / "spectrograms.png"
    return paths


def plot_spectrograms(path: str | os.PathLike, result: Accompaniment, *, title: str = "",
                      overwrite: bool = False, inputs: Iterable[str | os.PathLike] = ()) -> Path:
    """A PNG with the input voice's and the generated output's log spectrograms (the
    model's images), one above the other, on the same colour scale."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 6), dpi=100, layout="constrained")
    axes = fig.subplots(2, 1, sharex=True)
    images = [("input voice", result.input_image), ("generated output", result.output_image)]
    for ax, (label, img) in zip(axes, images):
        if img is None:
            img = np.full((2, 2), -1.0, dtype=np.float32)
        rate, hop = result.model_rate or 1, result.hop or 1
        extent = (0.0, img.shape[1] * hop / rate, 0.0, rate / 2.0 / 1000.0)
        shown = ax.imshow(img, origin="lower", aspect="auto", extent=extent, vmin=-1.0, vmax=1.0,
                          cmap="magma", interpolation="nearest")
        ax.set_ylabel("kHz")
        ax.set_title(f"{title}: {label}" if title else label)
    axes[-1].set_xlabel("seconds")
    fig.colorbar(shown, ax=list(axes), label="log magnitude (normalised)")
    path = Path(path)
    with atomic_path(path, overwrite=overwrite, inputs=inputs) as tmp:
        fig.savefig(tmp, format="png")
    return path
