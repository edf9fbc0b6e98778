"""The public Python API: one pipeline class per capability.

A pipeline owns chunking, resampling and file I/O around a model (or an algorithm) and
has a small API: ``process(wav, sr)`` on arrays and ``process_file(src, dst, ...)`` on
files. Names are imported lazily (``from sonomorph.pipelines import SilenceRemover``
imports only that module), so importing one capability never pulls in torch or the
models of another. To export a new pipeline, add its name and module to ``_EXPORTS``.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "SilenceRemover": "sonomorph.pipelines.silence",
    "SilenceReport": "sonomorph.pipelines.silence",
    "RandomStyleTransfer": "sonomorph.pipelines.style",
    "ClassifierStyleTransfer": "sonomorph.pipelines.style",
    "GenreClassifier": "sonomorph.pipelines.analysis",
    "SpeakerDatabase": "sonomorph.pipelines.speakers",
    "Screamer": "sonomorph.pipelines.scream",
    "ScreamReport": "sonomorph.pipelines.scream",
    "StreamingEngine": "sonomorph.pipelines.streaming",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sonomorph.pipelines' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
