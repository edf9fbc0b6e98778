"""Spectrogram "images": audio <-> pictures that image-to-image networks (pix2pix) read.

Three encodings of the STFT (hann window, ``n_fft`` and ``hop`` of the caller's choice,
1024 and 256 by default as in the original vocals-to-song project):

``rgb8``
    The original's layout, for compatibility: an 8-bit RGB PNG whose red channel is the
    linear magnitude divided by a fixed ``scale`` (1.0 by default, as the original) and
    clipped to [0, 1], whose green channel is the phase mapped from [-pi, pi] to [0, 255],
    blue unused. It is lossy twice over: 256 linear levels cannot hold music's dynamic range
    (quiet bins round to zero) and loud bins clip at the fixed scale. Kept to read and write
    images of the original's models, not for quality.
``png16``
    Lossless in practice: a 16-bit greyscale PNG holding, for each audio channel, the
    natural-log magnitude quantised over ``[log_min, log_max]`` (the file's own range,
    at most ``DYNAMIC_RANGE_DB`` below its peak) and, below it, the phase over [-pi, pi].
``float``
    Exact to float32 rounding: a ``.npy`` array ``(channels, 2, bins, frames)`` of log
    magnitude and phase, with a sidecar ``<name>.json`` holding the parameters.

Pictures show frequency upward (row 0 is the top, the highest bin), time to the right;
several audio channels are stacked top to bottom. Every file carries its parameters
(sample rate, ``n_fft``, ``hop``, audio length, channels, encoding, scale) in a PNG text
chunk (key ``sonomorph``) or the sidecar JSON, so decoding needs no flags. Decoding is
the polar inverse ``magnitude * exp(i * phase)`` followed by the inverse STFT.

A PNG without our text chunk is accepted only in the original's shape (RGB, 513 rows:
n_fft 1024), decoded with the original's parameters (44.1 kHz, hop 256, scale 1.0).
Anything unreadable raises :class:`SpectrogramImageError` with a one-line message.
"""

from __future__ import annotations

import json
import logging
import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sonomorph.errors import SonomorphError
from sonomorph.utils.fs import atomic_path, check_output

log = logging.getLogger(__name__)

__all__ = ["ENCODINGS", "SpectrogramImage", "SpectrogramImageError", "encode", "decode",
           "save_image", "load_image", "encode_file", "decode_file", "snr_db",
           "encoding_for_path", "stft", "istft"]

ENCODINGS = ("rgb8", "png16", "float")
FORMAT = "sonomorph-spectrogram"
FORMAT_VERSION = 1
PNG_KEY = "sonomorph"
#: png16 keeps log magnitudes down to this many dB below the file's peak.
DYNAMIC_RANGE_DB = 140.0
#: The original project's parameters (for PNGs without our metadata).
ORIGINAL = {"sample_rate": 44100, "n_fft": 1024, "hop": 256, "scale": 1.0}
_FLOAT_FLOOR = 1e-20  # magnitudes below this are stored as ln(1e-20) in the float encoding
_MAX_PIXELS = 1 << 31  # Pillow's bomb guard would refuse a few minutes of spectrogram


class SpectrogramImageError(SonomorphError):
    """A spectrogram image is missing, corrupt, or not one sonomorph can decode."""


@dataclass
class SpectrogramImage:
    """An encoded spectrogram: ``data`` as it is stored and the ``params`` to decode it.

    ``data`` is uint8 ``(rows, frames, 3)`` for rgb8, uint16 ``(rows, frames)`` for png16,
    float32 ``(channels, 2, bins, frames)`` for float. ``params`` holds ``encoding``,
    ``sample_rate``, ``n_fft``, ``hop``, ``length`` (audio samples), ``channels`` and the
    encoding's scale (``scale`` for rgb8, ``log_min``/``log_max`` for png16).
    """

    data: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def encoding(self) -> str:
        return str(self.params["encoding"])


# ----------------------------------------------------------------------------- STFT


def _modules(n_fft: int, hop: int):
    from sonomorph.audio.spectral import ISTFT, STFT

    return STFT(n_fft, hop), ISTFT(n_fft, hop)


def stft(wav: np.ndarray, n_fft: int = 1024, hop: int = 256) -> np.ndarray:
    """Complex STFT ``(channels, n_fft//2+1, 1 + samples//hop)`` of float32 ``(channels,
    samples)`` audio (hann, centred, reflect padding; zero padding for clips too short
    to reflect)."""
    wav = np.asarray(wav, dtype=np.float32)
    if wav.ndim == 1:
        wav = wav[None]
    forward, _ = _modules(n_fft, hop)
    if wav.shape[-1] <= n_fft // 2:  # reflect padding needs more samples than the pad
        forward.pad_mode = "constant"
    with torch.no_grad():
        return forward(torch.from_numpy(np.ascontiguousarray(wav))).numpy()


