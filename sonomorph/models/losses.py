"""Every loss in sonomorph: a documented ``nn.Module`` each, in this file (also importable
from :mod:`sonomorph.train.losses`; here, below the pipelines and the evaluation, because
style transfer and the scream evaluation use losses too).

Rules for adding one:

* a class, not a function, so that its settings (weights, FFT sizes, filterbanks held as
  buffers) are fixed at construction and it moves with ``.to(device)``;
* a docstring saying what it computes, on which shapes (audio ``(batch, channels,
  samples)``), and why it is used (with a reference when it comes from a paper);
* ``forward`` returns a scalar tensor (or a dict of named scalar terms the task logs);
* nothing tied to one model here: a loss is shared by whichever tasks need it, and model
  modules import it from here instead of defining their own copy.

Losses that need float32 maths (STFT magnitudes, logs) should run under the training
step's ``ctx.fp32()`` when bf16/fp16 training is on.
"""

from __future__ import annotations

__all__: list[str] = []


# =============================================================================================
# GAN and content losses (added by the scream engineer: HingeGANLoss, FeatureMatchingLoss,
# MelCorrelationLoss, MultiResolutionSTFTLoss)
# =============================================================================================

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import Tensor, nn  # noqa: E402

__all__ += ["HingeGANLoss", "FeatureMatchingLoss", "MelCorrelationLoss",
            "MultiResolutionSTFTLoss"]


def _logits(outputs: list) -> list[Tensor]:
    """The logit map of each discriminator: the tensor itself, or the last item of a list of
    feature maps (MelGAN-style discriminators return every layer's output)."""
    return [o[-1] if isinstance(o, (list, tuple)) else o for o in outputs]


class HingeGANLoss(nn.Module):
    """Hinge adversarial loss (Lim & Ye 2017; used by MelGAN), averaged over discriminators.

    ``loss(fake)`` is the generator's term ``mean(-D(fake))``;
    ``loss(fake, real)`` the discriminator's ``mean(relu(1 - D(real))) + mean(relu(1 + D(fake)))``.
    Each argument is a list with one entry per discriminator (scale): a logit tensor of any
    shape, or a list of feature maps whose last item is the logit map. Why hinge: bounded
    gradients for confident discriminators, so training is steadier than with the
    cross-entropy loss.
    """

    def forward(self, fake: list, real: list | None = None) -> Tensor:
        fakes = _logits(fake)
        if real is None:
            return torch.stack([(-f).mean() for f in fakes]).mean()
        reals = _logits(real)
        if len(reals) != len(fakes):
            raise ValueError(f"{len(reals)} real outputs for {len(fakes)} fake ones")
        terms = [F.relu(1.0 - r).mean() + F.relu(1.0 + f).mean() for r, f in zip(reals, fakes)]
        return torch.stack(terms).mean()


class FeatureMatchingLoss(nn.Module):
    """L1 distance between discriminator feature maps of generated and real audio (MelGAN,
    Kumar et al. 2019), averaged over every intermediate layer of every discriminator (the
    last item of each list, the logit map, is left out). Real features are detached.

    ``mode="paired"`` compares maps element-wise: the real and generated clips must be the
    same audio (vocoders). ``mode="mean"`` compares each map's mean over batch and time per
    channel (Salimans et al. 2016): the right form for unpaired data such as voice-to-scream,
    where the real clip is not the target of the generated one.
    """

    def __init__(self, mode: str = "paired") -> None:
        super().__init__()
        if mode not in ("paired", "mean"):
            raise ValueError(f"mode must be 'paired' or 'mean', got {mode!r}")
        self.mode = mode

    def forward(self, fake: list[list[Tensor]], real: list[list[Tensor]]) -> Tensor:
        terms = []
        for f_maps, r_maps in zip(fake, real):
            for f, r in zip(f_maps[:-1], r_maps[:-1]):
                r = r.detach()
                if self.mode == "mean":
                    f, r = f.mean(dim=(0, -1)), r.mean(dim=(0, -1))
                terms.append(F.l1_loss(f, r))
        if not terms:
            raise ValueError("no intermediate feature maps to match")
        return torch.stack(terms).mean()


