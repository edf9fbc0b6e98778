"""Our speaker encoder: the model, the angular prototypical loss, the channel augmentation,
the recipe (a 2-step run on a tiny corpus), the 'ours' features in enroll/identify and
eval speakers, and the speaker-aware style transfer (pitch matching)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch
from test_speakers import SR, speech_corpus, utterance

from sonomorph.cli import main


def harmonic(f0: float, seconds: float = 1.2, sr: int = SR, seed: int = 0) -> np.ndarray:
    """A steady voiced sound: harmonics of ``f0`` with a gentle vibrato and a 1/k roll-off."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.01 * np.sin(2 * np.pi * 5 * t))) / sr
    x = sum(np.sin(k * phase + rng.uniform(0, 6)) / k for k in range(1, int(4000 / f0)))
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


def yin_median(wav: np.ndarray, sr: int = SR) -> float:
    """An independent f0 reading (plain YIN, not the pipeline's pYIN)."""
    import librosa

    return float(np.median(librosa.yin(wav, fmin=60, fmax=500, sr=sr, frame_length=2048)))


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory):
    from sonomorph.models import save_model
    from sonomorph.models.speaker_encoder import SpeakerEncoder

    torch.manual_seed(0)
    model = SpeakerEncoder(channels=16, attention=4, embedding=8).eval()
    return save_model(tmp_path_factory.mktemp("enc") / "enc.safetensors", model,
                      meta={"sample_rate": SR})


# ----------------------------------------------------------------------------- model


