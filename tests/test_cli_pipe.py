"""The command line stops quietly when the reader of its output goes away
(``sonomorph classify *.wav | head -1``): no BrokenPipeError traceback, status 141."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]


def run_into_closed_pipe(args: list[str]) -> subprocess.CompletedProcess:
    """Run ``python -m sonomorph ARGS`` with stdout a pipe whose read end is already closed,
    so that its first write to stdout fails with EPIPE (deterministically, unlike ``| head``)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        return subprocess.run([sys.executable, "-m", "sonomorph", *args], stdout=write_end,
                              stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env, timeout=300)
    finally:
        os.close(write_end)


def test_output_into_a_closed_pipe_exits_quietly(tmp_path):
    rng = np.random.default_rng(0)
    clips = []
    for i in range(2):
        clip = tmp_path / f"clip{i}.wav"
        sf.write(clip, (0.1 * rng.standard_normal(22050 * 2)).astype(np.float32), 22050)
        clips.append(str(clip))
    proc = run_into_closed_pipe(["-q", "classify", *clips])
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr
    assert proc.stderr == ""
    assert proc.returncode == 141


def test_the_same_command_prints_when_read(tmp_path):
    # Control: with a reader, the command above prints its report and succeeds, so the
    # quiet exit is the pipe's doing.
    clip = tmp_path / "clip.wav"
    sf.write(clip, (0.1 * np.random.default_rng(1).standard_normal(22050 * 2)).astype(np.float32),
             22050)
    proc = subprocess.run([sys.executable, "-m", "sonomorph", "-q", "classify", str(clip)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.returncode == 0, proc.stderr
    assert str(clip) in proc.stdout and len(proc.stdout.splitlines()) >= 4
