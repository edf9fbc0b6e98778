"""The one trainer: exact resume, learning, best model, bf16, TensorBoard, kill-safety,
configs, and the deterministic data order it rests on."""

from __future__ import annotations

import errno
import json
import random
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _toy_task as toy  # noqa: E402

from sonomorph.errors import CheckpointError, ConfigError, OutputExistsError  # noqa: E402
from sonomorph.models.checkpoint import load_model, read_metadata  # noqa: E402
from sonomorph.train import (  # noqa: E402
    DeterministicBatchSampler,
    TrainConfig,
    Trainer,
    config_to_dict,
    load_config,
    load_training_state,
    parse_override,
    sample_rng,
)
from sonomorph.train import state as state_module  # noqa: E402
from sonomorph.train.state import decode_tree, encode_tree, rng_state, set_rng_state  # noqa: E402


def fit(task_cls, out: Path, **overrides) -> Trainer:
    cfg = toy.ToyConfig(out_dir=str(out), device="cpu", **overrides)
    trainer = Trainer(task_cls(cfg), cfg, quiet=True)
    trainer.fit()
    return trainer


def assert_same_state(a: Trainer, b: Trainer) -> None:
    """Weights and optimiser states bit-identical."""
    assert a.models.keys() == b.models.keys()
    for name in a.models:
        sa, sb = a.models[name].state_dict(), b.models[name].state_dict()
        assert sa.keys() == sb.keys()
        for key in sa:
            assert torch.equal(sa[key], sb[key]), f"{name}.{key} differs"
    for name in a.optimizers:
        oa, ob = a.optimizers[name].state_dict(), b.optimizers[name].state_dict()
        assert oa["param_groups"] == ob["param_groups"]
        assert oa["state"].keys() == ob["state"].keys() and oa["state"]
        for idx in oa["state"]:
            for key, value in oa["state"][idx].items():
                assert torch.equal(value, ob["state"][idx][key]), f"{name}/{idx}/{key} differs"
    for name in a.schedulers:
        assert a.schedulers[name].state_dict() == b.schedulers[name].state_dict()


# ---------------------------------------------------------------------- (a) exact resume

