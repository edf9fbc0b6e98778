"""Tiny random-weight models of every kind the app and the demo load, for their tests.

They are real registered architectures saved as self-describing safetensors files, only
narrow, so loading and running them exercises the same code as the shipped models in a
fraction of a second. Their output is noise-like: tests check plumbing, not quality.
"""

from __future__ import annotations

import importlib
from pathlib import Path


def _has(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def make_tiny_models(folder: str | Path) -> dict[str, str]:
    """Write tiny models into ``folder``; returns ``{kind: path}`` for the kinds whose model
    module is in this build (separator, scream, accompany, genre)."""
    import torch

    from sonomorph.models import build_model, save_model

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    specs = {
        "separator": ("sonomorph.models.separator", "mask_separator",
                      dict(n_fft=512, hop=128, hidden=8, layers=1), {}),
        "scream": ("sonomorph.models.melgan", "melgan", dict(ngf=2), {}),
        "accompany": ("sonomorph.models.pix2pix", "pix2pix_unet",
                      dict(ngf=4, depth=3, max_channels=8), {}),
        "genre": ("sonomorph.models.classifier", "genre_cnn",
                  dict(n_classes=3, channels=[4, 4]),
                  {"labels": ["chorale", "rock", "jazz"]}),
    }
    out = {}
    for kind, (module, name, args, meta) in specs.items():
        if not _has(module):
            continue
        path = folder / f"tiny-{kind}.safetensors"
        save_model(path, build_model(name, **args), meta=meta, overwrite=True)
        out[kind] = str(path)
    return out