def istft(spec: np.ndarray, length: int, n_fft: int = 1024, hop: int = 256) -> np.ndarray:
    """Inverse of :func:`stft`: complex ``(channels, bins, frames)`` -> float32 ``(channels,
    length)``."""
    _, inverse = _modules(n_fft, hop)
    with torch.no_grad():
        out = inverse(torch.from_numpy(np.ascontiguousarray(spec, dtype=np.complex64)),
                      length=int(length))
    return out.numpy().astype(np.float32, copy=False)


def snr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Signal-to-noise ratio of ``estimate`` against ``reference`` in dB (inf when equal)."""
    ref = np.asarray(reference, dtype=np.float64)
    err = ref - np.asarray(estimate, dtype=np.float64)
    noise = float(np.sum(err * err))
    signal = float(np.sum(ref * ref))
    if noise == 0.0:
        return math.inf
    return 10.0 * math.log10(max(signal, 1e-300) / noise)


# ----------------------------------------------------------------------------- encode


def encode(wav: np.ndarray, sample_rate: int, encoding: str = "png16", *, n_fft: int = 1024,
           hop: int = 256, scale: float | None = None) -> SpectrogramImage:
    """Encode float32 ``(channels, samples)`` audio as a :class:`SpectrogramImage`.

    ``scale`` is rgb8's magnitude for full red (default: the original's fixed 1.0)."""
    if encoding not in ENCODINGS:
        raise SpectrogramImageError(f"unknown encoding {encoding!r} (choose {', '.join(ENCODINGS)})")
    wav = np.asarray(wav, dtype=np.float32)
    if wav.ndim == 1:
        wav = wav[None]
    if wav.ndim != 2 or wav.shape[1] == 0:
        raise SpectrogramImageError(f"expected audio shaped (channels, samples), got {wav.shape}")
    if n_fft < 2 or n_fft % 2 or not 0 < hop <= n_fft // 2:
        raise SpectrogramImageError(f"need an even n_fft >= 2 and 0 < hop <= n_fft/2 "
                                    f"(got n_fft={n_fft}, hop={hop})")
    spec = stft(wav, n_fft, hop)
    mag, phase = np.abs(spec), np.angle(spec)
    params: dict[str, Any] = {"format": FORMAT, "format_version": FORMAT_VERSION,
                              "encoding": encoding, "sample_rate": int(sample_rate),
                              "n_fft": int(n_fft), "hop": int(hop), "window": "hann",
                              "length": int(wav.shape[1]), "channels": int(wav.shape[0])}
    if encoding == "float":
        logmag = np.log(np.maximum(mag, _FLOAT_FLOOR))
        data = np.stack([logmag, phase], axis=1).astype(np.float32)
        params["layout"] = "(channels, [ln magnitude, phase], bins, frames)"
        return SpectrogramImage(data, params)
    phase01 = (phase + np.pi) / (2.0 * np.pi)
    if encoding == "rgb8":
        scale = float(ORIGINAL["scale"] if scale is None else scale)
        if not scale > 0:
            raise SpectrogramImageError(f"scale must be positive, got {scale}")
        red = np.rint(np.clip(mag / scale, 0.0, 1.0) * 255.0)
        green = np.rint(np.clip(phase01, 0.0, 1.0) * 255.0)
        planes = np.stack([red, green, np.zeros_like(red)], axis=-1)  # (C, F, T, 3)
        data = planes[:, ::-1].reshape(-1, planes.shape[2], 3).astype(np.uint8)
        params.update(scale=scale, clipped_fraction=float(np.mean(mag > scale)),
                      layout="RGB rows: channels top to bottom, frequency upward; "
                             "R = magnitude/scale, G = (phase+pi)/(2pi)")
        return SpectrogramImage(np.ascontiguousarray(data), params)
    logmag = np.log(np.maximum(mag, 1e-30))
    log_max = float(logmag.max())
    log_min = max(float(logmag.min()), log_max - DYNAMIC_RANGE_DB * math.log(10.0) / 20.0)
    if log_max - log_min < 1e-6:
        log_max = log_min + 1.0
    q_mag = np.rint((np.clip(logmag, log_min, log_max) - log_min) / (log_max - log_min) * 65535)
    q_phase = np.rint(np.clip(phase01, 0.0, 1.0) * 65535)
    planes = np.stack([q_mag[:, ::-1], q_phase[:, ::-1]], axis=1)  # (C, 2, F, T)
    data = planes.reshape(-1, planes.shape[-1]).astype(np.uint16)
    params.update(log_min=log_min, log_max=log_max,
                  layout="16-bit rows: per channel (top to bottom) ln magnitude over "
                         "[log_min, log_max], then phase over [-pi, pi]; frequency upward")
    return SpectrogramImage(np.ascontiguousarray(data), params)


# ----------------------------------------------------------------------------- decode


def _frames(params: dict[str, Any]) -> int:
    return 1 + int(params["length"]) // int(params["hop"])


def to_polar(image: SpectrogramImage) -> tuple[np.ndarray, np.ndarray]:
    """Magnitude and phase, each float32 ``(channels, bins, frames)``, of an image."""
    p, data = image.params, image.data
    channels, bins = int(p["channels"]), int(p["n_fft"]) // 2 + 1
    if image.encoding == "float":
        return np.exp(data[:, 0].astype(np.float64)), data[:, 1].astype(np.float64)
    if image.encoding == "rgb8":
        planes = data.reshape(channels, bins, -1, 3)[:, ::-1].astype(np.float64)
        mag = planes[..., 0] / 255.0 * float(p["scale"])
        phase = planes[..., 1] / 255.0 * 2.0 * np.pi - np.pi
        return mag, phase
    planes = data.reshape(channels, 2, bins, -1)[:, :, ::-1].astype(np.float64) / 65535.0
    lo, hi = float(p["log_min"]), float(p["log_max"])
    return np.exp(lo + planes[:, 0] * (hi - lo)), planes[:, 1] * 2.0 * np.pi - np.pi


def decode(image: SpectrogramImage) -> np.ndarray:
    """Audio float32 ``(channels, length)`` from an image: ``magnitude * exp(i phase)``,
    then the inverse STFT with the image's parameters."""
    _validate(image, None)
    mag, phase = to_polar(image)
    spec = (mag * np.exp(1j * phase)).astype(np.complex64)
    p = image.params
    return istft(spec, int(p["length"]), int(p["n_fft"]), int(p["hop"]))


