"""The usable clips of a speech corpus's speakers, each described by a caller's function.

One walk shared by the speaker back-end's fit (:mod:`sonomorph.train.recipes.speaker_backend`)
and the speaker benchmarks (:func:`sonomorph.eval.analysis.describe_speaker_clips`), so both
skip the same clips for the same reasons. A clip is usable when its bytes were not met
before (``duplicate``), it reads (``unreadable``), it lasts at least ``min_seconds`` once
loaded mono at ``sample_rate`` (``short``) and the description does not refuse it (its
:class:`SonomorphError`, named by the caller's ``skip_reason``: ``silent``, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sonomorph.errors import InputTooShortError, SonomorphError
from sonomorph.utils.progress import ProgressCallback

__all__ = ["usable_clips"]


def usable_clips(groups: Mapping[str, Sequence[Path]],
                 describe: Callable[[np.ndarray, Path], Any], sample_rate: int,
                 skip_reason: Callable[[SonomorphError], str], *, min_seconds: float = 0.5,
                 max_per_speaker: int | None = None, seen: set[str] | None = None,
                 skipped: dict[str, list[str]] | None = None,
                 progress: ProgressCallback | None = None) -> dict[str, list[Any]]:
    """``{speaker: [describe(wav, path) of each usable clip]}`` for ``groups`` (speaker ->
    files, walked in the given order), at most ``max_per_speaker`` usable clips each. The
    skipped clips' messages are added to ``skipped`` by reason; ``seen`` (sha256 of the
    bytes met so far) may be shared across calls; ``progress(done, total)`` per clip."""
    from sonomorph.audio.io import load
    from sonomorph.utils.hashing import sha256_file

    seen = set() if seen is None else seen
    skipped = {} if skipped is None else skipped
    total = sum(min(len(f), max_per_speaker or len(f)) for f in groups.values())
    out: dict[str, list[Any]] = {}
    done = 0
    for spk, files in groups.items():
        rows: list[Any] = []
        for path in files:
            if max_per_speaker is not None and len(rows) >= max_per_speaker:
                break
            done += 1
            if progress is not None:
                progress(done, max(total, done))
            try:
                digest = sha256_file(path)
            except OSError as exc:
                skipped.setdefault("unreadable", []).append(f"{path}: {exc.strerror or exc}")
                continue
            if digest in seen:
                skipped.setdefault("duplicate", []).append(f"{path}: same bytes as another clip")
                continue
            seen.add(digest)
            try:
                wav = load(path, sr=sample_rate, channels=1)[0][0]
                if wav.shape[-1] < min_seconds * sample_rate:
                    raise InputTooShortError(f"shorter than {min_seconds:g} s", path)
                rows.append(describe(wav, path))
            except SonomorphError as exc:
                skipped.setdefault(skip_reason(exc), []).append(str(exc))
        out[spk] = rows
    return out
