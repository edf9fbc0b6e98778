"""A tiny real-audio library in the layout of ``sonomorph corpus sources`` (FLAC files and
manifest.json), with obvious classes: "screams" are rough noise bursts, "speech" is a
gliding harmonic tone with syllable-like pulses. Seeded, so every run writes the same."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import soundfile as sf

SR = 22050
# group -> (package, split)
CHARACTERS = {"grunt": ("pkg-a", "train"), "brute": ("pkg-a", "train"),
              "medic": ("pkg-a", "valid"), "ghoul": ("pkg-b", "test-real")}
SPEAKERS = {"anna": ("pkg-c", "train"), "bert": ("pkg-c", "train"),
            "carl": ("pkg-c", "valid"), "dora": ("pkg-d", "test-real")}


def noise_burst(seconds: float, rng: np.random.Generator) -> np.ndarray:
    n = int(seconds * SR)
    t = np.arange(n) / SR
    env = np.minimum(1.0, t / 0.05) * np.exp(-t / (0.6 * seconds)) * (1 + 0.5 * np.sin(2 * np.pi * 40 * t))
    return (0.5 * env * rng.standard_normal(n)).astype(np.float32)


def tone(seconds: float, rng: np.random.Generator) -> np.ndarray:
    n = int(seconds * SR)
    t = np.arange(n) / SR
    f0 = rng.uniform(110, 170) * (1 + 0.05 * np.sin(2 * np.pi * rng.uniform(0.5, 2) * t))
    phase = 2 * np.pi * np.cumsum(f0) / SR
    x = sum(np.sin(k * phase) / k for k in range(1, 8))
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t) ** 2
    return (0.2 * x * env).astype(np.float32)


def make_library(root: Path, clips: int = 3, seconds: float = 1.6, seed: int = 0) -> Path:
    """Write the library under ``root``; returns ``root``."""
    rng = np.random.default_rng(seed)
    files = {}
    for kind, groups, make in (("screams", CHARACTERS, noise_burst), ("speech", SPEAKERS, tone)):
        for group, (package, split) in groups.items():
            for i in range(clips):
                rel = f"{kind}/{group}/{group}-{i}.flac"
                path = root / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                dur = seconds * (0.6 + 0.4 * i / max(1, clips - 1))
                sf.write(path, make(dur, rng), SR, format="FLAC", subtype="PCM_16")
                files[rel] = {"kind": kind, "group": group, "split": split, "duration": dur,
                              "sample_rate": SR, "channels": 1, "package": package,
                              "version": "1.0", "licence": "GPL-2+", "member": rel,
                              "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                              "label": {"character" if kind == "screams" else "speaker": group}}
    (root / "manifest.json").write_text(json.dumps({"builder": "sources", "files": files}))
    return root
