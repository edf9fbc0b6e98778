"""Speaker features: what an utterance is turned into before speakers are compared.

Three feature extractors (``features=``), each a callable mapping a mono waveform at its
``sample_rate`` to one unit-length float32 vector, with the ``name`` and ``settings`` a
speaker database records (:mod:`sonomorph.pipelines.speakers` keeps the database,
enrolment, identification and the "unknown" threshold):

``gram`` (the original method; :data:`DEFAULT_FEATURES` until resemblyzer measured better)
    The time-Gram of a frozen, seeded random CNN over the log1p-magnitude STFT of the voiced
    frames (16 kHz, ``n_fft`` 512, hop 128; frames more than 40 dB below the loudest are
    left out, so pauses do not dilute the statistics). The per-band ``C x C`` Grams
    (:func:`sonomorph.models.random_cnn.time_gram`) are flattened (upper triangles), square
    rooted (sign kept) to tame their dynamic range, centred and L2-normalised.
``resemblyzer`` (the default: :data:`DEFAULT_FEATURES`)
    The 256-d utterance embedding of resemblyzer's pretrained speaker encoder (GE2E; its
    weights ship inside its wheel, nothing is downloaded), with its own voice-activity
    trimming. It is the default because it is the best feature set measured on held-out
    real speakers (``eval speakers --split test-real``, recorded in
    ``benchmarks/results/speakers-real.json``). resemblyzer is a requirement; if it cannot
    be imported, asking for these features is a one-line :class:`DependencyError`.

``ours`` (a slot for our own trained speaker encoder)
    The unit-length embedding of a ``speaker-encoder`` model file (settings ``{"model":
    PATH}``, e.g. a ``sonomorph train speaker-encoder`` run's ``best.safetensors``; the
    shipped ``speaker-encoder`` when it exists). No encoder ships yet: asking for ``ours``
    without a model file is a one-line :class:`DependencyError` (:data:`NO_ENCODER`).

Real recordings hold short, silent and broken clips. Feature extractors pad a clip shorter
than they need (at least :data:`MIN_VOICE_SECONDS`) by repeating it; shorter, silent,
non-finite or unreadable clips raise a one-line error, which :func:`extract_or_skip` turns
into a skip counted by reason (:func:`skip_reason`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from sonomorph.errors import (
    AudioLoadError,
    CheckpointError,
    ConfigError,
    DependencyError,
    InputTooShortError,
    SonomorphError,
)
from sonomorph.utils.hashing import sha256_file

__all__ = ["FEATURES", "DEFAULT_FEATURES", "NO_ENCODER", "ENCODER_KIND", "MIN_VOICE_SECONDS",
           "SilentVoiceError", "GramFeatures", "ResemblyzerFeatures", "EncoderFeatures",
           "Extractor", "encoder_available", "encoder_file", "make_extractor",
           "feature_versions", "extract_or_skip", "skip_reason", "load_voice"]

FEATURES = ("gram", "resemblyzer", "ours")
#: The features of a new database: the best feature set measured on held-out real speakers
#: (benchmarks/results/speakers-real.json). ``gram`` stays available as the original method.
DEFAULT_FEATURES = "resemblyzer"
SILENCE_RMS = 1e-4
MIN_VOICE_SECONDS = 0.1  # shorter clips are refused; longer ones are padded to what is needed
ENCODER_KIND = "speaker-encoder"
#: The one-line answer when our speaker encoder is asked for and none is available.
NO_ENCODER = ("no trained speaker encoder of ours is available (none ships yet): train one "
              "with `sonomorph train speaker-encoder` or pass its file with --model FILE")


def encoder_available() -> bool:
    """Whether a shipped speaker encoder of ours exists (what ``model=None`` would load)."""
    from sonomorph import pretrained

    return ENCODER_KIND in pretrained.available()


def encoder_file(model: str | os.PathLike | None = None) -> Path:
    """Our speaker encoder's file: ``model`` (a path or a shipped name), or the shipped
    ``speaker-encoder`` for None / ``"default"`` / ``"speaker-encoder"``; a one-line
    :class:`DependencyError` (:data:`NO_ENCODER`) when that is asked for and none ships."""
    from sonomorph.models.checkpoint import resolve_model

    if model is None or str(model) in ("default", ENCODER_KIND):
        if not encoder_available():
            raise DependencyError(NO_ENCODER)
        model = ENCODER_KIND
    return resolve_model(model, ENCODER_KIND)


class SilentVoiceError(AudioLoadError):
    """The clip holds no voice (its RMS is below :data:`SILENCE_RMS`)."""


def skip_reason(exc: SonomorphError) -> str:
    """The reason a clip is skipped, for the counts of a summary: ``short``, ``silent``
    or ``unreadable``."""
    if isinstance(exc, InputTooShortError):
        return "short"
    if isinstance(exc, SilentVoiceError):
        return "silent"
    return "unreadable"


def check_voice(wav: np.ndarray, path: str | os.PathLike | None = None) -> None:
    """A one-line error unless the mono waveform ``wav`` is finite and holds a voice (RMS
    above :data:`SILENCE_RMS`); :func:`skip_reason` names the error for a summary."""
    if not np.all(np.isfinite(wav)):
        raise AudioLoadError("holds NaN or infinite samples", path)
    if not float(np.sqrt(np.mean(np.square(wav, dtype=np.float64)))) > SILENCE_RMS:
        raise SilentVoiceError("is silent: there is no voice to describe", path)


def _prepare_voice(wav: np.ndarray, sr: int, min_samples: int,
                   path: str | os.PathLike | None) -> np.ndarray:
    """Check a mono waveform and pad it (by repeating it) to ``min_samples``."""
    wav = np.asarray(wav, dtype=np.float32).reshape(-1)
    floor = max(1, int(round(MIN_VOICE_SECONDS * sr)))
    if wav.shape[0] < floor:
        raise InputTooShortError(f"{wav.shape[0] / sr * 1000:.0f} ms is too short to describe "
                                 f"a voice (at least {floor / sr * 1000:.0f} ms)", path)
    check_voice(wav, path)
    if wav.shape[0] < min_samples:
        wav = np.tile(wav, -(-min_samples // wav.shape[0]))[:min_samples]
    return wav


class GramFeatures:
    """Random-CNN time-Gram features of an utterance (see the module docstring)."""

    name = "gram"

    def __init__(self, *, sample_rate: int = 16000, n_fft: int = 512, hop_length: int = 128,
                 channels: int = 16, kernel: str = "3x1", bands: int = 32, seed: int = 0,
                 top_db: float = 40.0) -> None:
        from sonomorph.audio.spectral import Spectrogram
        from sonomorph.models.random_cnn import RandomCNN

        self.settings = {"sample_rate": int(sample_rate), "n_fft": int(n_fft),
                         "hop_length": int(hop_length), "channels": int(channels),
                         "kernel": str(kernel), "bands": int(bands), "seed": int(seed),
                         "top_db": float(top_db)}
        self.sample_rate, self.bands, self.top_db = int(sample_rate), int(bands), float(top_db)
        self.spec = Spectrogram(int(n_fft), int(hop_length), power=1.0)
        self.net = RandomCNN(channels=channels, kernel=kernel, seed=seed)
        self.min_samples = int(n_fft) + 4 * int(hop_length)

    def __call__(self, wav: np.ndarray, path: str | os.PathLike | None = None) -> np.ndarray:
        """The feature vector (float32, unit length) of a mono waveform at ``sample_rate``."""
        from sonomorph.models.random_cnn import time_gram

        wav = _prepare_voice(wav, self.sample_rate, self.min_samples, path)
        with torch.no_grad():
            mag = self.spec(torch.from_numpy(np.ascontiguousarray(wav, dtype=np.float32)))
            energy = 10.0 * torch.log10(mag.pow(2).sum(dim=0).clamp_min(1e-20))
            kt = self.net.kernel[1]
            # A frame of the feature map covers input frames t .. t + kt - 1: keep it when
            # its centre frame is voiced.
            voiced = energy >= energy.max() - self.top_db
            keep = voiced[kt // 2: voiced.shape[0] - (kt - 1 - kt // 2)]
            feats = self.net(torch.log1p(mag)[None])
            if int(keep.sum()) >= 2:
                feats = feats[..., keep]
            gram = time_gram(feats, self.bands)[0]  # (bands, C, C)
            rows, cols = torch.triu_indices(gram.shape[-1], gram.shape[-1])
            vec = gram[:, rows, cols].reshape(-1)
            vec = torch.sign(vec) * vec.abs().sqrt()
            vec = vec - vec.mean()
            vec = vec / vec.norm().clamp_min(1e-12)
        return vec.numpy().astype(np.float32)


class ResemblyzerFeatures:
    """resemblyzer's 256-d speaker embedding (unit length) of an utterance."""

    name = "resemblyzer"

    def __init__(self, *, device: str = "cpu") -> None:
        try:
            from resemblyzer import VoiceEncoder
        except ImportError as exc:  # webrtcvad needs setuptools<81 to import
            raise DependencyError(f"the resemblyzer features need the resemblyzer package "
                                  f"(pip install resemblyzer 'setuptools<81'; or choose the "
                                  f"gram features): {str(exc).splitlines()[0]}") from None
        self.settings = {"sample_rate": 16000}
        self.sample_rate = 16000
        self.min_samples = 16000 // 2
        self.encoder = VoiceEncoder(device, verbose=False)

    def __call__(self, wav: np.ndarray, path: str | os.PathLike | None = None) -> np.ndarray:
        from resemblyzer import preprocess_wav

        wav = _prepare_voice(wav, self.sample_rate, self.min_samples, path)
        trimmed = preprocess_wav(wav, source_sr=self.sample_rate)
        if trimmed.shape[0] < self.sample_rate // 4:  # VAD found almost nothing: use it all
            trimmed = wav
        emb = self.encoder.embed_utterance(trimmed)
        return (emb / max(float(np.linalg.norm(emb)), 1e-12)).astype(np.float32)


