"""Speaker identification: Gram features, the enrol/test protocol, the safetensors database
(never pickle), and the ``speakers`` and ``eval speakers`` commands."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import safetensors
import soundfile as sf

from sonomorph.cli import main
from sonomorph.errors import AudioLoadError, CheckpointError
from sonomorph.eval.analysis import evaluate_speakers
from sonomorph.pipelines.speakers import GramFeatures, SpeakerDatabase, enroll_folder

SR = 16000
# (f0 Hz, formants Hz, breathiness): four clearly different synthetic "voices".
VOICES = {"p001": (105, (600, 1200), 0.01), "p002": (140, (750, 2200), 0.05),
          "p003": (210, (450, 1700), 0.02), "p004": (260, (850, 2600), 0.08)}


def utterance(f0: float, formants: tuple[float, float], breath: float, seed: int,
              seconds: float = 0.9) -> np.ndarray:
    """Harmonics of a wandering f0 through two formants, syllable bursts, breath noise;
    each seed says something else (other rhythm, intonation and vowel shifts)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    pitch = f0 * 2 ** (rng.uniform(-1, 1) / 12 + 0.08 * np.sin(2 * np.pi * rng.uniform(0.5, 2) * t))
    phase = 2 * np.pi * np.cumsum(pitch) / SR
    shift = rng.uniform(0.9, 1.1)
    x = np.zeros_like(t)
    for k in range(1, int(5000 / f0)):
        gain = sum(np.exp(-(((k * f0 - f * shift) / 300.0) ** 2)) for f in formants) + 0.02
        x += gain * np.sin(k * phase)
    env = np.clip(np.sin(2 * np.pi * rng.uniform(2.5, 4.5) * t + rng.uniform(0, 6)), 0, None)
    x = x * (0.2 + env) + breath * rng.standard_normal(t.shape) * (0.2 + env)
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


@pytest.fixture(scope="module")
def speakers_dir(tmp_path_factory):
    """A flat <speaker>/<utt>.wav folder: 4 speakers x 5 utterances."""
    root = tmp_path_factory.mktemp("speakers")
    for i, (spk, (f0, formants, breath)) in enumerate(VOICES.items()):
        (root / spk).mkdir()
        for u in range(5):
            sf.write(root / spk / f"{spk}_{u:03d}.wav",
                     utterance(f0, formants, breath, seed=100 * i + u), SR)
    return root


def test_gram_features_are_deterministic_unit_vectors(speakers_dir):
    wav = utterance(150, (700, 1500), 0.02, seed=1)
    a, b = GramFeatures()(wav), GramFeatures()(wav)
    assert np.array_equal(a, b)
    assert np.linalg.norm(a) == pytest.approx(1.0, abs=1e-5)
    # Trailing silence is left out of the statistics.
    padded = np.concatenate([wav, np.zeros(SR, np.float32)])
    assert float(a @ GramFeatures()(padded)) > 0.99


def test_protocol_on_synthetic_speakers(speakers_dir):
    result = evaluate_speakers(speakers_dir, speakers=4, enroll=3, test=2)
    assert result["trials"] == 8 and result["speakers"] == sorted(VOICES)
    assert result["accuracy"] >= 0.75


def test_protocol_never_overlaps_enrolment_and_test_clips(speakers_dir):
    """5 clips cannot give 4 to enrol and 2 to test: every speaker is dropped, no clip is
    used twice."""
    from sonomorph.data.layouts import DatasetError

    with pytest.raises(DatasetError, match="fewer than 2 speakers have 4 usable clips"):
        evaluate_speakers(speakers_dir, speakers=2, enroll=4, test=2)