def test_encoder_is_small_unit_length_level_free_and_ignores_padding(tiny_encoder):
    from sonomorph.models import load_model
    from sonomorph.models.classifier import count_parameters
    from sonomorph.models.speaker_encoder import SpeakerEncoder

    assert count_parameters(SpeakerEncoder()) < 1_000_000
    model, meta = load_model(tiny_encoder, expect="speaker-encoder")
    assert meta["sample_rate"] == SR and not model.training
    wav = torch.from_numpy(utterance(140, (750, 2200), 0.05, seed=3))[None]
    with torch.no_grad():
        e = model(wav)
        assert e.shape == (1, 8) and torch.allclose(e.norm(dim=1), torch.ones(1), atol=1e-5)
        assert torch.allclose(model(0.1 * wav), e, atol=2e-3)  # level-free (-20 dB)
        gen = torch.Generator().manual_seed(0)
        noise = 0.1 * torch.randn(1, SR // 2, generator=gen)
        silent = torch.cat([torch.zeros(1, SR // 2), wav, torch.zeros(1, SR // 2)], dim=1)
        noisy = torch.cat([noise, wav, noise], dim=1)
        # Silence around the clip is left out of the pooling; the same span of noise is not.
        assert float((model(silent) - e).norm()) < 0.2 * float((model(noisy) - e).norm())


# ----------------------------------------------------------------------------- loss


def _unit(v):
    return torch.nn.functional.normalize(torch.as_tensor(v, dtype=torch.float32), dim=-1)


def test_angular_prototypical_loss_rewards_own_prototype():
    from sonomorph.models.losses import AngularPrototypicalLoss

    loss = AngularPrototypicalLoss()
    eye = torch.eye(4)
    good = torch.stack([eye, eye], dim=1)  # (4 speakers, 2 utterances, 4)
    bad = torch.stack([eye, eye.roll(1, dims=0)], dim=1)  # each query is another's
    g, b = loss(good), loss(bad)
    assert float(g["accuracy"]) == 1.0 and float(b["accuracy"]) == 0.0
    assert float(g["loss"]) < 0.1 < 2.0 < float(b["loss"])
    g["loss"].backward()
    assert loss.scale.grad is not None and loss.bias.grad is not None
    # One speaker in two rows: with labels its twin prototype is no competitor.
    twin = torch.stack([_unit([[1, 0.1, 0], [1, 0, 0.1], [0, 0, 1]]),
                        _unit([[1, 0, 0.1], [1, 0.1, 0], [0, 0, 1]])], dim=1)
    plain, labelled = loss(twin), loss(twin, torch.tensor([7, 7, 3]))
    assert float(labelled["loss"]) < float(plain["loss"])
    assert float(labelled["accuracy"]) == 1.0 > float(plain["accuracy"])


def test_equal_error_rate_and_nearest_neighbour_accuracy():
    from sonomorph.models.metrics import equal_error_rate, nearest_neighbour_accuracy

    assert equal_error_rate([0.9, 0.8, 0.2, 0.1], [1, 1, 0, 0]) == 0.0
    assert equal_error_rate([0.1, 0.2, 0.8, 0.9], [1, 1, 0, 0]) == 1.0
    assert equal_error_rate([0.9, 0.3, 0.5, 0.1], [1, 1, 0, 0]) == 0.5
    e = np.array([[1, 0], [0.9, 0.1], [0, 1], [0.1, 0.9]])
    assert nearest_neighbour_accuracy(e, ["a", "a", "b", "b"]) == 1.0
    assert nearest_neighbour_accuracy(e, ["a", "b", "a", "b"]) == 0.0


# ----------------------------------------------------------------------------- augmentation


def _band_energy(x, lo, hi, sr=SR):
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(x.shape[-1], 1 / sr)
    return spec[..., (f >= lo) & (f < hi)].sum()


def test_degradations_do_what_they_say():
    from sonomorph.data.mixing import add_noise, band_limit, coloured_noise

    t = np.arange(SR) / SR
    x = (0.3 * np.sin(2 * np.pi * 1000 * t) + 0.3 * np.sin(2 * np.pi * 6000 * t))[None]
    y = band_limit(x.astype(np.float32), SR, 8000)
    assert y.shape == x.shape
    assert _band_energy(y, 5000, 8000) < 1e-4 * _band_energy(x, 5000, 8000)
    assert _band_energy(y, 500, 1500) > 0.9 * _band_energy(x, 500, 1500)
    coded = band_limit(x.astype(np.float32), SR, 8000, mu_law=True)
    err = coded - y
    assert 0 < np.sqrt(np.mean(err**2)) < 0.05 * np.sqrt(np.mean(y**2))  # 8-bit mu-law noise
    rng = np.random.default_rng(0)
    white, brown = coloured_noise(rng, SR, 0.0), coloured_noise(rng, SR, 2.0)
    assert abs(np.sqrt(np.mean(brown**2)) - 1) < 1e-3
    assert (_band_energy(brown, 50, 500) / _band_energy(brown, 4000, 8000)
            > 100 * _band_energy(white, 50, 500) / _band_energy(white, 4000, 8000))
    noisy = add_noise(x.astype(np.float32), white, 10.0)
    snr = 10 * np.log10(np.mean(x**2) / np.mean((noisy - x) ** 2))
    assert abs(snr - 10.0) < 0.01


def test_channel_augment_is_reproducible_and_keeps_length():
    from sonomorph.train.recipes.speaker_encoder import ChannelAugment

    aug = ChannelAugment(noise_p=1.0, band_limit_p=1.0, reverb_p=1.0, eq_p=1.0)
    wav = utterance(140, (750, 2200), 0.05, seed=3)
    a = aug(wav, np.random.default_rng(5))
    assert a.shape == wav.shape and np.abs(a).max() <= 0.99 + 1e-6
    assert np.array_equal(a, aug(wav, np.random.default_rng(5)))
    assert not np.allclose(a, aug(wav, np.random.default_rng(6)))


# ----------------------------------------------------------------------------- recipe


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return speech_corpus(tmp_path_factory.mktemp("speech"),
                         {"train": ["p225", "p226", "p227", "p228"],
                          "valid": ["r-v1", "r-v2"],
                          "test-real": ["r-t1", "r-t2", "r-t3", "r-t4"]})


def test_recipe_reads_train_and_valid_speakers_only(corpus):
    from sonomorph.train.recipes.speaker_encoder import (
        SpeakerEncoderConfig,
        SpeakerEncoderTask,
        speaker_split,
    )

    task = SpeakerEncoderTask(SpeakerEncoderConfig(data=str(corpus), batch_size=3))
    assert sorted(task.train_groups) == ["p225", "p226", "p227", "p228"]
    assert sorted(task.valid_groups) == ["r-v1", "r-v2"]
    batch = task.train_dataset()[1]
    assert batch["audio"].shape == (2, 32000)
    assert not torch.equal(batch["audio"][0], batch["audio"][1])
    # Without split files a stable share of the speakers validates, disjoint from train.
    flat = {s: f for s, f in speaker_split(corpus, "train").items()}
    assert set(flat).isdisjoint(speaker_split(corpus, "valid"))


def test_train_command_two_steps_then_ours_everywhere(corpus, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["-q", "train", "speaker-encoder", "--data", str(corpus), "--out", str(out),
                 "--steps", "2", "--threads", "1", "--set", "batch_size=3",
                 "--set", "channels=16", "--set", "attention=4", "--set", "embedding=8",
                 "--set", "segment_seconds=0.5", "--set", "val_seconds=0.5",
                 "--set", "validate_every=2", "--set", "checkpoint_every=2"])
    assert code == 0
    enc = out / "best.safetensors"
    assert enc.is_file() and (out / "last.safetensors").is_file()

    from sonomorph.models import read_metadata

    meta = read_metadata(enc)
    assert meta["kind"] == "speaker-encoder" and meta["sample_rate"] == SR

    report = tmp_path / "r.json"
    assert main(["-q", "eval", "speakers", "--data", str(corpus), "--split", "test-real",
                 "--enroll", "3", "--test", "2", "--features", "all", "--model", str(enc),
                 "--confusion", str(tmp_path / "c.png"), "--json", str(report)]) == 0
    r = json.loads(report.read_text())
    assert "ours" not in r["unavailable"] and r["features"]["ours"]["trials"] == 8
    from sonomorph.utils.hashing import sha256_file

    assert r["features"]["ours"]["versions"]["sha256"] == sha256_file(enc)

    db = tmp_path / "db.safetensors"
    folder = tmp_path / "voices"
    for spk in ("r-t1", "r-t2"):
        (folder / spk).mkdir(parents=True)
        for f in sorted((corpus / "wav" / spk).iterdir())[:3]:
            (folder / spk / f.name).write_bytes(f.read_bytes())
    assert main(["-q", "speakers", "enroll", str(folder), "--db", str(db),
                 "--features", "ours", "--model", str(enc)]) == 0
    capsys.readouterr()
    probe = corpus / "wav" / "r-t1" / "r-t1_005.wav"
    assert main(["-q", "speakers", "identify", str(probe), "--db", str(db), "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["nearest"] in ("r-t1", "r-t2")
    # --model belongs to --features ours.
    assert main(["-q", "speakers", "enroll", str(folder), "--db", str(tmp_path / "g.st"),
                 "--features", "gram", "--model", str(enc)]) == 2
    assert "--features ours" in capsys.readouterr().err


# ----------------------------------------------------------------------------- style


def test_speaker_style_moves_the_pitch_toward_the_style_speaker(tiny_encoder):
    from sonomorph.pipelines.style import build_transfer

    content, style = harmonic(120.0, seed=1), harmonic(220.0, seed=2)
    assert abs(yin_median(content) - 120) < 5 and abs(yin_median(style) - 220) < 8
    moved = build_transfer("speaker", model=str(tiny_encoder), steps=4).transfer(
        content, SR, style, SR)
    kept = build_transfer("speaker", model=str(tiny_encoder), steps=4,
                          pitch_match=False).transfer(content, SR, style, SR)
    assert moved.audio.shape == (1, content.shape[0]) and np.isfinite(moved.audio).all()
    f_moved, f_kept = yin_median(moved.audio[0]), yin_median(kept.audio[0])
    assert abs(f_moved - 220) < 15, f_moved  # the style speaker's median f0
    assert abs(f_kept - 120) < 10, f_kept  # without pitch matching the pitch stays
    assert moved.metrics["pitch_shift"] > 9  # 12 log2(220/120) = 10.5 semitones


def test_speaker_style_lowers_the_encoder_distance_to_the_style(tiny_encoder):
    from sonomorph.models import load_model
    from sonomorph.pipelines.style import build_transfer

    content = utterance(140, (750, 2200), 0.05, seed=3, seconds=1.2)
    style = utterance(260, (450, 1700), 0.02, seed=4, seconds=1.2)
    result = build_transfer("speaker", model=str(tiny_encoder), steps=30, pitch_match=False,
                            style_drop=None).transfer(content, SR, style, SR)
    model, _ = load_model(tiny_encoder, expect="speaker-encoder")
    with torch.no_grad():
        e_c, e_s, e_o = (model(torch.from_numpy(np.ascontiguousarray(w, dtype=np.float32))[None])
                         for w in (content, style, result.audio[0]))
    # Re-analysed from the written audio: nearer the style's embedding than the content was.
    assert float((e_o * e_s).sum()) > float((e_c * e_s).sum())


def test_style_command_speaker_method(tiny_encoder, tmp_path):
    c, s = tmp_path / "c.wav", tmp_path / "s.wav"
    sf.write(c, harmonic(120.0, seed=1), SR)
    sf.write(s, harmonic(200.0, seed=2), SR)
    out = tmp_path / "out"
    assert main(["-q", "style", str(c), str(s), "-o", str(out), "--method", "speaker",
                 "--model", str(tiny_encoder), "--steps", "3"]) == 0
    written = list(out.iterdir())
    assert len(written) == 1
    y, sr = sf.read(written[0])
    assert sr == SR and y.shape[0] == int(1.2 * SR)
    # Options of the speaker method belong to it.
    assert main(["-q", "style", str(c), str(s), "-o", str(tmp_path / "o3"),
                 "--no-pitch-match"]) == 2
    assert not (tmp_path / "o3").exists()


def test_no_trained_encoder_is_a_one_line_error(corpus, tmp_path, capsys, monkeypatch):
    """No speaker encoder ships yet: asking for ours without --model says how to get one
    (exit 2, one line, nothing written)."""
    from sonomorph import pretrained

    monkeypatch.setattr(pretrained, "available", lambda: [])
    c, s = tmp_path / "c.wav", tmp_path / "s.wav"
    sf.write(c, harmonic(120.0, seed=1), SR)
    sf.write(s, harmonic(200.0, seed=2), SR)
    folder = corpus / "wav"
    runs = {
        "style": ["style", str(c), str(s), "-o", str(tmp_path / "o"), "--method", "speaker"],
        "enroll": ["speakers", "enroll", str(folder), "--db", str(tmp_path / "db.st"),
                   "--features", "ours"],
        "eval": ["eval", "speakers", "--data", str(corpus), "--speakers", "2",
                 "--enroll", "3", "--test", "2", "--features", "ours"],
    }
    for name, argv in runs.items():
        capsys.readouterr()
        assert main(["-q", *argv]) == 2, name
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1, (name, err)
        assert "sonomorph train speaker-encoder" in err and "--model FILE" in err, (name, err)
    assert not (tmp_path / "o").exists() and not (tmp_path / "db.st").exists()
    # --model is our encoder: with another feature set it is an error, not ignored.
    assert main(["-q", "eval", "speakers", "--data", str(corpus), "--speakers", "2",
                 "--enroll", "3", "--test", "2", "--features", "gram",
                 "--model", str(tmp_path / "enc.safetensors")]) == 2
    assert "--features ours or all" in capsys.readouterr().err
