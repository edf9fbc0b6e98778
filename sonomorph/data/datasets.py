"""torch Datasets that the trainers read: random segments of multitrack songs, labelled
clips, speakers' utterances, and crops of plain folders.

Every random choice of item ``index`` in epoch ``epoch`` comes from the trainer's
:func:`sonomorph.train.distributed.sample_rng` ``(seed, epoch, index)``, so a run is reproducible whatever the
number of DataLoader workers or the order they ask in; call ``set_epoch(epoch)`` at the
start of each epoch to get new positions. Only the frames needed are read from disk
(soundfile ``start``/``stop``), resampled when the file's rate differs, and shaped to the
requested channel count. Items are dicts of float32 tensors shaped ``(channels, samples)``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from torch.utils.data import Dataset

from sonomorph.audio.io import resample
from sonomorph.data.layouts import (
    DatasetError,
    LabelledClip,
    Track,
    Utterance,
    folder_audio,
    gtzan_clips,
    multitrack_tracks,
    vctk_utterances,
)
from sonomorph.data.sampling import EpochAware, sample_rng
from sonomorph.errors import AudioLoadError

# ----------------------------------------------------------------------------- reading


@lru_cache(maxsize=4096)
def _info(path: str) -> tuple[int, int, int]:
    """(frames, sample rate, channels) of an audio file (cached; files do not change)."""
    try:
        info = sf.info(path)
    except (RuntimeError, sf.LibsndfileError) as exc:
        raise AudioLoadError(f"cannot read audio: {exc}", path) from None
    if info.frames <= 0:
        raise AudioLoadError("audio file is empty", path)
    return int(info.frames), int(info.samplerate), int(info.channels)


def audio_frames(path: str | os.PathLike, sample_rate: int) -> int:
    """The length of ``path`` in frames at ``sample_rate``."""
    frames, sr, _ = _info(os.fspath(path))
    return frames if sr == sample_rate else int(frames * sample_rate / sr)


def read_segment(path: str | os.PathLike, start: int, length: int, sample_rate: int,
                 channels: int) -> np.ndarray:
    """Read ``length`` frames at ``sample_rate`` starting at frame ``start`` (also at
    ``sample_rate``) as float32 ``(channels, length)``; zero-padded past the end.

    Only the needed frames are decoded; a file at another rate is read around the
    position and resampled. Mono files are duplicated to stereo, stereo is averaged to
    mono, more channels keep the first ``channels``."""
    path = os.fspath(path)
    frames, sr, file_channels = _info(path)
    if sr == sample_rate:
        a, b, pad = start, start + length, 0
    else:
        a = int(math.floor(start * sr / sample_rate))
        pad = 16
        b = int(math.ceil((start + length) * sr / sample_rate)) + pad
    try:
        data, _ = sf.read(path, start=max(0, min(a, frames)), stop=max(0, min(b, frames)),
                          dtype="float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError) as exc:
        raise AudioLoadError(f"cannot read audio: {exc}", path) from None
    wav = data.T
    if sr != sample_rate and wav.shape[1] > 0:
        wav = resample(wav, sr, sample_rate)
    out = np.zeros((wav.shape[0], length), dtype=np.float32)
    n = min(length, wav.shape[1])
    out[:, :n] = wav[:, :n]
    return _to_channels(out, channels)


def _to_channels(wav: np.ndarray, channels: int) -> np.ndarray:
    if wav.shape[0] == channels:
        return wav
    if channels == 1:
        return wav.mean(axis=0, keepdims=True)
    if wav.shape[0] == 1:
        return np.repeat(wav, channels, axis=0)
    if wav.shape[0] > channels:
        return wav[:channels]
    return np.concatenate([wav, np.repeat(wav[-1:], channels - wav.shape[0], axis=0)])


def read_sum(paths: Sequence[Path], start: int, length: int, sr: int, channels: int) -> np.ndarray:
    """The sum of the same segment of several files (the parts of one stem)."""
    out = read_segment(paths[0], start, length, sr, channels)
    for p in paths[1:]:
        out = out + read_segment(p, start, length, sr, channels)
    return out


def _tensor(wav: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(wav, dtype=np.float32))


class _Epochs(EpochAware):
    """``set_epoch`` (from the trainer's :class:`EpochAware`) and the item's generator
    :func:`sample_rng` ``(seed, epoch, index)``, shared by the datasets here."""

    seed: int = 0

    def rng(self, index: int) -> np.random.Generator:
        return sample_rng(self.seed, self.epoch, index)


# ----------------------------------------------------------------------------- multitrack


@dataclass
class Remix:
    """Remixing augmentation for :class:`MultitrackSegments` (all drawn per item)."""

    gain_db: tuple[float, float] = (-6.0, 2.0)  # random gain per source
    swap_probability: float = 0.5  # left/right swap per source (stereo only)
    shuffle_probability: float = 0.5  # each source from a random other track


class MultitrackSegments(_Epochs, Dataset):
    """Random ``segment_seconds`` excerpts of the ``sources`` of a MUSDB18-HQ or
    CCMixter folder's ``split``, as ``{source: (channels, samples), "mixture": ...}``.
    Four-stem and two-stem (vocals + accompaniment) tracks mix freely.

    ``mixture`` is the sum of the returned sources plus, when they do not cover the
    whole track, the remaining stems of the first source's track, so mixture and targets
    stay consistent after remixing. With ``remix`` (training) each source gets a random
    gain and channel swap and may come from another track. Without it (evaluation) the
    positions still come from ``(seed, epoch, index)``. An epoch holds
    ``samples_per_epoch`` items (default: total duration / segment length, at least one
    per track); item ``index`` reads track ``index % len(tracks)``.
    """

    def __init__(self, root: str | os.PathLike, split: str = "train",
                 sources: Sequence[str] = ("vocals", "accompaniment"), segment_seconds: float = 6.0,
                 sample_rate: int = 44100, channels: int = 2, *, seed: int = 0,
                 samples_per_epoch: int | None = None, remix: Remix | None = None) -> None:
        self.root = Path(root)
        self.tracks: list[Track] = multitrack_tracks(root, split)
        self.sources = tuple(sources)
        if not self.sources:
            raise DatasetError("no sources asked for", root)
        for t in self.tracks:
            for s in self.sources:
                t.parts(s)  # raises DatasetError naming the track when a source is missing
        self.segment = int(round(segment_seconds * sample_rate))
        if self.segment <= 0:
            raise DatasetError("segment_seconds must be positive", root)
        self.sample_rate, self.channels, self.seed, self.remix = sample_rate, channels, seed, remix
        self.lengths = [min(audio_frames(p, sample_rate) for s in self.sources for p in t.parts(s))
                        for t in self.tracks]
        # Per track, the stems that the asked sources leave out (a 4-stem and a 2-stem
        # track cover "vocals" + "accompaniment" with different stems).
        self.rest = []
        for t in self.tracks:
            covered = {b for s in self.sources for b in t.base_stems(s)}
            self.rest.append(tuple(b for b in t.stems if b not in covered))
        if samples_per_epoch is None:
            samples_per_epoch = max(len(self.tracks), sum(self.lengths) // self.segment)
        self.samples_per_epoch = int(samples_per_epoch)

    def __len__(self) -> int:
        return self.samples_per_epoch

    def _start(self, rng: np.random.Generator, track: int) -> int:
        return int(rng.integers(0, max(1, self.lengths[track] - self.segment + 1)))

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if not 0 <= index < len(self):
            raise IndexError(index)
        rng = self.rng(index)
        base = index % len(self.tracks)
        out: dict[str, np.ndarray] = {}
        first_track, first_start = base, self._start(rng, base)
        for i, source in enumerate(self.sources):
            track, start = first_track, first_start
            if self.remix is not None and i > 0 and rng.random() < self.remix.shuffle_probability:
                track = int(rng.integers(0, len(self.tracks)))
                start = self._start(rng, track)
            wav = read_sum(self.tracks[track].parts(source), start, self.segment,
                            self.sample_rate, self.channels)
            if self.remix is not None:
                lo, hi = self.remix.gain_db
                wav = wav * np.float32(10.0 ** (rng.uniform(lo, hi) / 20.0))
                if self.channels == 2 and rng.random() < self.remix.swap_probability:
                    wav = wav[::-1]
            out[source] = wav
        if "mixture" in out:  # asked for as a source: the track's own mixture
            return {k: _tensor(v) for k, v in out.items()}
        mixture = sum(out.values())
        if self.rest[first_track]:
            t = self.tracks[first_track]
            mixture = mixture + read_sum([p for s in self.rest[first_track] for p in t.parts(s)],
                                         first_start, self.segment, self.sample_rate, self.channels)
        out["mixture"] = mixture
        return {k: _tensor(v) for k, v in out.items()}


# ----------------------------------------------------------------------------- labelled


class _CropMixin(_Epochs):
    sample_rate: int
    channels: int
    segment: int | None
    random_crop: bool

    def _crop(self, path: Path, rng: np.random.Generator) -> np.ndarray:
        total = audio_frames(path, self.sample_rate)
        if self.segment is None:
            return read_segment(path, 0, total, self.sample_rate, self.channels)
        span = max(0, total - self.segment)
        start = int(rng.integers(0, span + 1)) if self.random_crop else span // 2
        return read_segment(path, start, self.segment, self.sample_rate, self.channels)


class LabelledClips(_CropMixin, Dataset):
    """GTZAN-layout clips of ``split`` as ``{"audio": (channels, samples), "label": int}``.

    ``classes`` are the sorted label names (the same for every split of one folder).
    With ``segment_seconds`` a crop of that length is returned (random per epoch when
    ``random_crop``, else centred); without, the whole clip."""

    def __init__(self, root: str | os.PathLike, split: str | None = "train", *,
                 segment_seconds: float | None = None, sample_rate: int = 22050,
                 channels: int = 1, seed: int = 0, random_crop: bool = True) -> None:
        every = gtzan_clips(root)
        self.classes = sorted({c.label for c in every})
        self.items: list[LabelledClip] = every if split is None else gtzan_clips(root, split)
        self.sample_rate, self.channels, self.seed = sample_rate, channels, seed
        self.segment = None if segment_seconds is None else int(round(segment_seconds * sample_rate))
        self.random_crop = random_crop

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        clip = self.items[index]
        wav = self._crop(clip.path, self.rng(index))
        return {"audio": _tensor(wav), "label": torch.tensor(self.classes.index(clip.label))}


class Utterances(_CropMixin, Dataset):
    """VCTK-layout utterances as ``{"audio": (channels, samples), "speaker": int}``.

    ``speakers`` restricts (and orders) the speakers; ``speaker_names`` maps the index
    back. ``utterances`` = ``slice(0, 9)`` keeps each speaker's first nine, etc."""

    def __init__(self, root: str | os.PathLike, *, speakers: Sequence[str] | None = None,
                 utterances: slice | None = None, segment_seconds: float | None = None,
                 sample_rate: int = 16000, channels: int = 1, seed: int = 0,
                 random_crop: bool = True, mic: str = "mic1") -> None:
        every = vctk_utterances(root, mic=mic)
        by_speaker: dict[str, list[Utterance]] = {}
        for u in every:
            by_speaker.setdefault(u.speaker, []).append(u)
        names = sorted(by_speaker) if speakers is None else list(speakers)
        missing = [s for s in names if s not in by_speaker]
        if missing:
            raise DatasetError(f"no utterances for speaker(s) {', '.join(missing)}", root)
        self.speaker_names = names
        self.items: list[Utterance] = []
        for s in names:
            self.items += by_speaker[s][utterances] if utterances is not None else by_speaker[s]
        self.sample_rate, self.channels, self.seed = sample_rate, channels, seed
        self.segment = None if segment_seconds is None else int(round(segment_seconds * sample_rate))
        self.random_crop = random_crop

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        u = self.items[index]
        wav = self._crop(u.path, self.rng(index))
        return {"audio": _tensor(wav), "speaker": torch.tensor(self.speaker_names.index(u.speaker))}


# ----------------------------------------------------------------------------- folders


@lru_cache(maxsize=65536)
def voiced_span(path: str, sample_rate: int, top_db: float = 40.0) -> tuple[int, int]:
    """(start, end) frames at ``sample_rate`` of ``path`` without leading and trailing
    silence (quieter than ``top_db`` below the peak). Cached per process."""
    from sonomorph.audio.silence import detect_nonsilent

    total = audio_frames(path, sample_rate)
    wav = read_segment(path, 0, total, sample_rate, 1)[0]
    spans = detect_nonsilent(wav, sample_rate, top_db)
    if len(spans) == 0:
        return 0, total
    return int(spans[0, 0]), int(spans[-1, 1])


class FolderSegments(_Epochs, Dataset):
    """Random ``segment_seconds`` crops of the audio files in a folder (recursive) as
    ``{"audio": (channels, samples)}``, for unpaired data such as the scream corpus's
    ``voices/`` and ``screams/``.

    With ``trim_silence`` crops lie inside each file's voiced span (leading and trailing
    silence removed), with a random gain in ``gain_db``. An epoch holds
    ``samples_per_epoch`` items (default: total duration / segment length); item
    ``index`` uses file ``index % len(files)``."""

    def __init__(self, folder: str | os.PathLike, segment_seconds: float = 1.0,
                 sample_rate: int = 22050, *, channels: int = 1, trim_silence: bool = True,
                 gain_db: tuple[float, float] = (-6.0, 0.0), seed: int = 0,
                 samples_per_epoch: int | None = None) -> None:
        self.files = folder_audio(folder)
        self.segment = int(round(segment_seconds * sample_rate))
        self.sample_rate, self.channels, self.seed = sample_rate, channels, seed
        self.trim_silence, self.gain_db = trim_silence, gain_db
        if samples_per_epoch is None:
            total = sum(audio_frames(p, sample_rate) for p in self.files)
            samples_per_epoch = max(len(self.files), total // max(1, self.segment))
        self.samples_per_epoch = int(samples_per_epoch)

    def __len__(self) -> int:
        return self.samples_per_epoch

    def crop(self, path: Path, rng: np.random.Generator, length: int | None = None) -> np.ndarray:
        """A random crop of ``length`` frames (default: the segment) from ``path``."""
        length = self.segment if length is None else length
        if self.trim_silence:
            a, b = voiced_span(os.fspath(path), self.sample_rate)
        else:
            a, b = 0, audio_frames(path, self.sample_rate)
        start = a + int(rng.integers(0, max(0, b - a - length) + 1))
        return read_segment(path, start, length, self.sample_rate, self.channels)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if not 0 <= index < len(self):
            raise IndexError(index)
        rng = self.rng(index)
        wav = self.crop(self.files[index % len(self.files)], rng)
        lo, hi = self.gain_db
        wav = wav * np.float32(10.0 ** (rng.uniform(lo, hi) / 20.0))
        return {"audio": _tensor(wav)}
