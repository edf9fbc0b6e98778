"""Train / valid / test splits of a labelled-clip dataset, stable across runs and machines:
the genre recipe trains on them and the genre evaluation scores on the same test split;
and :func:`spread`, the evenly spread subset of files an evaluation or a validation takes."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sonomorph.data.layouts import gtzan_clips

__all__ = ["split_clips", "spread"]


def spread(files: Sequence[Path], limit: int) -> list[Path]:
    """At most ``limit`` files, spread evenly over the sorted list (so every speaker of a
    folder sorted by speaker gets its share)."""
    files = sorted(files)
    if len(files) <= limit:
        return list(files)
    idx = np.linspace(0, len(files) - 1, limit).round().astype(int)
    return [files[i] for i in sorted(set(idx.tolist()))]


def _fraction_of(name: str, salt: str) -> float:
    digest = hashlib.sha1(f"{salt}:{name}".encode()).hexdigest()[:8]
    return int(digest, 16) / 0xFFFFFFFF


def split_clips(root: str, split: str, *, test_fraction: float = 0.2,
                val_fraction: float = 0.1) -> list:
    """The :class:`~sonomorph.data.layouts.LabelledClip` s of ``split`` (train, valid, test).

    With split files the files decide (``valid`` carved from ``train`` by hash when there is
    no valid list); without, a stable hash of ``<genre>/<clip>`` puts ``test_fraction`` of
    the tracks in test and ``val_fraction`` of the rest in valid."""
    clips = gtzan_clips(root)
    has_files = any(c.split is not None for c in clips)

    def key(c) -> str:
        return f"{c.label}/{c.path.stem}"

    if has_files:
        has_valid = any(c.split == "valid" for c in clips)
        if split == "valid" and not has_valid:
            return [c for c in clips if c.split == "train"
                    and _fraction_of(key(c), "valid") < val_fraction]
        if split == "train" and not has_valid:
            return [c for c in clips if c.split == "train"
                    and _fraction_of(key(c), "valid") >= val_fraction]
        return [c for c in clips if c.split == split]
    test = [c for c in clips if _fraction_of(key(c), "test") < test_fraction]
    if split == "test":
        return test
    rest = [c for c in clips if _fraction_of(key(c), "test") >= test_fraction]
    valid = [c for c in rest if _fraction_of(key(c), "valid") < val_fraction]
    return valid if split == "valid" else [c for c in rest if c not in valid]
