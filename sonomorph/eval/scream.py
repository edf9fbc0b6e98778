"""Evaluation of voice-to-scream: is the content kept, is the style reached?

Systems compared on the same held-out voices: the input itself (``input``: perfect content,
no style), the DSP growl preset (``growl``) and the model (``model``).

Content kept
  * ``mel_corr``: Pearson correlation of the input's and output's log-mels (the quantity the
    correlation loss trains), mean over clips; the target is at least 0.8.
  * ``wer``: word error rate of pocketsphinx (its English model ships in the wheel) on the
    output, against the clip's transcript when one sits beside it (``<stem>.txt``), else
    against pocketsphinx's own reading of the input (``wer_reference`` says which). Only
    meaningful on clearly spoken English inputs.

Style reached
  * ``p_scream``: mean probability of a scream-versus-voice classifier (logistic regression
    on window embeddings) trained on *separate* files: the given voices and screams are split
    by file into a classifier half and an evaluation half (``classifier_accuracy`` is its
    accuracy on the evaluation half's real audio).
  * ``frechet``: Fréchet distance between the Gaussian statistics of the outputs' window
    embeddings and those of the real screams of the evaluation half (lower is closer).

Window embedding: over 1-s windows (0.5-s hop) of 40-band log-mel, the per-band mean (minus
its own average, so gain does not matter) and standard deviation, and the mean and spread of
the frame-to-frame spectral change: 82 numbers describing timbre and roughness.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sonomorph.errors import DependencyError, SonomorphError

log = logging.getLogger(__name__)

__all__ = ["ScreamEvaluation", "evaluate_scream", "mel_correlation", "window_embeddings",
           "word_error_rate", "frechet_distance", "StyleClassifier", "Recognizer"]

SR = 22050
_EMB_MELS = 40


def mel_correlation(a: np.ndarray, b: np.ndarray, sr: int = SR) -> float:
    """Pearson correlation of the log10-mels (n_fft 1024, hop 256, 80 bands) of two mono
    signals (trimmed to the shorter length)."""
    import torch

    from sonomorph.models.losses import MelCorrelationLoss

    n = min(a.shape[-1], b.shape[-1])
    mel = _mel(sr, 80)
    with torch.no_grad():
        ma = mel(torch.from_numpy(np.ascontiguousarray(a[..., :n], np.float32)).reshape(1, -1))
        mb = mel(torch.from_numpy(np.ascontiguousarray(b[..., :n], np.float32)).reshape(1, -1))
        loss = MelCorrelationLoss(reduction="none")(ma, mb)
    return float(1.0 - 2.0 * loss[0])


_MELS: dict = {}


def _mel(sr: int, n_mels: int):
    from sonomorph.audio.spectral import MelSpectrogram

    key = (sr, n_mels)
    if key not in _MELS:
        _MELS[key] = MelSpectrogram(sr, 1024, 256, n_mels, power=1.0, log=True, log_floor=1e-5,
                                    log_base="10", pad_mode="constant")
    return _MELS[key]


def window_embeddings(x: np.ndarray, sr: int = SR) -> np.ndarray:
    """(windows, 82) embeddings of a mono signal (see the module docstring); windows that
    are near silent (below -50 dB RMS relative to the signal's peak) are left out."""
    import torch

    x = np.asarray(x, np.float32).reshape(-1)
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak <= 1e-6:
        return np.zeros((0, 2 * _EMB_MELS + 2), np.float32)
    x = x / peak
    with torch.no_grad():
        mel = _mel(sr, _EMB_MELS)(torch.from_numpy(x)[None])[0].numpy()  # (mels, frames)
    win, hop = int(sr / 256), int(sr / 512)
    out = []
    for start in range(0, max(1, mel.shape[1] - win + 1), hop):
        m = mel[:, start: start + win]
        seg = x[start * 256: start * 256 + win * 256]
        if seg.size == 0 or np.sqrt(np.mean(seg**2)) < 10 ** (-50 / 20):
            continue
        mean = m.mean(axis=1)
        flux = np.abs(np.diff(m, axis=1)).mean(axis=0) if m.shape[1] > 1 else np.zeros(1)
        out.append(np.concatenate([mean - mean.mean(), m.std(axis=1),
                                   [flux.mean(), flux.std()]]))
    return np.asarray(out, np.float32).reshape(-1, 2 * _EMB_MELS + 2)


def frechet_distance(a: np.ndarray, b: np.ndarray, shrink: float = 1e-3) -> float:
    """Fréchet distance between Gaussians fitted to two sets of embeddings (rows), with
    covariances shrunk toward their diagonal mean by ``shrink`` for stability."""
    from scipy import linalg

    if len(a) < 2 or len(b) < 2:
        return float("nan")
    mu_a, mu_b = a.mean(0), b.mean(0)
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    eye = np.eye(ca.shape[0])
    ca = ca + shrink * np.trace(ca) / ca.shape[0] * eye
    cb = cb + shrink * np.trace(cb) / cb.shape[0] * eye
    root = linalg.sqrtm(ca @ cb)
    root = root.real if np.iscomplexobj(root) else root
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(ca + cb - 2.0 * root))


