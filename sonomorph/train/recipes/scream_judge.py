"""Training recipe for the scream judge (:mod:`sonomorph.models.scream_judge`): real screams
against real speech, from the real-audio library of ``sonomorph corpus sources``.

    sonomorph train scream-judge --library corpora/sources --out runs/scream-judge

Data: the library's ``screams/`` (label 1) and ``speech/`` (label 0) files of the ``train``
split for training and of the ``valid`` split for validation; the ``test-real`` characters
and speakers are never read here (``sonomorph eval scream`` judges the judge on them). Each
clip is read once into memory (mono, 22.05 kHz, at most ``max_seconds``; at most
``speech_clips_per_speaker`` clips of each speaker, chosen with the seed, so that the ten
hours of speech do not swamp the half hour of screams).

Each item is a 1-s window: a class (screams and speech alternate), a speaker or character
of that class drawn uniformly (so a character with many clips does not dominate), one of
its clips, and a random 1-s crop (a shorter clip is zero-padded at a random offset; the
judge ignores padding and silence). Augmentation against shortcuts: with probability
``band_limit_p`` only the lowest 24 to 63 of the 64 mel bands are kept (about 2.3 to
10.6 kHz), for both classes, so the judge cannot tell the classes by recording bandwidth
(some speech sources are 8 kHz telephone prompts); the features are level-free by design.

Loss: binary cross-entropy. AdamW (lr 2e-3, weight decay 1e-2), cosine decay to 5 % of it.
Validation (``valid``): window accuracy and the area under the ROC curve of clip scores
(mean window probability); ``last.safetensors`` is the last step. ``init_from``
(``--init-from``) starts from a scream-judge file instead (``"default"``: the shipped one).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from sonomorph.errors import ConfigError
from sonomorph.models.metrics import roc_auc
from sonomorph.models.scream_judge import ScreamJudge, clip_scores
from sonomorph.train.config import TrainConfig
from sonomorph.train.trainer import StepContext, TrainTask

__all__ = ["ScreamJudgeConfig", "ScreamJudgeTask", "JudgeClips", "load_clips", "roc_auc",
           "clip_scores"]

SAMPLE_RATE = 22050


@dataclass
class ScreamJudgeConfig(TrainConfig):
    """``sonomorph train scream-judge`` settings (every TrainConfig key, plus these)."""

    out_dir: str = "runs/scream-judge"
    library: str = "corpora/sources"  #: real-audio library (screams/ and speech/ with splits)
    steps: int = 600
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-2
    max_seconds: float = 4.0  #: of each clip read
    speech_clips_per_speaker: int = 12
    band_limit_p: float = 0.5
    channels: int = 64
    embedding: int = 32
    dropout: float = 0.2
    checkpoint_every: int = 200
    validate_every: int = 200
    log_every: int = 25
    #: start from the weights of a scream-judge file ("default": the shipped one) instead of
    #: random ones; its architecture comes from that file (:mod:`sonomorph.train.init_from`)
    init_from: str = ""

    def validate(self) -> None:
        super().validate()
        if not str(self.library).strip():
            raise ConfigError("'library' must name the real-audio library (--library DIR)")
        if not 0.0 <= self.band_limit_p <= 1.0:
            raise ConfigError(f"'band_limit_p' must be in [0, 1], got {self.band_limit_p}")
        if self.max_seconds < 0.5 or self.speech_clips_per_speaker < 1:
            raise ConfigError("'max_seconds' must be at least 0.5 and "
                              "'speech_clips_per_speaker' at least 1")


def _choose(clips: list[dict], per_group: int | None, seed: int) -> list[dict]:
    if per_group is None:
        return clips
    from sonomorph.data.corpus.common import job_rng

    by_group: dict[str, list[dict]] = {}
    for c in clips:
        by_group.setdefault(c["group"], []).append(c)
    out = []
    for g in sorted(by_group):
        order = job_rng(seed, "judge-clips", g).permutation(len(by_group[g]))
        out += [by_group[g][i] for i in sorted(order[:per_group])]
    return out


def load_clips(library: str, split: str, *, max_seconds: float, speech_per_speaker: int | None,
               seed: int) -> list[dict]:
    """The split's clips as ``{"audio": float32 array, "label": 0|1, "group", "rel",
    "package"}``
    (screams first, then speech; sorted by library path)."""
    from sonomorph.audio.io import load
    from sonomorph.data.corpus.screams import library_clips

    out = []
    for kind, label, cap in (("screams", 1, None), ("speech", 0, speech_per_speaker)):
        clips = [c for c in library_clips(library, kind) if c["split"] == split]
        for c in _choose(clips, cap, seed):
            wav, _ = load(c["path"], sr=SAMPLE_RATE, channels=1, duration=max_seconds)
            out.append({"audio": wav[0].astype(np.float32), "label": label,
                        "group": f"{kind}/{c['group']}", "rel": c["rel"],
                        "package": c["package"]})
    return out


class JudgeClips(Dataset):
    """Balanced random 1-s windows of in-memory clips: ``{"audio": (samples,), "label"}``
    (see the module docstring). ``length`` items per epoch."""

    def __init__(self, clips: list[dict], *, seed: int, length: int, window: int) -> None:
        self.seed, self.length, self.window, self.epoch = seed, int(length), int(window), 0
        self.groups: list[list[list[np.ndarray]]] = [[], []]
        for label in (0, 1):
            by_group: dict[str, list[np.ndarray]] = {}
            for c in clips:
                if c["label"] == label:
                    by_group.setdefault(c["group"], []).append(c["audio"])
            self.groups[label] = [by_group[g] for g in sorted(by_group)]
        if not self.groups[0] or not self.groups[1]:
            raise ConfigError("the scream judge needs both screams and speech in its training "
                              "split")

    def __len__(self) -> int:
        return self.length

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        rng = np.random.default_rng([self.seed, self.epoch, index])
        label = index % 2
        groups = self.groups[label]
        clips = groups[int(rng.integers(len(groups)))]
        wav = clips[int(rng.integers(len(clips)))]
        n = self.window
        if wav.shape[0] >= n:
            start = int(rng.integers(0, wav.shape[0] - n + 1))
            crop = wav[start: start + n]
        else:
            crop = np.zeros(n, np.float32)
            start = int(rng.integers(0, n - wav.shape[0] + 1))
            crop[start: start + wav.shape[0]] = wav
        return {"audio": torch.from_numpy(np.ascontiguousarray(crop)),
                "label": torch.tensor(float(label))}


class _Indices(Dataset):
    """``{"index": i}`` for each validation clip (the clips differ in length, so the
    validation reads them from the task instead of batching them)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        return {"index": torch.tensor(index)}


