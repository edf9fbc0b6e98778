"""Training recipe for our own speaker encoder (:mod:`sonomorph.models.speaker_encoder`).

    sonomorph train speaker-encoder --data corpora/speech --out runs/speaker-encoder

Data (``data``): a ``corpus speech`` folder (VCTK layout, read with
:func:`sonomorph.data.layouts.vctk_utterances`) with its ``splits/{train,valid,test-real}.txt``
(:func:`sonomorph.data.corpus.speech.read_splits`): synthetic and real speakers of ``train``
are trained on, the ``valid`` speakers validate, and the ``test-real`` speakers are never
read here (``sonomorph eval speakers --split test-real`` scores on them). A folder without
split files trains on every speaker except a stable ``val_fraction`` of them (by a hash of
the speaker id), which validate.

Batches: ``batch_size`` speakers x ``utterances`` utterances. Item ``i`` of an epoch is one
training speaker (the epoch visits every speaker in a shuffled order) with ``utterances``
distinct utterances drawn from its clips, a random ``segment_seconds`` crop of each inside
its voiced span (a shorter clip is repeated to the length). Every utterance is augmented on
its own, so two utterances of one speaker rarely share a channel and the encoder must
ignore the channel (all drawn from the item's generator, reproducible):

* **level**: a gain in ``gain_db`` (the features are level-free; this keeps clipping honest);
* **room and EQ**: :class:`sonomorph.data.mixing.Augment`'s reverb and random EQ (its pitch
  shift is off: a pitch shift changes who is speaking);
* **noise**: with ``noise_p``, noise at an SNR drawn from ``snr_db``: a random crop of a
  file of the ``noise`` folder when one is given (music, rooms, crowds), else Gaussian noise
  with a random spectral slope (white to brown);
* **channel**: with ``band_limit_p``, a narrow-band channel: resampled to a rate of
  ``band_rates`` and back, with ``mu_law_p`` through 8-bit mu-law too (a G.711 telephone).

Loss: :class:`~sonomorph.models.losses.AngularPrototypicalLoss` (its learnt scale and bias
train with the encoder, in one AdamW; they are saved in the training state, not in the
exported encoder). AdamW, ``lr`` with a linear warm-up and a cosine decay to ``lr_final``.
``init_from`` (``--init-from``) starts the encoder from a speaker-encoder file instead
(``"default"``: the shipped one; the loss's scale and bias start afresh).

Validation (the ``valid`` speakers, at most ``val_utterances`` clips each, a centred
``val_seconds`` crop inside the voiced span, no augmentation): ``nn_accuracy``, the
leave-one-out 1-nearest-neighbour speaker accuracy (cosine), and ``eer``, the equal error
rate over every pair of clips (same speaker or not); ``best.safetensors`` has the lowest EER.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from sonomorph.data.datasets import _Epochs, _tensor, audio_frames, read_segment, voiced_span
from sonomorph.errors import ConfigError
from sonomorph.models.losses import AngularPrototypicalLoss
from sonomorph.models.metrics import equal_error_rate, nearest_neighbour_accuracy
from sonomorph.models.speaker_encoder import SpeakerEncoder
from sonomorph.train.config import TrainConfig
from sonomorph.train.schedules import warmup_cosine
from sonomorph.train.trainer import StepContext, TrainTask

__all__ = ["SpeakerEncoderConfig", "SpeakerEncoderTask", "SpeakerGroups", "SpeakerClips",
           "speaker_split", "ChannelAugment"]

SAMPLE_RATE = 16000


@dataclass
class SpeakerEncoderConfig(TrainConfig):
    """``sonomorph train speaker-encoder`` settings (every TrainConfig key, plus these)."""

    out_dir: str = "runs/speaker-encoder"
    data: str = "corpora/speech"  #: a corpus speech folder (VCTK layout + splits/)
    steps: int = 3000
    batch_size: int = 32  #: speakers per batch
    utterances: int = 2  #: utterances per speaker in a batch (>= 2)
    segment_seconds: float = 2.0
    lr: float = 2e-3
    lr_final: float = 5e-5
    warmup_steps: int = 100
    weight_decay: float = 1e-4
    grad_clip: float = 5.0
    # model
    n_mels: int = 64
    channels: int = 256
    attention: int = 64
    embedding: int = 192
    # augmentation
    gain_db: tuple[float, float] = (-18.0, 3.0)
    reverb_p: float = 0.3
    eq_p: float = 0.3
    noise: str = ""  #: folder of noise files ("": coloured Gaussian noise)
    noise_p: float = 0.5
    snr_db: tuple[float, float] = (3.0, 30.0)
    band_limit_p: float = 0.3
    band_rates: tuple[int, ...] = (8000, 11025)
    mu_law_p: float = 0.5
    # validation
    val_fraction: float = 0.1  #: of the speakers, when the folder has no split files
    val_utterances: int = 8  #: clips per valid speaker
    val_seconds: float = 3.0
    validate_every: int = 250
    checkpoint_every: int = 250
    log_every: int = 25
    keep_best: str = "eer"
    keep_best_mode: Literal["min", "max"] = "min"
    #: start the encoder from the weights of a speaker-encoder file ("default": the shipped
    #: one) instead of random ones; its architecture comes from that file and the loss's
    #: scale and bias start afresh (:mod:`sonomorph.train.init_from`)
    init_from: str = ""

    def validate(self) -> None:
        super().validate()
        if not str(self.data).strip():
            raise ConfigError("'data' must name a speech corpus folder (--data DIR)")
        if self.utterances < 2 or self.batch_size < 2:
            raise ConfigError("'utterances' and 'batch_size' (speakers per batch) must be at "
                              "least 2")
        if self.segment_seconds < 0.5 or self.val_seconds < 0.5:
            raise ConfigError("'segment_seconds' and 'val_seconds' must be at least 0.5")
        for key in ("reverb_p", "eq_p", "noise_p", "band_limit_p", "mu_law_p"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise ConfigError(f"'{key}' must be in [0, 1], got {getattr(self, key)}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ConfigError(f"'val_fraction' must be in [0, 1), got {self.val_fraction}")
        if not self.band_rates or min(self.band_rates) < 2000 or max(self.band_rates) >= SAMPLE_RATE:
            raise ConfigError(f"'band_rates' must lie in [2000, {SAMPLE_RATE}) Hz")


# ----------------------------------------------------------------------------- data


def speaker_split(root: str | os.PathLike, split: str, *,
                  val_fraction: float = 0.1) -> dict[str, list[Path]]:
    """``{speaker: [files]}`` of ``split`` (``train`` or ``valid``) of a speech corpus:
    its split files when it has them, else a stable hash of the speaker id puts
    ``val_fraction`` of the speakers in ``valid``."""
    from sonomorph.data.corpus.speech import read_splits
    from sonomorph.data.layouts import vctk_utterances
    from sonomorph.data.splits import _fraction_of

    groups: dict[str, list[Path]] = {}
    for u in vctk_utterances(root):
        groups.setdefault(u.speaker, []).append(u.path)
    splits = read_splits(root)
    if splits:
        return {s: f for s, f in groups.items() if splits.get(s) == split}
    valid = {s for s in groups if _fraction_of(s, "speaker-valid") < val_fraction}
    return {s: f for s, f in groups.items() if (s in valid) == (split == "valid")}


def _voiced_crop(path: Path, rng: np.random.Generator | None, length: int) -> np.ndarray:
    """``length`` samples from the voiced span of ``path`` (a random crop with ``rng``,
    else the centre); a shorter span is repeated to the length."""
    a, b = voiced_span(os.fspath(path), SAMPLE_RATE)
    if b - a < SAMPLE_RATE // 10:
        a, b = 0, audio_frames(path, SAMPLE_RATE)
    span = b - a
    if span >= length:
        start = a + (int(rng.integers(0, span - length + 1)) if rng is not None
                     else (span - length) // 2)
        return read_segment(path, start, length, SAMPLE_RATE, 1)[0]
    wav = read_segment(path, a, span, SAMPLE_RATE, 1)[0]
    return np.tile(wav, -(-length // max(1, span)))[:length]


@dataclass
class ChannelAugment:
    """The recipe's per-utterance augmentation (see the module docstring): level, room and
    EQ (:class:`~sonomorph.data.mixing.Augment`, no pitch shift), noise and a narrow-band
    channel. ``noise_files`` empty: coloured Gaussian noise."""

    gain_db: tuple[float, float] = (-18.0, 3.0)
    reverb_p: float = 0.3
    eq_p: float = 0.3
    noise_p: float = 0.5
    snr_db: tuple[float, float] = (3.0, 30.0)
    band_limit_p: float = 0.3
    band_rates: tuple[int, ...] = (8000, 11025)
    mu_law_p: float = 0.5
    noise_files: tuple[Path, ...] = ()

    def __call__(self, wav: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        from sonomorph.data.mixing import (
            Augment,
            add_noise,
            band_limit,
            coloured_noise,
        )

        room = Augment(gain_db=(0.0, 0.0), eq_probability=self.eq_p,
                       reverb_probability=self.reverb_p, pitch_probability=0.0)
        x = Augment.apply(wav[None], SAMPLE_RATE, room.draw(rng))
        n = x.shape[-1]
        if rng.random() < self.noise_p:
            if self.noise_files:
                f = self.noise_files[int(rng.integers(0, len(self.noise_files)))]
                total = audio_frames(f, SAMPLE_RATE)
                start = int(rng.integers(0, max(1, total - n) + 1))
                noise = read_segment(f, start, n, SAMPLE_RATE, 1)
            else:
                noise = coloured_noise(rng, n, float(rng.uniform(0.0, 2.0)))
            x = add_noise(x, noise, float(rng.uniform(*self.snr_db)))
        if rng.random() < self.band_limit_p:
            rate = int(self.band_rates[int(rng.integers(0, len(self.band_rates)))])
            x = band_limit(x, SAMPLE_RATE, rate, mu_law=bool(rng.random() < self.mu_law_p))
        x = x * np.float32(10.0 ** (rng.uniform(*self.gain_db) / 20.0))
        peak = float(np.max(np.abs(x)))
        if peak > 0.99:
            x = x * np.float32(0.99 / peak)
        return x[0].astype(np.float32)


class SpeakerGroups(_Epochs, Dataset):
    """Item ``i``: speaker ``i mod S`` of ``groups`` (``{speaker: [files]}``, speakers with
    at least ``utterances`` files) as ``{"audio": (utterances, samples), "speaker": int}``:
    ``utterances`` distinct files, a random voiced crop of each, each augmented on its own.
    ``repeats`` visits of every speaker make an epoch."""

    def __init__(self, groups: dict[str, list[Path]], *, utterances: int, segment: int,
                 augment: ChannelAugment | None, seed: int, repeats: int = 1) -> None:
        self.speakers = sorted(s for s, f in groups.items() if len(f) >= utterances)
        self.files = {s: list(groups[s]) for s in self.speakers}
        self.utterances, self.segment, self.augment = int(utterances), int(segment), augment
        self.seed, self.repeats = seed, max(1, int(repeats))

    def __len__(self) -> int:
        return len(self.speakers) * self.repeats

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        if not 0 <= index < len(self):
            raise IndexError(index)
        rng = self.rng(index)
        k = index % len(self.speakers)
        files = self.files[self.speakers[k]]
        picks = rng.choice(len(files), self.utterances, replace=False)
        out = []
        for i in picks:
            wav = _voiced_crop(files[int(i)], rng, self.segment)
            out.append(self.augment(wav, rng) if self.augment is not None else wav)
        return {"audio": _tensor(np.stack(out)), "speaker": torch.tensor(k)}


class SpeakerClips(Dataset):
    """Validation clips: the first ``per_speaker`` files of each speaker of ``groups``, a
    centred voiced crop of ``segment`` samples each, as ``{"audio": (1, samples),
    "speaker": int}``."""

    def __init__(self, groups: dict[str, list[Path]], *, per_speaker: int, segment: int) -> None:
        self.speakers = sorted(groups)
        self.items = [(k, f) for k, s in enumerate(self.speakers)
                      for f in groups[s][:per_speaker]]
        self.segment = int(segment)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        k, f = self.items[index]
        return {"audio": _tensor(_voiced_crop(f, None, self.segment)[None]),
                "speaker": torch.tensor(k)}


# ----------------------------------------------------------------------------- task


class SpeakerEncoderTask(TrainTask):
    """Our speaker encoder's :class:`~sonomorph.train.TrainTask` (see the module docs)."""

    def __init__(self, config: SpeakerEncoderConfig) -> None:
        super().__init__(config)
        self.config: SpeakerEncoderConfig = config
        from sonomorph.data.layouts import DatasetError

        self.train_groups = speaker_split(config.data, "train", val_fraction=config.val_fraction)
        self.valid_groups = {s: f for s, f in speaker_split(
            config.data, "valid", val_fraction=config.val_fraction).items() if len(f) >= 2}
        usable = [s for s, f in self.train_groups.items() if len(f) >= config.utterances]
        if len(usable) < 2:
            raise DatasetError(f"the train split has {len(usable)} speakers with "
                               f"{config.utterances} or more clips; 2 are needed", config.data)
        noise_files: tuple[Path, ...] = ()
        if config.noise:
            from sonomorph.data.layouts import folder_audio

            noise_files = tuple(folder_audio(config.noise))
            if not noise_files:
                raise DatasetError("no audio files in the noise folder", config.noise)
        self.augment = ChannelAugment(
            gain_db=tuple(config.gain_db), reverb_p=config.reverb_p, eq_p=config.eq_p,
            noise_p=config.noise_p, snr_db=tuple(config.snr_db),
            band_limit_p=config.band_limit_p, band_rates=tuple(config.band_rates),
            mu_law_p=config.mu_law_p, noise_files=noise_files)
        self._train: SpeakerGroups | None = None

    def train_dataset(self) -> Dataset:
        if self._train is None:
            cfg = self.config
            n = sum(1 for f in self.train_groups.values() if len(f) >= cfg.utterances)
            self._train = SpeakerGroups(
                self.train_groups, utterances=cfg.utterances,
                segment=int(round(cfg.segment_seconds * SAMPLE_RATE)), augment=self.augment,
                seed=cfg.seed, repeats=math.ceil(cfg.batch_size / n))
        return self._train

    def val_dataset(self) -> Dataset | None:
        if len(self.valid_groups) < 2:
            return None
        cfg = self.config
        return SpeakerClips(self.valid_groups, per_speaker=cfg.val_utterances,
                            segment=int(round(cfg.val_seconds * SAMPLE_RATE)))

    def build_models(self) -> dict[str, nn.Module]:
        cfg = self.config

        def new() -> nn.Module:
            return SpeakerEncoder(sample_rate=SAMPLE_RATE, n_mels=cfg.n_mels,
                                  channels=cfg.channels, attention=cfg.attention,
                                  embedding=cfg.embedding)

        # with init_from the loss's learnt scale and bias start afresh (not in the file)
        return {"encoder": self.initial_model("speaker-encoder", new,
                                              must_match=("sample_rate",)),
                "criterion": AngularPrototypicalLoss()}

    def build_optimizers(self, models) -> dict[str, torch.optim.Optimizer]:
        cfg = self.config
        groups = [{"params": list(models["encoder"].parameters()),
                   "weight_decay": cfg.weight_decay},
                  {"params": list(models["criterion"].parameters()), "weight_decay": 0.0}]
        return {"encoder": torch.optim.AdamW(groups, lr=cfg.lr)}

    def build_schedulers(self, optimizers) -> dict[str, Any]:
        cfg = self.config
        return {"encoder": warmup_cosine(optimizers["encoder"], lr=cfg.lr, lr_final=cfg.lr_final,
                                         warmup_steps=cfg.warmup_steps, steps=cfg.steps)}

    def training_step(self, models, batch, ctx: StepContext) -> dict[str, Tensor]:
        audio = batch["audio"]  # (N, M, samples)
        n, m, length = audio.shape
        emb = models["encoder"](audio.reshape(n * m, length)).reshape(n, m, -1)
        with ctx.fp32():
            out = models["criterion"](emb.float(), batch["speaker"])
        ctx.backward(out["loss"], "encoder")
        ctx.step("encoder")
        scale = ctx.unwrap(models["criterion"]).scale
        return {"loss": out["loss"].detach(), "accuracy": out["accuracy"],
                "scale": scale.detach()}

    def validate(self, models, loader) -> dict[str, float]:
        embs, labels = [], []
        for batch in loader:
            embs.append(models["encoder"](batch["audio"]).float().cpu().numpy())
            labels.append(batch["speaker"].cpu().numpy())
        if not embs:
            return {}
        e, lab = np.concatenate(embs), np.concatenate(labels)
        sim = e @ e.T
        iu = np.triu_indices(len(lab), k=1)
        same = (lab[:, None] == lab[None, :])[iu].astype(int)
        return {"nn_accuracy": nearest_neighbour_accuracy(e, lab),
                "eer": equal_error_rate(sim[iu], same)}

    def export(self, models) -> tuple[nn.Module, dict[str, Any]]:
        enc = models["encoder"]
        return enc, {"sample_rate": SAMPLE_RATE,
                     "features": {"n_fft": enc.n_fft, "hop_length": enc.hop_length,
                                  "n_mels": enc.n_mels, "scale": "log mel power, centred "
                                  "per band over the voiced frames"},
                     "embedding": enc.embedding_size, "data": str(self.config.data)}
