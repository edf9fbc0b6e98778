"""`corpus multitrack`: tiny builds (a few seconds per track) checking the MUSDB18-HQ
layout, lengths, mixture = sum of stems, determinism, the split by piece, resume, the
manifest, and that festival sings the score's pitches."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sonomorph.data.corpus import common
from sonomorph.data.corpus.multitrack import FILES, TOOLS, build_multitrack, plan_multitrack
from sonomorph.errors import DependencyError

MISSING = common.missing_tools(*TOOLS)
needs_tools = pytest.mark.skipif(
    bool(MISSING) and os.environ.get("CI") != "true",
    reason=f"needs system packages: install {' '.join(MISSING)} (scripts/install-system-deps.sh)",
)
PIECES = ["bach/bwv269", "bach/bwv355", "bach/bwv122.6", "bach/bwv244.54", "bach/bwv66.6"]
TINY = {"tracks": 3, "max_seconds": 7.0, "pieces": PIECES, "quiet": True}


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file() and ".done" not in p.parts
            and p.name != "manifest.json"}


def _read(path: Path) -> np.ndarray:
    x, sr = sf.read(path, dtype="float32", always_2d=True)
    assert sr == 44100
    return x.T


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Path, dict]:
    if MISSING and os.environ.get("CI") != "true":
        pytest.skip(f"needs system packages: install {' '.join(MISSING)}")
    out = tmp_path_factory.mktemp("multitrack") / "corpus"
    result = build_multitrack(out, seed=0, workers=1, **TINY)
    return out, result


def _tracks(root: Path) -> list[Path]:
    return sorted(p for split in ("train", "test") for p in (root / split).glob("*") if p.is_dir())


def test_plan_default_is_split_by_piece():
    jobs = plan_multitrack(seed=0, tracks=200)
    assert len(jobs) == 200 == len({j.key for j in jobs})
    sides = {j.params["split"] for j in jobs}
    assert sides == {"train", "test"}
    assert sum(j.params["split"] == "test" for j in jobs) == 30
    # More tracks than pieces: further variants, every version of a piece on one side.
    many = plan_multitrack(seed=3, tracks=5, pieces=PIECES[:2], test_fraction=0.5)
    by_piece: dict[str, set[str]] = {}
    for j in many:
        by_piece.setdefault(j.params["piece"], set()).add(j.params["split"])
    assert {len(s) for s in by_piece.values()} == {1}
    assert by_piece.keys() == {"bach/bwv269", "bach/bwv355"}
    variants = sorted(int(j.key.rsplit("-v", 1)[1]) for j in many)
    assert variants == [1, 1, 2, 2, 3]
    assert plan_multitrack(seed=0, tracks=10) == plan_multitrack(seed=0, tracks=10)
    assert plan_multitrack(seed=0, tracks=10) != plan_multitrack(seed=1, tracks=10)


@needs_tools
def test_layout_lengths_and_sums(tiny):
    root, result = tiny
    tracks = _tracks(root)
    assert len(tracks) == 3 == result["tracks"]
    assert result["train"] + result["test"] == 3 and result["test"] >= 1
    for folder in tracks:
        names = sorted(p.name for p in folder.iterdir())
        assert names == sorted([f"{f}.wav" for f in FILES] + ["track.json"])
        audio = {f: _read(folder / f"{f}.wav") for f in FILES}
        lengths = {a.shape for a in audio.values()}
        assert len(lengths) == 1 and audio["mixture"].shape[0] == 2
        assert 3.0 * 44100 <= audio["mixture"].shape[1] <= 7.0 * 44100 + 1
        assert sf.info(folder / "mixture.wav").subtype == "FLOAT"
        total = audio["vocals"] + audio["bass"] + audio["drums"] + audio["other"]
        assert np.max(np.abs(audio["mixture"] - total)) < 1e-4
        acc = audio["bass"] + audio["drums"] + audio["other"]
        assert np.max(np.abs(audio["accompaniment"] - acc)) < 1e-4
        peak = np.max(np.abs(audio["mixture"]))
        assert 0.85 < peak <= 0.9 and np.all(np.isfinite(audio["mixture"]))
        assert np.any(audio["other"]) and np.any(audio["bass"])
        meta = json.loads((folder / "track.json").read_text())
        assert meta["track"] == folder.name and meta["split"] == folder.parent.name
        assert meta["samples"] == audio["mixture"].shape[1]


@needs_tools
def test_split_is_disjoint_by_piece(tiny):
    root, _ = tiny
    sides: dict[str, set[str]] = {}
    for folder in _tracks(root):
        piece = json.loads((folder / "track.json").read_text())["piece"]
        sides.setdefault(piece, set()).add(folder.parent.name)
    assert all(len(s) == 1 for s in sides.values())


@needs_tools
def test_manifest(tiny):
    root, _ = tiny
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["builder"] == "multitrack" and manifest["seed"] == 0
    assert manifest["parameters"]["tracks"] == 3 and manifest["parameters"]["max_seconds"] == 7.0
    ids = {s["id"] for s in manifest["sources"]}
    assert {"music21", "FluidR3_GM", "festival", "flite", "espeak-ng"} <= ids
    assert all(s["licence"] for s in manifest["sources"])
    wavs = [p for p in root.rglob("*.wav")]
    assert len(manifest["files"]) == len(wavs) + 3  # plus one track.json per track
    for rel, digest in manifest["files"].items():
        assert common.sha256_file(root / rel) == digest


@needs_tools
def test_same_seed_same_bytes_other_seed_differs(tiny, tmp_path):
    root, _ = tiny
    again = tmp_path / "again"
    build_multitrack(again, seed=0, workers=2, **TINY)
    assert _files(again) == _files(root)
    other = tmp_path / "other"
    build_multitrack(other, seed=1, workers=1, **dict(TINY, tracks=1))
    other_files = _files(other)
    assert other_files and all(other_files.get(k) != v for k, v in _files(root).items()
                               if k.endswith("mixture.wav"))


@needs_tools
def test_resume_does_no_work_and_rebuilds_a_deleted_file(tiny, tmp_path):
    root, _ = tiny
    before = _files(root)
    assert build_multitrack(root, seed=0, workers=1, **TINY)["rendered"] == 0
    victim = _tracks(root)[0] / "vocals.wav"
    victim.unlink()
    result = build_multitrack(root, seed=0, workers=1, **TINY)
    assert (result["rendered"], result["skipped"]) == (1, 2)
    assert _files(root) == before


@needs_tools
def test_vocals_follow_the_score(tiny):
    """The vocal stem of a built track sings the pitches its track.json lists."""
    import librosa

    root, _ = tiny
    best = max(_tracks(root), key=lambda f: len(json.loads((f / "track.json").read_text())["sung_notes"]))
    notes = json.loads((best / "track.json").read_text())["sung_notes"]
    assert len(notes) >= 4
    voice = librosa.resample(_read(best / "vocals.wav").mean(axis=0), orig_sr=44100, target_sr=16000)
    f0, voiced, _ = librosa.pyin(voice, fmin=70, fmax=700, sr=16000, frame_length=1024, hop_length=160)
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
                                     hop_length=160)
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
def test_cli_builds_and_summarises(tmp_path, capsys):
    from sonomorph.cli import main

    out = tmp_path / "mt"
    code = main(["-q", "corpus", "multitrack", "--out", str(out), "--tracks", "1",
                 "--max-seconds", "3", "-j", "1", "--seed", "5"])
    assert code == 0
    err = capsys.readouterr().err
    assert "multitrack: 1 tracks" in err and "1 rendered" in err
    assert len(list(out.glob("*/*/mixture.wav"))) == 1
