"""scripts/average_weights.py: interpolating two checkpoints of one model (WiSE-FT style)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from sonomorph.models.checkpoint import load_model, save_model
from sonomorph.models.unet_separator import UNetSeparator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import average_weights  # noqa: E402

ARGS = dict(n_fft=1024, hop=256, base=4, depth=3, unet_bins=256)


def _unet(seed: int, **overrides) -> UNetSeparator:
    torch.manual_seed(seed)
    args = dict(ARGS)
    args.update(overrides)
    return UNetSeparator(**args)


def _pair(tmp_path):
    base, tuned = _unet(0), _unet(1)
    with torch.no_grad():  # distinct integer buffers, to see which one is kept
        for m in base.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.num_batches_tracked.fill_(3)
        for m in tuned.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.num_batches_tracked.fill_(7)
    a = save_model(tmp_path / "base.safetensors", base, meta={"total_steps": 100})
    b = save_model(tmp_path / "tuned.safetensors", tuned, meta={"total_steps": 150, "step": 50})
    return base.state_dict(), tuned.state_dict(), a, b


def test_the_midpoint_is_the_mean_and_integers_come_from_the_tuned_model(tmp_path):
    base, tuned, a, b = _pair(tmp_path)
    out = tmp_path / "mid.safetensors"
    assert average_weights.main([str(a), str(b), str(out), "--alpha", "0.5"]) == 0
    model, meta = load_model(out)
    got = model.state_dict()
    w = "down.0.conv.weight"
    assert not torch.equal(base[w], tuned[w])
    torch.testing.assert_close(got[w], (base[w] + tuned[w]) / 2)
    counts = {int(v) for k, v in got.items() if k.endswith("num_batches_tracked")}
    assert counts == {7}
    assert meta["total_steps"] == 150
    assert meta["interpolated"]["alpha"] == 0.5
    assert meta["interpolated"]["base"]["total_steps"] == 100
    assert meta["interpolated"]["tuned"]["file"] == "tuned.safetensors"
    assert len(meta["interpolated"]["base"]["sha256"]) == 64


@pytest.mark.parametrize("alpha,which", [(0.0, 0), (1.0, 1)])
def test_the_ends_reproduce_each_ingredient(tmp_path, alpha, which):
    pair = _pair(tmp_path)
    out = tmp_path / "end.safetensors"
    average_weights.main([str(pair[2]), str(pair[3]), str(out), "--alpha", str(alpha)])
    got = load_model(out)[0].state_dict()
    for k, v in pair[which].items():
        if v.is_floating_point():
            torch.testing.assert_close(got[k], v)


def test_different_models_are_refused(tmp_path, capsys):
    a = save_model(tmp_path / "a.safetensors", _unet(0))
    b = save_model(tmp_path / "b.safetensors", _unet(0, base=8))
    assert average_weights.main([str(a), str(b), str(tmp_path / "o.safetensors"),
                                 "--alpha", "0.5"]) == 2
    assert "different models" in capsys.readouterr().err
    assert not (tmp_path / "o.safetensors").exists()


def test_alpha_outside_the_unit_interval_is_an_argument_error(tmp_path):
    with pytest.raises(SystemExit) as exc:
        average_weights.main(["a", "b", "c", "--alpha", "1.5"])
    assert exc.value.code == 2
