"""Genre-classification CNNs over log-mel spectrograms, and the one mel scaling they use.

The features follow the ambience-to-music original: 384 mel bands of a 22.05 kHz signal,
``n_fft`` 1024, hop 256, segments of 431 frames (about 5 s). Two of the original's faults
came from using different scalings in training and transfer (power mels in one, magnitude
mels in the other) and from letting the optimised mels go negative. Here:

* :func:`genre_mel` builds the only mel front end (Slaney magnitude mels, ``power=1``) and
  :func:`scale_mel` / :func:`unscale_mel` the only scaling, ``log1p(mel / MEL_REF)``: used
  by training, classification and style transfer alike;
* ``scale_mel`` maps a non-negative mel to a non-negative value and back, so an optimiser
  that keeps the *scaled* mel non-negative keeps the mel non-negative.

Models (kind ``genre``):

* :class:`GenreCNN` (``genre_cnn``): the original design, 8 blocks of 3x3 convolution,
  batch norm, ReLU and 2x2 max-pooling, about 62k parameters;
* :class:`GenreTCN` (``genre_tcn``): the stronger option, a temporal CNN over the mel
  bands as channels (about 0.4M parameters), several times cheaper to train on a CPU.

Both take a scaled mel ``(batch, n_mels, frames)`` (or ``(batch, 1, n_mels, frames)``) of
any length of at least :attr:`min_frames` and return logits ``(batch, n_classes)``;
:meth:`features` returns named intermediate activations for style transfer.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sonomorph.errors import ConfigError
from sonomorph.models.registry import register_model

__all__ = ["GENRE_FEATURES", "SEGMENT_FRAMES", "MEL_REF", "GTZAN_GENRES", "genre_mel",
           "scale_mel", "unscale_mel", "GenreCNN", "GenreTCN"]

#: The mel settings of every genre model (kept in each checkpoint's metadata too).
GENRE_FEATURES = {"sample_rate": 22050, "n_fft": 1024, "hop_length": 256, "n_mels": 384}
#: Frames in one classifier segment (431 x 256 / 22050 = 5.0 s).
SEGMENT_FRAMES = 431
#: Reference level of :func:`scale_mel`: mels far below it map to about 0, mels far above it
#: are compressed logarithmically (a dynamic range of about 70 dB above 1e-6).
MEL_REF = 1e-3
GTZAN_GENRES = ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop",
                "reggae", "rock")


def genre_mel(sample_rate: int = 22050, n_fft: int = 1024, hop_length: int = 256,
              n_mels: int = 384) -> nn.Module:
    """The magnitude mel front end of the genre models (a :class:`MelSpectrogram`).

    384 mel bands over 513 FFT bins leave some low bands empty (narrower than a bin); they
    are constant zeros, which is harmless, so librosa's warning about them is silenced.
    """
    from sonomorph.audio.spectral import MelSpectrogram

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Ee]mpty filters.*")
        return MelSpectrogram(sample_rate, n_fft, hop_length, n_mels, power=1.0)


def scale_mel(mel: Tensor) -> Tensor:
    """``log1p(mel / MEL_REF)``: the network input. Non-negative for a non-negative mel."""
    return torch.log1p(mel.clamp_min(0.0) / MEL_REF)


def unscale_mel(scaled: Tensor) -> Tensor:
    """The inverse of :func:`scale_mel` (negative inputs are treated as 0)."""
    return torch.expm1(scaled.clamp_min(0.0)) * MEL_REF


def _as_image(x: Tensor, n_mels: int) -> Tensor:
    if x.ndim == 3:
        x = x.unsqueeze(1)
    if x.ndim != 4 or x.shape[1] != 1 or x.shape[2] != n_mels:
        raise ValueError(f"expected a scaled mel (batch, {n_mels}, frames), got {tuple(x.shape)}")
    return x


class _GenreBase(nn.Module):
    """Shared pieces: per-band input normalisation, the head, layer names, feature taps."""

    n_mels: int
    layer_names: tuple[str, ...]
    min_frames: int

    def _norm_input(self, x: Tensor) -> Tensor:
        x = _as_image(x, self.n_mels)
        if x.shape[-1] < self.min_frames:
            raise ValueError(f"a segment of {x.shape[-1]} frames is shorter than the "
                             f"{self.min_frames} this model needs")
        # Per-mel-band normalisation learnt in training (BatchNorm over the band axis).
        return self.input_norm(x.squeeze(1)).unsqueeze(1)

    def _blocks(self) -> Iterable[tuple[str, nn.Module]]:
        raise NotImplementedError

    def _head(self, x: Tensor) -> Tensor:
        pooled = torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=1)
        return self.classifier(self.dropout(pooled))

    def forward(self, x: Tensor) -> Tensor:
        x = self._norm_input(x)
        for _, block in self._blocks():
            x = block(x)
        return self._head(x)

    def features(self, x: Tensor, layers: Sequence[str]) -> dict[str, Tensor]:
        """Activations ``(batch, channels, freq, frames)`` of the named blocks (see
        :attr:`layer_names`), computing only as deep as the deepest one asked for."""
        wanted = set(layers)
        unknown = wanted - set(self.layer_names)
        if unknown:
            raise ConfigError(f"unknown layer(s) {', '.join(sorted(unknown))}; this model has "
                              f"{', '.join(self.layer_names)}")
        out: dict[str, Tensor] = {}
        x = self._norm_input(x)
        for name, block in self._blocks():
            x = block(x)
            if name in wanted:
                out[name] = x
                if len(out) == len(wanted):
                    break
        return out


def _conv_block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


@register_model("genre_cnn", kind="genre")
class GenreCNN(_GenreBase):
    """The original genre CNN: 8 blocks of conv 3x3 -> batch norm -> ReLU -> max-pool 2x2
    (ceil mode, so 384 x 431 shrinks to 2 x 2 and never to nothing), then global average and
    max pooling, dropout and a linear layer. About 62k parameters with the default widths.

    Layer names for :meth:`features` are ``conv1`` ... ``conv8`` (each after its ReLU, before
    its pooling), so the early layers keep fine time-frequency detail for style transfer.
    """

    def __init__(self, n_mels: int = 384, n_classes: int = 10,
                 channels: Sequence[int] = (16, 16, 32, 32, 32, 32, 40, 48),
                 dropout: float = 0.3) -> None:
        super().__init__()
        if n_classes < 2 or n_mels < 8 or len(channels) < 1:
            raise ConfigError("a genre model needs n_classes >= 2, n_mels >= 8 and one block")
        self.n_mels, self.n_classes = int(n_mels), int(n_classes)
        self.input_norm = nn.BatchNorm1d(self.n_mels)
        convs, cin = [], 1
        for c in channels:
            convs.append(_conv_block(cin, int(c)))
            cin = int(c)
        self.convs = nn.ModuleList(convs)
        self.pool = nn.MaxPool2d(2, ceil_mode=True)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(2 * cin, self.n_classes)
        self.layer_names = tuple(f"conv{i + 1}" for i in range(len(convs)))
        self.min_frames = 8

    def _blocks(self) -> Iterable[tuple[str, nn.Module]]:
        for i, (name, conv) in enumerate(zip(self.layer_names, self.convs)):
            yield name, (conv if i == 0 else nn.Sequential(self.pool, conv))


def _conv1d_block(cin: int, cout: int, kernel: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv1d(cin, cout, kernel, padding=kernel // 2, bias=False),
                         nn.BatchNorm1d(cout), nn.ReLU(inplace=True))


@register_model("genre_tcn", kind="genre")
class GenreTCN(_GenreBase):
    """The stronger genre model: a temporal CNN that treats the mel bands as channels.

    A 1x1 projection of the 384 normalised bands to ``width`` learnt spectral patterns,
    then blocks of 1-D convolution over time (kernel 3) with batch norm and ReLU, each
    after a max-pooling that halves the frame rate, global average + max pooling, dropout
    and a linear layer. Six times the original's parameters but a fraction of its compute
    and memory traffic (its activations are ``width x frames`` instead of ``16 x 384 x
    frames``), so it trains several times faster on a CPU and sees more examples in the same
    time. Layer names: ``proj``, ``block1`` ... ``blockN``; :meth:`features` returns them
    as ``(batch, channels, 1, frames)`` so that Gram code treats both models alike.
    """

    def __init__(self, n_mels: int = 384, n_classes: int = 10,
                 channels: Sequence[int] = (128, 128, 128, 192, 256),
                 dropout: float = 0.3) -> None:
        super().__init__()
        if n_classes < 2 or n_mels < 8 or len(channels) < 2:
            raise ConfigError("a genre model needs n_classes >= 2, n_mels >= 8 and two layers")
        self.n_mels, self.n_classes = int(n_mels), int(n_classes)
        self.input_norm = nn.BatchNorm1d(self.n_mels)
        widths = [int(c) for c in channels]
        self.proj = _conv1d_block(self.n_mels, widths[0], 1)
        self.blocks = nn.ModuleList(_conv1d_block(a, b, 3) for a, b in zip(widths, widths[1:]))
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(2 * widths[-1], self.n_classes)
        self.layer_names = ("proj", *(f"block{i + 1}" for i in range(len(self.blocks))))
        self.min_frames = 8

    def _norm_input(self, x: Tensor) -> Tensor:
        return super()._norm_input(x).squeeze(1)  # (batch, n_mels, frames): bands as channels

    def _blocks(self) -> Iterable[tuple[str, nn.Module]]:
        yield "proj", self.proj
        for i, (name, block) in enumerate(zip(self.layer_names[1:], self.blocks)):
            yield name, (block if i == 0 else nn.Sequential(_Pool1d(), block))

    def _head(self, x: Tensor) -> Tensor:
        pooled = torch.cat([x.mean(dim=-1), x.amax(dim=-1)], dim=1)
        return self.classifier(self.dropout(pooled))

    def features(self, x: Tensor, layers: Sequence[str]) -> dict[str, Tensor]:
        return {k: v.unsqueeze(2) for k, v in super().features(x, layers).items()}


class _Pool1d(nn.Module):
    """Max-pooling over time by 2 (ceil mode, so a short input never vanishes)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.max_pool1d(x, 2, ceil_mode=True) if x.shape[-1] > 1 else x


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
