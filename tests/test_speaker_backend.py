"""The speaker back-end of the 'adapted' features: the fit on synthetic vectors whose
nuisance is known, the model file, the 'adapted' extractor, and `train speaker-backend`
(a missing corpus, a tiny end-to-end fit, the fitted file in enroll and eval speakers)."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from test_speakers import SR, speech_corpus, utterance

from sonomorph.cli import main

DIM = 256


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _direction(rng: np.random.Generator, n: int = 1) -> np.ndarray:
    return _unit(rng.standard_normal((n, DIM)))


class World:
    """Embeddings with a known structure: clip = offset + speaker direction + amplitude x
    nuisance direction + noise. By default the offset (norm 200) and the nuisance
    (amplitude ~ N(0, 40) per clip) are shared by every speaker and dwarf the speaker part
    (norm 1); the noise is small (0.02 per dimension, norm about 0.3)."""

    def __init__(self, seed: int = 0, offset: float = 200.0, spread: float = 40.0):
        rng = np.random.default_rng(seed)
        self.offset = offset * _direction(rng)[0]
        self.nuisance = _direction(rng)[0]
        self.spread = spread

    def clips(self, speakers: int, per_speaker: int, seed: int):
        rng = np.random.default_rng(seed)
        voices = _direction(rng, speakers)
        x, y = [], []
        for s in range(speakers):
            amp = rng.normal(0.0, self.spread, size=(per_speaker, 1))
            noise = 0.02 * rng.standard_normal((per_speaker, DIM))
            x.append(self.offset + voices[s] + amp * self.nuisance + noise)
            y += [s] * per_speaker
        return np.concatenate(x), np.array(y)


def _nn_accuracy(feats: np.ndarray, labels: np.ndarray, enrol: int = 8) -> float:
    """1-NN by cosine: each speaker's first ``enrol`` clips enrolled, the rest tested."""
    feats = _unit(feats)
    first = np.concatenate([np.flatnonzero(labels == s)[:enrol] for s in np.unique(labels)])
    rest = np.setdiff1d(np.arange(len(labels)), first)
    nearest = first[np.argmax(feats[rest] @ feats[first].T, axis=1)]
    return float(np.mean(labels[nearest] == labels[rest]))


