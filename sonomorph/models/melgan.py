"""Voice-to-scream generators (waveform in, waveform out) and MelGAN's multi-scale discriminator.

Both generators hold their whole front end, so an exported model needs no librosa:

    waveform (B, 1, N) at 22.05 kHz
      -> peak normalisation with a guard for silence (or a fixed gain given by the caller)
      -> log-mel (n_fft 1024, hop 256, 80 Slaney bands, log10 with floor 1e-5; conv STFT)
      -> network -> waveform (B, 1, N) at the normalised level
      -> noise gate from the input's frame energy (silence stays exactly silent)

* :class:`MelGANGenerator` (``"melgan"``) is the original design: a conv on the mel, then
  transposed convolutions upsampling x8, x8, x2, x2 with residual stacks (dilations 1, 3, 9)
  and a tanh output. ngf=32 gives the original 4.26M parameters. It is non-causal (about
  80 ms of look-ahead), fine offline.
* :class:`ISTFTGenerator` (``"scream_istft"``) is the fast one: every layer runs at the mel
  frame rate (86 frames/s): causal ConvNeXt blocks, then a head predicting log-magnitude and
  phase of a 512-point spectrum per frame, turned into audio by an inverse DFT and
  overlap-add (a ConvTranspose1d, as in Vocos / iSTFTNet). Causal convolutions and a short
  synthesis window keep its look-ahead at 766 samples (35 ms), so a streaming engine with
  256-sample blocks has 46 ms of algorithmic latency.

Each generator reports :meth:`receptive_field` ``(past, future)`` in samples: output sample
``n`` depends only on input samples ``n - past .. n + future``. The chunked and streaming
pipelines rely on it to reproduce whole-file output exactly.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import weight_norm as _weight_norm

from sonomorph.audio.spectral import MelSpectrogram, Spectrogram
from sonomorph.errors import ConfigError
from sonomorph.models.registry import register_model

__all__ = ["ScreamFrontEnd", "MelGANGenerator", "ISTFTGenerator", "MultiScaleDiscriminator",
           "NLayerDiscriminator", "fold_weight_norm", "count_parameters"]

SAMPLE_RATE = 22050
LOG_FLOOR = 1e-5


def _wn(module: nn.Module, enabled: bool) -> nn.Module:
    return _weight_norm(module) if enabled else module


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def fold_weight_norm(model: nn.Module) -> nn.Module:
    """Remove weight-norm parametrisations in place (the weights keep their current value),
    and record ``weight_norm=False`` in the model's config so that a saved checkpoint
    rebuilds without them. Inference and export are faster and the file smaller."""
    for module in model.modules():
        if parametrize.is_parametrized(module, "weight"):
            parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
    config = getattr(model, "_sonomorph_config", None)
    if config is not None and "weight_norm" in config["args"]:
        config["args"]["weight_norm"] = False
    return model


# ----------------------------------------------------------------------------- front end


def _drop_derived(module: nn.Module, state_dict: dict, prefix: str, *args) -> None:
    """Load-time hook: ignore derived front-end buffers that older checkpoints stored."""
    for owner, name in ScreamFrontEnd.DERIVED:
        state_dict.pop(f"{prefix}{owner}.{name}", None)


class ScreamFrontEnd(nn.Module):
    """Gain, log-mel and a noise-gate envelope: what both generators share.

    ``gain(x, gain)`` is ``1 / max(peak, peak_guard)`` per item when ``gain`` is None or
    not positive (so silence is not blown up to full scale), else the given gain.
    ``gate(x)`` is a per-frame value in [0, 1] from the frame RMS of the gained input in dB
    (0 below ``gate_low_db``, 1 above ``gate_high_db``), computed on the same frames as the
    mel. Frames are centred on ``t * hop`` with zero padding, so frame ``t`` needs the input
    up to ``t * hop + n_fft / 2``: nothing depends on the far future.
    """

    def __init__(self, sample_rate: int, n_fft: int, hop_length: int, n_mels: int,
                 peak_guard: float, gate_low_db: float, gate_high_db: float,
                 pad_mode: str) -> None:
        super().__init__()
        if not 0 < peak_guard <= 1:
            raise ConfigError(f"peak_guard must be in (0, 1], got {peak_guard}")
        if not gate_low_db < gate_high_db:
            raise ConfigError("gate_low_db must be below gate_high_db")
        self.n_fft, self.hop_length, self.peak_guard = n_fft, hop_length, float(peak_guard)
        self.gate_low_db, self.gate_high_db = float(gate_low_db), float(gate_high_db)
        self.pad_mode = pad_mode
        self.mel = MelSpectrogram(sample_rate, n_fft, hop_length, n_mels, power=1.0, log=True,
                                  log_floor=LOG_FLOOR, log_base="10", backend="conv",
                                  center=True, pad_mode=pad_mode)
        # The window, DFT basis and filterbank follow from the settings: they are rebuilt on
        # construction, not stored in checkpoints (the DFT basis alone is 4 MB).
        for owner, name in self.DERIVED:
            module = self.get_submodule(owner)
            value = getattr(module, name)
            delattr(module, name)
            module.register_buffer(name, value, persistent=False)
        self.register_load_state_dict_pre_hook(_drop_derived)

    DERIVED = (("mel.spectrogram", "window"), ("mel.spectrogram", "basis"), ("mel", "mel_basis"))

    def gain(self, x: Tensor, gain: Tensor | None = None) -> Tensor:
        """Per-item gain, shape (B, 1, 1)."""
        peak = x.abs().amax(dim=(1, 2), keepdim=True)
        auto = 1.0 / peak.clamp_min(self.peak_guard)
        if gain is None:
            return auto
        gain = gain.to(x.dtype).reshape(-1, 1, 1)
        return torch.where(gain > 0, gain, auto)

    def gate(self, x: Tensor) -> Tensor:
        """(B, 1, frames) gate values in [0, 1] for the (already gained) input."""
        half = self.n_fft // 2
        power = F.avg_pool1d(F.pad(x * x, (half, half)), self.n_fft, self.hop_length)
        db = 10.0 * torch.log10(power + 1e-20)
        return ((db - self.gate_low_db) / (self.gate_high_db - self.gate_low_db)).clamp(0.0, 1.0)

    def forward(self, x: Tensor) -> Tensor:
        """(B, 1, N) gained waveform -> (B, n_mels, frames) log10-mel."""
        return self.mel(x.squeeze(1))


def envelope_ola(frames: Tensor, hop: int) -> Tensor:
    """Overlap-add of Hann windows of 2*hop weighted by a (B, 1, T) frame envelope: frame t
    covers output ``[t * hop, t * hop + 2 * hop)`` (index 0 = time -hop)."""
    window = torch.hann_window(2 * hop, periodic=True, dtype=frames.dtype, device=frames.device)
    return F.conv_transpose1d(frames, window.view(1, 1, -1), stride=hop)


def _frames_to_samples(frames: Tensor, hop: int, length: int) -> Tensor:
    """Upsample a (B, 1, T) frame-rate envelope to (B, 1, length) samples, frame t centred
    on sample t * hop (a smooth, exactly COLA interpolation)."""
    return envelope_ola(frames, hop)[..., hop: hop + length]


def _check_common(sample_rate: int, n_fft: int, hop_length: int, n_mels: int) -> None:
    if sample_rate <= 0 or n_mels < 1 or hop_length < 1 or n_fft < hop_length:
        raise ConfigError(f"bad front-end settings: sample_rate={sample_rate}, n_fft={n_fft}, "
                          f"hop_length={hop_length}, n_mels={n_mels}")


class _ScreamGenerator(nn.Module):
    """What the pipelines use of a generator: the front end, the gate, ``forward(x, gain)``
    and the receptive field."""

    sample_rate: int
    hop_length: int
    front: ScreamFrontEnd

    def synthesize(self, mel: Tensor, length: int, wave: Tensor) -> Tensor:
        """(B, n_mels, frames) log-mel of the (B, 1, length) gained input ``wave`` ->
        (B, 1, length) waveform (before the gate)."""
        raise NotImplementedError

    def receptive_field(self) -> tuple[int, int]:
        raise NotImplementedError

    def forward(self, x: Tensor, gain: Tensor | None = None) -> Tensor:
        """(B, 1, N) waveform -> (B, 1, N) scream at the normalised level.

        ``gain`` (shape (B,) or a scalar tensor): a fixed input gain; None or a value <= 0
        means peak normalisation of each item (with the silence guard).
        """
        if x.ndim != 3 or x.shape[1] != 1:
            raise ValueError(f"expected a (batch, 1, samples) waveform, got {tuple(x.shape)}")
        n = x.shape[-1]
        x = x * self.front.gain(x, gain)
        mel = self.front(x)
        y = self.synthesize(mel, n, x)
        gate = _frames_to_samples(self.front.gate(x), self.hop_length, n)
        return y * gate

    def content_mel(self, wav: Tensor) -> Tensor:
        """Log-mel of a (B, 1, N) waveform after peak normalisation, for content losses."""
        return self.front(wav * self.front.gain(wav))


# ----------------------------------------------------------------------------- MelGAN


class _ResidualUnit(nn.Module):
    """MelGAN residual block: LReLU, reflect-padded dilated conv k3, LReLU, 1x1; 1x1 shortcut."""

    def __init__(self, channels: int, dilation: int, wn: bool) -> None:
        super().__init__()
        self.dilation = dilation
        self.conv = _wn(nn.Conv1d(channels, channels, 3, dilation=dilation), wn)
        self.proj = _wn(nn.Conv1d(channels, channels, 1), wn)
        self.shortcut = _wn(nn.Conv1d(channels, channels, 1), wn)

    def forward(self, x: Tensor) -> Tensor:
        h = F.pad(F.leaky_relu(x, 0.2), (self.dilation, self.dilation), mode="reflect")
        h = self.proj(F.leaky_relu(self.conv(h), 0.2))
        return self.shortcut(x) + h


@register_model("melgan", kind="scream")
class MelGANGenerator(_ScreamGenerator):
    """The original MelGAN generator behind a waveform front end (see the module docstring).

    ``ngf`` sets the width (channels ``ngf * 2**len(ratios)`` after the first conv, halved
    at each upsampling); the product of ``ratios`` must equal ``hop_length``.
    """

    def __init__(self, sample_rate: int = SAMPLE_RATE, n_fft: int = 1024, hop_length: int = 256,
                 n_mels: int = 80, ngf: int = 32, ratios: list[int] | None = None,
                 dilations: list[int] | None = None, weight_norm: bool = True,
                 peak_guard: float = 0.01, gate_low_db: float = -75.0,
                 gate_high_db: float = -60.0) -> None:
        super().__init__()
        ratios = [8, 8, 2, 2] if ratios is None else list(ratios)
        dilations = [1, 3, 9] if dilations is None else list(dilations)
        _check_common(sample_rate, n_fft, hop_length, n_mels)
        if math.prod(ratios) != hop_length:
            raise ConfigError(f"upsampling ratios {ratios} must multiply to hop_length={hop_length}")
        self.sample_rate, self.hop_length, self.n_fft = sample_rate, hop_length, n_fft
        self.ratios, self.dilations = ratios, dilations
        self.front = ScreamFrontEnd(sample_rate, n_fft, hop_length, n_mels, peak_guard,
                                    gate_low_db, gate_high_db, pad_mode="reflect")
        ch = ngf * 2 ** len(ratios)
        self.conv_in = _wn(nn.Conv1d(n_mels, ch, 7), weight_norm)
        self.ups = nn.ModuleList()
        self.stacks = nn.ModuleList()
        for r in ratios:
            self.ups.append(_wn(nn.ConvTranspose1d(ch, ch // 2, 2 * r, stride=r,
                                                   padding=r // 2 + r % 2, output_padding=r % 2),
                                weight_norm))
            ch //= 2
            self.stacks.append(nn.Sequential(*[_ResidualUnit(ch, d, weight_norm)
                                               for d in dilations]))
        self.conv_out = _wn(nn.Conv1d(ch, 1, 7), weight_norm)

    def synthesize(self, mel: Tensor, length: int, wave: Tensor | None = None) -> Tensor:
        h = self.conv_in(F.pad(mel, (3, 3), mode="reflect"))
        for up, stack in zip(self.ups, self.stacks):
            h = stack(up(F.leaky_relu(h, 0.2)))
        h = self.conv_out(F.pad(F.leaky_relu(h, 0.2), (3, 3), mode="reflect"))
        return torch.tanh(h)[..., :length]

    def receptive_field(self) -> tuple[int, int]:
        """(past, future) samples, propagated layer by layer (reflect edges ignored)."""
        stack = sum(self.dilations)
        worst_past = worst_future = 0
        for n in range(10 * self.hop_length, 11 * self.hop_length):
            lo, hi = n - 3 - stack, n + 3 + stack  # conv_out, last stack
            rate = 1
            for i, r in reversed(list(enumerate(self.ratios))):
                p = r // 2 + r % 2  # transposed conv: out j <- in i with j = i*r - p + k
                lo, hi = -((-(lo + p - 2 * r + 1)) // r), (hi + p) // r
                rate *= r
                if i > 0:
                    lo, hi = lo - stack, hi + stack
            lo, hi = lo - 3, hi + 3  # conv_in on frames
            first, last = lo * self.hop_length - self.n_fft // 2, hi * self.hop_length + self.n_fft // 2 - 1
            worst_past, worst_future = max(worst_past, n - first), max(worst_future, last - n)
        return worst_past, worst_future


# ----------------------------------------------------------------------------- iSTFT head


def conv_few(conv: nn.Conv1d, x: Tensor) -> Tensor:
    """``conv(x)`` (no padding, stride 1, groups 1 or depthwise) as unfold + einsum: the
    same numbers, without conv1d's large per-call cost on the few frames of a stream."""
    w = conv.weight
    cols = x.unfold(-1, w.shape[-1], 1)  # (B, C, T, k)
    if conv.groups == 1:
        y = torch.einsum("bctk,ock->bot", cols, w)
    else:
        y = (cols * w[:, 0, None, :]).sum(-1)
    return y + conv.bias[None, :, None] if conv.bias is not None else y


