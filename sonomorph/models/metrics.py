"""Metrics: BSSEval v4 SDR (museval, the MUSDB18 convention), SI-SDR and ROC AUC.

They live beside the losses (:mod:`sonomorph.models.losses`) because training scores its
validation with them as evaluation does; :mod:`sonomorph.eval.metrics` re-exports them.

Conventions (those of the SiSEC 2018 / MUSDB18 evaluation):

- :func:`bss_eval_v4` computes SDR/SIR/SAR/ISR on 1-second windows with a 1-second hop,
  time-invariant distortion filters of 512 taps (``museval.metrics.bss_eval`` with
  ``framewise_filters=False, bsseval_sources_version=False``); a track's score is the
  median over its windows, ignoring NaN windows (those where a reference is silent).
- A data set's score is the median over its tracks (:func:`median_over_tracks`).
- :func:`si_sdr` is the scale-invariant SDR of Le Roux et al. (2019) on the whole signal,
  channels concatenated; it needs no external package and is cheap.
- :func:`roc_auc` is the area under the ROC curve of a binary classifier's scores
  (scikit-learn; ties count half).

Why the ``stempeg`` stub: ``import museval`` imports ``musdb``, which imports ``stempeg``,
and stempeg raises ``RuntimeError`` *at import time* unless both ``ffmpeg`` and ``ffprobe``
are on PATH. We only use ``museval.metrics`` (pure numpy/scipy) and never read stem files,
so when the real import fails we put a placeholder ``stempeg`` module in ``sys.modules``
before importing museval. The placeholder raises if anything actually calls into it.
"""

from __future__ import annotations

import importlib
import math
import statistics
import sys
import types
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

__all__ = ["bss_eval_v4", "si_sdr", "level_db", "track_scores", "median_over_tracks", "museval_metrics",
           "roc_auc", "equal_error_rate", "nearest_neighbour_accuracy"]

_EPS = 1e-10


def _stempeg_stub() -> types.ModuleType:
    stub = types.ModuleType("stempeg")
    stub.__doc__ = ("Placeholder installed by sonomorph.eval.metrics: the real stempeg needs "
                    "ffmpeg and ffprobe at import time, and only museval.metrics is used.")

    def _unavailable(*_args, **_kwargs):
        raise RuntimeError("stempeg is not available (sonomorph only uses museval.metrics)")

    def _getattr(name: str):
        if name.startswith("__"):  # module protocol (__file__, __path__...): plainly absent
            raise AttributeError(name)
        return _unavailable

    stub.__getattr__ = _getattr  # type: ignore[attr-defined]
    return stub


def museval_metrics() -> types.ModuleType:
    """``museval.metrics``, importing museval with a stub stempeg when the real one fails."""
    if "museval.metrics" in sys.modules:
        return sys.modules["museval.metrics"]
    try:
        return importlib.import_module("museval.metrics")
    except RuntimeError:  # stempeg: "ffmpeg or ffprobe could not be found"
        pass
    for name in [m for m in sys.modules if m.split(".")[0] in ("museval", "musdb", "stempeg")]:
        del sys.modules[name]  # drop half-imported modules before retrying
    sys.modules["stempeg"] = _stempeg_stub()
    return importlib.import_module("museval.metrics")


def _as_samples_channels(x: np.ndarray) -> np.ndarray:
    """``(channels, samples)`` float audio -> ``(samples, channels)`` float64 (museval's)."""
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2:
        raise ValueError(f"expected (channels, samples) audio, got shape {a.shape}")
    return a.T


def bss_eval_v4(references: Sequence[np.ndarray], estimates: Sequence[np.ndarray],
                sample_rate: int, *, window_s: float = 1.0, hop_s: float = 1.0
                ) -> dict[str, np.ndarray]:
    """BSSEval v4 framewise metrics for several sources of one track.

    ``references`` and ``estimates`` are lists (one entry per source, same order) of
    ``(channels, samples)`` arrays of equal shape. Returns ``{"SDR", "SIR", "SAR", "ISR"}``,
    each ``(sources, windows)`` with NaN where a window's reference is silent.
    """
    if len(references) != len(estimates) or not references:
        raise ValueError("need as many estimates as references, at least one")
    refs = np.stack([_as_samples_channels(r) for r in references])
    ests = np.stack([_as_samples_channels(e) for e in estimates])
    if refs.shape != ests.shape:
        raise ValueError(f"reference shape {refs.shape} != estimate shape {ests.shape}")
    metrics = museval_metrics()
    win = int(window_s * sample_rate)
    hop = int(hop_s * sample_rate)
    sdr, isr, sir, sar, _perm = metrics.bss_eval(
        refs, ests, window=win, hop=hop, compute_permutation=False,
        framewise_filters=False, bsseval_sources_version=False,
    )
    return {"SDR": np.asarray(sdr), "SIR": np.asarray(sir), "SAR": np.asarray(sar),
            "ISR": np.asarray(isr)}


