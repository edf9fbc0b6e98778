"""Model registry and self-describing checkpoints: round trips, every refusal, and that a
malicious pickle never runs."""

from __future__ import annotations

import json
import os
import sys
import zipfile
from pathlib import Path

import pytest
import safetensors.torch
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _toy_task as toy  # noqa: E402

import sonomorph  # noqa: E402
from sonomorph import pretrained  # noqa: E402
from sonomorph.errors import CheckpointError, OutputExistsError  # noqa: E402
from sonomorph.models import (  # noqa: E402
    build_model,
    load_model,
    model_config,
    model_names,
    read_metadata,
    register_model,
    resolve_model,
    save_model,
)
from sonomorph.models.checkpoint import METADATA_KEY  # noqa: E402


def one_line(exc: pytest.ExceptionInfo, *parts: str) -> str:
    message = str(exc.value)
    assert "\n" not in message, message
    for part in parts:
        assert part in message, message
    return message


@pytest.fixture
def saved(tmp_path) -> tuple[Path, nn.Module]:
    model = build_model("toy_regressor", hidden=7)
    path = save_model(tmp_path / "reg.safetensors", model, meta={
        "sample_rate": 16000, "features": {"n_fft": 512, "hop": 128},
        "metrics": {"loss": 0.25}, "train_config": {"lr": 0.001}})
    return path, model


# ---------------------------------------------------------------------- registry

def test_registry_records_constructor_arguments():
    model = build_model("toy_regressor", hidden=7)
    assert model_config(model) == {"name": "toy_regressor", "kind": "toy",
                                   "args": {"inputs": 4, "hidden": 7, "dropout": 0.1}}
    assert {"toy_regressor", "toy_generator", "toy_critic"} <= set(model_names())
    positional = toy.ToyRegressor(5, 9)
    assert model_config(positional)["args"] == {"inputs": 5, "hidden": 9, "dropout": 0.1}


def test_registry_refusals():
    with pytest.raises(ValueError, match="already registered"):
        @register_model("toy_regressor")
        class Other(nn.Module):
            pass

    @register_model("test_jsonless")
    class Jsonless(nn.Module):
        def __init__(self, thing=None):
            super().__init__()

    with pytest.raises(TypeError, match="JSON"):
        Jsonless(thing=object())

    @register_model("test_no_init")
    class NoInit(nn.Module):  # nn.Module's own __init__: no arguments to record
        pass

    assert model_config(NoInit())["args"] == {}
    assert isinstance(build_model("test_no_init"), NoInit)

    class Unregistered(toy.ToyRegressor):  # a subclass is not its parent
        pass

    with pytest.raises(TypeError, match="not a registered model"):
        model_config(Unregistered())
    with pytest.raises(KeyError, match="unknown model 'nope'"):
        build_model("nope")


# ---------------------------------------------------------------------- round trip

def test_round_trip_with_metadata(saved):
    path, model = saved
    meta = read_metadata(path)
    assert meta["model"] == "toy_regressor" and meta["kind"] == "toy"
    assert meta["args"] == {"inputs": 4, "hidden": 7, "dropout": 0.1}
    assert meta["sample_rate"] == 16000 and meta["features"] == {"n_fft": 512, "hop": 128}
    assert meta["metrics"] == {"loss": 0.25} and meta["train_config"] == {"lr": 0.001}
    assert meta["versions"]["sonomorph"] == sonomorph.__version__
    assert meta["versions"]["torch"] == torch.__version__
    assert {"numpy", "python"} <= set(meta["versions"])
    assert meta["format_version"] == 1 and meta["created"].endswith("+00:00")
    assert "git_commit" in meta  # a hex string in a checkout, None elsewhere
    loaded, meta2 = load_model(path, expect="toy_regressor")
    assert meta2 == meta and not loaded.training
    for (k, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), k
    load_model(path, expect="toy")  # by kind
    load_model(path, expect=("toy_generator", "toy_regressor"))


def test_save_refuses_to_replace_without_overwrite(saved):
    path, model = saved
    with pytest.raises(OutputExistsError):
        save_model(path, model)
    save_model(path, model, overwrite=True, meta={"step": 2})
    assert read_metadata(path)["step"] == 2
    with pytest.raises(ValueError, match="model"):
        save_model(path, model, overwrite=True, meta={"model": "other"})


def test_git_commit_is_none_outside_a_checkout(monkeypatch, tmp_path):
    from sonomorph.models import checkpoint

    checkpoint.git_commit.cache_clear()
    monkeypatch.setenv("PATH", str(tmp_path))  # no git program at all
    try:
        assert checkpoint.git_commit() is None
        path = save_model(tmp_path / "m.safetensors", build_model("toy_critic"))
        assert read_metadata(path)["git_commit"] is None
    finally:
        checkpoint.git_commit.cache_clear()


# ---------------------------------------------------------------------- refusals

def test_wrong_kind(tmp_path):
    path = save_model(tmp_path / "gen.safetensors", build_model("toy_generator"))
    with pytest.raises(CheckpointError) as info:
        load_model(path, expect="toy_regressor")
    one_line(info, "this is a 'toy_generator' checkpoint, expected 'toy_regressor'", "gen.safetensors")


def _rewrite_metadata(src: Path, dst: Path, **changes) -> Path:
    tensors = safetensors.torch.load_file(src)
    meta = {**read_metadata(src), **changes}
    safetensors.torch.save_file(tensors, dst, metadata={METADATA_KEY: json.dumps(meta)})
    return dst


