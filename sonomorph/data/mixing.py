"""On-the-fly training mixes and audio augmentation.

:class:`OnTheFlyMixes` turns any folder of vocals and any folder of music into an endless
supply of (mixture, vocals, accompaniment) examples: a random crop of each, each
augmented independently, mixed at a vocal-to-music ratio drawn from ``snr_db``.
:class:`Augment` is the augmentation chain: gain, random EQ (RBJ biquad shelves and
peaks), synthetic reverb (exponentially decaying noise) and pitch shift.

The pitch shift is a resampling ("varispeed") shift: it reads ``ratio`` times more
input and resamples it to the segment length, so the pitch moves by the ratio and the
tempo with it. It costs one polyphase resampling instead of the phase vocoder of
``librosa.effects.pitch_shift`` (tens of times slower), and for training a separator
the coupled tempo change is harmless.

Everything is drawn from the item's generator (:func:`sonomorph.train.distributed.sample_rng`),
so a mix is reproducible from ``(seed, epoch, index)``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np
import scipy.signal
import torch
from torch.utils.data import Dataset

from sonomorph.data.datasets import FolderSegments, _Epochs, _tensor

PEAK = 0.99


@dataclass(frozen=True)
class AugmentDraw:
    """One draw of :class:`Augment`'s random parameters for one segment."""

    gain: float
    eq: tuple[tuple[str, float, float, float], ...]  # (kind, freq Hz, gain dB, Q)
    reverb: tuple[float, float, float, int] | None  # (rt60 s, predelay s, wet, noise seed)
    ratio: float  # pitch ratio (1 = unchanged)


@dataclass
class Augment:
    """Random gain, EQ, reverb and pitch shift; probabilities of 0 switch a part off.

    Use :meth:`draw` for the parameters, :meth:`frames_needed` for how much input to
    read (the pitch shift consumes ``ratio`` times the output length), then
    :meth:`apply`. ``Augment.none()`` changes nothing."""

    gain_db: tuple[float, float] = (-6.0, 3.0)
    eq_probability: float = 0.5
    eq_max_db: float = 6.0
    reverb_probability: float = 0.3
    reverb_rt60: tuple[float, float] = (0.2, 1.2)
    reverb_wet: tuple[float, float] = (0.1, 0.4)
    pitch_probability: float = 0.3
    pitch_semitones: float = 2.0

    @classmethod
    def none(cls) -> Augment:
        return cls(gain_db=(0.0, 0.0), eq_probability=0.0, reverb_probability=0.0,
                   pitch_probability=0.0)

    def draw(self, rng: np.random.Generator) -> AugmentDraw:
        gain = 10.0 ** (rng.uniform(*self.gain_db) / 20.0)
        eq: list[tuple[str, float, float, float]] = []
        if rng.random() < self.eq_probability:
            m = self.eq_max_db
            eq.append(("lowshelf", float(rng.uniform(80, 300)), float(rng.uniform(-m, m)), 0.707))
            for _ in range(int(rng.integers(1, 3))):
                eq.append(("peak", float(np.exp(rng.uniform(np.log(250), np.log(5000)))),
                           float(rng.uniform(-m, m)), float(rng.uniform(0.7, 2.5))))
            eq.append(("highshelf", float(rng.uniform(3000, 9000)), float(rng.uniform(-m, m)),
                       0.707))
        reverb = None
        if rng.random() < self.reverb_probability:
            reverb = (float(rng.uniform(*self.reverb_rt60)), float(rng.uniform(0.0, 0.025)),
                      float(rng.uniform(*self.reverb_wet)), int(rng.integers(0, 2**31 - 1)))
        ratio = 1.0
        if rng.random() < self.pitch_probability:
            ratio = 2.0 ** (rng.uniform(-self.pitch_semitones, self.pitch_semitones) / 12.0)
        return AugmentDraw(float(gain), tuple(eq), reverb, float(ratio))

    @staticmethod
    def frames_needed(length: int, draw: AugmentDraw) -> int:
        """Input frames to read so that :meth:`apply` returns ``length`` frames."""
        return int(math.ceil(length * draw.ratio)) + (8 if draw.ratio != 1.0 else 0)

    @staticmethod
    def apply(wav: np.ndarray, sr: int, draw: AugmentDraw, length: int | None = None) -> np.ndarray:
        """Apply ``draw`` to ``wav`` (channels, samples); returns ``length`` frames
        (default: the input's length when there is no pitch shift)."""
        x = np.asarray(wav, dtype=np.float32)
        if length is None:
            length = int(round(x.shape[-1] / draw.ratio)) if draw.ratio != 1.0 else x.shape[-1]
        if draw.ratio != 1.0:
            x = varispeed(x, draw.ratio, length)
        else:
            x = _fit(x, length)
        if draw.eq:
            x = equalize(x, sr, draw.eq)
        if draw.reverb is not None:
            x = reverberate(x, sr, *draw.reverb)
        return (x * np.float32(draw.gain)).astype(np.float32)

    def __call__(self, wav: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
        """Draw and apply in one go (a pitch shift then changes the length)."""
        return self.apply(wav, sr, self.draw(rng))


# ----------------------------------------------------------------------------- effects


def _fit(x: np.ndarray, length: int) -> np.ndarray:
    if x.shape[-1] >= length:
        return x[..., :length]
    return np.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, length - x.shape[-1])])


