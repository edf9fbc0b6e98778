"""Ctrl-C and SIGTERM in the middle of a batch: the command stops with one line and a
non-zero status, and leaves no half-written file behind (every output that exists is
complete, no temporary file remains). Real subprocesses, real signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _tiny_models import make_tiny_models  # noqa: E402

from sonomorph.utils.fs import TMP_PREFIX  # noqa: E402

SR = 22050
SECONDS = 4.0
N_FILES = 16  # far more than get done before the signal, even on a busy machine


def _voices(folder: Path) -> list[Path]:
    folder.mkdir()
    t = np.arange(int(SECONDS * SR)) / SR
    paths = []
    for i in range(N_FILES):
        f0 = 140 + 15 * i + 10 * np.sin(2 * np.pi * 2 * t)
        phase = 2 * np.pi * np.cumsum(f0) / SR
        wav = 0.2 * sum(np.sin(k * phase) / k for k in range(1, 8))
        path = folder / f"take {i:02d}.wav"
        sf.write(path, wav.astype(np.float32), SR)
        paths.append(path)
    return paths


def _finished(out: Path) -> list[Path]:
    return [p for p in out.rglob("*") if p.is_file() and not p.name.startswith(TMP_PREFIX)]


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _interrupt(argv: list[str], out: Path, sig: int, *, timeout: float = 120.0
               ) -> tuple[int, str]:
    """Start ``sonomorph argv``; once its first output is complete, send ``sig``."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    # A job started in the background by a non-interactive shell (CI runners, `make ... &`)
    # inherits SIGINT ignored, and Python then never turns Ctrl-C into KeyboardInterrupt:
    # give the child the default disposition, as a terminal would.
    proc = subprocess.Popen([sys.executable, "-m", "sonomorph", "-q", *argv],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=_default_sigint)
    try:
        deadline = time.monotonic() + timeout
        while not _finished(out) and proc.poll() is None:
            assert time.monotonic() < deadline, "no output appeared"
            time.sleep(0.01)
        assert proc.poll() is None, f"finished before the signal:\n{proc.stderr.read()}"
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, err


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, str]:
    return make_tiny_models(tmp_path_factory.mktemp("models"))


@pytest.mark.parametrize("command, sig, jobs", [
    ("growl", signal.SIGTERM, 1),
    ("separate", signal.SIGINT, 2),  # two stems per track, two files at once
], ids=["growl-sigterm", "separate-ctrl-c-2-jobs"])
def test_signal_during_a_batch_leaves_only_whole_files(command, sig, jobs, tmp_path, tiny):
    inputs = _voices(tmp_path / "in")
    out = tmp_path / "out dir"
    if command == "growl":
        argv = ["effect", "growl", str(tmp_path / "in"), "-o", str(out)]
    else:
        argv = ["separate", str(tmp_path / "in"), "-o", str(out), "--model", tiny["separator"]]
    rc, err = _interrupt([*argv, "-j", str(jobs)], out, sig)
    assert rc != 0, err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines == ["sonomorph: interrupted"], err
    files = [p for p in out.rglob("*") if p.is_file()]
    assert not [p for p in files if p.name.startswith(TMP_PREFIX)], files
    assert not [p for p in out.rglob(f"{TMP_PREFIX}*")], "a temporary folder was left"
    assert files, "the output that appeared before the signal is gone"
    # It stopped: not every file was processed after the signal.
    per_input = 1 if command == "growl" else 2
    assert len(files) < per_input * len(inputs), "the batch went on after the signal"
    for path in files:  # every output that exists is complete
        data, rate = sf.read(path, dtype="float32")
        assert rate == SR and len(data) == int(SECONDS * SR), path
        assert np.isfinite(data).all() and np.abs(data).max() > 0, path
    if command == "separate":  # a track's two stems are written together or not at all
        for track in {p.parent for p in files}:
            assert sorted(p.name for p in track.iterdir()) == ["karaoke.wav", "vocals.wav"]


# ---------------------------------------------------------------------- --force

def _write_twice(argv: list[str], outputs: list[Path], capsys) -> None:
    from sonomorph.cli import main

    assert main(["-q", *argv]) == 0, capsys.readouterr().err
    stamps = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in outputs}
    assert all(p.is_file() for p in outputs)
    capsys.readouterr()
    assert main(["-q", *argv]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("sonomorph: error:")]
    assert len(errors) == 1 and "exists" in errors[0] and "--force" in errors[0], err
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in outputs} == stamps
    assert main(["-q", *argv, "--force"]) == 0
    assert all(p.stat().st_mtime_ns >= stamps[p][1] for p in outputs)
    assert not [p for p in outputs[0].parent.rglob(f"{TMP_PREFIX}*")]


@pytest.mark.parametrize("command", ["scream", "accompany", "image-encode", "growl",
                                     "remove-silence", "separate"])
def test_existing_output_is_replaced_only_with_force(command, tmp_path, tiny, capsys):
    src = _voices(tmp_path / "in")[0]
    out = tmp_path / "out"
    argv, outputs = {
        "scream": (["scream", str(src), "-o", str(out), "--preset", "growl"],
                   [out / "take 00_growl.wav"]),
        "accompany": (["accompany", str(src), "-o", str(out), "--model", tiny["accompany"]],
                      [out / "take 00" / "song.wav", out / "take 00" / "accompaniment.wav"]),
        "image-encode": (["image", "encode", str(src), "-o", str(out), "--filename", "x"],
                         [out / "x.png"]),
        "growl": (["effect", "growl", str(src), "-o", str(out), "--filename", "x"],
                  [out / "x.wav"]),
        "remove-silence": (["remove-silence", str(src), "-o", str(out), "--filename", "x"],
                           [out / "x.wav"]),
        "separate": (["separate", str(src), "-o", str(out), "--model", tiny["separator"]],
                     [out / "take 00" / "vocals.wav", out / "take 00" / "karaoke.wav"]),
    }[command]
    _write_twice(argv, outputs, capsys)