class _CausalConvNeXt(nn.Module):
    """ConvNeXt block on frames: causal depthwise conv, LayerNorm, MLP (GELU), layer scale."""

    def __init__(self, dim: int, hidden: int, kernel: int, wn: bool) -> None:
        super().__init__()
        self.kernel = kernel
        self.dw = _wn(nn.Conv1d(dim, dim, kernel, groups=dim), wn)
        self.norm = nn.LayerNorm(dim)
        self.fc1 = _wn(nn.Linear(dim, hidden), wn)
        self.fc2 = _wn(nn.Linear(hidden, dim), wn)
        self.scale = nn.Parameter(torch.full((dim,), 0.1))

    def forward(self, x: Tensor, history: Tensor | None = None) -> Tensor:
        """(B, dim, T) -> (B, dim, T). ``history``: the kernel - 1 frames before ``x``
        (streaming); None means zeros (the start of a signal)."""
        if history is None:
            h = self.dw(F.pad(x, (self.kernel - 1, 0)))
        else:
            h = conv_few(self.dw, torch.cat([history, x], -1))
        h = h.transpose(1, 2)
        h = self.fc2(F.gelu(self.fc1(self.norm(h)))) * self.scale
        return x + h.transpose(1, 2)


@register_model("scream_istft", kind="scream")
class ISTFTGenerator(_ScreamGenerator):
    """Fast generator: frame-rate causal ConvNeXt and an inverse-DFT overlap-add head.

    ``lookahead`` (frames, 0 or more) lets the first conv see that many future mel frames
    (each adds ``hop_length`` samples of latency). The synthesis window is a periodic Hann
    of ``2 * hop`` samples (it sums to one at hop ``hop``).

    ``phase``: ``"free"`` predicts each bin's phase outright (Vocos); ``"input"`` takes the
    phase of the input's own STFT (same window and hop) and predicts only an offset. An
    outright phase must learn to advance coherently from frame to frame, which takes long
    training (until then the output buzzes at the frame rate); the input's phase already
    does, and voice-to-scream keeps the input's timing and pitch.
    """

    def __init__(self, sample_rate: int = SAMPLE_RATE, n_fft: int = 1024, hop_length: int = 256,
                 n_mels: int = 80, dim: int = 128, hidden: int = 384, n_blocks: int = 6,
                 kernel_size: int = 7, lookahead: int = 0, weight_norm: bool = False,
                 peak_guard: float = 0.01, gate_low_db: float = -75.0,
                 gate_high_db: float = -60.0, max_log_magnitude: float = 4.0,
                 phase: str = "free") -> None:
        super().__init__()
        _check_common(sample_rate, n_fft, hop_length, n_mels)
        if phase not in ("free", "input"):
            raise ConfigError(f"phase must be 'free' or 'input', got {phase!r}")
        self.phase = phase
        if not 0 <= lookahead < kernel_size:
            raise ConfigError(f"lookahead must be in [0, {kernel_size}), got {lookahead}")
        self.sample_rate, self.hop_length, self.n_fft = sample_rate, hop_length, n_fft
        self.kernel_size, self.n_blocks, self.lookahead = kernel_size, n_blocks, lookahead
        self.max_log_magnitude = float(max_log_magnitude)
        self.front = ScreamFrontEnd(sample_rate, n_fft, hop_length, n_mels, peak_guard,
                                    gate_low_db, gate_high_db, pad_mode="constant")
        self.conv_in = _wn(nn.Conv1d(n_mels, dim, kernel_size), weight_norm)
        self.blocks = nn.ModuleList([_CausalConvNeXt(dim, hidden, kernel_size, weight_norm)
                                     for _ in range(n_blocks)])
        self.norm = nn.LayerNorm(dim)
        self.out_n_fft = 2 * hop_length
        self.n_bins = self.out_n_fft // 2 + 1
        self.head = _wn(nn.Linear(dim, 2 * self.n_bins), weight_norm)
        self.register_buffer("synthesis", self._synthesis_basis(), persistent=False)
        if phase == "input":  # windowed DFT rows (cos, then -sin) of the synthesis frames
            basis = Spectrogram(self.out_n_fft, hop_length, backend="conv").basis
            self.register_buffer("analysis", basis, persistent=False)

    def _synthesis_basis(self) -> Tensor:
        """(2 * bins, 1, out_n_fft): windowed inverse real DFT rows (real parts then imaginary
        parts), so conv_transpose1d with stride hop is irfft + window + overlap-add."""
        n_fft = self.out_n_fft
        k = torch.arange(self.n_bins, dtype=torch.int64)[:, None]
        n = torch.arange(n_fft, dtype=torch.int64)[None, :]
        angle = ((k * n) % n_fft).to(torch.float64) * (2 * math.pi / n_fft)
        weight = torch.full((self.n_bins, 1), 2.0, dtype=torch.float64)
        weight[0] = weight[-1] = 1.0
        window = torch.hann_window(n_fft, periodic=True, dtype=torch.float64)
        real = weight * torch.cos(angle) * window / n_fft
        imag = -weight * torch.sin(angle) * window / n_fft
        return torch.cat([real, imag]).unsqueeze(1).to(torch.float32)

    def input_phasors(self, spec: Tensor) -> Tensor:
        """(B, 2 * bins, T) real and imaginary parts of the input's windowed DFT (frame t =
        samples ``[t * hop - hop, t * hop + hop)``) -> unit phasors (0 where a bin is silent)."""
        re, im = spec[:, : self.n_bins], spec[:, self.n_bins:]
        norm = torch.sqrt(re * re + im * im).clamp_min(1e-9)
        return torch.cat([re / norm, im / norm], dim=1)

    def input_spectrum(self, wave: Tensor) -> Tensor:
        """(B, 1, N) -> (B, 2 * bins, 1 + N // hop): the synthesis frames' DFT of the input
        (zero padded; a strided conv, so it exports to ONNX)."""
        hop = self.hop_length
        return F.conv1d(F.pad(wave, (hop, hop)), self.analysis.to(wave.dtype), stride=hop)

    def coefficients(self, h: Tensor, phasors: Tensor | None = None) -> Tensor:
        """(B, dim, T) network frames -> (B, 2 * bins, T) real and imaginary DFT coefficients;
        with ``phasors`` (``phase="input"``) the predicted phase is an offset from them."""
        spec = self.head(self.norm(h.transpose(1, 2))).transpose(1, 2)
        log_mag, phase = spec[:, : self.n_bins], spec[:, self.n_bins:]
        mag = torch.exp(log_mag.clamp(max=self.max_log_magnitude))
        cos, sin = torch.cos(phase), torch.sin(phase)
        if phasors is None:
            return torch.cat([mag * cos, mag * sin], dim=1)
        ur, ui = phasors[:, : self.n_bins], phasors[:, self.n_bins:]
        return torch.cat([mag * (ur * cos - ui * sin), mag * (ur * sin + ui * cos)], dim=1)

    def overlap_add(self, coeffs: Tensor) -> Tensor:
        """Inverse DFT, synthesis window and overlap-add: frame t covers samples
        ``[t * hop - hop, t * hop + hop)`` of the output (index 0 = time -hop)."""
        return F.conv_transpose1d(coeffs, self.synthesis.to(coeffs.dtype), stride=self.hop_length)

    def synthesize(self, mel: Tensor, length: int, wave: Tensor | None = None) -> Tensor:
        pad = self.kernel_size - 1
        h = self.conv_in(F.pad(mel, (pad - self.lookahead, self.lookahead)))
        for block in self.blocks:
            h = block(h)
        phasors = None
        if self.phase == "input":
            if wave is None:
                raise ValueError("phase='input' needs the input waveform")
            phasors = self.input_phasors(self.input_spectrum(wave))
        start = self.out_n_fft // 2
        return self.overlap_add(self.coefficients(h, phasors))[..., start: start + length]

    def receptive_field(self) -> tuple[int, int]:
        """(past, future) samples. Output sample n gets frames t with |n - t*hop| < hop;
        each sees frames t - R .. t + lookahead, each framed over +- n_fft / 2 samples."""
        hop, half = self.hop_length, self.n_fft // 2
        past_frames = (self.kernel_size - 1 - self.lookahead) + self.n_blocks * (self.kernel_size - 1)
        past = (hop - 1) + past_frames * hop + half
        future = (hop - 1) + self.lookahead * hop + half - 1
        return past, future


