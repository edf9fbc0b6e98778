"""Dataset layout indexers (MUSDB18-HQ, CCMixter, GTZAN, VCTK, folders) and the torch
Datasets built on them: what they find, their splits, errors, and deterministic segments."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from sonomorph.data.datasets import (
    FolderSegments,
    LabelledClips,
    MultitrackSegments,
    Remix,
    Utterances,
    read_segment,
)
from sonomorph.data.layouts import (
    MUSDB_VALIDATION,
    DatasetError,
    ccmixter_tracks,
    detect_layout,
    folder_audio,
    gtzan_clips,
    multitrack_tracks,
    musdb_tracks,
    vctk_utterances,
)

SR = 8000


def tone(path: Path, freq: float, seconds: float = 1.0, sr: int = SR, channels: int = 2,
         subtype: str = "FLOAT") -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    x = 0.1 * np.sin(2 * np.pi * freq * t)
    wav = np.stack([x * (1 + 0.1 * c) for c in range(channels)]).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, wav.T, sr, subtype=subtype)
    return wav


def make_musdb(root: Path, names_train, names_test=("Zeta - Test",), accompaniment=False):
    for split, names in (("train", names_train), ("test", names_test)):
        for i, name in enumerate(names):
            d = root / split / name
            stems = {}
            for j, stem in enumerate(("vocals", "drums", "bass", "other")):
                stems[stem] = tone(d / f"{stem}.wav", 100 * (j + 1) + 7 * i, seconds=2.0)
            tone(d / "mixture.wav", 50, seconds=2.0)
            if accompaniment:
                tone(d / "accompaniment.wav", 60, seconds=2.0)
    return root


def test_musdb_splits_and_derived_accompaniment(tmp_path):
    names = ["A - One", MUSDB_VALIDATION[0], "B - Two", MUSDB_VALIDATION[3]]
    root = make_musdb(tmp_path / "musdb", names)
    train = musdb_tracks(root, "train")
    valid = musdb_tracks(root, "valid")
    assert [t.name for t in train] == ["A - One", "B - Two"]
    assert sorted(t.name for t in valid) == sorted([MUSDB_VALIDATION[0], MUSDB_VALIDATION[3]])
    assert {t.split for t in valid} == {"valid"}
    assert len(musdb_tracks(root, "train+valid")) == 4
    assert [t.name for t in musdb_tracks(root, "test")] == ["Zeta - Test"]
    t = train[0]
    assert [p.name for p in t.parts("accompaniment")] == ["drums.wav", "bass.wav", "other.wav"]
    assert t.parts("vocals")[0].name == "vocals.wav"
    assert t.base_stems("accompaniment") == ("drums", "bass", "other")
    with pytest.raises(DatasetError, match="no source 'piano'"):
        t.parts("piano")
    assert detect_layout(root) == "musdb"


def test_musdb_synthetic_corpus_gets_a_disjoint_validation_subset(tmp_path):
    names = [f"chorale-{i:03d}" for i in range(20)]
    root = make_musdb(tmp_path / "synth", names, accompaniment=True)
    train = {t.name for t in musdb_tracks(root, "train")}
    valid = {t.name for t in musdb_tracks(root, "valid")}
    assert valid and train and not (train & valid) and len(train | valid) == 20
    assert musdb_tracks(root, "train")[0].parts("accompaniment")[0].name == "accompaniment.wav"


def test_ccmixter_convention(tmp_path):
    root = tmp_path / "ccm"
    for name in ("song a", "song b"):
        tone(root / name / "mix.wav", 100)
        tone(root / name / "source-01.wav", 200)
        tone(root / name / "source-02.wav", 300)
    (root / "README").write_text("x")
    tracks = ccmixter_tracks(root)
    assert [t.name for t in tracks] == ["song a", "song b"]
    assert tracks[0].parts("accompaniment")[0].name == "source-01.wav"
    assert tracks[0].parts("vocals")[0].name == "source-02.wav"
    assert tracks[0].parts("mixture")[0].name == "mix.wav"
    assert detect_layout(root) == "ccmixter"
    assert len(multitrack_tracks(root, "test")) == 2


def test_gtzan_with_split_files(tmp_path):
    root = tmp_path / "gtzan"
    for genre in ("blues", "rock"):
        for i in range(3):
            tone(root / genre / f"{genre}.{i:05d}.wav", 100 + i, seconds=0.2, channels=1)
    (root / "splits").mkdir()
    (root / "splits" / "train.txt").write_text("blues/blues.00000.wav\nrock/rock.00000.au\n")
    (root / "splits" / "test.txt").write_text("blues/blues.00001.wav\nrock/rock.00002.wav\n")
    every = gtzan_clips(root)
    assert len(every) == 6 and {c.label for c in every} == {"blues", "rock"}
    train = gtzan_clips(root, "train")
    assert [(c.label, c.path.name) for c in train] == [("blues", "blues.00000.wav"),
                                                        ("rock", "rock.00000.wav")]
    assert {c.split for c in gtzan_clips(root, "test")} == {"test"}
    with pytest.raises(DatasetError, match="no split file for 'valid'"):
        gtzan_clips(root, "valid")
    assert detect_layout(root) == "gtzan"


def test_vctk_layouts(tmp_path):
    new = tmp_path / "vctk092"
    for spk in ("p225", "p226"):
        for u in (1, 2):
            for mic in ("mic1", "mic2"):
                tone(new / "wav48_silence_trimmed" / spk / f"{spk}_{u:03d}_{mic}.flac", 200,
                     seconds=0.1, channels=1, subtype="PCM_16")
            (new / "txt" / spk).mkdir(parents=True, exist_ok=True)
            (new / "txt" / spk / f"{spk}_{u:03d}.txt").write_text(f"Sentence {u}.\n")
    utts = vctk_utterances(new)
    assert [(u.speaker, u.utterance) for u in utts] == [
        ("p225", "p225_001"), ("p225", "p225_002"), ("p226", "p226_001"), ("p226", "p226_002")]
    assert all(u.path.name.endswith("_mic1.flac") for u in utts)
    assert utts[1].text == "Sentence 2."
    assert all(u.path.name.endswith("_mic2.flac") for u in vctk_utterances(new, mic="mic2"))
    assert detect_layout(new) == "vctk"

    old = tmp_path / "vctk_old"
    tone(old / "wav48" / "p300" / "p300_001.wav", 200, seconds=0.1, channels=1)
    assert vctk_utterances(old)[0].text is None

    flat = tmp_path / "flat"
    tone(flat / "alice" / "hello.wav", 200, seconds=0.1, channels=1)
    (flat / "alice" / "hello.txt").write_text("hello")
    tone(flat / "bob" / "bye.wav", 300, seconds=0.1, channels=1)
    assert [(u.speaker, u.text) for u in vctk_utterances(flat)] == [("alice", "hello"), ("bob", None)]


def test_errors_name_the_expected_layout(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError, match="MUSDB18-HQ layout") as exc:
        musdb_tracks(empty)
    assert str(empty) in str(exc.value)
    with pytest.raises(DatasetError, match="CCMixter layout"):
        ccmixter_tracks(empty)
    with pytest.raises(DatasetError, match="VCTK layout"):
        vctk_utterances(empty)
    with pytest.raises(DatasetError, match="no such folder"):
        gtzan_clips(tmp_path / "missing")
    with pytest.raises(DatasetError, match="no audio"):
        folder_audio(empty)
    (empty / "a.wav").write_bytes(b"")
    tone(empty / "sub" / "b.flac", 100, seconds=0.1, channels=1, subtype="PCM_16")
    assert [p.name for p in folder_audio(empty)] == ["a.wav", "b.flac"]


def test_read_segment_resamples_pads_and_shapes_channels(tmp_path):
    wav = tone(tmp_path / "a.wav", 200, seconds=1.0, sr=16000, channels=1)
    seg = read_segment(tmp_path / "a.wav", 4000, 2000, 8000, 2)  # file at 16 kHz, read at 8 kHz
    assert seg.shape == (2, 2000) and np.array_equal(seg[0], seg[1])
    expected = wav[0, ::2][4000:6000]
    assert np.max(np.abs(seg[0] - expected)) < 0.02
    tail = read_segment(tmp_path / "a.wav", 7900, 500, 8000, 1)
    assert tail.shape == (1, 500) and not np.any(tail[0, 150:])


def test_multitrack_segments_are_deterministic_and_consistent(tmp_path):
    root = make_musdb(tmp_path / "musdb", ["A - One", "B - Two", "C - Three"])
    ds = MultitrackSegments(root, "train", segment_seconds=0.5, sample_rate=SR, seed=3)
    assert len(ds) == 4 * len(ds.tracks)  # 2 s per track / 0.5 s
    item = ds[4]
    assert set(item) == {"vocals", "accompaniment", "mixture"}
    assert item["vocals"].shape == (2, 4000) and item["vocals"].dtype == torch.float32
    torch.testing.assert_close(item["mixture"], item["vocals"] + item["accompaniment"])
    again = MultitrackSegments(root, "train", segment_seconds=0.5, sample_rate=SR, seed=3)[4]
    assert torch.equal(item["vocals"], again["vocals"])
    ds.set_epoch(1)
    assert not torch.equal(ds[4]["vocals"], item["vocals"])
    # Only vocals asked for: the mixture still holds the other stems.
    voc = MultitrackSegments(root, "train", sources=("vocals",), segment_seconds=0.5,
                             sample_rate=SR, seed=3)[4]
    torch.testing.assert_close(voc["mixture"], item["mixture"])
    remixed = MultitrackSegments(root, "train", segment_seconds=0.5, sample_rate=SR, seed=3,
                                 remix=Remix(shuffle_probability=1.0))
    for i in range(len(remixed)):
        it = remixed[i]
        torch.testing.assert_close(it["mixture"], it["vocals"] + it["accompaniment"])
    with pytest.raises(DatasetError, match="no source 'piano'"):
        MultitrackSegments(root, "train", sources=("piano",), sample_rate=SR)


def test_labelled_clips_and_utterances(tmp_path):
    root = tmp_path / "gtzan"
    for genre in ("jazz", "folk"):
        for i in range(2):
            tone(root / genre / f"{genre}.{i:05d}.wav", 100, seconds=0.5, channels=1)
    (root / "splits").mkdir()
    (root / "splits" / "test.txt").write_text("jazz/jazz.00001.wav\n")
    ds = LabelledClips(root, "test", segment_seconds=0.25, sample_rate=SR)
    assert ds.classes == ["folk", "jazz"] and len(ds) == 1
    assert ds[0]["audio"].shape == (1, 2000) and int(ds[0]["label"]) == 1
    whole = LabelledClips(root, None, sample_rate=SR)
    assert len(whole) == 4 and whole[0]["audio"].shape == (1, 4000)

    vctk = tmp_path / "speech"
    for spk in ("s1", "s2"):
        for u in range(4):
            tone(vctk / "wav" / spk / f"{spk}_{u:03d}.wav", 100, seconds=0.2, channels=1)
    (vctk / "txt").mkdir()
    utt = Utterances(vctk, utterances=slice(0, 3), sample_rate=SR)
    assert len(utt) == 6 and utt.speaker_names == ["s1", "s2"]
    assert int(utt[5]["speaker"]) == 1 and utt[5]["audio"].shape == (1, 1600)
    with pytest.raises(DatasetError, match="s9"):
        Utterances(vctk, speakers=["s9"])


def test_folder_segments_stay_inside_the_voiced_span(tmp_path):
    folder = tmp_path / "voices"
    sig = np.zeros(SR * 2, np.float32)
    sig[SR // 2 : SR] = 0.5 * np.sin(2 * np.pi * 220 * np.arange(SR // 2) / SR)
    folder.mkdir()
    sf.write(folder / "v.wav", sig, SR, subtype="FLOAT")
    ds = FolderSegments(folder, 0.25, SR, gain_db=(0.0, 0.0), seed=1)
    assert len(ds) == 8
    for i in range(len(ds)):
        audio = ds[i]["audio"]
        assert audio.shape == (1, SR // 4)
        assert float(audio.abs().max()) > 0.3  # never a silent crop
    assert torch.equal(ds[2]["audio"], FolderSegments(folder, 0.25, SR, gain_db=(0.0, 0.0), seed=1)[2]["audio"])
