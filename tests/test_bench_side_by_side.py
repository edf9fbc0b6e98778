"""The harness's side-by-side measurement (``sonomorph.eval.bench.side_by_side`` and
``merge``, used by benchmarks/analysis.py): cases take turns in fresh processes, each
round starting one case later, and each case's runs merge into one measurement. No
timing figures are checked."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from sonomorph.eval.bench import Measurement, merge, side_by_side

ROOT = Path(__file__).resolve().parents[1]

CASE = '''
def logged(seconds, tag="", log=""):
    with open(log, "a") as f:
        f.write(tag + "\\n")
    return lambda: sum(range(1000))
'''


def test_merge_pools_the_calls_and_keeps_the_worst_memory():
    a = Measurement("x", 10.0, 1, times=[1.0, 3.0], cpu_times=[1.0, 3.0], peak_rss_mb=100.0,
                    load=(0.5, 0.7))
    b = Measurement("x", 10.0, 1, times=[2.0], cpu_times=[2.0], peak_rss_mb=120.0,
                    load=(0.8, 0.9))
    m = merge([a, b])
    assert m.times == [1.0, 3.0, 2.0] and m.median_s == 2.0 and m.x_realtime == 5.0
    assert m.peak_rss_mb == 120.0 and m.load == (0.5, 0.9) and m.ok
    assert "2 processes" in m.note
    failed = merge([a, Measurement("x", 10.0, 1, error="boom")])
    assert not failed.ok and failed.error == "boom"


def test_side_by_side_takes_turns_in_fresh_processes(tmp_path):
    case = tmp_path / "case.py"
    case.write_text(CASE)
    log = tmp_path / "order.txt"
    got = side_by_side({t: {"target": f"{case}:logged", "kwargs": {"tag": t, "log": str(log)}}
                        for t in ("a", "b")}, rounds=2, seconds=1.0, repeats=2, warmup=0)
    assert list(got) == ["a", "b"]
    assert log.read_text().split() == ["a", "b", "b", "a"]  # one process per run
    for name, m in got.items():
        assert m.ok, m.error
        assert m.name == name and len(m.times) == 4 and m.peak_rss_mb > 0


def test_analysis_summary_gives_ratios_to_our_encoder():
    spec = importlib.util.spec_from_file_location("_bench_analysis", ROOT / "benchmarks"
                                                  / "analysis.py")
    analysis = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(analysis)
    ours = Measurement("speaker ours", 10.0, 1, times=[0.1], cpu_times=[0.1])
    gram = Measurement("speaker gram", 10.0, 1, times=[0.3], cpu_times=[0.2])
    genre = Measurement("genre", 30.0, 1, times=[0.5], cpu_times=[0.5])
    rows = analysis.summary({("speaker ours", 1): ours, ("speaker gram", 1): gram,
                             ("genre", 1): genre})
    by = {r["case"]: r for r in rows}
    assert abs(by["speaker gram"]["time_vs_ours"] - 3.0) < 1e-9
    assert abs(by["speaker gram"]["cpu_vs_ours"] - 2.0) < 1e-9
    assert by["speaker ours"]["time_vs_ours"] == 1.0 and by["genre"]["time_vs_ours"] is None