class ScreamJudgeTask(TrainTask):
    """The scream judge (see the module docstring)."""

    def __init__(self, config: ScreamJudgeConfig) -> None:
        super().__init__(config)
        self.loss = nn.BCEWithLogitsLoss()
        self._val: list[dict] = []

    def _clips(self, split: str) -> list[dict]:
        cfg = self.config
        return load_clips(cfg.library, split, max_seconds=cfg.max_seconds,
                          speech_per_speaker=cfg.speech_clips_per_speaker, seed=cfg.seed)

    def build_models(self) -> dict[str, nn.Module]:
        cfg = self.config

        def new() -> nn.Module:
            return ScreamJudge(SAMPLE_RATE, channels=cfg.channels, embedding=cfg.embedding,
                               dropout=cfg.dropout)

        # the band-limit augmentation keeps 24 to 63 of the judge's mel bands: n_mels too
        return {"judge": self.initial_model("scream-judge", new,
                                            must_match=("sample_rate", "n_mels"))}

    def build_optimizers(self, models):
        cfg = self.config
        return {"judge": torch.optim.AdamW(models["judge"].parameters(), cfg.lr,
                                           weight_decay=cfg.weight_decay)}

    def build_schedulers(self, optimizers):
        steps = self.config.steps

        def factor(step: int) -> float:
            return 0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * min(step, steps) / steps))

        return {"judge": torch.optim.lr_scheduler.LambdaLR(optimizers["judge"], factor)}

    def train_dataset(self) -> Dataset:
        cfg = self.config
        clips = self._clips("train")
        return JudgeClips(clips, seed=cfg.seed, length=max(len(clips), 64 * cfg.batch_size),
                          window=int(SAMPLE_RATE))

    def val_dataset(self) -> Dataset | None:
        self._val = self._clips("valid")
        if len({c["label"] for c in self._val}) < 2:
            return None
        return _Indices(len(self._val))

    def training_step(self, models, batch, ctx: StepContext) -> dict[str, Any]:
        cfg = self.config
        judge = models["judge"]
        x, y = batch["audio"], batch["label"]
        gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + ctx.global_step)
        limited = torch.rand(x.shape[0], generator=gen) < cfg.band_limit_p
        bands = torch.randint(24, 64, (x.shape[0],), generator=gen)
        bands = torch.where(limited, bands, torch.full_like(bands, 64)).to(x.device)
        logits, _ = ctx.unwrap(judge).logits_and_embedding(x, bands)
        loss = self.loss(logits, y)
        ctx.backward(loss, "judge")
        ctx.step("judge")
        acc = ((logits > 0).float() == y).float().mean()
        return {"loss": loss, "accuracy": acc}

    def validate(self, models, loader) -> dict[str, float]:
        judge = models["judge"]
        scores, labels, hits, n = [], [], 0, 0
        for batch in loader:
            for i in batch["index"].tolist():
                clip = self._val[i]
                p, _ = clip_scores(judge, torch.from_numpy(clip["audio"]))
                if p.numel() == 0:
                    continue
                label = int(clip["label"])
                scores.append(float(p.mean()))
                labels.append(label)
                hits += int(((p >= 0.5).long() == label).sum())
                n += p.numel()
        if not scores:
            return {}
        return {"window_accuracy": hits / max(1, n),
                "clip_auc": roc_auc(np.array(scores), np.array(labels))}

    def export(self, models) -> tuple[nn.Module, dict[str, Any]]:
        return models["judge"], {"sample_rate": SAMPLE_RATE, "labels": ["speech", "scream"],
                                 "library": str(self.config.library)}
