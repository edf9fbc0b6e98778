"""Speaker identification: Gram features, the enrol/test protocol, the safetensors database
(never pickle), and the ``speakers`` and ``eval speakers`` commands."""

from __future__ import annotations

import json

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


def test_protocol_refuses_overlapping_sets(speakers_dir):
    from sonomorph.data.layouts import DatasetError

    with pytest.raises(DatasetError, match="fewer than 4 to enrol"):
        evaluate_speakers(speakers_dir, speakers=2, enroll=4, test=2)


def test_database_round_trip_is_safetensors(speakers_dir, tmp_path):
    db = enroll_folder(speakers_dir, per_speaker=2)
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
                 "--per-speaker", "3"]) == 0
    assert SpeakerDatabase.load(db).speakers == sorted(VOICES)
    capsys.readouterr()
    probe = speakers_dir / "p002" / "p002_004.wav"
    assert main(["-q", "speakers", "identify", str(probe), "--db", str(db)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{probe}: p002 (distance ")
    assert len(out) == 4  # the best match, then the other three speakers with distances
    # Enrolling into an existing database extends it.
    assert main(["-q", "speakers", "enroll", str(speakers_dir), "--db", str(db),
                 "--per-speaker", "1"]) == 0
    assert len(SpeakerDatabase.load(db).labels) == 16


def test_identify_errors_are_one_line(speakers_dir, tmp_path, capsys):
    db = tmp_path / "voices.safetensors"
    code = main(["speakers", "identify", str(speakers_dir / "p001" / "p001_000.wav"),
                 "--db", str(db)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "voices.safetensors" in err and len(err.splitlines()) == 1
    main(["-q", "speakers", "enroll", str(speakers_dir), "--db", str(db), "--per-speaker", "1"])
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
    pytest.importorskip("resemblyzer")
    db = enroll_folder(speakers_dir, features="resemblyzer", per_speaker=2, speakers=2)
    assert db.method == "resemblyzer" and db.features.shape == (4, 256)
    back = SpeakerDatabase.load(db.save(tmp_path / "r.safetensors"))
    assert back.identify_file(speakers_dir / "p001" / "p001_004.wav")[0].speaker in ("p001", "p002")
