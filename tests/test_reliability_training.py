"""kill -9 during training, then resume: the newest checkpoint loads (its checksum holds),
at most one checkpoint interval is lost, and the resumed run ends with exactly the weights
and optimiser state of a run that was never interrupted.

The run being killed is a real subprocess (tests/_toy_task.py's regression task); SIGKILL
arrives between steps, or while a checkpoint's tensor file or its JSON is half written.
The child stops and waits at the chosen point before the kill, so where the kill lands
does not depend on how busy the machine is.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _toy_task as toy  # noqa: E402

from sonomorph.train import Trainer, load_training_state  # noqa: E402
from sonomorph.train.state import latest_checkpoint  # noqa: E402
from sonomorph.utils.fs import TMP_PREFIX  # noqa: E402

STEPS = 24
EVERY = 4
KILL_AT = 14  # two steps after the step-12 checkpoint

# The killed run: the toy task, each step logged; WHEN says where it stops and waits for
# the kill (it writes "stalled" first): after step KILL_AT's update ("between-steps"), or
# half-way through writing the next checkpoint's tensor file or its JSON.
SCRIPT = textwrap.dedent("""
    import os, sys, time
    sys.path.insert(0, {tests!r})
    import torch
    torch.set_num_threads(1)
    import _toy_task as toy
    from sonomorph.train import Trainer
    from sonomorph.train import state

    out, when, kill_at = sys.argv[1], sys.argv[2], int(sys.argv[3])
    log = open(os.path.join(out, "steps.log"), "a", buffering=1)

    def stall():
        open(os.path.join(out, "stalled"), "w").close()
        time.sleep(600)

    class Slow(toy.RegressionTask):
        def training_step(self, models, batch, ctx):
            values = super().training_step(models, batch, ctx)
            log.write(f"{{ctx.global_step + 1}}\\n")  # this step's update is done
            if when == "between-steps" and ctx.global_step + 1 == kill_at:
                stall()
            return values

    real_write = state._write_bytes
    late = []  # writes after step kill_at: the next checkpoint's tensor file, then its JSON

    def stalling_write(path, data):
        steps_done = int(open(os.path.join(out, "steps.log")).read().split()[-1])
        if when in ("tensors", "json") and steps_done > kill_at:
            late.append(path)
            if len(late) == {{"tensors": 1, "json": 2}}[when]:
                with open(path, "wb") as f:  # half of it on disk, then wait for the kill
                    f.write(data[: len(data) // 2])
                    f.flush()
                    os.fsync(f.fileno())
                stall()
        real_write(path, data)

    state._write_bytes = stalling_write
    cfg = toy.ToyConfig(out_dir=os.path.join(out, "run"), device="cpu", steps={steps},
                        checkpoint_every={every})
    Trainer(Slow(cfg), cfg, quiet=True).fit()
""")


def _config(out: Path) -> toy.ToyConfig:
    return toy.ToyConfig(out_dir=str(out), device="cpu", steps=STEPS, checkpoint_every=EVERY)


def _fit(out: Path) -> Trainer:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the killed process
    try:
        trainer = Trainer(toy.RegressionTask(_config(out)), _config(out), quiet=True)
        trainer.fit()
    finally:
        torch.set_num_threads(threads)
    return trainer


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Trainer:
    return _fit(tmp_path_factory.mktemp("whole"))


def _steps_done(folder: Path) -> int:
    text = (folder / "steps.log").read_text() if (folder / "steps.log").exists() else ""
    return int(text.split()[-1]) if text.split() else 0


def _run_and_kill(folder: Path, when: str) -> int:
    """Start the run; SIGKILL it once it waits at the chosen point; returns the last
    completed step."""
    script = SCRIPT.format(tests=str(Path(__file__).resolve().parent), steps=STEPS, every=EVERY)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", script, str(folder), when, str(KILL_AT)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        deadline = time.monotonic() + 300  # a hang guard only: the child waits for the kill
        while proc.poll() is None and time.monotonic() < deadline:
            if (folder / "stalled").exists():
                break
            time.sleep(0.005)
        assert proc.poll() is None, f"the run ended before the kill: {proc.communicate()[1]!r}"
        assert (folder / "stalled").exists(), "the run did not reach the kill point in 300 s"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    return _steps_done(folder)


@pytest.mark.parametrize("when", ["between-steps", "tensors", "json"],
                         ids=["between-steps", "writing-the-tensor-file", "writing-the-json"])
def test_kill_9_then_resume(when, tmp_path, uninterrupted):
    done = _run_and_kill(tmp_path, when)
    # Killed after step KILL_AT, or while writing the first checkpoint after it.
    assert done == (KILL_AT if when == "between-steps" else (KILL_AT // EVERY + 1) * EVERY)
    state_dir = tmp_path / "run" / "state"
    if when != "between-steps":  # the half-written file is there, under a temporary name
        assert [p for p in state_dir.iterdir() if p.name.startswith(TMP_PREFIX)]
    latest = latest_checkpoint(state_dir)
    assert latest is not None
    state = load_training_state(latest)  # sizes and sha256 checked
    assert done - EVERY <= state.step <= done  # at most one interval lost
    assert state.step % EVERY == 0
    resumed = _fit(tmp_path / "run")
    assert resumed.step == STEPS
    assert resumed.history and resumed.history[0]["step"] > state.step  # really resumed
    for name, model in uninterrupted.models.items():
        for key, value in model.state_dict().items():
            assert torch.equal(value, resumed.models[name].state_dict()[key]), key
    for name, opt in uninterrupted.optimizers.items():
        mine, theirs = opt.state_dict(), resumed.optimizers[name].state_dict()
        assert mine["param_groups"] == theirs["param_groups"]
        for idx, slots in mine["state"].items():
            for key, value in slots.items():
                assert torch.equal(value, theirs["state"][idx][key]), (idx, key)
    # The finished run left no temporary file and exactly one checkpoint.
    names = sorted(p.name for p in state_dir.iterdir())
    assert not [n for n in names if n.startswith(TMP_PREFIX)], names
    assert latest_checkpoint(state_dir).name == f"state-{STEPS:08d}.json"
