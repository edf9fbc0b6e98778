"""Training recipe for vocals-to-song: pix2pix (:class:`UNetGenerator` against a conditional
:class:`PatchDiscriminator`) on spectrogram images.

Data (``data``, ``--data``): a MUSDB18-HQ-layout folder (real MUSDB18-HQ, or the synthetic
chorale corpus of ``sonomorph corpus multitrack``; a CCMixter folder works too). Pairs are
random excerpts of ``tile_frames`` STFT frames of the ``train`` split: the voice (input)
and the accompaniment (``target="accompaniment"``, the default) or the whole mixture
(``target="mixture"``, the original project's choice), both mono at ``sample_rate``.
Validation uses the ``valid`` split (MUSDB's 14 tracks, or a stable tenth of a synthetic
corpus): the split is by song, so no song is on both sides. Any tile length that is a
multiple of ``2 ** model.depth`` frames works (the networks are fully convolutional).

Levels: each song's voice is brought to the pipeline's reference active RMS
(:func:`sonomorph.audio.level.gain_to_rms`, the same gain the pipeline applies at
inference), the target gets the same gain, and both a random common gain of
+-``gain_jitter_db`` so that the model does not rely on an exact input level.

Losses (pix2pix): the discriminator's ``BCEGANLoss`` on (voice, real) versus (voice,
generated); the generator's ``BCEGANLoss`` plus ``l1_weight`` (100, as in pix2pix) x
:class:`~sonomorph.train.losses.SpectrogramImageL1Loss`. Adam with lr 2e-4 and beta1 0.5
for both, as the paper. Validation reports ``val_l1`` (log-magnitude L1) and
``val_chroma`` (frame-wise cosine of STFT chroma between generated and true magnitudes,
on frames where the target plays), which selects ``best.safetensors``. ``init_from``
(``--init-from``) starts the generator from an accompany file (``"default"``: the shipped
one), its architecture winning over ``model``; the discriminator starts from random weights.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from sonomorph.errors import ConfigError
from sonomorph.models.pix2pix import PatchDiscriminator, UNetGenerator
from sonomorph.train.config import TrainConfig
from sonomorph.train.distributed import EpochAware, sample_rng
from sonomorph.train.losses import BCEGANLoss, SpectrogramImageL1Loss
from sonomorph.train.trainer import StepContext, TrainTask

log = logging.getLogger(__name__)

__all__ = ["AccompanyModelArgs", "AccompanyTrainConfig", "AccompanyTask", "PairedExcerpts"]


@dataclass
class AccompanyModelArgs:
    """Sizes of the generator (``ngf``, ``depth``, ``max_channels``, ``dropout``) and of the
    discriminator (``ndf``, ``n_layers``: 3 gives 70x70 patches). ``condition``: "chroma"
    also gives the generator the voice's pitch-class track, computed in the model from its
    input (:class:`~sonomorph.models.pix2pix.UNetGenerator`), and ``chroma_context``
    (frames) that track averaged over a phrase-long window as well."""

    ngf: int = 16
    depth: int = 7
    max_channels: int = 96
    dropout: float = 0.5
    ndf: int = 16
    n_layers: int = 3
    condition: Literal["none", "chroma"] = "none"
    chroma_context: int = 0  #: frames (0: none; 172 is 2 s at 22.05 kHz, hop 256)


@dataclass
class AccompanyTrainConfig(TrainConfig):
    """The vocals-to-song training configuration (TOML keys = field names)."""

    out_dir: str = "runs/accompany"
    data: str = ""  #: MUSDB18-HQ-layout folder (or CCMixter)
    target: Literal["accompaniment", "mixture"] = "accompaniment"
    sample_rate: int = 22050  #: the model's rate (the pipeline resamples to and from it)
    n_fft: int = 1024
    hop: int = 256
    tile_frames: int = 128  #: training excerpt length in STFT frames (multiple of 2**depth)
    inference_tile_frames: int = 256  #: tile length the pipeline uses (stored in the model)
    samples_per_epoch: int = 0  #: 0: the data's duration / excerpt length
    gain_jitter_db: float = 6.0
    reference_rms: float = 0.05  #: the pipeline's reference active RMS of the voice
    l1_weight: float = 100.0  #: pix2pix's lambda
    gan_weight: float = 1.0
    phase_weight: float = 1.0  #: weight of the magnitude-weighted phase L1
    betas: tuple[float, float] = (0.5, 0.999)
    steps: int = 1000
    batch_size: int = 4
    lr: float = 2e-4
    checkpoint_every: int = 100
    log_every: int = 10
    validate_every: int = 250
    val_items: int = 24  #: validation excerpts
    keep_best: str = "val_chroma"
    keep_best_mode: Literal["min", "max"] = "max"
    #: start the generator from the weights of an accompany file ("default": the shipped
    #: one) instead of random ones; its architecture comes from that file (its sample_rate,
    #: n_fft, hop and target must be these), and the discriminator, which the file does not
    #: hold, starts from random weights (:mod:`sonomorph.train.init_from`)
    init_from: str = ""
    model: AccompanyModelArgs = field(default_factory=AccompanyModelArgs)

    def validate(self) -> None:
        super().validate()
        if not str(self.data).strip():
            raise ConfigError("'data' must name the training data folder (--data DIR)")
        multiple = 2 ** self.model.depth
        for key in ("tile_frames", "inference_tile_frames"):
            value = getattr(self, key)
            if value < multiple or value % multiple:
                raise ConfigError(f"'{key}' must be a positive multiple of 2**model.depth = "
                                  f"{multiple}, got {value}")
        if (self.n_fft // 2) % multiple:
            raise ConfigError(f"'n_fft' // 2 must be a multiple of {multiple}, got {self.n_fft}")
        if not 0 < self.hop <= self.n_fft // 2:
            raise ConfigError(f"'hop' must be in (0, n_fft/2], got {self.hop}")
        if self.sample_rate < 8000 or self.val_items < 1 or not self.reference_rms > 0:
            raise ConfigError("need sample_rate >= 8000, val_items >= 1, reference_rms > 0")
        if self.model.chroma_context < 0 or (self.model.chroma_context
                                             and self.model.condition != "chroma"):
            raise ConfigError("'model.chroma_context' must be >= 0, and needs "
                              "model.condition = \"chroma\"")


# ----------------------------------------------------------------------------- data


class PairedExcerpts(EpochAware, Dataset):
    """(voice, target) mono excerpts of ``frames`` STFT frames from a multitrack split, at
    the pipeline's level: ``{"vocals": (samples,), "target": (samples,)}``."""

    def __init__(self, root: str, split: str, target: str, frames: int, hop: int,
                 sample_rate: int, *, reference_rms: float, seed: int, gain_jitter_db: float = 0.0,
                 count: int | None = None) -> None:
        from sonomorph.data.datasets import MultitrackSegments

        self.samples = (frames - 1) * hop
        self.source = "mixture" if target == "mixture" else "accompaniment"
        self.inner = MultitrackSegments(root, split, ("vocals", self.source),
                                        self.samples / sample_rate, sample_rate, 1, seed=seed,
                                        samples_per_epoch=count or None, remix=None)
        self.sample_rate, self.reference_rms = sample_rate, reference_rms
        self.seed, self.jitter = seed, float(gain_jitter_db)
        self._gains: dict[int, float] = {}

    def __len__(self) -> int:
        return len(self.inner)

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        self.inner.set_epoch(epoch)

    def track_gain(self, track: int) -> float:
        """The pipeline's gain for this track's whole voice (cached)."""
        if track not in self._gains:
            from sonomorph.audio.level import gain_to_rms
            from sonomorph.data.datasets import audio_frames, read_sum

            t = self.inner.tracks[track]
            parts = t.parts("vocals")
            n = min(audio_frames(p, self.sample_rate) for p in parts)
            voice = read_sum(parts, 0, n, self.sample_rate, 1)[0]
            gain = gain_to_rms(voice, self.reference_rms)
            self._gains[track] = gain if gain > 0 else 1.0
        return self._gains[track]

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        item = self.inner[index]
        gain = self.track_gain(index % len(self.inner.tracks))
        if self.jitter > 0:
            rng = sample_rng(self.seed + 7919, self.epoch, index)
            gain *= float(10.0 ** (rng.uniform(-self.jitter, self.jitter) / 20.0))
        g = np.float32(gain)
        return {"vocals": item["vocals"][0, : self.samples] * g,
                "target": item[self.source][0, : self.samples] * g}


