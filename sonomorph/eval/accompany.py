"""Scoring generated accompaniments against the true ones, beside baselines.

Metrics (on mono audio at :data:`EVAL_RATE`, between a generated and the true
accompaniment of the same voice):

``chroma``
    Frame-wise cosine similarity of CQT chroma (librosa, tuning fixed at A440, hop 512),
    averaged over the frames where the true accompaniment plays (within 40 dB of its
    loudest frame). 1 means the same pitch classes in the same proportions at every
    moment; a silent output scores 0. Does the harmony fit?
``onset_f1``
    F-measure of onsets detected in both (librosa's onset detector) matched one to one
    within +-50 ms. Does the rhythm line up?
``lsd``
    Log-spectral distance in dB: per frame, the RMS over bins of the difference of the
    two power spectra in dB (floor: 80 dB below the true accompaniment's peak), averaged
    over frames. Lower is better; it also punishes a wrong level.

Baselines: ``silence``; ``vocal`` (the input voice itself as the accompaniment);
``retrieval`` (for each 4-s stretch of the voice, the 4-s stretch of a *training*
accompaniment whose CQT chroma best matches the voice's, frame by frame; see
:class:`RetrievalBaseline`); ``true accompaniment`` (the ceiling).
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from sonomorph.audio.io import resample

__all__ = ["EVAL_RATE", "chroma", "chroma_similarity", "onset_f1", "log_spectral_distance",
           "score", "Reference", "RetrievalBaseline", "evaluate_accompaniment", "format_scores"]

EVAL_RATE = 22050
HOP = 512
MODEL_NAME = "sonomorph pix2pix"
CEILING_NAME = "true accompaniment (ceiling)"
METRICS = ("chroma", "onset_f1", "lsd")
ACTIVE_DB = -40.0  # frames within this of the loudest count as "the accompaniment plays"
LSD_N_FFT = 2048


def _mono(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x.mean(axis=0) if x.ndim == 2 else x


def chroma(wav: np.ndarray, sr: int = EVAL_RATE) -> np.ndarray:
    """CQT chroma ``(12, frames)`` of mono (or channel-averaged) audio at ``sr``
    (tuning fixed: librosa's tuning estimate is both unwanted here and crashes in numba
    on some machines)."""
    import librosa

    y = _mono(wav)
    if len(y) < HOP:
        y = np.pad(y, (0, HOP - len(y)))
    with warnings.catch_warnings():  # short clips: "n_fft too large" in the lowest octaves
        warnings.filterwarnings("ignore", message="n_fft=", category=UserWarning)
        c = librosa.feature.chroma_cqt(y=y, sr=sr, hop_length=HOP, tuning=0.0)
    return c.astype(np.float32)


def _frame_energy(y: np.ndarray, frames: int) -> np.ndarray:
    """Mean power of the ``HOP`` samples centred on each chroma frame."""
    n = frames * HOP
    y = np.pad(np.asarray(y, np.float64), (HOP // 2, max(0, n - len(y))))[:n]
    return (y.reshape(frames, HOP) ** 2).mean(axis=1)


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    num = (a * b).sum(axis=0)
    den = np.linalg.norm(a, axis=0) * np.linalg.norm(b, axis=0)
    return np.where(den > 1e-12, num / np.maximum(den, 1e-12), 0.0)


@dataclass
class Reference:
    """A true accompaniment's features, computed once and compared with many estimates."""

    audio: np.ndarray  #: mono at ``sr``
    sr: int
    chroma: np.ndarray  #: (12, frames)
    active: np.ndarray  #: (frames,) bool: frames where it plays
    onsets: np.ndarray  #: seconds
    power: np.ndarray  #: (bins, frames), n_fft LSD_N_FFT

    @classmethod
    def of(cls, wav: np.ndarray, sr: int = EVAL_RATE, active_db: float = ACTIVE_DB) -> Reference:
        y = _mono(wav)
        c = chroma(y, sr)
        energy = _frame_energy(y, c.shape[1])
        active = energy > energy.max() * 10 ** (active_db / 10) if energy.max() > 0 else \
            np.ones(c.shape[1], bool)
        return cls(y, sr, c, active, _onsets(y, sr), _power(y))


def _reference(reference: np.ndarray | Reference, sr: int) -> Reference:
    return reference if isinstance(reference, Reference) else Reference.of(reference, sr)


def _power(y: np.ndarray) -> np.ndarray:
    import librosa

    return np.abs(librosa.stft(y, n_fft=LSD_N_FFT, hop_length=HOP)) ** 2


