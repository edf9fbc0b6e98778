"""Genre classification of audio files with a trained genre CNN.

:class:`GenreClassifier` loads a genre model (the shipped one by default), computes the
model's own mel features (:func:`sonomorph.models.classifier.genre_mel` and
:func:`~sonomorph.models.classifier.scale_mel`, the functions training used), cuts the clip
into overlapping segments of the model's length (431 frames, 5 s, half overlapping), and
averages the segments' class probabilities. Any length works: a clip shorter than one
segment is classified whole. Speaker identification lives in
:mod:`sonomorph.pipelines.speakers`.

The model knows only its eight genres, so it names one for anything, speech included.
:meth:`GenreClassifier.answer` says so instead: below :data:`SURE` (the top probability)
the answer is "unsure", or "not music" when the clip also sounds like speech
(:func:`voice_kind`: no sustained notes), and a clip shorter than :data:`SHORT_S` is
"unsure" whatever the model says. The thresholds were calibrated on speech and music
clips by ``benchmarks/classify_calibration.py``
(``benchmarks/results/classify-calibration.json``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from sonomorph.errors import AudioLoadError, CheckpointError, InputTooShortError
from sonomorph.utils.progress import ProgressCallback

__all__ = ["GenreClassifier", "GenrePrediction", "GenreAnswer", "VoiceKind", "voice_kind",
           "speech_or_singing", "sounds_like_speech", "verdict"]

SILENCE_RMS = 1e-5
#: Top probability at and above which the genre is the answer. Calibrated
#: (benchmarks/results/classify-calibration.json): the 25 speech clips reached at most
#: 0.866, and 20 of the 26 music clips reached 0.90.
SURE = 0.90
#: Clips shorter than this are "unsure": half of the model's 5-s segment.
SHORT_S = 2.5
#: A voice "sounds like speech" when its voiced stretches are short (median below
#: VOICED_RUN_S) and its pitch is seldom steady (fewer than STEADY of the voiced frames
#: within a quarter semitone of the previous one). Calibrated in the same file: 24 of the
#: 25 speech clips (median stretch at most 0.49 s, steady at most 0.85) and neither sung
#: example (at least 0.59 s and 0.89) sound like speech.
VOICED_RUN_S = 0.45
STEADY = 0.86
_VOICE_SR = 16000
_VOICE_HOP = 320  # 20 ms
_VOICE_EXCERPT_S = 12.0  # analysed from the middle of longer clips


@dataclass
class VoiceKind:
    """Pitch statistics of a voice and whether they are those of speech."""

    voiced_run_s: float  # median length of the voiced stretches
    steady: float  # share of voiced frames within 0.25 semitone of the previous frame
    speech: bool

    def describe(self) -> str:
        return (f"median voiced stretch {self.voiced_run_s:.2f} s, steady pitch in "
                f"{self.steady:.0%} of voiced frames")


def voice_kind(wav: np.ndarray, sr: int) -> VoiceKind:
    """Speech or singing, from a monophonic voice's pitch track (librosa's pYIN on up to
    12 s from the middle): singing holds notes (long voiced stretches at a steady pitch),
    speech glides through short syllables."""
    import librosa

    from sonomorph.audio.io import resample

    x = np.asarray(wav, dtype=np.float32)
    x = x.mean(axis=0) if x.ndim == 2 else x
    x = resample(x, int(sr), _VOICE_SR) if int(sr) != _VOICE_SR else x
    keep = int(_VOICE_EXCERPT_S * _VOICE_SR)
    if x.shape[-1] > keep:
        start = (x.shape[-1] - keep) // 2
        x = x[start:start + keep]
    if x.shape[-1] < 4 * 1280:
        return VoiceKind(0.0, 0.0, False)  # too short to tell: no claim
    f0, voiced, _ = librosa.pyin(x, fmin=65, fmax=1000, sr=_VOICE_SR, frame_length=1280,
                                 hop_length=_VOICE_HOP)
    runs, n = [], 0
    for v in voiced:
        if v:
            n += 1
        elif n:
            runs.append(n)
            n = 0
    if n:
        runs.append(n)
    run = float(np.median(runs)) * _VOICE_HOP / _VOICE_SR if runs else 0.0
    both = voiced[1:] & voiced[:-1]
    if both.any():
        step = np.abs(np.diff(12.0 * np.log2(np.where(voiced, f0, 1.0))))[both]
        steady = float(np.mean(step < 0.25))
    else:
        steady = 0.0
    return VoiceKind(run, steady, sounds_like_speech(run, steady))


def sounds_like_speech(voiced_run_s: float, steady: float) -> bool:
    """The speech rule on :func:`voice_kind`'s two statistics."""
    return bool(voiced_run_s < VOICED_RUN_S and steady < STEADY)


