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
    within +-50 ms. Does the rhythm line up? Both are peak-picked on the *true*
    accompaniment's scale (an onset must rise 7 % of the range of the truth's onset
    strength above its surroundings; :data:`ONSET_DELTA`), which for the truth is
    librosa's default. librosa's default for the estimate would scale its threshold to the
    estimate's own range, so that the small fluctuations of a sustained chord or a steady
    noise became "onsets" (a constant chord scored about 0.4).
``lsd``
    Log-spectral distance in dB: per frame, the RMS over bins of the difference of the
    two power spectra in dB (floor: 80 dB below the true accompaniment's peak), averaged
    over frames. Lower is better; it also punishes a wrong level.

``flatness_ratio``
    Spectral flatness of the estimate over that of the true accompaniment (librosa's
    geometric over arithmetic mean of the power spectrum, n_fft 2048, averaged over the
    frames within 40 dB of each signal's own loudest frame). 1 is the truth's texture;
    noise is far above 1, a few sustained sine tones far below. Does it sound like music?
``frechet``
    A set metric, not a per-song one: the Fréchet distance between Gaussians fitted to the
    genre classifier's embeddings (the shipped ``genre`` model; per 5-s segment, half
    overlapping, the mean and max over time of its last block, the vector its classifier
    layer reads) of all the estimates of a split and of all the true accompaniments of
    that split (:class:`GenreEmbedding`, :func:`frechet_distance`).

The per-song metrics are summarised by their median over songs.

Baselines: ``silence``; ``vocal`` (the input voice itself as the accompaniment);
``retrieval`` (for each 4-s stretch of the voice, the 4-s stretch of a *training*
accompaniment whose CQT chroma best matches the voice's, frame by frame; see
:class:`RetrievalBaseline`); ``time-shifted truth`` (the true accompaniment rolled in
time by a seeded 2 to 4 s per song, :func:`time_shifted`: right key, instruments and
level, wrong timing); ``key only`` (a constant chord, :func:`key_chord`, whose pitch-class
weights are the true accompaniment's mean chroma over the excerpt, at the true
accompaniment's RMS: the right key and nothing else); ``true accompaniment`` (the
ceiling). The last three are oracles: they are built from the true accompaniment.
"""

from __future__ import annotations

import math
import os
import warnings
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from sonomorph.audio.io import resample

__all__ = ["EVAL_RATE", "chroma", "chroma_similarity", "onset_f1", "log_spectral_distance",
           "spectral_flatness", "score", "Reference", "RetrievalBaseline", "time_shifted",
           "shift_for", "key_profile", "key_chord", "GenreEmbedding", "frechet_distance",
           "evaluate_accompaniment", "format_scores"]

EVAL_RATE = 22050
HOP = 512
MODEL_NAME = "sonomorph pix2pix"
CEILING_NAME = "true accompaniment (ceiling)"
SHIFTED_NAME = "time-shifted truth (2-4 s)"
KEY_ONLY_NAME = "key only (sustained chord)"
METRICS = ("chroma", "onset_f1", "lsd", "flatness_ratio")
SHIFT_RANGE = (2.0, 4.0)  # seconds the time-shifted truth is rolled by (uniform, seeded per song)
ACTIVE_DB = -40.0  # frames within this of the loudest count as "the accompaniment plays"
LSD_N_FFT = 2048
ONSET_DELTA = 0.07  # librosa's peak-picking threshold, a fraction of the truth's onset range


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
    flatness: float = float("nan")  #: :func:`spectral_flatness` of ``power``
    onset_delta: float | None = None  #: peak-picking threshold of onsets on its scale

    @classmethod
    def of(cls, wav: np.ndarray, sr: int = EVAL_RATE, active_db: float = ACTIVE_DB) -> Reference:
        y = _mono(wav)
        c = chroma(y, sr)
        energy = _frame_energy(y, c.shape[1])
        active = energy > energy.max() * 10 ** (active_db / 10) if energy.max() > 0 else \
            np.ones(c.shape[1], bool)
        power = _power(y)
        envelope = _onset_envelope(y, sr)
        delta = ONSET_DELTA * float(envelope.max() - envelope.min()) if envelope.size else None
        return cls(y, sr, c, active, _onsets(y, sr, delta, envelope), power,
                   spectral_flatness(power), delta)


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


def _onset_envelope(y: np.ndarray, sr: int) -> np.ndarray:
    import librosa

    if not np.any(y):
        return np.zeros(0)
    return librosa.onset.onset_strength(y=y, sr=sr, hop_length=HOP)


def _onsets(y: np.ndarray, sr: int, delta: float | None = None,
            envelope: np.ndarray | None = None) -> np.ndarray:
    """Onset times (seconds) by librosa's peak picking with threshold ``delta`` in onset
    strength units (None: :data:`ONSET_DELTA` of ``y``'s own range, librosa's default)."""
    import librosa

    env = _onset_envelope(y, sr) if envelope is None else envelope
    if env.size == 0 or not np.any(y):
        return np.zeros(0)
    if delta is None:
        delta = ONSET_DELTA * float(env.max() - env.min())
    if not delta > 0:  # a flat envelope: no onsets
        return np.zeros(0)
    return librosa.onset.onset_detect(onset_envelope=env, sr=sr, hop_length=HOP, units="time",
                                      normalize=False, delta=delta)


def onset_f1(estimate: np.ndarray, reference: np.ndarray | Reference, sr: int = EVAL_RATE, *,
             tolerance: float = 0.05) -> float:
    """F-measure of onsets matched one to one within ``tolerance`` seconds (greedy in
    time order: each reference onset takes the nearest unmatched estimated one)."""
    reference = _reference(reference, sr)
    est, ref = _onsets(_mono(estimate), sr, reference.onset_delta), reference.onsets
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


def spectral_flatness(power: np.ndarray, active_db: float = ACTIVE_DB) -> float:
    """Mean spectral flatness (librosa: geometric over arithmetic mean of the power
    spectrum) of a power spectrogram ``(bins, frames)``, over the frames within
    ``active_db`` of its loudest one; NaN for silence."""
    import librosa

    energy = power.sum(axis=0)
    if power.size == 0 or not energy.max() > 0:
        return float("nan")
    flat = librosa.feature.spectral_flatness(S=np.sqrt(power), power=2.0)[0]
    keep = energy > energy.max() * 10 ** (active_db / 10)
    return float(flat[keep].mean())


def log_spectral_distance(estimate: np.ndarray, reference: np.ndarray | Reference,
                          sr: int = EVAL_RATE, *, floor_db: float = -80.0,
                          power: np.ndarray | None = None) -> float:
    """Mean over frames of the RMS over bins of the dB difference of the power spectra
    (n_fft 2048), both floored at ``floor_db`` below the reference's peak (``power``: the
    estimate's, when already computed)."""
    ref = _reference(reference, sr)
    est = _mono(estimate)
    pe, pr = (_power(est) if power is None else power), ref.power
    frames = min(pe.shape[1], pr.shape[1])
    if frames == 0:
        return float("nan")
    pe, pr = pe[:, :frames], pr[:, :frames]
    floor = max(float(pr.max()), 1e-20) * 10 ** (floor_db / 10)
    diff = 10 * np.log10(np.maximum(pr, floor)) - 10 * np.log10(np.maximum(pe, floor))
    return float(np.sqrt((diff ** 2).mean(axis=0)).mean())


def score(estimate: np.ndarray, reference: np.ndarray | Reference,
          sr: int = EVAL_RATE) -> dict[str, float]:
    """The per-song metrics (:data:`METRICS`) of a generated accompaniment (audio at
    ``sr``); pass a :class:`Reference` to score several estimates against one
    accompaniment. ``flatness_ratio`` is NaN for a silent estimate or reference."""
    ref = _reference(reference, sr)
    est = _mono(estimate)
    power = _power(est)
    flat = spectral_flatness(power)
    ratio = flat / ref.flatness if ref.flatness > 0 else float("nan")
    return {"chroma": chroma_similarity(est, ref, sr),
            "onset_f1": onset_f1(est, ref, sr),
            "lsd": log_spectral_distance(est, ref, sr, power=power),
            "flatness_ratio": float(ratio)}


# ----------------------------------------------------------------------------- oracle baselines


def shift_for(name: str, seed: int = 0, low: float = SHIFT_RANGE[0],
              high: float = SHIFT_RANGE[1]) -> float:
    """The time shift (seconds, uniform in ``[low, high]``) of the song called ``name``:
    drawn from ``seed`` and the name, so it does not depend on which songs are scored."""
    rng = np.random.default_rng([int(seed), zlib.crc32(name.encode("utf-8"))])
    return float(rng.uniform(low, high))


def time_shifted(wav: np.ndarray, sr: int, seconds: float, *, seam_s: float = 0.02
                 ) -> np.ndarray:
    """``wav`` (``(samples,)`` or ``(channels, samples)``) rolled ``seconds`` later in time,
    its end wrapping round to the start: the same notes, instruments and level, another
    moment of the song at every instant. The seam where the end meets the start is faded
    out and in over ``seam_s`` each side, so it adds no click."""
    x = np.asarray(wav, dtype=np.float32)
    n = x.shape[-1]
    k = int(round(seconds * sr)) % max(1, n)
    out = np.roll(x, k, axis=-1)
    m = min(int(round(seam_s * sr)), k, n - k)
    if k and m > 0:
        ramp = np.linspace(0.0, 1.0, m, endpoint=False, dtype=np.float32)
        out[..., k - m:k] *= ramp[::-1]
        out[..., k:k + m] *= ramp
    return out


def key_profile(wav: np.ndarray, sr: int = EVAL_RATE) -> np.ndarray:
    """The pitch-class profile ``(12,)`` of ``wav``: its CQT chroma averaged over the frames
    within 40 dB of its loudest one, scaled to sum to one (all zeros for silence)."""
    return _profile(Reference.of(resample(_mono(wav), sr, EVAL_RATE)))


def _profile(ref: Reference) -> np.ndarray:
    if not np.any(ref.audio):
        return np.zeros(12, np.float32)
    profile = ref.chroma[:, ref.active].mean(axis=1) if ref.active.any() else ref.chroma.mean(1)
    return (profile / max(float(profile.sum()), 1e-12)).astype(np.float32)


def key_chord(profile: np.ndarray, samples: int, sr: int, *, rms: float = 0.1,
              low: float = 40.0, high: float = 5000.0, centre: float = 261.63,
              width_octaves: float = 1.0) -> np.ndarray:
    """A constant chord (mono, ``samples`` long) whose twelve pitch classes sound with the
    weights of ``profile`` (index 0 = C, equal temperament at A440): every octave of each
    pitch class from ``low`` to ``high`` Hz, under a Gaussian over log frequency centred
    on ``centre`` Hz, ``width_octaves`` wide (a Shepard-tone chord, so no octave stands
    out), with fixed phases (seed 0), at RMS ``rms``. It carries the key and nothing else:
    no onsets, no rhythm, no chord changes."""
    w = np.clip(np.asarray(profile, np.float64), 0.0, None)
    t = np.arange(int(samples)) / float(sr)
    out = np.zeros(int(samples))
    phases = np.random.default_rng(0).uniform(0, 2 * np.pi, size=(12, 16))
    for pc in range(12):
        if w[pc] <= 0:
            continue
        f = 440.0 * 2 ** ((pc - 9) / 12)
        while f / 2 >= low:
            f /= 2
        k = 0
        while f <= min(high, sr / 2):
            g = math.exp(-0.5 * (math.log2(f / centre) / width_octaves) ** 2)
            out += w[pc] * g * np.sin(2 * np.pi * f * t + phases[pc, k % 16])
            f, k = f * 2, k + 1
    level = float(np.sqrt(np.mean(out ** 2))) if len(out) else 0.0
    return (out * (rms / level) if level > 0 else out).astype(np.float32)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0


# ----------------------------------------------------------------------------- Fréchet


class GenreEmbedding:
    """Embeddings of audio by the genre classifier (the shipped ``genre`` model by default):
    the clip's model input cut into the classifier's 5-s half-overlapping segments, and per
    segment the mean and the max over time of the last block's activations (the vector the
    classifier's last layer reads). ``__call__(wav, sr)`` gives ``(segments, dims)``."""

    def __init__(self, model: str | os.PathLike | None = None) -> None:
        from sonomorph.pipelines.analysis import GenreClassifier

        self.classifier = GenreClassifier(model)
        self.path = self.classifier.path
        self.meta = self.classifier.meta

    def __call__(self, wav: np.ndarray, sr: int) -> np.ndarray:
        import torch

        clf = self.classifier
        x = _mono(wav)
        if sr != clf.sample_rate:
            x = resample(x, sr, clf.sample_rate)
        if len(x) < clf.min_samples:
            x = np.pad(x, (0, clf.min_samples - len(x)))
        segs = clf.segments(clf.scaled_mel(x))
        last = clf.model.layer_names[-1]
        out = []
        with torch.no_grad():
            for i in range(0, segs.shape[0], clf.batch_size):
                a = clf.model.features(segs[i:i + clf.batch_size], [last])[last]
                a = a.flatten(2)  # (batch, channels, freq * frames)
                out.append(torch.cat([a.mean(dim=-1), a.amax(dim=-1)], dim=1))
        return torch.cat(out).cpu().numpy().astype(np.float64)


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two sets of embeddings ``(n, dims)``:
    ``|mu_a - mu_b|^2 + tr(C_a + C_b - 2 (C_a C_b)^(1/2))``; NaN with fewer than 2 rows."""
    from scipy import linalg

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if len(a) < 2 or len(b) < 2:
        return float("nan")
    mu = a.mean(0) - b.mean(0)
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = linalg.sqrtm(ca @ cb)
    if not np.isfinite(root).all():  # near-singular: offset the diagonals (as FID does)
        eps = np.eye(len(ca)) * 1e-6
        root = linalg.sqrtm((ca + eps) @ (cb + eps))
    fd = float(mu @ mu + np.trace(ca) + np.trace(cb) - 2 * np.trace(np.real(root)))
    return max(fd, 0.0)


# ----------------------------------------------------------------------------- retrieval


class RetrievalBaseline:
    """Nearest-neighbour accompaniment from the training set, by chroma.

    The database holds every ``segment_s``-second stretch (every ``segment_s / 2``) of the
    training accompaniments with its CQT chroma. A voice is cut into consecutive stretches
    of ``segment_s``; each is replaced by the database stretch whose chroma is most similar
    to the voice's chroma, frame by frame (mean cosine); the stretches are concatenated.
    It knows the training data as well as the model does, but it cannot follow the voice
    within a stretch. ``tracks``: search only that many training songs, spread evenly over
    the split's sorted list (:func:`spread`).
    """

    def __init__(self, data: str | os.PathLike, *, split: str = "train", segment_s: float = 4.0,
                 tracks: int | None = None, progress: Callable[[float, float], None] | None = None
                 ) -> None:
        from sonomorph.data.datasets import audio_frames, read_segment
        from sonomorph.data.layouts import multitrack_tracks

        self._read = read_segment
        self.items = spread(multitrack_tracks(data, split), tracks)
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


def spread(items: list, count: int | None) -> list:
    """``count`` items spread evenly over ``items`` (first and last included), in order;
    all of them when ``count`` is falsy or not smaller. A sorted split lists its styles
    one after another, so this keeps every style that the first ``count`` would drop."""
    if not count or count >= len(items):
        return list(items)
    if count == 1:
        return [items[0]]
    idx = np.unique(np.round(np.linspace(0, len(items) - 1, int(count))).astype(int))
    return [items[i] for i in idx]


def evaluate_accompaniment(accompanist, data: str | os.PathLike, *, split: str = "test",
                           tracks: int | None = None, seconds: float | None = None,
                           baselines: bool = True, retrieval_tracks: int | None = None,
                           retrieval: RetrievalBaseline | None = None, seed: int = 0,
                           embedding: Callable[[np.ndarray, int], np.ndarray] | None = None,
                           progress: Callable[[float, float], None] | None = None) -> dict:
    """Score ``accompanist`` (an :class:`~sonomorph.pipelines.accompany.Accompanist`, a
    callable ``(voice, sr) -> accompaniment``, or a mapping of names to either) on the
    held-out ``split`` of a multitrack folder (MUSDB18-HQ layout, 4- or 2-stem tracks),
    beside the baselines, on the same excerpts.

    ``tracks``: that many songs spread evenly over the split (:func:`spread`).
    ``retrieval``: a database already built (else one is built from the train split, of
    ``retrieval_tracks`` songs). ``seed``: the time-shifted truth's shifts
    (:func:`shift_for`). ``embedding`` (e.g. :class:`GenreEmbedding`): adds each method's
    ``frechet`` distance to the true accompaniments.

    Returns ``{"split", "tracks", "seconds", "summary": "median", "methods": {name:
    {metric: median over songs, "frechet": ..., "frechet_segments": embeddings in the
    estimate's set}}, "per_track": {name: [{"track", metric: value}]}}`` (the time-shifted
    rows also give their ``shift_s``). The truth's set has as many embeddings as the
    ceiling's; with fewer segments than embedding dimensions the covariances are singular
    and the distance is biased upwards, alike for every row of the split.
    """
    from sonomorph.data.layouts import multitrack_tracks
    from sonomorph.eval.baselines import load_track

    items = spread(multitrack_tracks(data, split), tracks)
    sr = 44100

    systems = accompanist if isinstance(accompanist, Mapping) else {MODEL_NAME: accompanist}

    def run(system) -> Callable[[dict], np.ndarray]:
        if hasattr(system, "generate"):
            return lambda audio: system.generate(audio["vocals"], sr).accompaniment
        return lambda audio: system(audio["vocals"], sr)

    methods: dict[str, Callable[[dict], np.ndarray]] = {name: run(system)
                                                       for name, system in systems.items()}
    if baselines:
        if retrieval is None:
            retrieval = RetrievalBaseline(data, tracks=retrieval_tracks)
        database = retrieval
        methods["silence"] = lambda a: np.zeros_like(a["vocals"])
        methods["vocal"] = lambda a: a["vocals"]
        methods["retrieval"] = lambda a: database(a["vocals"], sr)
        methods[SHIFTED_NAME] = lambda a: time_shifted(a["accompaniment"], sr, a["shift_s"])
        methods[KEY_ONLY_NAME] = lambda a: key_chord(
            a["key_profile"], a["accompaniment"].shape[-1], sr,
            rms=_rms(_mono(a["accompaniment"])))
        methods[CEILING_NAME] = lambda a: a["accompaniment"]
    per_track: dict[str, list[dict[str, Any]]] = {m: [] for m in methods}
    embeddings: dict[str, list[np.ndarray]] = {m: [] for m in methods}
    truth_embeddings: list[np.ndarray] = []
    steps, done = len(items) * len(methods), 0
    for track in items:
        audio = load_track(track, sr, seconds)
        audio["shift_s"] = shift_for(track.name, seed)
        truth = resample(_mono(audio["accompaniment"]), sr, EVAL_RATE)
        reference = Reference.of(truth)
        audio["key_profile"] = _profile(reference)
        if embedding is not None:
            truth_embeddings.append(embedding(truth, EVAL_RATE))
        for name, method in methods.items():
            est = resample(_mono(method(audio)), sr, EVAL_RATE)
            row: dict[str, Any] = {"track": track.name, **score(est, reference)}
            if name == SHIFTED_NAME:
                row["shift_s"] = round(audio["shift_s"], 4)
            per_track[name].append(row)
            if embedding is not None and np.any(est):
                embeddings[name].append(embedding(est, EVAL_RATE))
            done += 1
            if progress is not None:
                progress(done, steps)
    summary: dict[str, dict[str, float]] = {
        name: {m: _median([r[m] for r in rows]) for m in METRICS}
        for name, rows in per_track.items()}
    if embedding is not None:
        truth_set = np.concatenate(truth_embeddings) if truth_embeddings else np.zeros((0, 1))
        for name in methods:
            got = embeddings[name]
            summary[name]["frechet"] = (frechet_distance(np.concatenate(got), truth_set)
                                        if got else float("nan"))
            summary[name]["frechet_segments"] = int(sum(len(e) for e in got))
    return {"split": split, "tracks": [t.name for t in items], "seconds": seconds,
            "summary": "median over songs (frechet: one figure over all of the split's songs)",
            "methods": summary, "per_track": per_track}


def _median(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.median(finite)) if finite else float("nan")


COLUMNS = (("chroma", "chroma similarity ↑"), ("onset_f1", "onset F1 ↑"), ("lsd", "LSD dB ↓"),
           ("flatness_ratio", "flatness / truth's (1 best)"),
           ("frechet", "Fréchet to truth (genre emb.) ↓"))


def format_scores(scores: dict) -> str:
    """The summary of :func:`evaluate_accompaniment` as a markdown table."""
    columns = [(k, title) for k, title in COLUMNS
               if any(k in res for res in scores["methods"].values())]
    lines = ["| method | " + " | ".join(title for _, title in columns) + " |",
             "|---|" + "---|" * len(columns)]

    def cell(x: float | None, key: str) -> str:
        if x is None or not math.isfinite(x):
            return "–"
        return f"{x:.1f}" if key == "frechet" else f"{x:.3f}"

    for name, res in scores["methods"].items():
        lines.append(f"| {name} | " + " | ".join(cell(res.get(k), k) for k, _ in columns) + " |")
    span = "whole tracks" if not scores.get("seconds") else f"{scores['seconds']:g} s per track"
    lines += ["", f"{len(scores['tracks'])} held-out track(s) of split '{scores['split']}', "
              f"{span}; medians over tracks. Chroma: CQT, frame-wise cosine over the frames "
              "where the true accompaniment plays; onsets matched within 50 ms; LSD with an "
              "80 dB floor; flatness: mean over active frames, the estimate's over the "
              "truth's; Fréchet: over the split's 5-s segments, all songs together."]
    return "\n".join(lines)
