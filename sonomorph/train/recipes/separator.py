"""Training recipe for the vocal separator: the convolutional
:class:`sonomorph.models.unet_separator.UNetSeparator` (the default, ``model.arch = "unet"``)
or the frame-wise :class:`sonomorph.models.separator.MaskSeparator` (``model.arch = "mask"``).

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
magnitudes of both stems, L1 between the masked complex spectrogram and the true complex
spectrogram (phase-aware: where the mixture's phase is wrong for a source, the best real
mask is smaller, as in the phase-sensitive approximation), plus L1 between the waveforms.
Validation every ``validate_every`` steps computes BSSEval v4 SDR (museval) on
``val_tracks`` excerpts of ``val_seconds``; ``best.safetensors`` is the model with the best
median vocals SDR. With ``ema_decay`` (default 0.999) validation and the exported files
use an exponential moving average of the weights.

Learning rate: a linear warm-up over ``warmup_steps``, then constant, then a linear decay
to ``lr_final`` over the last ``decay_steps`` (0: no decay). The rate at a step depends only
on that step and these three numbers, so a run can be extended (``--steps`` raised on
resume) or continued from its weights in a new folder (``--init-from``, which carries the
steps behind those weights into the exported file's ``total_steps``) without a jump.

Augmentation on every batch (:func:`sonomorph.data.stem_augment.augment_batch`), the same for both stems of an
example so that the mixture stays their sum: varispeed of each stem on its own (pitch and
tempo together, a ratio in ``speed_range``), a peak limiter on the mixture for
``limiter_probability`` of the examples (loud masters), a random level over 30 dB and, for
half the examples, a random band limit between 5 and 20 kHz, so that the mask does not
depend on how loud a song is or on whether it went through a lossy codec. Remixing across
songs (each stem from another track, random gains and channel swaps) comes from the
datasets.

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

from sonomorph.data.stem_augment import augment_batch, coloured_noise
from sonomorph.errors import ConfigError
from sonomorph.models.separator import MaskSeparator, SpectralMaskSeparator
from sonomorph.models.unet_separator import UNetSeparator
from sonomorph.train.config import TrainConfig
from sonomorph.train.losses import ThresholdedSDRLoss
from sonomorph.train.trainer import StepContext, TrainTask

log = logging.getLogger(__name__)

__all__ = ["SeparatorModelArgs", "SeparatorTrainConfig", "SeparatorTask", "MaskedSeparationLoss",
           "data_layout", "lr_factor"]


@dataclass
class SeparatorModelArgs:
    """The architecture: ``arch = "mask"`` is the frame-wise :class:`MaskSeparator`
    (``hidden``, ``layers``, ``kernel``, ``core``); ``arch = "unet"`` is the convolutional
    :class:`~sonomorph.models.unet_separator.UNetSeparator` (``base``, ``depth``,
    ``unet_bins``). ``n_fft`` and ``hop`` serve both."""

    arch: str = "unet"
    n_fft: int = 4096
    hop: int = 1024
    hidden: int = 192
    layers: int = 8
    kernel: int = 3
    core: str = "tcn"
    base: int = 8
    depth: int = 6
    unet_bins: int = 1024


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
    lr_final: float = 5e-5  #: the rate at the end of the final linear decay
    warmup_steps: int = 200  #: linear warm-up from 0 to lr
    decay_steps: int = 0  #: final linear decay to lr_final over the last N steps (0: none)
    ema_decay: float = 0.999
    ema_warmup: bool = True
    complex_weight: float = 1.0  #: weight of the complex-spectrogram (phase-aware) L1 term
    speed_range: tuple[float, float] = (0.9, 1.1)  #: varispeed ratio range per stem
    speed_probability: float = 0.5  #: share of stems that get varispeed
    limiter_probability: float = 0.3  #: share of examples pushed into a peak limiter
    limiter_drive_db: tuple[float, float] = (0.0, 12.0)  #: gain into the limiter
    #: share of examples with one stem silenced (half: music alone, half: voice alone), so
    #: that instrumental music gives silent vocals and a lone voice a silent karaoke
    solo_probability: float = 0.1
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
    #: weight of the thresholded-SDR term (dB, per example and stem; 0: off). Unlike the L1
    #: terms it gives quiet and loud examples the same say, as the evaluation's SDR does
    sdr_weight: float = 0.0
    level_db: tuple[float, float] = (-30.0, 0.0)  #: random gain of each whole example (dB)
    lowpass_probability: float = 0.5  #: share of examples band-limited like a lossy file
    lowpass_hz: tuple[float, float] = (5000.0, 20000.0)  #: range of those band limits
    #: start from the weights of a separator file ("default": the shipped one) instead of
    #: random ones (fine-tuning; the model arguments come from that file; see
    #: :mod:`sonomorph.train.init_from`)
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
        if not 0.5 <= self.speed_range[0] <= 1.0 <= self.speed_range[1] <= 2.0:
            raise ConfigError("'speed_range' must be (low, high) with 0.5 <= low <= 1 <= high <= 2")
        for key in ("speed_probability", "limiter_probability", "solo_probability"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise ConfigError(f"'{key}' must be in [0, 1]")
        if self.sdr_weight < 0:
            raise ConfigError("'sdr_weight' must not be negative")
        if self.warmup_steps < 0 or self.decay_steps < 0:
            raise ConfigError("'warmup_steps' and 'decay_steps' must not be negative")
        if self.level_db[0] > self.level_db[1] or self.lowpass_hz[0] > self.lowpass_hz[1]:
            raise ConfigError("'level_db' and 'lowpass_hz' must be (low, high) ranges")
        if self.model.arch not in ("mask", "unet"):
            raise ConfigError(f"'model.arch' must be mask or unet, got {self.model.arch!r}")
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
    """Magnitude L1 + ``complex_weight`` x complex L1 + ``wave_weight`` x waveform L1
    (+ ``sdr_weight`` x the mean thresholded SDR loss of the two stems, when set), summed
    over both stems (vocals = mask x mixture, accompaniment = (1 - mask) x mixture).

    - magnitude: ``|m|X| - |S||``, the classic mask-inference loss (phase-blind);
    - complex: ``|m X - S|``, the distance between complex spectrograms; with a real mask
      its optimum is the phase-sensitive mask ``Re(S / X)``, which shrinks bins where the
      mixture's phase is far from the source's (phase-aware at no extra transform);
    - waveform: L1 after the inverse STFT (overlap-add consistency);
    - SDR: :class:`~sonomorph.models.losses.ThresholdedSDRLoss` on each stem's waveform, in
      dB, so a quiet example weighs as much as a loud one (the L1 terms scale with level).

    Inputs: the mixture's complex STFT ``(B, C, F, T)``, the vocal mask, the true stems'
    complex STFTs, and the estimated and true waveforms ``(B, 2, C, N)``. Spectral terms
    are divided by ``sqrt(sum(window^2))`` so every term is in waveform units. Separation
    specific (it needs the mask), hence here and not in :mod:`sonomorph.train.losses`.
    """

    def __init__(self, window: Tensor, wave_weight: float = 1.0,
                 complex_weight: float = 1.0, sdr_weight: float = 0.0) -> None:
        super().__init__()
        self.scale = float(window.pow(2).sum().sqrt())
        self.wave_weight = float(wave_weight)
        self.complex_weight = float(complex_weight)
        self.sdr_weight = float(sdr_weight)
        self.sdr = ThresholdedSDRLoss()

    def forward(self, mix_spec: Tensor, mask: Tensor, vocals_spec: Tensor, acc_spec: Tensor,
                estimate: Tensor, target: Tensor) -> dict[str, Tensor]:
        x = mix_spec / self.scale
        v, a = vocals_spec / self.scale, acc_spec / self.scale
        mag = x.abs()
        spec_loss = (nn.functional.l1_loss(mask * mag, v.abs())
                     + nn.functional.l1_loss((1.0 - mask) * mag, a.abs()))
        terms = {"spec_l1": spec_loss}
        total = spec_loss
        if self.complex_weight:
            complex_loss = ((mask * x - v).abs().mean() + ((1.0 - mask) * x - a).abs().mean())
            terms["complex_l1"] = complex_loss
            total = total + self.complex_weight * complex_loss
        wave_loss = nn.functional.l1_loss(estimate, target)
        terms["wave_l1"] = wave_loss
        total = total + self.wave_weight * wave_loss
        if self.sdr_weight:
            mixture = target.sum(dim=1)
            sdr_loss = 0.5 * (self.sdr(estimate[:, 0], target[:, 0], mixture)
                              + self.sdr(estimate[:, 1], target[:, 1], mixture))
            terms["sdr_db"] = sdr_loss
            total = total + self.sdr_weight * sdr_loss
        return {"loss": total, **terms}


def lr_factor(step: int, cfg: SeparatorTrainConfig) -> float:
    """The learning rate at ``step`` as a fraction of ``cfg.lr``: warm-up, constant, final
    linear decay (see the module docstring). Reads ``cfg`` at every call, so raising
    ``steps`` on resume moves only the decay."""
    if cfg.warmup_steps and step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    floor = cfg.lr_final / cfg.lr
    if cfg.decay_steps:
        start = cfg.steps - cfg.decay_steps
        if step >= start:
            t = min((step - start) / cfg.decay_steps, 1.0)
            return 1.0 + (floor - 1.0) * t
    return 1.0


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

    @property
    def read_seconds(self) -> float:
        """Length of the excerpts read for training: the segment plus what the fastest
        varispeed ratio consumes."""
        cfg = self.config
        extra = cfg.speed_range[1] if cfg.speed_probability > 0 else 1.0
        return cfg.segment_s * extra + 0.01

    def train_dataset(self) -> Dataset:
        if self._train is not None:
            return self._train
        cfg = self.config
        spe = cfg.samples_per_epoch or None
        seconds = self.read_seconds
        if self.layout == "mixes":
            from sonomorph.data.mixing import OnTheFlyMixes

            root = Path(cfg.data)
            self._train = OnTheFlyMixes(root / "vocals", root / "music", seconds,
                                        self.sample_rate, seed=cfg.seed, samples_per_epoch=spe)
        else:
            from sonomorph.data.datasets import MultitrackSegments, Remix

            self._train = MultitrackSegments(cfg.data, "train", ("vocals", "accompaniment"),
                                             seconds, self.sample_rate, 2, seed=cfg.seed,
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
        model = self.initial_model("separator", self._new_model,
                                   must_match=("sample_rate", "channels"))
        if self.init_meta is None:  # new weights: normalise by the data's statistics
            self._init_input_stats(model)
        self.loss = MaskedSeparationLoss(model.stft.window, self.config.wave_weight,
                                         self.config.complex_weight, self.config.sdr_weight)
        return {"separator": model}

    def _new_model(self) -> SpectralMaskSeparator:
        """The separator ``model`` describes, with new weights."""
        a = self.config.model
        if a.arch == "unet":
            return UNetSeparator(sample_rate=self.sample_rate, channels=2, n_fft=a.n_fft,
                                 hop=a.hop, base=a.base, depth=a.depth, unet_bins=a.unet_bins)
        return MaskSeparator(sample_rate=self.sample_rate, channels=2, n_fft=a.n_fft, hop=a.hop,
                             hidden=a.hidden, layers=a.layers, kernel=a.kernel, core=a.core)

    def _init_input_stats(self, model: SpectralMaskSeparator, items: int = 16) -> None:
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
        return {"separator": torch.optim.lr_scheduler.LambdaLR(
            optimizers["separator"], lambda step: lr_factor(step, cfg))}

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
                                    lowpass_hz=cfg.lowpass_hz, speed_range=cfg.speed_range,
                                    speed_probability=cfg.speed_probability,
                                    length=int(round(cfg.segment_s * self.sample_rate)),
                                    limiter_probability=cfg.limiter_probability,
                                    limiter_drive_db=cfg.limiter_drive_db,
                                    solo_probability=cfg.solo_probability)
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
        from sonomorph.models.metrics import score_track

        model = models["separator"]
        device = next(model.parameters()).device
        key = "SDR" if self.config.val_bsseval else "SI-SDR"
        rows = []
        unscored = 0  # excerpts with a silent source (a pause in a real voice): NaN, counted
        for batch in loader:
            mix = batch["mixture"]
            with torch.no_grad():  # the model may sit on a GPU; the scores are numpy
                stems = model(mix.to(device)).cpu()
            for i in range(mix.shape[0]):
                refs = {"vocals": batch["vocals"][i].numpy(),
                        "accompaniment": batch["accompaniment"][i].numpy()}
                ests = {"vocals": stems[i, 0].numpy(), "accompaniment": stems[i, 1].numpy()}
                scores, _ = score_track(refs, ests, self.sample_rate,
                                        bsseval=self.config.val_bsseval)
                unscored += any(math.isnan(s[key]) for s in scores.values())
                rows.append(scores)
        if unscored:
            log.info("validation: %d of %d excerpts have a silent source, left out of "
                     "the medians", unscored, len(rows))
        if not rows:
            return {}

        def med(source: str, key: str) -> float:
            vals = [r[source][key] for r in rows if math.isfinite(r[source].get(key, math.nan))]
            return statistics.median(vals) if vals else math.nan

        return {"vocals_sdr": med("vocals", key), "accompaniment_sdr": med("accompaniment", key),
                "vocals_si_sdr": med("vocals", "SI-SDR")}

    def log_samples(self, models, logger, step: int) -> None:
        val = self.val_dataset()
        if val is None or len(val) == 0:
            return
        item = val[0]
        model = models["separator"]
        with torch.no_grad():
            stems = model(item["mixture"][None].to(next(model.parameters()).device)).cpu()
        logger.audio("vocals", stems[0, 0].numpy(), step, self.sample_rate)

    def export(self, models) -> tuple[nn.Module, dict[str, Any]]:
        model = models["separator"]
        c = model.config
        return model, {"sample_rate": c.sample_rate, "sources": ["vocals", "accompaniment"],
                       "features": {"n_fft": c.n_fft, "hop": c.hop, "window": "hann",
                                    "channels": c.channels},
                       "data_layout": self.layout}
