"""Training recipe for the genre classifiers (:mod:`sonomorph.models.classifier`).

Data (``data``, ``--data DIR``): a GTZAN-layout folder (``<genre>/<clip>.wav``). The split
is by track: the split files when the folder has them (``splits/{train,valid,test}.txt``,
or the fault-filtered GTZAN lists ``{train,valid,test}_filtered.txt``), otherwise a stable
hash of each clip's name (``test_fraction`` for testing, never seen in training).
Validation uses ``valid`` when it exists, else ``val_fraction`` of the training tracks (by
hash again), so the test split stays untouched until ``sonomorph eval genre``.

Each example is a random crop of ``train_frames`` mel frames (431 = 5 s by default; the
networks are fully convolutional, so a shorter crop trains faster on a CPU and the model
still classifies 5-s segments). Features are the models' own: magnitude mels through
:func:`~sonomorph.models.classifier.scale_mel`. Augmentation: a random gain (which a log
feature turns into an offset the model must ignore) and SpecAugment-style frequency and
time masks. Loss: cross-entropy with light label smoothing. ``best.safetensors`` is the
model with the lowest validation cross-entropy on 5-s centre crops (validation accuracy
reaches 100 % early on a small validation split and then cannot choose). ``init_from``
(``--init-from``) starts from a genre file instead (``"default"``: the shipped one), whose
labels must be the data's genres.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from sonomorph.data.splits import split_clips  # noqa: F401 - re-exported (tests, callers)
from sonomorph.errors import ConfigError
from sonomorph.models.classifier import (
    GENRE_FEATURES,
    MEL_REF,
    SEGMENT_FRAMES,
    GenreCNN,
    GenreTCN,
    genre_mel,
    scale_mel,
)
from sonomorph.train.config import TrainConfig
from sonomorph.train.schedules import warmup_cosine
from sonomorph.train.trainer import StepContext, TrainTask

__all__ = ["GenreTrainConfig", "GenreTask", "split_clips", "frames_to_samples"]

ARCHS = {"cnn": GenreCNN, "tcn": GenreTCN}


@dataclass
class GenreTrainConfig(TrainConfig):
    """The genre classifier's training configuration (TOML keys = field names)."""

    out_dir: str = "runs/genre"
    data: str = ""  #: GTZAN-layout folder
    arch: Literal["cnn", "tcn"] = "tcn"  #: tcn: the stronger temporal CNN; cnn: the original
    dropout: float = 0.3
    train_frames: int = 431  #: mel frames per training crop (431 = 5 s)
    steps: int = 3000
    batch_size: int = 16
    lr: float = 2e-3
    lr_final: float = 5e-5  #: cosine decay from lr (after warmup) to this at the last step
    warmup_steps: int = 100
    weight_decay: float = 1e-3
    label_smoothing: float = 0.05
    grad_clip: float = 5.0
    gain_db: tuple[float, float] = (-12.0, 6.0)  #: random gain range of training crops
    freq_masks: int = 2  #: SpecAugment frequency masks per example (0: off)
    freq_mask_bands: int = 40  #: widest frequency mask, in mel bands
    time_masks: int = 2
    time_mask_frames: int = 40
    test_fraction: float = 0.2  #: of the tracks, when the folder has no split files
    val_fraction: float = 0.1  #: of the training tracks, when there is no valid split
    num_workers: int = 1
    checkpoint_every: int = 200
    log_every: int = 20
    validate_every: int = 0  #: 0: once per epoch
    keep_best: str = "loss"  #: validation cross-entropy: accuracy saturates on small sets
    keep_best_mode: Literal["min", "max"] = "min"
    channels: list[int] = field(default_factory=list)  #: block widths ([]: the model's default)
    #: start from the weights of a genre file ("default": the shipped one) instead of random
    #: ones; its architecture comes from that file and its labels must be the data's genres
    #: (:mod:`sonomorph.train.init_from`)
    init_from: str = ""

    def validate(self) -> None:
        super().validate()
        if not str(self.data).strip():
            raise ConfigError("'data' must name a GTZAN-layout folder (--data DIR)")
        if self.train_frames < 16:
            raise ConfigError(f"'train_frames' must be at least 16, got {self.train_frames}")
        for key in ("test_fraction", "val_fraction"):
            if not 0.0 <= getattr(self, key) < 1.0:
                raise ConfigError(f"'{key}' must be in [0, 1), got {getattr(self, key)}")
        if not 0.0 <= self.dropout < 1.0 or not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError("'dropout' and 'label_smoothing' must be in [0, 1)")


