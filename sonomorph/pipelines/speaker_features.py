"""Speaker features: what an utterance is turned into before speakers are compared.

Four feature extractors (``features=``), each a callable mapping a mono waveform at its
``sample_rate`` to one unit-length float32 vector, with the ``name`` and ``settings`` a
speaker database records (:mod:`sonomorph.pipelines.speakers` keeps the database,
enrolment, identification and the "unknown" threshold):

``gram`` (the original method; :data:`DEFAULT_FEATURES` until resemblyzer measured better)
    The time-Gram of a frozen, seeded random CNN over the log1p-magnitude STFT of the voiced
    frames (16 kHz, ``n_fft`` 512, hop 128; frames more than 40 dB below the loudest are
    left out, so pauses do not dilute the statistics). The per-band ``C x C`` Grams
    (:func:`sonomorph.models.random_cnn.time_gram`) are flattened (upper triangles), square
    rooted (sign kept) to tame their dynamic range, centred and L2-normalised.
``resemblyzer`` (the default until ``adapted`` measured better)
    The 256-d utterance embedding of resemblyzer's pretrained speaker encoder (GE2E; its
    weights ship inside its wheel, nothing is downloaded), with its own voice-activity
    trimming. resemblyzer is a requirement; if it cannot be imported, asking for these
    features (or ``adapted``) is a one-line :class:`DependencyError`.

``ours`` (our own trained speaker encoder)
    The unit-length embedding of a ``speaker-encoder`` model file (settings ``{"model":
    PATH}``, e.g. a ``sonomorph train speaker-encoder`` run's ``best.safetensors``; the
    shipped ``speaker-encoder`` when it exists). Asking for ``ours`` without a model file
    when none ships is a one-line :class:`DependencyError` (:data:`NO_ENCODER`).
``adapted`` (the default: :data:`DEFAULT_FEATURES`; resemblyzer through a speaker back-end
fitted on our train speakers)
    resemblyzer's embedding passed through a ``speaker-backend`` model file
    (:class:`sonomorph.models.speaker_backend.SpeakerBackend`: the fitting vectors' mean
    taken away, the dominant shared direction(s) projected out, unit length again), fitted
    by ``sonomorph train speaker-backend`` on the speech corpus's real train speakers.
    Settings ``{"model": PATH}`` (a fitted back-end's file; the shipped ``speaker-backend``
    when it exists). Without one, a one-line :class:`DependencyError` (:data:`NO_BACKEND`).
    It is the default because it is the best feature set measured on held-out real
    speakers (``eval speakers --split test-real``, all feature sets in one run, recorded in
    ``benchmarks/results/speakers-real.json``).

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

__all__ = ["FEATURES", "DEFAULT_FEATURES", "NO_ENCODER", "ENCODER_KIND", "NO_BACKEND",
           "BACKEND_KIND", "MIN_VOICE_SECONDS", "SilentVoiceError", "GramFeatures",
           "ResemblyzerFeatures", "EncoderFeatures", "AdaptedFeatures", "Extractor",
           "encoder_available", "encoder_file", "backend_available", "backend_file",
           "make_extractor", "feature_versions", "extract_or_skip", "skip_reason", "load_voice"]

FEATURES = ("gram", "resemblyzer", "ours", "adapted")
#: The features of a new database: the best feature set measured on held-out real speakers
#: (benchmarks/results/speakers-real.json). ``gram`` stays available as the original method.
DEFAULT_FEATURES = "adapted"
SILENCE_RMS = 1e-4
MIN_VOICE_SECONDS = 0.1  # shorter clips are refused; longer ones are padded to what is needed
ENCODER_KIND = "speaker-encoder"
#: The one-line answer when our speaker encoder is asked for and none is available.
NO_ENCODER = ("no trained speaker encoder of ours is available (none ships yet): train one "
              "with `sonomorph train speaker-encoder` or pass its file with --model FILE")
BACKEND_KIND = "speaker-backend"
#: The one-line answer when the adapted features are asked for and no back-end is available.
NO_BACKEND = ("no speaker back-end for the adapted features is available (none ships yet): "
              "fit one with `sonomorph train speaker-backend` or pass its file with "
              "--backend FILE")


def _shipped_file(kind: str, missing: str, available: Callable[[], bool],
                  model: str | os.PathLike | None) -> Path:
    """``model`` (a path or a shipped name) as a file, or the shipped ``kind`` for None /
    ``"default"`` / ``kind``; a one-line :class:`DependencyError` (``missing``) when that is
    asked for and ``available()`` says none ships."""
    from sonomorph.models.checkpoint import resolve_model

    if model is None or str(model) in ("default", kind):
        if not available():
            raise DependencyError(missing)
        model = kind
    return resolve_model(model, kind)


def encoder_available() -> bool:
    """Whether a shipped speaker encoder of ours exists (what ``model=None`` would load)."""
    from sonomorph import pretrained

    return ENCODER_KIND in pretrained.available()


def encoder_file(model: str | os.PathLike | None = None) -> Path:
    """Our speaker encoder's file: ``model`` (a path or a shipped name), or the shipped
    ``speaker-encoder`` for None / ``"default"`` / ``"speaker-encoder"``; a one-line
    :class:`DependencyError` (:data:`NO_ENCODER`) when that is asked for and none ships."""
    return _shipped_file(ENCODER_KIND, NO_ENCODER, encoder_available, model)


def backend_available() -> bool:
    """Whether a shipped speaker back-end exists (what the adapted features load by
    default)."""
    from sonomorph import pretrained

    return BACKEND_KIND in pretrained.available()


def backend_file(model: str | os.PathLike | None = None) -> Path:
    """The speaker back-end's file: ``model`` (a path or a shipped name), or the shipped
    ``speaker-backend`` for None / ``"default"`` / ``"speaker-backend"``; a one-line
    :class:`DependencyError` (:data:`NO_BACKEND`) when that is asked for and none ships."""
    return _shipped_file(BACKEND_KIND, NO_BACKEND, backend_available, model)


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


def _load_checked(path: Path, kind: str, sha256: str | None, what: str, device: str):
    """``(model, metadata, sha256)`` of a model file of ``kind``; a one-line
    :class:`CheckpointError` when ``sha256`` is given and the file's differs (a database
    filled with other weights)."""
    from sonomorph.models.checkpoint import load_model

    digest = sha256_file(path)
    if sha256 is not None and digest != sha256:
        raise CheckpointError(f"this {what} differs from the one that filled the database "
                              "(sha256)", path)
    model, meta = load_model(path, expect=kind, map_location=device)
    return model, meta, digest


class EncoderFeatures:
    """The slot for our own speaker encoder: a ``speaker-encoder`` model file (registered
    model with a ``sample_rate`` attribute, mapping ``(batch, samples)`` to ``(batch, D)``),
    its output L2-normalised. ``model`` is a path or a shipped model name."""

    name = "ours"

    def __init__(self, *, model: str = ENCODER_KIND, sha256: str | None = None,
                 device: str = "cpu") -> None:
        self.net, meta, digest = _load_checked(encoder_file(model), ENCODER_KIND, sha256,
                                               "speaker encoder", device)
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


class AdaptedFeatures:
    """resemblyzer's embedding through a ``speaker-backend`` model file (see the module
    docstring); ``model`` is a path or a shipped model name. The back-end must have been
    fitted on resemblyzer features (its file says so)."""

    name = "adapted"

    def __init__(self, *, model: str = BACKEND_KIND, sha256: str | None = None,
                 device: str = "cpu") -> None:
        path = backend_file(model)
        self.backend, meta, digest = _load_checked(path, BACKEND_KIND, sha256,
                                                   "speaker back-end", device)
        fitted_on = meta.get("features", "resemblyzer")
        if fitted_on != "resemblyzer" or int(getattr(self.backend, "dim", 0)) != 256:
            raise CheckpointError(f"this speaker back-end was fitted on {fitted_on} features "
                                  f"({getattr(self.backend, 'dim', '?')}-d), not on "
                                  "resemblyzer's 256-d ones", path)
        self.base = ResemblyzerFeatures(device=device)
        self.sample_rate, self.min_samples = self.base.sample_rate, self.base.min_samples
        self.device = device
        self.settings = {"model": str(model), "sha256": digest}

    def __call__(self, wav: np.ndarray, path: str | os.PathLike | None = None) -> np.ndarray:
        return self.adapt(self.base(wav, path))

    def adapt(self, vec: np.ndarray) -> np.ndarray:
        """The back-end applied to one resemblyzer vector (what :meth:`__call__` does after
        resemblyzer; lets a caller that already has resemblyzer's vector skip recomputing it)."""
        with torch.no_grad():
            x = torch.from_numpy(np.asarray(vec, dtype=np.float32))[None].to(self.device)
            out = self.backend(x)[0].float().cpu()
        return out.numpy().astype(np.float32)


Extractor = GramFeatures | ResemblyzerFeatures | EncoderFeatures | AdaptedFeatures
_EXTRACTORS: dict[str, Callable[..., Extractor]] = {
    "gram": lambda settings, device: GramFeatures(**(settings or {})),
    "resemblyzer": lambda settings, device: ResemblyzerFeatures(device=device),
    "ours": lambda settings, device: EncoderFeatures(**(settings or {}), device=device),
    "adapted": lambda settings, device: AdaptedFeatures(**(settings or {}), device=device),
}


def make_extractor(features: str = DEFAULT_FEATURES, settings: dict | None = None, *,
                   device: str = "cpu") -> Extractor:
    """The extractor called ``features`` (one of :data:`FEATURES`) with ``settings``."""
    if features not in _EXTRACTORS:
        raise ConfigError(f"features must be one of {', '.join(FEATURES)}, not {features!r}")
    return _EXTRACTORS[features](settings, device)


def _resemblyzer_versions() -> dict:
    """resemblyzer's package version and, where its wheel holds them, its weights' sha256."""
    import importlib.metadata
    import importlib.util

    spec = importlib.util.find_spec("resemblyzer")
    weights = Path(spec.origin).parent / "pretrained.pt" if spec and spec.origin else None
    out = {"package": f"resemblyzer {importlib.metadata.version('resemblyzer')}"}
    if weights is not None and weights.is_file():
        out["weights"] = "resemblyzer/pretrained.pt"
        out["sha256"] = sha256_file(weights)
    return out


def feature_versions(extractor: Extractor) -> dict:
    """What identifies an extractor's features: its settings, and the version and sha256
    of the weights where there are weights (for results files). For ``adapted``,
    ``weights``/``sha256`` are the back-end's file and ``resemblyzer`` holds resemblyzer's."""
    out: dict = {"features": extractor.name, "settings": dict(extractor.settings)}
    if extractor.name == "gram":
        out["weights"] = "none: a random CNN drawn from its seed"
    elif extractor.name == "resemblyzer":
        out.update(_resemblyzer_versions())
    else:
        out["weights"] = Path(extractor.settings["model"]).name
        out["sha256"] = extractor.settings["sha256"]
        if extractor.name == "adapted":
            rz = _resemblyzer_versions()
            out["package"] = rz.pop("package")
            out["resemblyzer"] = rz
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
