"""Reading and writing audio files: the one place where sonomorph touches audio on disk.

Every array that comes out of :func:`load` or :func:`iter_blocks` is float32 shaped
``(channels, samples)``, finite, non-empty, at the asked sample rate and channel count.
Anything wrong with the file (missing, a folder, unreadable, empty, truncated, corrupt,
not audio, NaN/inf samples, too short) raises :class:`~sonomorph.errors.AudioLoadError`
(or its subclass :class:`~sonomorph.errors.InputTooShortError`) with a one-line message
naming the file; no raw soundfile/ffmpeg error escapes.

Backends: wav, flac, ogg, mp3, aiff (and other libsndfile formats) go through soundfile;
everything else (m4a, aac, opus, wma, mp4/mkv/webm/mov video...) through ffmpeg
(:mod:`sonomorph.audio.ffmpeg`). A file with a libsndfile extension that libsndfile cannot
open (an AAC stream named ``.mp3``, a WAV holding an exotic codec) is retried with ffmpeg.

Channel policy (``channels`` argument): ``None`` keeps mono and stereo and downmixes more
channels to stereo with a warning (ITU-R BS.775 for 5.1: ``L + 0.707 C + 0.707 Ls``,
normalised; otherwise even channels to the left, odd ones to the right, averaged);
``1`` averages to mono; ``2`` duplicates mono and downmixes more; ``"all"`` keeps every
channel. Resampling is soxr "HQ", the same in :func:`load`, :func:`resample` and the
streaming :func:`iter_blocks`.
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import soundfile as sf
import soxr

from sonomorph.audio import ffmpeg as _ff
from sonomorph.audio.headers import looks_like_mpeg, wav_truncation
from sonomorph.errors import (
    AudioLoadError,
    AudioSaveError,
    ConfigError,
    InputTooShortError,
    SonomorphError,
)
from sonomorph.utils.fs import TMP_PREFIX, atomic_path

log = logging.getLogger(__name__)

Channels = int | Literal["all"] | None

SOUNDFILE_EXTENSIONS = frozenset(
    {".wav", ".wave", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff", ".aifc", ".au",
     ".caf", ".w64"})
FFMPEG_EXTENSIONS = frozenset(
    {".m4a", ".aac", ".opus", ".wma", ".alac", ".ac3", ".mka", ".mp2", ".amr", ".weba",
     ".mp4", ".m4v", ".mkv", ".webm", ".mov", ".avi", ".wmv", ".3gp", ".flv"})
#: Extensions that :func:`find_audio_files` (and so every folder command) picks up.
AUDIO_EXTENSIONS = SOUNDFILE_EXTENSIONS | FFMPEG_EXTENSIONS

# Output formats save() writes: extension -> soundfile format, or "ffmpeg".
_WRITE_FORMATS = {"wav": "WAV", "wave": "WAV", "flac": "FLAC", "mp3": "MP3", "ogg": "OGG",
                  "oga": "OGG", "aif": "AIFF", "aiff": "AIFF", "m4a": "ffmpeg",
                  "aac": "ffmpeg", "opus": "ffmpeg"}
#: Output format names :func:`save` accepts (``format=`` or the path's extension).
WRITABLE_FORMATS = tuple(_WRITE_FORMATS)
#: Bit depth name -> soundfile subtype of the PCM/float formats.
PCM_SUBTYPES = {"16": "PCM_16", "24": "PCM_24", "32f": "FLOAT"}
#: soundfile format -> (subtype, encoder options) of the lossy formats libsndfile writes:
#: mp3 VBR ~190 kb/s, Ogg Vorbis q6.
LOSSY_ENCODERS = {"MP3": ("MPEG_LAYER_III", {"compression_level": 0.2,
                                             "bitrate_mode": "VARIABLE"}),
                  "OGG": ("VORBIS", {"compression_level": 0.4})}
#: Sample rates an mp3 file can hold.
MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
_ITU = 0.7071
_WRITE_BLOCK = 1 << 15


# -------------------------------------------------------------------------------- info
@dataclass(frozen=True)
class AudioInfo:
    """What a file holds. ``frames``/``duration`` are exact for soundfile formats and
    from the container's duration for ffmpeg ones. ``subtype`` is soundfile's sample
    format (``PCM_16``...) or ffmpeg's codec name; ``backend`` says which read it."""

    path: Path
    sample_rate: int
    channels: int
    frames: int
    duration: float
    format: str
    subtype: str = ""
    backend: str = "soundfile"


