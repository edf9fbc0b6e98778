"""Batch augmentation of separation stems on tensors, for training a separator.

Each function takes a batch of stems ``(B, C, N)`` (vocals and accompaniment) and keeps
``mixture = vocals + accompaniment`` true, so a separator can be trained on the augmented
pair: varispeed (:func:`varispeed_batch`), a look-ahead peak limiter on the mixture
(:func:`limit_batch`), and all of them with solo stems, band limits and levels drawn per
example (:func:`augment_batch`). :func:`coloured_noise` gives the noise that stands in for
music in a separator's pre-training. They run on whatever device the batch is on, inside the
training step; :mod:`sonomorph.data.mixing` holds the per-example numpy augmentation of the
corpus builders and on-the-fly mixes.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["coloured_noise", "varispeed_batch", "limit_batch", "augment_batch"]


def coloured_noise(shape: tuple[int, ...], generator: torch.Generator | None = None) -> Tensor:
    """Unit-RMS noise with a random 1/f^a spectrum (a uniform in [0, 2]: white to brown)
    per example, shaped ``(B, C, N)``; the channels share the colour."""
    b, c, n = shape
    white = torch.randn(shape, generator=generator)
    slope = torch.rand(b, 1, 1, generator=generator) * 2.0
    spec = torch.fft.rfft(white, dim=-1)
    freqs = torch.arange(spec.shape[-1], dtype=torch.float32).clamp_min(1.0)
    spec = spec * freqs.pow(-slope / 2.0)
    noise = torch.fft.irfft(spec, n=n, dim=-1)
    return noise / noise.pow(2).mean(dim=(1, 2), keepdim=True).sqrt().clamp_min(1e-8)


def varispeed_batch(x: Tensor, ratio: Tensor, length: int) -> Tensor:
    """Play each example of ``x`` ``(B, C, N)`` at ``ratio`` times its speed (pitch and tempo
    together, by linear interpolation) and keep the first ``length`` samples. ``ratio`` is
    ``(B,)``; an example needs ``N >= (length - 1) * ratio + 1`` input samples (shorter
    inputs repeat their last sample). A ratio of exactly 1 returns the input unchanged."""
    n = x.shape[-1]
    pos = torch.arange(length, dtype=torch.float64, device=x.device)[None] * ratio[:, None].double()
    pos = pos.clamp(max=n - 1)
    lo = pos.floor().long()
    frac = (pos - lo).to(x.dtype)[:, None, :]
    hi = (lo + 1).clamp(max=n - 1)
    idx_lo = lo[:, None, :].expand(-1, x.shape[1], -1)
    idx_hi = hi[:, None, :].expand(-1, x.shape[1], -1)
    return torch.gather(x, -1, idx_lo) * (1 - frac) + torch.gather(x, -1, idx_hi) * frac


def limit_batch(vocals: Tensor, acc: Tensor, drive_db: Tensor, sample_rate: int,
                window_s: float = 0.01, block: int = 64) -> tuple[Tensor, Tensor]:
    """A look-ahead peak limiter on the mixture ``vocals + acc`` after ``drive_db`` ``(B,)`` of
    gain: one smooth gain curve multiplies both stems, so the limited mixture is still their
    sum and its peaks stay at or below full scale, as on a loud master.

    The gain is computed on the peak envelope in blocks of ``block`` samples (cheap): held at
    its minimum over ``window_s`` on each side of every peak, smoothed over ``window_s``, then
    interpolated back to the sample rate. The hold is twice as wide as the smoothing, so the
    gain on every sample of a block is at most 1 / that block's peak."""
    b, _, n = vocals.shape
    drive = torch.pow(10.0, drive_db / 20.0)[:, None, None]
    level = ((vocals + acc) * drive).abs().amax(dim=1)  # (B, N)
    pad = (-n) % block
    env = nn.functional.pad(level, (0, pad)).reshape(b, 1, -1, block).amax(-1)  # (B, 1, M)
    k = max(3, int(round(window_s * sample_rate / block)) | 1)
    gain = (1.0 / env.clamp_min(1e-8)).clamp(max=1.0)
    gain = -nn.functional.max_pool1d(-gain, 2 * k + 1, stride=1, padding=k)
    gain = nn.functional.avg_pool1d(gain, k, stride=1, padding=k // 2, count_include_pad=False)
    gain = nn.functional.interpolate(gain, size=env.shape[-1] * block, mode="linear",
                                     align_corners=False)[..., :n]
    g = drive * gain
    return vocals * g, acc * g


def augment_batch(vocals: Tensor, acc: Tensor, sample_rate: int, *,
                  level_db: tuple[float, float] = (-30.0, 0.0), lowpass_probability: float = 0.5,
                  lowpass_hz: tuple[float, float] = (5000.0, 20000.0),
                  speed_range: tuple[float, float] = (1.0, 1.0), speed_probability: float = 0.0,
                  length: int | None = None, limiter_probability: float = 0.0,
                  limiter_drive_db: tuple[float, float] = (0.0, 12.0),
                  solo_probability: float = 0.0,
                  generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Varispeed, limiter, level and bandwidth augmentation of a batch of stems
    ``(B, C, N)``, the same for both stems of an example (varispeed excepted: each stem gets
    its own ratio, as stems from different songs would) so that mixture = vocals +
    accompaniment still holds. Returns stems of ``length`` samples (default ``N``; give the
    inputs enough extra samples for the fastest ratio: ``N >= length * speed_range[1]``).

    - *Varispeed*: with ``speed_probability`` a stem plays at a random ratio in
      ``speed_range`` (pitch and tempo move together, as a tape or a resampler does).
    - *Solo*: with ``solo_probability`` an example loses one of its stems (vocals or
      accompaniment, equally likely): the network learns that music alone has no voice and
      a voice alone no accompaniment.
    - *Limiter*: with ``limiter_probability`` an example goes into :func:`limit_batch` with a
      random drive in ``limiter_drive_db``.

    - *Band limit*: with ``lowpass_probability`` an example loses everything above a random
      frequency in ``lowpass_hz`` (a 500-Hz raised-cosine edge), as an MP3, Ogg or AAC file
      does. Without it a network trained on full-band stems reads an empty top octave as
      "no voice here" and returns near-silent vocals for every lossy file.
    - *Level*: a random gain in ``level_db`` per example, then scaled down if the mixture's
      peak would pass full scale: quiet and loud songs give the same mask.
    """
    b, _, n = vocals.shape
    dev = vocals.device
    length = n if length is None else int(length)
    if length > n:
        raise ValueError(f"length {length} is longer than the stems ({n} samples)")
    if speed_probability > 0 and speed_range != (1.0, 1.0):
        lo_r, hi_r = speed_range
        stems = []
        for x in (vocals, acc):
            r = lo_r + (hi_r - lo_r) * torch.rand(b, generator=generator)
            keep = torch.rand(b, generator=generator) >= speed_probability
            r = torch.where(keep, torch.ones_like(r), r).to(dev)
            stems.append(varispeed_batch(x, r, length))
        vocals, acc = stems
    else:
        vocals, acc = vocals[..., :length], acc[..., :length]
    n = length
    if solo_probability > 0:
        solo = torch.rand(b, generator=generator) < solo_probability
        which = torch.rand(b, generator=generator) < 0.5
        vocals = vocals * (~(solo & which)).to(vocals.dtype).to(dev)[:, None, None]
        acc = acc * (~(solo & ~which)).to(acc.dtype).to(dev)[:, None, None]
    if limiter_probability > 0:
        lo_d, hi_d = limiter_drive_db
        drive = lo_d + (hi_d - lo_d) * torch.rand(b, generator=generator)
        on = torch.rand(b, generator=generator) < limiter_probability
        if bool(on.any()):
            idx = on.nonzero().squeeze(1).to(dev)
            lv, la = limit_batch(vocals[idx], acc[idx], drive.to(dev)[idx], sample_rate)
            vocals, acc = vocals.index_copy(0, idx, lv), acc.index_copy(0, idx, la)
    if lowpass_probability > 0:
        freqs = torch.fft.rfftfreq(n, 1.0 / sample_rate).to(dev)  # (n//2+1,)
        lo, hi = lowpass_hz
        cut = lo + (hi - lo) * torch.rand(b, 1, 1, generator=generator).to(dev)
        on = (torch.rand(b, 1, 1, generator=generator) < lowpass_probability).to(dev)
        edge = 500.0
        t = ((freqs - cut) / edge).clamp(0.0, 1.0)
        gain = torch.where(on, 0.5 * (1.0 + torch.cos(math.pi * t)), torch.ones_like(t))
        vocals = torch.fft.irfft(torch.fft.rfft(vocals, dim=-1) * gain, n=n, dim=-1)
        acc = torch.fft.irfft(torch.fft.rfft(acc, dim=-1) * gain, n=n, dim=-1)
    lo_db, hi_db = level_db
    db = lo_db + (hi_db - lo_db) * torch.rand(b, 1, 1, generator=generator).to(dev)
    g = torch.pow(10.0, db / 20.0)
    peak = ((vocals + acc) * g).abs().amax(dim=(1, 2), keepdim=True)
    g = g / peak.clamp_min(1.0)
    return vocals * g, acc * g
