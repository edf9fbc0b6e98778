"""Evaluation of voice-to-scream, judged by a classifier that learnt real screams.

Systems compared on the same held-out voices: the input itself (``input``: perfect content,
no style), the DSP growl preset (``growl``) and each model.

The judge
  The scream judge (:mod:`sonomorph.models.scream_judge`, shipped as
  ``sonomorph/pretrained/scream-judge.safetensors``, trained by ``sonomorph train
  scream-judge``) learnt real screams, pain and battle cries against real speech of the
  real-audio library's ``train`` split. It is judged here on the evaluation's own real
  held-out audio (``judge``: accuracy and ROC AUC of clip scores, real screams against
  the real voices), whose characters and speakers it never saw when those come from the
  library's ``test-real`` split (the scream corpus's ``test-real/`` folders).

Style reached
  * ``p_scream``: the judge's mean P(scream) over the judged 1-s windows (0.5-s hop,
    silent windows left out) of each output, averaged over clips;
  * ``frechet``: Fréchet distance between Gaussians fitted to the judge's embeddings of the
    outputs' windows and of the real held-out screams' windows (lower is closer).

Content kept
  * ``mel_corr``: Pearson correlation of the input's and output's log-mels (the quantity the
    correlation loss trains), mean over clips; the target is at least 0.8;
  * ``wer``: word error rate of pocketsphinx (its English model ships in the wheel) on the
    outputs of English clips whose text is known (``<stem>.txt`` beside the audio: the
    scream corpus's ``test-text/`` voices say fixed sentences). The reference is always
    that text, never a recognition of the input; clips without a text get no WER.
    ``p_scream_text`` is the judge's P(scream) on those clips' outputs. The recogniser and
    the word error rate live in :mod:`sonomorph.models.recognizer` (re-exported here).

Style strength
  A model may be scored at several style strengths (:func:`at_strengths`; the pipeline's
  ``style_strength``: 0 = the dry input, 1 = the model alone, up to 2 exaggerated), one row
  each, named ``<model> @ strength S``; the JSON gives each row's ``strength`` (``null`` for
  the input, which no pipeline made).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sonomorph.data.splits import spread
from sonomorph.errors import DependencyError, SonomorphError
from sonomorph.models.recognizer import (
    Recognizer,
    clip_text,
    text_clips,
    with_text,
    word_error_rate,
)

log = logging.getLogger(__name__)

__all__ = ["ScreamEvaluation", "evaluate_scream", "mel_correlation", "word_error_rate",
           "frechet_distance", "Recognizer", "load_judge", "judge_report", "at_strengths",
           "JUDGE_NAME"]

SR = 22050
JUDGE_NAME = "scream-judge"  #: the shipped judge's name in sonomorph/pretrained


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



def load_judge(spec: str | os.PathLike | None = None):
    """``(judge model, metadata, path)``: the shipped judge for ``None``/"default", else
    the file ``spec``."""
    from sonomorph.models.checkpoint import load_model, resolve_model

    path = resolve_model(spec, JUDGE_NAME)
    model, meta = load_model(path, expect="scream-judge")
    return model, meta, path


def _judge_clip(judge, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(window probabilities, window embeddings) of one mono 22.05 kHz clip."""
    import torch

    from sonomorph.models.scream_judge import clip_scores

    p, e = clip_scores(judge, torch.from_numpy(np.ascontiguousarray(x, np.float32)))
    return p.numpy().astype(np.float64), e.numpy().astype(np.float64)


def judge_report(judge, screams: Sequence[np.ndarray], voices: Sequence[np.ndarray]) -> dict:
    """How well ``judge`` tells real ``screams`` from real ``voices`` (mono 22.05 kHz clips
    it did not train on): clip accuracy at 0.5, ROC AUC of clip scores (mean window
    probability), window accuracy, mean P(scream) per class and the counts."""
    from sonomorph.eval.metrics import roc_auc

    scores, labels, hits, n = [], [], 0, 0
    for label, clips in ((1, screams), (0, voices)):
        for x in clips:
            p, _ = _judge_clip(judge, x)
            if p.size == 0:
                continue
            scores.append(float(p.mean()))
            labels.append(label)
            hits += int(((p >= 0.5) == bool(label)).sum())
            n += p.size
    s, y = np.array(scores), np.array(labels)
    return {"accuracy": float(((s >= 0.5) == (y == 1)).mean()) if s.size else float("nan"),
            "auc": roc_auc(s, y), "window_accuracy": hits / n if n else float("nan"),
            "p_scream_screams": float(s[y == 1].mean()) if (y == 1).any() else float("nan"),
            "p_scream_voices": float(s[y == 0].mean()) if (y == 0).any() else float("nan"),
            "n_screams": int((y == 1).sum()), "n_voices": int((y == 0).sum())}


