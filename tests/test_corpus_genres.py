"""``corpus genres``: the GTZAN layout with split files our loader reads, 30 s clips at
22.05 kHz, splits disjoint by piece, and the same bytes when a clip is rendered again."""

from __future__ import annotations

import os
from collections import Counter, defaultdict

import numpy as np
import pytest
import soundfile as sf

from sonomorph.data.corpus.common import missing_tools
from sonomorph.data.corpus.genres import (
    GENRES,
    SCORE_GENRES,
    build_genres,
    candidate_pieces,
    genre_jobs,
    render_clip,
)
from sonomorph.data.layouts import detect_layout, gtzan_clips

NEEDED = ("FluidR3_GM", "TimGM6mb", "libfluidsynth")
needs_tools = pytest.mark.skipif(
    bool(missing_tools(*NEEDED)) and os.environ.get("CI") != "true",
    reason=f"needs the Debian packages {' '.join(missing_tools(*NEEDED))} "
    "(scripts/install-system-deps.sh)",
)


def test_full_plan_is_balanced_and_split_by_piece():
    jobs = genre_jobs(seed=0, clips_per_genre=60)
    clips = [j for j in jobs if j.key != "splits"]
    assert len(clips) == 60 * len(GENRES) >= 6 * 50
    per_genre = Counter(j.params["genre"] for j in clips)
    assert set(per_genre.values()) == {60}
    groups: dict[tuple[str, str], set[str]] = defaultdict(set)
    for j in clips:
        groups[(j.params["genre"], j.params["group"])].add(j.params["split"])
        assert j.params["file"] == f"{j.params['genre']}/{j.key}.wav"
    assert all(len(splits) == 1 for splits in groups.values())  # no piece in two splits
    for genre in GENRES:
        splits = Counter(j.params["split"] for j in clips if j.params["genre"] == genre)
        assert splits["test"] >= 8 and splits["valid"] >= 3 and splits["train"] >= 35, genre
    files = jobs[-1].params
    assert sorted(files["train"] + files["valid"] + files["test"]) == sorted(j.params["file"] for j in clips)
    # Score genres never use a piece twice, except the quartets' movements (at most twice).
    for genre in SCORE_GENRES:
        uses = Counter(j.params["piece"] for j in clips if j.params["genre"] == genre)
        assert max(uses.values()) <= (2 if genre == "quartet" else 1), genre
    assert genre_jobs(seed=0, clips_per_genre=60)[5].params == jobs[5].params
    assert genre_jobs(seed=1, clips_per_genre=60)[5].params != jobs[5].params


def test_candidates_exist_for_every_score_genre():
    for genre in SCORE_GENRES:
        assert len({g for _, g in candidate_pieces(genre)}) >= 10, genre


@needs_tools
def test_tiny_build_layout_lengths_and_determinism(tmp_path):
    genres = ("chorale", "folk", "electronic", "jazz")
    out = tmp_path / "genres"
    summary = build_genres(out, seed=2, clips_per_genre=2, genres=genres, workers=1, quiet=True)
    assert summary["clips"] == 8 and summary["train"] + summary["valid"] + summary["test"] == 8
    assert detect_layout(out) == "gtzan"
    clips = gtzan_clips(out)
    assert sorted({c.label for c in clips}) == sorted(genres) and len(clips) == 8
    assert all(c.split in ("train", "valid", "test") for c in clips)
    assert {c.path.name for c in gtzan_clips(out, "test")} <= {c.path.name for c in clips}
    levels = []
    for c in clips:
        wav, sr = sf.read(c.path, dtype="float32")
        assert sr == 22050 and wav.shape == (30 * 22050,)
        assert np.max(np.abs(wav)) <= 0.99 + 1e-6
        rms = float(np.sqrt(np.mean(wav**2)))
        assert 10 ** (-21 / 20) < rms < 10 ** (-13 / 20)
        # Music all the way through: no second-long stretch of silence.
        frames = wav[: len(wav) // 11025 * 11025].reshape(-1, 11025)
        assert np.sqrt(np.mean(frames**2, axis=1)).min() > 1e-3, c.path.name
        levels.append(rms)
    # Rendering a clip again gives the same bytes.
    job = next(j for j in genre_jobs(seed=2, clips_per_genre=2, genres=genres) if j.key == "folk.00001")
    again = render_clip(job, tmp_path / "again")[0]
    assert again.read_bytes() == (out / "folk" / "folk.00001.wav").read_bytes()