@pytest.mark.parametrize("task_cls, extra", [
    (toy.RegressionTask, {"steps": 12, "validate_every": 4}),
    (toy.GanTask, {"steps": 10, "batch_size": 4, "n_train": 24, "num_workers": 2,
                   "validate_every": 3, "sample_every": 3}),
], ids=["regression", "gan-2-workers"])
def test_resume_is_bit_identical(tmp_path, task_cls, extra):
    n = extra.pop("steps")
    # The uninterrupted run never validates nor logs samples (which draw from the global
    # generators): how often they run must not change the training trajectory.
    quiet = {**extra, "validate_every": 0, "sample_every": 0}
    whole = fit(task_cls, tmp_path / "whole", steps=n, **quiet)
    first = fit(task_cls, tmp_path / "split", steps=n // 2, checkpoint_every=n // 2, **extra)
    assert first.step == n // 2
    resumed = fit(task_cls, tmp_path / "split", steps=n, **extra)
    assert resumed.step == n
    # The resumed run really started half way (n // 2 steps is mid-epoch here).
    assert resumed.history[0]["step"] > n // 2
    assert_same_state(whole, resumed)
    # And the run did train: the weights moved away from a fresh initialisation.
    fresh = task_cls(whole.config).build_models()
    assert any(not torch.equal(p, q) for p, q in zip(
        next(iter(fresh.values())).parameters(), next(iter(whole.models.values())).parameters()))


def test_resume_of_a_finished_run_changes_nothing(tmp_path):
    done = fit(toy.RegressionTask, tmp_path, steps=4)
    again = fit(toy.RegressionTask, tmp_path, steps=4)
    assert again.step == 4 and again.history == []
    assert_same_state(done, again)


# ---------------------------------------------------------------------- (b) it learns

def test_loss_falls(tmp_path):
    trainer = fit(toy.RegressionTask, tmp_path, steps=60, log_every=5, lr=0.02,
                  validate_every=60)
    losses = [h["loss"] for h in trainer.history]
    assert len(losses) == 12
    assert np.mean(losses[-3:]) < 0.25 * np.mean(losses[:2])
    assert trainer.metrics["loss"] < 0.2  # and it generalises to the validation set
    # last.safetensors rebuilds the trained network by itself.
    model, meta = load_model(tmp_path / "last.safetensors", expect="toy_regressor")
    assert meta["step"] == 60 and meta["train_config"]["lr"] == 0.02
    assert torch.equal(model.net[0].weight, trainer.models["net"].net[0].weight)


# ---------------------------------------------------------------------- (c) best model

class ScriptedTask(toy.RegressionTask):
    """Validation reports scores from a script, so the best step is known in advance."""

    scores = [3.0, 1.0, 2.0, 5.0]

    def validate(self, models, loader):
        score = self.scores[len(self.validations)]
        self.validations.append(1)
        return {"score": score, "loss": 0.0}


@pytest.mark.parametrize("mode, value, step", [("min", 1.0, 4), ("max", 5.0, 8)])
def test_best_checkpoint_follows_the_metric(tmp_path, mode, value, step):
    trainer = fit(ScriptedTask, tmp_path, steps=8, validate_every=2, keep_best="score",
                  keep_best_mode=mode)
    assert len(trainer.task.validations) == 4
    meta = read_metadata(tmp_path / "best.safetensors")
    assert meta["metrics"]["score"] == value and meta["step"] == step
    assert trainer.best == {"metric": "score", "value": value, "step": step}
    assert read_metadata(tmp_path / "last.safetensors")["step"] == 8
    load_model(tmp_path / "best.safetensors", expect="toy")  # by kind


def test_best_tracking_survives_resume(tmp_path):
    fit(ScriptedTask, tmp_path, steps=4, validate_every=2, keep_best="score")
    # The new task's script starts again (3 at step 6, 1 at step 8): neither beats the
    # restored best (1 at step 4). Without the restored best, step 8 would win.
    resumed = fit(ScriptedTask, tmp_path, steps=8, validate_every=2, keep_best="score")
    assert resumed.best == {"metric": "score", "value": 1.0, "step": 4}
    assert read_metadata(tmp_path / "best.safetensors")["step"] == 4


def test_keep_best_needs_a_reported_metric(tmp_path):
    with pytest.raises(ConfigError, match="'nope' is not a validation metric.*loss"):
        fit(toy.RegressionTask, tmp_path, steps=2, validate_every=2, keep_best="nope")


# ---------------------------------------------------------------------- (d) precision

def test_bf16_autocast_on_cpu(tmp_path):
    trainer = fit(toy.RegressionTask, tmp_path, steps=3, log_every=1, precision="bf16")
    assert trainer.task.autocast_dtypes == [torch.bfloat16] * 3
    assert all(np.isfinite(h["loss"]) for h in trainer.history)
    # Parameters and optimiser state stay float32 (autocast casts only the computation).
    assert trainer.models["net"].net[0].weight.dtype == torch.float32
    fp32 = fit(toy.RegressionTask, tmp_path / "fp32", steps=1, log_every=1)
    assert fp32.task.autocast_dtypes == [torch.float32]


def test_fp16_without_cuda_is_a_config_error(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # also on a GPU machine
    with pytest.raises(ConfigError, match="fp16"):
        fit(toy.RegressionTask, tmp_path, steps=1, precision="fp16")


# ---------------------------------------------------------------------- (e) TensorBoard

def test_tensorboard_events_hold_scalars_audio_and_images(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    fit(toy.GanTask, tmp_path, steps=6, batch_size=4, n_train=24, log_every=2,
        validate_every=3, sample_every=3)
    events = list((tmp_path / "logs").glob("events.out.tfevents.*"))
    assert len(events) == 1
    acc = EventAccumulator(str(tmp_path / "logs"), size_guidance={"scalars": 0})
    acc.Reload()
    tags = acc.Tags()
    for tag in ("train/d", "train/g", "lr/d", "lr/g", "val/critic_real", "perf/steps_per_s"):
        assert tag in tags["scalars"], tag
    assert [e.step for e in acc.Scalars("train/g")] == [2, 4, 6]
    assert "sample/audio" in tags["audio"]
    assert "sample/spectrogram" in tags["images"]
    image = acc.Images("sample/spectrogram")[0]
    assert image.width > 1 and image.height == 33  # n_fft 64 -> 33 frequency rows


# ---------------------------------------------------------------------- (f) kill-safety

def _state_files(out: Path) -> list[str]:
    return sorted(p.name for p in (out / "state").iterdir())


def test_truncated_training_checkpoint_is_a_clear_error(tmp_path):
    fit(toy.RegressionTask, tmp_path, steps=4, checkpoint_every=2)
    tensor_file = next((tmp_path / "state").glob("*.safetensors"))
    data = tensor_file.read_bytes()
    tensor_file.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError) as info:
        fit(toy.RegressionTask, tmp_path, steps=6)
    message = str(info.value)
    assert "checksum" in message and "truncated" in message and "\n" not in message
    assert "state-00000004.json" in message
    # Tampering without changing the size is caught too.
    tensor_file.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(CheckpointError, match="checksum"):
        load_training_state(tmp_path / "state")
    tensor_file.write_bytes(data)
    assert load_training_state(tmp_path / "state").step == 4
    json_file = tmp_path / "state" / "state-00000004.json"
    json_file.write_text(json_file.read_text()[:100])
    with pytest.raises(CheckpointError, match="JSON does not parse"):
        load_training_state(tmp_path / "state")
    tensor_file.unlink()
    with pytest.raises(CheckpointError):
        load_training_state(tmp_path / "state")


@pytest.mark.parametrize("fail_on_call", [1, 2], ids=["tensors", "json"])
def test_failed_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch, fail_on_call):
    fit(toy.RegressionTask, tmp_path, steps=4, checkpoint_every=4)
    before = _state_files(tmp_path)
    real_write = state_module._write_bytes
    calls = []

    def disk_full(path, data):
        calls.append(path)
        if len(calls) == fail_on_call:  # write part of it, then the disk is full
            with open(path, "wb") as f:
                f.write(data[: len(data) // 3])
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(path, data)

    monkeypatch.setattr(state_module, "_write_bytes", disk_full)
    with pytest.raises(CheckpointError, match="No space left.*step 4. is intact"):
        fit(toy.RegressionTask, tmp_path, steps=8, checkpoint_every=4)
    assert _state_files(tmp_path) == before  # no new file, no temporary left behind
    assert load_training_state(tmp_path / "state").step == 4
    monkeypatch.setattr(state_module, "_write_bytes", real_write)
    assert fit(toy.RegressionTask, tmp_path, steps=8).step == 8
    assert load_training_state(tmp_path / "state").step == 8


def test_only_the_newest_checkpoint_is_kept(tmp_path):
    fit(toy.RegressionTask, tmp_path, steps=6, checkpoint_every=2)
    names = _state_files(tmp_path)
    assert len(names) == 2 and names[1] == "state-00000006.json"


def test_earlier_run_is_not_clobbered_without_force(tmp_path):
    fit(toy.RegressionTask, tmp_path, steps=2)
    with pytest.raises(OutputExistsError, match="earlier training run"):
        fit(toy.RegressionTask, tmp_path, steps=4, resume=False)
    restarted = fit(toy.RegressionTask, tmp_path, steps=3, resume=False, force=True)
    assert len(restarted.history) == 2  # started from step 0 (logs at steps 2 and 3)


# ---------------------------------------------------------------------- state encoding

def test_rng_states_round_trip_exactly():
    random.random()
    np.random.normal()  # leaves a cached gaussian in numpy's legacy state
    saved = json.loads(json.dumps(rng_state()))  # through JSON text, as on disk
    expected = (random.random(), np.random.normal(), np.random.rand(), torch.randn(3))
    set_rng_state(saved)
    got = (random.random(), np.random.normal(), np.random.rand(), torch.randn(3))
    assert expected[:3] == got[:3] and torch.equal(expected[3], got[3])


def test_tree_encoding_keeps_types():
    tree = {"state": {0: {"step": torch.tensor(3.0), "buf": torch.ones(2)}},
            "groups": [{"betas": (0.5, 0.9), "lr": 0.1 + 0.2, "big": 2**70, "x": None}],
            "__weird": np.arange(3, dtype=np.int16)}
    tensors: dict = {}
    back = decode_tree(json.loads(json.dumps(encode_tree(tree, tensors))), tensors)
    assert back["groups"] == tree["groups"] and isinstance(back["groups"][0]["betas"], tuple)
    assert list(back["state"]) == [0] and torch.equal(back["state"][0]["buf"], torch.ones(2))
    assert back["__weird"].dtype == np.int16
    with pytest.raises(TypeError, match="cannot store"):
        encode_tree({"f": object()}, {})


# ---------------------------------------------------------------------- data order

def test_sampler_is_a_pure_function_of_seed_and_epoch():
    def batches(rank=0, world=1, epoch=0, start=0, seed=5):
        s = DeterministicBatchSampler(23, 3, seed, rank=rank, world_size=world)
        s.set_epoch(epoch, start)
        return list(s)

    assert batches() == batches() and batches() != batches(epoch=1) != batches(seed=6)
    assert batches(start=2) == batches()[2:]
    r0, r1 = batches(0, 2), batches(1, 2)
    assert len(r0) == len(r1) == 3  # 23 // 2 = 11 per rank -> 3 whole batches of 3
    flat0, flat1 = sum(r0, []), sum(r1, [])
    assert not set(flat0) & set(flat1)
    assert sample_rng(1, 2, 3).random() == sample_rng(1, 2, 3).random() != sample_rng(1, 3, 2).random()


# ---------------------------------------------------------------------- (g) configs

def test_config_from_toml_with_overrides(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('steps = 300\nlr = 1\nprecision = "bf16"\nout_dir = "runs/x"\n'
                    '[shape]\nhidden = 32\nsizes = [3, 4]\n')
    cfg = load_config(toy.ToyConfig, path, {"shape.hidden": 8, "seed": 7})
    assert (cfg.steps, cfg.lr, cfg.precision, cfg.seed) == (300, 1.0, "bf16", 7)
    assert isinstance(cfg.lr, float)
    assert cfg.shape == toy.Shape(hidden=8, sizes=[3, 4])
    assert config_to_dict(cfg)["shape"] == {"hidden": 8, "sizes": [3, 4]}
    assert load_config(toy.ToyConfig).steps == toy.ToyConfig().steps


@pytest.mark.parametrize("text, pattern", [
    ("stpes = 3\n", "unknown key 'stpes'"),
    ("steps = 2.5\n", "'steps' must be an integer, got float"),
    ("steps = true\n", "'steps' must be an integer, got bool"),
    ('lr = "fast"\n', "'lr' must be a number, got str"),
    ('precision = "fp8"\n', "'precision' must be one of"),
    ("[shape]\nhiden = 3\n", "unknown key 'shape.hiden'"),
    ('[shape]\nsizes = [1, "a"]\n', r"'shape.sizes\[1\]' must be an integer"),
    ("steps = 0\n", "'steps' must be at least 1"),
    ("steps = \n", "not valid TOML"),
])
def test_bad_config_is_a_one_line_error_naming_the_key(tmp_path, text, pattern):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=pattern) as info:
        load_config(toy.ToyConfig, path)
    assert "bad.toml" in str(info.value) and "\n" not in str(info.value)


def test_bad_override_and_missing_file():
    with pytest.raises(ConfigError, match="override: unknown key 'nope'"):
        load_config(toy.ToyConfig, None, {"nope": 1})
    with pytest.raises(ConfigError, match="override: 'batch_size' must be an integer"):
        load_config(toy.ToyConfig, None, {"batch_size": "8"})
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(toy.ToyConfig, "/nonexistent/x.toml")
    assert parse_override("lr=3e-4") == ("lr", 3e-4)
    assert parse_override("shape.sizes=[1, 2]") == ("shape.sizes", [1, 2])
    assert parse_override("out_dir=runs/a b") == ("out_dir", "runs/a b")
    with pytest.raises(ConfigError):
        parse_override("no equals sign")


def test_subclass_config_adds_fields_and_checks():
    @dataclass
    class Mine(TrainConfig):
        segment_s: float = 6.0

        def validate(self):
            super().validate()
            if self.segment_s <= 0:
                raise ConfigError("'segment_s' must be positive")

    assert load_config(Mine, None, {"segment_s": 2}).segment_s == 2.0
    with pytest.raises(ConfigError, match="segment_s"):
        load_config(Mine, None, {"segment_s": -1})


def test_cli_options_build_the_config(tmp_path):
    import argparse

    from sonomorph.train import add_config_arguments, config_from_args

    path = tmp_path / "c.toml"
    path.write_text("steps = 50\nlr = 0.5\n")
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="auto")
    add_config_arguments(parser)
    args = parser.parse_args(["--config", str(path), "--out", "runs/z", "--steps", "7",
                              "--set", "lr=0.25", "--set", "shape.hidden=3", "--no-resume",
                              "-f", "--device", "cpu"])
    cfg = config_from_args(toy.ToyConfig, args)
    assert (cfg.steps, cfg.lr, cfg.out_dir, cfg.shape.hidden) == (7, 0.25, "runs/z", 3)
    assert (cfg.resume, cfg.force, cfg.device) == (False, True, "cpu")


# ---------------------------------------------------------------------- moving average

def test_ema_is_the_moving_average_and_resumes_exactly(tmp_path):
    """With ema_decay the exported weights are the exponential moving average of the
    trained ones (checked against the average computed here step by step), and a run
    interrupted half way ends with the same average as an uninterrupted one."""
    decay = 0.5
    steps = 6
    # the trajectory of the raw weights, recorded one step at a time
    trajectory = []
    for n in range(1, steps + 1):
        t = fit(toy.RegressionTask, tmp_path / "traj", steps=n, checkpoint_every=1)
        trajectory.append({k: v.clone() for k, v in t.models["net"].state_dict().items()
                           if v.is_floating_point()})
    expected = dict(trajectory[0])  # torch's AveragedModel copies the weights at its first update
    for w in trajectory[1:]:
        expected = {k: decay * expected[k] + (1 - decay) * w[k] for k in expected}

    whole = fit(toy.RegressionTask, tmp_path / "whole", steps=steps, ema_decay=decay)
    averaged = whole.ema["net"].module.state_dict()
    for k, v in expected.items():
        torch.testing.assert_close(averaged[k], v)
    # the exported file holds the average, not the raw weights
    exported, meta = load_model(tmp_path / "whole" / "last.safetensors")
    for k, v in exported.state_dict().items():
        if v.is_floating_point():
            torch.testing.assert_close(v, expected[k])
    assert meta["ema_decay"] == decay and meta["total_steps"] == steps

    fit(toy.RegressionTask, tmp_path / "split", steps=steps // 2, ema_decay=decay,
        checkpoint_every=steps // 2)
    resumed = fit(toy.RegressionTask, tmp_path / "split", steps=steps, ema_decay=decay)
    for k, v in resumed.ema["net"].module.state_dict().items():
        assert torch.equal(v, averaged[k]), k


def test_ema_warmup_ramps_the_decay_and_resumes_exactly(tmp_path):
    """With ema_warmup the n-th update uses decay min(ema_decay, (1 + n) / (10 + n)) (n
    counted from 0 at the first update, which copies the weights); a resumed run ends with the
    same average as an uninterrupted one."""
    decay, steps = 0.3, 6  # the ramp reaches 0.3 at n = 3 (4/13 > 0.3): both regimes are used
    trajectory = []
    for n in range(1, steps + 1):
        t = fit(toy.RegressionTask, tmp_path / "traj", steps=n, checkpoint_every=1)
        trajectory.append({k: v.clone() for k, v in t.models["net"].state_dict().items()
                           if v.is_floating_point()})
    expected = dict(trajectory[0])
    for n, w in enumerate(trajectory[1:], start=1):
        d = min(decay, (1 + n) / (10 + n))
        expected = {k: d * expected[k] + (1 - d) * w[k] for k in expected}
    whole = fit(toy.RegressionTask, tmp_path / "whole", steps=steps, ema_decay=decay,
                ema_warmup=True)
    averaged = whole.ema["net"].module.state_dict()
    for k, v in expected.items():
        torch.testing.assert_close(averaged[k], v)
    fit(toy.RegressionTask, tmp_path / "split", steps=steps // 2, ema_decay=decay,
        ema_warmup=True, checkpoint_every=steps // 2)
    resumed = fit(toy.RegressionTask, tmp_path / "split", steps=steps, ema_decay=decay,
                  ema_warmup=True)
    for k, v in resumed.ema["net"].module.state_dict().items():
        assert torch.equal(v, averaged[k]), k


class InterruptedTask(toy.RegressionTask):
    """Ctrl-C arrives while the 8th step is being computed."""

    calls = 0

    def training_step(self, models, batch, ctx):
        self.calls += 1
        if self.calls == 8:
            raise KeyboardInterrupt
        return super().training_step(models, batch, ctx)


def test_interrupt_writes_a_checkpoint_and_resume_loses_nothing(tmp_path):
    whole = fit(toy.RegressionTask, tmp_path / "whole", steps=12)
    cfg = toy.ToyConfig(out_dir=str(tmp_path / "cut"), device="cpu", steps=12,
                        checkpoint_every=100)
    with pytest.raises(KeyboardInterrupt):
        Trainer(InterruptedTask(cfg), cfg, quiet=True).fit()
    # no periodic checkpoint was due: the one there was written on the interrupt
    assert [n for n in _state_files(tmp_path / "cut") if n.endswith(".json")] == \
        ["state-00000007.json"]
    resumed = fit(toy.RegressionTask, tmp_path / "cut", steps=12, checkpoint_every=100)
    assert resumed.step == 12 and resumed.history[0]["step"] > 7
    assert_same_state(whole, resumed)


class _PoisonedTask(toy.RegressionTask):
    """The regression task whose loss is NaN at the training steps in ``poisoned``."""

    poisoned: frozenset[int] = frozenset()

    def training_step(self, models, batch, ctx):
        x, y = batch
        pred = models["net"](x)
        loss = F.mse_loss(pred.float(), y)
        if ctx.global_step in self.poisoned:
            loss = loss * float("nan")
        ctx.backward(loss, "opt")
        ctx.step("opt")
        return {"loss": loss}


def _weights(trainer: Trainer) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in trainer.models["net"].state_dict().items()}


def test_a_nonfinite_step_is_skipped_and_training_goes_on(tmp_path):
    class Task(_PoisonedTask):
        poisoned = frozenset({3})

    trainer = fit(Task, tmp_path / "run", grad_clip=1.0, steps=8)
    assert trainer.step == 8
    for value in _weights(trainer).values():
        assert torch.isfinite(value).all()
    logged = [row for row in trainer.history if "skipped/opt" in row]
    assert logged and sum(row["skipped/opt"] for row in logged) > 0
    assert all(np.isfinite(row["loss"]) for row in trainer.history)


def test_a_skipped_step_leaves_weights_and_moments_as_they_were(tmp_path):
    class Task(_PoisonedTask):
        poisoned = frozenset({2})

    before = fit(Task, tmp_path / "a", grad_clip=1.0, steps=2)
    after = fit(Task, tmp_path / "b", grad_clip=1.0, steps=3)
    assert_same_state_except_schedule(before, after)


def assert_same_state_except_schedule(a: Trainer, b: Trainer) -> None:
    for key, value in a.models["net"].state_dict().items():
        assert torch.equal(value, b.models["net"].state_dict()[key]), key
    sa, sb = a.optimizers["opt"].state_dict()["state"], b.optimizers["opt"].state_dict()["state"]
    for idx in sa:
        for key, value in sa[idx].items():
            assert torch.equal(value, sb[idx][key]), f"{idx}/{key}"


def test_too_many_nonfinite_steps_in_a_row_stop_the_run(tmp_path):
    from sonomorph.train.trainer import TrainingDiverged

    class Task(_PoisonedTask):
        poisoned = frozenset(range(2, 100))

    with pytest.raises(TrainingDiverged, match="in a row"):
        fit(Task, tmp_path / "run", grad_clip=1.0, steps=12, max_nonfinite_steps=3)


def test_without_clipping_a_nan_loss_still_stops_the_run(tmp_path):
    from sonomorph.train.trainer import TrainingDiverged

    class Task(_PoisonedTask):
        poisoned = frozenset({1})

    with pytest.raises(TrainingDiverged, match="became nan"):
        fit(Task, tmp_path / "run", steps=6)
