"""Two-stem (vocals + accompaniment) track folders in the MUSDB18-HQ layout, extra split
folders such as ``test-real``, and remixing across four-stem and two-stem tracks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sonomorph.data.datasets import MultitrackSegments, Remix
from sonomorph.data.layouts import DatasetError, detect_layout, musdb_tracks

SR = 8000


def _write(path: Path, value: float, seconds: float = 1.0) -> None:
    """A constant stereo signal: sums of stems can be told apart by their value."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.full((int(seconds * SR), 2), value, np.float32), SR, subtype="FLOAT")


def _corpus(root: Path) -> Path:
    # 4-stem track: vocals 0.01, drums 0.02, bass 0.04, other 0.08 (accompaniment 0.14).
    four = root / "train" / "four"
    for stem, v in (("vocals", 0.01), ("drums", 0.02), ("bass", 0.04), ("other", 0.08)):
        _write(four / f"{stem}.wav", v)
    _write(four / "accompaniment.wav", 0.14)
    _write(four / "mixture.wav", 0.15)
    # 2-stem tracks: vocals 0.1 / accompaniment 0.2, one with and one without a mixture file.
    two = root / "train" / "two"
    _write(two / "vocals.wav", 0.1)
    _write(two / "accompaniment.wav", 0.2)
    _write(two / "mixture.wav", 0.3)
    bare = root / "test-real" / "bare"
    _write(bare / "vocals.wav", 0.1)
    _write(bare / "accompaniment.wav", 0.2)
    for split in ("valid", "test"):
        _write(root / split / "t" / "vocals.wav", 0.1)
        _write(root / split / "t" / "accompaniment.wav", 0.2)
    (root / "train" / "not-a-track").mkdir()  # only a vocals file is not a track
    _write(root / "train" / "not-a-track" / "vocals.wav", 0.5)
    return root


def test_two_stem_tracks_and_extra_split_folders(tmp_path):
    root = _corpus(tmp_path / "mt")
    assert detect_layout(root) == "musdb"
    tracks = {t.name: t for t in musdb_tracks(root, "train")}
    assert set(tracks) == {"four", "two"}
    two = tracks["two"]
    assert two.stems == ("vocals", "accompaniment")
    assert two.parts("mixture")[0].name == "mixture.wav"
    assert two.base_stems("accompaniment") == ("accompaniment",)
    with pytest.raises(DatasetError, match="no source 'drums'"):
        two.parts("drums")
    assert tracks["four"].stems == ("vocals", "drums", "bass", "other")
    (real,) = musdb_tracks(root, "test-real")
    assert real.split == "test-real" and real.name == "bare"
    assert [p.name for p in real.parts("mixture")] == ["vocals.wav", "accompaniment.wav"]
    with pytest.raises(DatasetError, match="test-real"):  # the error lists the split folders
        musdb_tracks(root, "test-fake")
    with pytest.raises(DatasetError, match="unknown split"):
        musdb_tracks(root, "../train")


def test_segments_remix_four_and_two_stem_tracks(tmp_path):
    root = _corpus(tmp_path / "mt")
    plain = MultitrackSegments(root, "train", segment_seconds=0.25, sample_rate=SR, seed=1,
                               samples_per_epoch=8)
    for i in range(len(plain)):
        item = plain[i]
        voc, acc, mix = (float(item[k].mean()) for k in ("vocals", "accompaniment", "mixture"))
        # Item i reads track i % 2 (sorted: four, two), unremixed.
        assert (voc, acc) == pytest.approx((0.01, 0.14) if i % 2 == 0 else (0.1, 0.2), abs=1e-6)
        assert mix == pytest.approx(voc + acc, abs=1e-6)
    remixed = MultitrackSegments(root, "train", segment_seconds=0.25, sample_rate=SR, seed=1,
                                 samples_per_epoch=64,
                                 remix=Remix(gain_db=(0.0, 0.0), shuffle_probability=1.0))
    pairs = set()
    for i in range(len(remixed)):
        item = remixed[i]
        voc, acc = float(item["vocals"].mean()), float(item["accompaniment"].mean())
        pairs.add((round(voc, 4), round(acc, 4)))
        assert float(item["mixture"].mean()) == pytest.approx(voc + acc, abs=1e-6)
    # Vocals of a 4-stem track over the accompaniment of a 2-stem one, and the other way.
    assert {(0.01, 0.2), (0.1, 0.14)} <= pairs
    only_vocals = MultitrackSegments(root, "train", sources=("vocals",), segment_seconds=0.25,
                                     sample_rate=SR, samples_per_epoch=2)
    assert float(only_vocals[0]["mixture"].mean()) == pytest.approx(0.15, abs=1e-6)
    assert float(only_vocals[1]["mixture"].mean()) == pytest.approx(0.3, abs=1e-6)