class MelCorrelationLoss(nn.Module):
    """``(1 - cos(a, b)) / 2`` between two log-mel spectrograms ``(batch, n_mels, frames)``
    (or any ``(batch, ...)`` tensors), each first made zero-mean over everything but the
    batch, so the cosine is the Pearson correlation of the two log-mels.

    Why: it ties a generator's output to its input's content (what is said, when, at which
    pitch contour) while leaving level and timbre free, which is what voice-to-scream
    needs; the original used weight 150. Without the mean removal the log floor of silent
    frames (a large constant) would dominate the cosine and make any two clips look alike.
    ``reduction="none"`` returns one value per item (in [0, 1]; 0 = perfectly correlated).
    """

    def __init__(self, reduction: str = "mean", eps: float = 1e-8) -> None:
        super().__init__()
        if reduction not in ("mean", "none"):
            raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
        self.reduction, self.eps = reduction, float(eps)

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        if a.shape != b.shape:
            raise ValueError(f"shapes differ: {tuple(a.shape)} and {tuple(b.shape)}")
        a = a.reshape(a.shape[0], -1).float()
        b = b.reshape(b.shape[0], -1).float()
        a = a - a.mean(dim=1, keepdim=True)
        b = b - b.mean(dim=1, keepdim=True)
        cos = (a * b).sum(dim=1) / (a.norm(dim=1) * b.norm(dim=1)).clamp_min(self.eps)
        loss = (1.0 - cos) / 2.0
        return loss.mean() if self.reduction == "mean" else loss


class MultiResolutionSTFTLoss(nn.Module):
    """Spectral convergence plus mean L1 of log magnitudes, averaged over several STFT
    resolutions (Yamamoto et al. 2020, Parallel WaveGAN), between a prediction and a target
    waveform ``(batch, channels, samples)``.

    Why several resolutions: one FFT size trades time for frequency detail; matching three
    keeps the generator from hiding artefacts in the blind spot of any one. It is a paired
    loss: in voice-to-scream it pulls the output toward the input voice, so it is used there
    only with a small weight, as a content prior. ``resolutions`` are ``(n_fft, hop, win)``.
    """

    def __init__(self, resolutions: tuple = ((512, 128, 512), (1024, 256, 1024),
                                             (2048, 512, 2048)), eps: float = 1e-7) -> None:
        super().__init__()
        from sonomorph.audio.spectral import Spectrogram

        self.eps = float(eps)
        self.specs = nn.ModuleList([Spectrogram(n, hop, win, power=1.0)
                                    for n, hop, win in resolutions])

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        if pred.shape != target.shape:
            raise ValueError(f"shapes differ: {tuple(pred.shape)} and {tuple(target.shape)}")
        total = pred.new_zeros(())
        for spec in self.specs:
            p = spec(pred.float()).clamp_min(self.eps)
            t = spec(target.float()).clamp_min(self.eps)
            sc = torch.linalg.vector_norm(t - p) / torch.linalg.vector_norm(t).clamp_min(self.eps)
            total = total + sc + F.l1_loss(torch.log(p), torch.log(t))
        return total / len(self.specs)


