"""Style transfer: give a content clip the texture of a style clip.

Three methods share one optimiser (:func:`optimise`), and all four one file front end
(:func:`stylise_file`):

``random`` (:class:`RandomStyleTransfer`, no data at all)
    The variable is the content's log1p-magnitude STFT (``n_fft`` 512). A frozen, seeded
    random ``Conv2d`` (3x1 by default, 3x3 as an option) with LeakyReLU maps it to features;
    the loss is ``content_weight`` x the relative feature distance to the content plus
    ``style_weight`` x the relative distance between per-band time-Grams (normalised by the
    frame count, never a ``T x T`` matrix) and the style's. Griffin-Lim with momentum turns
    the result into sound. 16 bands by default (16 bins, about 690 Hz, each): where a
    voice's energy lies, coarsely. With 64 bands (4 bins each) the Gram pins the style's
    harmonic positions, and on the hardest benchmark pair (flite rms to festival kal) a 90 %
    drop cost at least 1.8 times the start content distance whatever the weights.

``classifier`` (:class:`ClassifierStyleTransfer`)
    The same idea through the layers of a trained genre CNN (:mod:`sonomorph.models.classifier`):
    the variable is the *scaled* mel (``scale_mel``, the function used in training), cut into
    overlapping 431-frame windows that share the variable, so neighbouring segments are
    stitched by construction; content and style layers are selectable. The mel is inverted
    by non-negative least squares and Griffin-Lim.

``speaker`` (:class:`sonomorph.pipelines.style_speaker.SpeakerStyleTransfer`)
    Voice conversion's cousin: the content's median f0 moved onto the style speaker's,
    then Gram and embedding losses through our own speaker encoder (see that module).

``knn`` (:class:`sonomorph.pipelines.style_knn.KnnStyleTransfer`, no optimiser, no weights)
    Frame-matching voice conversion after kNN-VC: the pitch matched as ``speaker`` does,
    then each content frame replaced by the mean spectrum of its k phonetically nearest
    style frames (or only given their envelope; see that module).

Why the optimiser cannot diverge (the original climbed to 1e31): the variable is projected
after every step onto a box ``[0, upper]`` (non-negative spectrogram, at most ``e`` times
louder than the loudest input bin), the loss only ever sees the projected variable, the best
iterate is kept, a non-finite loss stops the run and returns the best one, and a plateau
ends it early. Adam (projected) is the default; L-BFGS optimises the square root of the
spectrogram instead, non-negative by construction.

How much style (``style_drop``, 0.93 by default): the run stops as soon as the style
distance has fallen by that fraction of its start, and a plateau before that doubles the
style weight (at most six times) instead of ending the run. Starting from a content-heavy
balance (content weight 3 = style weight 3 for the random method) and raising the style
weight only when progress stalls follows the trade-off curve from the content towards the
style, so the goal is reached with little more content change than it needs; running on
past the goal only trades more content for style nobody asked for. Measured on four voice
pairs (``benchmarks/style.py``): the goal is met with the content distance at 0.5 to 1.7
times its start (0.6 to 1.8 in the written audio re-analysed, where the style drop is 92 to
93 %; 2.1 at most on an independently seeded network), where the earlier fixed balance
(1 : 3, 64 bands, until a plateau) ended at up to 4.3 times.
``style_drop=None`` restores the plain run to a plateau.

The content is initialised from itself plus a little Gaussian noise (``init_noise``, 0.1 in
log1p units by default) or from noise only (``init="noise"``); the result's metrics
(``content_start``/``content_end``, ``style_start``/``style_end``: the relative content and
Gram distances) are measured from that initialisation, so ``content_start`` is the distance
the initial noise makes, and the content ratio depends on ``init_noise``.
"""

from __future__ import annotations

import logging
import math
import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from sonomorph.errors import AudioLoadError, ConfigError, InputTooShortError
from sonomorph.pipelines.style_optim import (
    OPTIMIZERS,
    LossFn,
    _check_drop,
    _drop_reached,
    _initial,
    _style_raiser,
    default_lr,
    optimise,
)
from sonomorph.utils.progress import ProgressCallback

