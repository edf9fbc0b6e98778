"""Speaker-aware style transfer (``sonomorph style --method speaker``): make the content
clip sound like the style clip's speaker, through our own speaker encoder.

Two steps:

1. **Pitch matching** (``pitch_match``): the content's median f0 (pYIN over its voiced
   frames, :func:`sonomorph.audio.pitch.median_f0`) is moved onto the style speaker's by
   a length-keeping pitch shift (:func:`sonomorph.audio.pitch.match_pitch`, at most
   ``max_shift`` semitones). A speaker encoder's Gram loss alone barely moves the pitch:
   the harmonics' positions would have to move bin by bin against the content term.
   Optionally (``envelope_match``, off by default) the content is then given the style's
   voiced long-term average spectrum by one smoothed gain per frequency bin (at most
   ``max_envelope_db``; :func:`_match_envelope`). Measured on four real pairs it raised the
   resemblyzer margin slightly (-0.018 to +0.003) and changed no pair's side
   (docs/training.md, "Measured on real voice pairs").
2. **Spectrogram optimisation** through a ``speaker-encoder`` model
   (:mod:`sonomorph.models.speaker_encoder`), as the classifier method does through the
   genre CNN: the variable is the pitch-matched content's ``log1p |STFT|`` at the
   encoder's ``n_fft`` and hop; the encoder's own mel filterbank and layers read it
   (:meth:`~sonomorph.models.speaker_encoder.SpeakerEncoder.logmel_from_magnitude`).
   The loss is ``content_weight`` x the relative feature distance to the pitch-matched
   content at ``content_layers`` plus ``style_weight`` x (the mean relative time-Gram
   distance to the style's at ``style_layers`` + ``embedding_weight`` x the cosine
   distance between the embeddings). The shared optimiser, stopping rules and the
   ``style_drop`` goal are those of :mod:`sonomorph.pipelines.style`; Griffin-Lim turns
   the result into sound.

The encoder that judges a transfer must not be the one it optimised against: the
evaluation scores with resemblyzer's encoder, which this method never sees.

``model``: a ``sonomorph train speaker-encoder`` file, or None / "default" for the shipped
``speaker-encoder`` (none ships yet: then a one-line :class:`~sonomorph.errors.DependencyError`
saying how to get one). The default layers and
weights are a first choice, not yet tuned on a trained encoder.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from sonomorph.pipelines.style import (
    STYLE_DROP,
    StyleResult,
    _log_magnitude,
    _run,
    _StyleContract,
)
from sonomorph.pipelines.style_optim import _initial
from sonomorph.utils.progress import ProgressCallback

__all__ = ["SpeakerStyleTransfer"]

KIND = "speaker-encoder"
SPEAKER_ADAM_LR = 0.02


class SpeakerStyleTransfer(_StyleContract):
    """Style transfer through our speaker encoder, with pitch matching (see the module
    docstring). ``transfer(content, content_sr, style, style_sr)`` works on arrays."""

    def __init__(self, model: str | os.PathLike | None = None, *,
                 content_layers: Sequence[str] | None = None,
                 style_layers: Sequence[str] | None = None, bands: int = 1,
                 embedding_weight: float = 1.0, content_weight: float = 1.0,
                 style_weight: float = 3.0, pitch_match: bool = True, max_shift: float = 12.0,
                 envelope_match: bool = False, max_envelope_db: float = 12.0,
                 steps: int = 100, lr: float | None = None, optimizer: str = "adam",
                 init: str = "content", init_noise: float = 0.1, seed: int = 0,
                 style_drop: float | None = STYLE_DROP, griffin_lim_iters: int = 64,
                 device: str = "cpu") -> None:
        from sonomorph.audio.inverse import GriffinLim
        from sonomorph.audio.spectral import Spectrogram
        from sonomorph.errors import ConfigError
        from sonomorph.models.checkpoint import load_model
        from sonomorph.models.losses import FeatureContentLoss, GramLoss
        from sonomorph.pipelines.speaker_features import encoder_file

        if min(content_weight, style_weight, embedding_weight) < 0 or \
                content_weight + style_weight == 0:
            raise ConfigError("content, style and embedding weights must be >= 0, and content "
                              "and style not both 0")
        self.device = torch.device(device)
        self.path = encoder_file(model)  # none ships yet: a one-line DependencyError
        self.model, self.meta = load_model(self.path, expect=KIND, map_location=self.device)
        self.model.eval().requires_grad_(False)
        self.sample_rate = int(self.model.sample_rate)
        self.n_fft, self.hop_length = int(self.model.n_fft), int(self.model.hop_length)
        names = tuple(self.model.layer_names)
        self.content_layers = list(content_layers or names[:1])
        self.style_layers = list(style_layers or names[1:])
        if "embedding" in self.content_layers + self.style_layers:
            raise ConfigError("'embedding' is not a frame layer: the embedding is always "
                              "matched (its weight: --embedding-weight); choose layers among "
                              f"{', '.join(names)}")
        self.model.features(torch.zeros(1, self.model.n_mels, 8, device=self.device),
                            self.content_layers + self.style_layers)  # unknown names raise
        self.spec = Spectrogram(self.n_fft, self.hop_length, power=1.0,
                                pad_mode="constant").to(self.device)
        self.griffin_lim = GriffinLim(self.n_fft, self.hop_length, n_iter=griffin_lim_iters,
                                      momentum=0.99, seed=seed).to(self.device)
        self.gram_loss, self.content_loss = GramLoss(bands), FeatureContentLoss()
        self.content_weight, self.style_weight = float(content_weight), float(style_weight)
        self.embedding_weight = float(embedding_weight)
        self.pitch_match, self.max_shift = bool(pitch_match), float(max_shift)
        self.envelope_match, self.max_envelope_db = bool(envelope_match), float(max_envelope_db)
        self._set_run(steps=steps, lr=lr, optimizer=optimizer, init=init, init_noise=init_noise,
                      seed=seed, style_drop=style_drop, adam_lr=SPEAKER_ADAM_LR)

    @property
    def min_samples(self) -> int:
        """The shortest clip accepted: what the encoder needs."""
        return int(self.model.min_samples)

    def log_spectrogram(self, wav: np.ndarray) -> Tensor:
        """``log1p |STFT|`` ``(1, freq, frames)`` of a mono waveform."""
        return _log_magnitude(self.spec, wav, self.device)

    def _features(self, x: Tensor, layers: Sequence[str]) -> dict[str, Tensor]:
        logmel = self.model.logmel_from_magnitude(torch.expm1(x))
        return self.model.features(logmel, layers)

    def transfer(self, content: np.ndarray, content_sr: int, style: np.ndarray, style_sr: int,
                 *, progress: ProgressCallback | None = None,
                 paths: Sequence[str | os.PathLike | None] = (None, None)) -> StyleResult:
        """Give ``content`` the voice of ``style``'s speaker (any rates and channels)."""
        from sonomorph.audio.pitch import match_pitch

        t0 = time.perf_counter()
        c, s = self._inputs(content, content_sr, style, style_sr, paths)
        pitch = {"f0_content": float("nan"), "f0_style": float("nan"), "pitch_shift": 0.0}
        if self.pitch_match:
            c, pitch = match_pitch(c, self.sample_rate, s, max_semitones=self.max_shift)
        cs, ss = self.log_spectrogram(c), self.log_spectrogram(s)
        if self.envelope_match:
            cs, pitch["envelope_db"] = _match_envelope(cs, ss, self.max_envelope_db,
                                                     self.sample_rate / self.n_fft)
        layers = self.content_layers + self.style_layers + ["embedding"]
        with torch.no_grad():
            fc = self._features(cs, self.content_layers)
            fs = self._features(ss, self.style_layers + ["embedding"])
            targets = {n: self.gram_loss.gram(fs[n].unsqueeze(2))[0] for n in self.style_layers}
            style_emb = fs["embedding"]
        cw, sw, ew = self.content_weight, [self.style_weight], self.embedding_weight

        def loss_fn(x: Tensor) -> tuple[Tensor, dict[str, float]]:
            f = self._features(x, layers)
            lc = sum(self.content_loss(f[n], fc[n]) for n in self.content_layers) / len(
                self.content_layers)
            lg = sum(self.gram_loss(f[n].unsqueeze(2), targets[n])
                     for n in self.style_layers) / max(1, len(self.style_layers))
            le = 1.0 - (f["embedding"] * style_emb).sum(dim=1).mean()
            ls = lg + ew * le
            return cw * lc + sw[0] * ls, {"content": float(lc.detach()),
                                          "style": float(ls.detach()),
                                          "gram": float(lg.detach()),
                                          "embedding": float(le.detach())}

        x0 = _initial(cs, self.init, self.init_noise, self.seed)
        upper = float(max(cs.max(), ss.max())) + 1.0
        x, y, history, metrics = _run(
            self, x0, loss_fn, upper=upper, weight=sw, progress=progress, t0=t0,
            terms=("content", "style", "embedding"), info=pitch,
            render=lambda v: self.griffin_lim(torch.expm1(v), length=c.shape[-1]))
        return StyleResult(y, self.sample_rate, cs[0].cpu().numpy(), ss[0].cpu().numpy(),
                           x[0].detach().cpu().numpy(), history, metrics)