def _apply(backend, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return backend(torch.from_numpy(x.astype(np.float32))).numpy()


def _reference(fit_on: np.ndarray, x: np.ndarray, k: int) -> np.ndarray:
    """The back-end's formula written out again: unit(unit(x - mean) @ (I - U U^T)), U the
    top-k eigenvectors of the second moment of unit(fit_on - mean)."""
    mu = fit_on.mean(0)
    z = _unit(fit_on - mu)
    _, v = np.linalg.eigh(z.T @ z)
    u = v[:, ::-1][:, :k]
    return _unit(_unit(x - mu) @ (np.eye(DIM) - u @ u.T))


# ----------------------------------------------------------------------------- the fit


def test_the_fit_takes_the_shared_nuisance_out_and_speakers_become_separable():
    from sonomorph.models.speaker_backend import fit_backend

    world = World()
    train, _ = world.clips(speakers=30, per_speaker=10, seed=1)  # other speakers
    test, labels = world.clips(speakers=10, per_speaker=15, seed=2)
    backend = fit_backend(train, remove=1)
    # The one direction removed is the nuisance (up to its sign).
    assert abs(float(backend.basis[:, 0].double().numpy() @ world.nuisance)) > 0.99
    before = _nn_accuracy(test, labels)
    after = _nn_accuracy(_apply(backend, test), labels)
    # The construction's own answer: with the offset and the nuisance known and taken
    # out, each clip is its speaker's direction plus small noise.
    known = np.stack([world.offset / np.linalg.norm(world.offset), world.nuisance], axis=1)
    q, _ = np.linalg.qr(known)
    oracle = _nn_accuracy(test - (test @ q) @ q.T, labels)
    assert oracle == 1.0
    # Before, the nearest enrolled clip is the one with the nearest nuisance amplitude,
    # whoever speaks: 8 of the 80 enrolled clips are the right speaker's, so about chance
    # (0.1). After, the fitted back-end does what the oracle does.
    assert before < 0.3, before
    assert after >= 0.97, (before, after)


def test_output_is_unit_without_the_removed_directions_and_follows_the_formula():
    from sonomorph.models.speaker_backend import fit_backend

    world = World(seed=3, offset=2.0, spread=1.0)  # unit vectors, as resemblyzer gives
    train = _unit(world.clips(speakers=20, per_speaker=6, seed=4)[0])
    test = _unit(world.clips(speakers=5, per_speaker=4, seed=5)[0])
    for k in (1, 2):
        backend = fit_backend(train, remove=k)
        out = _apply(backend, test)
        assert out.shape == test.shape and out.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
        basis = backend.basis.double().numpy()
        assert basis.shape == (DIM, k)
        np.testing.assert_allclose(basis.T @ basis, np.eye(k), atol=1e-5)
        assert np.abs(out @ basis).max() < 1e-5
        # The sign rule: each direction's largest-magnitude component is positive.
        for j in range(k):
            assert basis[np.argmax(np.abs(basis[:, j])), j] > 0
        np.testing.assert_allclose(out, _reference(train, test, k), atol=2e-5)
    # remove=0 only centres.
    np.testing.assert_allclose(_apply(fit_backend(train, remove=0), test),
                               _unit(test - train.mean(0)), atol=2e-5)


def test_the_fit_is_deterministic_and_refuses_what_it_cannot_fit():
    from sonomorph.models.speaker_backend import fit_backend

    train, _ = World(seed=6).clips(speakers=12, per_speaker=5, seed=7)
    a, b = fit_backend(train), fit_backend(torch.from_numpy(train.copy()))
    assert torch.equal(a.mean, b.mean) and torch.equal(a.basis, b.basis)
    for bad, kwargs in ((train[:1], {}), (train, {"remove": DIM}), (train, {"remove": -1})):
        with pytest.raises(ValueError):
            fit_backend(bad, **kwargs)
    nan = train.copy()
    nan[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fit_backend(nan)


def test_the_model_file_round_trips(tmp_path):
    from sonomorph.errors import CheckpointError
    from sonomorph.models import load_model, read_metadata, save_model
    from sonomorph.models.speaker_backend import fit_backend

    train, _ = World(seed=8).clips(speakers=12, per_speaker=5, seed=9)
    test, _ = World(seed=8).clips(speakers=3, per_speaker=2, seed=10)
    backend = fit_backend(train, remove=2)
    path = save_model(tmp_path / "b.safetensors", backend, meta={"features": "resemblyzer"})
    meta = read_metadata(path)
    assert meta["kind"] == "speaker-backend" and meta["model"] == "speaker_backend"
    assert meta["args"] == {"dim": DIM, "remove": 2}
    back, _ = load_model(path, expect="speaker-backend")
    assert torch.equal(back.mean, backend.mean) and torch.equal(back.basis, backend.basis)
    assert np.array_equal(_apply(back, test), _apply(backend, test))
    with pytest.raises(CheckpointError, match="expected 'speaker-encoder'"):
        load_model(path, expect="speaker-encoder")


# ----------------------------------------------------------------------------- extractor


def _resemblyzer_sha() -> str:
    from sonomorph.utils.hashing import sha256_file

    spec = importlib.util.find_spec("resemblyzer")
    return sha256_file(Path(spec.origin).parent / "pretrained.pt")


def test_adapted_features_are_resemblyzer_through_the_back_end(tmp_path):
    """resemblyzer is a requirement (tests/test_speakers.py): no skip here."""
    from sonomorph.models import save_model
    from sonomorph.models.speaker_backend import fit_backend
    from sonomorph.pipelines.speakers import feature_versions, make_extractor
    from sonomorph.utils.hashing import sha256_file

    train, _ = World(seed=11).clips(speakers=12, per_speaker=5, seed=12)
    path = save_model(tmp_path / "b.safetensors", fit_backend(_unit(train)),
                      meta={"features": "resemblyzer"})
    adapted = make_extractor("adapted", {"model": str(path)})
    assert adapted.name == "adapted" and adapted.sample_rate == 16000
    wav = utterance(150, (700, 1500), 0.02, seed=1, seconds=1.0)
    vec = adapted(wav)
    assert vec.shape == (DIM,) and vec.dtype == np.float32
    assert np.linalg.norm(vec) == pytest.approx(1.0, abs=1e-5)
    plain = make_extractor("resemblyzer")(wav)
    np.testing.assert_allclose(vec, _reference(_unit(train), plain[None], 1)[0], atol=2e-5)
    versions = feature_versions(adapted)
    assert versions["sha256"] == sha256_file(path) == adapted.settings["sha256"]
    assert versions["resemblyzer"]["sha256"] == _resemblyzer_sha()
    assert versions["package"].startswith("resemblyzer ")


def test_no_back_end_is_a_one_line_error(tmp_path, capsys, monkeypatch):
    from sonomorph import pretrained
    from sonomorph.errors import CheckpointError, DependencyError
    from sonomorph.models import save_model
    from sonomorph.models.speaker_backend import fit_backend
    from sonomorph.pipelines.speakers import make_extractor

    monkeypatch.setattr(pretrained, "available", lambda: [])
    with pytest.raises(DependencyError, match="sonomorph train speaker-backend"):
        make_extractor("adapted")
    folder = tmp_path / "voices" / "p001"
    folder.mkdir(parents=True)
    sf.write(folder / "a.wav", utterance(150, (700, 1500), 0.02, seed=1), SR)
    assert main(["-q", "speakers", "enroll", str(folder.parent), "--db",
                 str(tmp_path / "db.st"), "--features", "adapted"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--backend FILE" in err
    assert not (tmp_path / "db.st").exists()
    # A database of adapted features takes no other back-end (refused before any work).
    from sonomorph.errors import ConfigError
    from sonomorph.pipelines.speakers import SpeakerDatabase, check_features

    mine = save_model(tmp_path / "m.safetensors", fit_backend(np.eye(DIM)[:4] + 0.1))
    db = SpeakerDatabase("adapted", {"model": "elsewhere.safetensors", "sha256": "0" * 64})
    with pytest.raises(ConfigError, match="another speaker back-end"):
        check_features(db, "adapted", {"model": str(mine)})
    # A back-end fitted on other features is refused, not applied.
    other = save_model(tmp_path / "o.safetensors", fit_backend(np.eye(8)[:4] + 0.1),
                       meta={"features": "ours"})
    with pytest.raises(CheckpointError, match="fitted on ours features"):
        make_extractor("adapted", {"model": str(other)})


# ----------------------------------------------------------------------------- command


def test_a_missing_corpus_is_one_line_and_exit_2(tmp_path, capsys):
    missing = tmp_path / "no-corpus"
    assert main(["-q", "train", "speaker-backend", "--data", str(missing),
                 "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("sonomorph: error:"), err
    assert "no-corpus" in err and not (tmp_path / "run").exists()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = speech_corpus(tmp_path_factory.mktemp("speech"),
                         {"train": ["p225", "r-a", "r-b"], "valid": ["r-v1", "r-v2"],
                          "test-real": ["r-t1", "r-t2", "r-t3"]})
    # One byte-identical copy and one clip shorter than 0.5 s among the real train clips.
    shutil.copy(root / "wav" / "r-a" / "r-a_001.wav", root / "wav" / "r-a" / "r-a_006.wav")
    sf.write(root / "wav" / "r-b" / "r-b_006.wav",
             utterance(140, (750, 2200), 0.05, seed=7, seconds=0.3), SR)
    return root


def test_train_speaker_backend_end_to_end(corpus, tmp_path, capsys):
    from sonomorph.models import load_model, read_metadata
    from sonomorph.utils.hashing import sha256_file

    out = tmp_path / "run"
    assert main(["train", "speaker-backend", "--data", str(corpus), "--out", str(out)]) == 0
    said = " ".join(capsys.readouterr().err.split())  # the summary goes to stderr
    assert "10 clips of 2 of 2 real train speakers" in said and "2 clips skipped" in said
    path = out / "last.safetensors"
    meta = read_metadata(path)
    assert meta["kind"] == "speaker-backend" and meta["args"] == {"dim": DIM, "remove": 1}
    # The real train speakers only: no synthetic voice, no valid or test-real speaker.
    assert meta["speakers"] == ["r-a", "r-b"] and meta["clips"] == 10
    assert meta["clips_per_speaker"] == {"r-a": 5, "r-b": 5}
    assert meta["skipped"] == {"duplicate": 1, "short": 1}
    assert meta["features"] == "resemblyzer" and meta["remove"] == 1
    assert meta["feature_versions"]["sha256"] == _resemblyzer_sha()
    assert meta["data"] == Path(meta["data"]).as_posix() and not Path(meta["data"]).is_absolute()
    backend, _ = load_model(path, expect="speaker-backend")
    assert backend.basis.shape == (DIM, 1)

    # An earlier fit is kept unless --force; --speakers all takes the synthetic voice too.
    before = path.read_bytes()
    assert main(["-q", "train", "speaker-backend", "--data", str(corpus), "--out",
                 str(out)]) == 2
    assert "--force" in capsys.readouterr().err and path.read_bytes() == before
    assert main(["-q", "train", "speaker-backend", "--data", str(corpus), "--out", str(out),
                 "--speakers", "all", "--max-clips", "2", "--remove", "2", "-f"]) == 0
    meta = read_metadata(path)
    assert meta["speakers"] == ["p225", "r-a", "r-b"] and meta["clips"] == 6
    assert meta["args"]["remove"] == 2 and meta["max_clips"] == 2

    # The fitted back-end in eval speakers (--backend) and in a database.
    report = tmp_path / "r.json"
    assert main(["-q", "eval", "speakers", "--data", str(corpus), "--split", "test-real",
                 "--enroll", "3", "--test", "2", "--features", "adapted", "--backend",
                 str(path), "--confusion", str(tmp_path / "c.png"), "--json",
                 str(report)]) == 0
    row = json.loads(report.read_text())["features"]["adapted"]
    assert row["trials"] == 6 and row["versions"]["sha256"] == sha256_file(path)
    db = tmp_path / "db.safetensors"
    assert main(["-q", "speakers", "enroll", str(corpus / "wav"), "--db", str(db),
                 "--features", "adapted", "--backend", str(path), "--speakers", "2",
                 "--per-speaker", "2"]) == 0
    capsys.readouterr()
    assert main(["-q", "speakers", "identify", str(corpus / "wav" / "r-a" / "r-a_004.wav"),
                 "--db", str(db), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["nearest"] in ("p225", "r-a")
    # --backend belongs to the adapted features.
    assert main(["-q", "speakers", "enroll", str(corpus / "wav"), "--db",
                 str(tmp_path / "g.st"), "--features", "gram", "--backend", str(path)]) == 2
    assert "--features adapted" in capsys.readouterr().err
    assert main(["-q", "eval", "speakers", "--data", str(corpus), "--speakers", "2",
                 "--features", "gram", "--backend", str(path)]) == 2
    assert "--features adapted or all" in capsys.readouterr().err


def test_eval_with_resemblyzer_and_adapted_runs_resemblyzer_once_per_clip(corpus, tmp_path,
                                                                          monkeypatch):
    """With both feature sets, the adapted vectors reuse resemblyzer's (the same network on
    the same clip) and score exactly as the adapted features alone do."""
    from sonomorph.eval.analysis import evaluate_speakers_split
    from sonomorph.models import save_model
    from sonomorph.models.speaker_backend import fit_backend
    from sonomorph.pipelines import speaker_features

    train, _ = World(seed=5).clips(speakers=12, per_speaker=5, seed=6)
    path = save_model(tmp_path / "b.safetensors", fit_backend(_unit(train)),
                      meta={"features": "resemblyzer"})
    calls = []
    real_call = speaker_features.ResemblyzerFeatures.__call__

    def counted(self, wav, path=None):
        calls.append(path)
        return real_call(self, wav, path)

    monkeypatch.setattr(speaker_features.ResemblyzerFeatures, "__call__", counted)
    settings = {"adapted": {"model": str(path)}}
    both = evaluate_speakers_split(corpus, split="test-real", enroll=3, test=2,
                                   features=["resemblyzer", "adapted"], settings=settings)
    clips = len(calls)
    assert clips > 0 and len(set(calls)) == clips  # each clip through resemblyzer once
    calls.clear()
    alone = evaluate_speakers_split(corpus, split="test-real", enroll=3, test=2,
                                    features=["adapted"], settings=settings)
    assert len(calls) == clips
    for key in ("accuracy", "trials", "confusion"):
        assert both["features"]["adapted"][key] == alone["features"]["adapted"][key]


def test_no_real_train_speaker_is_one_line(tmp_path, capsys):
    root = speech_corpus(tmp_path / "speech", {"train": ["p225"], "valid": ["r-v1"]})
    assert main(["-q", "train", "speaker-backend", "--data", str(root), "--out",
                 str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no real train speakers" in err
    assert "--speakers all" in err and not (tmp_path / "run").exists()
