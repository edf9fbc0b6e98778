"""Training recipe for voice-to-scream: unpaired voices and screams, a GAN with a content loss.

The generator gets 1-s crops of voices; the multi-scale discriminator sees crops of real
screams against generated ones (both peak-normalised, so it judges timbre, not level); the
mel-correlation loss (weight 150, as in the original) ties each output to its input's
content. Options, each ablated in the model card: feature matching (batch-mean form, since
the data are unpaired), a multi-resolution STFT loss toward the input (a content prior),
weight norm, and the generator architecture (``istft`` fast one or the original ``melgan``).
``content_loss = "envelope"`` ties the output to the input's spectral *envelope* only
(:class:`~sonomorph.models.losses.EnvelopeCorrelationLoss`: cepstrally smoothed log-mels,
``envelope_coeffs`` quefrencies; ``envelope_drop_c0`` also frees each frame's level,
``envelope_smoothing`` averages the envelopes over a few frames), leaving the excitation
(pitch, roughness, noise: the timbre a scream changes) to the adversarial term.
``disc_steps`` gives the discriminator several updates per generator step (each on a new
crop of the batch), so that the adversarial term stays informative. ``teacher`` (a scream
model file, e.g. a MelGAN run's ``last.safetensors``) distils it into the generator: the
frozen teacher converts the same crops and a multi-resolution STFT loss at
``distill_weight`` pulls the generator's output toward the teacher's (the other terms stay as
configured), so a slow generator that learned style quickly can teach a fast one.

    sonomorph train scream --voices corpora/screams/voices --screams corpora/screams/screams

Adam (lr 1e-4, betas 0.5/0.9) for both networks; TensorBoard gets losses, validation mel
correlation (``val/mel_corr``) and envelope correlation (``val/envelope_corr``) with the
input, and audio samples; with ``judge`` (a scream judge file, ``train scream-judge``) also
the judge's mean P(scream) of the held-out voices' outputs (``val/judge_p_scream``), the
style the evaluation reports, and ``val/style_content``: ``min(judge_p_scream / 0.5,
mel_corr / 0.8)``, the share of the nearer-missed of the two targets reached (1: both met),
which ``keep_best = "style_content"`` (with ``keep_best_mode = "max"``) can select on.
With ``val_text`` (a folder of English clips, each with its text beside it as
``<stem>.txt``: the scream corpus's ``test-text/``, which ``eval scream --text`` reads)
validation also runs the generator on up to ``val_text_items`` of those clips (whole, at the
model's rate; spread evenly over the sorted files) and logs pocketsphinx's word error rate
against the known text (:mod:`sonomorph.models.recognizer`) of the outputs (``val/wer``), of
the inputs themselves (``val/wer_input``, recognised once and kept) and their ratio
(``val/wer_ratio``, when the inputs' WER is not 0); ``keep_best = "wer"`` (mode ``min``) can
select on it. It needs pocketsphinx and validation (held-out voices). Training resumes from
``out_dir`` (see :mod:`sonomorph.train`). ``init_from`` (``--init-from``) starts the
generator from a scream file (``"default"``: the shipped ``scream``; ``"scream-real"``), its
architecture winning over ``generator``; the discriminator starts from random weights.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from sonomorph.errors import ConfigError
from sonomorph.models.recognizer import require_pocketsphinx, text_clips
from sonomorph.train.config import TrainConfig
from sonomorph.train.losses import (
    EnvelopeCorrelationLoss,
    FeatureMatchingLoss,
    HingeGANLoss,
    MelCorrelationLoss,
    MultiResolutionSTFTLoss,
)
from sonomorph.train.trainer import StepContext, TrainTask

__all__ = ["GeneratorArgs", "DiscriminatorArgs", "ScreamConfig", "ScreamTask", "VoiceScreamPairs",
           "build_generator"]

SAMPLE_RATE = 22050


@dataclass
class GeneratorArgs:
    """Generator architecture (see :mod:`sonomorph.models.melgan`)."""

    arch: Literal["istft", "melgan"] = "istft"
    dim: int = 128  #: istft: channels of the frame-rate network
    hidden: int = 384  #: istft: MLP width of each block
    n_blocks: int = 6  #: istft: causal ConvNeXt blocks
    kernel_size: int = 7  #: istft: causal conv kernel (frames)
    lookahead: int = 0  #: istft: future mel frames the first conv sees (+11.6 ms each)
    phase: Literal["free", "input"] = "free"  #: istft: predicted outright, or offset from the input's phase
    ngf: int = 32  #: melgan: width (32 = the original 4.3M parameters)
    weight_norm: bool = False


@dataclass
class DiscriminatorArgs:
    """MelGAN multi-scale discriminator. The CPU-friendly default caps channels at 256 (the
    original: 1024, 17M parameters)."""

    n_scales: int = 3
    ndf: int = 16
    n_layers: int = 4
    downsample: int = 4
    max_channels: int = 256
    weight_norm: bool = True


@dataclass
class ScreamConfig(TrainConfig):
    """``sonomorph train scream`` settings (every TrainConfig key, plus these)."""

    out_dir: str = "runs/scream"
    steps: int = 4000  #: 43 min on one thread of the shared 2-core development machine
    batch_size: int = 4
    lr: float = 1e-4
    betas: tuple[float, float] = (0.5, 0.9)
    voices: str = ""  #: folder of clean voices (generator input)
    screams: str = ""  #: folder of screams (discriminator's real data)
    val_voices: str = ""  #: held-out voices for validation ("": hold out speakers, below)
    holdout_speakers: int = 2  #: with no val_voices, voice speakers kept out of training
    val_text: str = ""  #: English clips with <stem>.txt beside them: validation also logs the WER
    val_text_items: int = 8  #: with val_text: clips recognised at each validation
    segment_s: float = 1.0
    disc_crop: int = 8192  #: samples of each segment the discriminator sees (0: all; MelGAN: 8192)
    gain_db: tuple[float, float] = (-6.0, 0.0)  #: random gain of each crop
    correlation_weight: float = 150.0  #: weight of the content loss below
    content_loss: Literal["mel", "envelope"] = "mel"  #: mel correlation, or of envelopes only
    envelope_coeffs: int = 20  #: envelope: quefrencies kept of the generator's mel bands
    envelope_drop_c0: bool = False  #: envelope: leave each frame's level (quefrency 0) free
    envelope_smoothing: int = 1  #: envelope: frames (odd) both envelopes are averaged over
    judge: str = ""  #: a scream judge file: validation also logs its P(scream) of the outputs
    feature_matching_weight: float = 0.0  #: batch-mean feature matching (0: off)
    stft_weight: float = 1.0  #: multi-resolution STFT loss toward the input (0: off)
    adversarial_weight: float = 1.0
    disc_steps: int = 1  #: discriminator updates per generator step (each on a new crop)
    #: a scream model file (or shipped name) distilled into the generator (frozen; "": none)
    teacher: str = ""
    distill_weight: float = 0.0  #: weight of the STFT loss toward the teacher's output
    warmup_steps: int = 0  #: generator trained on the content losses only for this many steps
    checkpoint_every: int = 250
    validate_every: int = 500
    sample_every: int = 500
    log_every: int = 25
    val_batch_size: int = 4
    #: start the generator from the weights of a scream file ("default": the shipped one;
    #: "scream-real" names the other shipped one) instead of random ones; its architecture
    #: comes from that file, and the discriminator, which the file does not hold, starts
    #: from random weights (:mod:`sonomorph.train.init_from`)
    init_from: str = ""
    generator: GeneratorArgs = field(default_factory=GeneratorArgs)
    discriminator: DiscriminatorArgs = field(default_factory=DiscriminatorArgs)

    def validate(self) -> None:
        super().validate()
        for key in ("voices", "screams"):
            folder = getattr(self, key)
            if not folder:
                raise ConfigError(f"'{key}' must name a folder of audio files (--{key} DIR)")
            if not Path(folder).is_dir():
                raise ConfigError(f"'{key}' is not a folder: {folder}")
        if self.val_voices and not Path(self.val_voices).is_dir():
            raise ConfigError(f"'val_voices' is not a folder: {self.val_voices}")
        if self.val_text_items < 1:
            raise ConfigError(f"'val_text_items' must be at least 1, got {self.val_text_items}")
        if self.val_text:
            if not Path(self.val_text).is_dir():
                raise ConfigError(f"'val_text' is not a folder: {self.val_text}")
            if not text_clips(self.val_text):
                raise ConfigError("'val_text' holds no audio clip with its text beside it "
                                  f"(<stem>.txt): {self.val_text}")
            require_pocketsphinx()
        if self.judge and not Path(self.judge).is_file():
            raise ConfigError(f"'judge' is not a file: {self.judge}")
        if self.content_loss not in ("mel", "envelope"):
            raise ConfigError(f"'content_loss' must be 'mel' or 'envelope', got {self.content_loss!r}")
        if self.envelope_coeffs < 1:
            raise ConfigError("'envelope_coeffs' must be at least 1")
        if self.envelope_drop_c0 and self.envelope_coeffs < 2:
            raise ConfigError("'envelope_drop_c0' needs 'envelope_coeffs' of at least 2")
        if self.envelope_smoothing < 1 or self.envelope_smoothing % 2 == 0:
            raise ConfigError("'envelope_smoothing' must be an odd number of frames, got "
                              f"{self.envelope_smoothing}")
        if self.disc_steps < 1:
            raise ConfigError(f"'disc_steps' must be at least 1, got {self.disc_steps}")
        if not 0.1 <= self.segment_s <= 10:
            raise ConfigError(f"'segment_s' must be between 0.1 and 10, got {self.segment_s}")
        if bool(self.teacher) != (self.distill_weight > 0):
            raise ConfigError("'teacher' and a positive 'distill_weight' go together, got "
                              f"teacher={self.teacher!r}, distill_weight={self.distill_weight}")
        if self.teacher:
            from sonomorph.models.checkpoint import PICKLE_SUFFIXES
            from sonomorph.train.init_from import resolve_init_from

            # a missing file fails here, not later; pickles are not read (as for init_from)
            if resolve_init_from(self.teacher, "scream").suffix.lower() in PICKLE_SUFFIXES:
                raise ConfigError("'teacher' needs a .safetensors scream model file written by "
                                  f"sonomorph; pickled files are not read: {self.teacher}")
        for key in ("correlation_weight", "feature_matching_weight", "stft_weight",
                    "adversarial_weight", "warmup_steps", "distill_weight"):
            if getattr(self, key) < 0:
                raise ConfigError(f"'{key}' must not be negative")
        if not all(0 <= b < 1 for b in self.betas):
            raise ConfigError(f"'betas' must be in [0, 1), got {self.betas}")


def build_generator(args: GeneratorArgs) -> nn.Module:
    """The generator an args table describes."""
    from sonomorph.models.melgan import ISTFTGenerator, MelGANGenerator

    if args.arch == "melgan":
        return MelGANGenerator(ngf=args.ngf, weight_norm=args.weight_norm)
    return ISTFTGenerator(dim=args.dim, hidden=args.hidden, n_blocks=args.n_blocks,
                          kernel_size=args.kernel_size, lookahead=args.lookahead,
                          weight_norm=args.weight_norm, phase=args.phase)


def speaker_of(path: Path) -> str:
    """The speaker of a corpus file named ``<speaker>-<NNN>.wav`` (else the whole stem)."""
    return Path(path).stem.split("-")[0]


def split_holdout(files: list[Path], n_speakers: int) -> tuple[list[Path], list[Path]]:
    """(training files, held-out files): the last ``n_speakers`` speakers (sorted by name)
    are held out, unless that would leave no training speaker."""
    speakers = sorted({speaker_of(f) for f in files})
    if n_speakers <= 0 or len(speakers) <= n_speakers:
        return list(files), []
    held = set(speakers[-n_speakers:])
    return ([f for f in files if speaker_of(f) not in held],
            [f for f in files if speaker_of(f) in held])


def _segments(folder: str, files: list[Path] | None, segment_s: float, *,
              gain_db: tuple[float, float], seed: int, count: int | None = None):
    """FolderSegments over ``folder``, restricted to ``files`` when given."""
    from sonomorph.data.datasets import FolderSegments, audio_frames

    if files is None:
        return FolderSegments(folder, segment_s, SAMPLE_RATE, gain_db=gain_db, seed=seed,
                              samples_per_epoch=count)
    ds = FolderSegments(folder, segment_s, SAMPLE_RATE, gain_db=gain_db, seed=seed,
                        samples_per_epoch=1)
    ds.files = list(files)
    if count is None:
        total = sum(audio_frames(f, SAMPLE_RATE) for f in ds.files)
        count = max(len(ds.files), total // max(1, ds.segment))
    ds.samples_per_epoch = int(count)
    return ds


class VoiceScreamPairs(Dataset):
    """Unpaired items ``{"voice", "scream"}``: crop ``index`` of the voices and an
    independent crop of the screams (random 1-s crops of silence-trimmed files with a random
    gain, :class:`~sonomorph.data.datasets.FolderSegments`). ``voice_files`` restricts the
    voices to those files (held-out speakers removed)."""

    def __init__(self, voices: str, screams: str, *, segment_s: float, gain_db: tuple[float, float],
                 seed: int, voice_files: list[Path] | None = None) -> None:
        self.voices = _segments(voices, voice_files, segment_s, gain_db=gain_db, seed=seed)
        self.screams = _segments(screams, None, segment_s, gain_db=gain_db, seed=seed + 7919)

    def __len__(self) -> int:
        return max(len(self.voices), len(self.screams))

    def set_epoch(self, epoch: int) -> None:
        self.voices.set_epoch(epoch)
        self.screams.set_epoch(epoch)

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        return {"voice": self.voices[index % len(self.voices)]["audio"],
                "scream": self.screams[index % len(self.screams)]["audio"]}


class _ValVoices(Dataset):
    """Deterministic crops of held-out voices (no random gain), for validation."""

    def __init__(self, folder: str, segment_s: float, files: list[Path] | None = None,
                 count: int = 32) -> None:
        self.data = _segments(folder, files, segment_s, gain_db=(0.0, 0.0), seed=1, count=count)

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> dict[str, Tensor]:
        return {"voice": self.data[index]["audio"]}


def _peak_normalise(x: Tensor, guard: float = 0.01) -> Tensor:
    return x / x.abs().amax(dim=(1, 2), keepdim=True).clamp_min(guard)


def _crop(x: Tensor, length: int) -> Tensor:
    """A random ``length``-sample window of a batch (the same for every item); all of it
    when ``length`` is 0 or not shorter. Uses the global torch RNG (saved on checkpoints)."""
    if length <= 0 or x.shape[-1] <= length:
        return x
    start = int(torch.randint(0, x.shape[-1] - length + 1, ()).item())
    return x[..., start: start + length]


class ScreamTask(TrainTask):
    """The voice-to-scream GAN (see the module docstring)."""

    def __init__(self, config: ScreamConfig) -> None:
        super().__init__(config)
        self.hinge = HingeGANLoss()
        self.corr: nn.Module = MelCorrelationLoss()  # the content loss (set in build_models)
        self._judge: nn.Module | None = None
        self._teacher: nn.Module | None = None
        self._text: tuple[Any, list[tuple[np.ndarray, str]], float] | None = None
        self.fm = FeatureMatchingLoss(mode="mean")
        self.stft = MultiResolutionSTFTLoss()

    def build_models(self) -> dict[str, nn.Module]:
        from sonomorph.models.melgan import MultiScaleDiscriminator

        d = self.config.discriminator
        # init_from: a scream file holds the generator only; the discriminator starts afresh
        gen = self.initial_model("scream", lambda: build_generator(self.config.generator),
                                 must_match=("sample_rate",))
        if self.config.content_loss == "envelope":
            self.corr = self._envelope(gen.front.mel.n_mels)
        return {"generator": gen,
                "discriminator": MultiScaleDiscriminator(d.n_scales, d.ndf, d.n_layers,
                                                         d.downsample, d.max_channels,
                                                         d.weight_norm)}

    def _envelope(self, n_mels: int, reduction: str = "mean") -> EnvelopeCorrelationLoss:
        cfg = self.config
        return EnvelopeCorrelationLoss(n_mels, cfg.envelope_coeffs, reduction,
                                       drop_c0=cfg.envelope_drop_c0,
                                       time_smoothing=cfg.envelope_smoothing)

    def build_optimizers(self, models):
        cfg = self.config
        betas = tuple(cfg.betas)
        return {"g": torch.optim.Adam(models["generator"].parameters(), cfg.lr, betas=betas),
                "d": torch.optim.Adam(models["discriminator"].parameters(), cfg.lr, betas=betas)}

    def _voice_split(self) -> tuple[list[Path] | None, list[Path]]:
        """(training voice files or None for all, held-out voice files)."""
        from sonomorph.audio.io import find_audio_files

        cfg = self.config
        if cfg.val_voices:
            return None, find_audio_files(cfg.val_voices)
        train, held = split_holdout(find_audio_files(cfg.voices), cfg.holdout_speakers)
        return (train if held else None), held

    def train_dataset(self) -> Dataset:
        cfg = self.config
        return VoiceScreamPairs(cfg.voices, cfg.screams, segment_s=cfg.segment_s,
                                gain_db=tuple(cfg.gain_db), seed=cfg.seed,
                                voice_files=self._voice_split()[0])

    def val_dataset(self) -> Dataset | None:
        cfg = self.config
        held = self._voice_split()[1]
        if not held:
            return None
        return _ValVoices(cfg.val_voices or cfg.voices, cfg.segment_s, files=held)

    def training_step(self, models, batch, ctx: StepContext) -> dict[str, Any]:
        cfg = self.config
        gen, disc = models["generator"], models["discriminator"]
        front = ctx.unwrap(gen).front
        voice, scream = batch["voice"], batch["scream"]
        fake = gen(voice)
        out: dict[str, Any] = {}
        adversarial = ctx.global_step >= cfg.warmup_steps and cfg.adversarial_weight > 0
        real_feats = None
        fake_crop = _crop(fake, cfg.disc_crop)
        if adversarial:
            # the last update's crops (and real features) serve the generator's step below
            for k in range(cfg.disc_steps):
                if k:
                    fake_crop = _crop(fake, cfg.disc_crop)
                real_feats = disc(_peak_normalise(_crop(scream, cfg.disc_crop)))
                fake_feats = disc(_peak_normalise(fake_crop.detach()))
                loss_d = self.hinge(fake_feats, real_feats)
                ctx.backward(loss_d, "d")
                ctx.step("d")
            out["d"] = loss_d
        with ctx.fp32():
            mel_in = front(voice.float() * front.gain(voice.float()))
            mel_out = front.mel(fake.float().squeeze(1))
            loss_corr = self.corr.to(mel_in.device)(mel_in, mel_out)
        loss_g = cfg.correlation_weight * loss_corr
        out["corr"] = loss_corr
        if adversarial:
            fake_feats = disc(_peak_normalise(fake_crop))
            loss_adv = self.hinge(fake_feats)
            loss_g = loss_g + cfg.adversarial_weight * loss_adv
            out["adv"] = loss_adv
            if cfg.feature_matching_weight > 0:
                loss_fm = self.fm(fake_feats, real_feats)
                loss_g = loss_g + cfg.feature_matching_weight * loss_fm
                out["fm"] = loss_fm
        if cfg.teacher:
            with ctx.fp32():
                loss_distill = self.stft(fake.float(), self._teacher_output(voice.float()))
            loss_g = loss_g + cfg.distill_weight * loss_distill
            out["distill"] = loss_distill
        if cfg.stft_weight > 0:
            with ctx.fp32():
                loss_stft = self.stft(_peak_normalise(fake.float()), _peak_normalise(voice.float()))
            loss_g = loss_g + cfg.stft_weight * loss_stft
            out["stft"] = loss_stft
        ctx.backward(loss_g, "g")
        ctx.step("g")
        out["g"] = loss_g
        return out

    def validate(self, models, loader) -> dict[str, float]:
        """Content: the mel and the envelope correlation of each held-out voice's output
        with it; style, with ``judge``: the judge's mean P(scream) of the outputs (each
        output's judged windows averaged, then the outputs; silent ones are skipped) and
        ``style_content`` (see the module docstring); with ``val_text``, the word error
        rates (:meth:`_word_error_rates`)."""
        from sonomorph.models.scream_judge import clip_scores

        gen = models["generator"]
        front = gen.front
        judge = self._load_judge()
        envelope = self._envelope(front.mel.n_mels, "none").to(next(gen.parameters()).device)
        corrs, envs, probs = [], [], []
        for batch in loader:
            voice = batch["voice"]
            fake = gen(voice)
            mel_in = front(voice * front.gain(voice))
            mel_out = front.mel(fake.squeeze(1))
            corrs.append(1.0 - 2.0 * MelCorrelationLoss(reduction="none")(mel_in, mel_out))
            envs.append(1.0 - 2.0 * envelope(mel_in, mel_out))
            if judge is not None:
                for y in fake.detach().float().cpu():
                    p, _ = clip_scores(judge, y[0])
                    if p.numel():
                        probs.append(float(p.mean()))
        out = self._word_error_rates(gen) if self.config.val_text else {}
        if not corrs:
            return out
        out.update(mel_corr=float(torch.cat(corrs).mean()),
                   envelope_corr=float(torch.cat(envs).mean()))
        if probs:
            out["judge_p_scream"] = float(np.mean(probs))
            out["style_content"] = min(out["judge_p_scream"] / 0.5, out["mel_corr"] / 0.8)
        return out

    def _word_error_rates(self, gen: nn.Module) -> dict[str, float]:
        """``wer``: the mean word error rate of the generator's outputs of the ``val_text``
        clips against their known text; ``wer_input``: the same of the clips themselves
        (recognised once, with the clips loaded and the recogniser built, then kept);
        ``wer_ratio``: the first over the second (when that is not 0)."""
        from sonomorph.audio.io import load
        from sonomorph.data.splits import spread
        from sonomorph.models.recognizer import Recognizer, clip_text, word_error_rate

        cfg = self.config
        if self._text is None:
            recognizer = Recognizer()
            clips = [(load(p, sr=SAMPLE_RATE, channels=1)[0][0], clip_text(p))
                     for p in spread(text_clips(cfg.val_text), cfg.val_text_items)]
            wer_input = float(np.mean([word_error_rate(text, recognizer(x, SAMPLE_RATE))
                                       for x, text in clips]))
            self._text = (recognizer, clips, wer_input)
        recognizer, clips, wer_input = self._text
        device = next(gen.parameters()).device
        wers = []
        for x, text in clips:
            y = gen(torch.from_numpy(np.ascontiguousarray(x, np.float32)).to(device)[None, None])
            wers.append(word_error_rate(text, recognizer(y[0, 0].detach().float().cpu().numpy(),
                                                         SAMPLE_RATE)))
        out = {"wer": float(np.mean(wers)), "wer_input": wer_input}
        if wer_input > 0:
            out["wer_ratio"] = out["wer"] / wer_input
        return out

    def _teacher_output(self, voice: Tensor) -> Tensor:
        """The ``teacher`` file's output for ``voice`` (no gradient); the teacher is loaded
        once (:func:`~sonomorph.train.init_from.resolve_init_from` names), frozen, in eval
        mode, onto the device of the first batch it sees (training keeps to one device)."""
        if self._teacher is None:
            from sonomorph.models.checkpoint import load_model
            from sonomorph.train.init_from import resolve_init_from

            teacher, _ = load_model(resolve_init_from(self.config.teacher, "scream"),
                                    expect="scream")
            if int(teacher.sample_rate) != SAMPLE_RATE:
                raise ConfigError(f"the teacher {self.config.teacher} makes "
                                  f"{teacher.sample_rate} Hz audio; this recipe {SAMPLE_RATE} Hz")
            self._teacher = teacher.float().eval().requires_grad_(False).to(voice.device)
        with torch.no_grad():
            return self._teacher(voice)

    def _load_judge(self) -> nn.Module | None:
        """The ``judge`` file's scream judge on the CPU (loaded once), or None."""
        if not self.config.judge:
            return None
        if self._judge is None:
            from sonomorph.models.checkpoint import load_model

            judge, _ = load_model(self.config.judge, expect="scream-judge")
            if int(judge.sample_rate) != SAMPLE_RATE:
                raise ConfigError(f"the judge {self.config.judge} takes {judge.sample_rate} Hz "
                                  f"audio; the scream model makes {SAMPLE_RATE} Hz")
            self._judge = judge.eval()
        return self._judge

    def log_samples(self, models, logger, step: int) -> None:
        from sonomorph.audio.io import find_audio_files, load

        held = self._voice_split()[1] or find_audio_files(self.config.voices)
        gen = models["generator"]
        device = next(gen.parameters()).device
        for i, path in enumerate(held[:: max(1, len(held) // 3)][:3]):
            wav, _ = load(path, sr=SAMPLE_RATE, channels=1, duration=4.0)
            x = torch.from_numpy(wav).to(device)[None]
            y = gen(x)[0]
            y = y / y.abs().max().clamp_min(1e-3) * 0.9
            logger.audio(f"samples/{i}_scream", y, step, SAMPLE_RATE)
            logger.spectrogram(f"spectrograms/{i}_scream", y, step)
            if step <= self.config.sample_every:
                logger.audio(f"samples/{i}_voice", np.asarray(wav), step, SAMPLE_RATE)

    def export(self, models) -> tuple[nn.Module, dict[str, Any]]:
        from sonomorph.models.melgan import fold_weight_norm

        gen = fold_weight_norm(copy.deepcopy(models["generator"]).cpu())
        past, future = gen.receptive_field()
        return gen, {"sample_rate": SAMPLE_RATE,
                     "features": {"n_fft": gen.n_fft, "hop_length": gen.hop_length,
                                  "n_mels": gen.front.mel.n_mels, "log": "log10, floor 1e-5"},
                     "receptive_field": {"past": past, "future": future}}
