"""The public Python API: one pipeline class per capability.

A pipeline owns chunking, resampling and file I/O around a model (or an algorithm), and
every capability class keeps one contract:

* ``process(wav, sr, *, progress=None)`` on a float32 ``(channels, samples)`` array;
* ``process_file(src, out, *, overwrite=False, progress=None, ...)`` on files (``out`` is
  the output file or folder the class documents; outputs are written atomically, never
  over an input, nor over an existing file unless ``overwrite``).

``progress(done, total)`` is given per call. The older names stay as aliases
(``Separator.separate``/``separate_file``, ``Accompanist.generate``/``accompany_file``,
``GenreClassifier.predict``/``predict_file``, the style classes' ``transfer``). Long audio
goes through the one engine, :mod:`sonomorph.pipelines.engine`. Names are imported lazily (``from sonomorph.pipelines import SilenceRemover``
imports only that module), so importing one capability never pulls in torch or the
models of another. To export a new pipeline, add its name and module to ``_EXPORTS``.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "Separator": "sonomorph.pipelines.separate",
    "Accompanist": "sonomorph.pipelines.accompany",
    "Accompaniment": "sonomorph.pipelines.accompany",
    "GenrePrediction": "sonomorph.pipelines.analysis",
    "StyleResult": "sonomorph.pipelines.style",
    "stylise_file": "sonomorph.pipelines.style",
    "ChunkEngine": "sonomorph.pipelines.engine",
    "apply_chunked": "sonomorph.pipelines.engine",
    "fade_in": "sonomorph.pipelines.engine",
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