def _nanmedian(values: np.ndarray) -> float:
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    return float(np.median(v)) if v.size else math.nan


def si_sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Scale-invariant SDR in dB over the whole signal (channels concatenated).

    ``10 log10(|a s|^2 / |a s - e|^2)`` with ``a = <e, s> / |s|^2``. NaN when the reference
    is silent; +inf never occurs (a tiny floor on the error).
    """
    s = np.asarray(reference, dtype=np.float64).reshape(-1)
    e = np.asarray(estimate, dtype=np.float64).reshape(-1)
    if s.shape != e.shape:
        raise ValueError(f"reference and estimate differ in size: {s.size} vs {e.size}")
    energy = float(np.dot(s, s))
    if energy <= _EPS:
        return math.nan
    target = (float(np.dot(e, s)) / energy) * s
    noise = e - target
    return 10.0 * math.log10((float(np.dot(target, target)) + _EPS)
                             / (float(np.dot(noise, noise)) + _EPS))



def level_db(stem: np.ndarray, reference: np.ndarray) -> float:
    """Energy of ``stem`` relative to ``reference``, in dB (how much of an input a separated
    stem holds): NaN when the reference is silent, -inf for a silent stem."""
    num = float(np.sum(np.square(stem, dtype=np.float64)))
    den = float(np.sum(np.square(reference, dtype=np.float64)))
    if den <= 0:
        return math.nan
    return 10 * math.log10(num / den) if num > 0 else -math.inf

def track_scores(references: Mapping[str, np.ndarray], estimates: Mapping[str, np.ndarray],
                 sample_rate: int, *, bsseval: bool = True) -> dict[str, dict[str, float]]:
    """Per-source scores of one track: ``{source: {"SDR": ..., "SIR": ..., "SAR": ...,
    "ISR": ..., "SI-SDR": ...}}``; BSSEval values are medians over 1-s windows (NaN windows
    ignored). With ``bsseval=False`` only SI-SDR is computed (fast)."""
    names = list(references)
    missing = [n for n in names if n not in estimates]
    if missing:
        raise ValueError(f"no estimate for {', '.join(missing)}")
    out: dict[str, dict[str, float]] = {n: {} for n in names}
    if bsseval:
        framewise = bss_eval_v4([references[n] for n in names], [estimates[n] for n in names],
                                sample_rate)
        for i, n in enumerate(names):
            for key, values in framewise.items():
                out[n][key] = _nanmedian(values[i])
    for n in names:
        out[n]["SI-SDR"] = si_sdr(references[n], estimates[n])
    return out


def median_over_tracks(per_track: Iterable[Mapping[str, Mapping[str, float]]]
                       ) -> dict[str, dict[str, float]]:
    """Median over tracks of each (source, metric), ignoring NaN tracks (the MUSDB way)."""
    collected: dict[str, dict[str, list[float]]] = {}
    for track in per_track:
        for source, metrics in track.items():
            for key, value in metrics.items():
                collected.setdefault(source, {}).setdefault(key, []).append(float(value))
    return {
        source: {key: (statistics.median(v) if (v := [x for x in vals if math.isfinite(x)])
                       else math.nan) for key, vals in metrics.items()}
        for source, metrics in collected.items()
    }


def _silent(x: np.ndarray) -> bool:
    return not np.any(np.asarray(x))


def _channels_cancel(x: np.ndarray) -> bool:
    """museval's silence test: the sum of the channels is zero at every sample. True of
    a silent source, and of one whose two channels are exact opposites, which is what
    centre-channel cancellation of any 16-bit stereo mixture gives: the side signal
    ``(L - R) / 2`` is then computed without rounding."""
    a = np.asarray(x, dtype=np.float64)
    return not np.any(a.sum(axis=0) if a.ndim == 2 else a)


# The angle by which score_track turns the stereo pair when museval would mistake a source
# whose channels cancel for silence; any angle other than a multiple of 45 degrees works.
ROTATION_DEGREES = 30.0


def _rotate(x: np.ndarray, degrees: float = ROTATION_DEGREES) -> np.ndarray:
    """The first two channels of ``x`` (channels, samples) turned by ``degrees`` (an
    orthogonal mix: at each sample the stereo vector keeps its length), as float64."""
    a = np.array(x, dtype=np.float64, copy=True)
    if a.ndim != 2 or a.shape[0] < 2:
        return a
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    left, right = a[0].copy(), a[1].copy()
    a[0] = c * left + s * right
    a[1] = -s * left + c * right
    return a


def score_track(references: dict[str, np.ndarray], estimates: dict[str, np.ndarray],
                sample_rate: int, *, bsseval: bool = True
                ) -> tuple[dict[str, dict[str, float]], str | None]:
    """:func:`track_scores` that never fails on what museval calls silence; returns
    ``(scores, note)`` (note None when there is nothing to say).

    museval refuses a set of sources where any reference or estimate is "silent" by its
    test, the sum of the channels being zero at every sample. Two cases:

    - The channels cancel but the source is not silent: the side signal of centre-channel
      cancellation on any 16-bit stereo mixture, ``(L - R) / 2`` on one channel and its
      exact opposite on the other. Every reference and estimate then has its stereo pair
      turned by :data:`ROTATION_DEGREES` before scoring. BSSEval v4 (images) and SI-SDR
      are unchanged by such an orthogonal mix of the channels (the projections onto the
      references' channels turn with it, and energies summed over the channels stay the
      same), so the scores are those of the sources themselves; the note says so.
    - A source is truly silent (all zeros): it gets NaN for BSSEval (and SI-SDR too when
      it is the reference, or the estimate), with a note, and the others are scored on
      their own: SDR and ISR of BSSEval v4 depend only on a source's own reference and
      estimate, so they are unchanged; SIR and SAR, which need every source, are NaN
      for all.
    """
    names = list(references)
    why = {n: f"{n} estimate is silent" if _silent(estimates[n]) else None for n in names}
    for n in names:
        if why[n] is None and _silent(references[n]):
            why[n] = f"{n} reference is silent"
    keep = [n for n in names if why[n] is None]
    refs = {n: references[n] for n in keep}
    ests = {n: estimates[n] for n in keep}
    notes = []
    cancelling = [f"{n} {kind}" for n in keep
                  for kind, x in (("reference", refs[n]), ("estimate", ests[n]))
                  if _channels_cancel(x)]
    if cancelling:
        turned_refs = {n: _rotate(x) for n, x in refs.items()}
        turned_ests = {n: _rotate(x) for n, x in ests.items()}
        if any(_channels_cancel(x) for x in (*turned_refs.values(), *turned_ests.values())):
            for n in keep:  # no turn helps (not seen in practice): left unscored
                if any(c.startswith(n + " ") for c in cancelling):
                    why[n] = f"{n} has channels that cancel exactly"
            keep = [n for n in keep if why[n] is None]
            refs = {n: references[n] for n in keep}
            ests = {n: estimates[n] for n in keep}
        else:
            refs, ests = turned_refs, turned_ests
            notes.append(", ".join(cancelling) + " has channels that cancel exactly, which "
                         "museval reads as silence: scored with the stereo pair turned by "
                         f"{ROTATION_DEGREES:g} degrees (BSSEval v4 and SI-SDR are unchanged "
                         "by it)")
    if not any(why.values()):
        return track_scores(refs, ests, sample_rate, bsseval=bsseval), (
            "; ".join(notes) or None)
    nan = float("nan")
    keys = ("SDR", "SIR", "SAR", "ISR", "SI-SDR") if bsseval else ("SI-SDR",)
    out = {n: dict.fromkeys(keys, nan) for n in names}
    if keep:
        part = track_scores(refs, ests, sample_rate, bsseval=bsseval)
        for n in keep:
            out[n].update(part[n])
            if bsseval:
                out[n]["SIR"] = out[n]["SAR"] = nan
    for n in names:
        if n not in keep and np.any(estimates[n]):
            out[n]["SI-SDR"] = si_sdr(references[n], estimates[n])
    notes.append("; ".join(w for w in why.values() if w) + " (BSSEval undefined: NaN, left "
                 "out of the medians)")
    return out, "; ".join(notes)


def roc_auc(scores: Sequence[float] | np.ndarray, labels: Sequence[int] | np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` for binary ``labels`` (1 positive; ties count
    half); NaN unless both classes are present."""
    from sklearn.metrics import roc_auc_score

    labels = np.asarray(labels)
    if len(set(labels.tolist())) < 2:
        return float("nan")
    return float(roc_auc_score(labels, np.asarray(scores)))