log = logging.getLogger(__name__)

__all__ = ["METHODS", "StyleResult", "RandomStyleTransfer", "ClassifierStyleTransfer",
           "optimise", "check_signal", "stylise_file", "plot_spectrograms"]

METHODS = ("random", "classifier", "speaker", "knn")  # speaker, knn: pipelines.style_<name>
STYLE_DROP = 0.93  # default goal: stop once the style distance has fallen by 93 %
RANDOM_ADAM_LR = 0.02  # Adam moves every bin by about lr a step: small steps spare the content
SILENCE_RMS = 1e-4  # about -80 dBFS: quieter than this over the whole clip is silence


@dataclass
class StyleResult:
    """The output of a transfer: mono ``audio`` ``(1, samples)`` at ``sample_rate``, the
    content, style and result spectrograms in the optimised domain (for plots), the loss
    ``history`` (one dict per step) and summary ``metrics``."""

    audio: np.ndarray
    sample_rate: int
    content: np.ndarray
    style: np.ndarray
    result: np.ndarray
    history: list[dict[str, float]] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)


# ----------------------------------------------------------------------------- checks


def check_signal(wav: np.ndarray, sr: int, min_samples: int, *, role: str,
                 path: str | os.PathLike | None = None) -> None:
    """Refuse a silent clip (RMS below -80 dBFS) or one shorter than ``min_samples`` (the
    method's receptive field) with a one-line error naming ``path`` and its ``role``."""
    n = wav.shape[-1]
    if n < min_samples:
        raise InputTooShortError(
            f"the {role} clip is {n / sr * 1000:.0f} ms long, shorter than the "
            f"{min_samples / sr * 1000:.0f} ms the transfer's receptive field needs", path)
    rms = float(np.sqrt(np.mean(np.square(wav, dtype=np.float64))))
    if not rms > SILENCE_RMS:
        raise AudioLoadError(f"the {role} clip is silent (RMS {20 * math.log10(max(rms, 1e-12)):.0f}"
                             " dBFS); it has no texture to transfer", path)


def _mono(wav: np.ndarray) -> np.ndarray:
    wav = np.asarray(wav, dtype=np.float32)
    if wav.ndim == 1:
        return wav
    return wav.mean(axis=0)


def _prepare(wav: np.ndarray, sr: int, target_sr: int, min_samples: int, role: str,
             path: str | os.PathLike | None) -> np.ndarray:
    """Mono at ``target_sr`` (resampled), checked for silence and length."""
    from sonomorph.audio.io import resample

    x = _mono(wav)
    if int(sr) != int(target_sr):
        x = resample(x, int(sr), int(target_sr))
    check_signal(x, target_sr, min_samples, role=role, path=path)
    return x


def _limit(y: np.ndarray, ceiling: float = 0.99, knee: float = 0.8) -> np.ndarray:
    """Keep ``y`` below ``ceiling`` with a soft limiter: samples above ``knee`` follow a tanh
    curve up to ``ceiling``, the rest are untouched. Why not scale the clip down to its
    peak: the transfer matched the style's *level* too (the Gram includes it), Griffin-Lim's
    new phases raise the crest factor (peaks of 1.2 to 1.4 from inputs peaking at 0.9), and
    scaling by 1/1.24 undid most of the match in the written audio (measured on the
    benchmark's kal16 -> slt pair: a 93 % style drop on the spectrogram, 42 % on the audio
    re-analysed; 93 % with this limiter, which touches only the few loudest samples)."""
    y = np.asarray(y, dtype=np.float32)
    mag = np.abs(y)
    over = mag > knee
    if not over.any():
        return y
    out = y.copy()
    room = ceiling - knee
    out[over] = np.sign(y[over]) * (knee + room * np.tanh((mag[over] - knee) / room))
    return out


def _log_magnitude(spec: torch.nn.Module, wav: np.ndarray, device: torch.device) -> Tensor:
    """``log1p |STFT|`` ``(1, freq, frames)`` of a mono waveform, through ``spec`` (a
    magnitude :class:`~sonomorph.audio.spectral.Spectrogram`), without a graph."""
    with torch.no_grad():
        return torch.log1p(spec(torch.from_numpy(wav).to(device)[None]))


