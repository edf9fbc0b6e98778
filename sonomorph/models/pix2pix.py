"""pix2pix for spectrograms (Isola et al. 2017): a U-Net generator and a 70x70 PatchGAN
discriminator, sized for a CPU, plus the spectrogram "image" they read and write.

The image of a mono waveform is three planes over ``(bins, frames)``: the log magnitude
mapped from ``[log_min, log_max]`` (natural log) to [-1, 1], and the cosine and sine of
the phase. Only the first ``n_fft // 2`` bins are used (the Nyquist bin is dropped and
comes back as zero), so a 1024-point STFT gives 512 rows, a power of two as the U-Net
needs. The generator maps the input voice's image to the accompaniment's (or the whole
mixture's): log magnitude plus a phase estimate (its cosine and sine, renormalised).

Why these choices: pix2pix's "image" of 8-bit magnitude and phase loses most of the signal
(see :mod:`sonomorph.audio.images`); a log magnitude in [-1, 1] fits the tanh output and
spans 120 dB; cos/sin avoid the phase's wrap-around; one channel (mono) and a half-width
U-Net keep it under 10 M parameters and faster than real time on one CPU thread.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from sonomorph.models.registry import register_model

__all__ = ["UNetGenerator", "PatchDiscriminator", "audio_to_image", "image_to_spectrogram",
           "chroma_filterbank", "image_chroma", "count_parameters", "CONDITIONS",
           "DEFAULT_LOG_MIN", "DEFAULT_LOG_MAX", "CHROMA_FLOOR"]

DEFAULT_LOG_MIN = math.log(1e-4)  # -80 dB re 1: the floor of the image's magnitude
DEFAULT_LOG_MAX = math.log(1e2)  # +40 dB re 1: a full-scale sine peaks near ln(256)
#: What the generator may be conditioned on besides the input image (see UNetGenerator).
CONDITIONS = ("none", "chroma")
#: Chroma power below which a frame counts as silent (its pitch classes stay at zero). A
#: voice at the pipeline's reference level (active RMS 0.05) reaches ~1e2 to 1e3 in its
#: loudest pitch class with a 1024-point Hann STFT; the image's floor gives ~1e-6.
CHROMA_FLOOR = 1e-2


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# ----------------------------------------------------------------------------- images


def audio_to_image(wav: Tensor, window: Tensor, n_fft: int, hop: int, log_min: float,
                   log_max: float) -> Tensor:
    """Mono audio ``(batch, samples)`` -> image ``(batch, 3, n_fft // 2, frames)``:
    normalised log magnitude, cos(phase), sin(phase). Frames: ``1 + samples // hop``."""
    spec = torch.stft(wav, n_fft, hop, window=window.to(wav.dtype), center=True,
                      pad_mode="reflect" if wav.shape[-1] > n_fft // 2 else "constant",
                      return_complex=True)[:, : n_fft // 2]
    mag = spec.abs()
    logmag = torch.log(mag.clamp_min(math.exp(log_min)))
    norm = ((logmag - log_min) / (log_max - log_min) * 2.0 - 1.0).clamp(-1.0, 1.0)
    unit = spec / mag.clamp_min(1e-12)
    cos = torch.where(mag > 1e-12, unit.real, torch.ones_like(mag))
    sin = torch.where(mag > 1e-12, unit.imag, torch.zeros_like(mag))
    return torch.stack([norm, cos, sin], dim=1)


def image_to_spectrogram(image: Tensor, log_min: float, log_max: float) -> tuple[Tensor, Tensor]:
    """Image ``(batch, 3, bins, frames)`` -> (magnitude, unit phase) each ``(batch, bins + 1,
    frames)`` with the Nyquist bin restored as zero magnitude. Magnitudes at the floor
    (-1) become exactly zero, so a silent image decodes to silence."""
    norm = image[:, 0].clamp(-1.0, 1.0)
    mag = torch.exp(log_min + (norm + 1.0) * 0.5 * (log_max - log_min))
    mag = torch.where(norm <= -1.0 + 1e-6, torch.zeros_like(mag), mag)
    phase = torch.complex(image[:, 1], image[:, 2])
    phase = phase / phase.abs().clamp_min(1e-8)
    pad = (0, 0, 0, 1)
    return nn.functional.pad(mag, pad), nn.functional.pad(phase, pad)


def chroma_filterbank(sample_rate: int, n_fft: int) -> Tensor:
    """``(12, n_fft // 2)``: librosa's chroma filter bank (C first, tuning fixed at A440)
    over the image's bins (the Nyquist bin dropped, as the image drops it)."""
    import librosa
    import numpy as np

    fb = librosa.filters.chroma(sr=sample_rate, n_fft=n_fft, tuning=0.0)[:, : n_fft // 2]
    return torch.from_numpy(np.ascontiguousarray(fb, dtype=np.float32))


def image_chroma(image: Tensor, filterbank: Tensor, log_min: float, log_max: float,
                 floor: float = CHROMA_FLOOR) -> Tensor:
    """The pitch-class track ``(batch, 12, frames)`` of an image ``(batch, C, bins,
    frames)`` read from its log-magnitude plane: per frame, the filter bank applied to the
    power spectrum, divided by the frame's loudest pitch class (or by ``floor`` when that
    is quieter, so silence gives zeros), in [0, 1]."""
    norm = image[:, 0].clamp(-1.0, 1.0)
    power = torch.exp(2.0 * (log_min + (norm + 1.0) * 0.5 * (log_max - log_min)))
    power = torch.where(norm <= -1.0 + 1e-6, torch.zeros_like(power), power)
    chroma = torch.einsum("cf,bft->bct", filterbank.to(power.dtype), power)
    return chroma / chroma.amax(dim=1, keepdim=True).clamp_min(floor)


# ----------------------------------------------------------------------------- generator


class _Down(nn.Sequential):
    def __init__(self, cin: int, cout: int, norm: bool) -> None:
        layers: list[nn.Module] = [nn.Conv2d(cin, cout, 4, 2, 1, bias=not norm)]
        if norm:
            layers.append(nn.BatchNorm2d(cout))
        super().__init__(*layers)


class _Up(nn.Sequential):
    def __init__(self, cin: int, cout: int, dropout: float) -> None:
        layers: list[nn.Module] = [nn.ReLU(), nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False),
                                   nn.BatchNorm2d(cout)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        super().__init__(*layers)


@register_model("pix2pix_unet", kind="accompany")
class UNetGenerator(nn.Module):
    """pix2pix's U-Net: ``depth`` stride-2 4x4 convolutions down (LeakyReLU 0.2, batch norm
    but on the first and innermost), as many transposed convolutions up (ReLU, batch norm,
    dropout ``dropout`` on the ``dropout_layers`` innermost), each up-step fed the mirror
    down-step's features (skip connections), tanh output.

    ``(batch, in_channels, bins, frames)`` -> ``(batch, out_channels, bins, frames)``; bins and
    frames must be multiples of ``2 ** depth``. Widths: ``ngf * 2**i`` capped at
    ``max_channels``. The spectrogram settings (``sample_rate``, ``n_fft``, ``hop``,
    ``log_min``, ``log_max``) and ``target`` ("accompaniment" or "mixture") are recorded
    so a checkpoint says how to use it; ``window`` is a buffer.

    ``condition="chroma"`` also feeds the network the input's pitch-class track, computed
    in the model from the input's log magnitude (:func:`image_chroma`, a fixed filter bank,
    no weights): 12 planes, each pitch class's level per frame mapped to [-1, 1] and
    repeated over the bins, concatenated to the image before the first convolution. A
    U-Net's first layers see a few frames and a few bins at a time; these planes put the
    melody's pitch classes next to every bin at once. ``chroma_context`` (frames, 0: none)
    adds 12 more planes: the same track averaged over a centred window of that many frames
    (the phrase's pitch-class profile, within a tile). The input and output stay the
    3-plane images, so the pipeline and the discriminator are unchanged.
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, ngf: int = 16, depth: int = 7,
                 max_channels: int = 96, dropout: float = 0.5, dropout_layers: int = 3,
                 sample_rate: int = 22050, n_fft: int = 1024, hop: int = 256,
                 log_min: float = DEFAULT_LOG_MIN, log_max: float = DEFAULT_LOG_MAX,
                 target: str = "accompaniment", condition: str = "none",
                 chroma_context: int = 0) -> None:
        super().__init__()
        if depth < 2:
            raise ValueError(f"depth must be at least 2, got {depth}")
        if condition not in CONDITIONS:
            raise ValueError(f"condition must be one of {', '.join(CONDITIONS)}, "
                             f"got {condition!r}")
        if chroma_context < 0 or (chroma_context and condition != "chroma"):
            raise ValueError("chroma_context must be >= 0, and only with condition='chroma'")
        if target not in ("accompaniment", "mixture"):
            raise ValueError(f"target must be 'accompaniment' or 'mixture', got {target!r}")
        if (n_fft // 2) % (2 ** depth):
            raise ValueError(f"n_fft // 2 = {n_fft // 2} bins is not a multiple of 2**{depth}")
        if not log_max > log_min:
            raise ValueError("log_max must exceed log_min")
        self.in_channels, self.out_channels, self.depth = in_channels, out_channels, depth
        self.sample_rate, self.n_fft, self.hop = int(sample_rate), int(n_fft), int(hop)
        self.log_min, self.log_max, self.target = float(log_min), float(log_max), target
        self.condition, self.chroma_context = condition, int(chroma_context)
        self.condition_channels = 0 if condition == "none" else 12 * (1 + (chroma_context > 0))
        widths = [min(ngf * 2 ** i, max_channels) for i in range(depth)]
        self.downs = nn.ModuleList()
        for i in range(depth):
            cin = in_channels + self.condition_channels if i == 0 else widths[i - 1]
            self.downs.append(_Down(cin, widths[i], norm=0 < i < depth - 1))
        self.ups = nn.ModuleList()
        for i in reversed(range(1, depth)):  # from the innermost outward
            cin = widths[i] if i == depth - 1 else 2 * widths[i]
            drop = dropout if depth - 1 - i < dropout_layers else 0.0
            self.ups.append(_Up(cin, widths[i - 1], drop))
        self.final = nn.Sequential(nn.ReLU(), nn.ConvTranspose2d(2 * widths[0], out_channels,
                                                                 4, 2, 1), nn.Tanh())
        self.act = nn.LeakyReLU(0.2)
        self.register_buffer("window", torch.hann_window(self.n_fft), persistent=False)
        if self.condition_channels:  # derived from the settings: not stored in checkpoints
            self.register_buffer("chroma_fb", chroma_filterbank(self.sample_rate, self.n_fft),
                                 persistent=False)

    def condition_planes(self, x: Tensor) -> Tensor:
        """The conditioning planes ``(batch, condition_channels, bins, frames)`` of an input
        image (see the class docstring); ``(batch, 0, bins, frames)`` without a condition."""
        b, _, bins, frames = x.shape
        if not self.condition_channels:
            return x.new_zeros(b, 0, bins, frames)
        track = image_chroma(x, self.chroma_fb, self.log_min, self.log_max)
        tracks = [track]
        if self.chroma_context:
            k = self.chroma_context | 1  # odd, so the window is centred
            tracks.append(nn.functional.avg_pool1d(track, k, 1, k // 2,
                                                   count_include_pad=False))
        planes = torch.cat(tracks, dim=1) * 2.0 - 1.0
        return planes[:, :, None, :].expand(b, planes.shape[1], bins, frames)

    @property
    def multiple(self) -> int:
        """Frames and bins must be multiples of this."""
        return 2 ** self.depth

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected (batch, {self.in_channels}, bins, frames), "
                             f"got {tuple(x.shape)}")
        if x.shape[-1] % self.multiple or x.shape[-2] % self.multiple:
            raise ValueError(f"bins and frames must be multiples of {self.multiple}, "
                             f"got {tuple(x.shape[-2:])}")
        skips = []
        h = torch.cat([x, self.condition_planes(x)], dim=1) if self.condition_channels else x
        for i, down in enumerate(self.downs):
            h = down(h if i == 0 else self.act(h))
            skips.append(h)
        for j, up in enumerate(self.ups):
            h = up(h)
            h = torch.cat([h, skips[self.depth - 2 - j]], dim=1)
        return self.final(h)

    def image(self, wav: Tensor) -> Tensor:
        """Mono audio ``(batch, samples)`` at ``sample_rate`` -> this model's input image."""
        return audio_to_image(wav, self.window, self.n_fft, self.hop, self.log_min, self.log_max)

    def spectrogram(self, image: Tensor) -> tuple[Tensor, Tensor]:
        """An output image -> (magnitude, unit phase), each ``(batch, n_fft//2 + 1, frames)``."""
        return image_to_spectrogram(image, self.log_min, self.log_max)


# ----------------------------------------------------------------------------- discriminator


@register_model("patchgan", kind="discriminator")
class PatchDiscriminator(nn.Module):
    """pix2pix's PatchGAN: 4x4 convolutions, ``n_layers`` of stride 2 then one of stride 1
    (widths ``ndf * 2**i`` capped at ``8 * ndf``; LeakyReLU 0.2, batch norm but on the
    first) and a one-channel 4x4 output of logits, one per overlapping patch.

    Conditional: ``forward(condition, image)`` concatenates the input image and the real or
    generated output, so it judges whether the output fits this input. With ``n_layers=3``
    each logit sees a 70x70 patch (:meth:`receptive_field`): local texture, while the L1
    term takes care of the low frequencies of the image.
    """

    def __init__(self, in_channels: int = 6, ndf: int = 16, n_layers: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2)]
        width = ndf
        for i in range(1, n_layers + 1):
            nxt = ndf * min(2 ** i, 8)
            stride = 2 if i < n_layers else 1
            layers += [nn.Conv2d(width, nxt, 4, stride, 1, bias=False), nn.BatchNorm2d(nxt),
                       nn.LeakyReLU(0.2)]
            width = nxt
        layers.append(nn.Conv2d(width, 1, 4, 1, 1))
        self.net = nn.Sequential(*layers)
        self.in_channels = in_channels

    def forward(self, condition: Tensor, image: Tensor) -> Tensor:
        x = torch.cat([condition, image], dim=1)
        if x.shape[1] != self.in_channels:
            raise ValueError(f"condition + image have {x.shape[1]} channels, expected "
                             f"{self.in_channels}")
        return self.net(x)

    def receptive_field(self) -> int:
        """Input pixels (per side) that one output logit depends on."""
        field, jump = 1, 1
        for layer in self.net:
            if isinstance(layer, nn.Conv2d):
                field += (layer.kernel_size[0] - 1) * jump
                jump *= layer.stride[0]
        return field