def chroma_similarity(estimate: np.ndarray, reference: np.ndarray | Reference,
                      sr: int = EVAL_RATE) -> float:
    """Mean frame-wise cosine of CQT chroma over the frames where ``reference`` plays."""
    est = _mono(estimate)
    if not np.any(est):
        return 0.0
    ref = _reference(reference, sr)
    ce = chroma(est, sr)
    frames = min(ce.shape[1], ref.chroma.shape[1])
    active = ref.active[:frames]
    cos = _cosines(ce[:, :frames], ref.chroma[:, :frames])
    return float(cos[active].mean()) if active.any() else float("nan")


def _onsets(y: np.ndarray, sr: int) -> np.ndarray:
    import librosa

    if not np.any(y):
        return np.zeros(0)
    return librosa.onset.onset_detect(y=y, sr=sr, hop_length=HOP, units="time")


def onset_f1(estimate: np.ndarray, reference: np.ndarray | Reference, sr: int = EVAL_RATE, *,
             tolerance: float = 0.05) -> float:
    """F-measure of onsets matched one to one within ``tolerance`` seconds (greedy in
    time order: each reference onset takes the nearest unmatched estimated one)."""
    est, ref = _onsets(_mono(estimate), sr), _reference(reference, sr).onsets
    if len(ref) == 0 and len(est) == 0:
        return 1.0
    if len(ref) == 0 or len(est) == 0:
        return 0.0
    used = np.zeros(len(est), bool)
    hits = 0
    for t in ref:
        d = np.abs(est - t)
        d[used] = np.inf
        j = int(np.argmin(d))
        if d[j] <= tolerance:
            used[j] = True
            hits += 1
    precision, recall = hits / len(est), hits / len(ref)
    return 0.0 if hits == 0 else 2 * precision * recall / (precision + recall)


def log_spectral_distance(estimate: np.ndarray, reference: np.ndarray | Reference,
                          sr: int = EVAL_RATE, *, floor_db: float = -80.0) -> float:
    """Mean over frames of the RMS over bins of the dB difference of the power spectra
    (n_fft 2048), both floored at ``floor_db`` below the reference's peak."""
    ref = _reference(reference, sr)
    est = _mono(estimate)
    pe, pr = _power(est), ref.power
    frames = min(pe.shape[1], pr.shape[1])
    if frames == 0:
        return float("nan")
    pe, pr = pe[:, :frames], pr[:, :frames]
    floor = max(float(pr.max()), 1e-20) * 10 ** (floor_db / 10)
    diff = 10 * np.log10(np.maximum(pr, floor)) - 10 * np.log10(np.maximum(pe, floor))
    return float(np.sqrt((diff ** 2).mean(axis=0)).mean())


def score(estimate: np.ndarray, reference: np.ndarray | Reference,
          sr: int = EVAL_RATE) -> dict[str, float]:
    """All three metrics of a generated accompaniment (audio at ``sr``); pass a
    :class:`Reference` to score several estimates against one accompaniment."""
    ref = _reference(reference, sr)
    return {"chroma": chroma_similarity(estimate, ref, sr),
            "onset_f1": onset_f1(estimate, ref, sr),
            "lsd": log_spectral_distance(estimate, ref, sr)}


# ----------------------------------------------------------------------------- retrieval