@dataclass
class ScreamEvaluation:
    """Per-system metrics (``rows[system][metric]``), the judge's held-out figures and what
    they were computed on."""

    rows: dict[str, dict[str, float]] = field(default_factory=dict)
    judge: dict = field(default_factory=dict)
    n_eval_voices: int = 0
    n_text_clips: int = 0
    n_real_screams: int = 0
    notes: list[str] = field(default_factory=list)
    strengths: dict[str, float] = field(default_factory=dict)  #: each pipeline row's strength

    def to_dict(self) -> dict:
        rows = {name: {**row, "strength": self.strengths.get(name)}
                for name, row in self.rows.items()}
        return {"rows": rows, "judge": self.judge, "n_eval_voices": self.n_eval_voices,
                "n_text_clips": self.n_text_clips, "n_real_screams": self.n_real_screams,
                "wer_reference": "known text (<stem>.txt)" if self.n_text_clips else "none",
                "notes": self.notes}

    def markdown(self) -> str:
        metrics = ["mel_corr", "p_scream", "frechet", "wer", "p_scream_text"]
        lines = ["| system | " + " | ".join(metrics) + " |", "|---" * (len(metrics) + 1) + "|"]
        for name, row in self.rows.items():
            cells = [f"{row[m]:.3f}" if m in row and np.isfinite(row[m]) else "-" for m in metrics]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        return "\n".join(lines)


def at_strengths(name: str, screamer, strengths: Sequence[float] | None = None) -> dict:
    """The rows of one model (a :class:`~sonomorph.pipelines.scream.Screamer`): ``{name:
    screamer}`` with no ``strengths``, else ``{"<name> @ strength S": the same model at style
    strength S}`` for each S (the pipeline refuses a strength out of its range)."""
    from sonomorph.pipelines.scream import Screamer

    if not strengths:
        return {name: screamer}
    return {f"{name} @ strength {s:g}": Screamer(backend=screamer.backend, preset=screamer.preset,
                                                 style_strength=s) for s in strengths}


def _load(path: Path, max_seconds: float) -> np.ndarray:
    from sonomorph.audio.io import load

    return load(path, sr=SR, channels=1, duration=max_seconds)[0][0]


def evaluate_scream(voices: str | os.PathLike, screams: str | os.PathLike, *,
                    systems: dict[str, Callable[[np.ndarray], np.ndarray]], judge=None,
                    text: str | os.PathLike | None = None, limit: int = 40,
                    max_seconds: float = 8.0, wer: bool = True,
                    progress: Callable[[float, float], None] | None = None) -> ScreamEvaluation:
    """Evaluate each system (a function: mono float32 at 22.05 kHz -> same length) on up to
    ``limit`` clips of ``voices`` (``max_seconds`` each) and on the English clips with known
    text in ``text`` (every file with a ``<stem>.txt``; also those in ``voices``), judged by
    ``judge`` (a :class:`~sonomorph.models.scream_judge.ScreamJudge`; default: the shipped
    one) against the real screams in ``screams``."""
    from sonomorph.audio.io import find_audio_files

    if judge is None:
        judge = load_judge()[0]
    v_files, s_files = find_audio_files(voices), find_audio_files(screams)
    if not v_files or len(s_files) < 2:
        raise SonomorphError("evaluation needs at least 1 voice file and 2 real scream files "
                             f"(found {len(v_files)} and {len(s_files)})", voices)
    v_files = spread(v_files, limit)
    t_files = with_text(v_files)
    if text is not None:
        t_files += [p for p in text_clips(text) if p not in t_files]
    report = ScreamEvaluation(n_eval_voices=len(v_files), n_text_clips=len(t_files))
    real_screams = [_load(p, max_seconds) for p in spread(s_files, max(limit, 2))]
    inputs = [_load(p, max_seconds) for p in v_files]
    report.n_real_screams = len(real_screams)
    report.judge = judge_report(judge, real_screams, inputs)
    ref = [e for x in real_screams for e in [_judge_clip(judge, x)[1]] if len(e)]
    ref_emb = np.concatenate(ref) if ref else np.zeros((0, 1))
    recognizer = None
    if wer and t_files:
        try:
            recognizer = Recognizer()
        except DependencyError as exc:
            report.notes.append(str(exc))
    elif wer:
        report.notes.append("no clip with a known text (<stem>.txt): no word error rate")
    texts = [(_load(p, max_seconds), clip_text(p)) for p in t_files] if recognizer is not None else []
    total, done = len(systems) * (len(inputs) + len(texts)), 0
    for name, fn in systems.items():
        corrs, probs, embs, wers, text_probs = [], [], [], [], []
        for x in inputs:
            y = np.asarray(fn(x), np.float32).reshape(-1)[: x.shape[0]]
            corrs.append(mel_correlation(x, y))
            p, e = _judge_clip(judge, y)
            if p.size:
                probs.append(float(p.mean()))
                embs.append(e)
            done += 1
            if progress is not None:
                progress(done, total)
        for x, reference in texts:
            y = np.asarray(fn(x), np.float32).reshape(-1)[: x.shape[0]]
            wers.append(word_error_rate(reference, recognizer(y, SR)))
            p, _ = _judge_clip(judge, y)
            if p.size:
                text_probs.append(float(p.mean()))
            done += 1
            if progress is not None:
                progress(done, total)
        e = np.concatenate(embs) if embs else np.zeros((0, ref_emb.shape[1]))
        row = {"mel_corr": float(np.mean(corrs)),
               "p_scream": float(np.mean(probs)) if probs else float("nan"),
               "frechet": frechet_distance(e, ref_emb)}
        if wers:
            row["wer"] = float(np.mean(wers))
            row["p_scream_text"] = float(np.mean(text_probs)) if text_probs else float("nan")
        report.rows[name] = row
    return report