def _run(transfer, x0: Tensor, loss_fn: LossFn, *, upper: float | Tensor, weight: list[float],
         render: Callable[[Tensor], Tensor], progress: ProgressCallback | None = None,
         t0: float | None = None, terms: Sequence[str] = ("content", "style"),
         info: dict[str, float] | None = None
         ) -> tuple[Tensor, np.ndarray, list[dict[str, float]], dict[str, float]]:
    """The run every transfer shares once its loss is set up: score the start where
    :func:`optimise` starts (``x0`` projected onto ``[0, upper]``), optimise with
    ``transfer``'s settings (``steps``, ``lr``, ``optimizer``) towards its ``style_drop``
    goal (a plateau doubles the style weight held in ``weight[0]``), score the end,
    ``render`` the result as a waveform and soft-limit it (:func:`_limit`).

    Returns the result, its audio (float32), the loss history and the metrics:
    ``<term>_start`` and ``<term>_end`` for each of ``terms``, ``style_weight_end``, the
    entries of ``info``, ``steps`` and ``seconds`` (since ``t0``; default: this call)."""
    t0 = time.perf_counter() if t0 is None else t0
    hi = torch.as_tensor(upper, dtype=x0.dtype, device=x0.device)
    with torch.no_grad():
        _, start = loss_fn(torch.minimum(x0.clamp_min(0.0), hi))  # where optimise starts
    x, history = optimise(x0, loss_fn, steps=transfer.steps, lr=transfer.lr,
                          optimizer=transfer.optimizer, upper=upper,
                          stop=_drop_reached(transfer.style_drop, start["style"]),
                          on_plateau=_style_raiser(transfer.style_drop, weight),
                          progress=progress)
    with torch.no_grad():
        _, end = loss_fn(x)
        audio = render(x)
    y = _limit(audio.cpu().numpy().astype(np.float32))
    metrics: dict[str, float] = {}
    for term in terms:
        metrics[f"{term}_start"], metrics[f"{term}_end"] = start[term], end[term]
    metrics.update({"style_weight_end": weight[0], **(info or {}),
                    "steps": float(len(history)), "seconds": time.perf_counter() - t0})
    return x, y, history, metrics


# ----------------------------------------------------------------------------- random CNN


class _StyleContract:
    """The pipeline contract for both transfers: ``process`` and ``process_file`` take the
    content (the signal to change) like every pipeline, and the style clip by keyword."""

    sample_rate: int
    min_samples: int

    def _set_run(self, *, steps: int, lr: float | None, optimizer: str, init: str,
                 init_noise: float, seed: int, style_drop: float | None,
                 adam_lr: float | None = None) -> None:
        """Keep the optimiser settings every transfer has (``adam_lr``: the method's
        default Adam step size, None for :func:`default_lr`'s)."""
        self.steps, self.optimizer = int(steps), optimizer
        self.lr = default_lr(optimizer, lr) if adam_lr is None else default_lr(
            optimizer, lr, adam=adam_lr)
        self.init, self.init_noise, self.seed = init, float(init_noise), int(seed)
        self.style_drop = _check_drop(style_drop)

    def _inputs(self, content: np.ndarray, content_sr: int, style: np.ndarray, style_sr: int,
                paths: Sequence[str | os.PathLike | None]) -> tuple[np.ndarray, np.ndarray]:
        """The content and the style, mono at the transfer's rate, checked (:func:`_prepare`)."""
        return (_prepare(content, content_sr, self.sample_rate, self.min_samples, "content",
                         paths[0]),
                _prepare(style, style_sr, self.sample_rate, self.min_samples, "style",
                         paths[1]))

    def process(self, wav: np.ndarray, sr: int, *, style: np.ndarray,
                style_sr: int | None = None,
                progress: ProgressCallback | None = None) -> StyleResult:
        """:meth:`transfer` of ``style`` (at ``style_sr``, default ``sr``) onto ``wav``."""
        return self.transfer(wav, sr, style, int(style_sr or sr), progress=progress)

    def process_file(self, src: str | os.PathLike, out: str | os.PathLike, *,
                     style: str | os.PathLike, overwrite: bool = False,
                     progress: ProgressCallback | None = None, **options) -> StyleResult:
        """:func:`stylise_file` with this transfer (``options``: plot, bit_depth)."""
        return stylise_file(src, style, out, transfer=self, overwrite=overwrite,
                            progress=progress, **options)