class StyleClassifier:
    """Logistic regression (L2, standardised inputs, full-batch gradient descent) telling
    screams (1) from voices (0) by their window embeddings."""

    def __init__(self, l2: float = 1e-2, steps: int = 500, lr: float = 0.5) -> None:
        self.l2, self.steps, self.lr = l2, steps, lr

    def fit(self, voices: np.ndarray, screams: np.ndarray) -> StyleClassifier:
        x = np.concatenate([voices, screams]).astype(np.float64)
        y = np.concatenate([np.zeros(len(voices)), np.ones(len(screams))])
        self.mean, self.std = x.mean(0), x.std(0) + 1e-6
        z = (x - self.mean) / self.std
        w, b = np.zeros(z.shape[1]), 0.0
        weight = np.where(y == 1, 0.5 / max(1, y.sum()), 0.5 / max(1, (1 - y).sum()))
        for _ in range(self.steps):
            p = 1.0 / (1.0 + np.exp(-(z @ w + b)))
            g = (p - y) * weight
            w -= self.lr * (z.T @ g + self.l2 * w)
            b -= self.lr * g.sum()
        self.w, self.b = w, b
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        """P(scream) per row."""
        if len(x) == 0:
            return np.zeros(0)
        z = (np.asarray(x, np.float64) - self.mean) / self.std
        return 1.0 / (1.0 + np.exp(-(z @ self.w + self.b)))


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def word_error_rate(reference: str, hypothesis: str) -> float:
    """(substitutions + deletions + insertions) / reference words (Levenshtein on words)."""
    ref, hyp = _words(reference), _words(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1] / len(ref)


class Recognizer:
    """pocketsphinx's English recogniser on float audio at any rate (resampled to 16 kHz)."""

    def __init__(self) -> None:
        try:
            from pocketsphinx import Decoder
        except ImportError as exc:
            raise DependencyError(f"word error rate needs pocketsphinx ({exc}); "
                                  "pip install pocketsphinx") from None
        self.decoder = Decoder(samprate=16000, loglevel="FATAL")

    def __call__(self, x: np.ndarray, sr: int) -> str:
        from sonomorph.audio.io import resample

        y = resample(np.asarray(x, np.float32).reshape(-1), sr, 16000)
        peak = float(np.max(np.abs(y))) if y.size else 0.0
        y = y / peak * 0.9 if peak > 1e-6 else y
        self.decoder.start_utt()
        self.decoder.process_raw((y * 32767).astype(np.int16).tobytes(), full_utt=True)
        self.decoder.end_utt()
        hyp = self.decoder.hyp()
        return hyp.hypstr if hyp is not None else ""


@dataclass
class ScreamEvaluation:
    """Per-system metrics (``rows[system][metric]``) and what they were computed on."""

    rows: dict[str, dict[str, float]] = field(default_factory=dict)
    n_eval_voices: int = 0
    n_classifier_files: int = 0
    classifier_accuracy: float = float("nan")
    wer_reference: str = ""
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"rows": self.rows, "n_eval_voices": self.n_eval_voices,
                "n_classifier_files": self.n_classifier_files,
                "classifier_accuracy": self.classifier_accuracy,
                "wer_reference": self.wer_reference, "notes": self.notes}

    def markdown(self) -> str:
        metrics = ["mel_corr", "wer", "p_scream", "frechet"]
        lines = ["| system | " + " | ".join(metrics) + " |", "|---" * (len(metrics) + 1) + "|"]
        for name, row in self.rows.items():
            cells = [f"{row[m]:.3f}" if m in row and np.isfinite(row[m]) else "-" for m in metrics]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        return "\n".join(lines)