ENVELOPE_SMOOTH_HZ = 300.0  # the envelope gain is smoothed over about this bandwidth


def _voiced_mean_log(x: Tensor, top_db: float = 40.0) -> Tensor:
    """The mean natural-log magnitude per bin ``(freq,)`` of a ``log1p |STFT|`` ``(1, freq,
    frames)`` over its voiced frames (energy within ``top_db`` of the loudest frame)."""
    mag = torch.expm1(x[0])
    energy = 10.0 * torch.log10(mag.pow(2).sum(dim=0).clamp_min(1e-20))
    voiced = energy >= energy.max() - top_db
    return torch.log(mag[:, voiced].clamp_min(1e-5)).mean(dim=1)


def _match_envelope(content: Tensor, style: Tensor, max_db: float,
                    bin_hz: float) -> tuple[Tensor, float]:
    """Give ``content`` (``log1p |STFT|``) the long-term average spectrum of ``style``: a
    fixed gain per frequency bin, the difference of their voiced-frame mean log spectra,
    smoothed over about :data:`ENVELOPE_SMOOTH_HZ` and kept within ``max_db``. Where a
    voice's energy lies on average (its formant region and its recording chain) is much of
    what a speaker encoder hears, and one gain per bin leaves the words' timing and order
    alone. Returns the equalised spectrogram and the mean absolute gain in dB."""
    with torch.no_grad():
        diff = _voiced_mean_log(style) - _voiced_mean_log(content)
        width = max(1, int(round(ENVELOPE_SMOOTH_HZ / bin_hz)))
        width += 1 - width % 2  # odd, centred
        padded = F.pad(diff[None, None], (width // 2, width // 2), mode="replicate")
        gain = F.avg_pool1d(padded, width, stride=1)[0, 0]
        limit = max_db / 20.0 * float(np.log(10.0))
        gain = gain.clamp(-limit, limit)
        out = torch.log1p(torch.expm1(content) * torch.exp(gain)[None, :, None])
    return out, float(gain.abs().mean()) * 20.0 / float(np.log(10.0))