def _validate(image: SpectrogramImage, path: Path | None) -> None:
    """Check the parameters and the data's shape against each other."""
    p, data = image.params, image.data

    def bad(why: str) -> SpectrogramImageError:
        return SpectrogramImageError(why, path)

    try:
        enc = p["encoding"]
        sr, n_fft, hop = int(p["sample_rate"]), int(p["n_fft"]), int(p["hop"])
        length, channels = int(p["length"]), int(p["channels"])
    except (KeyError, TypeError, ValueError):
        raise bad("its spectrogram parameters are incomplete (need encoding, sample_rate, "
                  "n_fft, hop, length, channels)") from None
    if enc not in ENCODINGS:
        raise bad(f"unknown encoding {enc!r}")
    if sr <= 0 or n_fft < 2 or n_fft % 2 or not 0 < hop <= n_fft // 2 or length < 1 \
            or not 0 < channels <= 64:
        raise bad(f"bad spectrogram parameters (sample_rate={sr}, n_fft={n_fft}, hop={hop}, "
                  f"length={length}, channels={channels})")
    bins, frames = n_fft // 2 + 1, _frames(p)
    want = {"rgb8": (channels * bins, frames, 3), "png16": (channels * 2 * bins, frames),
            "float": (channels, 2, bins, frames)}[enc]
    if tuple(data.shape) != want:
        raise bad(f"its {enc} data is shaped {tuple(data.shape)}, its parameters need {want}")
    if enc == "rgb8" and not float(p.get("scale", 0)) > 0:
        raise bad("rgb8 image without a positive scale")
    if enc == "png16":
        try:
            lo, hi = float(p["log_min"]), float(p["log_max"])
        except (KeyError, TypeError, ValueError):
            raise bad("png16 image without log_min/log_max") from None
        if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo and hi < 700):
            raise bad(f"bad png16 range log_min={lo}, log_max={hi}")
    if enc == "float" and not np.isfinite(data).all():
        raise bad("its float data holds NaN or infinite values")


# ----------------------------------------------------------------------------- files


