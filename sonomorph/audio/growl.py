"""A DSP "growl" effect: turns a clean voice into vocal fry, a death growl or a scream.

No model is involved; the effect is the source of the ``screams/`` side of the scream
corpus and a command of its own (``sonomorph effect growl``). It stacks the five
ingredients that distinguish extreme vocals from clean ones:

1. **Subharmonics / period doubling** - the voice is amplitude-modulated at f0/2 (and
   f0/3 for fry), so alternate glottal pulses differ in strength. That puts energy at
   f0/2, 3f0/2, ... which is what the ear hears as a "doubled", lower, rougher pitch.
   f0 is tracked with YIN and integrated into a continuous phase, so the modulation
   follows the melody.
2. **Roughness** - a random amplitude modulation band-limited to the roughness range
   (about 20-150 Hz, style dependent).
3. **Turbulent noise shaped by the voice** - random-phase noise whose short-time
   spectrum is the voice's own (cepstrally smoothed) spectral envelope, tilted toward
   the highs: it breathes with the voice in time and in frequency, and silence stays
   silent.
4. **Waveshaping distortion** - an asymmetric tanh curve (odd and even harmonics) with a
   level-independent drive.
5. **Lowered formants** - the spectral envelope is warped down (the excitation is kept),
   giving the larger-throat colour of a growl without changing the pitch.

Everything is deterministic given ``seed``; the output has the input's length and
shape, roughly its loudness, and never exceeds a peak of 0.98.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import librosa
import numpy as np
import scipy.signal

from sonomorph.errors import ConfigError

STYLES = ("fry", "growl", "scream")
PEAK = 0.98


@dataclass(frozen=True)
class GrowlParams:
    """One draw of the effect's parameters (``amount`` already applied)."""

    sub2: float  # period-doubling AM depth (0..0.95)
    sub3: float  # period-tripling AM depth
    rough_depth: float  # roughness AM depth
    rough_band: tuple[float, float]  # roughness modulation band in Hz
    noise_db: float  # turbulent noise level relative to the voice, dB
    noise_tilt: float  # dB per octave above 1 kHz for the noise
    drive: float  # waveshaper drive (1 = nearly clean)
    asym: float  # waveshaper bias (even harmonics)
    formant: float  # formant warp factor (<1 lowers formants)


# Ranges per style: (low, high) for each parameter at amount=1.
_RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "fry": dict(sub2=(0.55, 0.8), sub3=(0.25, 0.45), rough_depth=(0.3, 0.5),
                rough_lo=(18.0, 25.0), rough_hi=(45.0, 70.0), noise_db=(-24.0, -18.0),
                noise_tilt=(-2.0, 0.0), drive=(1.5, 2.5), asym=(0.05, 0.15),
                formant=(0.9, 0.96)),
    "growl": dict(sub2=(0.65, 0.9), sub3=(0.0, 0.2), rough_depth=(0.35, 0.6),
                  rough_lo=(25.0, 35.0), rough_hi=(80.0, 110.0), noise_db=(-16.0, -10.0),
                  noise_tilt=(-1.0, 1.0), drive=(3.0, 5.0), asym=(0.1, 0.25),
                  formant=(0.74, 0.84)),
    "scream": dict(sub2=(0.4, 0.65), sub3=(0.0, 0.1), rough_depth=(0.3, 0.5),
                   rough_lo=(40.0, 60.0), rough_hi=(120.0, 150.0), noise_db=(-10.0, -5.0),
                   noise_tilt=(0.0, 2.0), drive=(5.0, 9.0), asym=(0.05, 0.2),
                   formant=(0.86, 0.94)),
}


def draw_params(style: str, amount: float, rng: np.random.Generator) -> GrowlParams:
    """Draw the parameters of one rendering of ``style`` scaled by ``amount``."""
    if style not in _RANGES:
        raise ConfigError(f"unknown growl style {style!r} (choose from {', '.join(STYLES)})")
    r = {k: float(rng.uniform(lo, hi)) for k, (lo, hi) in sorted(_RANGES[style].items())}
    a = float(amount)
    return GrowlParams(
        sub2=min(0.95, r["sub2"] * a),
        sub3=min(0.6, r["sub3"] * a),
        rough_depth=min(0.8, r["rough_depth"] * a),
        rough_band=(r["rough_lo"], r["rough_hi"]),
        noise_db=r["noise_db"] + 20.0 * np.log10(max(a, 1e-3)),
        noise_tilt=r["noise_tilt"],
        drive=1.0 + (r["drive"] - 1.0) * a,
        asym=r["asym"] * min(a, 1.0),
        formant=1.0 - (1.0 - r["formant"]) * min(a, 1.5),
    )


