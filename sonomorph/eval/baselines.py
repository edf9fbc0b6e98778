"""Separation baselines, computed on the same tracks as a model to put its scores in context.

Every baseline maps a mixture ``(channels, samples)`` float32 array to
``{"vocals": ..., "accompaniment": ...}`` of the same shape, and (like the network) returns
the accompaniment as ``mixture - vocals`` so the two stems always sum to the mixture.

- :func:`mixture_baseline` does nothing: both stems are the mixture. The floor.
- :func:`oracle_irm` is the ideal ratio mask computed from the true stems
  (``|V|^2 / (|V|^2 + |A|^2)``, per channel, with the model's STFT): the ceiling of any
  real-valued mask applied to the mixture with the mixture's phase.
- :func:`centre_cancel` is the classic karaoke trick: the side signal ``(L - R) / 2``
  (anything panned dead centre, usually the voice, cancels) is the accompaniment, in
  antiphase on the two channels; the vocals are what remains, the mid ``(L + R) / 2``.
- :func:`repet_sim` is REPET-SIM (Rafii & Pardo, 2012) the way librosa's documentation
  builds it: a nearest-neighbour median filter over similar frames
  (:func:`librosa.decompose.nn_filter`, cosine similarity, frames at least 2 s apart)
  estimates the repeating background's magnitude; soft masks (margin 10 for the voice)
  pick out the non-repeating part, the vocals.

:func:`evaluate_separation` scores a separator, any peers (e.g. Spleeter 2-stem,
:mod:`sonomorph.eval.peers.spleeter`) and these baselines on the same tracks of a MUSDB18-HQ-
or CCMixter-layout folder (what ``sonomorph eval separator`` prints, through
:func:`format_scores`). :func:`score_track` scores one track without museval's errors: a
source whose channels cancel exactly (centre-channel cancellation of a 16-bit mixture) is
scored with the stereo pair turned, which leaves the metrics unchanged, and a silent
estimate or reference is NaN with a note.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import librosa
import numpy as np
import torch

from sonomorph.audio.spectral import ISTFT, STFT
from sonomorph.eval.metrics import median_over_tracks, score_track

__all__ = ["mixture_baseline", "oracle_irm", "centre_cancel", "repet_sim", "BLIND_BASELINES",
           "evaluate_separation", "format_scores", "load_track", "score_track"]

N_FFT = 4096
HOP = 1024
Stems = dict[str, np.ndarray]


def _stems(mix: np.ndarray, vocals: np.ndarray) -> Stems:
    vocals = np.ascontiguousarray(vocals, dtype=np.float32)
    return {"vocals": vocals, "accompaniment": (mix - vocals).astype(np.float32)}


def _stft(x: np.ndarray, n_fft: int, hop: int) -> torch.Tensor:
    return STFT(n_fft, hop)(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))


def _apply_mask(mix: np.ndarray, spec: torch.Tensor, mask: np.ndarray | torch.Tensor,
                n_fft: int, hop: int) -> np.ndarray:
    mask_t = torch.as_tensor(mask, dtype=torch.float32)
    y = ISTFT(n_fft, hop)(spec * mask_t, length=mix.shape[-1])
    return y.numpy()


def mixture_baseline(mix: np.ndarray, sample_rate: int | None = None) -> Stems:
    """Do nothing: vocals = accompaniment = mixture (the accompaniment is *not* the residual
    here, which would be silence)."""
    m = np.asarray(mix, dtype=np.float32)
    return {"vocals": m.copy(), "accompaniment": m.copy()}


def oracle_irm(mix: np.ndarray, vocals: np.ndarray, accompaniment: np.ndarray,
               sample_rate: int | None = None, *, n_fft: int = N_FFT, hop: int = HOP,
               power: float = 2.0) -> Stems:
    """Oracle ideal ratio mask ``|V|^p / (|V|^p + |A|^p)`` from the true stems (p = 2: the
    Wiener-like mask, usually the stronger of the two common choices)."""
    mix = np.asarray(mix, dtype=np.float32)
    if mix.shape[-1] <= n_fft // 2:
        return mixture_baseline(mix)
    spec = _stft(mix, n_fft, hop)
    v = _stft(vocals, n_fft, hop).abs().pow(power)
    a = _stft(accompaniment, n_fft, hop).abs().pow(power)
    mask = v / (v + a + 1e-12)
    return _stems(mix, _apply_mask(mix, spec, mask, n_fft, hop))


def centre_cancel(mix: np.ndarray, sample_rate: int | None = None) -> Stems:
    """Centre-channel cancellation: accompaniment = side (L - R)/2 on L, (R - L)/2 on R;
    vocals = mid (L + R)/2 on both. A mono mixture has no side: vocals = mixture."""
    mix = np.asarray(mix, dtype=np.float32)
    if mix.shape[0] < 2:
        return _stems(mix, mix)
    mid = 0.5 * (mix[0] + mix[1])
    vocals = np.repeat(mid[None, :], mix.shape[0], axis=0)
    if mix.shape[0] > 2:  # only the first two channels form the stereo pair
        vocals[2:] = mix[2:]
    return _stems(mix, vocals)


def repet_sim(mix: np.ndarray, sample_rate: int, *, n_fft: int = N_FFT, hop: int = HOP,
              width_s: float = 2.0, margin_voice: float = 10.0, power: float = 2.0) -> Stems:
    """REPET-SIM vocals by nearest-neighbour median filtering of the magnitude (on the
    channel average, the same mask for every channel); accompaniment = the residual."""
    mix = np.asarray(mix, dtype=np.float32)
    if mix.shape[-1] <= n_fft // 2:
        return mixture_baseline(mix)
    spec = _stft(mix, n_fft, hop)
    mag = spec.abs().mean(0).numpy().astype(np.float64)  # (F, T)
    frames = mag.shape[1]
    width = int(librosa.time_to_frames(width_s, sr=sample_rate, hop_length=hop))
    if width >= (frames - 1) // 2:  # too short for a 2-s exclusion zone: shrink it
        width = (frames - 1) // 2 - 1
    if width < 1:  # a few frames: nothing can repeat, everything is "voice"
        return _stems(mix, mix)
    # Fortran order: nn_filter gathers whole frames (columns), 2-3x faster this way.
    background = librosa.decompose.nn_filter(np.asfortranarray(mag), aggregate=np.median,
                                             metric="cosine",
                                             width=width)
    background = np.minimum(mag, background)
    mask = librosa.util.softmask(mag - background, margin_voice * background, power=power)
    mask = np.nan_to_num(mask, nan=0.0)
    return _stems(mix, _apply_mask(mix, spec, mask[None].astype(np.float32), n_fft, hop))


# Baselines that need no ground truth, by display name.
BLIND_BASELINES: dict[str, Callable[[np.ndarray, int], Stems]] = {
    "mixture (do nothing)": mixture_baseline,
    "centre-channel cancellation": centre_cancel,
    "REPET-SIM": repet_sim,
}


# ----------------------------------------------------------------------------- evaluation

MODEL_NAME = "sonomorph separator"
ORACLE_NAME = "oracle IRM (ceiling)"


def _read_source(track, source: str, sample_rate: int, start: int, length: int) -> np.ndarray:
    from sonomorph.data.datasets import read_segment

    parts = track.parts(source)
    out = read_segment(parts[0], start, length, sample_rate, 2)
    for p in parts[1:]:
        out = out + read_segment(p, start, length, sample_rate, 2)
    return out


def load_track(track, sample_rate: int = 44100, seconds: float | None = None
               ) -> dict[str, np.ndarray]:
    """``{"mixture", "vocals", "accompaniment"}`` of a :class:`~sonomorph.data.layouts.Track`
    as stereo float32 at ``sample_rate``; with ``seconds``, that much from the middle."""
    from sonomorph.data.datasets import audio_frames

    total = min(audio_frames(p, sample_rate) for s in ("vocals", "accompaniment")
                for p in track.parts(s))
    length = total if seconds is None else min(total, int(round(seconds * sample_rate)))
    start = (total - length) // 2
    out = {s: _read_source(track, s, sample_rate, start, length)
           for s in ("vocals", "accompaniment")}
    if "mixture" in track.files:
        out["mixture"] = _read_source(track, "mixture", sample_rate, start, length)
    else:
        out["mixture"] = out["vocals"] + out["accompaniment"]
    return out


def evaluate_separation(separator, data: str | os.PathLike, *, split: str = "test",
                        tracks: int | None = None, seconds: float | None = None,
                        baselines: bool = True, bsseval: bool = True,
                        peers: dict[str, object] | None = None, model_name: str = MODEL_NAME,
                        progress: Callable[[float, float], None] | None = None) -> dict:
    """Score ``separator`` (a :class:`~sonomorph.pipelines.separate.Separator`, or any
    callable ``(mix, sr) -> {"vocals", "accompaniment"}``; None: no model row) on the
    ``split`` of a MUSDB18-HQ- or CCMixter-layout folder, beside ``peers`` (name ->
    another separator, e.g. :class:`~sonomorph.eval.peers.spleeter.SpleeterSeparator`) and
    the baselines, on the same tracks.

    Returns ``{"split", "tracks": [names], "seconds", "methods": {method: {source:
    {"SDR", "SIR", "SAR", "ISR", "SI-SDR"}}}, "per_track": {method: [{"track", source:
    {...}}]}, "notes": {method: [text]}}``; method scores are medians over tracks of
    per-track medians over 1-s frames. A track where a method's output (or a reference)
    is silent scores NaN there, with a note (see :func:`score_track`), instead of failing.
    ``data`` may also be one track folder, or a folder of track folders with no split
    folders (:func:`~sonomorph.data.layouts.scoring_tracks`); without a mixture file the
    mixture is the sum of the stems.
    """
    from sonomorph.data.layouts import scoring_tracks

    items = scoring_tracks(data, split)
    if tracks:
        items = items[: int(tracks)]
    runners = {model_name: separator} if separator is not None else {}
    runners.update(peers or {})
    sr = int(getattr(separator, "sample_rate", 44100)) if separator is not None else 44100

    def call(sep):
        run = sep.separate if hasattr(sep, "separate") else sep
        return lambda t: run(t["mixture"], sr)

    methods: dict[str, Callable[[dict[str, np.ndarray]], Stems]] = {
        name: call(sep) for name, sep in runners.items()}
    if baselines:
        methods[ORACLE_NAME] = lambda t: oracle_irm(t["mixture"], t["vocals"],
                                                    t["accompaniment"], sr)
        for name, fn in BLIND_BASELINES.items():
            methods[name] = (lambda f: (lambda t: f(t["mixture"], sr)))(fn)
    per_track: dict[str, list[dict]] = {m: [] for m in methods}
    notes: dict[str, list[str]] = {}
    steps = len(items) * len(methods)
    done = 0
    for track in items:
        audio = load_track(track, sr, seconds)
        refs = {"vocals": audio["vocals"], "accompaniment": audio["accompaniment"]}
        for name, method in methods.items():
            est = method(audio)
            scores, note = score_track(refs, {k: est[k] for k in refs}, sr, bsseval=bsseval)
            per_track[name].append({"track": track.name, **scores})
            if note:
                notes.setdefault(name, []).append(f"{track.name}: {note}")
            done += 1
            if progress is not None:
                progress(done, steps)
    summary = {name: median_over_tracks([{k: v for k, v in row.items() if k != "track"}
                                         for row in rows])
               for name, rows in per_track.items()}
    return {"split": split, "tracks": [t.name for t in items], "seconds": seconds,
            "methods": summary, "per_track": per_track, "notes": notes}


def format_scores(scores: dict) -> str:
    """The summary of :func:`evaluate_separation` as a markdown table (dB)."""
    header = ["method", "vocals SDR", "vocals SI-SDR", "accomp. SDR", "accomp. SI-SDR"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]

    def cell(x: float | None) -> str:
        return "–" if x is None or not np.isfinite(x) else f"{x:.2f}"

    for name, res in scores["methods"].items():
        v, a = res.get("vocals", {}), res.get("accompaniment", {})
        lines.append(f"| {name} | {cell(v.get('SDR'))} | {cell(v.get('SI-SDR'))} | "
                     f"{cell(a.get('SDR'))} | {cell(a.get('SI-SDR'))} |")
    span = "whole tracks" if not scores.get("seconds") else f"{scores['seconds']:g} s per track"
    lines.append("")
    lines.append(f"{len(scores['tracks'])} track(s) of split '{scores['split']}', {span}. "
                 "SDR: BSSEval v4 (museval), median over 1-s frames then over tracks; "
                 "SI-SDR over each whole excerpt, median over tracks.")
    for name, texts in (scores.get("notes") or {}).items():
        lines.append(f"Note, {name}: {'; '.join(texts)}.")
    if any("NaN" in t for texts in (scores.get("notes") or {}).values() for t in texts):
        lines.append("'–': no track left to take the median over.")
    return "\n".join(lines)
