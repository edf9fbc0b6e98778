"""Genre classification: the models and their one mel scaling, the split by track, a short
training run through the Trainer, and the ``classify``/``eval genre`` commands with their
one-line errors for checkpoints of another shape or kind."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from sonomorph.cli import main
from sonomorph.errors import CheckpointError
from sonomorph.models.classifier import (
    GenreCNN,
    GenreTCN,
    count_parameters,
    scale_mel,
    unscale_mel,
)
from sonomorph.train.recipes.genre import GenreTask, GenreTrainConfig, split_clips

SR = 22050
GENRES = ("drone", "hiss", "ticks")


def clip(genre: str, seed: int, seconds: float = 2.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    if genre == "drone":  # sustained low chord
        f = rng.uniform(80, 160)
        x = sum(np.sin(2 * np.pi * f * r * t + rng.uniform(0, 6)) for r in (1, 1.25, 1.5))
    elif genre == "hiss":  # high noise, slowly swelling
        x = np.diff(rng.standard_normal(t.size + 1)) * (1 + np.sin(2 * np.pi * 0.5 * t))
    else:  # clicks at a tempo
        x = np.zeros_like(t)
        period = int(SR * rng.uniform(0.15, 0.3))
        for start in range(0, t.size - 200, period):
            x[start:start + 200] += rng.standard_normal(200) * np.exp(-np.arange(200) / 30)
    x = np.asarray(x, dtype=np.float64)
    return (rng.uniform(0.1, 0.5) * x / np.abs(x).max()).astype(np.float32)


@pytest.fixture(scope="module")
def gtzan(tmp_path_factory):
    """A GTZAN-layout folder: 3 genres x 8 clips with split files (5 train, 1 valid, 2 test)."""
    root = tmp_path_factory.mktemp("gtzan")
    splits = {"train": [], "valid": [], "test": []}
    for g, genre in enumerate(GENRES):
        (root / genre).mkdir()
        for i in range(8):
            name = f"{genre}.{i:05d}.wav"
            sf.write(root / genre / name, clip(genre, 10 * g + i), SR)
            splits["train" if i < 5 else "valid" if i == 5 else "test"].append(f"{genre}/{name}")
    (root / "splits").mkdir()
    for split, lines in splits.items():
        (root / "splits" / f"{split}.txt").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="module")
def trained(gtzan, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    cfg = GenreTrainConfig(data=str(gtzan), out_dir=str(out), steps=40, batch_size=6,
                           train_frames=48, channels=[16, 16, 16], lr=1e-2, warmup_steps=4,
                           validate_every=10, checkpoint_every=0, log_every=10, num_workers=0,
                           device="cpu", freq_masks=1, time_masks=1)
    from sonomorph.train import Trainer

    torch.set_num_threads(1)
    result = Trainer(GenreTask(cfg), cfg, quiet=True).fit()
    return result


# ----------------------------------------------------------------------------- models


def test_original_cnn_size_and_layers():
    model = GenreCNN()
    assert 55_000 <= count_parameters(model) <= 70_000
    x = torch.rand(2, 384, 431)
    assert model(x).shape == (2, 10)
    feats = model.features(x[:1], ["conv1", "conv8"])
    assert feats["conv1"].shape == (1, 16, 384, 431) and feats["conv8"].shape[:2] == (1, 48)
    with pytest.raises(Exception, match="unknown layer"):
        model.features(x[:1], ["conv9"])


def test_stronger_model_and_any_length():
    model = GenreTCN(n_classes=8).eval()
    assert count_parameters(model) > 4 * count_parameters(GenreCNN())
    for frames in (64, 431, 700):
        assert model(torch.rand(1, 384, frames)).shape == (1, 8)
    feats = model.features(torch.rand(1, 384, 64), ["proj", "block2"])
    assert feats["proj"].shape == (1, 128, 1, 64) and feats["block2"].shape == (1, 128, 1, 32)
    with pytest.raises(ValueError, match="shorter"):
        model(torch.rand(1, 384, 4))


def test_mel_scaling_is_shared_and_non_negative():
    mel = torch.rand(3, 384, 10) * 5
    mel[0, 0, 0] = 0.0
    scaled = scale_mel(mel)
    assert float(scaled.min()) == 0.0
    assert torch.allclose(unscale_mel(scaled), mel, rtol=1e-4, atol=1e-7)
    assert float(scale_mel(torch.tensor([-1.0]))) == 0.0  # negative mels cannot come in


def test_split_by_track(gtzan, tmp_path):
    train, valid, test = (split_clips(str(gtzan), s) for s in ("train", "valid", "test"))
    assert (len(train), len(valid), len(test)) == (15, 3, 6)
    # Without split files: a stable hash, disjoint and covering every clip.
    root = tmp_path / "nosplit"
    for genre in GENRES:
        (root / genre).mkdir(parents=True)
        for i in range(30):
            (root / genre / f"{genre}.{i:05d}.wav").write_bytes(b"")
    parts = [split_clips(str(root), s) for s in ("train", "valid", "test")]
    names = [{c.path.name for c in p} for p in parts]
    assert sum(map(len, names)) == 90 and not (names[0] & names[2]) and not (names[1] & names[2])
    assert 8 <= len(names[2]) <= 30
    assert names[2] == {c.path.name for c in split_clips(str(root), "test")}


# ----------------------------------------------------------------------------- training


def test_training_learns_and_exports(trained):
    from sonomorph.models.checkpoint import read_metadata

    assert trained.best is not None and trained.metrics["accuracy"] >= 2 / 3
    meta = read_metadata(trained.best)
    assert meta["kind"] == "genre" and meta["labels"] == list(GENRES)
    assert meta["features"]["n_mels"] == 384 and meta["segment_frames"] == 431


def test_classify_prints_top3(trained, gtzan, capsys):
    probe = gtzan / "ticks" / "ticks.00007.wav"
    assert main(["-q", "classify", str(probe), "--model", str(trained.best)]) == 0
    lines = capsys.readouterr().out.splitlines()
    # 2-s clips are shorter than the 2.5 s an answer needs: "unsure", with the guesses.
    assert lines[0].startswith(f"{probe}: unsure (") and len(lines) == 4
    probs = [float(line.split()[-1].rstrip("%")) for line in lines[1:]]
    assert {line.split()[0] for line in lines[1:]} == set(GENRES)
    assert probs == sorted(probs, reverse=True) and abs(sum(probs) - 100) < 0.5
    assert main(["-q", "classify", str(probe), "--model", str(trained.best), "--json",
                 "--top", "2"]) == 0
    assert len(json.loads(capsys.readouterr().out)["top"]) == 2


def test_eval_genre_prints_accuracy_and_writes_confusion(trained, gtzan, tmp_path, capsys):
    png = tmp_path / "cm.png"
    js = tmp_path / "scores.json"
    assert main(["-q", "eval", "genre", "--data", str(gtzan), "--model", str(trained.best),
                 "--confusion", str(png), "--json", str(js)]) == 0
    out = capsys.readouterr().out
    assert "accuracy" in out and "6 clips" in out
    assert png.read_bytes()[:4] == b"\x89PNG"
    scores = json.loads(js.read_text())
    assert np.asarray(scores["confusion"]).sum() == 6
    import hashlib  # the file names the weights it scored, so a model card can cite it

    assert scores["weights"]["model"]["sha256"] == hashlib.sha256(
        trained.best.read_bytes()).hexdigest()


def test_checkpoint_of_another_shape_or_kind(trained, gtzan, tmp_path, capsys):
    from test_style import _rewrite_args

    bad = tmp_path / "bad.safetensors"
    _rewrite_args(trained.best, bad, channels=[16, 16, 24])
    probe = gtzan / "hiss" / "hiss.00006.wav"
    code = main(["classify", str(probe), "--model", str(bad)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "shape mismatch" in err and "bad.safetensors" in err
    from sonomorph.models.checkpoint import save_model
    from sonomorph.models.random_cnn import RandomCNN
    from sonomorph.pipelines.analysis import GenreClassifier

    other = save_model(tmp_path / "random.safetensors", RandomCNN(4))
    with pytest.raises(CheckpointError, match="expected 'genre'"):
        GenreClassifier(other)