def encoding_for_path(path: str | os.PathLike, encoding: str | None = None) -> str:
    """The encoding to write ``path`` with: ``encoding`` when given (checked against the
    suffix), else png16 for ``.png`` and float for ``.npy``."""
    suffix = Path(path).suffix.lower()
    if suffix not in (".png", ".npy"):
        raise SpectrogramImageError("spectrogram images are .png (rgb8, png16) or .npy (float)",
                                    path)
    if encoding is None:
        return "png16" if suffix == ".png" else "float"
    if encoding not in ENCODINGS:
        raise SpectrogramImageError(f"unknown encoding {encoding!r} (choose {', '.join(ENCODINGS)})",
                                    path)
    if (encoding == "float") != (suffix == ".npy"):
        raise SpectrogramImageError(f"the {encoding} encoding is written as "
                                    f"{'.npy' if encoding == 'float' else '.png'}", path)
    return encoding


def _sidecar(path: Path) -> Path:
    return path.with_suffix(".json")


def save_image(path: str | os.PathLike, image: SpectrogramImage, *, overwrite: bool = False,
               inputs: tuple = ()) -> Path:
    """Write ``image`` atomically: a PNG with its parameters in a text chunk, or a ``.npy``
    with a sidecar ``.json``. Refuses existing outputs unless ``overwrite``."""
    from PIL import Image, PngImagePlugin

    path = Path(path)
    encoding_for_path(path, image.encoding)
    _validate(image, path)
    text = json.dumps(image.params, sort_keys=True)
    if image.encoding == "float":
        sidecar = _sidecar(path)
        check_output(sidecar, overwrite=overwrite, inputs=inputs)
        with atomic_path(path, overwrite=overwrite, inputs=inputs) as tmp:
            with open(tmp, "wb") as f:
                np.save(f, image.data.astype(np.float32, copy=False), allow_pickle=False)
        with atomic_path(sidecar, overwrite=True, inputs=inputs) as tmp:
            tmp.write_text(text + "\n", encoding="utf-8")
        return path
    info = PngImagePlugin.PngInfo()
    info.add_text(PNG_KEY, text)
    picture = Image.fromarray(image.data, mode="RGB" if image.encoding == "rgb8" else None)
    with atomic_path(path, overwrite=overwrite, inputs=inputs) as tmp:
        picture.save(tmp, format="PNG", pnginfo=info)
    return path


