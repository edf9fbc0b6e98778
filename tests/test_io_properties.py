"""Property tests for the loader: any valid WAV loads to finite float32 of the expected
shape; any bytes either load or raise AudioLoadError, never anything else."""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sonomorph.audio import io
from sonomorph.errors import AudioLoadError

SUBTYPES = ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE", "ULAW", "ALAW"]
SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(sr=st.integers(8000, 192000), channels=st.integers(1, 8), frames=st.integers(1, 3000),
       subtype=st.sampled_from(SUBTYPES), seed=st.integers(0, 2**32 - 1),
       ask=st.sampled_from([None, 1, 2, "all"]))
def test_random_valid_wavs_load(sr, channels, frames, subtype, seed, ask):
    rng = np.random.default_rng(seed)
    data = rng.uniform(-1, 1, (frames, channels)).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.wav"
        sf.write(path, data, sr, subtype=subtype)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            wav, got_sr = io.load(path, channels=ask)
    expected = {None: min(channels, 2), 1: 1, 2: 2, "all": channels}[ask]
    assert got_sr == sr
    assert wav.dtype == np.float32 and wav.shape == (expected, frames)
    assert np.isfinite(wav).all() and np.abs(wav).max() <= 1.0 + 1e-6
    assert (len(caught) > 0) == (ask is None and channels > 2)


PREFIXES = [b"", b"RIFF\x24\x00\x00\x00WAVEfmt ", b"ID3\x03\x00\x00\x00\x00\x00\x00",
            b"\xff\xfb\x90\x64", b"fLaC", b"OggS\x00\x02", b"FORM\x00\x00\x00\x00AIFF",
            b"\x00\x00\x00\x20ftypM4A "]


@SETTINGS
@given(body=st.binary(min_size=0, max_size=4000), prefix=st.sampled_from(PREFIXES),
       ext=st.sampled_from([".wav", ".mp3", ".flac", ".ogg", ".aiff", ".m4a", ".opus", ".bin"]))
def test_random_bytes_only_ever_raise_audio_load_error(body, prefix, ext):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("junk" + ext)
        path.write_bytes(prefix + body)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                wav, sr = io.load(path)
        except AudioLoadError as exc:
            assert "junk" in str(exc) and "\n" not in str(exc)
        else:  # if something decodes, it obeys the contract
            assert wav.dtype == np.float32 and wav.ndim == 2 and wav.shape[1] > 0
            assert np.isfinite(wav).all() and sr > 0
