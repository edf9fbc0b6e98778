"""Training recipe for the vocal separator (:class:`sonomorph.models.separator.MaskSeparator`).

Data (``data`` in the config, ``--data`` on the command line), detected from the folder:

- a MUSDB18-HQ layout (real MUSDB18-HQ or the synthetic corpus of
  ``sonomorph corpus multitrack``): random 4-s segments of the ``train`` split, remixed
  (random gains, channel swaps, sources from different songs); validation on the
  ``valid`` split (MUSDB's official 14 tracks, or a stable tenth of a synthetic corpus);
- a CCMixter layout (``<track>/{mix,source-01,source-02}.wav``): the same, with validation
  on the training tracks (CCMixter has no split; a warning says so);
- a folder with ``vocals/`` and ``music/`` sub-folders: on-the-fly mixes
  (:class:`sonomorph.data.mixing.OnTheFlyMixes`) with gain, EQ, reverb and pitch
  augmentation; validation on fixed mixes.

Loss (:class:`MaskedSeparationLoss`): L1 between the masked magnitudes and the true
magnitudes of both stems, plus L1 between the waveforms (the mask sees the consequences
of keeping the mixture's phase). Validation every epoch computes BSSEval v4 SDR
(museval) on ``val_tracks`` excerpts of ``val_seconds``; ``best.safetensors`` is the
model with the best median vocals SDR.

Augmentation on every batch (:func:`augment_batch`): a random level over 30 dB and, for
half the examples, a random band limit between 5 and 20 kHz, so that the mask does not
depend on how loud a song is or on whether it went through a lossy codec.

Pre-training on voice plus noise (the original karaoke CNN's good idea, as an option):
for the first ``pretrain_noise_steps`` steps the accompaniment of every example is
replaced with coloured noise (spectral slope 1/f^a, a in [0, 2], random level), so the
network first learns what a voice is before it learns what music is.
"""

from __future__ import annotations

import logging
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from sonomorph.errors import ConfigError
from sonomorph.models.separator import MaskSeparator
from sonomorph.train.config import TrainConfig
from sonomorph.train.trainer import StepContext, TrainTask

log = logging.getLogger(__name__)

__all__ = ["SeparatorModelArgs", "SeparatorTrainConfig", "SeparatorTask", "MaskedSeparationLoss",
           "augment_batch", "coloured_noise", "data_layout"]


@dataclass
class SeparatorModelArgs:
    """Constructor arguments of :class:`MaskSeparator` (see its docstring)."""

    n_fft: int = 4096
    hop: int = 1024
    hidden: int = 192
    layers: int = 8
    kernel: int = 3
    core: str = "tcn"