# ----------------------------------------------------------------------------- discriminators


class NLayerDiscriminator(nn.Module):
    """MelGAN's waveform discriminator: a wide conv, strided grouped convs (kernel 41,
    stride ``downsample``), two plain convs; returns every layer's output (the last is the
    logit map) so feature matching can use them."""

    def __init__(self, ndf: int = 16, n_layers: int = 4, downsample: int = 4,
                 max_channels: int = 1024, weight_norm: bool = True) -> None:
        super().__init__()
        layers = [nn.Sequential(nn.ReflectionPad1d(7), _wn(nn.Conv1d(1, ndf, 15), weight_norm),
                                nn.LeakyReLU(0.2))]
        ch = ndf
        for _ in range(n_layers):
            nxt = min(ch * downsample, max_channels)
            layers.append(nn.Sequential(
                _wn(nn.Conv1d(ch, nxt, downsample * 10 + 1, stride=downsample,
                              padding=downsample * 5, groups=math.gcd(max(1, ch // 4), nxt)),
                    weight_norm),
                nn.LeakyReLU(0.2)))
            ch = nxt
        nxt = min(ch * 2, max_channels)
        layers.append(nn.Sequential(_wn(nn.Conv1d(ch, nxt, 5, padding=2), weight_norm),
                                    nn.LeakyReLU(0.2)))
        layers.append(_wn(nn.Conv1d(nxt, 1, 3, padding=1), weight_norm))
        self.layers = nn.ModuleList(layers)

    def forward(self, x: Tensor) -> list[Tensor]:
        feats = []
        for layer in self.layers:
            x = layer(x)
            feats.append(x)
        return feats


@register_model("melgan_msd", kind="scream_discriminator")
class MultiScaleDiscriminator(nn.Module):
    """Three (``n_scales``) :class:`NLayerDiscriminator` on the raw, 2x and 4x average-pooled
    waveform. ``forward`` returns one feature list per scale."""

    def __init__(self, n_scales: int = 3, ndf: int = 16, n_layers: int = 4, downsample: int = 4,
                 max_channels: int = 1024, weight_norm: bool = True) -> None:
        super().__init__()
        self.discriminators = nn.ModuleList([
            NLayerDiscriminator(ndf, n_layers, downsample, max_channels, weight_norm)
            for _ in range(n_scales)])

    def forward(self, x: Tensor) -> list[list[Tensor]]:
        outs = []
        for i, disc in enumerate(self.discriminators):
            if i:
                x = F.avg_pool1d(x, 4, stride=2, padding=1, count_include_pad=False)
            outs.append(disc(x))
        return outs

