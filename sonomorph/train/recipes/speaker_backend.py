"""Fitting the speaker back-end (:mod:`sonomorph.models.speaker_backend`) of the ``adapted``
features.

    sonomorph train speaker-backend --data corpora/speech --out runs/speaker-backend

Data: the ``train`` speakers of a ``corpus speech`` folder, read as the speaker encoder's
recipe reads them (:func:`sonomorph.train.recipes.speaker_encoder.speaker_split`: its
``splits/train.txt``; a folder without split files: every speaker but a stable tenth).
``speakers="real"`` (the default) keeps only the real speakers, whose ids start with ``r-``;
``"all"`` keeps the synthetic voices too. The ``valid`` and ``test-real`` speakers are never
read. Every clip of those speakers (speakers and clips sorted; ``max_clips``: at most that
many usable clips of each speaker) is described by the extractor; skipped and counted by
reason: a clip whose bytes (sha256) were already read (``duplicate``), one shorter than
:data:`MIN_SECONDS` once loaded at the extractor's rate (``short``), and silent, non-finite
or unreadable ones (the extractor's errors, named by ``skip_reason``).

Fit: :func:`~sonomorph.models.speaker_backend.fit_backend` on all the vectors (no labels),
in closed form: nothing is trained by gradient, so there is no Trainer, no steps and no
resuming. One file is written, atomically: ``OUT/last.safetensors`` (kind
``speaker-backend``), which never replaces a clip it read and replaces an earlier fit only
with ``overwrite``. Its metadata says what it was fitted on: ``features`` (the extractor's
name) and ``feature_versions`` (its package and weights' sha256), ``data`` (the folder),
``speakers`` and ``clips_per_speaker``, ``clips``, ``skipped`` (counts by reason),
``remove``, ``speaker_set``, ``max_clips``, ``min_seconds`` and ``nuisance_share`` (the
share of the centred, normalised vectors' energy along each removed direction).

Layers: the train layer does not import the pipelines, so the extractor and its two
companions are arguments; the command line passes resemblyzer's
(:mod:`sonomorph.pipelines.speaker_features`: ``make_extractor("resemblyzer")``,
``skip_reason`` and ``feature_versions``), the very extractor the ``adapted`` features
run before the back-end.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from sonomorph.errors import ConfigError, SonomorphError
from sonomorph.utils.progress import ProgressCallback

__all__ = ["SPEAKER_SETS", "REAL_PREFIX", "MIN_SECONDS", "OUT_NAME", "train_speakers",
           "fit_from_corpus"]

SPEAKER_SETS = ("real", "all")
REAL_PREFIX = "r-"  #: the ids of a speech corpus's real speakers start with this
MIN_SECONDS = 0.5  #: shorter clips are skipped (the real-speaker protocol's floor)
OUT_NAME = "last.safetensors"


def train_speakers(root: str | os.PathLike, speakers: str = "real") -> dict[str, list[Path]]:
    """``{speaker: [files]}`` of the train split of a speech corpus (``speakers="real"``:
    the ``r-`` speakers only), speakers and files sorted; a one-line error when the folder
    is missing or holds no such speaker."""
    from sonomorph.data.layouts import DatasetError
    from sonomorph.train.recipes.speaker_encoder import speaker_split

    if speakers not in SPEAKER_SETS:
        raise ConfigError(f"speakers must be one of {', '.join(SPEAKER_SETS)}, not {speakers!r}")
    groups = speaker_split(root, "train")
    if speakers == "real":
        groups = {s: f for s, f in groups.items() if s.startswith(REAL_PREFIX)}
    if not groups:
        which = f"real train speakers (ids starting with {REAL_PREFIX})" if speakers == "real" \
            else "train speakers"
        hint = "; --speakers all takes the synthetic ones too" if speakers == "real" else ""
        raise DatasetError(f"no {which} with clips{hint}", root)
    return {s: sorted(groups[s]) for s in sorted(groups)}


def fit_from_corpus(root: str | os.PathLike, out: str | os.PathLike, remove: int = 1,
                    speakers: str = "real", max_clips: int | None = None,
                    progress: ProgressCallback | None = None, *, extractor: Any,
                    skip_reason: Callable[[SonomorphError], str], features: dict,
                    overwrite: bool = False,
                    groups: dict[str, list[Path]] | None = None) -> dict[str, Any]:
    """Fit a speaker back-end on the train speakers of the speech corpus ``root`` and write
    it to ``out/last.safetensors`` (see the module docstring).

    ``extractor``: a callable ``(mono waveform at extractor.sample_rate, path) -> vector``
    raising :class:`SonomorphError` for a clip it cannot describe, with ``name`` and
    ``sample_rate``; ``skip_reason`` names such an error for the counts; ``features``
    describes the extractor (recorded in the file). ``progress(done, total)`` per clip.
    ``groups``: what :func:`train_speakers` returned for ``root`` and ``speakers``, when the
    caller already listed them (else they are listed here).

    Returns ``out`` (the file), ``speakers``, ``clips``, ``clips_per_speaker``, ``skipped``
    (counts by reason), ``skipped_clips`` (the messages by reason), ``remove``,
    ``speaker_set`` and ``nuisance_share``."""
    from sonomorph.data.layouts import DatasetError
    from sonomorph.data.speaker_clips import usable_clips
    from sonomorph.models.checkpoint import save_model
    from sonomorph.models.speaker_backend import fit_backend
    from sonomorph.utils.fs import check_output, portable_path

    if max_clips is not None and max_clips < 1:
        raise ConfigError(f"max_clips must be at least 1, got {max_clips}")
    if remove < 0:
        raise ConfigError(f"remove must be 0 or more, got {remove}")
    if groups is None:
        groups = train_speakers(root, speakers)
    target = Path(out) / OUT_NAME
    check_output(target, overwrite=overwrite, inputs=[f for fs in groups.values() for f in fs])

    skipped: dict[str, list[str]] = {}
    clips = usable_clips(groups, lambda wav, path: np.asarray(extractor(wav, path),
                                                              dtype=np.float32),
                         int(extractor.sample_rate), skip_reason, min_seconds=MIN_SECONDS,
                         max_per_speaker=max_clips, skipped=skipped, progress=progress)
    vectors = [v for rows in clips.values() for v in rows]
    used = {s: len(rows) for s, rows in clips.items() if rows}

    need = max(2, remove + 1)
    if len(vectors) < need:
        reasons = ", ".join(f"{len(v)} {k}" for k, v in sorted(skipped.items()))
        raise DatasetError(f"{len(vectors)} usable clips of {len(groups)} train speakers, "
                           f"{need} needed to fit a speaker back-end"
                           + (f" (skipped: {reasons})" if reasons else ""), root)
    x = np.stack(vectors)
    if remove >= x.shape[1]:
        raise ConfigError(f"remove must be below the features' size ({x.shape[1]}), got {remove}")
    backend = fit_backend(x, remove=remove)

    share = backend.nuisance_share
    names = sorted(used)
    meta = {"features": str(extractor.name), "feature_versions": features,
            "data": portable_path(root), "speaker_set": speakers, "speakers": names,
            "clips": len(vectors), "clips_per_speaker": {s: used[s] for s in names},
            "skipped": {k: len(v) for k, v in sorted(skipped.items())}, "remove": remove,
            "max_clips": max_clips, "min_seconds": MIN_SECONDS, "nuisance_share": share}
    save_model(target, backend, meta=meta, overwrite=overwrite)
    return {"out": target, "speakers": names, "clips": len(vectors),
            "clips_per_speaker": meta["clips_per_speaker"], "skipped": meta["skipped"],
            "skipped_clips": skipped, "remove": remove, "speaker_set": speakers,
            "nuisance_share": share}