class RandomStyleTransfer(_StyleContract):
    """Random-CNN style transfer (see the module docstring). All settings are keywords;
    ``transfer(content, content_sr, style, style_sr)`` works on arrays."""

    def __init__(self, *, sample_rate: int = 22050, n_fft: int = 512,
                 hop_length: int | None = None, kernel: str = "3x1", channels: int = 8,
                 bands: int = 16, seed: int = 0, content_weight: float = 3.0,
                 style_weight: float = 3.0, steps: int = 150, lr: float | None = None,
                 optimizer: str = "adam", init: str = "content", init_noise: float = 0.1,
                 style_drop: float | None = STYLE_DROP, griffin_lim_iters: int = 64,
                 device: str = "cpu") -> None:
        from sonomorph.audio.inverse import GriffinLim
        from sonomorph.audio.spectral import Spectrogram
        from sonomorph.models.losses import FeatureContentLoss, GramLoss
        from sonomorph.models.random_cnn import RandomCNN

        if optimizer not in OPTIMIZERS:
            raise ConfigError(f"optimizer must be one of {', '.join(OPTIMIZERS)}")
        if content_weight < 0 or style_weight < 0 or content_weight + style_weight == 0:
            raise ConfigError("content and style weights must be >= 0 and not both 0")
        self.sample_rate, self.n_fft = int(sample_rate), int(n_fft)
        self.hop_length = int(hop_length or n_fft // 4)
        self.content_weight, self.style_weight = float(content_weight), float(style_weight)
        self._set_run(steps=steps, lr=lr, optimizer=optimizer, init=init, init_noise=init_noise,
                      seed=seed, style_drop=style_drop, adam_lr=RANDOM_ADAM_LR)
        self.device = torch.device(device)
        self.spec = Spectrogram(self.n_fft, self.hop_length, power=1.0).to(self.device)
        self.net = RandomCNN(channels=channels, kernel=kernel, seed=seed).to(self.device)
        self.gram_loss = GramLoss(bands)
        self.content_loss = FeatureContentLoss()
        self.griffin_lim = GriffinLim(self.n_fft, self.hop_length, n_iter=griffin_lim_iters,
                                      momentum=0.99, seed=seed).to(self.device)

    @property
    def min_samples(self) -> int:
        """The shortest clip the transfer accepts: one kernel's worth of frames."""
        return self.n_fft + (self.net.kernel[1] - 1) * self.hop_length + 1

    def log_spectrogram(self, wav: np.ndarray) -> Tensor:
        """``log1p |STFT|`` ``(1, freq, frames)`` of a mono waveform."""
        return _log_magnitude(self.spec, wav, self.device)

    def transfer(self, content: np.ndarray, content_sr: int, style: np.ndarray, style_sr: int,
                 *, progress: ProgressCallback | None = None,
                 paths: Sequence[str | os.PathLike | None] = (None, None)) -> StyleResult:
        """Give ``content`` the texture of ``style`` (any rates and channel counts)."""
        c, s = self._inputs(content, content_sr, style, style_sr, paths)
        cs, ss = self.log_spectrogram(c), self.log_spectrogram(s)
        with torch.no_grad():
            content_feats = self.net(cs)
            style_gram = self.gram_loss.gram(self.net(ss))[0]
        cw, sw = self.content_weight, [self.style_weight]

        def loss_fn(x: Tensor) -> tuple[Tensor, dict[str, float]]:
            feats = self.net(x)
            lc = self.content_loss(feats, content_feats)
            ls = self.gram_loss(feats, style_gram)
            return cw * lc + sw[0] * ls, {"content": float(lc.detach()),
                                          "style": float(ls.detach())}

        x0 = _initial(cs, self.init, self.init_noise, self.seed)
        upper = float(max(cs.max(), ss.max())) + 1.0
        x, y, history, metrics = _run(
            self, x0, loss_fn, upper=upper, weight=sw, progress=progress,
            render=lambda v: self.griffin_lim(torch.expm1(v), length=c.shape[-1]))
        return StyleResult(y, self.sample_rate, cs[0].cpu().numpy(), ss[0].cpu().numpy(),
                           x[0].detach().cpu().numpy(), history, metrics)


# ----------------------------------------------------------------------------- classifier


def _window_starts(frames: int, window: int, hop: int) -> list[int]:
    """Starts of windows of ``window`` frames, ``hop`` apart, the last one flush with the end
    (one window when the clip is shorter)."""
    if frames <= window:
        return [0]
    starts = list(range(0, frames - window + 1, hop))
    if starts[-1] != frames - window:
        starts.append(frames - window)
    return starts


class ClassifierStyleTransfer(_StyleContract):
    """Style transfer through a trained genre classifier (see the module docstring).

    ``model`` is a genre ``.safetensors`` file (or None / "default" for the shipped one);
    a model of another kind or shape raises :class:`CheckpointError`. Layers default to
    the first four blocks for style and the fifth for content.
    """

    def __init__(self, model: str | os.PathLike | None = None, *,
                 content_layers: Sequence[str] | None = None,
                 style_layers: Sequence[str] | None = None, bands: int = 1,
                 content_weight: float = 1.0, style_weight: float = 3.0, steps: int = 100,
                 lr: float | None = None, optimizer: str = "adam", init: str = "content",
                 init_noise: float = 0.1, seed: int = 0, batch_windows: int = 4,
                 style_drop: float | None = STYLE_DROP, griffin_lim_iters: int = 64,
                 device: str = "cpu") -> None:
        from sonomorph.audio.inverse import MelToAudio
        from sonomorph.models.checkpoint import load_model, resolve_model
        from sonomorph.models.classifier import SEGMENT_FRAMES, genre_mel
        from sonomorph.models.losses import FeatureContentLoss, GramLoss

        self.device = torch.device(device)
        path = resolve_model(model, "genre")
        self.model, meta = load_model(path, expect="genre", map_location=self.device)
        self.model.requires_grad_(False)
        feats = dict(meta.get("features") or {})
        if int(feats.get("n_mels", self.model.n_mels)) != self.model.n_mels:
            from sonomorph.errors import CheckpointError

            raise CheckpointError("its features metadata disagrees with its input layer", path)
        self.sample_rate = int(feats.get("sample_rate", 22050))
        n_fft, hop = int(feats.get("n_fft", 1024)), int(feats.get("hop_length", 256))
        self.mel = genre_mel(self.sample_rate, n_fft, hop, self.model.n_mels).to(self.device)
        with warnings.catch_warnings():  # empty low mel bands: harmless (see genre_mel)
            warnings.filterwarnings("ignore", message=".*[Ee]mpty filters.*")
            self.inverse = MelToAudio.from_mel_spectrogram(
                self.mel, n_iter=griffin_lim_iters, momentum=0.99, seed=seed).to(self.device)
        names = self.model.layer_names
        self.style_layers = list(style_layers or names[:4])
        self.content_layers = list(content_layers or names[min(4, len(names) - 1):][:1])
        self.model.features(torch.zeros(1, self.model.n_mels, 16, device=self.device),
                            self.style_layers + self.content_layers)  # unknown names raise
        self.window = int(meta.get("segment_frames", SEGMENT_FRAMES))
        self.gram_loss, self.content_loss = GramLoss(bands), FeatureContentLoss()
        self.content_weight, self.style_weight = float(content_weight), float(style_weight)
        self._set_run(steps=steps, lr=lr, optimizer=optimizer, init=init, init_noise=init_noise,
                      seed=seed, style_drop=style_drop)
        self.batch_windows = max(1, int(batch_windows))
        self.hop_length = hop

    @property
    def min_samples(self) -> int:
        """The shortest clip accepted: the model's minimum number of frames."""
        return self.model.min_frames * self.hop_length + 1

    def scaled_mel(self, wav: np.ndarray) -> Tensor:
        """``scale_mel`` of the magnitude mel ``(n_mels, frames)`` of a mono waveform."""
        from sonomorph.models.classifier import scale_mel

        with torch.no_grad():
            return scale_mel(self.mel(torch.from_numpy(wav).to(self.device)))

    def _windows(self, x: Tensor, starts: list[int]) -> Tensor:
        w = min(self.window, x.shape[-1])
        return torch.stack([x[..., a:a + w] for a in starts])

    def transfer(self, content: np.ndarray, content_sr: int, style: np.ndarray, style_sr: int,
                 *, progress: ProgressCallback | None = None,
                 paths: Sequence[str | os.PathLike | None] = (None, None)) -> StyleResult:
        """Give ``content`` the texture of ``style`` through the classifier's layers."""
        from sonomorph.models.classifier import unscale_mel

        c, s = self._inputs(content, content_sr, style, style_sr, paths)
        cm, sm = self.scaled_mel(c), self.scaled_mel(s)
        c_starts = _window_starts(cm.shape[-1], self.window, self.window // 2)
        s_starts = _window_starts(sm.shape[-1], self.window, self.window // 2)
        layers = self.style_layers + self.content_layers
        with torch.no_grad():
            style_grams = {name: [] for name in self.style_layers}
            for i in range(0, len(s_starts), self.batch_windows):
                f = self.model.features(self._windows(sm, s_starts[i:i + self.batch_windows]),
                                        self.style_layers)
                for name in self.style_layers:
                    style_grams[name].append(self.gram_loss.gram(f[name]))
            targets = {n: torch.cat(g).mean(dim=0) for n, g in style_grams.items()}
            content_feats = []
            for i in range(0, len(c_starts), self.batch_windows):
                f = self.model.features(self._windows(cm, c_starts[i:i + self.batch_windows]),
                                        self.content_layers)
                content_feats.append({n: f[n] for n in self.content_layers})
        cw, sw, n_win = self.content_weight, [self.style_weight], len(c_starts)

        def loss_fn(x: Tensor) -> tuple[Tensor, dict[str, float]]:
            # Windows are processed in groups and their gradients accumulated (memory bounded
            # by the group) on a detached copy of x, then sent through x's own graph (the
            # optimiser's projection) once: a backward per group through that shared graph
            # would free it after the first group. The returned loss carries no graph. The
            # groups' loss terms stay on the device and are read back together, once a call:
            # the history and the stopping rule need them, the window loop does not. They
            # are summed here in the same order and precision as one read per group would.
            track = x.requires_grad and torch.is_grad_enabled()
            xin = x.detach().requires_grad_(True) if track else x
            terms, sizes = [], []
            for g, i in enumerate(range(0, n_win, self.batch_windows)):
                starts = c_starts[i:i + self.batch_windows]
                f = self.model.features(self._windows(xin, starts), layers)
                lc = sum(self.content_loss(f[n], content_feats[g][n])
                         for n in self.content_layers) / len(self.content_layers)
                ls = sum(self.gram_loss(f[n], targets[n])
                         for n in self.style_layers) / len(self.style_layers)
                part = (cw * lc + sw[0] * ls) * (len(starts) / n_win)
                if track:
                    part.backward()
                terms.append(torch.stack([lc.detach(), ls.detach()]))
                sizes.append(len(starts))
            if track:
                x.backward(xin.grad)
            total_c = total_s = 0.0
            for (vc, vs), size in zip(torch.stack(terms).tolist(), sizes):
                total_c += vc * size / n_win
                total_s += vs * size / n_win
            total = torch.tensor(cw * total_c + sw[0] * total_s)
            return total, {"content": total_c, "style": total_s}

        x0 = _initial(cm, self.init, self.init_noise, self.seed)
        # Mel bands narrower than an FFT bin have no filter weights: no sound can fill them,
        # and training saw them only at 0 (their normalisation has a tiny variance), so they
        # stay pinned at 0 instead of being used by the optimiser to fool the network.
        live = (self.mel.mel_basis.sum(dim=1) > 0).to(cm.dtype)[:, None]
        upper = live * (float(max(cm.max(), sm.max())) + 1.0)
        x, y, history, metrics = _run(
            self, x0, loss_fn, upper=upper, weight=sw, progress=progress,
            render=lambda v: self.inverse(unscale_mel(v), length=c.shape[-1]))
        return StyleResult(y[None], self.sample_rate, cm.cpu().numpy(), sm.cpu().numpy(),
                           x.detach().cpu().numpy(), history, metrics)


# ----------------------------------------------------------------------------- files


def build_transfer(method: str = "random", **options) -> RandomStyleTransfer | ClassifierStyleTransfer:
    """The transfer object for ``method`` (``random``, ``classifier``, ``speaker``: the
    speaker-aware method of :mod:`sonomorph.pipelines.style_speaker`, or ``knn``: the
    frame-matching one of :mod:`sonomorph.pipelines.style_knn`) with ``options``."""
    if method == "random":
        return RandomStyleTransfer(**options)
    if method == "classifier":
        return ClassifierStyleTransfer(**options)
    if method == "speaker":
        from sonomorph.pipelines.style_speaker import SpeakerStyleTransfer

        return SpeakerStyleTransfer(**options)
    if method == "knn":
        from sonomorph.pipelines.style_knn import KnnStyleTransfer

        return KnnStyleTransfer(**options)
    raise ConfigError(f"method must be one of {', '.join(METHODS)}, not {method!r}")


def stylise_file(content: str | os.PathLike, style: str | os.PathLike, out: str | os.PathLike,
                 *, method: str = "random", plot: str | os.PathLike | None = None,
                 overwrite: bool = False, progress: ProgressCallback | None = None,
                 transfer: RandomStyleTransfer | ClassifierStyleTransfer | None = None,
                 bit_depth: str = "16", **options) -> StyleResult:
    """Read ``content`` and ``style`` (any format, rate and channels), transfer, and write
    ``out`` (mono, at the content file's sample rate) atomically; with ``plot``, also a PNG
    of the content, style and result spectrograms side by side. Outputs never replace an
    input, nor an existing file unless ``overwrite``; both are checked before the work."""
    from sonomorph.audio.io import load, output_format, resample, save
    from sonomorph.utils.fs import check_output

    inputs = [content, style]
    output_format(out)
    check_output(out, overwrite=overwrite, inputs=inputs)
    if plot is not None:
        check_output(plot, overwrite=overwrite, inputs=[*inputs, out])
        if Path(out).resolve() == Path(plot).resolve():
            raise ConfigError("the plot and the audio output are the same file", plot)
    runner = transfer or build_transfer(method, **options)
    c, c_sr = load(content)
    s, s_sr = load(style)
    result = runner.transfer(c, c_sr, s, s_sr, progress=progress, paths=(content, style))
    audio = result.audio
    if c_sr != result.sample_rate:
        audio = _limit(resample(audio, result.sample_rate, c_sr))
    save(out, audio, int(c_sr), overwrite=overwrite, inputs=inputs, bit_depth=bit_depth)
    if plot is not None:
        plot_spectrograms(result, plot, overwrite=overwrite,
                          titles=(Path(content).name, Path(style).name, Path(out).name))
    return result


def plot_spectrograms(result: StyleResult, path: str | os.PathLike, *, overwrite: bool = False,
                      titles: Sequence[str] = ("content", "style", "result")) -> Path:
    """Write the content, style and result spectrograms side by side as a PNG (atomically),
    on one colour scale so that levels compare."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sonomorph.utils.fs import atomic_path

    panels = (result.content, result.style, result.result)
    top = max(float(np.max(p)) for p in panels)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4), constrained_layout=True)
    for ax, panel, title in zip(axes, panels, titles):
        image = ax.imshow(panel, origin="lower", aspect="auto", cmap="magma", vmin=0.0, vmax=top,
                          interpolation="nearest")
        ax.set_title(title)
        ax.set_xlabel("frame")
    axes[0].set_ylabel("frequency bin")
    fig.colorbar(image, ax=axes, shrink=0.9, label="log1p magnitude")
    with atomic_path(path, overwrite=overwrite) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return Path(path)
