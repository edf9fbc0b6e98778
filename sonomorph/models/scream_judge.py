"""The scream judge: a small classifier telling real screams (1) from real speech (0).

It is the yardstick of ``sonomorph eval scream``: trained on real screams, pain and battle
cries against real speech (``sonomorph train scream-judge``), judged on characters and
speakers it never saw. Its penultimate layer is the embedding in which the evaluation
measures the Fréchet distance of a system's outputs to real screams.

Input: windows of mono 22.05 kHz audio ``(batch, samples)`` or ``(batch, 1, samples)``
(1 s in training and evaluation; any length of at least a few frames works). Features:
64-band log-mel (n_fft 1024, hop 256). Two things are designed out:

* **level**: each window is scaled to a peak of 1 and the log-mel is centred on its mean
  over the window's voiced frames, so a louder copy of a window gets the same features;
* **silence and padding**: frames more than 40 dB below the window's loudest frame are
  left out: they are set to zero at every layer and take no part in the normalisation's
  statistics or the pooling, so how much padding or silence surrounds a sound (a short
  clip zero-padded to a window, pauses between words) does not change how it is judged.

Network: three dilated 1-D convolutions over time with the mel bands as channels (each
normalised over the voiced frames only), masked mean and standard deviation pooling, a
32-d embedding (tanh), a linear logit. About 60 k parameters.

:func:`judge_windows` cuts a clip into the windows the judge scores and :func:`clip_scores`
scores them (the helpers the recipe and the evaluation both use).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sonomorph.models.registry import register_model

__all__ = ["ScreamJudge", "judge_windows", "clip_scores", "WINDOW_S", "HOP_S", "SILENT_DB"]

WINDOW_S = 1.0  #: seconds per judged window
HOP_S = 0.5  #: hop between judged windows of a clip
SILENT_DB = -50.0  #: windows whose RMS is this far below the clip's peak are not judged
_FRAME_GATE = math.log(10 ** (40 / 10))  #: 40 dB in natural-log power units
_LOG_FLOOR = 1e-5


@register_model("scream_judge", kind="scream-judge")
class ScreamJudge(nn.Module):
    """Real scream (1) versus real speech (0) on a window of audio (see the module docs)."""

    def __init__(self, sample_rate: int = 22050, n_fft: int = 1024, hop_length: int = 256,
                 n_mels: int = 64, channels: int = 64, embedding: int = 32,
                 dropout: float = 0.2) -> None:
        super().__init__()
        from sonomorph.audio.spectral import MelSpectrogram

        self.sample_rate, self.n_mels = int(sample_rate), int(n_mels)
        self.mel = MelSpectrogram(sample_rate, n_fft, hop_length, n_mels, power=2.0, log=True,
                                  log_floor=_LOG_FLOOR, log_base="e", pad_mode="constant")
        self.convs = nn.ModuleList([
            nn.Conv1d(n_mels, channels, 5, padding=2),
            nn.Conv1d(channels, channels, 5, padding=4, dilation=2),
            nn.Conv1d(channels, channels, 5, padding=8, dilation=4),
        ])
        self.norms = nn.ModuleList([nn.GroupNorm(1, channels) for _ in self.convs])
        self.dropout = nn.Dropout(dropout)
        self.embed_layer = nn.Linear(2 * channels, embedding)
        self.head = nn.Linear(embedding, 1)

    @property
    def window(self) -> int:
        """Samples per judged window."""
        return int(round(WINDOW_S * self.sample_rate))

    def features(self, x: Tensor, bands: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """(level-free log-mel ``(batch, n_mels, frames)``, voiced-frame mask ``(batch,
        frames)``). ``bands`` (batch,) keeps only the lowest that many mel bands of each
        item (the rest at the floor): the training's band-limit augmentation."""
        if x.ndim == 3:
            x = x[:, 0]
        x = x.float()
        x = x / x.abs().amax(dim=-1, keepdim=True).clamp_min(1e-4)  # peak 1: level-free
        logmel = self.mel(x)
        if bands is not None:
            keep = torch.arange(self.n_mels, device=x.device)[None, :] < bands[:, None]
            logmel = torch.where(keep[:, :, None], logmel, torch.full_like(logmel, math.log(_LOG_FLOOR)))
        energy = torch.logsumexp(logmel, dim=1)  # (batch, frames)
        mask = energy >= energy.amax(dim=1, keepdim=True) - _FRAME_GATE
        m = mask[:, None, :].float()
        centre = (logmel * m).sum(dim=(1, 2), keepdim=True) / (m.sum(dim=(1, 2), keepdim=True)
                                                                * self.n_mels).clamp_min(1.0)
        return (logmel - centre) / 4.0 * m, mask

    def embed_features(self, feats: Tensor, mask: Tensor) -> Tensor:
        m = mask[:, None, :].float()
        n = m.sum(dim=2).clamp_min(1.0)
        h = feats * m
        for conv, norm in zip(self.convs, self.norms):
            h = F.gelu(_masked_norm(conv(h), m, norm)) * m
        mean = (h * m).sum(dim=2) / n
        std = (((h - mean[:, :, None]) ** 2 * m).sum(dim=2) / n).clamp_min(1e-6).sqrt()
        return torch.tanh(self.embed_layer(self.dropout(torch.cat([mean, std], dim=1))))

    def embed(self, x: Tensor) -> Tensor:
        """The judge's embedding ``(batch, embedding)`` of each window."""
        return self.embed_features(*self.features(x))

    def logits_and_embedding(self, x: Tensor, bands: Tensor | None = None) -> tuple[Tensor, Tensor]:
        e = self.embed_features(*self.features(x, bands))
        return self.head(self.dropout(e))[:, 0], e

    def forward(self, x: Tensor) -> Tensor:
        """Scream logits ``(batch,)``; ``sigmoid`` gives P(scream)."""
        return self.logits_and_embedding(x)[0]