def verdict(p: float, seconds: float, speech: bool | None) -> str:
    """"genre", "unsure" or "not music" from the top probability ``p``, the clip's length
    and whether it sounds like speech (None: not measured)."""
    if seconds < SHORT_S:
        return "unsure"
    if p >= SURE:
        return "genre"
    return "not music" if speech else "unsure"


def speech_or_singing(path: str | os.PathLike) -> VoiceKind:
    """:func:`voice_kind` of an audio file (its middle 12 s)."""
    from sonomorph.audio.io import info, load

    meta = info(path)
    offset = max(0.0, (meta.duration - _VOICE_EXCERPT_S) / 2)
    wav, sr = load(path, sr=_VOICE_SR, channels=1, offset=offset,
                   duration=min(_VOICE_EXCERPT_S, meta.duration) or None)
    return voice_kind(wav[0], sr)


@dataclass
class GenrePrediction:
    """Class probabilities of one clip; :meth:`top` gives the best ``k`` (label, p)."""

    labels: list[str]
    probabilities: np.ndarray

    def top(self, k: int = 3) -> list[tuple[str, float]]:
        order = np.argsort(-self.probabilities)[:k]
        return [(self.labels[i], float(self.probabilities[i])) for i in order]

    @property
    def label(self) -> str:
        return self.labels[int(np.argmax(self.probabilities))]


@dataclass
class GenreAnswer:
    """What ``sonomorph classify`` says about a clip: ``verdict`` is "genre" (then
    ``label`` is the genre), "unsure" or "not music"; ``reason`` says why, in words."""

    verdict: str
    label: str | None
    prediction: GenrePrediction
    reason: str = ""

    @property
    def text(self) -> str:
        return self.label if self.verdict == "genre" and self.label else self.verdict