def test_database_round_trip_is_safetensors(speakers_dir, tmp_path):
    db = enroll_folder(speakers_dir, per_speaker=2, features="gram")
    path = db.save(tmp_path / "db.safetensors")
    with safetensors.safe_open(str(path), "np") as f:  # a plain safetensors file
        assert list(f.keys()) == ["features"]
        meta = json.loads(f.metadata()["sonomorph_speakers"])
    assert meta["method"] == "gram" and len(meta["labels"]) == 8
    back = SpeakerDatabase.load(path)
    assert back.labels == db.labels and np.array_equal(back.features, db.features)
    ranked = back.identify_file(speakers_dir / "p003" / "p003_004.wav")
    assert [m.distance for m in ranked] == sorted(m.distance for m in ranked)
    assert {m.speaker for m in ranked} == set(VOICES)


def test_bad_database_and_silent_input(tmp_path):
    with pytest.raises(CheckpointError, match="no such speaker database"):
        SpeakerDatabase.load(tmp_path / "missing.safetensors")
    other = tmp_path / "other.safetensors"
    import torch
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(other))
    with pytest.raises(CheckpointError, match="not a sonomorph speaker database"):
        SpeakerDatabase.load(other)
    with pytest.raises(AudioLoadError, match="silent"):
        GramFeatures()(np.zeros(SR, np.float32))