# ---------------------------------------------------------------------- input checks
def _check_input(path: str | os.PathLike) -> Path:
    """Raise a named AudioLoadError for a missing, folder, unreadable or empty path."""
    path = Path(path)
    if not path.exists():
        raise AudioLoadError("no such file", path)
    if path.is_dir():
        raise AudioLoadError("is a folder, not an audio file", path)
    if not path.is_file():
        raise AudioLoadError("not a regular file", path)
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except PermissionError:
        raise AudioLoadError("permission denied (cannot read the file)", path) from None
    except OSError as exc:
        raise AudioLoadError(f"cannot read the file ({exc.strerror or exc})", path) from None
    if not head:
        raise AudioLoadError("file is empty (0 bytes)", path)
    return path


# ---------------------------------------------------------------------------- decoding
def _sf_reason(exc: Exception) -> str:
    text = str(exc)
    if "Error opening" in text and ": " in text:
        text = text.rsplit(": ", 1)[-1]
    if "not recognised" in text or "not a regular file" in text or "unknown format" in text:
        return "not a recognised audio file"
    return f"not a readable audio file ({text.strip().rstrip('.')[:160]})"


class _Stream:
    """An opened file: native ``rate``/``channels``, an iterator of (channels, n) float32
    chunks, and ``close``. Built by :func:`_open_stream` for either backend."""

    def __init__(self, rate: int, channels: int, chunks: Iterator[np.ndarray], closer, fmt: str):
        self.rate, self.channels, self.chunks, self._closer, self.format = (
            rate, channels, chunks, closer, fmt)

    def close(self) -> None:
        self.chunks.close()  # type: ignore[attr-defined]
        self._closer()

    def __enter__(self) -> _Stream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _checked(chunks: Iterable[np.ndarray], path: Path) -> Iterator[np.ndarray]:
    """Pass (frames, channels) chunks on as (channels, frames) float32, refusing NaN/inf and
    an empty stream."""
    total = 0
    for chunk in chunks:
        if chunk.size == 0:
            continue
        if not np.isfinite(chunk).all():
            raise AudioLoadError("contains NaN or infinite samples", path)
        total += chunk.shape[0]
        yield np.ascontiguousarray(chunk.T, dtype=np.float32)
    if total == 0:
        raise AudioLoadError("contains no audio samples", path)


def _sf_open(path: Path) -> sf.SoundFile:
    """Open with libsndfile after our own checks: a truncated WAV, and an "mp3" with no
    MPEG frames (libsndfile may decode garbage as a little noise), are refused."""
    why = wav_truncation(path)
    if why:
        raise AudioLoadError(why, path)
    mp3_checked = path.suffix.lower() == ".mp3"
    if mp3_checked and not looks_like_mpeg(path):  # before mpg123, which prints to stderr
        raise AudioLoadError("not a recognised audio file (no MPEG audio frames)", path)
    try:
        f = sf.SoundFile(path)
    except Exception as exc:  # noqa: BLE001 - libsndfile's errors are RuntimeError/OSError
        raise AudioLoadError(_sf_reason(exc), path) from None
    if f.format == "MP3" and not mp3_checked and not looks_like_mpeg(path):
        f.close()
        raise AudioLoadError("not a recognised audio file (no MPEG audio frames)", path)
    return f


def _open_soundfile(path: Path, offset: float, duration: float | None,
                    chunk_frames: int | None) -> _Stream:
    f = _sf_open(path)
    rate = f.samplerate
    start = int(round(offset * rate))
    want = -1 if duration is None else int(round(duration * rate))
    if start and f.frames > 0 and start >= f.frames:
        f.close()
        raise AudioLoadError(f"offset {offset:g} s is past the end ({f.frames / rate:.2f} s)", path)

    def raw() -> Iterator[np.ndarray]:
        remaining = want
        try:
            if start:
                f.seek(start)
            while remaining != 0:
                n = remaining if chunk_frames is None else (
                    chunk_frames if remaining < 0 else min(chunk_frames, remaining))
                data = f.read(n, dtype="float32", always_2d=True)
                if data.shape[0] == 0:
                    break
                yield data
                if remaining > 0:
                    remaining -= data.shape[0]
                if chunk_frames is None or data.shape[0] < n:
                    break
        except AudioLoadError:
            raise
        except Exception as exc:  # noqa: BLE001 - decoding errors from libsndfile
            why = str(exc).replace("Error : ", "").strip().rstrip(".")[:160]
            raise AudioLoadError(f"corrupt or truncated audio data ({why})", path) from None

    return _Stream(rate, f.channels, _checked(raw(), path), f.close, f.format)