class RetrievalBaseline:
    """Nearest-neighbour accompaniment from the training set, by chroma.

    The database holds every ``segment_s``-second stretch (every ``segment_s / 2``) of the
    training accompaniments with its CQT chroma. A voice is cut into consecutive stretches
    of ``segment_s``; each is replaced by the database stretch whose chroma is most similar
    to the voice's chroma, frame by frame (mean cosine); the stretches are concatenated.
    It knows the training data as well as the model does, but it cannot follow the voice
    within a stretch.
    """

    def __init__(self, data: str | os.PathLike, *, split: str = "train", segment_s: float = 4.0,
                 tracks: int | None = None, progress: Callable[[float, float], None] | None = None
                 ) -> None:
        from sonomorph.data.datasets import audio_frames, read_segment
        from sonomorph.data.layouts import multitrack_tracks

        self._read = read_segment
        self.items = multitrack_tracks(data, split)
        if tracks:
            self.items = self.items[: int(tracks)]
        self.frames = max(1, int(round(segment_s * EVAL_RATE / HOP)))
        self.segment = self.frames * HOP
        keys, feats = [], []
        for i, track in enumerate(self.items):
            parts = track.parts("accompaniment")
            n = min(audio_frames(p, EVAL_RATE) for p in parts)
            acc = sum(read_segment(p, 0, n, EVAL_RATE, 1)[0] for p in parts)
            c = chroma(acc)
            c = c / np.maximum(np.linalg.norm(c, axis=0, keepdims=True), 1e-12)
            step = max(1, self.frames // 2)
            for f in range(0, max(1, c.shape[1] - self.frames + 1), step):
                block = c[:, f:f + self.frames]
                if block.shape[1] < self.frames:
                    block = np.pad(block, ((0, 0), (0, self.frames - block.shape[1])))
                keys.append((i, f * HOP))
                feats.append(block)
            if progress is not None:
                progress(i + 1, len(self.items))
        self.keys = keys
        self.features = np.stack(feats).astype(np.float32)  # (N, 12, frames)

    def __call__(self, voice: np.ndarray, sr: int) -> np.ndarray:
        """An accompaniment for ``voice`` (``(channels, samples)`` at ``sr``): mono, at ``sr``."""
        y = resample(_mono(voice), sr, EVAL_RATE)
        c = chroma(y)
        c = c / np.maximum(np.linalg.norm(c, axis=0, keepdims=True), 1e-12)
        out = np.zeros(len(y), dtype=np.float32)
        for f in range(0, c.shape[1], self.frames):
            q = c[:, f:f + self.frames]
            scores = np.einsum("ct,nct->n", q, self.features[:, :, : q.shape[1]])
            track, start = self.keys[int(np.argmax(scores))]
            a = f * HOP
            b = min(len(y), a + self.segment)
            if b <= a:
                break
            parts = self.items[track].parts("accompaniment")
            seg = sum(self._read(p, start, b - a, EVAL_RATE, 1)[0] for p in parts)
            out[a:b] = seg
        return resample(out, EVAL_RATE, sr)


# ----------------------------------------------------------------------------- evaluation


def evaluate_accompaniment(accompanist, data: str | os.PathLike, *, split: str = "test",
                           tracks: int | None = None, seconds: float | None = None,
                           baselines: bool = True, retrieval_tracks: int | None = None,
                           progress: Callable[[float, float], None] | None = None) -> dict:
    """Score ``accompanist`` (an :class:`~sonomorph.pipelines.accompany.Accompanist`, a
    callable ``(voice, sr) -> accompaniment``, or a mapping of names to either) on the
    held-out ``split`` of a multitrack folder, beside the baselines, on the same excerpts.

    Returns ``{"split", "tracks", "seconds", "methods": {name: {metric: mean}},
    "per_track": {name: [{"track", metric: value}]}}``.
    """
    from sonomorph.data.layouts import multitrack_tracks
    from sonomorph.eval.baselines import load_track

    items = multitrack_tracks(data, split)
    if tracks:
        items = items[: int(tracks)]
    sr = 44100

    systems = accompanist if isinstance(accompanist, Mapping) else {MODEL_NAME: accompanist}

    def run(system) -> Callable[[dict], np.ndarray]:
        if hasattr(system, "generate"):
            return lambda audio: system.generate(audio["vocals"], sr).accompaniment
        return lambda audio: system(audio["vocals"], sr)

    methods: dict[str, Callable[[dict], np.ndarray]] = {name: run(system)
                                                       for name, system in systems.items()}
    if baselines:
        retrieval = RetrievalBaseline(data, tracks=retrieval_tracks)
        methods["silence"] = lambda a: np.zeros_like(a["vocals"])
        methods["vocal"] = lambda a: a["vocals"]
        methods["retrieval"] = lambda a: retrieval(a["vocals"], sr)
        methods[CEILING_NAME] = lambda a: a["accompaniment"]
    per_track: dict[str, list[dict[str, Any]]] = {m: [] for m in methods}
    steps, done = len(items) * len(methods), 0
    for track in items:
        audio = load_track(track, sr, seconds)
        reference = Reference.of(resample(_mono(audio["accompaniment"]), sr, EVAL_RATE))
        for name, method in methods.items():
            est = resample(_mono(method(audio)), sr, EVAL_RATE)
            per_track[name].append({"track": track.name, **score(est, reference)})
            done += 1
            if progress is not None:
                progress(done, steps)
    summary = {name: {m: _mean([r[m] for r in rows]) for m in METRICS}
               for name, rows in per_track.items()}
    return {"split": split, "tracks": [t.name for t in items], "seconds": seconds,
            "methods": summary, "per_track": per_track}


def _mean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def format_scores(scores: dict) -> str:
    """The summary of :func:`evaluate_accompaniment` as a markdown table."""
    lines = ["| method | chroma similarity (higher) | onset F1 (higher) | LSD dB (lower) |",
             "|---|---|---|---|"]

    def cell(x: float | None) -> str:
        return "–" if x is None or not math.isfinite(x) else f"{x:.3f}"

    for name, res in scores["methods"].items():
        lines.append(f"| {name} | {cell(res.get('chroma'))} | {cell(res.get('onset_f1'))} | "
                     f"{cell(res.get('lsd'))} |")
    span = "whole tracks" if not scores.get("seconds") else f"{scores['seconds']:g} s per track"
    lines += ["", f"{len(scores['tracks'])} held-out track(s) of split '{scores['split']}', "
              f"{span}; means over tracks. Chroma: CQT, frame-wise cosine over the frames where "
              "the true accompaniment plays; onsets matched within 50 ms; LSD with an 80 dB "
              "floor."]
    return "\n".join(lines)