def test_enroll_and_identify_commands(speakers_dir, tmp_path, capsys):
    db = tmp_path / "voices.safetensors"
    assert main(["-q", "speakers", "enroll", str(speakers_dir), "--db", str(db),
                 "--per-speaker", "3", "--features", "gram"]) == 0
    assert SpeakerDatabase.load(db).speakers == sorted(VOICES)
    capsys.readouterr()
    probe = speakers_dir / "p002" / "p002_004.wav"
    assert main(["-q", "speakers", "identify", str(probe), "--db", str(db)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{probe}: p002 (distance ")
    assert len(out) == 4  # the best match, then the other three speakers with distances
    # Enrolling into an existing database extends it with clips it does not hold yet, with
    # the features it records (gram), although the default of a new database is another.
    assert main(["-q", "speakers", "enroll", str(speakers_dir), "--db", str(db),
                 "--per-speaker", "4"]) == 0
    back = SpeakerDatabase.load(db)
    assert len(back.labels) == 16 and back.method == "gram"
    expected = GramFeatures()(sf.read(speakers_dir / "p004" / "p004_003.wav",
                                      dtype="float32")[0])
    assert back.features.shape[1] == expected.shape[0]
    assert float(back.features[-1] @ expected) > 0.9999


def test_identify_errors_are_one_line(speakers_dir, tmp_path, capsys):
    db = tmp_path / "voices.safetensors"
    code = main(["speakers", "identify", str(speakers_dir / "p001" / "p001_000.wav"),
                 "--db", str(db)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "voices.safetensors" in err and len(err.splitlines()) == 1
    main(["-q", "speakers", "enroll", str(speakers_dir), "--db", str(db), "--per-speaker", "1",
          "--features", "gram"])
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(SR, np.float32), SR)
    capsys.readouterr()
    code = main(["speakers", "identify", str(silent), "--db", str(db)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "silent.wav" in err and "silent" in err and len(err.splitlines()) == 1


def test_eval_speakers_command_prints_accuracy(speakers_dir, capsys, tmp_path):
    report = tmp_path / "speakers.json"
    code = main(["-q", "eval", "speakers", "--data", str(speakers_dir), "--speakers", "4",
                 "--enroll", "3", "--test", "2", "--json", str(report)])
    out = capsys.readouterr().out
    assert code == 0 and "4 speakers" in out and "accuracy" in out
    rows = json.loads(report.read_text())
    assert len(rows) == 1 and list(rows[0])[:2] == ["n_speakers", "data"]
    assert rows[0]["n_speakers"] == 4 and rows[0]["data"] == str(speakers_dir)
    assert rows[0]["trials"] == 8 and f"{rows[0]['accuracy']:.1%}" in out


def test_resemblyzer_option(speakers_dir, tmp_path):
    db = enroll_folder(speakers_dir, features="resemblyzer", per_speaker=2, speakers=2)
    assert db.method == "resemblyzer" and db.features.shape == (4, 256)
    back = SpeakerDatabase.load(db.save(tmp_path / "r.safetensors"))
    assert back.identify_file(speakers_dir / "p001" / "p001_004.wav")[0].speaker in ("p001", "p002")


# ----------------------------------------------------------------------------- defaults


def test_a_new_database_records_adapted_features_by_default(speakers_dir, tmp_path, capsys):
    """The shipped back-end over resemblyzer is the default of a new database: the database
    records the back-end's sha256, and identify answers with the same features."""
    from sonomorph import pretrained
    from sonomorph.pipelines.speakers import DEFAULT_FEATURES, enroll
    from sonomorph.utils.hashing import sha256_file

    db = tmp_path / "default.safetensors"
    assert main(["-q", "speakers", "enroll", str(speakers_dir), "--db", str(db),
                 "--speakers", "2", "--per-speaker", "2"]) == 0
    with safetensors.safe_open(str(db), "np") as f:
        meta = json.loads(f.metadata()["sonomorph_speakers"])
    assert meta["method"] == "adapted"
    assert meta["settings"]["sha256"] == sha256_file(pretrained.path_for("speaker-backend"))
    back = SpeakerDatabase.load(db)
    assert back.features.shape == (4, 256)  # resemblyzer's dimension, not a time-Gram's
    assert np.allclose(np.linalg.norm(back.features, axis=1), 1.0, atol=1e-5)
    capsys.readouterr()
    assert main(["-q", "speakers", "identify", str(speakers_dir / "p002" / "p002_004.wav"),
                 "--db", str(db), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["nearest"] in ("p001", "p002")
    # The pipeline and the command line agree on the default.
    assert DEFAULT_FEATURES == "adapted"
    assert enroll(speakers_dir, speakers=2, per_speaker=1).db.method == "adapted"


def test_the_help_says_why_adapted_is_the_default(capsys):
    with pytest.raises(SystemExit):
        main(["speakers", "enroll", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "benchmarks/results/speakers-real.json" in text and "original method" in text
    # The figures quoted are those of the results file, and they justify the default.
    doc = json.loads((Path(__file__).parents[1] / "benchmarks" / "results"
                      / "speakers-real.json").read_text())["features"]
    assert doc["adapted"]["accuracy"] == max(d["accuracy"] for d in doc.values())
    for kind in ("adapted", "resemblyzer", "gram"):
        assert f"{doc[kind]['accuracy']:.1%}" in text


def test_a_gram_database_keeps_gram_and_refuses_other_features(speakers_dir, tmp_path,
                                                                capsys):
    from sonomorph.errors import ConfigError
    from sonomorph.pipelines.speakers import enroll

    db = tmp_path / "gram.safetensors"
    assert main(["-q", "speakers", "enroll", str(speakers_dir), "--db", str(db),
                 "--features", "gram", "--per-speaker", "1"]) == 0
    before = db.read_bytes()
    capsys.readouterr()
    code = main(["-q", "speakers", "enroll", str(speakers_dir), "--db", str(db),
                 "--features", "resemblyzer", "--per-speaker", "2"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "gram" in err and "resemblyzer" in err and "Traceback" not in err
    assert db.read_bytes() == before  # nothing was added
    gram_db = SpeakerDatabase.load(db)
    with pytest.raises(ConfigError, match="holds gram features"):
        enroll(speakers_dir, gram_db, features="resemblyzer")
    # Without --features it extends the database with its own features.
    assert main(["-q", "speakers", "enroll", str(speakers_dir), "--db", str(db),
                 "--per-speaker", "2"]) == 0
    back = SpeakerDatabase.load(db)
    assert back.method == "gram" and len(back.labels) == 8


def test_missing_resemblyzer_is_one_line_and_exit_2(speakers_dir, tmp_path, capsys,
                                                    monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "resemblyzer", None)  # `import resemblyzer` fails
    db = tmp_path / "r.safetensors"
    code = main(["-q", "speakers", "enroll", str(speakers_dir), "--db", str(db)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "resemblyzer" in err
    assert "Traceback" not in err and not db.exists()
    # A database built with gram does not need resemblyzer.
    assert main(["-q", "speakers", "enroll", str(speakers_dir), "--db", str(db),
                 "--features", "gram", "--per-speaker", "1"]) == 0
    capsys.readouterr()
    assert main(["-q", "speakers", "identify", str(speakers_dir / "p003" / "p003_004.wav"),
                 "--db", str(db)]) == 0
    assert capsys.readouterr().out.startswith(str(speakers_dir / "p003" / "p003_004.wav"))


# ----------------------------------------------------------------------------- real data


@pytest.fixture()
def messy_dir(speakers_dir, tmp_path):
    """The four speakers plus what real folders hold: a silent clip, a 50 ms clip, an empty
    file, a text file named .wav, a 0.15 s clip (padded) and a byte-identical copy."""
    import shutil

    root = tmp_path / "messy"
    shutil.copytree(speakers_dir, root)
    sf.write(root / "p001" / "p001_100_silent.wav", np.zeros(SR, np.float32), SR)
    sf.write(root / "p002" / "p002_100_short.wav", utterance(140, (750, 2200), 0.05, 7)[:800], SR)
    (root / "p003" / "p003_100_empty.wav").write_bytes(b"")
    (root / "p003" / "p003_101_text.wav").write_text("not audio\n")
    sf.write(root / "p004" / "p004_100_brief.wav",
             utterance(260, (850, 2600), 0.08, 9, seconds=0.15), SR)
    shutil.copy(root / "p004" / "p004_000.wav", root / "p004" / "p004_101_copy.wav")
    return root


def test_enroll_skips_short_silent_and_broken_clips_and_counts_them(messy_dir):
    from sonomorph.pipelines.speakers import enroll

    result = enroll(messy_dir, features="gram")
    assert {k: len(v) for k, v in result.skipped.items()} == {"short": 1, "silent": 1,
                                                                "unreadable": 2}
    assert result.duplicates == 1  # the copy of p004_000
    assert result.added == 4 * 5 + 1  # every good clip, and the 0.15 s one padded
    assert "p004_100_brief.wav" in " ".join(result.db.files)
    assert "4 clips skipped (1 short, 1 silent, 2 unreadable)" in result.summary()


def test_padding_repeats_a_clip_shorter_than_the_features_need():
    wide = GramFeatures(n_fft=2048, hop_length=512)  # needs 4096 samples (0.256 s)
    brief = utterance(150, (700, 1500), 0.02, seed=1, seconds=0.15)
    assert wide(brief).shape == wide(utterance(150, (700, 1500), 0.02, seed=1)).shape
    from sonomorph.errors import InputTooShortError

    with pytest.raises(InputTooShortError, match="too short"):
        wide(brief[:800])  # 50 ms: below the 0.1 s floor


def test_enroll_command_summary_counts_skips_and_never_stops(messy_dir, tmp_path, capsys):
    db = tmp_path / "db.safetensors"
    assert main(["speakers", "enroll", str(messy_dir), "--db", str(db), "--features", "gram"]) == 0
    out = " ".join(capsys.readouterr().err.split())  # the summary goes to stderr
    assert "4 clips skipped (1 short, 1 silent, 2 unreadable)" in out
    assert "1 already enrolled" in out and "4 speakers, 21 utterances" in out


def test_identify_goes_on_past_short_silent_and_broken_clips(messy_dir, tmp_path, capsys):
    """identify over a folder with the odd clips: the 0.15 s clip is padded and answered,
    the 50 ms, silent and unreadable ones are each named on one line and counted, and the
    good clips are still answered (exit 1: some inputs failed)."""
    db = tmp_path / "db.safetensors"
    assert main(["-q", "speakers", "enroll", str(messy_dir), "--db", str(db),
                 "--features", "gram", "--per-speaker", "2"]) == 0
    capsys.readouterr()
    odd = sorted(p for p in messy_dir.rglob("*_1*.wav"))  # the six odd clips
    good = messy_dir / "p003" / "p003_004.wav"
    code = main(["speakers", "identify", *map(str, odd), str(good), "--db", str(db)])
    out, err = capsys.readouterr()
    assert code == 1 and "Traceback" not in err
    answered = {line.split(": ")[0] for line in out.splitlines() if not line.startswith(" ")}
    assert answered == {str(good), str(messy_dir / "p004" / "p004_100_brief.wav"),
                        str(messy_dir / "p004" / "p004_101_copy.wav")}
    assert "4 of 7 failed" in " ".join(err.split())
    for name, why in (("p002_100_short.wav", "too short"), ("p001_100_silent.wav", "silent"),
                      ("p003_100_empty.wav", ""), ("p003_101_text.wav", "audio")):
        lines = [line for line in err.splitlines() if f"{name}: " in line]
        assert len(lines) == 1 and why in lines[0].split(f"{name}: ", 1)[1]


def test_calibration_skips_bad_held_out_clips_and_counts_them(messy_dir, tmp_path, capsys):
    """--calibrate reads held-out folders as messy as enrolment ones: the unreadable clips of
    the held-out speakers are skipped and counted in the calibration record."""
    import shutil

    enrolled = tmp_path / "enrolled"
    for spk in ("p001", "p002"):
        shutil.copytree(messy_dir / spk, enrolled / spk)
    db = tmp_path / "db.safetensors"
    assert main(["-q", "speakers", "enroll", str(enrolled), "--db", str(db), "--features",
                 "gram", "--calibrate", str(messy_dir)]) == 0
    cal = SpeakerDatabase.load(db).calibration
    # p003 and p004 are held out (p001, p002 are enrolled, so left out): p003's empty and
    # text files are skipped; p004's 0.15 s clip is padded and its copy is a clip like any.
    assert cal["skipped"] == {"unreadable": 2}
    assert cal["heldout_speakers"] == 2 and cal["heldout_clips"] == 5 + 7


def test_eval_skips_bad_clips_and_counts_them(messy_dir):
    r = evaluate_speakers(messy_dir, speakers=4, enroll=3, test=2)
    # The odd clips sort after the good ones: the test clips are taken past them, and the
    # copy of an enrolled clip is never a test clip.
    assert r["trials"] == 8
    assert r["skipped"] == {"duplicate": 1, "short": 1, "silent": 1, "unreadable": 2}
    assert r["dropped"] == {} and r["note"] is None


def test_more_speakers_asked_than_the_folder_holds_uses_all_and_says_so(
        speakers_dir, tmp_path, capsys):
    r = evaluate_speakers(speakers_dir, speakers=10, enroll=3, test=2)
    assert r["speakers"] == sorted(VOICES) and "10 speakers asked for" in r["note"]
    db = tmp_path / "db.safetensors"
    assert main(["-q", "speakers", "enroll", str(speakers_dir), "--db", str(db),
                 "--speakers", "9", "--per-speaker", "1", "--features", "gram"]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "9 speakers asked for, the folder holds 4: using all 4" in err
    assert SpeakerDatabase.load(db).speakers == sorted(VOICES)
    assert main(["-q", "eval", "speakers", "--data", str(speakers_dir), "--speakers", "7",
                 "--enroll", "3", "--test", "2"]) == 0
    assert "7 speakers asked for" in capsys.readouterr().out


def test_enrolling_the_same_folder_twice_does_not_double(speakers_dir, tmp_path):
    import shutil

    from sonomorph.pipelines.speakers import enroll

    first = enroll(speakers_dir, per_speaker=3, features="gram")
    again = enroll(speakers_dir, first.db, per_speaker=3)
    assert again.added == 0 and again.duplicates == 12 and len(again.db.labels) == 12
    # The same bytes filed under another speaker are relabelled, not added.
    moved = tmp_path / "moved"
    (moved / "p009").mkdir(parents=True)
    shutil.copy(speakers_dir / "p001" / "p001_000.wav", moved / "p009" / "x.wav")
    relabel = enroll(moved, again.db)
    assert relabel.relabelled == 1 and relabel.added == 0 and len(relabel.db.labels) == 12
    assert relabel.db.labels.count("p009") == 1 and relabel.db.labels.count("p001") == 2


def test_unknown_below_the_calibrated_threshold(speakers_dir, tmp_path, capsys):
    from sonomorph.pipelines.speakers import UNKNOWN, calibrate, eer_threshold

    # The equal-error point between two separated sets lies between them.
    t, eer = eer_threshold([0.1, 0.12, 0.15], [0.5, 0.6, 0.7])
    assert 0.15 < t < 0.5 and eer == 0.0
    db = SpeakerDatabase("gram", {})
    db.add(np.array([[1, 0, 0], [0.98, 0.2, 0], [0, 1, 0], [0.1, 0.99, 0]], np.float32),
           ["a", "a", "b", "b"], ["1", "2", "3", "4"])
    cal = calibrate(db, {"c": [np.array([0, 0.3, 1], np.float32),
                               np.array([0.3, 0, 1], np.float32)]})
    assert db.threshold == cal["threshold"] and cal["heldout_speakers"] == 1
    assert cal["genuine_trials"] == 4 and cal["equal_error_rate"] == 0.0
    assert db.decide(db.rank(np.array([0.99, 0.1, 0], np.float32))) == "a"
    assert db.decide(db.rank(np.array([0, 0, 1], np.float32))) == UNKNOWN
    # The threshold and how it was calibrated survive a save.
    back = SpeakerDatabase.load(db.save(tmp_path / "t.safetensors"))
    assert back.threshold == db.threshold and back.calibration == db.calibration
    # The commands: enrol two speakers, calibrate on the other two (held out).
    enrolled, heldout = tmp_path / "enrolled", tmp_path / "heldout"
    import shutil

    for spk in ("p001", "p002"):
        shutil.copytree(speakers_dir / spk, enrolled / spk)
    for spk in ("p003", "p004"):
        shutil.copytree(speakers_dir / spk, heldout / spk)
    path = tmp_path / "cal.safetensors"
    assert main(["speakers", "enroll", str(enrolled), "--db", str(path), "--calibrate",
                 str(heldout), "--features", "gram"]) == 0
    assert "'unknown' beyond distance" in capsys.readouterr().err
    stored = SpeakerDatabase.load(path)
    assert stored.threshold is not None and stored.calibration["heldout_speakers"] == 2
    assert main(["-q", "speakers", "identify", str(speakers_dir / "p004" / "p004_004.wav"),
                 "--db", str(path), "--threshold", "0", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["speaker"] is None and row["nearest"] in ("p001", "p002")
    assert main(["-q", "speakers", "identify", str(speakers_dir / "p004" / "p004_004.wav"),
                 "--db", str(path), "--threshold", "off"]) == 0
    assert capsys.readouterr().out.split(": ")[1].split(" ")[0] in ("p001", "p002")


def speech_corpus(root, splits: dict[str, list[str]]):
    """A speech-corpus-like folder: wav/<spk>/<spk>_NNN.wav and splits/<split>.txt."""
    voices = list(VOICES.values())
    for k, spk in enumerate(sorted(s for v in splits.values() for s in v)):
        f0, formants, breath = voices[k % 4]
        (root / "wav" / spk).mkdir(parents=True)
        for u in range(5):
            wav = utterance(f0 * (1 + 0.12 * (k // 4)), formants, breath, seed=1000 * k + u)
            sf.write(root / "wav" / spk / f"{spk}_{u + 1:03d}.wav", wav, SR)
    (root / "splits").mkdir()
    for split, ids in splits.items():
        (root / "splits" / f"{split}.txt").write_text("".join(f"{i}\n" for i in ids))
    return root


def test_real_speaker_protocol_side_by_side(tmp_path, capsys, monkeypatch):
    # Where no encoder of ours is installed, "all" leaves it out and says so: hide the
    # shipped one for this run.
    from sonomorph import pretrained

    shipped = pretrained.available()
    monkeypatch.setattr(pretrained, "available",
                        lambda: [n for n in shipped if n != "speaker-encoder"])
    root = speech_corpus(tmp_path / "speech", {"train": ["p225"], "valid": ["r-v1", "r-v2"],
                                               "test-real": ["r-t1", "r-t2", "r-t3", "r-t4"]})
    out = tmp_path / "out"
    out.mkdir()
    code = main(["-q", "eval", "speakers", "--data", str(root), "--split", "test-real",
                 "--features", "all", "--enroll", "3", "--test", "2",
                 "--confusion", str(out / "c.png"), "--json", str(out / "r.json")])
    text = capsys.readouterr().out
    assert code == 0 and (out / "c.png").read_bytes()[:4] == b"\x89PNG"
    r = json.loads((out / "r.json").read_text())
    assert r["speakers"] == ["r-t1", "r-t2", "r-t3", "r-t4"]  # the split only
    assert r["calibration_speakers"] == ["r-v1", "r-v2"]
    assert "ours" in r["unavailable"] and "not available" in text
    gram = r["features"]["gram"]
    assert gram["trials"] == 8 and f"{gram['accuracy']:.1%}" in text
    assert np.array(gram["confusion"]).sum() == 8 and gram["versions"]["features"] == "gram"
    o = gram["open_set"]
    assert o["known_trials"] == 4 and o["unknown_trials"] == 4
    assert set(o["known_speakers"]) | set(o["unknown_speakers"]) == set(r["speakers"])
    assert "open set error" in text
    # No absolute path anywhere in the results file (a relative path may climb to tmp_path:
    # "../../tmp/..." holds tmp_path's text after its dots).
    assert not re.search(r"(?<!\.)" + re.escape(str(tmp_path)), (out / "r.json").read_text())
    assert not Path(r["data"]).is_absolute()
    # Deterministic: a second run gives the same results.
    assert main(["-q", "eval", "speakers", "--data", str(root), "--split", "test-real",
                 "--features", "gram", "--enroll", "3", "--test", "2",
                 "--confusion", str(out / "c2.png"), "--json", str(out / "r2.json")]) == 0
    again = json.loads((out / "r2.json").read_text())
    assert again["features"]["gram"] == gram


def test_ours_slot_takes_a_speaker_encoder_file(speakers_dir, tmp_path):
    import torch
    from torch import nn

    from sonomorph.models import save_model
    from sonomorph.models.registry import register_model
    from sonomorph.pipelines.speakers import feature_versions, make_extractor

    @register_model("test_speaker_encoder", kind="speaker-encoder")
    class TinyEncoder(nn.Module):
        sample_rate = 16000

        def __init__(self, dim: int = 8):
            super().__init__()
            self.proj = nn.Conv1d(1, dim, 400, stride=160)

        def forward(self, wav):
            return self.proj(wav[:, None]).mean(dim=-1)

    torch.manual_seed(0)
    path = save_model(tmp_path / "enc.safetensors", TinyEncoder())
    ours = make_extractor("ours", {"model": str(path)})
    vec = ours(utterance(150, (700, 1500), 0.02, seed=1))
    assert vec.shape == (8,) and np.linalg.norm(vec) == pytest.approx(1.0, abs=1e-5)
    assert feature_versions(ours)["sha256"] == ours.settings["sha256"]
    from sonomorph.pipelines.speakers import enroll

    db = SpeakerDatabase("ours", dict(ours.settings))
    back = SpeakerDatabase.load(enroll(speakers_dir, db, per_speaker=1).db.save(
        tmp_path / "ours.safetensors"))
    assert back.method == "ours" and back.features.shape == (4, 8)
    assert back.extractor().settings == ours.settings
