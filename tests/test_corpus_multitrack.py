"""`corpus multitrack`: tiny builds (a few seconds per track) over a tiny fake real-audio
library made inside the test, checking the MUSDB18-HQ layout (four-stem synthetic tracks,
two-stem real-backed ones), lengths, mixture = sum of stems, the splits (synthetic by
piece, real-backed by library source, test-real disjoint from train and valid),
determinism, resume (adding the library later renders only the real-backed tracks), the
manifest, and that festival sings the score's pitches."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sonomorph.data.corpus import common
from sonomorph.data.corpus.multitrack import (
    FILES,
    HELD_OUT_VOICE,
    REAL_FILES,
    STYLES,
    TOOLS,
    build_multitrack,
    plan_multitrack,
    read_library,
)
from sonomorph.errors import DependencyError

MISSING = common.missing_tools(*TOOLS)
needs_tools = pytest.mark.skipif(
    bool(MISSING) and os.environ.get("CI") != "true",
    reason=f"needs system packages: install {' '.join(MISSING)} (scripts/install-system-deps.sh)",
)
PIECES = ["bach/bwv269", "bach/bwv355", "bach/bwv122.6", "bach/bwv244.54", "bach/bwv66.6"]
# pyin's pitch grid in semitones: 0.2 puts an estimate within 10 cents of its true
# pitch, well inside the 50-cent median limit below (a wrong note is 100 cents off), and
# its Viterbi pass over 2 x 200 pitch states (2 x 399 at the default 0.1) took a sixth
# of the time on 9 s of audio.
PYIN_RESOLUTION = 0.2
# Two synthetic tracks (a chorale and a rock song), two real-backed train/valid tracks and
# two test-real ones, 6 s each.
TINY = {"tracks": 4, "max_seconds": 6.0, "pieces": PIECES, "quiet": True,
        "styles": ("chorale", "rock"), "real_fraction": 0.5, "test_real_tracks": 2}


def make_library(root: Path) -> Path:
    """A tiny library in the layout and manifest format of ``corpus sources``: three music
    sources (one per split) of two 12 s stereo tracks, four speakers of three clips."""
    rng = np.random.default_rng(0)
    files = {}

    def write(rel: str, x: np.ndarray, sr: int, split: str) -> None:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, x.T, sr, format="FLAC", subtype="PCM_16")
        kind, group = rel.split("/")[:2]
        files[rel] = {"kind": kind, "group": group, "split": split, "duration": x.shape[1] / sr,
                      "sample_rate": sr, "channels": x.shape[0], "package": f"fake-{kind}",
                      "version": "1", "licence": "CC0-1.0", "member": rel,
                      "sha256": common.sha256_file(path), "label": {}}

    for source, split, f0 in (("albumA", "train", 110), ("albumB", "valid", 165),
                              ("albumC", "test-real", 220)):
        for k in range(2):
            t = np.arange(12 * 44100) / 44100
            x = 0.2 * np.sin(2 * np.pi * f0 * (k + 1) * t) + 0.02 * rng.standard_normal(t.size)
            write(f"music/{source}/track{k}.flac", np.stack([x, 0.8 * x]), 44100, split)
    for speaker, split in (("spk1", "train"), ("spk2", "train"), ("spk3", "valid"),
                           ("spk4", "test-real")):
        for k in range(3):
            t = np.arange(int(1.5 * 22050)) / 22050
            x = 0.3 * np.sign(np.sin(2 * np.pi * (100 + 30 * k) * t)) * np.hanning(t.size)
            write(f"speech/{speaker}/clip{k}.flac", x[None], 22050, split)
    (root / "manifest.json").write_text(json.dumps({"builder": "sources", "files": files}))
    return root


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file() and ".done" not in p.parts
            and p.name != "manifest.json"}


def _read(path: Path) -> np.ndarray:
    x, sr = sf.read(path, dtype="float32", always_2d=True)
    assert sr == 44100
    return x.T


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Path:
    return make_library(tmp_path_factory.mktemp("library"))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, library) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("multitrack") / "corpus"
    result = build_multitrack(out, seed=0, workers=1, sources_dir=library, **TINY)
    return out, result


def _tracks(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("*/*") if p.is_dir() and not p.name.startswith("."))


def _meta(folder: Path) -> dict:
    return json.loads((folder / "track.json").read_text())


def test_plan_covers_every_style_split_by_piece(library):
    jobs = plan_multitrack(seed=0, tracks=60, real_fraction=0.0)
    assert len(jobs) == 60 == len({j.key for j in jobs})
    by_style: dict[str, int] = {}
    for j in jobs:
        by_style[j.params["style"]] = by_style.get(j.params["style"], 0) + 1
    assert set(by_style) == set(STYLES) and by_style["quartet"] < by_style["rock"]
    assert {j.params["split"] for j in jobs} == {"train", "valid", "test"}
    groups: dict[tuple[str, str], set[str]] = {}
    for j in jobs:
        groups.setdefault((j.params["style"], j.params["group"]), set()).add(j.params["split"])
    assert {len(s) for s in groups.values()} == {1}
    # More tracks than pieces: further variants, every version of a piece on one side.
    many = plan_multitrack(seed=3, tracks=5, pieces=PIECES[:2], styles=("chorale",),
                           real_fraction=0.0, test_fraction=0.5)
    assert sorted(int(j.key.rsplit("-v", 1)[1]) for j in many) == [1, 1, 2, 2, 3]
    assert plan_multitrack(seed=0, tracks=10) == plan_multitrack(seed=0, tracks=10)
    assert plan_multitrack(seed=0, tracks=10) != plan_multitrack(seed=1, tracks=10)
    # The library adds real-backed jobs and changes none of the synthetic ones.
    records = read_library(library)
    with_real = plan_multitrack(seed=0, tracks=10, library_dir=library, library=records,
                                test_real_tracks=3)
    synthetic = [j for j in with_real if j.params["kind"] == "synthetic"]
    assert synthetic == plan_multitrack(seed=0, tracks=10)
    real = [j for j in with_real if j.params["kind"] == "real"]
    assert len(synthetic) == 5 and len(real) == 5 + 3
    assert sum(j.params["split"] == "test-real" for j in real) == 3
    assert read_library(library.parent / "nowhere") is None


def test_sung_lines_fit_the_voice_and_breathe():
    from sonomorph.data.corpus.arrange import random_melody, sung_line, syllabify
    from sonomorph.data.corpus.singing import SING_CEILING_HZ

    assert syllabify("Shall I compare thee") == ["shall", "i", "com", "pa", "re", "thee"]
    for seed in range(20):
        rng = np.random.default_rng(seed)
        melody = random_melody(rng, 30.0)
        assert random_melody(np.random.default_rng(seed), 30.0) == melody
        shift = float(rng.uniform(-2, 3))
        phrases = sung_line(melody, rng, length=30.0, formant_shift=shift, start=5.0)
        assert phrases
        for a, b in zip(phrases, phrases[1:]):
            assert a.end < b.start
        for ph in phrases:
            assert 5.0 <= ph.start < ph.end <= 35.0 and len(ph.syllables) >= 2
            assert abs(sum(d for s in ph.syllables for d, _ in s.notes) - (ph.end - ph.start)) < 1e-6
            hz = [f for s in ph.syllables for _, f in s.notes]
            assert max(hz) / 2 ** (shift / 12) <= SING_CEILING_HZ + 1e-6
            assert min(hz) > 80


@needs_tools
def test_layout_lengths_and_sums(tiny):
    root, result = tiny
    tracks = _tracks(root)
    assert len(tracks) == 6 == result["tracks"]
    assert {t.parent.name for t in tracks} <= {"train", "valid", "test", "test-real"}
    assert result["counts"]["test-real"] == {"synthetic": 0, "real": 2}
    assert sum(c["synthetic"] for c in result["counts"].values()) == 2
    kinds = set()
    for folder in tracks:
        meta = _meta(folder)
        kinds.add(meta["kind"])
        files = FILES if meta["kind"] == "synthetic" else REAL_FILES
        names = sorted(p.name for p in folder.iterdir())
        assert names == sorted([f"{f}.wav" for f in files] + ["track.json"])
        audio = {f: _read(folder / f"{f}.wav") for f in files}
        assert len({a.shape for a in audio.values()}) == 1 and audio["mixture"].shape[0] == 2
        assert 3.0 * 44100 <= audio["mixture"].shape[1] <= 6.0 * 44100 + 1
        assert sf.info(folder / "mixture.wav").subtype == "FLOAT"
        stems = ("vocals", "bass", "drums", "other") if meta["kind"] == "synthetic" else (
            "vocals", "accompaniment")
        total = sum(audio[s] for s in stems)
        assert np.max(np.abs(audio["mixture"] - total)) < 1e-6  # float32 rounding
        if meta["kind"] == "synthetic":
            acc = audio["bass"] + audio["drums"] + audio["other"]
            assert np.max(np.abs(audio["accompaniment"] - acc)) < 1e-6
            assert np.any(audio["other"]) and np.any(audio["bass"])
        peak = np.max(np.abs(audio["mixture"]))
        assert 0.85 < peak <= 0.9 and np.all(np.isfinite(audio["mixture"]))
        assert np.any(audio["accompaniment"])
        # A 6 s chorale may end inside its instrumental intro; the others sing or speak.
        assert np.any(audio["vocals"]) or meta.get("style") == "chorale"
        assert meta["track"] == folder.name and meta["split"] == folder.parent.name
        assert meta["samples"] == audio["mixture"].shape[1]
    assert kinds == {"synthetic", "real"}


@needs_tools
def test_real_splits_follow_the_library(tiny, library):
    root, _ = tiny
    split_of = {r.rel: r.split for r in read_library(library)}
    seen: dict[str, set[str]] = {}
    for folder in _tracks(root):
        meta = _meta(folder)
        split = folder.parent.name
        if meta["kind"] == "synthetic":
            assert split in ("train", "valid", "test") and meta["singer"]["voice"] != HELD_OUT_VOICE
            continue
        used = [meta["music"]["file"]] + [c["clip"] for c in meta["speech"]]
        assert meta["speech"] or meta["sung_notes"]
        for rel in used:
            assert split_of[rel] == split  # test-real only from test-real sources
            seen.setdefault(rel.split("/")[1], set()).add(split)
        if meta["singer"] is not None:
            assert (meta["singer"]["voice"] == HELD_OUT_VOICE) == (split == "test-real")
    assert all(len(s) == 1 for s in seen.values())
    assert {"albumC", "train"} != set(seen)
    assert seen["albumC"] == {"test-real"} and "albumA" in seen
    manifest = json.loads((root / "manifest.json").read_text())
    lib = {s["id"]: s for s in manifest["sources"] if s["id"].startswith("library:")}
    assert lib["library:music/albumC"]["split"] == "test-real"
    assert all(s["licence"] == "CC0-1.0" and s["package"] for s in lib.values())
    assert {k.split("/", 1)[1] for k in lib} == set(seen)


@needs_tools
def test_manifest(tiny):
    root, _ = tiny
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["builder"] == "multitrack" and manifest["seed"] == 0
    assert manifest["parameters"]["tracks"] == 4 and manifest["parameters"]["max_seconds"] == 6.0
    assert manifest["parameters"]["real_fraction"] == 0.5
    ids = {s["id"] for s in manifest["sources"]}
    assert {"music21", "FluidR3_GM", "festival", "flite", "espeak-ng"} <= ids
    assert all(s["licence"] for s in manifest["sources"])
    wavs = list(root.rglob("*.wav"))
    assert len(manifest["files"]) == len(wavs) + 6  # plus one track.json per track
    for rel, digest in manifest["files"].items():
        assert common.sha256_file(root / rel) == digest


@needs_tools
def test_same_seed_same_bytes_library_added_later(tiny, library, tmp_path):
    root, _ = tiny
    again = tmp_path / "again"
    # Without the library: a one-line note, the synthetic tracks only (rendered by two
    # worker processes: the same bytes as the tiny build's single process).
    first = build_multitrack(again, seed=0, workers=2, sources_dir=tmp_path / "no-library",
                             **TINY)
    assert "no real-audio library" in first["note"] and "\n" not in first["note"]
    assert first["tracks"] == 2 and first["library"] is None
    # With it: the same synthetic files stay, only the real-backed tracks are rendered.
    # (One process: starting the spawned workers again costs more than these renders.)
    second = build_multitrack(again, seed=0, workers=1, sources_dir=library, **TINY)
    assert (second["rendered"], second["skipped"]) == (4, 2)
    assert _files(again) == _files(root)
    # Another seed: a synthetic and a real-backed track, neither mixture equal to any of
    # the seed-0 ones.
    other = tmp_path / "other"
    build_multitrack(other, seed=1, workers=1, sources_dir=library,
                     **dict(TINY, tracks=2, test_real_tracks=0))
    mixtures = [v for k, v in _files(other).items() if k.endswith("mixture.wav")]
    assert len(mixtures) == 2
    assert not set(mixtures) & {v for k, v in _files(root).items() if k.endswith("mixture.wav")}


@needs_tools
def test_resume_does_no_work_and_rebuilds_a_deleted_file(tiny, library):
    root, _ = tiny
    before = _files(root)
    assert build_multitrack(root, seed=0, workers=1, sources_dir=library, **TINY)["rendered"] == 0
    victim = next(t for t in _tracks(root) if t.parent.name == "test-real") / "vocals.wav"
    victim.unlink()
    result = build_multitrack(root, seed=0, workers=1, sources_dir=library, **TINY)
    assert (result["rendered"], result["skipped"]) == (1, 5)
    assert _files(root) == before


@needs_tools
def test_two_stem_and_four_stem_tracks_train_together(tiny):
    from sonomorph.data.datasets import MultitrackSegments, Remix
    from sonomorph.data.layouts import musdb_tracks

    root, _ = tiny
    stems = {t.stems for split in ("train", "valid") for t in musdb_tracks(root, split)}
    assert stems == {("vocals", "drums", "bass", "other"), ("vocals", "accompaniment")}
    assert len(musdb_tracks(root, "test-real")) == 2
    ds = MultitrackSegments(root, "train+valid", segment_seconds=1.0, seed=0, samples_per_epoch=8,
                            remix=Remix(gain_db=(0.0, 0.0), shuffle_probability=1.0))
    for i in range(len(ds)):
        item = ds[i]
        assert item["mixture"].shape == (2, 44100)
        assert float((item["mixture"] - item["vocals"] - item["accompaniment"]).abs().max()) < 1e-6


@needs_tools
def test_vocals_follow_the_score(tiny):
    """The vocal stem of a built track sings the pitches its track.json lists."""
    import librosa

    root, _ = tiny
    best = max(_tracks(root), key=lambda f: len(json.loads((f / "track.json").read_text())["sung_notes"]))
    notes = json.loads((best / "track.json").read_text())["sung_notes"]
    assert len(notes) >= 4
    voice = librosa.resample(_read(best / "vocals.wav").mean(axis=0), orig_sr=44100, target_sr=16000)
    f0, voiced, _ = librosa.pyin(voice, fmin=70, fmax=700, sr=16000, frame_length=1024,
                                 hop_length=160, resolution=PYIN_RESOLUTION)
    t = np.arange(len(f0)) * 0.01
    errors = []
    for start, end, hz, _ in notes:
        inside = (t >= start + 0.05) & (t < end - 0.05) & voiced
        errors.extend(1200 * np.log2(f0[inside] / hz))
    assert len(errors) > 20
    assert np.median(np.abs(errors)) < 50


@needs_tools
def test_sung_phrase_pitch_against_the_score():
    """One phrase of a chorale sung by festival: median pitch error under 50 cents."""
    import librosa

    from sonomorph.data.corpus.arrange import Segment, _syllables
    from sonomorph.data.corpus.scores import load_chorale, phrases
    from sonomorph.data.corpus.singing import sing_phrases

    chorale = load_chorale("bach/bwv269")
    first = phrases(chorale.voices["soprano"])[0]
    transpose = 69 - max(n.pitch for n in first)  # top note A4: singable
    seg = Segment("verse", 0.0, chorale.length, 0.0, 60 / 80, verse=1)
    syllables = _syllables(seg, first, transpose, "la", chorale.has_lyrics)
    assert [s.text for s in syllables][:3] == ["Aus", "mei", "nes"]
    for voice, shift in (("kal_diphone", 0.0), ("pc_diphone", 2.0)):
        (audio,) = sing_phrases([syllables], voice, formant_shift=shift)
        audio = librosa.resample(audio, orig_sr=44100, target_sr=16000)
        f0, voiced, _ = librosa.pyin(audio, fmin=70, fmax=700, sr=16000, frame_length=1024,
                                     hop_length=160, resolution=PYIN_RESOLUTION)
        t = np.arange(len(f0)) * 0.01
        errors, start = [], 0.0
        for syl in syllables:
            for dur, hz in syl.notes:
                inside = (t >= start + 0.05) & (t < start + dur - 0.05) & voiced
                errors.extend(1200 * np.log2(f0[inside] / hz))
                start += dur
        assert len(errors) > 50
        assert np.median(np.abs(errors)) < 50, voice


@needs_tools
def test_speech_engines_speak():
    from sonomorph.data.corpus.singing import speak, trim_silence

    for engine, voice, lang in (("flite", "slt", "en"), ("espeak-ng", "m3", "de")):
        x = speak("-rm the Lord is my shepherd", engine, voice, language=lang)
        assert x.dtype == np.float32 and x.ndim == 1 and len(x) > 0.5 * 44100
        assert 0 < len(trim_silence(x)) <= len(x) and np.max(np.abs(x)) > 0.05


def test_arrangements_vary_and_stay_singable():
    from sonomorph.data.corpus.arrange import arrange, midi_hz
    from sonomorph.data.corpus.scores import load_chorale
    from sonomorph.data.corpus.singing import SING_CEILING_HZ

    chorale = load_chorale("bach/bwv269")
    arrs = [arrange(chorale, np.random.default_rng(i)) for i in range(40)]
    assert 5 < sum(a.mix["drums"] is not None for a in arrs) < 35
    modes = {p.mode for a in arrs for p in a.vocals}
    assert {"sung", "rap", "spoken"} <= modes
    kinds = {s.kind for a in arrs for s in a.segments}
    assert kinds == {"intro", "verse", "outro"}
    assert len({a.singer["voice"] for a in arrs}) >= 4
    assert len({a.programs["other"][0] for a in arrs}) >= 10
    uncovered = []
    for a in arrs:
        assert 20 < a.length <= 150
        sung = sorted((p.start, p.syllables) for p in a.vocals if p.mode == "sung")
        for (s0, syls), (s1, _) in zip(sung, sung[1:]):  # a breath before the next phrase
            assert s0 + sum(d for s in syls for d, _ in s.notes) < s1
        uncovered.append(1 - sum(p.end - p.start for p in a.vocals) / a.length)
        ratio = 2 ** (a.singer["formant_shift"] / 12)
        top = max(f for p in a.vocals for s in p.syllables for _, f in s.notes)
        assert top / ratio <= SING_CEILING_HZ + 1e-6
        assert min(e.key for e in a.notes["bass"]) >= 24
        assert midi_hz(69) == 440.0
    # Vocals are not wall-to-wall: intros, outros, instrumental phrases, the tail.
    assert np.mean(uncovered) > 0.1 and min(uncovered) > 0.02
    again = arrange(chorale, np.random.default_rng(7)).describe()
    assert again == arrs[7].describe()


def test_missing_tool_is_a_one_line_dependency_error(monkeypatch, tmp_path):
    monkeypatch.setitem(common._TOOLS, "festival", ("bin", "no-such-festival-binary", "festival"))
    with pytest.raises(DependencyError, match="install the Debian package.*festival"):
        build_multitrack(tmp_path / "c", tracks=1, quiet=True)
    assert not (tmp_path / "c").exists()


def test_cli_help_and_bad_arguments(capsys):
    from sonomorph.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["corpus", "multitrack", "--help"])
    assert exc.value.code == 0
    assert "MUSDB18-HQ" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["corpus", "multitrack", "--tracks", "0"])
    assert exc.value.code == 2


@needs_tools
def test_cli_builds_and_summarises(tmp_path, capsys, library):
    from sonomorph.cli import main

    out = tmp_path / "mt"
    code = main(["-q", "corpus", "multitrack", "--out", str(out), "--tracks", "2",
                 "--real-fraction", "0.5", "--test-real", "1", "--sources", str(library),
                 "--max-seconds", "3", "-j", "1", "--seed", "5"])
    assert code == 0
    err = capsys.readouterr().err
    assert "multitrack: 3 tracks" in err and "3 rendered" in err and "test-real 1" in err
    assert len(list(out.glob("*/*/mixture.wav"))) == 3
    code = main(["-q", "corpus", "multitrack", "--out", str(tmp_path / "none"), "--tracks", "1",
                 "--real-fraction", "0", "--sources", str(tmp_path / "nowhere"),
                 "--max-seconds", "3", "-j", "1"])
    assert code == 0 and "note:" not in capsys.readouterr().err
