"""Fixtures shared by the whole suite. Keep this file small: fixtures used by one test
file belong in that file."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")  # 2 shared cores: no thread oversubscription

# librosa compiles its numba kernels with cache=True, by default into __pycache__ folders
# inside the installed package, shared by every process that uses this environment. Two
# processes compiling there at once once left a corrupt cache behind, and librosa.pyin and
# the onset functions then segfaulted in every later run. So each test run compiles into a
# fresh folder of its own (set here, before anything imports numba; the subprocesses the
# tests start inherit it) and removes it at the end. A NUMBA_CACHE_DIR set by the caller
# is kept.
_OWN_NUMBA_CACHE = None
if not os.environ.get("NUMBA_CACHE_DIR"):
    _OWN_NUMBA_CACHE = tempfile.mkdtemp(prefix="sonomorph-test-numba-")
    os.environ["NUMBA_CACHE_DIR"] = _OWN_NUMBA_CACHE


def pytest_unconfigure(config: pytest.Config) -> None:
    if _OWN_NUMBA_CACHE is not None:
        shutil.rmtree(_OWN_NUMBA_CACHE, ignore_errors=True)

# Property tests draw their examples from a fixed seed ("derandomize"), so a run on a fresh
# clone tests exactly what the last run tested and a failure reproduces. No example
# database either: what a previous local run found must not change what CI runs. Set
# HYPOTHESIS_PROFILE=explore to search with fresh random examples (and keep what fails).
try:
    from hypothesis import HealthCheck, settings
except ImportError:  # hypothesis is in requirements.txt; without it no property test runs
    pass
else:
    settings.register_profile("ci", derandomize=True, database=None, deadline=None,
                              print_blob=True,
                              suppress_health_check=[HealthCheck.too_slow])
    settings.register_profile("explore", deadline=None,
                              suppress_health_check=[HealthCheck.too_slow])
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def make_tone(freq: float = 440.0, seconds: float = 1.0, sr: int = 16000, channels: int = 1,
              amp: float = 0.5) -> np.ndarray:
    """A float32 (channels, samples) sine; channel c is scaled by 1/(c+1) so that channels
    differ (a mixing bug shows)."""
    t = np.arange(int(round(seconds * sr))) / sr
    mono = amp * np.sin(2 * np.pi * freq * t)
    return np.stack([mono / (c + 1) for c in range(channels)]).astype(np.float32)


@pytest.fixture
def tone() -> Callable[..., np.ndarray]:
    """``tone(freq=440, seconds=1, sr=16000, channels=1, amp=0.5)`` -> (channels, samples)."""
    return make_tone


@pytest.fixture
def write_audio(tmp_path: Path) -> Callable[..., Path]:
    """``write_audio(name, wav, sr, subtype=None)`` writes with soundfile (not with our
    own writer, so loader tests do not depend on it) under tmp_path; returns the path."""
    import soundfile as sf

    def write(name: str, wav: np.ndarray, sr: int, subtype: str | None = None) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        data = wav.T if wav.ndim == 2 else wav
        sf.write(path, data, sr, subtype=subtype)
        return path

    return write


@pytest.fixture(scope="session")
def ffmpeg() -> str:
    """The ffmpeg binary the loader uses (the system's, or imageio-ffmpeg's)."""
    from sonomorph.audio.ffmpeg import ffmpeg_exe

    exe = ffmpeg_exe()
    assert exe, "no ffmpeg: imageio-ffmpeg is a dependency and ships one"
    return exe