def _open_ffmpeg(path: Path, offset: float, duration: float | None,
                 chunk_frames: int | None) -> _Stream:
    dec = _ff.FFmpegDecoder(path, offset=offset, duration=duration)
    chunks = dec.chunks(chunk_frames or 1 << 18)
    return _Stream(dec.header.sample_rate, dec.header.channels, _checked(chunks, path),
                   dec.close, "ffmpeg")


def _open_stream(path: Path, *, offset: float = 0.0, duration: float | None = None,
                 chunk_frames: int | None = None) -> _Stream:
    """Open ``path`` with the right backend (see :func:`_with_fallback`)."""
    return _with_fallback(path, lambda: _open_soundfile(path, offset, duration, chunk_frames),
                          lambda: _open_ffmpeg(path, offset, duration, chunk_frames))


def _with_fallback(path: Path, by_soundfile, by_ffmpeg):
    """ffmpeg for its extensions; else libsndfile, retried with ffmpeg when libsndfile
    refuses the file (the first backend's reason is reported if both fail)."""
    if path.suffix.lower() in FFMPEG_EXTENSIONS:
        return by_ffmpeg()
    try:
        return by_soundfile()
    except AudioLoadError as first:
        if _ff.ffmpeg_exe() is None or "truncated" in first.reason or "past the end" in first.reason:
            raise
        try:
            return by_ffmpeg()
        except AudioLoadError:
            raise first from None


# --------------------------------------------------------------------------- channels
def mix_channels(wav: np.ndarray, channels: Channels = None, *,
                 path: str | os.PathLike | None = None, warn: bool = True) -> np.ndarray:
    """Apply the channel policy (see the module docstring) to a (channels, samples) array.

    Warns (``UserWarning``, naming ``path``) only when ``channels`` is None and more than
    two channels are folded to stereo: the caller did not ask for it.
    """
    if channels not in (None, 1, 2, "all"):
        raise ConfigError(f"channels must be None, 1, 2 or 'all', not {channels!r}")
    n = wav.shape[0]
    if channels == "all" or (channels is None and n <= 2) or (channels == n):
        return wav
    if n > 2:
        if channels is None and warn:
            where = f"{os.fspath(path)}: " if path is not None else ""
            kind = "ITU 5.1" if n == 6 else "alternate L/R"
            warnings.warn(f"{where}{n} channels downmixed to stereo ({kind} matrix)",
                          UserWarning, stacklevel=3)
        if n == 6:  # L R C LFE Ls Rs (WAV and ffmpeg order); LFE is dropped, as ITU does
            left = wav[0] + _ITU * wav[2] + _ITU * wav[4]
            right = wav[1] + _ITU * wav[2] + _ITU * wav[5]
            wav = np.stack([left, right]) / np.float32(1 + 2 * _ITU)
        else:
            wav = np.stack([wav[0::2].mean(axis=0), wav[1::2].mean(axis=0)])
        wav = wav.astype(np.float32, copy=False)
        if channels in (None, 2):
            return wav
    if channels == 1:
        return wav.mean(axis=0, keepdims=True, dtype=np.float32)
    return np.repeat(wav, 2, axis=0)  # mono -> stereo


