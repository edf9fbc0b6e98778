"""The shared corpus machinery: stable seeds, splits, tool checks, deterministic writers,
and the resumable job runner with its done-markers and manifest."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sonomorph.data.corpus import common
from sonomorph.data.corpus.common import (
    CorpusError,
    Job,
    job_rng,
    job_seed,
    run_jobs,
    split_groups,
    wav_bytes,
    write_wav,
)
from sonomorph.errors import DependencyError


def render_noise(job: Job, out_dir: Path) -> list[Path]:
    """A module-level render (it must be importable in spawned workers)."""
    rng = np.random.default_rng(job.params["seed"])
    paths = []
    for name in ("a", "b"):
        path = out_dir / job.params["side"] / job.key / f"{name}.wav"
        write_wav(path, (0.1 * rng.standard_normal((2, 300))).astype(np.float32), 44100)
        paths.append(path)
    return paths


def render_fails_on_bad(job: Job, out_dir: Path) -> list[Path]:
    if job.key == "bad":
        raise RuntimeError("boom")
    return render_noise(job, out_dir)


def _jobs(n: int = 4, seed: int = 0) -> list[Job]:
    return [Job(f"k{i}", {"seed": job_seed(seed, f"k{i}"), "side": "train" if i % 2 else "test"})
            for i in range(n)]


def _run(out: Path, jobs: list[Job], workers: int = 1, render=render_noise) -> dict:
    return run_jobs(out, builder="toy", jobs=jobs, render=render, workers=workers,
                    parameters={"seed": 0, "size": len(jobs)},
                    sources=common.sources("flite"), quiet=True)


def _tree_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*.wav"))}


def test_job_seed_is_stable_and_depends_on_every_key():
    # A fixed value: the seed must not change between runs, processes or releases.
    assert job_seed(0, "bwv269", 1) == job_seed(0, "bwv269", "1")
    assert job_seed(0, "a") != job_seed(1, "a") != job_seed(0, "b")
    assert 0 <= job_seed(123, "x") < 2**63
    code = "from sonomorph.data.corpus.common import job_seed; print(job_seed(7, 'track', 3))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(other.stdout) == job_seed(7, "track", 3)
    a = job_rng(5, "k").standard_normal(4)
    assert np.array_equal(a, job_rng(5, "k").standard_normal(4))


def test_split_groups_is_disjoint_deterministic_and_keeps_both_sides():
    groups = [f"piece{i}" for i in range(20)] * 3
    split = split_groups(groups, 0.15, seed=0)
    assert set(split) == set(groups)
    assert sum(v == "test" for v in split.values()) == 3
    assert split == split_groups(list(reversed(groups)), 0.15, seed=0)
    assert split != split_groups(groups, 0.15, seed=1)
    tiny = split_groups(["a", "b"], 0.15, seed=0)
    assert sorted(tiny.values()) == ["test", "train"]


def test_wav_writer_is_readable_exact_and_has_no_timestamp(tmp_path):
    x = np.random.default_rng(0).uniform(-1, 1, (2, 1000)).astype(np.float32)
    path = write_wav(tmp_path / "x.wav", x, 44100)
    y, sr = sf.read(path, dtype="float32", always_2d=True)
    assert sr == 44100 and np.array_equal(y.T, x)
    info = sf.info(path)
    assert info.subtype == "FLOAT" and info.channels == 2
    assert path.read_bytes() == wav_bytes(x, 44100)  # nothing time-dependent inside
    with pytest.raises(ValueError):
        wav_bytes(np.array([[np.nan]], np.float32), 44100)


def test_run_jobs_writes_manifest_and_resumes(tmp_path):
    out = tmp_path / "c"
    jobs = _jobs()
    first = _run(out, jobs)
    assert (first["rendered"], first["skipped"]) == (4, 0)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["builder"] == "toy" and manifest["seed"] == 0
    assert manifest["parameters"] == {"seed": 0, "size": 4}
    assert manifest["sources"][0]["id"] == "flite" and manifest["sources"][0]["licence"]
    assert manifest["jobs"] == ["k0", "k1", "k2", "k3"]
    assert len(manifest["files"]) == 8
    for rel, digest in manifest["files"].items():
        assert common.sha256_file(out / rel) == digest
    assert sorted(p.name for p in (out / ".done").iterdir()) == [f"k{i}.json" for i in range(4)]

    again = _run(out, jobs)
    assert (again["rendered"], again["skipped"]) == (0, 4)

    (out / "train" / "k1" / "b.wav").unlink()  # a deleted file: that job is redone
    (out / ".done" / "k2.json").unlink()  # a job without its marker: redone
    third = _run(out, jobs)
    assert (third["rendered"], third["skipped"]) == (2, 2)
    assert (out / "train" / "k1" / "b.wav").exists()
    assert json.loads((out / "manifest.json").read_text()) == manifest


def test_run_jobs_redoes_a_changed_file_and_changed_params(tmp_path):
    out = tmp_path / "c"
    jobs = _jobs(2)
    _run(out, jobs)
    target = out / "test" / "k0" / "a.wav"
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))
    assert _run(out, jobs)["rendered"] == 1
    jobs[1].params["seed"] += 1
    assert _run(out, jobs)["rendered"] == 1


def test_run_jobs_same_bytes_whatever_the_worker_count(tmp_path):
    _run(tmp_path / "one", _jobs())
    _run(tmp_path / "two", list(reversed(_jobs())), workers=2)
    one, two = _tree_bytes(tmp_path / "one"), _tree_bytes(tmp_path / "two")
    assert one == two and len(one) == 8
    assert (tmp_path / "one" / "manifest.json").read_bytes() != b""
    m1 = json.loads((tmp_path / "one" / "manifest.json").read_text())
    m2 = json.loads((tmp_path / "two" / "manifest.json").read_text())
    assert m1["files"] == m2["files"]
    _run(tmp_path / "other", _jobs(seed=1))
    assert _tree_bytes(tmp_path / "other") != one


def test_failed_job_is_reported_and_others_finish(tmp_path):
    jobs = _jobs(2) + [Job("bad", {"seed": 1, "side": "train"})]
    with pytest.raises(CorpusError, match="1 of 3 jobs failed: bad: RuntimeError: boom"):
        _run(tmp_path, jobs, render=render_fails_on_bad)
    assert not (tmp_path / "manifest.json").exists()
    assert (tmp_path / ".done" / "k0.json").exists()
    assert _run(tmp_path, jobs[:2])["rendered"] == 0


def test_duplicate_keys_are_refused(tmp_path):
    with pytest.raises(ValueError):
        _run(tmp_path, [Job("a", {"seed": 0, "side": "x"})] * 2)


def test_check_tools_names_the_debian_package(monkeypatch):
    monkeypatch.setitem(common._TOOLS, "FluidR3_GM",
                        ("file", "/nonexistent/FluidR3_GM.sf2", "fluid-soundfont-gm"))
    monkeypatch.setitem(common._TOOLS, "flite", ("bin", "no-such-flite-binary", "flite"))
    with pytest.raises(DependencyError, match="flite fluid-soundfont-gm"):
        common.check_tools("FluidR3_GM", "flite")
    assert common.missing_tools("FluidR3_GM") == ["fluid-soundfont-gm"]
    with pytest.raises(ValueError):
        common.check_tools("no-such-tool")


def test_run_tool_uses_argument_lists_and_reports_failures(tmp_path):
    proc = common.run_tool([sys.executable, "-c", "import os; print(os.getcwd())"], cwd=tmp_path)
    assert Path(proc.stdout.strip()) == tmp_path
    # An argument with shell syntax stays one argument.
    proc = common.run_tool([sys.executable, "-c", "import sys; print(sys.argv[1])", "a; echo b"],
                           cwd=tmp_path)
    assert proc.stdout.strip() == "a; echo b"
    with pytest.raises(CorpusError, match="exit 3"):
        common.run_tool([sys.executable, "-c", "import sys; sys.exit(3)"], cwd=tmp_path)
    with pytest.raises(CorpusError, match="longer than"):
        common.run_tool([sys.executable, "-c", "import time; time.sleep(5)"], cwd=tmp_path,
                        timeout=0.5)
    with pytest.raises(DependencyError):
        common.run_tool(["no-such-program-xyz"], cwd=tmp_path)