class GenreClassifier:
    """A genre model ready to classify arrays or files.

    ``model``: a genre ``.safetensors`` file, a shipped model's name, or None/"default" (the
    shipped ``genre`` model). A file holding another kind of model, or weights of another
    shape than its recorded architecture, raises a one-line :class:`CheckpointError`.
    """

    def __init__(self, model: str | os.PathLike | None = None, *, device: str = "cpu",
                 batch_size: int = 8) -> None:
        from sonomorph.models.checkpoint import load_model, resolve_model
        from sonomorph.models.classifier import GENRE_FEATURES, SEGMENT_FRAMES, genre_mel

        self.path = resolve_model(model, "genre")
        self.device = torch.device(device)
        self.model, self.meta = load_model(self.path, expect="genre", map_location=self.device)
        labels = self.meta.get("labels")
        n_classes = int(getattr(self.model, "n_classes", 0))
        if not isinstance(labels, list) or len(labels) != n_classes:
            raise CheckpointError(f"its metadata lists {len(labels or [])} genre labels for a "
                                  f"model with {n_classes} outputs", self.path)
        self.labels = [str(x) for x in labels]
        feats = {**GENRE_FEATURES, **dict(self.meta.get("features") or {})}
        if int(feats["n_mels"]) != self.model.n_mels:
            raise CheckpointError(f"its features say {feats['n_mels']} mel bands, its input "
                                  f"layer takes {self.model.n_mels}", self.path)
        self.sample_rate = int(feats["sample_rate"])
        self.hop_length = int(feats["hop_length"])
        self.mel = genre_mel(self.sample_rate, int(feats["n_fft"]), self.hop_length,
                             self.model.n_mels).to(self.device)
        self.segment = int(self.meta.get("segment_frames", SEGMENT_FRAMES))
        self.batch_size = max(1, int(batch_size))

    @property
    def min_samples(self) -> int:
        return self.model.min_frames * self.hop_length + 1

    def scaled_mel(self, wav: np.ndarray) -> torch.Tensor:
        """The model input ``(n_mels, frames)`` of a mono waveform at :attr:`sample_rate`."""
        from sonomorph.models.classifier import scale_mel

        with torch.no_grad():
            x = torch.from_numpy(np.ascontiguousarray(wav, dtype=np.float32)).to(self.device)
            return scale_mel(self.mel(x))

    def segments(self, mel: torch.Tensor) -> torch.Tensor:
        """``(n, n_mels, segment)`` half-overlapping segments covering ``mel`` (the last one
        flush with the end); the whole mel as one segment when it is shorter."""
        frames = mel.shape[-1]
        if frames <= self.segment:
            return mel[None]
        hop = max(1, self.segment // 2)
        starts = list(range(0, frames - self.segment + 1, hop))
        if starts[-1] != frames - self.segment:
            starts.append(frames - self.segment)
        return torch.stack([mel[:, a:a + self.segment] for a in starts])

    def predict(self, wav: np.ndarray, sr: int, *,
                path: str | os.PathLike | None = None) -> GenrePrediction:
        """Class probabilities (mean over segments) of ``wav`` (any rate and channels)."""
        from sonomorph.audio.io import resample

        x = np.asarray(wav, dtype=np.float32)
        if x.ndim == 2:
            x = x.mean(axis=0)
        if int(sr) != self.sample_rate:
            x = resample(x, int(sr), self.sample_rate)
        if x.shape[-1] < self.min_samples:
            raise InputTooShortError(f"{x.shape[-1] / self.sample_rate:.3f} s is too short to "
                                     f"classify (at least {self.min_samples / self.sample_rate:.2f}"
                                     " s)", path)
        if not float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) > SILENCE_RMS:
            raise AudioLoadError("is silent: there is nothing to classify", path)
        segs = self.segments(self.scaled_mel(x))
        probs = []
        with torch.no_grad():
            for i in range(0, segs.shape[0], self.batch_size):
                probs.append(torch.softmax(self.model(segs[i:i + self.batch_size]), dim=-1))
        mean = torch.cat(probs).mean(dim=0).cpu().numpy().astype(np.float64)
        return GenrePrediction(self.labels, mean / mean.sum())

    def predict_file(self, path: str | os.PathLike) -> GenrePrediction:
        """:meth:`predict` for an audio file (read mono at the model's rate)."""
        from sonomorph.audio.io import load

        wav, sr = load(path, sr=self.sample_rate, channels=1)
        return self.predict(wav[0], sr, path=path)

    # ------------------------------------------------------------------ the pipeline contract

    def process(self, wav: np.ndarray, sr: int, *,
                progress: ProgressCallback | None = None) -> GenrePrediction:
        """The pipeline contract's name for :meth:`predict`."""
        pred = self.predict(wav, sr)
        if progress is not None:
            progress(1, 1)
        return pred

    def process_file(self, src: str | os.PathLike, out: str | os.PathLike | None = None, *,
                     overwrite: bool = False,
                     progress: ProgressCallback | None = None) -> GenrePrediction:
        """:meth:`predict_file`; with ``out``, also writes the prediction there as JSON
        (``labels``, ``probabilities``, ``top``), atomically."""
        if out is not None:
            from sonomorph.utils.fs import check_output

            check_output(out, overwrite=overwrite, inputs=[src])
        pred = self.predict_file(src)
        if out is not None:
            import json

            from sonomorph.utils.fs import atomic_write_text

            doc = {"file": Path(src).name, "model": Path(self.path).name,
                   "labels": pred.labels,
                   "probabilities": [float(p) for p in pred.probabilities],
                   "top": [[label, p] for label, p in pred.top(3)]}
            atomic_write_text(out, json.dumps(doc, indent=2) + "\n", overwrite=overwrite)
        if progress is not None:
            progress(1, 1)
        return pred

    def answer(self, wav: np.ndarray, sr: int, *,
               path: str | os.PathLike | None = None) -> GenreAnswer:
        """:meth:`predict`, then the honest answer (see the module docstring)."""
        pred = self.predict(wav, sr, path=path)
        label, p = pred.top(1)[0]
        seconds = np.asarray(wav).shape[-1] / float(sr)
        kind = voice_kind(wav, sr) if SHORT_S <= seconds and p < SURE else None
        answer = verdict(p, seconds, kind.speech if kind else None)
        if answer == "genre":
            return GenreAnswer("genre", label, pred)
        if seconds < SHORT_S:
            why = f"{seconds:.1f} s is too short to be sure; give {SHORT_S:g} s or more"
        elif answer == "not music":
            why = f"it sounds like speech: {kind.describe()}"
        else:
            why = f"no genre reaches {SURE:.0%}"
        return GenreAnswer(answer, None, pred, why)

    def answer_file(self, path: str | os.PathLike) -> GenreAnswer:
        """:meth:`answer` for an audio file (read mono at the model's rate)."""
        from sonomorph.audio.io import load

        wav, sr = load(path, sr=self.sample_rate, channels=1)
        return self.answer(wav[0], sr, path=path)

    def describe(self) -> str:
        """One line naming the model file and its labels."""
        return f"{Path(self.path).name}: {self.meta.get('model')} over {', '.join(self.labels)}"