# -------------------------------------------------------------------------- resampling
def resample(wav: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample along the last axis with soxr (HQ); returns the input itself when the
    rates are equal. Accepts (samples,) or (channels, samples); returns float32."""
    if int(orig_sr) <= 0 or int(target_sr) <= 0:
        raise ConfigError(f"sample rates must be positive (got {orig_sr} -> {target_sr})")
    if int(orig_sr) == int(target_sr):
        return wav
    x = np.asarray(wav, dtype=np.float32)
    if x.ndim == 1:
        return soxr.resample(x, int(orig_sr), int(target_sr), quality="HQ").astype(np.float32)
    out = soxr.resample(np.ascontiguousarray(x.T), int(orig_sr), int(target_sr), quality="HQ")
    return np.ascontiguousarray(out.T, dtype=np.float32)


def _check_args(sr: int | None, offset: float, duration: float | None,
                channels: Channels = None) -> None:
    if channels not in (None, 1, 2, "all"):
        raise ConfigError(f"channels must be None, 1, 2 or 'all', not {channels!r}")
    if sr is not None and (not isinstance(sr, (int, np.integer)) or sr <= 0):
        raise ConfigError(f"sample rate must be a positive integer, not {sr!r}")
    if offset < 0 or (duration is not None and duration <= 0):
        raise ConfigError(f"offset must be >= 0 and duration > 0 (got {offset}, {duration})")


# ------------------------------------------------------------------------- public: read
def load(path: str | os.PathLike, sr: int | None = None, channels: Channels = None, *,
         min_samples: int = 1, min_seconds: float = 0.0, offset: float = 0.0,
         duration: float | None = None) -> tuple[np.ndarray, int]:
    """Read an audio file as float32 ``(channels, samples)`` and its sample rate.

    ``sr`` resamples (soxr HQ) to that rate; ``channels`` applies the channel policy;
    ``offset``/``duration`` (seconds) read a part. Raises :class:`InputTooShortError`
    when fewer than ``min_samples`` samples, or ``min_seconds`` of audio, remain (at the
    returned rate), and :class:`AudioLoadError` for every other problem with the file.
    """
    path = _check_input(path)
    _check_args(sr, offset, duration, channels)
    with _open_stream(path, offset=offset, duration=duration) as stream:
        parts = list(stream.chunks)
        rate = stream.rate
    wav = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)
    wav = mix_channels(wav, channels, path=path)
    if sr is not None and sr != rate:
        wav, rate = resample(wav, rate, sr), int(sr)
    needed = max(1, min_samples, math.ceil(min_seconds * rate))
    if wav.shape[1] < needed:
        raise InputTooShortError(
            f"too short: {wav.shape[1]} samples ({wav.shape[1] / rate:.3f} s at {rate} Hz), "
            f"at least {needed} needed", path)
    return wav, int(rate)


def info(path: str | os.PathLike) -> AudioInfo:
    """Sample rate, channels, length and format of a file, without decoding it all.
    Raises the same errors as :func:`load` for missing, empty, truncated or non-audio files."""
    path = _check_input(path)

    def by_soundfile() -> AudioInfo:
        with _sf_open(path) as f:
            if f.frames <= 0:
                raise AudioLoadError("contains no audio samples", path)
            return AudioInfo(path, int(f.samplerate), int(f.channels), int(f.frames),
                             f.frames / f.samplerate, f.format, f.subtype, "soundfile")

    return _with_fallback(path, by_soundfile, lambda: _ffmpeg_info(path))


def _ffmpeg_info(path: Path) -> AudioInfo:
    header, duration, codec = _ff.probe(path)
    if duration is None:  # no container duration (raw streams): count by decoding
        with _open_stream(path, chunk_frames=1 << 18) as stream:
            frames = sum(c.shape[1] for c in stream.chunks)
    else:
        frames = int(round(duration * header.sample_rate))
    if frames <= 0:
        raise AudioLoadError("contains no audio samples", path)
    return AudioInfo(path, header.sample_rate, header.channels, frames,
                     frames / header.sample_rate, path.suffix.lstrip(".").upper(), codec, "ffmpeg")


def iter_blocks(path: str | os.PathLike, block_size: int, *, sr: int | None = None,
                channels: Channels = None, overlap: int = 0) -> Iterator[np.ndarray]:
    """Yield float32 ``(channels, n)`` blocks of a file of any length in constant memory.

    Every block holds ``block_size`` samples (at ``sr`` when given, resampled with a
    streaming soxr) except the last, which holds what is left. Each block starts
    ``block_size - overlap`` samples after the previous one, so with ``overlap=0`` the
    blocks concatenated equal ``load(path, sr, channels)``. Errors are those of :func:`load`
    (a NaN or decoding error part way through is raised when its block is reached).
    """
    if block_size < 1 or not 0 <= overlap < block_size:
        raise ConfigError(f"need block_size >= 1 and 0 <= overlap < block_size "
                          f"(got {block_size}, {overlap})")
    path = _check_input(path)
    _check_args(sr, 0.0, None, channels)
    return _blocks(path, int(block_size), sr, channels, int(overlap))


def _blocks(path: Path, block_size: int, sr: int | None, channels: Channels,
            overlap: int) -> Iterator[np.ndarray]:
    with _open_stream(path, chunk_frames=max(block_size, 1 << 15)) as stream:
        resampler = None
        if sr is not None and sr != stream.rate:
            out_ch = {None: min(stream.channels, 2), 1: 1, 2: 2}.get(channels, stream.channels)
            resampler = soxr.ResampleStream(stream.rate, sr, out_ch, dtype="float32", quality="HQ")
        pending: list[np.ndarray] = []
        held, emitted_any, step = 0, False, block_size - overlap
        first = True
        for chunk in _with_last(stream.chunks):
            data, last = chunk
            data = mix_channels(data, channels, path=path, warn=first)
            first = False
            if resampler is not None:
                data = np.ascontiguousarray(
                    resampler.resample_chunk(np.ascontiguousarray(data.T), last=last).T)
            if data.shape[1]:
                pending.append(data)
                held += data.shape[1]
            while held >= block_size:
                buf = np.concatenate(pending, axis=1) if len(pending) > 1 else pending[0]
                yield np.ascontiguousarray(buf[:, :block_size])
                emitted_any = True
                rest = buf[:, step:]
                pending, held = [rest], rest.shape[1]
        if held > (overlap if emitted_any else 0):
            yield np.ascontiguousarray(np.concatenate(pending, axis=1))


def _with_last(it: Iterator[np.ndarray]) -> Iterator[tuple[np.ndarray, bool]]:
    """(item, is_last) pairs: the streaming resampler must be told which chunk ends it."""
    prev = None
    for item in it:
        if prev is not None:
            yield prev, False
        prev = item
    if prev is not None:
        yield prev, True


# ------------------------------------------------------------------------ public: write
def output_format(path: str | os.PathLike, format: str | None = None) -> str:
    """The format name :func:`save` will use for ``path`` (``format`` wins over the
    extension). Raises :class:`AudioSaveError` for one it cannot write."""
    name = (format or Path(path).suffix.lstrip(".")).lower()
    if name not in _WRITE_FORMATS:
        raise AudioSaveError(
            f"cannot write {'.' + name if name else 'a file without extension'}: use one of "
            + ", ".join(sorted(set(_WRITE_FORMATS))), path)
    return name


def save(path: str | os.PathLike, wav: np.ndarray, sr: int, *, bit_depth: str | int = "16",
         format: str | None = None, overwrite: bool = False,
         inputs: Iterable[str | os.PathLike] = (), subtype: str | None = None) -> Path:
    """Write ``wav`` ((samples,) or (channels, samples)) to ``path`` atomically.

    The format comes from the extension unless ``format`` is given: wav (``bit_depth``
    "16", "24" or "32f" float), flac (16/24), aiff, mp3 (VBR ~190 kb/s), ogg (Vorbis q6),
    and through ffmpeg m4a/aac (AAC 96 kb/s per channel) and opus (64 kb/s per channel).
    ``subtype`` (a soundfile subtype such as ``"PCM_U8"``) overrides ``bit_depth`` when
    the format can hold it. Integer and lossy formats are clipped to [-1, 1] (logged).
    Refuses NaN/inf, an existing output unless ``overwrite``, and any path in ``inputs``.
    """
    path = Path(path)
    fmt = output_format(path, format)
    x = np.asarray(wav)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.shape[1] == 0:
        raise AudioSaveError(f"expected audio shaped (channels, samples), got {x.shape}", path)
    if x.shape[0] > 64:
        raise AudioSaveError(f"{x.shape[0]} channels: is the array (samples, channels)? "
                             "Pass (channels, samples)", path)
    x = x.astype(np.float32, copy=False)
    if not np.isfinite(x).all():
        raise AudioSaveError("refusing to write NaN or infinite samples", path)
    if isinstance(sr, float) and sr.is_integer():
        sr = int(sr)
    if not isinstance(sr, (int, np.integer)) or sr <= 0:
        raise AudioSaveError(f"bad sample rate {sr!r}", path)
    sf_format = _WRITE_FORMATS[fmt]
    kwargs: dict = {}
    if sf_format == "ffmpeg":
        st = "lossy"
    elif sf_format in ("MP3", "OGG"):
        if sf_format == "MP3" and (sr not in MP3_RATES or x.shape[0] > 2):
            raise AudioSaveError(f"mp3 holds 1-2 channels at {', '.join(map(str, MP3_RATES))}"
                                 f" Hz, not {x.shape[0]} channels at {sr} Hz", path)
        st, kwargs = LOSSY_ENCODERS[sf_format]
    elif subtype is not None and sf.check_format(sf_format, subtype):
        st = subtype
    else:
        depth = str(bit_depth)
        if depth not in PCM_SUBTYPES:
            raise AudioSaveError(f"bit depth must be 16, 24 or 32f, not {bit_depth!r}", path)
        st = PCM_SUBTYPES[depth]
        if not sf.check_format(sf_format, st):
            raise AudioSaveError(f"{fmt} cannot hold {depth}-bit samples (use 16 or 24)", path)
    if st not in ("FLOAT", "DOUBLE"):
        peak = float(np.abs(x).max())
        if peak > 1.0:
            over = int(np.count_nonzero(np.abs(x) > 1.0))
            log.warning("%s: clipped %d samples (peak %.2f) to [-1, 1]", path, over, peak)
            x = np.clip(x, -1.0, 1.0)
    try:
        with atomic_path(path, overwrite=overwrite, inputs=inputs) as tmp:
            if sf_format == "ffmpeg":
                _ff.encode(tmp, x, int(sr), ext="." + fmt)
            else:
                _write_chunked(tmp, x, int(sr), st, sf_format, kwargs)
    except SonomorphError:
        raise
    except Exception as exc:  # noqa: BLE001 - libsndfile/OS errors become one line
        if isinstance(exc, OSError) and exc.strerror:
            why = exc.strerror
        else:
            why = str(exc).split(": ")[-1][:160] or type(exc).__name__
        raise AudioSaveError(f"could not write {fmt} ({why})", path) from None
    return path


def _write_chunked(path: Path, x: np.ndarray, sr: int, subtype: str, fmt: str,
                   kwargs: dict) -> None:
    """Write in blocks: one huge libsndfile write to Ogg Vorbis overflows libvorbis's stack
    (an alloca sized by the frames buffered; python-soundfile issue #426, ~96 s of stereo)."""
    with sf.SoundFile(path, "w", sr, x.shape[0], subtype=subtype, format=fmt, **kwargs) as f:
        write_frames(f, x.T)


def write_frames(f: sf.SoundFile, frames: np.ndarray) -> None:
    """Write ``frames`` ``(n, channels)`` to an open file in blocks of at most 32768 frames
    (see :func:`_write_chunked` for why)."""
    for start in range(0, frames.shape[0], _WRITE_BLOCK):
        f.write(np.ascontiguousarray(frames[start:start + _WRITE_BLOCK], dtype=np.float32))


# ---------------------------------------------------------------------- public: files
def find_audio_files(folder: str | os.PathLike, recursive: bool = True, *,
                     exclude: Iterable[str | os.PathLike] = ()) -> list[Path]:
    """Audio files (by extension, see AUDIO_EXTENSIONS) in ``folder``, sorted.

    Hidden files and folders (including our ``.sonomorph-tmp-*`` temporaries) are
    skipped, as is anything under a folder in ``exclude`` (pass the output folder when it
    may sit inside the input folder, so outputs are never re-read as inputs).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise AudioLoadError("no such folder", folder)
    skip = {Path(p).resolve() for p in exclude}
    found: list[Path] = []
    for root, dirs, files in os.walk(folder):
        root_path = Path(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                         and (root_path / d).resolve() not in skip) if recursive else []
        for name in files:
            if name.startswith(".") or name.startswith(TMP_PREFIX):
                continue
            if Path(name).suffix.lower() in AUDIO_EXTENSIONS:
                found.append(root_path / name)
    return sorted(found)


def writable_suffix(path: str | os.PathLike, fallback: str = ".wav") -> str:
    """``path``'s extension if :func:`save` can write it, else ``fallback`` (for a video
    or wma input, whose audio we write as ``.wav``)."""
    suffix = Path(path).suffix.lower()
    return suffix if suffix.lstrip(".") in _WRITE_FORMATS else fallback


def output_path_for(src: str | os.PathLike, out_dir: str | os.PathLike,
                    name_template: str = "{stem}", ext: str | None = None, *,
                    root: str | os.PathLike | None = None) -> Path:
    """Where a command writes the output for input ``src``.

    ``name_template`` is formatted with ``stem`` (the input's name without extension) and
    ``name`` (with it), e.g. ``"{stem}_vocals"``; ``ext`` (``".flac"`` or ``"flac"``;
    None keeps the input's) is appended. With ``root`` (the input folder) the sub-folders
    of ``src`` below ``root`` are mirrored under ``out_dir``.
    """
    src = Path(src)
    if ext is None:
        ext = src.suffix
    elif ext and not ext.startswith("."):
        ext = "." + ext
    sub = Path()
    if root is not None:
        try:
            sub = src.parent.resolve().relative_to(Path(root).resolve())
        except ValueError:
            sub = Path()
    return Path(out_dir) / sub / (name_template.format(stem=src.stem, name=src.name) + ext)
