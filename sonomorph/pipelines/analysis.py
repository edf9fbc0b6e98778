"""Genre classification of audio files with a trained genre CNN.

:class:`GenreClassifier` loads a genre model (the shipped one by default), computes the
model's own mel features (:func:`sonomorph.models.classifier.genre_mel` and
:func:`~sonomorph.models.classifier.scale_mel`, the functions training used), cuts the clip
into overlapping segments of the model's length (431 frames, 5 s, half overlapping), and
averages the segments' class probabilities. Any length works: a clip shorter than one
segment is classified whole. Speaker identification lives in
:mod:`sonomorph.pipelines.speakers`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from sonomorph.errors import AudioLoadError, CheckpointError, InputTooShortError
from sonomorph.utils.progress import ProgressCallback

__all__ = ["GenreClassifier", "GenrePrediction"]

SILENCE_RMS = 1e-5


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

    def describe(self) -> str:
        """One line naming the model file and its labels."""
        return f"{Path(self.path).name}: {self.meta.get('model')} over {', '.join(self.labels)}"
