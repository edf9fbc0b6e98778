"""Decoding and encoding through an ``ffmpeg`` binary, for what libsndfile cannot read.

libsndfile (through soundfile) covers wav, flac, ogg, mp3 and aiff. Everything else a
musician may hand us (m4a/aac, opus, wma, and the audio track of mp4/mkv/webm/mov videos)
goes through ffmpeg: the system's ``ffmpeg`` when it is on PATH, else the static binary
shipped in the ``imageio-ffmpeg`` wheel (a declared dependency, so it is always there).

ffmpeg runs as a subprocess with an argument list (never a shell). The input is named
``file:<absolute path>`` so that a file called ``-x.m4a`` or ``http:...`` can never be
read as an option or a URL, and only the ``file`` protocol is allowed. It decodes to
32-bit float WAV on a pipe: the WAV header tells us the decoded sample rate and channel
count (in ffmpeg's order, which for 5.1 is the WAV order L R C LFE Ls Rs), and the samples
are then read in bounded chunks, so memory stays constant for any length. stderr goes
to a temporary file, which cannot fill up and deadlock the pipe.

Resampling and channel mixing are not done here: :mod:`sonomorph.audio.io` applies the
same soxr resampler and channel policy to every backend.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sonomorph.errors import AudioLoadError, AudioSaveError, DependencyError

# Extension -> (muxer, encoder, bitrate per channel) for the formats we can write via ffmpeg.
ENCODERS: dict[str, tuple[str, str, int]] = {
    ".m4a": ("ipod", "aac", 96_000),
    ".aac": ("adts", "aac", 96_000),
    ".opus": ("opus", "libopus", 64_000),
}

_FRAME_BYTES = 4  # float32


def ffmpeg_exe() -> str | None:
    """The ffmpeg binary to use: the system's one on PATH, else imageio-ffmpeg's, else None."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:
        import imageio_ffmpeg
    except ImportError:
        return None
    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:  # noqa: BLE001 - the wheel raises RuntimeError when its binary is missing
        return None


def require_ffmpeg(path: str | os.PathLike, what: str = "read") -> str:
    exe = ffmpeg_exe()
    if exe is None:
        raise DependencyError(
            f"ffmpeg is needed to {what} {Path(path).suffix or 'this'} files: install ffmpeg "
            "or `pip install imageio-ffmpeg`",
            path,
        )
    return exe


def _input_arg(path: str | os.PathLike) -> str:
    return "file:" + os.path.abspath(os.fspath(path))