def varispeed(wav: np.ndarray, ratio: float, length: int) -> np.ndarray:
    """Play ``wav`` ``ratio`` times faster (pitch up by ``12*log2(ratio)`` semitones),
    returning ``length`` frames. Uses soxr with fractional rates."""
    import soxr

    x = np.asarray(wav, dtype=np.float32)
    y = soxr.resample(x.T, 1000.0 * ratio, 1000.0, quality="HQ").T
    return _fit(np.ascontiguousarray(y, dtype=np.float32), length)


def biquad(kind: str, freq: float, gain_db: float, q: float, sr: int) -> np.ndarray:
    """One second-order section (b0 b1 b2 a0 a1 a2 normalised) from the RBJ audio EQ
    cookbook: ``peak``, ``lowshelf`` or ``highshelf``."""
    freq = min(freq, 0.45 * sr)
    a = 10.0 ** (gain_db / 40.0)
    w0 = 2.0 * np.pi * freq / sr
    cw, sw = np.cos(w0), np.sin(w0)
    alpha = sw / (2.0 * q)
    if kind == "peak":
        b = [1 + alpha * a, -2 * cw, 1 - alpha * a]
        den = [1 + alpha / a, -2 * cw, 1 - alpha / a]
    elif kind in ("lowshelf", "highshelf"):
        k = 2.0 * np.sqrt(a) * alpha
        s = 1.0 if kind == "lowshelf" else -1.0
        b = [a * ((a + 1) - s * (a - 1) * cw + k), s * 2 * a * ((a - 1) - s * (a + 1) * cw),
             a * ((a + 1) - s * (a - 1) * cw - k)]
        den = [(a + 1) + s * (a - 1) * cw + k, -s * 2 * ((a - 1) + s * (a + 1) * cw),
               (a + 1) + s * (a - 1) * cw - k]
    else:
        raise ValueError(f"unknown biquad kind {kind!r}")
    return np.array(b + den, dtype=np.float64) / den[0]


def equalize(wav: np.ndarray, sr: int, bands) -> np.ndarray:
    """Filter ``wav`` (channels, samples) through the biquads ``bands``
    (``(kind, freq, gain_db, q)`` each)."""
    sos = np.stack([biquad(k, f, g, q, sr) for k, f, g, q in bands])
    return scipy.signal.sosfilt(sos, wav, axis=-1).astype(np.float32)


def impulse_response(sr: int, rt60: float, predelay: float, seed: int, channels: int) -> np.ndarray:
    """A synthetic room: decorrelated noise per channel decaying by 60 dB in ``rt60``
    seconds, getting darker as it decays, after ``predelay`` seconds; unit energy."""
    rng = np.random.default_rng(seed)
    n = int(rt60 * sr)
    t = np.arange(n) / sr
    noise = rng.standard_normal((channels, n))
    # Darken the tail: blend in a low-passed copy as time goes on.
    sos = scipy.signal.butter(1, 2500.0, fs=sr, output="sos")
    dark = scipy.signal.sosfilt(sos, noise, axis=-1)
    mix = np.clip(t / max(rt60, 1e-3), 0.0, 1.0)
    tail = ((1.0 - mix) * noise + mix * dark) * np.exp(-6.9 * t / rt60)
    ir = np.concatenate([np.zeros((channels, int(predelay * sr))), tail], axis=-1)
    return ir / (np.sqrt(np.sum(ir**2, axis=-1, keepdims=True)) + 1e-12)


def reverberate(wav: np.ndarray, sr: int, rt60: float, predelay: float, wet: float,
                seed: int) -> np.ndarray:
    """Mix ``wav`` with its convolution by :func:`impulse_response` (``wet`` in 0..1),
    keeping the input's RMS and length."""
    x = np.asarray(wav, dtype=np.float32)
    ir = impulse_response(sr, rt60, predelay, seed, x.shape[0])
    rev = scipy.signal.fftconvolve(x, ir, axes=-1)[:, : x.shape[-1]]
    y = (1.0 - wet) * x + wet * rev
    r_in, r_out = np.sqrt(np.mean(x**2)), np.sqrt(np.mean(y**2))
    if r_out > 1e-12:
        y *= r_in / r_out
    return y.astype(np.float32)


# ----------------------------------------------------------------------------- mixes


