"""``corpus screams``: two unpaired folders from disjoint speakers, 22.05 kHz mono takes of
sensible length, screams rougher than voices, and the same bytes when rendered again."""

from __future__ import annotations

import os

import numpy as np
import pytest
import scipy.signal
import soundfile as sf

from sonomorph.data.corpus.common import missing_tools
from sonomorph.data.corpus.screams import build_screams, render_take, screams_jobs, split_speakers
from sonomorph.data.corpus.tts import Voice
from sonomorph.data.datasets import FolderSegments

NEEDED = ("text2wave", "flite", "espeak-ng")
needs_tools = pytest.mark.skipif(
    bool(missing_tools(*NEEDED)) and os.environ.get("CI") != "true",
    reason=f"needs the Debian packages {' '.join(missing_tools(*NEEDED))} "
    "(scripts/install-system-deps.sh)",
)


def fake_voices() -> dict[str, list[Voice]]:
    return {"festival": [Voice("festival", "kal_diphone", "en", "M")],
            "flite": [Voice("flite", "slt", "en", "F"), Voice("flite", "awb", "en", "M")],
            "espeak-ng": [Voice("espeak-ng", f"en-us+{v}", "en", "M") for v in "m1 m2 m3 f1 f2".split()]}


def test_sides_have_disjoint_speakers_and_enough_takes():
    sides = split_speakers(3, seed=0, voices=fake_voices())
    names = {side: {s["voice"]["name"] for s in spk} for side, spk in sides.items()}
    assert len(sides["voices"]) == len(sides["screams"]) == 3
    assert not names["voices"] & names["screams"]
    jobs = screams_jobs(seed=0, minutes=2.0, speakers_per_side=3, voices=fake_voices())
    per_side = {side: [j for j in jobs if j.params["side"] == side] for side in ("voices", "screams")}
    for side, js in per_side.items():
        # About 2 minutes per side at ~3.8 s per line.
        assert 2 * 60 <= sum(j.params["lines"] for j in js) * 3.8 < 2 * 60 + 30, side
        assert {j.params["voice"]["name"] for j in js} == names[side]
    assert len({j.key for j in jobs}) == len(jobs)
    assert all(j.params["sung_fraction"] == 0 for j in jobs if j.params["voice"]["engine"] != "festival")


def envelope_roughness(wav: np.ndarray, sr: int) -> float:
    """Envelope modulation energy in 20-150 Hz relative to the envelope's mean (voiced parts)."""
    env = np.abs(scipy.signal.hilbert(wav))
    env = scipy.signal.sosfiltfilt(scipy.signal.butter(4, 170, fs=sr, output="sos"), env)
    band = scipy.signal.sosfiltfilt(scipy.signal.butter(2, [20, 150], btype="bandpass", fs=sr,
                                                        output="sos"), env)
    loud = env > 0.1 * env.max()
    return float(np.sqrt(np.mean(band[loud] ** 2)) / np.mean(env[loud]))


@needs_tools
def test_tiny_build_layout_lengths_and_roughness(tmp_path):
    out = tmp_path / "screams"
    summary = build_screams(out, seed=1, minutes=0.1, speakers_per_side=1, lines_per_take=(2, 2),
                            workers=1, quiet=True)
    assert summary["files"] == 2 and summary["rendered"] == 2
    voices, screams = sorted((out / "voices").iterdir()), sorted((out / "screams").iterdir())
    assert len(voices) == len(screams) == 1
    assert voices[0].name.startswith("v01-") and screams[0].name.startswith("s01-")
    rough = {}
    for side, path in (("voices", voices[0]), ("screams", screams[0])):
        wav, sr = sf.read(path, dtype="float32")
        assert sr == 22050 and wav.ndim == 1
        assert 3.0 < len(wav) / sr < 25.0
        assert 0.05 < np.max(np.abs(wav)) <= 0.99
        rough[side] = envelope_roughness(wav, sr)
    assert rough["screams"] > rough["voices"]
    # The trainer's reader finds voiced crops on both sides.
    crops = FolderSegments(out / "screams", 1.0, 22050, seed=0)
    assert crops[0]["audio"].shape == (1, 22050) and float(crops[0]["audio"].abs().max()) > 0.01


@needs_tools
def test_takes_render_the_same_bytes_again(tmp_path):
    jobs = screams_jobs(seed=4, minutes=0.05, speakers_per_side=1, lines_per_take=(1, 1))
    job = next(j for j in jobs if j.params["side"] == "screams")
    a = render_take(job, tmp_path / "a")[0]
    b = render_take(job, tmp_path / "b")[0]
    assert a.read_bytes() == b.read_bytes()