def _stderr_reason(text: str, path: str | os.PathLike) -> str:
    """The most telling line of ffmpeg's stderr, without the file name (our message has it)."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if any("matches no streams" in ln or "does not contain any stream" in ln for ln in lines):
        return "contains no audio stream"
    if any("Invalid data found" in ln for ln in lines):
        return "not a recognised audio file (ffmpeg: invalid data)"
    if any("detected only with low score" in ln for ln in lines):
        return "not a recognised audio file (ffmpeg could only guess its format)"
    for ln in reversed(lines):
        if "Conversion failed" in ln or ln.startswith("Last message repeated"):
            continue
        ln = ln.replace(_input_arg(path), "").replace(os.fspath(path), "").strip(" :")
        ln = re.sub(r"^\[[^\]]*\]\s*", "", ln)
        return f"ffmpeg could not decode it ({ln[:160]})" if ln else "ffmpeg could not decode it"
    return "ffmpeg could not decode it"


@dataclass
class StreamHeader:
    sample_rate: int
    channels: int


class FFmpegDecoder:
    """A running ``ffmpeg`` decoding one file to float32; use as a context manager.

    ``header`` (sample rate, channels) is known once the object is built; :meth:`chunks`
    yields ``(frames, channels)`` float32 arrays of at most ``chunk_frames`` frames.
    ``duration`` is ffmpeg's container duration in seconds (``None`` when it gave none).
    """

    def __init__(self, path: str | os.PathLike, *, offset: float = 0.0,
                 duration: float | None = None, loglevel: str = "warning"):
        self.path = Path(path)
        exe = require_ffmpeg(path)
        args = [exe, "-nostdin", "-hide_banner", "-v", loglevel, "-protocol_whitelist", "file",
                "-i", _input_arg(path)]
        # Output-side -ss/-t: ffmpeg decodes from the start and discards, which is exact;
        # an input-side seek lands some ms off on AAC (priming, frame boundaries).
        if offset > 0:
            args += ["-ss", f"{offset:.6f}"]
        if duration is not None:
            args += ["-t", f"{duration:.6f}"]
        args += ["-map", "0:a:0", "-vn", "-sn", "-dn",
                 "-map_metadata", "-1", "-fflags", "+bitexact",
                 "-c:a", "pcm_f32le", "-f", "wav", "pipe:1"]
        self._err = tempfile.TemporaryFile()
        try:
            self._proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                          stderr=self._err)
        except OSError as exc:
            self._err.close()
            raise DependencyError(f"could not run ffmpeg ({exc.strerror or exc})", path) from exc
        self._closed = False
        try:
            self.header = self._read_header()
        except BaseException:
            self.close()
            raise

    # -- header -------------------------------------------------------------------------
    def _read_exact(self, n: int) -> bytes:
        assert self._proc.stdout is not None
        return self._proc.stdout.read(n)

    def _fail(self) -> AudioLoadError:
        self._proc.wait()
        return AudioLoadError(_stderr_reason(self.stderr(), self.path), self.path)

    def _read_header(self) -> StreamHeader:
        riff = self._read_exact(12)
        if len(riff) < 12 or riff[:4] != b"RIFF" or riff[8:12] != b"WAVE":
            raise self._fail()
        rate = channels = None
        while True:
            head = self._read_exact(8)
            if len(head) < 8:
                raise self._fail()
            cid, size = head[:4], struct.unpack("<I", head[4:])[0]
            if cid == b"data":
                break
            body = self._read_exact(size + (size & 1))
            if cid == b"fmt " and len(body) >= 16:
                channels, rate = struct.unpack("<HI", body[2:8])
        if not rate or not channels:
            raise self._fail()
        if self._low_score():
            self.close()
            raise AudioLoadError(
                "not a recognised audio file (ffmpeg could only guess its format)", self.path)
        return StreamHeader(int(rate), int(channels))

    def _low_score(self) -> bool:
        return "detected only with low score" in self.stderr()

    def stderr(self) -> str:
        with contextlib.suppress(OSError, ValueError):
            self._err.flush()
            pos = self._err.tell()
            self._err.seek(0)
            text = self._err.read().decode("utf-8", "replace")
            self._err.seek(pos)
            return text
        return ""

    @property
    def duration(self) -> float | None:
        """The container's duration from ffmpeg's log (needs loglevel ``info``)."""
        m = re.search(r"Duration:\s*(\d+):(\d+):(\d+(?:\.\d+)?)", self.stderr())
        if not m:
            return None
        h, mnt, s = m.groups()
        return int(h) * 3600 + int(mnt) * 60 + float(s)

    # -- samples ------------------------------------------------------------------------
    def chunks(self, chunk_frames: int = 65536) -> Iterator[np.ndarray]:
        """Yield ``(frames, channels)`` float32 chunks until the end of the stream."""
        ch = self.header.channels
        frame_bytes = _FRAME_BYTES * ch
        want = max(1, int(chunk_frames)) * frame_bytes
        leftover = b""
        while True:
            data = self._read_exact(want)
            if not data:
                break
            data = leftover + data
            usable = len(data) - len(data) % frame_bytes
            leftover = data[usable:]
            if usable:
                yield np.frombuffer(data[:usable], dtype="<f4").reshape(-1, ch).astype(
                    np.float32, copy=True)
        rc = self._proc.wait()
        if rc != 0:
            raise AudioLoadError(_stderr_reason(self.stderr(), self.path), self.path)

    def close(self) -> None:
        """Stop ffmpeg (if still running) and release its pipes; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._proc.poll() is None:
            self._proc.kill()
        with contextlib.suppress(OSError):
            if self._proc.stdout is not None:
                self._proc.stdout.close()
        self._proc.wait()
        self._err.close()

    def __enter__(self) -> FFmpegDecoder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def probe(path: str | os.PathLike) -> tuple[StreamHeader, float | None, str]:
    """Sample rate, channels, duration (seconds or None) and codec name, without decoding
    the whole file (ffmpeg is stopped once it has written the WAV header)."""
    with FFmpegDecoder(path, loglevel="info") as dec:
        header = dec.header
        log = dec.stderr()
        duration = dec.duration
    m = re.search(r"Audio:\s*([A-Za-z0-9_]+)", log)
    return header, duration, (m.group(1) if m else "unknown")


def encode(path: str | os.PathLike, data: np.ndarray, sample_rate: int, *,
           ext: str | None = None) -> None:
    """Encode ``data`` ((channels, samples) float32, already clipped) into ``path`` with
    ffmpeg, in the format that ``ext`` (default: the path's suffix) names in ENCODERS.

    Raises :class:`AudioSaveError` naming ``path`` when ffmpeg fails.
    """
    ext = (ext or Path(path).suffix).lower()
    if ext not in ENCODERS:
        raise AudioSaveError(f"ffmpeg cannot write {ext} here", path)
    muxer, codec, per_channel = ENCODERS[ext]
    channels = data.shape[0]
    exe = require_ffmpeg(path, "write")
    bitrate = min(512_000, per_channel * channels)
    args = [exe, "-nostdin", "-hide_banner", "-v", "error", "-y",
            "-f", "f32le", "-ar", str(int(sample_rate)), "-ac", str(channels), "-i", "pipe:0",
            "-c:a", codec, "-b:a", str(bitrate), "-map_metadata", "-1", "-f", muxer,
            "file:" + os.path.abspath(os.fspath(path))]
    interleaved = np.ascontiguousarray(data.T, dtype="<f4")
    with tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                    stderr=err)
        except OSError as exc:
            raise DependencyError(f"could not run ffmpeg ({exc.strerror or exc})", path) from exc
        assert proc.stdin is not None
        try:
            view = memoryview(interleaved).cast("B")
            step = 1 << 20
            for start in range(0, len(view), step):
                proc.stdin.write(view[start:start + step])
            proc.stdin.close()
        except BrokenPipeError:
            pass
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        rc = proc.wait()
        if rc != 0:
            err.seek(0)
            lines = [ln for ln in err.read().decode("utf-8", "replace").splitlines() if ln.strip()]
            why = lines[-1].strip()[:160] if lines else f"exit status {rc}"
            raise AudioSaveError(f"ffmpeg could not write {ext} ({why})", path)