def load_image(path: str | os.PathLike) -> SpectrogramImage:
    """Read and validate a spectrogram image written by :func:`save_image` (or an 8-bit RGB
    PNG in the original's layout). Raises :class:`SpectrogramImageError` naming the file."""
    path = Path(path)
    if not path.exists():
        raise SpectrogramImageError("no such file", path)
    if not path.is_file():
        raise SpectrogramImageError("not a file", path)
    if path.stat().st_size == 0:
        raise SpectrogramImageError("file is empty (0 bytes)", path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        image = _load_npy(path)
    elif suffix == ".png":
        image = _load_png(path)
    else:
        raise SpectrogramImageError("not a spectrogram image (expected .png or .npy)", path)
    _validate(image, path)
    return image


def _load_npy(path: Path) -> SpectrogramImage:
    sidecar = _sidecar(path)
    if not sidecar.is_file():
        raise SpectrogramImageError(f"no {sidecar.name} beside it: a float spectrogram needs "
                                    "its parameters file", path)
    try:
        params = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SpectrogramImageError(f"its parameters file is not valid JSON ({exc})",
                                    sidecar) from None
    if not isinstance(params, dict):
        raise SpectrogramImageError("its parameters file is not a JSON object", sidecar)
    try:
        data = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        why = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise SpectrogramImageError(f"not a readable .npy array (corrupt or truncated: {why})",
                                    path) from None
    if not isinstance(data, np.ndarray) or data.dtype.kind != "f":
        raise SpectrogramImageError(f"holds {getattr(data, 'dtype', type(data))}, not floats", path)
    if params.get("encoding") != "float":
        raise SpectrogramImageError(f"its parameters say encoding {params.get('encoding')!r}, "
                                    "a .npy holds 'float'", path)
    return SpectrogramImage(data.astype(np.float32, copy=False), params)


def _load_png(path: Path) -> SpectrogramImage:
    from PIL import Image, UnidentifiedImageError

    old = Image.MAX_IMAGE_PIXELS
    try:
        Image.MAX_IMAGE_PIXELS = _MAX_PIXELS
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as picture:
                if picture.format != "PNG":
                    raise SpectrogramImageError(f"is a {picture.format} image, not a PNG", path)
                picture.load()  # decodes everything: truncation and CRC errors show here
                mode, text = picture.mode, dict(getattr(picture, "text", {}) or {})
                data = np.array(picture)
    except SpectrogramImageError:
        raise
    except UnidentifiedImageError:
        raise SpectrogramImageError("not a PNG image (unrecognised data)", path) from None
    except (OSError, SyntaxError, ValueError, EOFError,
            Image.DecompressionBombError) as exc:
        why = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise SpectrogramImageError(f"not a readable PNG (corrupt or truncated: {why})",
                                    path) from None
    finally:
        Image.MAX_IMAGE_PIXELS = old
    raw = text.get(PNG_KEY)
    if raw is None:
        return _original_png(path, mode, data)
    try:
        params = json.loads(raw)
    except json.JSONDecodeError:
        raise SpectrogramImageError("its sonomorph parameters are not valid JSON", path) from None
    if not isinstance(params, dict) or params.get("format") != FORMAT:
        raise SpectrogramImageError("its sonomorph text chunk is not spectrogram parameters", path)
    enc = params.get("encoding")
    if enc == "rgb8" and mode != "RGB" or enc == "png16" and mode not in ("I;16", "I"):
        raise SpectrogramImageError(f"a {enc} image must be "
                                    f"{'8-bit RGB' if enc == 'rgb8' else '16-bit greyscale'}, "
                                    f"this one is mode {mode}", path)
    if enc == "png16":
        data = data.astype(np.uint16)
    elif enc != "rgb8":
        raise SpectrogramImageError(f"a PNG cannot hold encoding {enc!r}", path)
    return SpectrogramImage(data, params)


def _original_png(path: Path, mode: str, data: np.ndarray) -> SpectrogramImage:
    """A PNG without our metadata: only the original's 8-bit RGB, 513-row layout decodes."""
    bins = ORIGINAL["n_fft"] // 2 + 1
    if mode != "RGB" or data.ndim != 3 or data.shape[0] % bins:
        raise SpectrogramImageError(
            "carries no sonomorph spectrogram parameters and is not an 8-bit RGB image in "
            f"the original layout ({bins} rows); was it written by `sonomorph image encode`?",
            path)
    log.warning("%s: no sonomorph parameters; decoding with the original's (44.1 kHz, n_fft "
                "1024, hop 256, scale 1.0)", path)
    frames = data.shape[1]
    params = {"format": FORMAT, "format_version": FORMAT_VERSION, "encoding": "rgb8",
              **ORIGINAL, "length": (frames - 1) * ORIGINAL["hop"],
              "channels": data.shape[0] // bins}
    return SpectrogramImage(data, params)


def encode_file(audio: str | os.PathLike, out: str | os.PathLike, *, encoding: str | None = None,
                n_fft: int = 1024, hop: int = 256, sample_rate: int | None = None,
                channels: int | None = None, offset: float = 0.0, duration: float | None = None,
                scale: float | None = None, overwrite: bool = False) -> SpectrogramImage:
    """Read ``audio`` (any format, rate and channels; ``sample_rate``/``channels`` convert,
    ``offset``/``duration`` in seconds cut), encode it and write ``out``. Returns the image."""
    from sonomorph.audio.io import load

    enc = encoding_for_path(out, encoding)
    check_output(out, overwrite=overwrite, inputs=[audio])
    wav, sr = load(audio, sr=sample_rate, channels=channels, offset=offset, duration=duration,
                   min_seconds=0.01)
    image = encode(wav, sr, enc, n_fft=n_fft, hop=hop, scale=scale)
    save_image(out, image, overwrite=overwrite, inputs=(audio,))
    return image


def decode_file(image_path: str | os.PathLike, out: str | os.PathLike, *,
                bit_depth: str = "16", overwrite: bool = False) -> np.ndarray:
    """Decode a spectrogram image file to audio and write it to ``out`` (any format
    :func:`sonomorph.audio.io.save` writes). Returns the audio."""
    from sonomorph.audio.io import output_format, save

    output_format(out)
    check_output(out, overwrite=overwrite, inputs=[image_path])
    image = load_image(image_path)
    wav = decode(image)
    peak = float(np.abs(wav).max()) if wav.size else 0.0
    if peak > 1.0 and bit_depth != "32f":
        log.warning("%s: decoded audio peaks at %.2f; it is scaled to 0.99 for a %s-bit file",
                    out, peak, bit_depth)
        wav = wav * np.float32(0.99 / peak)
    save(out, wav, int(image.params["sample_rate"]), bit_depth=bit_depth, overwrite=overwrite,
         inputs=[image_path])
    return wav