class OnTheFlyMixes(_Epochs, Dataset):
    """Mixes of random crops from a vocals folder and a music folder.

    Item ``index`` takes vocals file ``index % len(vocals)`` and a random music file,
    a random ``segment_seconds`` crop of each (inside the voiced span of the vocals when
    ``trim_silence``), augments each with its own :class:`Augment` draw, and scales the
    vocals so that their level relative to the music is a dB value drawn uniformly from
    ``snr_db``. Returns ``{"mixture", "vocals", "accompaniment"}`` as float32
    ``(channels, samples)`` tensors with mixture = vocals + accompaniment and a peak of
    at most 0.99. An epoch has ``samples_per_epoch`` items (default: the vocals'
    total duration / segment length)."""

    def __init__(self, vocals_dir: str | os.PathLike, music_dir: str | os.PathLike,
                 segment_seconds: float = 6.0, sr: int = 44100, snr_db: tuple[float, float] = (-6.0, 6.0),
                 augment: Augment | None = None, *, music_augment: Augment | None = None,
                 channels: int = 2, seed: int = 0, samples_per_epoch: int | None = None,
                 trim_silence: bool = True) -> None:
        self.vocals = FolderSegments(vocals_dir, segment_seconds, sr, channels=channels,
                                     trim_silence=trim_silence, gain_db=(0.0, 0.0),
                                     samples_per_epoch=samples_per_epoch)
        self.music = FolderSegments(music_dir, segment_seconds, sr, channels=channels,
                                    trim_silence=False, gain_db=(0.0, 0.0), samples_per_epoch=1)
        self.segment, self.sample_rate, self.channels = self.vocals.segment, sr, channels
        self.snr_db = snr_db
        self.augment = Augment() if augment is None else augment
        self.music_augment = self.augment if music_augment is None else music_augment
        self.seed = seed

    def __len__(self) -> int:
        return len(self.vocals)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if not 0 <= index < len(self):
            raise IndexError(index)
        rng = self.rng(index)
        n = self.segment
        v_draw, m_draw = self.augment.draw(rng), self.music_augment.draw(rng)
        v_file = self.vocals.files[index % len(self.vocals.files)]
        m_file = self.music.files[int(rng.integers(0, len(self.music.files)))]
        v = self.vocals.crop(v_file, rng, Augment.frames_needed(n, v_draw))
        m = self.music.crop(m_file, rng, Augment.frames_needed(n, m_draw))
        v = Augment.apply(v, self.sample_rate, v_draw, n)
        m = Augment.apply(m, self.sample_rate, m_draw, n)
        snr = rng.uniform(*self.snr_db)
        rv, rm = float(np.sqrt(np.mean(v**2))), float(np.sqrt(np.mean(m**2)))
        if rv > 1e-8 and rm > 1e-8:
            v = v * np.float32(rm / rv * 10.0 ** (snr / 20.0))
        mix = v + m
        peak = float(np.max(np.abs(mix))) if mix.size else 0.0
        if peak > PEAK:
            scale = np.float32(PEAK / peak)
            v, m = v * scale, m * scale
            mix = v + m
        return {"mixture": _tensor(mix), "vocals": _tensor(v), "accompaniment": _tensor(m)}


# ----------------------------------------------------------------------------- degradations


def coloured_noise(rng: np.random.Generator, length: int, exponent: float,
                   channels: int = 1) -> np.ndarray:
    """Gaussian noise ``(channels, length)`` whose power falls as ``1 / f ** exponent``
    (0 white, 1 pink, 2 brown), unit RMS."""
    white = rng.standard_normal((channels, length))
    spec = np.fft.rfft(white, axis=-1)
    f = np.fft.rfftfreq(length)
    f[0] = f[1] if length > 1 else 1.0
    noise = np.fft.irfft(spec * f ** (-exponent / 2.0), n=length, axis=-1)
    return (noise / (np.sqrt(np.mean(noise**2)) + 1e-12)).astype(np.float32)


def add_noise(wav: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``wav`` plus ``noise`` (same shape) scaled to ``snr_db`` below ``wav``'s RMS."""
    x = np.asarray(wav, dtype=np.float32)
    rs, rn = float(np.sqrt(np.mean(x**2))), float(np.sqrt(np.mean(noise**2)))
    if rs < 1e-8 or rn < 1e-8:
        return x
    return (x + noise * np.float32(rs / rn * 10.0 ** (-snr_db / 20.0))).astype(np.float32)


def band_limit(wav: np.ndarray, sr: int, rate: int, *, mu_law: bool = False) -> np.ndarray:
    """A narrow-band channel: ``wav`` resampled to ``rate`` (everything above ``rate / 2``
    gone) and back to ``sr``, with ``mu_law`` also through 8-bit mu-law companding (the
    quantisation noise of a G.711 telephone codec)."""
    from sonomorph.audio.io import resample

    x = np.asarray(wav, dtype=np.float32)
    n = x.shape[-1]
    y = resample(x, sr, rate)
    if mu_law:
        import librosa

        peak = float(np.max(np.abs(y))) or 1.0
        q = librosa.mu_compress(np.clip(y / peak, -1.0, 1.0), mu=255, quantize=True)
        y = (librosa.mu_expand(q, mu=255, quantize=True) * peak).astype(np.float32)
    return _fit(resample(y, rate, sr).astype(np.float32), n)