def frames_to_samples(frames: int, hop: int = GENRE_FEATURES["hop_length"]) -> int:
    """Samples that give exactly ``frames`` centred STFT frames at ``hop``."""
    return (int(frames) - 1) * int(hop)


def _clips_dataset(root: str, clips: list, *, frames: int, seed: int, random_crop: bool,
                   sample_rate: int) -> Dataset:
    """A :class:`~sonomorph.data.datasets.LabelledClips` restricted to ``clips``."""
    from sonomorph.data.datasets import LabelledClips

    ds = LabelledClips(root, None, segment_seconds=frames_to_samples(frames) / sample_rate,
                       sample_rate=sample_rate, channels=1, seed=seed, random_crop=random_crop)
    ds.items = list(clips)
    return ds


class GenreTask(TrainTask):
    """The genre classifier's :class:`~sonomorph.train.TrainTask`."""

    def __init__(self, config: GenreTrainConfig) -> None:
        super().__init__(config)
        self.config: GenreTrainConfig = config
        self.sample_rate = GENRE_FEATURES["sample_rate"]
        from sonomorph.data.layouts import DatasetError, gtzan_clips

        self.classes = sorted({c.label for c in gtzan_clips(config.data)})
        if len(self.classes) < 2:
            raise DatasetError("needs at least two genre folders", config.data)
        self._train: Dataset | None = None
        self.mel = genre_mel(**GENRE_FEATURES)
        self.loss = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
        if config.validate_every == 0:
            config.validate_every = max(1, len(self.train_dataset()) // config.batch_size)

    # ------------------------------------------------------------------ data

    def _split(self, split: str) -> list:
        from sonomorph.data.layouts import DatasetError

        cfg = self.config
        clips = split_clips(cfg.data, split, test_fraction=cfg.test_fraction,
                            val_fraction=cfg.val_fraction)
        if not clips:
            raise DatasetError(f"the {split} split is empty", cfg.data)
        return clips

    def train_dataset(self) -> Dataset:
        if self._train is None:
            self._train = _clips_dataset(self.config.data, self._split("train"),
                                         frames=self.config.train_frames, seed=self.config.seed,
                                         random_crop=True, sample_rate=self.sample_rate)
        return self._train

    def val_dataset(self) -> Dataset | None:
        return _clips_dataset(self.config.data, self._split("valid"), frames=SEGMENT_FRAMES,
                              seed=self.config.seed, random_crop=False,
                              sample_rate=self.sample_rate)

    # ------------------------------------------------------------------ model

    def build_models(self) -> dict[str, nn.Module]:
        cfg = self.config
        kwargs: dict[str, Any] = {"n_mels": GENRE_FEATURES["n_mels"],
                                  "n_classes": len(self.classes), "dropout": cfg.dropout}
        if cfg.channels:
            kwargs["channels"] = list(cfg.channels)
        model = self.initial_model("genre", lambda: ARCHS[cfg.arch](**kwargs),
                                   must_match=("n_mels", "n_classes"))
        if self.init_meta is not None:
            self._check_init_features(self.init_meta)
        return {"genre": model}

    def _check_init_features(self, meta: dict[str, Any]) -> None:
        """The ``init_from`` file must read the same mels and name the same genres, in the
        same order, as this data (its output units are those genres)."""
        labels, rate = meta.get("labels"), meta.get("sample_rate", self.sample_rate)
        if labels is not None and list(labels) != self.classes:
            raise ConfigError(f"init_from: that genre model's labels ({', '.join(map(str, labels))}) "
                              f"are not this data's genres ({', '.join(self.classes)})")
        if rate != self.sample_rate:
            raise ConfigError(f"init_from: that genre model reads {rate} Hz audio, this recipe "
                              f"{self.sample_rate} Hz")

    def build_optimizers(self, models) -> dict[str, torch.optim.Optimizer]:
        cfg = self.config
        return {"genre": torch.optim.AdamW(models["genre"].parameters(), lr=cfg.lr,
                                           weight_decay=cfg.weight_decay)}

    def build_schedulers(self, optimizers) -> dict[str, Any]:
        cfg = self.config
        return {"genre": warmup_cosine(optimizers["genre"], lr=cfg.lr, lr_final=cfg.lr_final,
                                       warmup_steps=cfg.warmup_steps, steps=cfg.steps)}

    # ------------------------------------------------------------------ steps

    def features(self, audio: Tensor) -> Tensor:
        """Scaled mels ``(batch, n_mels, frames)`` of ``(batch, 1, samples)`` audio."""
        self.mel = self.mel.to(audio.device)
        return scale_mel(self.mel(audio[:, 0].float()))

    def _augment(self, audio: Tensor) -> Tensor:
        cfg = self.config
        lo, hi = cfg.gain_db
        gain = torch.empty(audio.shape[0], 1, 1, device=audio.device).uniform_(lo, hi)
        return audio * torch.pow(10.0, gain / 20.0)

    def _mask(self, x: Tensor) -> Tensor:
        cfg = self.config
        b, n_mels, frames = x.shape
        keep = torch.ones_like(x)
        for count, widest, size, axis in ((cfg.freq_masks, cfg.freq_mask_bands, n_mels, 1),
                                          (cfg.time_masks, cfg.time_mask_frames, frames, 2)):
            for _ in range(count):
                width = torch.randint(0, max(1, min(widest, size // 4)) + 1, (b,))
                start = (torch.rand(b) * (size - width).clamp_min(1)).long()
                idx = torch.arange(size)
                band = ((idx[None] >= start[:, None]) & (idx[None] < (start + width)[:, None]))
                band = band.to(x.device)
                keep = keep * (~band[:, :, None] if axis == 1 else ~band[:, None, :]).float()
        return x * keep

    def training_step(self, models, batch, ctx: StepContext) -> dict[str, Tensor]:
        with ctx.fp32():
            x = self._mask(self.features(self._augment(batch["audio"])))
        logits = models["genre"](x)
        loss = self.loss(logits.float(), batch["label"])
        ctx.backward(loss, "genre")
        ctx.step("genre")
        acc = (logits.argmax(dim=-1) == batch["label"]).float().mean()
        return {"loss": loss.detach(), "accuracy": acc}

    def validate(self, models, loader: DataLoader) -> dict[str, float]:
        correct = total = 0
        loss_sum = 0.0
        for batch in loader:
            logits = models["genre"](self.features(batch["audio"]))
            loss_sum += float(nn.functional.cross_entropy(logits, batch["label"], reduction="sum"))
            correct += int((logits.argmax(dim=-1) == batch["label"]).sum())
            total += int(batch["label"].numel())
        if total == 0:
            return {}
        return {"accuracy": correct / total, "loss": loss_sum / total}

    def export(self, models) -> tuple[nn.Module, dict[str, Any]]:
        return models["genre"], {
            "labels": list(self.classes), "features": dict(GENRE_FEATURES),
            "segment_frames": SEGMENT_FRAMES,
            "mel_scale": f"log1p(magnitude mel / {MEL_REF:g})",
            "sample_rate": self.sample_rate}
