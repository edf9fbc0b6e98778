"""The speaker method's envelope match gives the content the style's average spectrum.

Built by hand: the content is flat over frequency, the style rises by a known slope; after
matching, the content's voiced-frame mean log spectrum has the style's slope, within the
gain limit, and the content's frame-to-frame pattern (its words) is unchanged.
"""

from __future__ import annotations

import math

import torch

from sonomorph.pipelines.style_speaker import _match_envelope


def _spectrogram(level_per_bin: torch.Tensor, pattern: torch.Tensor) -> torch.Tensor:
    """log1p of magnitude = exp(level per bin) x a frame pattern, shape (1, freq, frames)."""
    return torch.log1p(torch.exp(level_per_bin)[:, None] * pattern[None, :])[None]


def test_the_content_takes_the_style_slope_and_keeps_its_frames():
    bins, frames = 257, 40
    pattern = 1.0 + 0.5 * torch.sin(torch.arange(frames, dtype=torch.float64))
    content = _spectrogram(torch.zeros(bins, dtype=torch.float64), pattern)
    slope = torch.linspace(-1.0, 1.0, bins, dtype=torch.float64)  # natural log: +-8.7 dB
    style = _spectrogram(slope, torch.ones(frames, dtype=torch.float64))
    out, gain_db = _match_envelope(content, style, max_db=12.0, bin_hz=31.25)
    mag = torch.expm1(out[0])
    level = torch.log(mag).mean(dim=1)  # the style's mean log spectrum is the slope
    inner = slice(10, bins - 10)  # the smoothing window reaches past the ends there
    assert torch.allclose(level[inner], slope[inner], atol=1e-6)
    ratio = mag / mag[:, :1]  # every bin keeps the content's frame pattern
    assert torch.allclose(ratio, (pattern / pattern[0]).expand_as(ratio), rtol=1e-9)
    offset = float(torch.log(pattern).mean())  # the content's own mean level
    expected_db = float((slope - offset).abs().mean()) * 20 / math.log(10)
    assert abs(gain_db - expected_db) < 0.3


def test_the_gain_stays_within_its_limit():
    bins, frames = 129, 10
    content = _spectrogram(torch.zeros(bins), torch.ones(frames))
    style = _spectrogram(torch.full((bins,), 5.0), torch.ones(frames))  # +43 dB everywhere
    out, gain_db = _match_envelope(content, style, max_db=6.0, bin_hz=62.5)
    assert abs(gain_db - 6.0) < 1e-3
    assert torch.allclose(torch.log(torch.expm1(out[0])), torch.full((bins, frames),
                          6.0 / 20 * math.log(10)), atol=1e-4)