def _masked_norm(h: Tensor, m: Tensor, norm: nn.GroupNorm) -> Tensor:
    """``norm`` (one group) with its statistics taken over the voiced frames ``m`` only, so
    how much silence or padding surrounds the sound does not change its features."""
    count = (m.sum(dim=(1, 2), keepdim=True) * h.shape[1]).clamp_min(1.0)
    mean = (h * m).sum(dim=(1, 2), keepdim=True) / count
    var = (((h - mean) * m) ** 2).sum(dim=(1, 2), keepdim=True) / count
    h = (h - mean) / torch.sqrt(var + norm.eps)
    return h * norm.weight[None, :, None] + norm.bias[None, :, None]


def judge_windows(wav: Tensor, window: int, hop: int | None = None,
                  silent_db: float = SILENT_DB) -> Tensor:
    """The windows ``(n, window)`` the judge scores for one mono clip ``(samples,)``:
    ``window`` samples every ``hop`` (default: half a window), a clip shorter than one
    window zero-padded to one; windows whose RMS is more than ``-silent_db`` dB below the
    clip's peak are dropped (none when the clip is silent)."""
    wav = wav.reshape(-1).float()
    hop = hop or max(1, window // 2)
    peak = float(wav.abs().max()) if wav.numel() else 0.0
    if peak <= 1e-6:
        return wav.new_zeros((0, window))
    if wav.numel() < window:
        wav = F.pad(wav, (0, window - wav.numel()))
    n = 1 + (wav.numel() - window) // hop
    starts = [i * hop for i in range(n)]
    if starts[-1] + window < wav.numel():  # the tail gets a window of its own
        starts.append(wav.numel() - window)
    w = torch.stack([wav[s: s + window] for s in starts])
    rms = w.pow(2).mean(dim=1).sqrt()
    return w[rms >= peak * 10 ** (silent_db / 20)]


@torch.no_grad()
def clip_scores(model: ScreamJudge, wav: Tensor, batch: int = 64) -> tuple[Tensor, Tensor]:
    """(P(scream) per judged window, embedding per window) of one mono clip, on the CPU."""
    w = judge_windows(wav, model.window)
    if w.shape[0] == 0:
        return w.new_zeros(0), w.new_zeros((0, model.head.in_features))
    device = next(model.parameters()).device
    w = w.to(device)  # the windows go over once; the scores stay there until the end
    probs, embs = [], []
    for i in range(0, w.shape[0], batch):
        logit, emb = model.logits_and_embedding(w[i: i + batch])
        probs.append(torch.sigmoid(logit))
        embs.append(emb)
    return torch.cat(probs).cpu(), torch.cat(embs).cpu()