@dataclass
class SeparatorTrainConfig(TrainConfig):
    """The separator's training configuration (TOML keys = field names)."""

    out_dir: str = "runs/separator"
    data: str = ""  #: MUSDB18-HQ / CCMixter folder, or a folder with vocals/ and music/
    segment_s: float = 4.0  #: training excerpt length in seconds
    samples_per_epoch: int = 0  #: training examples per epoch (0: the data's duration / segment)
    steps: int = 2000
    batch_size: int = 8
    lr: float = 1e-3
    lr_final: float = 1e-4  #: cosine decay from lr to this at the last step
    grad_clip: float = 5.0
    num_workers: int = 1
    checkpoint_every: int = 200
    log_every: int = 20
    validate_every: int = 0  #: 0: once per epoch (the recipe sets it); otherwise every N steps
    keep_best: str = "vocals_sdr"
    keep_best_mode: Literal["min", "max"] = "max"
    val_tracks: int = 8  #: validation excerpts (0: every validation track)
    val_seconds: float = 15.0  #: length of each validation excerpt
    val_bsseval: bool = True  #: museval SDR in validation (False: SI-SDR only, faster)
    pretrain_noise_steps: int = 0  #: first steps on vocals + coloured noise instead of music
    noise_snr_db: tuple[float, float] = (-6.0, 12.0)  #: vocals-to-noise ratio in pre-training
    wave_weight: float = 1.0  #: weight of the waveform L1 term of the loss
    level_db: tuple[float, float] = (-30.0, 0.0)  #: random gain of each whole example (dB)
    lowpass_probability: float = 0.5  #: share of examples band-limited like a lossy file
    lowpass_hz: tuple[float, float] = (5000.0, 20000.0)  #: range of those band limits
    #: start from the weights of a separator file ("default": the shipped one) instead of
    #: random ones (fine-tuning; the model arguments come from that file)
    init_from: str = ""
    model: SeparatorModelArgs = field(default_factory=SeparatorModelArgs)

    def validate(self) -> None:
        super().validate()
        if not str(self.data).strip():
            raise ConfigError("'data' must name the training data folder (--data DIR)")
        if not self.segment_s > 0 or not self.val_seconds > 0:
            raise ConfigError("'segment_s' and 'val_seconds' must be positive")
        if self.pretrain_noise_steps < 0 or self.samples_per_epoch < 0 or self.val_tracks < 0:
            raise ConfigError("'pretrain_noise_steps', 'samples_per_epoch' and 'val_tracks' "
                              "must not be negative")
        if not 0.0 <= self.lowpass_probability <= 1.0:
            raise ConfigError("'lowpass_probability' must be in [0, 1]")
        if self.level_db[0] > self.level_db[1] or self.lowpass_hz[0] > self.lowpass_hz[1]:
            raise ConfigError("'level_db' and 'lowpass_hz' must be (low, high) ranges")
        if self.model.core not in ("tcn", "lstm"):
            raise ConfigError(f"'model.core' must be tcn or lstm, got {self.model.core!r}")


def data_layout(root: str | Path) -> str:
    """``"mixes"`` (vocals/ + music/ folders), ``"musdb"`` or ``"ccmixter"``."""
    from sonomorph.data.layouts import DatasetError, detect_layout

    root = Path(root)
    if (root / "vocals").is_dir() and (root / "music").is_dir():
        return "mixes"
    layout = detect_layout(root)
    if layout not in ("musdb", "ccmixter"):
        raise DatasetError(f"looks like a {layout} folder; the separator trains on a MUSDB18-HQ "
                           "or CCMixter layout, or a folder with vocals/ and music/ "
                           "sub-folders", root)
    return layout


# ----------------------------------------------------------------------------- loss


class MaskedSeparationLoss(nn.Module):
    """L1 on the magnitudes of both stems plus ``wave_weight`` x L1 on their waveforms.

    Inputs: the mixture's complex STFT ``(B, C, F, T)``, the vocal mask, the true
    stems' STFTs, and the estimated and true waveforms ``(B, 2, C, N)``. Magnitudes are
    divided by ``sqrt(sum(window^2))`` so both terms are in waveform units. Separation
    specific (it needs the mask), hence here and not in :mod:`sonomorph.train.losses`.
    """

    def __init__(self, window: Tensor, wave_weight: float = 1.0) -> None:
        super().__init__()
        self.scale = float(window.pow(2).sum().sqrt())
        self.wave_weight = float(wave_weight)

    def forward(self, mix_spec: Tensor, mask: Tensor, vocals_spec: Tensor, acc_spec: Tensor,
                estimate: Tensor, target: Tensor) -> dict[str, Tensor]:
        mag = mix_spec.abs() / self.scale
        spec_loss = (nn.functional.l1_loss(mask * mag, vocals_spec.abs() / self.scale)
                     + nn.functional.l1_loss((1.0 - mask) * mag, acc_spec.abs() / self.scale))
        wave_loss = nn.functional.l1_loss(estimate, target)
        return {"loss": spec_loss + self.wave_weight * wave_loss, "spec_l1": spec_loss,
                "wave_l1": wave_loss}