def growl(wav: np.ndarray, sr: int, style: str = "growl", *, amount: float = 1.0,
          seed: int = 0) -> np.ndarray:
    """Apply the growl effect to ``wav`` (``(channels, samples)`` or ``(samples,)``).

    ``style`` is ``"fry"``, ``"growl"`` or ``"scream"``; ``amount`` scales every
    ingredient (0 returns the input unchanged, 1 is the style's default, up to 2 is
    extreme). The same ``seed`` gives the same output. The result is float32 with the
    input's shape, about its RMS level and a peak of at most 0.98.
    """
    x = np.asarray(wav, dtype=np.float32)
    if x.ndim not in (1, 2):
        raise ConfigError(f"growl expects (channels, samples) audio, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ConfigError("growl input holds NaN or infinite samples")
    if not 0.0 <= amount <= 2.0:
        raise ConfigError(f"growl amount must be in [0, 2], got {amount}")
    if style not in STYLES:
        raise ConfigError(f"unknown growl style {style!r} (choose from {', '.join(STYLES)})")
    squeeze = x.ndim == 1
    x2 = x[None, :] if squeeze else x
    n = x2.shape[-1]
    peak_in = float(np.max(np.abs(x2))) if x2.size else 0.0
    if amount == 0.0 or peak_in < 1e-7 or n < 64:
        return x.copy()

    rng = np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, STYLES.index(style)]))
    p = draw_params(style, amount, rng)
    mono = x2.mean(axis=0).astype(np.float64)

    phase = _f0_phase(mono, sr)
    am = _period_doubling(phase, p) * _roughness(n, sr, p, rng)
    n_fft = _fft_size(sr)
    noise_phase = rng.uniform(-np.pi, np.pi, size=(n_fft // 2 + 1, n // (n_fft // 4) + 1))

    out = np.empty_like(x2, dtype=np.float32)
    for c in range(x2.shape[0]):
        ch = x2[c].astype(np.float64)
        y = ch * am
        y = _formants_and_noise(y, sr, p, noise_phase, n_fft)
        y = _waveshape(y, p)
        out[c] = _match_level(y, ch).astype(np.float32)
    peak = float(np.max(np.abs(out)))
    if peak > PEAK:
        out *= PEAK / peak
    return out[0] if squeeze else out


def _fft_size(sr: int) -> int:
    """About 46 ms of samples, a power of two (1024 at 22.05 kHz)."""
    return int(2 ** round(np.log2(0.0464 * sr)))


def _f0_phase(mono: np.ndarray, sr: int) -> np.ndarray:
    """Continuous phase (radians) of the tracked fundamental, one value per sample."""
    hop = max(1, int(round(sr * 0.01)))
    frame = int(2 ** np.ceil(np.log2(sr * 0.04)))
    if len(mono) < frame:
        f0 = np.full(1, 150.0)
        times = np.zeros(1)
    else:
        f0 = librosa.yin(mono, fmin=60.0, fmax=min(900.0, sr / 4), sr=sr, frame_length=frame,
                         hop_length=hop, center=True)
        f0 = scipy.signal.medfilt(np.nan_to_num(f0, nan=150.0), 5)
        times = np.arange(len(f0)) * hop
    f0_s = np.interp(np.arange(len(mono)), times, f0)
    return 2.0 * np.pi * np.cumsum(f0_s) / sr


def _period_doubling(phase: np.ndarray, p: GrowlParams) -> np.ndarray:
    """Gain curve modulated at f0/2 (and f0/3): alternate periods get different gains."""
    g = 1.0 + p.sub2 * np.cos(phase / 2.0) + p.sub3 * np.cos(phase / 3.0)
    return np.maximum(g, 0.0) / (1.0 + p.sub2 + p.sub3)


def _roughness(n: int, sr: int, p: GrowlParams, rng: np.random.Generator) -> np.ndarray:
    """Random gain curve band-limited to the roughness band, mean 1."""
    lo, hi = p.rough_band
    noise = rng.standard_normal(n)
    sos = scipy.signal.butter(2, [lo, min(hi, sr / 2.5)], btype="bandpass", fs=sr, output="sos")
    m = scipy.signal.sosfiltfilt(sos, noise) if n > 64 else noise
    m = m / (np.std(m) + 1e-12)
    return np.clip(1.0 + p.rough_depth * np.clip(m, -1.6, 1.6), 0.05, None)


def _formants_and_noise(y: np.ndarray, sr: int, p: GrowlParams, noise_phase: np.ndarray,
                        n_fft: int) -> np.ndarray:
    """Warp the spectral envelope down by ``p.formant`` and add envelope-shaped noise."""
    hop = n_fft // 4
    spec = librosa.stft(y, n_fft=n_fft, hop_length=hop, center=True)
    mag = np.abs(spec)
    env = _envelope(mag, sr, n_fft)  # (bins, frames), linear magnitude
    bins = np.arange(mag.shape[0], dtype=np.float64)
    warped = np.empty_like(env)
    for t in range(env.shape[1]):
        warped[:, t] = np.interp(bins / p.formant, bins, env[:, t], right=env[-1, t])
    voice = spec * (warped / np.maximum(env, 1e-9))
    # Noise: the (warped) envelope with a spectral tilt, random phase, level-matched.
    freqs = np.maximum(librosa.fft_frequencies(sr=sr, n_fft=n_fft), 1.0)
    octaves = np.log2(np.maximum(freqs / 1000.0, 1.0))
    tilt = 10.0 ** (p.noise_tilt * octaves / 20.0)
    tilt[freqs < 300.0] *= (freqs[freqs < 300.0] / 300.0) ** 2  # little rumble
    phase = noise_phase[:, : spec.shape[1]]
    if phase.shape[1] < spec.shape[1]:
        phase = np.pad(phase, ((0, 0), (0, spec.shape[1] - phase.shape[1])), mode="wrap")
    noise = warped * tilt[:, None] * np.exp(1j * phase)
    e_voice = float(np.sum(np.abs(voice) ** 2))
    e_noise = float(np.sum(np.abs(noise) ** 2))
    if e_noise > 0.0:
        noise *= np.sqrt(e_voice / e_noise) * 10.0 ** (p.noise_db / 20.0)
    return librosa.istft(voice + noise, hop_length=hop, n_fft=n_fft, length=len(y))


def _envelope(mag: np.ndarray, sr: int, n_fft: int) -> np.ndarray:
    """Cepstrally smoothed spectral envelope (keeps quefrencies below ~1.5 ms)."""
    log_mag = np.log(np.maximum(mag, 1e-9))
    cep = np.fft.irfft(log_mag, axis=0)
    cut = max(4, int(0.0015 * sr))
    cep[cut:-cut] = 0.0
    smooth = np.fft.rfft(cep, axis=0).real[: mag.shape[0]]
    # Scale so the envelope tracks the frame's level (cepstral smoothing averages in dB).
    return np.exp(smooth)


def _waveshape(y: np.ndarray, p: GrowlParams) -> np.ndarray:
    """Asymmetric tanh distortion with a level-independent drive."""
    level = float(np.percentile(np.abs(y), 99.5))
    if level <= 1e-9:
        return y
    u = y / level
    b = p.asym
    shaped = np.tanh(p.drive * u + b) - np.tanh(b)
    # Remove the DC that the asymmetry adds (a one-pole high-pass at ~20 Hz equivalent).
    shaped = scipy.signal.lfilter([1.0, -1.0], [1.0, -0.995], shaped)
    return shaped * level


def _match_level(y: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Scale ``y`` to the RMS of ``ref``."""
    r_ref = float(np.sqrt(np.mean(ref**2)))
    r_y = float(np.sqrt(np.mean(y**2)))
    if r_y <= 1e-12:
        return y
    return y * (r_ref / r_y)


def growl_file(src: str | os.PathLike, dst: str | os.PathLike, style: str = "growl", *,
               amount: float = 1.0, seed: int = 0, overwrite: bool = False) -> Path:
    """Read ``src``, apply :func:`growl` at the file's own rate and channels, and write
    ``dst`` atomically (same format family as the extension says; 16-bit for WAV/FLAC)."""
    from sonomorph.audio.io import load, save

    wav, sr = load(src, min_seconds=0.01)  # a 1-sample file is an error, not a growl
    out = growl(wav, sr, style, amount=amount, seed=seed)
    save(dst, out, sr, overwrite=overwrite, inputs=[src])
    return Path(dst)
