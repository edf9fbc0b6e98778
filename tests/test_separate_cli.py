"""``sonomorph separate`` and ``sonomorph train separator`` end to end, with a tiny random
model saved to a .safetensors file."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from sonomorph.cli import main
from sonomorph.models import save_model
from sonomorph.models.separator import MaskSeparator

SR = 44100


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> str:
    torch.manual_seed(0)
    model = MaskSeparator(n_fft=1024, hop=256, hidden=16, layers=2)
    with torch.no_grad():
        model.dec_bias.normal_(0.0, 2.0)
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    save_model(path, model, meta={"sample_rate": SR})
    return str(path)


def song(seconds: float = 1.0, sr: int = SR, channels: int = 2, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    voice = 0.3 * np.sin(2 * np.pi * 330 * t)
    return np.stack([voice + 0.05 * rng.standard_normal(t.size) for _ in range(channels)]
                    ).astype(np.float32)


def write(path: Path, wav: np.ndarray, sr: int = SR) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, wav.T, sr)
    return path


def separate(*args: str) -> int:
    return main(["-q", "separate", *map(str, args)])


def test_help_exits_zero(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["separate", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for option in ("--stems", "--format", "--bit-depth", "--jobs", "--overlap", "--model",
                   "--filename", "--skip-existing"):
        assert option in out


def test_song_to_vocals_and_karaoke(tmp_path, model_file):
    src = write(tmp_path / "My Song.wav", song(1.5))
    out = tmp_path / "out"
    assert separate(src, "-o", out, "--model", model_file) == 0
    v, sr = sf.read(out / "My Song" / "vocals.wav", always_2d=True)
    k, _ = sf.read(out / "My Song" / "karaoke.wav", always_2d=True)
    x, _ = sf.read(src, always_2d=True)
    assert sr == SR and v.shape == k.shape == x.shape
    np.testing.assert_allclose(v + k, x, atol=3e-4)  # two 16-bit roundings
    assert sf.info(out / "My Song" / "vocals.wav").subtype == "PCM_16"


def test_mono_8k_in_gives_mono_8k_flac_out(tmp_path, model_file):
    src = write(tmp_path / "phone.wav", song(1.0, sr=8000, channels=1), 8000)
    out = tmp_path / "out"
    assert separate(src, "-o", out, "--model", model_file, "--format", "flac",
                    "--bit-depth", "24", "--stems", "vocals") == 0
    info = sf.info(out / "phone" / "vocals.flac")
    assert (info.samplerate, info.channels, info.frames) == (8000, 1, 8000)
    assert info.subtype == "PCM_24"
    assert not (out / "phone" / "karaoke.flac").exists()


def test_mp3_output(tmp_path, model_file):
    src = write(tmp_path / "a.wav", song(1.0))
    out = tmp_path / "out"
    assert separate(src, "-o", out, "--model", model_file, "--format", "mp3",
                    "--stems", "karaoke") == 0
    info = sf.info(out / "a" / "karaoke.mp3")
    assert info.samplerate == SR and info.channels == 2 and info.frames >= SR * 0.9


def test_one_sample_file_is_a_one_line_error(tmp_path, model_file, capsys):
    src = write(tmp_path / "tick.wav", np.zeros((2, 1), np.float32))
    assert separate(src, "-o", tmp_path / "out", "--model", model_file) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "tick.wav" in err[0] and "too short" in err[0]
    assert not (tmp_path / "out" / "tick").exists()


def test_six_channels_warn_and_give_stereo(tmp_path, model_file, capsys):
    src = write(tmp_path / "surround.wav", np.concatenate([song(0.5, seed=s) for s in range(3)]))
    out = tmp_path / "out"
    with pytest.warns(UserWarning, match="6 channels"):
        assert separate(src, "-o", out, "--model", model_file) == 0
    assert sf.info(out / "surround" / "vocals.wav").channels == 2


def test_folder_with_a_broken_file(tmp_path, model_file, capsys):
    songs = tmp_path / "songs"
    write(songs / "one.wav", song(0.5, seed=1))
    write(songs / "sub" / "two.wav", song(0.5, seed=2))
    (songs / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk")
    out = tmp_path / "out"
    code = main(["separate", str(songs), "-o", str(out), "--model", model_file, "-j", "2"])
    assert code == 1
    assert (out / "one" / "vocals.wav").exists()
    assert (out / "sub" / "two" / "karaoke.wav").exists()  # sub-folders are mirrored
    assert not (out / "broken").exists()
    err = capsys.readouterr().err
    assert "1 of 3 failed" in err and "broken.wav" in err


def test_existing_outputs_skip_force_and_refusal(tmp_path, model_file, capsys):
    src = write(tmp_path / "s.wav", song(0.5))
    out = tmp_path / "out"
    assert separate(src, "-o", out, "--model", model_file) == 0
    vocals = out / "s" / "vocals.wav"
    os.utime(vocals, (1, 1))
    capsys.readouterr()
    # Never overwrites without --force: one-line error naming the output, exit 2.
    assert separate(src, "-o", out, "--model", model_file) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "exists" in err[0]
    assert vocals.stat().st_mtime == 1
    assert separate(src, "-o", out, "--model", model_file, "--skip-existing") == 0
    assert vocals.stat().st_mtime == 1
    assert separate(src, "-o", out, "--model", model_file, "--force") == 0
    assert vocals.stat().st_mtime > 1


def test_filename_template(tmp_path, model_file, capsys):
    src = write(tmp_path / "tune.wav", song(0.5))
    out = tmp_path / "out"
    assert separate(src, "-o", out, "--model", model_file, "--filename", "{track}-{source}") == 0
    assert sorted(p.name for p in out.iterdir()) == ["tune-karaoke.wav", "tune-vocals.wav"]
    # A template that would write both stems to one file is refused up front.
    assert separate(src, "-o", out, "--model", model_file, "--filename", "{track}") == 2
    assert "{stem}" in capsys.readouterr().err


def test_missing_model_is_a_one_line_error(tmp_path, capsys):
    src = write(tmp_path / "s.wav", song(0.5))
    assert separate(src, "-o", tmp_path / "out", "--model", tmp_path / "nope.safetensors") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nope.safetensors" in err[0]


def _tiny_musdb(root: Path, tracks: dict[str, int], seconds: float = 2.0) -> Path:
    rng = np.random.default_rng(0)
    for split, n in tracks.items():
        for i in range(n):
            d = root / split / f"track{i}"
            d.mkdir(parents=True)
            t = np.arange(int(seconds * SR)) / SR
            voice = 0.2 * np.sin(2 * np.pi * rng.uniform(200, 400) * t)
            write(d / "vocals.wav", np.stack([voice, voice]))
            for stem in ("drums", "bass", "other"):
                write(d / f"{stem}.wav", 0.05 * rng.standard_normal((2, t.size)))
    return root


def test_train_separator_a_few_steps(tmp_path):
    data = _tiny_musdb(tmp_path / "data", {"train": 3})
    out = tmp_path / "run"
    code = main(["-q", "train", "separator", "--data", str(data), "--out", str(out),
                 "--steps", "3", "--pretrain-noise-steps", "2",
                 "--set", "batch_size=2", "--set", "segment_s=0.5", "--set", "val_seconds=1.0",
                 "--set", "num_workers=0", "--set", "model.arch=mask",
                 "--set", "model.hidden=8", "--set", "model.layers=1",
                 "--set", "model.n_fft=1024", "--set", "model.hop=256"])
    assert code == 0
    assert (out / "best.safetensors").exists() and (out / "last.safetensors").exists()
    from sonomorph.models import read_metadata

    meta = read_metadata(out / "best.safetensors")
    assert meta["kind"] == "separator" and "vocals_sdr" in meta["metrics"]
    # The trained file is usable by the separate command.
    src = write(tmp_path / "s.wav", song(0.5))
    assert separate(src, "-o", tmp_path / "sep", "--model", out / "best.safetensors") == 0

    # Fine-tuning: --init-from starts from those weights (its architecture, not the flags').
    from safetensors.torch import load_file

    tuned = tmp_path / "tuned"
    code = main(["-q", "train", "separator", "--data", str(data), "--out", str(tuned),
                 "--steps", "1", "--init-from", str(out / "last.safetensors"),
                 "--set", "batch_size=2", "--set", "segment_s=0.5", "--set", "val_seconds=1.0",
                 "--set", "num_workers=0", "--set", "lr=1e-12", "--set", "lr_final=1e-12"])
    assert code == 0
    before, after = load_file(out / "last.safetensors"), load_file(tuned / "last.safetensors")
    assert before.keys() == after.keys()
    assert read_metadata(tuned / "last.safetensors")["args"]["hidden"] == 8
    for key in before:
        if "running" not in key and "num_batches" not in key:  # batch-norm statistics move
            torch.testing.assert_close(after[key], before[key], atol=1e-6, rtol=0)
    # a file of another kind is a clear error
    genre = Path(__file__).resolve().parents[1] / "sonomorph" / "pretrained" / "genre.safetensors"
    code = main(["-q", "train", "separator", "--data", str(data), "--out", str(tmp_path / "x"),
                 "--steps", "1", "--init-from", str(genre)])
    assert code == 2


def test_train_separator_bad_data_folder(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code = main(["-q", "train", "separator", "--data", str(tmp_path / "empty"),
                 "--out", str(tmp_path / "run")])
    assert code == 2
    assert "empty" in capsys.readouterr().err