def equal_error_rate(scores: Sequence[float] | np.ndarray,
                     labels: Sequence[int] | np.ndarray) -> float:
    """The equal error rate of a verification score (higher = more likely the same, label
    1): the point of the ROC curve where the false-acceptance rate equals the
    false-rejection rate (the mean of the two at the threshold where they are closest);
    NaN unless both classes are present."""
    from sklearn.metrics import roc_curve

    labels = np.asarray(labels)
    if len(set(labels.tolist())) < 2:
        return float("nan")
    far, tpr, _ = roc_curve(labels, np.asarray(scores, dtype=np.float64))
    frr = 1.0 - tpr
    i = int(np.argmin(np.abs(far - frr)))
    return float((far[i] + frr[i]) / 2.0)


def nearest_neighbour_accuracy(embeddings: np.ndarray, labels: Sequence) -> float:
    """Leave-one-out 1-nearest-neighbour accuracy (cosine) of ``embeddings`` ``(n, D)``:
    the share of rows whose most similar other row has the same label."""
    e = np.asarray(embeddings, dtype=np.float64)
    e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
    sim = e @ e.T
    np.fill_diagonal(sim, -np.inf)
    lab = np.asarray(labels)
    return float(np.mean(lab[np.argmax(sim, axis=1)] == lab)) if len(lab) > 1 else float("nan")
