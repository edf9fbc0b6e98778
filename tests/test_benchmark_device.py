"""Every benchmark that runs a model takes ``--device`` (issue 19): ``--device cuda`` where
torch sees no GPU is one line on stderr and exit status 2, before any work; the harness
passes the device to a case and records it with the measurement. No timing here."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Benchmarks without a model to place on a device, and why.
NO_DEVICE = {
    "images.py": "spectrogram-image round trips, no neural network",
    "separation_leaks.py": "leak scores of the separator work, no speed figures",
    "scream_wer_sensitivity.py": "pocketsphinx on degraded clips, no network of ours",
}


def benchmark_scripts() -> list[Path]:
    return sorted(p for p in (ROOT / "benchmarks").glob("*.py") if p.name not in NO_DEVICE)


def load(path: Path):
    spec = importlib.util.spec_from_file_location(f"_bench_test_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_exceptions_exist():
    names = {p.name for p in (ROOT / "benchmarks").glob("*.py")}
    assert set(NO_DEVICE) <= names
    assert {"separation.py", "scream.py", "accompany.py", "style.py"} <= {
        p.name for p in benchmark_scripts()}


@pytest.mark.parametrize("script", benchmark_scripts(), ids=lambda p: p.name)
def test_cuda_without_cuda_is_one_line_and_status_2(script, monkeypatch, capsys):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    module = load(script)
    with pytest.raises(SystemExit) as exit_info:
        module.main(["--device", "cuda"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--device cuda" in err[0] and "CUDA" in err[0], err


@pytest.mark.parametrize("script", benchmark_scripts(), ids=lambda p: p.name)
def test_an_unknown_device_is_refused(script, capsys):
    module = load(script)
    with pytest.raises(SystemExit) as exit_info:
        module.main(["--device", "tpu"])
    assert exit_info.value.code == 2
    assert "--device" in capsys.readouterr().err


def test_the_harness_gives_the_case_its_device_and_records_it(tmp_path):
    from sonomorph.eval.bench import run_case

    case = tmp_path / "case.py"
    case.write_text(
        "import json, pathlib\n"
        "def factory(seconds, device='unset', out=''):\n"
        "    pathlib.Path(out).write_text(json.dumps(device))\n"
        "    return lambda: None\n")
    seen = tmp_path / "seen.json"
    m = run_case(f"{case}:factory", seconds=1.0, repeats=1, warmup=0, device="cpu",
                 kwargs={"out": str(seen)})
    assert m.ok, m.error
    assert json.loads(seen.read_text()) == "cpu"
    row = m.to_dict()
    assert row["device"] == "cpu" and row["device_name"] and row["peak_device_mb"] is None
    # without a device the case is called as before (CPU-only work)
    m = run_case(f"{case}:factory", seconds=1.0, repeats=1, warmup=0,
                 kwargs={"out": str(seen)})
    assert m.ok and json.loads(seen.read_text()) == "unset" and m.to_dict()["device"] == "cpu"
