"""Two CPU processes under torchrun (gloo): DDP keeps the ranks identical, rank 0 alone
writes, and resuming a DDP run is exact. The worker is tests/_toy_task.py's script part."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def test_two_processes_stay_identical_and_only_rank0_writes(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(HERE)]),
           "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(HERE / "_toy_task.py"), str(tmp_path)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    finals = {(run, rank): load_file(tmp_path / f"final-{run}-rank{rank}.safetensors")
              for run in "ab" for rank in (0, 1)}
    reference = finals["a", 0]
    assert any(k.startswith("generator/") for k in reference)
    assert any(k.startswith("critic/") for k in reference)
    assert any(k.startswith("opt/d/") for k in reference)
    for key, tensors in finals.items():
        assert tensors.keys() == reference.keys()
        for name, value in reference.items():
            # (a, 1): DDP kept the ranks in step although they saw different batches;
            # (b, *): a DDP run stopped half way and resumed ends bit-identical.
            assert torch.equal(tensors[name], value), f"{key}: {name} differs"

    calls = [json.loads((tmp_path / f"calls-rank{r}.json").read_text()) for r in (0, 1)]
    assert calls[0]["save_training_state"] >= 3 and calls[0]["save_model"] >= 3
    assert calls[1] == {"save_training_state": 0, "save_model": 0}
    assert len(list((tmp_path / "a" / "logs").glob("events.out.tfevents.*"))) == 1
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["last.safetensors", "logs",
                                                                  "state"]
