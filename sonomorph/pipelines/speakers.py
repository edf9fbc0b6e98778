"""Speaker enrolment and identification by 1-nearest-neighbour over utterance features.

Two feature extractors (``features=``):

``gram`` (the original method)
    The time-Gram of a frozen, seeded random CNN over the log1p-magnitude STFT of the voiced
    frames (16 kHz, ``n_fft`` 512, hop 128; frames more than 40 dB below the loudest are
    left out, so pauses do not dilute the statistics). The per-band ``C x C`` Grams
    (:func:`sonomorph.models.random_cnn.time_gram`) are flattened (upper triangles), square
    rooted (sign kept) to tame their dynamic range, centred and L2-normalised.
``resemblyzer`` (the stronger option)
    The 256-d utterance embedding of resemblyzer's pretrained speaker encoder (GE2E; its
    weights ship inside its wheel, nothing is downloaded), with its own voice-activity
    trimming.

An utterance's speaker is the enrolled speaker with the nearest enrolled utterance (cosine
distance). The enrolment database is one ``.safetensors`` file: the feature matrix plus
JSON metadata (speaker labels, source files, method and settings). Nothing is pickled.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from sonomorph.errors import AudioLoadError, CheckpointError, ConfigError, DependencyError
from sonomorph.utils.progress import ProgressCallback

__all__ = ["FEATURES", "DEFAULT_DB", "GramFeatures", "ResemblyzerFeatures", "make_extractor",
           "SpeakerDatabase", "Match", "enroll_folder", "speaker_files"]

FEATURES = ("gram", "resemblyzer")
DEFAULT_DB = "speakers.safetensors"
DB_FORMAT = "sonomorph-speakers"
DB_VERSION = 1
_META_KEY = "sonomorph_speakers"
SILENCE_RMS = 1e-4


def _check_voice(wav: np.ndarray, sr: int, min_samples: int,
                 path: str | os.PathLike | None) -> None:
    if wav.shape[-1] < min_samples:
        from sonomorph.errors import InputTooShortError

        raise InputTooShortError(f"{wav.shape[-1] / sr * 1000:.0f} ms is too short to describe "
                                 f"a voice (at least {min_samples / sr * 1000:.0f} ms)", path)
    if not float(np.sqrt(np.mean(np.square(wav, dtype=np.float64)))) > SILENCE_RMS:
        raise AudioLoadError("is silent: there is no voice to describe", path)


class GramFeatures:
    """Random-CNN time-Gram features of an utterance (see the module docstring)."""

    name = "gram"

    def __init__(self, *, sample_rate: int = 16000, n_fft: int = 512, hop_length: int = 128,
                 channels: int = 16, kernel: str = "3x1", bands: int = 32, seed: int = 0,
                 top_db: float = 40.0) -> None:
        from sonomorph.audio.spectral import Spectrogram
        from sonomorph.models.random_cnn import RandomCNN

        self.settings = {"sample_rate": int(sample_rate), "n_fft": int(n_fft),
                         "hop_length": int(hop_length), "channels": int(channels),
                         "kernel": str(kernel), "bands": int(bands), "seed": int(seed),
                         "top_db": float(top_db)}
        self.sample_rate, self.bands, self.top_db = int(sample_rate), int(bands), float(top_db)
        self.spec = Spectrogram(int(n_fft), int(hop_length), power=1.0)
        self.net = RandomCNN(channels=channels, kernel=kernel, seed=seed)
        self.min_samples = int(n_fft) + 4 * int(hop_length)

    def __call__(self, wav: np.ndarray, path: str | os.PathLike | None = None) -> np.ndarray:
        """The feature vector (float32, unit length) of a mono waveform at ``sample_rate``."""
        from sonomorph.models.random_cnn import time_gram

        _check_voice(wav, self.sample_rate, self.min_samples, path)
        with torch.no_grad():
            mag = self.spec(torch.from_numpy(np.ascontiguousarray(wav, dtype=np.float32)))
            energy = 10.0 * torch.log10(mag.pow(2).sum(dim=0).clamp_min(1e-20))
            kt = self.net.kernel[1]
            # A frame of the feature map covers input frames t .. t + kt - 1: keep it when
            # its centre frame is voiced.
            voiced = energy >= energy.max() - self.top_db
            keep = voiced[kt // 2: voiced.shape[0] - (kt - 1 - kt // 2)]
            feats = self.net(torch.log1p(mag)[None])
            if int(keep.sum()) >= 2:
                feats = feats[..., keep]
            gram = time_gram(feats, self.bands)[0]  # (bands, C, C)
            rows, cols = torch.triu_indices(gram.shape[-1], gram.shape[-1])
            vec = gram[:, rows, cols].reshape(-1)
            vec = torch.sign(vec) * vec.abs().sqrt()
            vec = vec - vec.mean()
            vec = vec / vec.norm().clamp_min(1e-12)
        return vec.numpy().astype(np.float32)


class ResemblyzerFeatures:
    """resemblyzer's 256-d speaker embedding (unit length) of an utterance."""

    name = "resemblyzer"

    def __init__(self, *, device: str = "cpu") -> None:
        try:
            from resemblyzer import VoiceEncoder
        except ImportError as exc:  # webrtcvad needs setuptools<81 to import
            raise DependencyError(f"the resemblyzer features need the resemblyzer package "
                                  f"(pip install resemblyzer 'setuptools<81'): {exc}") from None
        self.settings = {"sample_rate": 16000}
        self.sample_rate = 16000
        self.min_samples = 16000 // 2
        self.encoder = VoiceEncoder(device, verbose=False)

    def __call__(self, wav: np.ndarray, path: str | os.PathLike | None = None) -> np.ndarray:
        from resemblyzer import preprocess_wav

        _check_voice(wav, self.sample_rate, self.min_samples, path)
        trimmed = preprocess_wav(np.asarray(wav, dtype=np.float32), source_sr=self.sample_rate)
        if trimmed.shape[0] < self.sample_rate // 4:  # VAD found almost nothing: use it all
            trimmed = np.asarray(wav, dtype=np.float32)
        emb = self.encoder.embed_utterance(trimmed)
        return (emb / max(float(np.linalg.norm(emb)), 1e-12)).astype(np.float32)