def test_shape_mismatch_names_the_tensor_and_shapes(saved, tmp_path):
    path, _ = saved
    bad = _rewrite_metadata(path, tmp_path / "bad.safetensors",
                            args={"inputs": 4, "hidden": 8, "dropout": 0.1})
    with pytest.raises(CheckpointError) as info:
        load_model(bad)
    one_line(info, "net.0.weight", "(7, 4)", "(8, 4)", "bad.safetensors")


def test_unknown_model_and_missing_metadata(saved, tmp_path):
    path, _ = saved
    unknown = _rewrite_metadata(path, tmp_path / "unknown.safetensors", model="martian",
                                module="os")
    with pytest.raises(CheckpointError) as info:
        load_model(unknown)
    one_line(info, "unknown model 'martian'")
    plain = tmp_path / "plain.safetensors"
    safetensors.torch.save_file(safetensors.torch.load_file(path), plain)
    with pytest.raises(CheckpointError) as info:
        load_model(plain)
    one_line(info, "no sonomorph metadata")


def test_truncated_corrupt_and_missing_files(saved, tmp_path):
    path, _ = saved
    data = path.read_bytes()
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(data[: len(data) - 10])
    with pytest.raises(CheckpointError) as info:
        load_model(truncated)
    one_line(info, "truncated", "truncated.safetensors")
    with pytest.raises(CheckpointError):
        read_metadata(truncated)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    with pytest.raises(CheckpointError) as info:
        load_model(garbage)
    one_line(info, "not a valid .safetensors file")
    tiny = tmp_path / "tiny.safetensors"
    tiny.write_bytes(b"abc")
    with pytest.raises(CheckpointError):
        load_model(tiny)
    with pytest.raises(CheckpointError) as info:
        load_model(tmp_path / "nothing.safetensors")
    one_line(info, "no such model file", "nothing.safetensors")
    with pytest.raises(CheckpointError, match="folder"):
        load_model(tmp_path)


# ---------------------------------------------------------------------- .pt files

def test_plain_state_dict_with_sidecar(tmp_path):
    model = build_model("toy_regressor", hidden=5)
    pt = tmp_path / "weights.pt"
    torch.save(model.state_dict(), pt)
    with pytest.raises(CheckpointError) as info:
        load_model(pt)
    one_line(info, "weights.json", "name=")
    loaded, _ = load_model(pt, name="toy_regressor", config={"hidden": 5})
    assert torch.equal(loaded.net[0].weight, model.net[0].weight)
    (tmp_path / "weights.json").write_text(json.dumps(
        {"model": "toy_regressor", "args": {"hidden": 5}, "sample_rate": 8000}))
    loaded, meta = load_model(pt, expect="toy")
    assert torch.equal(loaded.net[3].bias, model.net[3].bias) and meta["sample_rate"] == 8000
    assert read_metadata(pt)["model"] == "toy_regressor"
    (tmp_path / "weights.json").write_text(json.dumps({"model": "toy_regressor",
                                                       "args": {"hidden": 6}}))
    with pytest.raises(CheckpointError) as info:
        load_model(pt)
    one_line(info, "shape mismatch", "weights.json")


class Payload:
    """Unpickling this runs ``touch MARKER`` through os.system."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save({"weight": torch.zeros(2), "x": Payload(marker)}, evil)
    with zipfile.ZipFile(evil) as z:  # the payload really is in there
        pickled = z.read(next(n for n in z.namelist() if n.endswith("data.pkl")))
    assert b"system" in pickled
    (tmp_path / "evil.json").write_text(json.dumps({"model": "toy_critic"}))
    with pytest.raises(CheckpointError) as info:
        load_model(evil)
    one_line(info, "refused", "pickled Python objects", "evil.pt")
    assert not marker.exists()
    for suffix in (".pth", ".ckpt", ".bin"):
        other = evil.with_suffix(suffix)
        other.write_bytes(evil.read_bytes())
        with pytest.raises(CheckpointError):
            load_model(other, name="toy_critic")
    assert not marker.exists()


def test_whole_pickled_module_is_refused(tmp_path):
    pt = tmp_path / "model.pt"
    torch.save(build_model("toy_critic"), pt)
    with pytest.raises(CheckpointError) as info:
        load_model(pt, name="toy_critic")
    one_line(info, "refused", "state_dict")


def test_training_checkpoint_dict_is_refused_with_a_hint(tmp_path):
    model = build_model("toy_critic")
    opt = torch.optim.Adam(model.parameters())
    model(torch.zeros(1, 8)).sum().backward()
    opt.step()
    pt = tmp_path / "train.ckpt"
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3}, pt)
    with pytest.raises(CheckpointError) as info:
        load_model(pt, name="toy_critic")
    one_line(info, "training checkpoint", "checkpoint['model']")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError) as info:
        load_model(junk, name="toy_critic")
    one_line(info, "not a readable PyTorch file")


# ---------------------------------------------------------------------- resolving

def test_resolve_model(saved, tmp_path, monkeypatch):
    path, _ = saved
    assert resolve_model(path, "toy") == path
    with pytest.raises(CheckpointError, match="no such model file"):
        resolve_model(tmp_path / "missing.safetensors", "toy")
    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", tmp_path / "shipped")
    with pytest.raises(CheckpointError) as info:
        resolve_model("default", "toy")
    one_line(info, "no shipped model for 'toy'")
    (tmp_path / "shipped").mkdir()
    shipped = save_model(tmp_path / "shipped" / "toy.safetensors", build_model("toy_regressor"))
    assert resolve_model("default", "toy") == shipped
    assert resolve_model(None, "toy") == shipped
    assert resolve_model("toy", "other") == shipped  # a bare shipped name
    assert pretrained.available() == ["toy"]
    with pytest.raises(CheckpointError, match="no shipped model of that name"):
        resolve_model("tyo", "toy")
