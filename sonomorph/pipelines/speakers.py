"""Speaker enrolment and identification by 1-nearest-neighbour over utterance features.

The features (``gram``, ``resemblyzer``, ``ours``, ``adapted``: the extractors,
:data:`DEFAULT_FEATURES`, clip checks and padding) live in :mod:`sonomorph.pipelines.speaker_features`; their names
are re-exported here, so ``from sonomorph.pipelines.speakers import make_extractor`` keeps
working. This module is the speaker database and what is done with it.

An utterance's speaker is the enrolled speaker with the nearest enrolled utterance (cosine
distance). The enrolment database is one ``.safetensors`` file: the feature matrix plus
JSON metadata (speaker labels, source files, the sha256 of each file's bytes, method and
settings, and the "unknown" threshold with how it was calibrated). Nothing is pickled.
A database keeps the features it was made with: identification and later enrolments use
its recorded method and settings, whatever the default is now, and asking to enrol other
features into it is a one-line :class:`ConfigError` (:func:`check_features`).

A clip that is too short, silent, non-finite or unreadable is skipped by :func:`enroll`
and :func:`calibrate` and counted by reason. A clip whose bytes are already in the
database is not enrolled again (same speaker: skipped; another speaker: relabelled).

"Unknown": :func:`calibrate` sets ``threshold`` to the equal-error point between the
nearest-neighbour distances of enrolled speakers' own utterances (each left out of the
database in turn) and those of held-out speakers who are not enrolled; identification then
answers :data:`UNKNOWN` when the nearest enrolled utterance is farther than that.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from sonomorph.errors import CheckpointError, ConfigError
from sonomorph.pipelines.speaker_features import (
    BACKEND_KIND,
    DEFAULT_FEATURES,
    ENCODER_KIND,
    FEATURES,
    MIN_VOICE_SECONDS,
    NO_BACKEND,
    NO_ENCODER,
    AdaptedFeatures,
    EncoderFeatures,
    Extractor,
    GramFeatures,
    ResemblyzerFeatures,
    SilentVoiceError,
    backend_available,
    backend_file,
    encoder_available,
    encoder_file,
    extract_or_skip,
    feature_versions,
    load_voice,
    make_extractor,
    skip_reason,
)
from sonomorph.utils.hashing import sha256_file
from sonomorph.utils.progress import ProgressCallback

__all__ = ["DEFAULT_DB", "UNKNOWN", "check_features", "SpeakerDatabase", "Match", "EnrolResult",
           "enroll", "enroll_folder", "calibrate", "eer_threshold", "genuine_distances",
           "speaker_files", "choose_speakers",
           # re-exported from sonomorph.pipelines.speaker_features
           "FEATURES", "DEFAULT_FEATURES", "NO_ENCODER", "ENCODER_KIND", "NO_BACKEND",
           "BACKEND_KIND", "MIN_VOICE_SECONDS", "SilentVoiceError", "GramFeatures",
           "ResemblyzerFeatures", "EncoderFeatures", "AdaptedFeatures", "Extractor",
           "encoder_available", "encoder_file", "backend_available", "backend_file",
           "make_extractor", "feature_versions", "extract_or_skip", "skip_reason", "load_voice"]

DEFAULT_DB = "speakers.safetensors"
DB_FORMAT = "sonomorph-speakers"
DB_VERSION = 2
_META_KEY = "sonomorph_speakers"
UNKNOWN = "unknown"  # what identification answers below the calibrated threshold


def check_features(db: SpeakerDatabase, features: str | None,
                   settings: dict | None = None) -> None:
    """A one-line :class:`ConfigError` when ``features`` (None: whatever the database
    holds) or, for ``ours`` and ``adapted``, the model file in ``settings`` (the speaker
    encoder, the speaker back-end) differ from what ``db`` was made with: one database
    never mixes feature sets."""
    if features is not None and features != db.method:
        raise ConfigError(f"this speaker database holds {db.method} features and cannot take "
                          f"{features} ones: enrol into a new database, or leave the features "
                          f"to the database")
    files = {"ours": (encoder_file, "speaker encoder"),
             "adapted": (backend_file, "speaker back-end")}
    if db.method in files and settings and settings.get("model"):
        find, what = files[db.method]
        digest = sha256_file(find(settings["model"]))
        if db.settings.get("sha256") and digest != db.settings["sha256"]:
            raise ConfigError(f"this speaker database was made with another {what} "
                              "(sha256 differs): enrol into a new database")


# ----------------------------------------------------------------------------- database


@dataclass
class Match:
    """One enrolled speaker and its distance (cosine distance to its nearest utterance)."""

    speaker: str
    distance: float


@dataclass
class SpeakerDatabase:
    """Enrolled utterances: ``features`` ``(N, D)`` float32 with one ``labels``/``files``/
    ``hashes`` entry per row (``hashes``: sha256 of the file's bytes, "" when unknown), the
    extractor (``method`` + ``settings``) that made them, and the distance ``threshold``
    beyond which identification answers :data:`UNKNOWN` (None: always name someone), with
    ``calibration`` saying how it was chosen."""

    method: str
    settings: dict
    features: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    labels: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    hashes: list[str] = field(default_factory=list)
    threshold: float | None = None
    calibration: dict | None = None

    @property
    def speakers(self) -> list[str]:
        """The enrolled speakers, sorted."""
        return sorted(set(self.labels))

    def extractor(self, device: str = "cpu") -> Extractor:
        """A fresh extractor identical to the one that filled the database."""
        return make_extractor(self.method, self.settings, device=device)

    def add(self, vectors: np.ndarray, labels: Sequence[str], files: Sequence[str],
            hashes: Sequence[str] | None = None) -> None:
        """Append rows (``vectors`` ``(n, D)``) with their speaker labels, files and the
        sha256 of each file's bytes."""
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(labels), -1)
        if self.features.size and vectors.shape[1] != self.features.shape[1]:
            raise ConfigError(f"feature size {vectors.shape[1]} differs from the database's "
                              f"{self.features.shape[1]}")
        self.features = vectors if not self.features.size else np.concatenate(
            [self.features, vectors])
        self.labels += [str(s) for s in labels]
        self.files += [str(f) for f in files]
        self.hashes += [str(h) for h in hashes] if hashes is not None else [""] * len(labels)

    def distances(self, vector: np.ndarray) -> np.ndarray:
        """Cosine distance of ``vector`` to every enrolled row."""
        if not self.labels:
            raise ConfigError("the speaker database is empty: enrol speakers first")
        v = np.asarray(vector, dtype=np.float32).reshape(-1)
        if v.shape[0] != self.features.shape[1]:
            raise ConfigError(f"a feature of size {v.shape[0]} cannot be compared with the "
                              f"database's {self.features.shape[1]}")
        return 1.0 - self.features @ v / np.maximum(
            np.linalg.norm(self.features, axis=1) * max(float(np.linalg.norm(v)), 1e-12), 1e-12)

    def rank(self, vector: np.ndarray) -> list[Match]:
        """Every enrolled speaker with its 1-NN cosine distance to ``vector``, nearest first."""
        best: dict[str, float] = {}
        for label, d in zip(self.labels, self.distances(vector).tolist()):
            best[label] = min(d, best.get(label, np.inf))
        return sorted((Match(s, float(d)) for s, d in best.items()), key=lambda m: m.distance)

    def decide(self, ranked: Sequence[Match], threshold: float | None = None) -> str:
        """The answer for a ranking: the nearest speaker, or :data:`UNKNOWN` when it is
        farther than ``threshold`` (default: the database's calibrated one)."""
        limit = self.threshold if threshold is None else threshold
        if limit is not None and ranked[0].distance > limit:
            return UNKNOWN
        return ranked[0].speaker

    def identify_file(self, path: str | os.PathLike, *, extractor=None) -> list[Match]:
        """:meth:`rank` for an audio file (read at the extractor's rate, mono)."""
        extractor = extractor or self.extractor()
        wav = load_voice(path, extractor.sample_rate)
        return self.rank(extractor(wav, path))

    # ----------------------------------------------------------------- the contract

    def process(self, wav: np.ndarray, sr: int, *, progress: ProgressCallback | None = None,
                extractor=None) -> list[Match]:
        """:meth:`rank` for a waveform ``(channels, samples)`` or ``(samples,)`` at ``sr``
        (downmixed to mono and resampled to the extractor's rate): every enrolled speaker,
        nearest first; :meth:`decide` gives the answer. ``extractor``: one made by
        :meth:`extractor`, to reuse it over many calls."""
        from sonomorph.audio.io import mix_channels, resample

        extractor = extractor or self.extractor()
        wav = np.asarray(wav, dtype=np.float32)
        wav = mix_channels(wav.reshape(1, -1) if wav.ndim == 1 else wav, 1)[0]
        ranked = self.rank(extractor(resample(wav, sr, extractor.sample_rate)))
        if progress is not None:
            progress(1, 1)
        return ranked

    def process_file(self, src: str | os.PathLike, out: str | os.PathLike | None = None, *,
                     overwrite: bool = False, progress: ProgressCallback | None = None,
                     extractor=None, threshold: float | None = None) -> list[Match]:
        """:meth:`identify_file`; with ``out``, also writes the answer there as JSON
        (``file``, ``speaker``: the answer, None for :data:`UNKNOWN`; ``nearest``,
        ``threshold``, ``distances``), atomically, never over ``src`` nor over an existing
        file unless ``overwrite``."""
        if out is not None:
            from sonomorph.utils.fs import check_output

            check_output(out, overwrite=overwrite, inputs=[src])
        ranked = self.identify_file(src, extractor=extractor)
        if out is not None:
            from sonomorph.utils.fs import atomic_write_text

            answer = self.decide(ranked, threshold)
            limit = self.threshold if threshold is None else threshold
            finite = limit is not None and bool(np.isfinite(limit))
            doc = {"file": Path(src).name, "speaker": None if answer == UNKNOWN else answer,
                   "nearest": ranked[0].speaker, "threshold": float(limit) if finite else None,
                   "distances": {m.speaker: m.distance for m in ranked}}
            atomic_write_text(out, json.dumps(doc, indent=2) + "\n", overwrite=overwrite)
        if progress is not None:
            progress(1, 1)
        return ranked

    # ----------------------------------------------------------------- files

    def save(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write the database atomically as ``.safetensors`` (features + JSON metadata)."""
        import safetensors.torch

        from sonomorph.utils.fs import atomic_write_bytes

        meta = {"format": DB_FORMAT, "version": DB_VERSION, "method": self.method,
                "settings": self.settings, "labels": self.labels, "files": self.files,
                "hashes": self.hashes, "threshold": self.threshold,
                "calibration": self.calibration}
        tensors = {"features": torch.from_numpy(np.ascontiguousarray(self.features))}
        data = safetensors.torch.save(tensors, metadata={_META_KEY: json.dumps(meta)})
        return atomic_write_bytes(path, data, overwrite=overwrite)

    @classmethod
    def load(cls, path: str | os.PathLike) -> SpeakerDatabase:
        """Read a database written by :meth:`save` (version 1 files have no hashes and no
        threshold); a one-line :class:`CheckpointError` for a missing, corrupt or foreign
        file."""
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
        hashes = list(meta.get("hashes") or [""] * len(labels))
        if (features.ndim != 2 or features.shape[0] != len(labels) or len(files) != len(labels)
                or len(hashes) != len(labels)):
            raise CheckpointError("corrupt speaker database: labels and features disagree", path)
        if meta.get("method") not in FEATURES:
            raise CheckpointError(f"unknown feature method {meta.get('method')!r}", path)
        threshold = meta.get("threshold")
        if threshold is not None and not isinstance(threshold, (int, float)):
            raise CheckpointError("corrupt speaker database: the threshold is not a number", path)
        return cls(meta["method"], dict(meta.get("settings") or {}),
                   features.astype(np.float32), labels, files, hashes,
                   None if threshold is None else float(threshold), meta.get("calibration"))


# ----------------------------------------------------------------------------- enrolment


def speaker_files(root: str | os.PathLike) -> dict[str, list[Path]]:
    """``{speaker: [files]}`` of a VCTK-layout folder or a ``<speaker>/<files>`` folder,
    speakers and files sorted (the VCTK reader of :mod:`sonomorph.data.layouts`)."""
    from sonomorph.data.layouts import vctk_utterances

    out: dict[str, list[Path]] = {}
    for u in vctk_utterances(root):
        out.setdefault(u.speaker, []).append(u.path)
    return out


def choose_speakers(available: Sequence[str], asked: int | None) -> tuple[list[str], str | None]:
    """The first ``asked`` of the sorted ``available`` speakers, and a note when fewer are
    there than asked (then all are used)."""
    names = sorted(available)
    if asked is None or asked <= len(names):
        return names[: asked or None], None
    return names, f"{asked} speakers asked for, the folder holds {len(names)}: using all {len(names)}"


@dataclass
class EnrolResult:
    """What :func:`enroll` did: ``added`` rows, clips ``duplicates`` (their bytes were in
    the database already, same speaker), ``relabelled`` (already there under another
    speaker: the row now names this one), ``skipped`` ``{reason: [message]}`` (``short``,
    ``silent``, ``unreadable``), and ``note`` (a speaker count above the folder's)."""

    db: SpeakerDatabase
    added: int = 0
    duplicates: int = 0
    relabelled: int = 0
    skipped: dict[str, list[str]] = field(default_factory=dict)
    note: str | None = None

    @property
    def skipped_count(self) -> int:
        return sum(len(v) for v in self.skipped.values())

    def summary(self) -> str:
        """One line: rows added, duplicates, skips by reason, and the note."""
        parts = [f"enrolled {self.added} utterances"]
        if self.duplicates or self.relabelled:
            parts.append(f"{self.duplicates} already enrolled (same bytes) skipped"
                         + (f", {self.relabelled} relabelled" if self.relabelled else ""))
        if self.skipped:
            reasons = ", ".join(f"{len(v)} {k}" for k, v in sorted(self.skipped.items()))
            parts.append(f"{self.skipped_count} clips skipped ({reasons})")
        if self.note:
            parts.append(self.note)
        return "; ".join(parts)


def enroll(root: str | os.PathLike, db: SpeakerDatabase | None = None, *,
           features: str | None = None, per_speaker: int | None = None,
           speakers: int | None = None, device: str = "cpu", settings: dict | None = None,
           progress: ProgressCallback | None = None) -> EnrolResult:
    """Enrol the speakers of ``root`` (the first ``speakers``, all when the folder holds
    fewer, and the first ``per_speaker`` usable clips of each) into ``db`` (a new one with
    ``features``, default :data:`DEFAULT_FEATURES`, when None, its extractor made with
    ``settings``: ``{"model": PATH}`` for ``ours`` and ``adapted``). An existing ``db`` is
    extended with the features it records; other ``features`` are refused
    (:func:`check_features`).

    Short clips are padded (:mod:`~sonomorph.pipelines.speaker_features`); clips under
    :data:`MIN_VOICE_SECONDS`, silent or unreadable ones are skipped and counted. A clip
    whose bytes are already enrolled is not added again. Raises :class:`ConfigError` when
    no clip at all could be enrolled into an empty database."""
    if db is not None:
        check_features(db, features, settings)
    groups = speaker_files(root)
    names, note = choose_speakers(groups, speakers)
    if db is None:
        extractor = make_extractor(features or DEFAULT_FEATURES, settings, device=device)
        db = SpeakerDatabase(extractor.name, dict(extractor.settings))
    else:
        extractor = db.extractor(device)
    result = EnrolResult(db, note=note)
    known = {h: i for i, h in enumerate(db.hashes) if h}
    for i, f in enumerate(db.files):  # version-1 rows: hash the file when it is still there
        if not db.hashes[i] and Path(f).is_file():
            db.hashes[i] = sha256_file(f)
            known.setdefault(db.hashes[i], i)
    todo = [(s, f) for s in names for f in groups[s]]
    total = sum(min(len(groups[s]), per_speaker or len(groups[s])) for s in names)
    vectors, labels, files, hashes = [], [], [], []
    taken: dict[str, int] = {}
    fresh: set[str] = set()
    done = 0
    for s, f in todo:
        if per_speaker and taken.get(s, 0) >= per_speaker:
            continue
        digest = sha256_file(f) if f.is_file() else ""
        row = known.get(digest) if digest else None
        if digest and digest in fresh:  # the same bytes twice in this folder
            result.duplicates += 1
        elif row is not None:
            if db.labels[row] == s:
                result.duplicates += 1
            else:
                db.labels[row], db.files[row] = s, os.fspath(f)
                result.relabelled += 1
            taken[s] = taken.get(s, 0) + 1
        else:
            vec = extract_or_skip(extractor, f, result.skipped)
            if vec is not None:
                vectors.append(vec)
                labels.append(s)
                files.append(os.fspath(f))
                hashes.append(digest)
                if digest:
                    fresh.add(digest)
                taken[s] = taken.get(s, 0) + 1
        done += 1
        if progress is not None:
            progress(min(done, total), total)
    if vectors:
        db.add(np.stack(vectors), labels, files, hashes)
    elif not db.labels:
        reasons = ", ".join(f"{len(v)} {k}" for k, v in sorted(result.skipped.items()))
        raise ConfigError(f"no usable clip to enrol ({reasons or 'no clips'})", root)
    result.added = len(vectors)
    return result


def enroll_folder(root: str | os.PathLike, db: SpeakerDatabase | None = None, **kwargs
                  ) -> SpeakerDatabase:
    """:func:`enroll`, returning only the database."""
    return enroll(root, db, **kwargs).db


# ----------------------------------------------------------------------------- "unknown"


def eer_threshold(genuine: Sequence[float], impostor: Sequence[float]) -> tuple[float, float]:
    """``(threshold, equal error rate)``: the distance at which the share of ``genuine``
    distances above it (false rejections) equals, as nearly as the data allow, the share
    of ``impostor`` distances at or below it (false acceptances)."""
    g = np.sort(np.asarray(genuine, dtype=np.float64))
    m = np.sort(np.asarray(impostor, dtype=np.float64))
    if not g.size or not m.size:
        raise ConfigError("calibration needs enrolled speakers with two or more utterances "
                          "and held-out speakers")
    points = np.unique(np.concatenate([g, m]))
    candidates = np.concatenate([[points[0] - 1e-6], (points[:-1] + points[1:]) / 2,
                                 [points[-1] + 1e-6]])
    frr = 1.0 - np.searchsorted(g, candidates, side="right") / g.size
    far = np.searchsorted(m, candidates, side="right") / m.size
    best = int(np.argmin(np.abs(frr - far) + 1e-9 * np.arange(candidates.size)))
    return float(candidates[best]), float((frr[best] + far[best]) / 2)


def genuine_distances(db: SpeakerDatabase) -> np.ndarray:
    """Leave-one-out nearest distances of the enrolled rows of speakers with two or more
    rows: what a new utterance of an enrolled speaker scores."""
    feats = db.features / np.maximum(np.linalg.norm(db.features, axis=1, keepdims=True), 1e-12)
    dist = 1.0 - feats @ feats.T
    np.fill_diagonal(dist, np.inf)
    counts = {s: db.labels.count(s) for s in set(db.labels)}
    rows = [i for i, s in enumerate(db.labels) if counts[s] >= 2]
    return dist[rows].min(axis=1) if rows else np.zeros(0)


def calibrate(db: SpeakerDatabase, heldout: str | os.PathLike | dict[str, list[np.ndarray]],
              *, per_speaker: int | None = 10, extractor: Extractor | None = None,
              device: str = "cpu", progress: ProgressCallback | None = None) -> dict:
    """Set ``db.threshold`` (and ``db.calibration``) from held-out speakers.

    ``heldout`` is a folder of speakers (VCTK layout or ``<speaker>/<files>``; speakers
    also enrolled in ``db`` and clips whose bytes are enrolled are left out; at most
    ``per_speaker`` usable clips each) or ``{speaker: [feature vectors]}``. The threshold
    is the equal-error point of :func:`eer_threshold` between :func:`genuine_distances`
    and the held-out clips' nearest distances. Returns the calibration record."""
    skipped: dict[str, list[str]] = {}
    if isinstance(heldout, dict):
        vectors = {s: list(v) for s, v in heldout.items() if s not in set(db.labels)}
        source = "given features"
    else:
        extractor = extractor or db.extractor(device)
        groups = speaker_files(heldout)
        enrolled, hashes = set(db.labels), {h for h in db.hashes if h}
        names = [s for s in sorted(groups) if s not in enrolled]
        vectors = {}
        total = sum(min(len(groups[s]), per_speaker or len(groups[s])) for s in names)
        done = 0
        for s in names:
            for f in groups[s]:
                if per_speaker and len(vectors.get(s, [])) >= per_speaker:
                    break
                if sha256_file(f) not in hashes:
                    vec = extract_or_skip(extractor, f, skipped)
                    if vec is not None:
                        vectors.setdefault(s, []).append(vec)
                done += 1
                if progress is not None:
                    progress(min(done, total), total)
        source = Path(heldout).name
    impostor = [float(db.distances(v).min()) for vs in vectors.values() for v in vs]
    genuine = genuine_distances(db)
    threshold, eer = eer_threshold(genuine, impostor)
    db.threshold = threshold
    db.calibration = {
        "method": "equal error rate: enrolled utterances left out in turn against held-out "
                  "speakers' utterances, 1-NN cosine distance",
        "heldout": source, "heldout_speakers": len([s for s in vectors if vectors[s]]),
        "heldout_clips": len(impostor), "genuine_trials": int(len(genuine)),
        "enrolled_speakers": len(db.speakers), "enrolled_rows": len(db.labels),
        "equal_error_rate": eer, "threshold": threshold,
        "skipped": {k: len(v) for k, v in sorted(skipped.items())},
    }
    return db.calibration