def _split(files: Sequence[Path]) -> tuple[list[Path], list[Path]]:
    """Alternate files between the classifier half and the evaluation half."""
    return list(files[0::2]), list(files[1::2])


def _load(path: Path, max_seconds: float) -> np.ndarray:
    from sonomorph.audio.io import load

    return load(path, sr=SR, channels=1, duration=max_seconds)[0][0]


def evaluate_scream(voices: str | os.PathLike, screams: str | os.PathLike, *,
                    systems: dict[str, Callable[[np.ndarray], np.ndarray]],
                    limit: int = 40, max_seconds: float = 8.0, wer: bool = True,
                    progress: Callable[[float, float], None] | None = None) -> ScreamEvaluation:
    """Evaluate each system (a function: mono float32 at 22.05 kHz -> same length) on the
    evaluation half of ``voices`` (at most ``limit`` files, ``max_seconds`` each)."""
    from sonomorph.audio.io import find_audio_files

    v_files, s_files = find_audio_files(voices), find_audio_files(screams)
    if len(v_files) < 2 or len(s_files) < 2:
        raise SonomorphError("evaluation needs at least 2 voice files and 2 scream files "
                             f"(found {len(v_files)} and {len(s_files)})", voices)
    v_train, v_eval = _split(v_files)
    s_train, s_eval = _split(s_files)
    v_eval = v_eval[:limit]
    report = ScreamEvaluation(n_eval_voices=len(v_eval),
                              n_classifier_files=len(v_train[:limit]) + len(s_train[:limit]))

    def embed(paths: Sequence[Path]) -> np.ndarray:
        rows = [window_embeddings(_load(p, max_seconds)) for p in paths]
        return np.concatenate(rows) if rows else np.zeros((0, 2 * _EMB_MELS + 2))

    clf = StyleClassifier().fit(embed(v_train[:limit]), embed(s_train[:limit]))
    real_screams = embed(s_eval[:limit])
    real_voices = embed(v_eval)
    hits = np.concatenate([clf.predict(real_voices) < 0.5, clf.predict(real_screams) >= 0.5])
    report.classifier_accuracy = float(hits.mean()) if hits.size else float("nan")
    recognizer = None
    if wer:
        try:
            recognizer = Recognizer()
        except DependencyError as exc:
            report.notes.append(str(exc))
    references: list[str] = []
    inputs = [_load(p, max_seconds) for p in v_eval]
    for p, x in zip(v_eval, inputs):
        txt = p.with_suffix(".txt")
        if txt.is_file():
            references.append(txt.read_text(encoding="utf-8", errors="replace"))
        elif recognizer is not None:
            references.append(recognizer(x, SR))
    have_text = all(p.with_suffix(".txt").is_file() for p in v_eval)
    report.wer_reference = "transcripts" if have_text else "recognition of the input"
    total, done = len(systems) * len(inputs), 0
    for name, fn in systems.items():
        corrs, wers, embs = [], [], []
        for i, x in enumerate(inputs):
            y = np.asarray(fn(x), np.float32).reshape(-1)[: x.shape[0]]
            corrs.append(mel_correlation(x, y))
            embs.append(window_embeddings(y))
            if recognizer is not None and i < len(references):
                wers.append(word_error_rate(references[i], recognizer(y, SR)))
            done += 1
            if progress is not None:
                progress(done, total)
        e = np.concatenate(embs) if embs else np.zeros((0, 2 * _EMB_MELS + 2))
        row = {"mel_corr": float(np.mean(corrs)), "p_scream": float(np.mean(clf.predict(e)))
               if len(e) else float("nan"), "frechet": frechet_distance(e, real_screams)}
        if wers:
            row["wer"] = float(np.mean(wers))
        report.rows[name] = row
    return report
