"""Spectrogram images: round trips of each encoding, the original's RGB layout, files that
carry their parameters, corrupt files, and the `image` commands."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sonomorph.audio import images as I
from sonomorph.cli import main

SR = 22050


def music(seconds: float = 2.0, sr: int = SR, channels: int = 1) -> np.ndarray:
    """Chords of harmonic tones with note changes and a little noise: wide dynamic range,
    like music (most bins far below the peak)."""
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * sr)) / sr
    x = np.zeros_like(t)
    for k, f in enumerate((196.0, 247.0, 294.0, 392.0)):
        env = 0.5 + 0.5 * np.sin(2 * np.pi * (0.7 + 0.3 * k) * t) ** 2
        for h in range(1, 6):
            x += 0.08 / h * env * np.sin(2 * np.pi * f * h * t + k)
    x += 0.003 * rng.standard_normal(len(t))
    return np.stack([x * (1.0 - 0.3 * c) for c in range(channels)]).astype(np.float32)


# ----------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("channels", [1, 2])
def test_float_round_trip_is_at_least_60_db(channels, tmp_path):
    x = music(channels=channels)
    image = I.encode(x, SR, "float")
    assert image.data.shape == (channels, 2, 513, 1 + x.shape[1] // 256)
    assert I.snr_db(x, I.decode(image)) >= 60.0
    I.save_image(tmp_path / "x.npy", image)
    assert json.loads((tmp_path / "x.json").read_text())["sample_rate"] == SR
    assert I.snr_db(x, I.decode(I.load_image(tmp_path / "x.npy"))) >= 60.0


def test_png16_round_trip_is_high_through_the_file(tmp_path):
    x = music(channels=2)
    path = I.save_image(tmp_path / "x.png", I.encode(x, SR, "png16"))
    with Image.open(path) as picture:
        assert picture.mode == "I;16"
        assert picture.size == (1 + x.shape[1] // 256, 2 * 2 * 513)
    y = I.decode(I.load_image(path))
    assert y.shape == x.shape
    assert I.snr_db(x, y) >= 70.0


def test_rgb8_keeps_the_original_layout_and_is_lossy(tmp_path):
    t = np.arange(SR) / SR
    low = (0.002 * np.sin(2 * np.pi * 100 * t)).astype(np.float32)[None]
    image = I.encode(low, SR, "rgb8")
    frames = 1 + SR // 256
    assert image.data.dtype == np.uint8 and image.data.shape == (513, frames, 3)
    assert not image.data[..., 2].any()  # blue unused
    red = image.data[..., 0].astype(float).sum(axis=1)
    assert red[-20:].sum() > 0 and red[:400].sum() == 0  # a low tone lights the bottom rows
    path = I.save_image(tmp_path / "x.png", image)
    with Image.open(path) as picture:
        assert picture.mode == "RGB" and picture.size == (frames, 513)
    loud = music()
    coded = I.encode(loud, SR, "rgb8")
    assert coded.params["clipped_fraction"] > 0  # the fixed scale clips loud bins
    assert I.snr_db(loud, I.decode(coded)) < 20.0


def test_original_rgb_png_without_metadata_decodes_with_the_original_parameters(tmp_path):
    image = I.encode(music(), 44100, "rgb8")
    Image.fromarray(image.data, mode="RGB").save(tmp_path / "orig.png")  # no text chunk
    loaded = I.load_image(tmp_path / "orig.png")
    assert loaded.params["sample_rate"] == 44100 and loaded.params["hop"] == 256
    assert I.decode(loaded).shape == (1, (image.data.shape[1] - 1) * 256)


def test_decoding_uses_the_polar_inverse():
    x = music(0.5)
    image = I.encode(x, SR, "float")
    mag, phase = I.to_polar(image)
    spec = I.stft(x)
    np.testing.assert_allclose(mag * np.exp(1j * phase), spec, atol=1e-4)
    np.testing.assert_allclose(image.data[:, 0], np.log(np.maximum(np.abs(spec), 1e-20)),
                               atol=1e-4)


def test_silence_and_very_short_inputs_round_trip():
    for x in (np.zeros((1, 5000), np.float32), music(0.005)):
        for enc in ("png16", "float"):
            y = I.decode(I.encode(x, SR, enc))
            assert y.shape == x.shape and np.isfinite(y).all()
            assert np.abs(y - x).max() < 1e-3


# ----------------------------------------------------------------------------- bad files


def test_corrupt_and_foreign_files_raise_one_line_errors(tmp_path):
    (tmp_path / "garbage.png").write_bytes(b"not a png at all")
    good = I.save_image(tmp_path / "good.png", I.encode(music(0.5), SR, "png16"))
    (tmp_path / "truncated.png").write_bytes(good.read_bytes()[:2000])
    Image.fromarray(np.zeros((40, 30, 3), np.uint8)).save(tmp_path / "photo.png")
    (tmp_path / "empty.png").write_bytes(b"")
    np.save(tmp_path / "lonely.npy", np.zeros((1, 2, 513, 10), np.float32))
    (tmp_path / "broken.npy").write_bytes(b"\x93NUMPY garbage")
    (tmp_path / "broken.json").write_text(json.dumps({"encoding": "float"}))
    for name in ("garbage.png", "truncated.png", "photo.png", "empty.png", "lonely.npy",
                 "broken.npy", "missing.png", "x.wav"):
        with pytest.raises(I.SpectrogramImageError) as info:
            I.load_image(tmp_path / name)
        assert name in str(info.value) and "\n" not in str(info.value)


def test_parameters_that_disagree_with_the_data_are_refused(tmp_path):
    image = I.encode(music(0.5), SR, "float")
    I.save_image(tmp_path / "x.npy", image)
    params = json.loads((tmp_path / "x.json").read_text())
    params["length"] *= 2
    (tmp_path / "x.json").write_text(json.dumps(params))
    with pytest.raises(I.SpectrogramImageError, match="shaped"):
        I.load_image(tmp_path / "x.npy")


def test_outputs_are_not_replaced_without_overwrite(tmp_path):
    image = I.encode(music(0.2), SR, "png16")
    I.save_image(tmp_path / "x.png", image)
    with pytest.raises(Exception, match="exists"):
        I.save_image(tmp_path / "x.png", image)
    I.save_image(tmp_path / "x.png", image, overwrite=True)
    with pytest.raises(I.SpectrogramImageError):
        I.encoding_for_path(tmp_path / "x.png", "float")


# ----------------------------------------------------------------------------- CLI


def test_cli_encode_decode_and_errors(tmp_path, capsys):
    import soundfile as sf

    sf.write(tmp_path / "a.wav", music(1.0, 32000, 2).T, 32000, subtype="FLOAT")
    a = str(tmp_path / "a.wav")
    here = ["-o", str(tmp_path)]
    assert main(["-q", "image", "encode", a, *here, "--encoding", "float", "--filename",
                 "{track}"]) == 0
    assert main(["-q", "image", "encode", a, *here, "--filename", "o", "--encoding", "rgb8",
                 "--mono", "--sr", "44100"]) == 0
    assert main(["-q", "image", "decode", str(tmp_path / "a.npy"), *here, "--filename", "b",
                 "--bit-depth", "32f"]) == 0
    b, sr = sf.read(tmp_path / "b.wav", always_2d=True)
    assert sr == 32000 and I.snr_db(music(1.0, 32000, 2), b.T) >= 60.0
    with Image.open(tmp_path / "o.png") as picture:
        assert picture.mode == "RGB" and picture.size[1] == 513
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    capsys.readouterr()
    assert main(["image", "decode", str(tmp_path / "bad.png"), *here, "--filename", "c"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sonomorph: error:") and "bad.png" in err and "\n" not in err
    assert not Path(tmp_path / "c.wav").exists()
    assert main(["image", "decode", str(tmp_path / "a.npy"), *here, "--filename", "b"]) == 2
    assert main(["image", "encode", str(tmp_path / "none.wav"), *here]) == 2