class EnvelopeCorrelationLoss(nn.Module):
    """:class:`MelCorrelationLoss` on the spectral *envelopes* of two log-mel spectrograms
    ``(batch, n_mels, frames)``: each frame is cepstrally smoothed (an orthonormal DCT-II
    over the mel bands, only the lowest ``n_coeffs`` quefrencies kept, back to the bands)
    before the Pearson correlation over bands and frames. Returns ``(1 - r) / 2``.

    Why: what is said lives in the envelope (formants, and how they and the loudness move
    over time); the excitation (pitch harmonics, breath or a noisy, rough source, which is
    what a scream changes) is the fine structure across bands, at high quefrency. Plain mel
    correlation ties the output to both, so in voice-to-scream it fights the style; this
    loss leaves the excitation free: two sounds with the same envelope and different pitch
    or a noise source correlate closely, two different envelopes do not. With 80 mel bands
    of 22.05 kHz audio, 20 coefficients keep detail of about 4 bands (formant scale) and
    drop the harmonic ripple of voices above about 100 Hz. ``reduction="none"``: one value
    per item.

    Two further freedoms, both off by default (the loss as first trained):
    ``drop_c0=True`` leaves out quefrency 0, each frame's level (its mean log-mel over the
    bands), so only the *shape* of each frame's envelope is compared and the loudness
    contour is free (a scream's level does not follow the speech's syllables one to one);
    ``time_smoothing=n`` (odd, in frames) averages both envelopes over ``n`` frames
    (edges repeated) before comparing, so that fast envelope wobble (the 20-80 Hz
    amplitude modulation of a rough or growled voice, one to three frames at hop 256)
    is free too, while phonemes (50-200 ms, 4 to 17 frames) still have to line up.
    """

    def __init__(self, n_mels: int = 80, n_coeffs: int = 20, reduction: str = "mean",
                 eps: float = 1e-8, *, drop_c0: bool = False, time_smoothing: int = 1) -> None:
        super().__init__()
        if not 1 <= int(n_coeffs) <= int(n_mels):
            raise ValueError(f"n_coeffs must be between 1 and n_mels ({n_mels}), got {n_coeffs}")
        if drop_c0 and int(n_coeffs) < 2:
            raise ValueError("drop_c0 needs n_coeffs of at least 2 (quefrency 0 is dropped)")
        if int(time_smoothing) < 1 or int(time_smoothing) % 2 == 0:
            raise ValueError(f"time_smoothing must be an odd number of frames, got {time_smoothing}")
        self.n_mels, self.n_coeffs = int(n_mels), int(n_coeffs)
        self.drop_c0, self.time_smoothing = bool(drop_c0), int(time_smoothing)
        k = torch.arange(self.n_mels, dtype=torch.float64)
        dct = torch.cos(torch.pi / self.n_mels * (k[None, :] + 0.5) * k[:, None])  # (q, band)
        dct[0] *= 1.0 / torch.sqrt(torch.tensor(2.0, dtype=torch.float64))
        dct *= torch.sqrt(torch.tensor(2.0 / self.n_mels, dtype=torch.float64))
        low = dct[int(self.drop_c0): self.n_coeffs]
        # projection onto the low quefrencies: bands -> bands
        self.register_buffer("smooth", (low.T @ low).float(), persistent=False)
        self.corr = MelCorrelationLoss(reduction=reduction, eps=eps)

    def envelope(self, logmel: Tensor) -> Tensor:
        """The cepstrally smoothed log-mel ``(batch, n_mels, frames)`` (without each frame's
        mean with ``drop_c0``; averaged over ``time_smoothing`` frames)."""
        if logmel.ndim != 3 or logmel.shape[1] != self.n_mels:
            raise ValueError(f"expected (batch, {self.n_mels}, frames), got {tuple(logmel.shape)}")
        env = torch.einsum("ij,bjt->bit", self.smooth, logmel.float())
        n = self.time_smoothing
        if n > 1:
            env = F.avg_pool1d(F.pad(env, (n // 2, n // 2), mode="replicate"), n, stride=1)
        return env

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        if a.shape != b.shape:
            raise ValueError(f"shapes differ: {tuple(a.shape)} and {tuple(b.shape)}")
        return self.corr(self.envelope(a), self.envelope(b))


__all__ += ["EnvelopeCorrelationLoss"]


# =============================================================================================
# Style-transfer losses (added by the style/analysis engineer: GramLoss, FeatureContentLoss)
# =============================================================================================

__all__ += ["GramLoss", "FeatureContentLoss"]


class GramLoss(nn.Module):
    """Relative squared distance between the time-Gram of feature maps and a target Gram.

    ``forward(features, target)``: ``features`` is ``(batch, channels, freq, frames)`` (the
    output of a CNN layer), ``target`` a Gram ``(bands, channels, channels)`` as returned by
    :meth:`gram` (its first item). Each item's Gram is
    :func:`sonomorph.models.random_cnn.time_gram` (per-band channel Gram normalised by the
    frame count, never a ``T x T`` matrix); the loss is the batch mean of
    ``||G - target||^2 / ||target||^2``. Why relative: the value is 1 for a zero Gram
    and does not depend on the layer's scale, so the style weight means the same for every
    layer and network, and a 90 % drop reads directly. Why a Gram: it keeps the statistics
    of the texture (which filters fire together) and forgets where in time they fire
    (Gatys et al. 2016; Ulyanov & Lebedev 2016 for audio).
    """

    def __init__(self, bands: int = 1, eps: float = 1e-12) -> None:
        super().__init__()
        self.bands, self.eps = int(bands), float(eps)

    def gram(self, features: Tensor) -> Tensor:
        """``(batch, bands, channels, channels)`` Grams of ``features``."""
        from sonomorph.models.random_cnn import time_gram

        return time_gram(features, self.bands)

    def forward(self, features: Tensor, target: Tensor) -> Tensor:
        g = self.gram(features)
        target = target.to(g.dtype)
        if g.shape[1:] != target.shape:
            raise ValueError(f"Gram {tuple(g.shape[1:])} and target {tuple(target.shape)} differ")
        num = (g - target).pow(2).sum(dim=(1, 2, 3))
        return (num / target.pow(2).sum().clamp_min(self.eps)).mean()


class FeatureContentLoss(nn.Module):
    """Relative squared distance ``||a - b||^2 / ||b||^2`` between feature maps of the same
    shape (``b``, the content's features, is detached), averaged over the batch.

    Used as the content term of style transfer: it keeps *what happens when* (the words, the
    notes) in the network's features while the Gram loss changes the texture. Relative for
    the same reason as :class:`GramLoss`: weights then compare across layers and networks.
    """

    def __init__(self, eps: float = 1e-12) -> None:
        super().__init__()
        self.eps = float(eps)

    def forward(self, features: Tensor, target: Tensor) -> Tensor:
        if features.shape != target.shape:
            raise ValueError(f"shapes differ: {tuple(features.shape)} and {tuple(target.shape)}")
        target = target.detach().to(features.dtype)
        dims = tuple(range(1, features.ndim))
        num = (features - target).pow(2).sum(dim=dims)
        return (num / target.pow(2).sum(dim=dims).clamp_min(self.eps)).mean()


# =============================================================================================
# pix2pix losses (added by the vocals-to-song engineer: BCEGANLoss, SpectrogramImageL1Loss)
# =============================================================================================

__all__ += ["BCEGANLoss", "SpectrogramImageL1Loss"]


class BCEGANLoss(nn.Module):
    """The original GAN loss on logits, as pix2pix uses it (Isola et al. 2017).

    ``loss(fake)`` is the generator's non-saturating term ``BCE(D(fake), 1)``;
    ``loss(fake, real)`` the discriminator's ``(BCE(D(real), 1) + BCE(D(fake), 0)) / 2``
    (pix2pix halves it so that D learns more slowly than G). Arguments are logit tensors
    of any shape (a PatchGAN's map: every patch is one real/fake decision).
    """

    def forward(self, fake: Tensor, real: Tensor | None = None) -> Tensor:
        bce = F.binary_cross_entropy_with_logits
        if real is None:
            return bce(fake, torch.ones_like(fake))
        return 0.5 * (bce(real, torch.ones_like(real)) + bce(fake, torch.zeros_like(fake)))


class SpectrogramImageL1Loss(nn.Module):
    """pix2pix's L1 term for spectrogram images ``(batch, 1 + 2k, bins, frames)`` whose
    channel 0 is a log magnitude in [-1, 1] and the others cos/sin phase planes.

    L1 on the log magnitude, plus ``phase_weight`` x L1 on the phase planes weighted by the
    target's magnitude ((log magnitude + 1) / 2, in [0, 1]). Why weighted: the phase of a
    bin at the noise floor is arbitrary and cannot be predicted; an unweighted L1 there
    would pull every phase estimate toward zero. Returns ``{"loss", "magnitude", "phase"}``.
    """

    def __init__(self, phase_weight: float = 1.0) -> None:
        super().__init__()
        self.phase_weight = float(phase_weight)

    def forward(self, pred: Tensor, target: Tensor) -> dict[str, Tensor]:
        if pred.shape != target.shape:
            raise ValueError(f"shapes differ: {tuple(pred.shape)} and {tuple(target.shape)}")
        magnitude = F.l1_loss(pred[:, :1], target[:, :1])
        if pred.shape[1] == 1 or self.phase_weight == 0:
            return {"loss": magnitude, "magnitude": magnitude, "phase": magnitude.new_zeros(())}
        weight = ((target[:, :1] + 1.0) * 0.5).clamp(0.0, 1.0)
        phase = (weight * (pred[:, 1:] - target[:, 1:]).abs()).mean()
        return {"loss": magnitude + self.phase_weight * phase, "magnitude": magnitude,
                "phase": phase}


# =============================================================================================
# Speaker-embedding losses (added by the speaker-encoder engineer: AngularPrototypicalLoss)
# =============================================================================================

__all__ += ["AngularPrototypicalLoss"]


class AngularPrototypicalLoss(nn.Module):
    """Angular prototypical loss for speaker embeddings (Chung et al. 2020, "In defence of
    metric learning for speaker recognition").

    ``forward(embeddings, labels=None)``: ``embeddings`` ``(N, M, D)`` are M >= 2
    utterances of each of N speakers. Each speaker's last utterance is its query and the
    mean of the other M - 1 is its prototype; the logits are ``w * cos(query_i,
    prototype_j) + b`` with a learnt scale ``w`` (kept at least 1e-3, starting at
    ``init_scale``) and bias ``b``, and the loss is the cross-entropy of each query
    against all N prototypes, its own being the target. ``labels`` ``(N,)`` (optional)
    are speaker ids: when one speaker fills two rows of a batch, its other row is left
    out of the candidates instead of counting as another speaker. Returns ``{"loss",
    "accuracy"}`` (the share of queries whose nearest prototype is their own).

    Why this loss: it trains the embedding with the very comparison identification makes
    (cosine to a few enrolled utterances), needs no classifier layer over the training
    speakers (so it scales to any number of them and nothing is thrown away), and its only
    settings, scale and bias, are learnt. ``w`` and ``b`` are parameters: give the loss's
    parameters to the optimiser with the encoder's.
    """

    def __init__(self, init_scale: float = 10.0, init_bias: float = -5.0) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(float(init_scale)))
        self.bias = nn.Parameter(torch.tensor(float(init_bias)))

    def forward(self, embeddings: Tensor, labels: Tensor | None = None) -> dict[str, Tensor]:
        if embeddings.ndim != 3 or embeddings.shape[1] < 2 or embeddings.shape[0] < 2:
            raise ValueError("expected embeddings (speakers >= 2, utterances >= 2, dim), got "
                             f"{tuple(embeddings.shape)}")
        e = embeddings.float()
        query = F.normalize(e[:, -1], dim=-1)
        proto = F.normalize(e[:, :-1].mean(dim=1), dim=-1)
        cos = query @ proto.T  # (N, N)
        logits = self.scale.clamp_min(1e-3) * cos + self.bias
        n = e.shape[0]
        target = torch.arange(n, device=e.device)
        if labels is not None:
            labels = labels.reshape(-1).to(e.device)
            same = (labels[:, None] == labels[None, :]) & ~torch.eye(n, dtype=torch.bool,
                                                                      device=e.device)
            logits = logits.masked_fill(same, float("-inf"))
        loss = F.cross_entropy(logits, target)
        accuracy = (logits.detach().argmax(dim=1) == target).float().mean()
        return {"loss": loss, "accuracy": accuracy}


# =============================================================================================
# Source-separation loss (added for the separator's SDR-weighted fine-tuning)
# =============================================================================================

__all__ += ["ThresholdedSDRLoss"]


class ThresholdedSDRLoss(nn.Module):
    """Negative signal-to-distortion ratio with a soft ceiling, in dB, per example.

    ``forward(estimate, target, mixture)`` takes audio shaped ``(batch, ..., samples)``
    (any number of middle axes: stems, channels) and returns the mean over the batch of::

        10 log10(|s - s_hat|^2 + tau |s|^2 + eps |x|^2) - 10 log10(|s|^2 + eps |x|^2)

    where ``s`` is the target, ``s_hat`` the estimate, ``x`` the mixture, energies are summed
    over every axis but the batch's, ``tau = 10^(-max_sdr_db / 10)`` and
    ``eps = 10^(-silence_db / 10)``.

    - **Scale-invariant across examples:** an L1 loss on waveforms weighs a loud example
      more than a quiet one (a 30-dB level range is a factor of 30), while the evaluation's
      SDR weighs them alike. This loss gives each example the same say.
    - **The ceiling** ``tau`` (the soft threshold of Wisdom et al., "Unsupervised sound
      separation using mixture invariant training", NeurIPS 2020) stops already-good
      examples from dominating the gradient: the loss cannot go below ``-max_sdr_db``.
    - **A silent target** (a karaoke stem under a voice alone) makes a plain SDR undefined.
      Here the reference energy falls back to ``eps`` times the mixture's, so the loss is
      the level of the estimate against ``silence_db`` below the mixture: zero for a silent
      estimate, ``+silence_db`` dB or more for a leak as loud as the mixture.
    """

    def __init__(self, max_sdr_db: float = 30.0, silence_db: float = 30.0) -> None:
        super().__init__()
        if not max_sdr_db > 0 or not silence_db > 0:
            raise ValueError("max_sdr_db and silence_db must be positive")
        self.tau = 10.0 ** (-float(max_sdr_db) / 10.0)
        self.eps = 10.0 ** (-float(silence_db) / 10.0)

    def forward(self, estimate: Tensor, target: Tensor, mixture: Tensor) -> Tensor:
        if estimate.shape != target.shape or estimate.ndim < 2:
            raise ValueError(f"estimate {tuple(estimate.shape)} and target "
                             f"{tuple(target.shape)} must share a (batch, ..., samples) shape")
        est, ref = estimate.float().flatten(1), target.float().flatten(1)
        mix = mixture.float().reshape(mixture.shape[0], -1)
        ref_e = ref.square().sum(-1)
        floor = self.eps * mix.square().sum(-1) + 1e-10
        err = (ref - est).square().sum(-1)
        loss = 10.0 * (torch.log10(err + self.tau * ref_e + floor) - torch.log10(ref_e + floor))
        return loss.mean()