class _Fixed(Dataset):
    """The first ``count`` items of epoch 0 (deterministic validation)."""

    def __init__(self, inner: PairedExcerpts, count: int) -> None:
        self.inner, self.count = inner, min(count, len(inner))

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        return self.inner[index]


def chroma_cosine(pred_mag: Tensor, true_mag: Tensor, chroma_fb: Tensor,
                  active_db: float = -40.0) -> Tensor:
    """Mean frame-wise cosine between the chroma of two magnitude spectrograms ``(batch,
    bins, frames)``, over frames where ``true_mag`` is within ``active_db`` of its loudest."""
    pc = torch.einsum("cf,bft->bct", chroma_fb, pred_mag.pow(2))
    tc = torch.einsum("cf,bft->bct", chroma_fb, true_mag.pow(2))
    cos = (pc * tc).sum(1) / (pc.norm(dim=1) * tc.norm(dim=1)).clamp_min(1e-12)
    energy = true_mag.pow(2).sum(1)
    active = energy > energy.amax(dim=-1, keepdim=True) * 10 ** (active_db / 10)
    return (cos * active).sum() / active.sum().clamp_min(1)


def _pix2pix_init(net: nn.Module) -> None:
    """pix2pix's N(0, 0.02) initialisation of ``net``'s convolutions and batch norms."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


# ----------------------------------------------------------------------------- task


class AccompanyTask(TrainTask):
    """pix2pix vocals-to-song as a :class:`~sonomorph.train.TrainTask`."""

    def __init__(self, config: AccompanyTrainConfig) -> None:
        super().__init__(config)
        self.config: AccompanyTrainConfig = config
        self._train: PairedExcerpts | None = None
        self.gan = BCEGANLoss()
        self.l1 = SpectrogramImageL1Loss(config.phase_weight)

    def _dataset(self, split: str, seed: int, jitter: float, count: int | None) -> PairedExcerpts:
        c = self.config
        return PairedExcerpts(c.data, split, c.target, c.tile_frames, c.hop, c.sample_rate,
                              reference_rms=c.reference_rms, seed=seed, gain_jitter_db=jitter,
                              count=count)

    def train_dataset(self) -> Dataset:
        if self._train is None:
            c = self.config
            self._train = self._dataset("train", c.seed, c.gain_jitter_db,
                                        c.samples_per_epoch or None)
        return self._train

    def val_dataset(self) -> Dataset | None:
        c = self.config
        return _Fixed(self._dataset("valid", c.seed + 1_000_003, 0.0, max(c.val_items, 1)),
                      c.val_items)

    def build_models(self) -> dict[str, nn.Module]:
        c, a = self.config, self.config.model

        def new_generator() -> nn.Module:
            return UNetGenerator(in_channels=3, out_channels=3, ngf=a.ngf, depth=a.depth,
                                 max_channels=a.max_channels, dropout=a.dropout,
                                 sample_rate=c.sample_rate, n_fft=c.n_fft, hop=c.hop,
                                 target=c.target, condition=a.condition,
                                 chroma_context=a.chroma_context)

        # init_from: an accompany file holds the generator only; the discriminator starts
        # afresh. The file's spectrogram settings must be the data's (tiles, exports).
        generator = self.initial_model("accompany", new_generator,
                                       must_match=("sample_rate", "n_fft", "hop", "target"))
        if self.init_meta is not None and (c.tile_frames % generator.multiple
                                           or c.inference_tile_frames % generator.multiple):
            raise ConfigError("init_from: 'tile_frames' and 'inference_tile_frames' must be "
                              f"multiples of {generator.multiple} (2**depth of that file's "
                              "generator)")
        discriminator = PatchDiscriminator(in_channels=6, ndf=a.ndf, n_layers=a.n_layers)
        for net in (generator, discriminator):  # pix2pix's N(0, 0.02), for new weights only
            if net is discriminator or self.init_meta is None:
                _pix2pix_init(net)
        self.chroma_fb = self._chroma_filterbank(c.sample_rate, c.n_fft)
        return {"generator": generator, "discriminator": discriminator}

    @staticmethod
    def _chroma_filterbank(sample_rate: int, n_fft: int) -> Tensor:
        import librosa

        fb = librosa.filters.chroma(sr=sample_rate, n_fft=n_fft)
        return torch.from_numpy(np.ascontiguousarray(fb, dtype=np.float32))

    def build_optimizers(self, models) -> dict[str, torch.optim.Optimizer]:
        c = self.config
        return {"g": torch.optim.Adam(models["generator"].parameters(), lr=c.lr, betas=c.betas),
                "d": torch.optim.Adam(models["discriminator"].parameters(), lr=c.lr,
                                      betas=c.betas)}

    def _images(self, net: UNetGenerator, batch) -> tuple[Tensor, Tensor]:
        with torch.no_grad():
            return net.image(batch["vocals"]), net.image(batch["target"])

    def training_step(self, models, batch, ctx: StepContext) -> dict[str, Tensor]:
        c = self.config
        gen, disc = models["generator"], models["discriminator"]
        voice, target = self._images(ctx.unwrap(gen), batch)
        fake = gen(voice)
        d_loss = self.gan(disc(voice, fake.detach()), disc(voice, target))
        ctx.backward(d_loss, "d")
        ctx.step("d")
        adv = self.gan(disc(voice, fake))
        l1 = self.l1(fake, target)
        g_loss = c.gan_weight * adv + c.l1_weight * l1["loss"]
        ctx.backward(g_loss, "g")
        ctx.step("g")
        return {"d": d_loss.detach(), "g_adv": adv.detach(), "l1_mag": l1["magnitude"].detach(),
                "l1_phase": l1["phase"].detach()}

    def validate(self, models, loader: DataLoader) -> dict[str, float]:
        gen = models["generator"]
        l1s, chromas = [], []
        for batch in loader:
            voice, target = self._images(gen, batch)
            fake = gen(voice)
            l1s.append(float(self.l1(fake, target)["magnitude"]))
            pred_mag, _ = gen.spectrogram(fake)
            true_mag, _ = gen.spectrogram(target)
            chromas.append(float(chroma_cosine(pred_mag, true_mag, self.chroma_fb)))
        if not l1s:
            return {}
        return {"val_l1": float(np.mean(l1s)), "val_chroma": float(np.mean(chromas))}

    def log_samples(self, models, logger, step: int) -> None:
        val = self.val_dataset()
        if val is None or len(val) == 0:
            return
        item = val[0]
        gen = models["generator"]
        voice = gen.image(item["vocals"][None])
        logger.image("generated", ((gen(voice)[0, 0].flip(0) + 1) / 2).numpy(), step)

    def export(self, models) -> tuple[nn.Module, dict[str, Any]]:
        c = self.config
        return models["generator"], {
            "sample_rate": c.sample_rate, "target": c.target, "tile_frames": c.inference_tile_frames,
            "reference_rms": c.reference_rms,
            "features": {"n_fft": c.n_fft, "hop": c.hop, "window": "hann", "channels": 1,
                         "image": ["log magnitude", "cos phase", "sin phase"]}}