class EncoderFeatures:
    """The slot for our own speaker encoder: a ``speaker-encoder`` model file (registered
    model with a ``sample_rate`` attribute, mapping ``(batch, samples)`` to ``(batch, D)``),
    its output L2-normalised. ``model`` is a path or a shipped model name."""

    name = "ours"

    def __init__(self, *, model: str = ENCODER_KIND, sha256: str | None = None,
                 device: str = "cpu") -> None:
        from sonomorph.models.checkpoint import load_model

        path = encoder_file(model)
        digest = sha256_file(path)
        if sha256 is not None and digest != sha256:
            raise CheckpointError("this speaker encoder differs from the one that filled the "
                                  "database (sha256)", path)
        self.net, meta = load_model(path, expect=ENCODER_KIND, map_location=device)
        self.sample_rate = int(getattr(self.net, "sample_rate", 16000))
        self.min_samples = int(getattr(self.net, "min_samples", self.sample_rate // 2))
        self.device = device
        self.settings = {"model": str(model), "sha256": digest}

    def __call__(self, wav: np.ndarray, path: str | os.PathLike | None = None) -> np.ndarray:
        wav = _prepare_voice(wav, self.sample_rate, self.min_samples, path)
        with torch.no_grad():
            emb = self.net(torch.from_numpy(wav)[None].to(self.device))[0].float().cpu()
        emb = emb / emb.norm().clamp_min(1e-12)
        return emb.numpy().astype(np.float32)


Extractor = GramFeatures | ResemblyzerFeatures | EncoderFeatures
_EXTRACTORS: dict[str, Callable[..., Extractor]] = {
    "gram": lambda settings, device: GramFeatures(**(settings or {})),
    "resemblyzer": lambda settings, device: ResemblyzerFeatures(device=device),
    "ours": lambda settings, device: EncoderFeatures(**(settings or {}), device=device),
}


def make_extractor(features: str = DEFAULT_FEATURES, settings: dict | None = None, *,
                   device: str = "cpu") -> Extractor:
    """The extractor called ``features`` (one of :data:`FEATURES`) with ``settings``."""
    if features not in _EXTRACTORS:
        raise ConfigError(f"features must be one of {', '.join(FEATURES)}, not {features!r}")
    return _EXTRACTORS[features](settings, device)

def feature_versions(extractor: Extractor) -> dict:
    """What identifies an extractor's features: its settings, and the version and sha256
    of the weights where there are weights (for results files)."""
    out: dict = {"features": extractor.name, "settings": dict(extractor.settings)}
    if extractor.name == "gram":
        out["weights"] = "none: a random CNN drawn from its seed"
    elif extractor.name == "resemblyzer":
        import importlib.metadata
        import importlib.util

        spec = importlib.util.find_spec("resemblyzer")
        weights = Path(spec.origin).parent / "pretrained.pt" if spec and spec.origin else None
        out["package"] = f"resemblyzer {importlib.metadata.version('resemblyzer')}"
        if weights is not None and weights.is_file():
            out["weights"] = "resemblyzer/pretrained.pt"
            out["sha256"] = sha256_file(weights)
    else:
        out["weights"] = Path(extractor.settings["model"]).name
        out["sha256"] = extractor.settings["sha256"]
    return out


def load_voice(path: str | os.PathLike, sample_rate: int) -> np.ndarray:
    """A file as a mono waveform at ``sample_rate`` (any format, rate, channel count)."""
    from sonomorph.audio.io import load

    wav, _ = load(path, sr=sample_rate, channels=1)
    return wav[0]


def extract_or_skip(extractor: Extractor, path: Path,
                    skipped: dict[str, list[str]]) -> np.ndarray | None:
    """The feature vector of one file, or None after recording why it was skipped (a
    short, silent, non-finite or unreadable clip) in ``skipped``."""
    try:
        return extractor(load_voice(path, extractor.sample_rate), path)
    except SonomorphError as exc:
        skipped.setdefault(skip_reason(exc), []).append(str(exc))
        return None