def make_extractor(features: str = "gram", settings: dict | None = None, *,
                   device: str = "cpu") -> GramFeatures | ResemblyzerFeatures:
    """The extractor called ``features`` (``gram`` or ``resemblyzer``) with ``settings``."""
    if features == "gram":
        return GramFeatures(**(settings or {}))
    if features == "resemblyzer":
        return ResemblyzerFeatures(device=device)
    raise ConfigError(f"features must be one of {', '.join(FEATURES)}, not {features!r}")


def load_voice(path: str | os.PathLike, sample_rate: int) -> np.ndarray:
    """A file as a mono waveform at ``sample_rate`` (any format, rate, channel count)."""
    from sonomorph.audio.io import load

    wav, _ = load(path, sr=sample_rate, channels=1)
    return wav[0]


# ----------------------------------------------------------------------------- database


@dataclass
class Match:
    """One enrolled speaker and its distance (cosine distance to its nearest utterance)."""

    speaker: str
    distance: float


@dataclass
class SpeakerDatabase:
    """Enrolled utterances: ``features`` ``(N, D)`` float32 with one ``labels``/``files``
    entry per row, and the extractor (``method`` + ``settings``) that made them."""

    method: str
    settings: dict
    features: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    labels: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    @property
    def speakers(self) -> list[str]:
        """The enrolled speakers, sorted."""
        return sorted(set(self.labels))

    def extractor(self, device: str = "cpu") -> GramFeatures | ResemblyzerFeatures:
        """A fresh extractor identical to the one that filled the database."""
        return make_extractor(self.method, self.settings, device=device)

    def add(self, vectors: np.ndarray, labels: Sequence[str], files: Sequence[str]) -> None:
        """Append rows (``vectors`` ``(n, D)``) with their speaker labels and files."""
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(labels), -1)
        if self.features.size and vectors.shape[1] != self.features.shape[1]:
            raise ConfigError(f"feature size {vectors.shape[1]} differs from the database's "
                              f"{self.features.shape[1]}")
        self.features = vectors if not self.features.size else np.concatenate(
            [self.features, vectors])
        self.labels += [str(s) for s in labels]
        self.files += [str(f) for f in files]

    def rank(self, vector: np.ndarray) -> list[Match]:
        """Every enrolled speaker with its 1-NN cosine distance to ``vector``, nearest first."""
        if not self.labels:
            raise ConfigError("the speaker database is empty: enrol speakers first")
        v = np.asarray(vector, dtype=np.float32).reshape(-1)
        if v.shape[0] != self.features.shape[1]:
            raise ConfigError(f"a feature of size {v.shape[0]} cannot be compared with the "
                              f"database's {self.features.shape[1]}")
        dist = 1.0 - self.features @ v / np.maximum(
            np.linalg.norm(self.features, axis=1) * max(float(np.linalg.norm(v)), 1e-12), 1e-12)
        best: dict[str, float] = {}
        for label, d in zip(self.labels, dist.tolist()):
            best[label] = min(d, best.get(label, np.inf))
        return sorted((Match(s, float(d)) for s, d in best.items()), key=lambda m: m.distance)

    def identify_file(self, path: str | os.PathLike, *, extractor=None) -> list[Match]:
        """:meth:`rank` for an audio file (read at the extractor's rate, mono)."""
        extractor = extractor or self.extractor()
        wav = load_voice(path, extractor.sample_rate)
        return self.rank(extractor(wav, path))

    # ----------------------------------------------------------------- files

    def save(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write the database atomically as ``.safetensors`` (features + JSON metadata)."""
        import safetensors.torch

        from sonomorph.utils.fs import atomic_write_bytes

        meta = {"format": DB_FORMAT, "version": DB_VERSION, "method": self.method,
                "settings": self.settings, "labels": self.labels, "files": self.files}
        tensors = {"features": torch.from_numpy(np.ascontiguousarray(self.features))}
        data = safetensors.torch.save(tensors, metadata={_META_KEY: json.dumps(meta)})
        return atomic_write_bytes(path, data, overwrite=overwrite)

    @classmethod
    def load(cls, path: str | os.PathLike) -> SpeakerDatabase:
        """Read a database written by :meth:`save`; a one-line :class:`CheckpointError`
        for a missing, corrupt or foreign file."""
        import safetensors.torch

        from sonomorph.models.checkpoint import read_safetensors_header

        path = Path(path)
        if not path.is_file():
            raise CheckpointError("no such speaker database (enrol speakers first: sonomorph "
                                  "speakers enroll DIR --db PATH)", path)
        header = read_safetensors_header(path)
        raw = (header.get("__metadata__") or {}).get(_META_KEY)
        try:
            meta = json.loads(raw) if raw is not None else None
        except json.JSONDecodeError:
            meta = None
        if not isinstance(meta, dict) or meta.get("format") != DB_FORMAT:
            raise CheckpointError("not a sonomorph speaker database", path)
        if int(meta.get("version", 0)) > DB_VERSION:
            raise CheckpointError("written by a newer sonomorph; upgrade to read it", path)
        try:
            features = safetensors.torch.load_file(path)["features"].numpy()
        except Exception as exc:  # noqa: BLE001 - SafetensorError, KeyError
            raise CheckpointError(f"corrupt speaker database: {str(exc).splitlines()[0]}",
                                  path) from None
        labels, files = list(meta.get("labels", [])), list(meta.get("files", []))
        if features.ndim != 2 or features.shape[0] != len(labels) or len(files) != len(labels):
            raise CheckpointError("corrupt speaker database: labels and features disagree", path)
        if meta.get("method") not in FEATURES:
            raise CheckpointError(f"unknown feature method {meta.get('method')!r}", path)
        return cls(meta["method"], dict(meta.get("settings") or {}),
                   features.astype(np.float32), labels, files)


# ----------------------------------------------------------------------------- enrolment


def speaker_files(root: str | os.PathLike) -> dict[str, list[Path]]:
    """``{speaker: [files]}`` of a VCTK-layout folder or a ``<speaker>/<files>`` folder,
    speakers and files sorted (the VCTK reader of :mod:`sonomorph.data.layouts`)."""
    from sonomorph.data.layouts import vctk_utterances

    out: dict[str, list[Path]] = {}
    for u in vctk_utterances(root):
        out.setdefault(u.speaker, []).append(u.path)
    return out


def enroll_folder(root: str | os.PathLike, db: SpeakerDatabase | None = None, *,
                  features: str = "gram", per_speaker: int | None = None,
                  speakers: int | None = None, device: str = "cpu",
                  progress: ProgressCallback | None = None) -> SpeakerDatabase:
    """Enrol every speaker of ``root`` (optionally the first ``speakers`` and the first
    ``per_speaker`` utterances of each) into ``db`` (a new one with ``features`` when
    None); returns the database. An unreadable or silent file raises its one-line error."""
    groups = speaker_files(root)
    names = sorted(groups)[: speakers or None]
    if db is None:
        extractor = make_extractor(features, device=device)
        db = SpeakerDatabase(extractor.name, dict(extractor.settings))
    else:
        extractor = db.extractor(device)
    todo = [(s, f) for s in names for f in groups[s][: per_speaker or None]]
    vectors = []
    for i, (_, f) in enumerate(todo):
        vectors.append(extractor(load_voice(f, extractor.sample_rate), f))
        if progress is not None:
            progress(i + 1, len(todo))
    db.add(np.stack(vectors), [s for s, _ in todo], [os.fspath(f) for _, f in todo])
    return db