def coloured_noise(shape: tuple[int, ...], generator: torch.Generator | None = None) -> Tensor:
    """Unit-RMS noise with a random 1/f^a spectrum (a uniform in [0, 2]: white to brown)
    per example, shaped ``(B, C, N)``; the channels share the colour."""
    b, c, n = shape
    white = torch.randn(shape, generator=generator)
    slope = torch.rand(b, 1, 1, generator=generator) * 2.0
    spec = torch.fft.rfft(white, dim=-1)
    freqs = torch.arange(spec.shape[-1], dtype=torch.float32).clamp_min(1.0)
    spec = spec * freqs.pow(-slope / 2.0)
    noise = torch.fft.irfft(spec, n=n, dim=-1)
    return noise / noise.pow(2).mean(dim=(1, 2), keepdim=True).sqrt().clamp_min(1e-8)


def augment_batch(vocals: Tensor, acc: Tensor, sample_rate: int, *,
                  level_db: tuple[float, float] = (-30.0, 0.0), lowpass_probability: float = 0.5,
                  lowpass_hz: tuple[float, float] = (5000.0, 20000.0),
                  generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Level and bandwidth augmentation of a batch of stems ``(B, C, N)``, the same for both
    stems of an example so that mixture = vocals + accompaniment still holds.

    - *Band limit*: with ``lowpass_probability`` an example loses everything above a random
      frequency in ``lowpass_hz`` (a 500-Hz raised-cosine edge), as an MP3, Ogg or AAC file
      does. Without it a network trained on full-band stems reads an empty top octave as
      "no voice here" and returns near-silent vocals for every lossy file.
    - *Level*: a random gain in ``level_db`` per example, then scaled down if the mixture's
      peak would pass full scale: quiet and loud songs give the same mask.
    """
    b, _, n = vocals.shape
    dev = vocals.device
    if lowpass_probability > 0:
        freqs = torch.fft.rfftfreq(n, 1.0 / sample_rate).to(dev)  # (n//2+1,)
        lo, hi = lowpass_hz
        cut = lo + (hi - lo) * torch.rand(b, 1, 1, generator=generator).to(dev)
        on = (torch.rand(b, 1, 1, generator=generator) < lowpass_probability).to(dev)
        edge = 500.0
        t = ((freqs - cut) / edge).clamp(0.0, 1.0)
        gain = torch.where(on, 0.5 * (1.0 + torch.cos(math.pi * t)), torch.ones_like(t))
        vocals = torch.fft.irfft(torch.fft.rfft(vocals, dim=-1) * gain, n=n, dim=-1)
        acc = torch.fft.irfft(torch.fft.rfft(acc, dim=-1) * gain, n=n, dim=-1)
    lo_db, hi_db = level_db
    db = lo_db + (hi_db - lo_db) * torch.rand(b, 1, 1, generator=generator).to(dev)
    g = torch.pow(10.0, db / 20.0)
    peak = ((vocals + acc) * g).abs().amax(dim=(1, 2), keepdim=True)
    g = g / peak.clamp_min(1.0)
    return vocals * g, acc * g


# ----------------------------------------------------------------------------- datasets


class _FixedExcerpts(Dataset):
    """Validation items: a fixed excerpt of each track (deterministic)."""

    def __init__(self, inner: Dataset, count: int) -> None:
        self.inner, self.count = inner, count

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        return self.inner[index]


class SeparatorTask(TrainTask):
    """The separator's :class:`~sonomorph.train.TrainTask`."""

    def __init__(self, config: SeparatorTrainConfig) -> None:
        super().__init__(config)
        self.config: SeparatorTrainConfig = config
        self.layout = data_layout(config.data)
        self._train: Dataset | None = None
        self.sample_rate = 44100
        if config.validate_every == 0:  # once per epoch
            per_epoch = max(1, len(self.train_dataset()) // max(1, config.batch_size))
            config.validate_every = per_epoch

    # ------------------------------------------------------------------ data

    def train_dataset(self) -> Dataset:
        if self._train is not None:
            return self._train
        cfg = self.config
        spe = cfg.samples_per_epoch or None
        if self.layout == "mixes":
            from sonomorph.data.mixing import OnTheFlyMixes

            root = Path(cfg.data)
            self._train = OnTheFlyMixes(root / "vocals", root / "music", cfg.segment_s,
                                        self.sample_rate, seed=cfg.seed, samples_per_epoch=spe)
        else:
            from sonomorph.data.datasets import MultitrackSegments, Remix

            self._train = MultitrackSegments(cfg.data, "train", ("vocals", "accompaniment"),
                                             cfg.segment_s, self.sample_rate, 2, seed=cfg.seed,
                                             samples_per_epoch=spe, remix=Remix())
        return self._train

    def val_dataset(self) -> Dataset | None:
        cfg = self.config
        if self.layout == "mixes":
            from sonomorph.data.mixing import Augment, OnTheFlyMixes

            root = Path(cfg.data)
            count = cfg.val_tracks or 8
            inner = OnTheFlyMixes(root / "vocals", root / "music", cfg.val_seconds,
                                  self.sample_rate, augment=Augment.none(),
                                  seed=cfg.seed + 1_000_003, samples_per_epoch=count)
            return _FixedExcerpts(inner, min(count, len(inner)))
        from sonomorph.data.datasets import MultitrackSegments

        split = "valid"
        if self.layout == "ccmixter":
            log.warning("%s: CCMixter has no validation split; validating on training tracks",
                        cfg.data)
        inner = MultitrackSegments(cfg.data, split, ("vocals", "accompaniment"), cfg.val_seconds,
                                   self.sample_rate, 2, seed=cfg.seed + 1_000_003, remix=None,
                                   samples_per_epoch=None)
        tracks = len(inner.tracks)
        count = min(cfg.val_tracks or tracks, tracks)
        return _FixedExcerpts(inner, count)

    # ------------------------------------------------------------------ model

    def build_models(self) -> dict[str, nn.Module]:
        if self.config.init_from:
            model = self._initial_model(self.config.init_from)
        else:
            a = self.config.model
            model = MaskSeparator(sample_rate=self.sample_rate, channels=2, n_fft=a.n_fft,
                                  hop=a.hop, hidden=a.hidden, layers=a.layers, kernel=a.kernel,
                                  core=a.core)
            self._init_input_stats(model)
        self.loss = MaskedSeparationLoss(model.stft.window, self.config.wave_weight)
        return {"separator": model}

    def _initial_model(self, source: str) -> MaskSeparator:
        """A trainable copy of the separator in ``source`` (a file, or "default")."""
        from sonomorph import pretrained
        from sonomorph.models.checkpoint import load_model

        path = pretrained.path_for("separator") if source == "default" else Path(source)
        loaded, _ = load_model(path, expect="separator")
        if loaded.sample_rate != self.sample_rate or loaded.channels != 2:
            raise ConfigError(f"{path}: init_from needs a stereo {self.sample_rate} Hz separator")
        loaded = loaded.float().train()
        log.info("starting from the weights of %s", path)
        return loaded

    def _init_input_stats(self, model: MaskSeparator, items: int = 16) -> None:
        """Start the per-bin normalisation at the log-power statistics of a few training
        mixtures (deterministic: items of epoch 0)."""
        data = self.train_dataset()
        n = min(items, len(data))
        with torch.no_grad():
            feats = []
            for i in range(n):
                mix = data[i * max(1, len(data) // n)]["mixture"][None]
                spec = model.spectrogram(mix)
                power = spec.real.square() + spec.imag.square()
                feats.append(torch.log(power.clamp_min(1e-8)).flatten(1, 2)[0])  # (C*F, T)
            x = torch.cat(feats, dim=-1)
            model.set_input_stats(x.mean(-1), x.std(-1))

    def build_optimizers(self, models: dict[str, nn.Module]) -> dict[str, torch.optim.Optimizer]:
        return {"separator": torch.optim.AdamW(models["separator"].parameters(),
                                               lr=self.config.lr, weight_decay=1e-5)}

    def build_schedulers(self, optimizers) -> dict[str, Any]:
        cfg = self.config
        floor = cfg.lr_final / cfg.lr

        def factor(step: int) -> float:
            t = min(step / max(1, cfg.steps), 1.0)
            return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * t))

        return {"separator": torch.optim.lr_scheduler.LambdaLR(optimizers["separator"], factor)}

    # ------------------------------------------------------------------ steps

    def training_step(self, models, batch, ctx: StepContext) -> dict[str, Tensor]:
        cfg = self.config
        mix, vocals, acc = batch["mixture"], batch["vocals"], batch["accompaniment"]
        if ctx.global_step < cfg.pretrain_noise_steps:
            noise = coloured_noise(tuple(acc.shape)).to(acc.device)
            v_rms = vocals.pow(2).mean(dim=(1, 2), keepdim=True).sqrt().clamp_min(1e-4)
            lo, hi = cfg.noise_snr_db
            snr = torch.empty(acc.shape[0], 1, 1, device=acc.device).uniform_(lo, hi)
            acc = noise * v_rms * torch.pow(10.0, -snr / 20.0)
            mix = vocals + acc
            peak = mix.abs().amax(dim=(1, 2), keepdim=True).clamp_min(1.0)
            mix, vocals, acc = mix / peak, vocals / peak, acc / peak
        vocals, acc = augment_batch(vocals, acc, self.sample_rate, level_db=cfg.level_db,
                                    lowpass_probability=cfg.lowpass_probability,
                                    lowpass_hz=cfg.lowpass_hz)
        mix = vocals + acc
        model = models["separator"]
        net = ctx.unwrap(model)
        stems, mask, spec = model(mix, return_mask=True)
        with torch.no_grad():
            v_spec, a_spec = net.spectrogram(vocals), net.spectrogram(acc)
        target = torch.stack([vocals, acc], dim=1)
        terms = self.loss(spec, mask, v_spec, a_spec, stems, target)
        ctx.backward(terms["loss"], "separator")
        ctx.step("separator")
        return {k: v.detach() for k, v in terms.items()}

    def validate(self, models, loader: DataLoader) -> dict[str, float]:
        from sonomorph.eval.metrics import track_scores

        model = models["separator"]
        rows = []
        for batch in loader:
            mix = batch["mixture"]
            with torch.no_grad():
                stems = model(mix)
            for i in range(mix.shape[0]):
                refs = {"vocals": batch["vocals"][i].numpy(),
                        "accompaniment": batch["accompaniment"][i].numpy()}
                ests = {"vocals": stems[i, 0].numpy(), "accompaniment": stems[i, 1].numpy()}
                rows.append(track_scores(refs, ests, self.sample_rate,
                                         bsseval=self.config.val_bsseval))
        if not rows:
            return {}

        def med(source: str, key: str) -> float:
            vals = [r[source][key] for r in rows if math.isfinite(r[source].get(key, math.nan))]
            return statistics.median(vals) if vals else math.nan

        key = "SDR" if self.config.val_bsseval else "SI-SDR"
        return {"vocals_sdr": med("vocals", key), "accompaniment_sdr": med("accompaniment", key),
                "vocals_si_sdr": med("vocals", "SI-SDR")}

    def log_samples(self, models, logger, step: int) -> None:
        val = self.val_dataset()
        if val is None or len(val) == 0:
            return
        item = val[0]
        with torch.no_grad():
            stems = models["separator"](item["mixture"][None])
        logger.audio("vocals", stems[0, 0].numpy(), step, self.sample_rate)

    def export(self, models) -> tuple[nn.Module, dict[str, Any]]:
        model = models["separator"]
        c = model.config
        return model, {"sample_rate": c.sample_rate, "sources": ["vocals", "accompaniment"],
                       "features": {"n_fft": c.n_fft, "hop": c.hop, "window": "hann",
                                    "channels": c.channels},
                       "data_layout": self.layout}
