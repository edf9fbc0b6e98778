"""scripts/scale_mask_logits.py: a softer or sharper separator mask at the same cost."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from sonomorph.models.checkpoint import load_model, save_model
from sonomorph.models.unet_separator import UNetSeparator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import scale_mask_logits  # noqa: E402


def _saved(tmp_path) -> tuple[UNetSeparator, Path]:
    torch.manual_seed(0)
    model = UNetSeparator(n_fft=1024, hop=256, base=4, depth=3, unet_bins=256).eval()
    with torch.no_grad():  # a mask well away from 0.5, so that scaling shows
        model.head.bias.fill_(1.5)
    return model, save_model(tmp_path / "sep.safetensors", model, meta={"total_steps": 10})


def test_the_mask_becomes_the_sigmoid_of_scaled_logits(tmp_path):
    model, src = _saved(tmp_path)
    out = tmp_path / "soft.safetensors"
    assert scale_mask_logits.main([str(src), str(out), "--scale", "0.5"]) == 0
    soft, meta = load_model(out)
    spec = torch.randn(1, 2, 513, 40, dtype=torch.complex64)
    with torch.no_grad():
        before, after = model.mask(spec), soft.mask(spec)
    expected = torch.sigmoid(0.5 * torch.logit(before.double())).float()
    torch.testing.assert_close(after, expected, rtol=1e-4, atol=1e-5)
    assert (after - 0.5).abs().mean() < (before - 0.5).abs().mean()  # softer
    assert meta["mask_logit_scale"] == 0.5 and meta["total_steps"] == 10
    # a second scaling multiplies in
    twice = tmp_path / "softer.safetensors"
    assert scale_mask_logits.main([str(out), str(twice), "--scale", "0.5"]) == 0
    assert load_model(twice)[1]["mask_logit_scale"] == 0.25


@pytest.mark.parametrize("args", [["--scale", "0"], ["--scale", "-1"]])
def test_a_scale_that_is_not_positive_is_refused(tmp_path, args):
    _, src = _saved(tmp_path)
    with pytest.raises(SystemExit) as e:
        scale_mask_logits.main([str(src), str(tmp_path / "o.safetensors"), *args])
    assert e.value.code == 2


def test_it_never_writes_over_its_input(tmp_path):
    _, src = _saved(tmp_path)
    data = src.read_bytes()
    with pytest.raises(SystemExit):
        scale_mask_logits.main([str(src), str(src), "--scale", "0.5"])
    assert src.read_bytes() == data
