"""``sonomorph scream`` / ``train scream`` / ``eval scream`` / ``export scream`` end to end,
with tiny random models: outputs, notes, one-line errors with exit 2, live without devices."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from sonomorph.cli import main
from sonomorph.models import load_model, save_model
from sonomorph.models.melgan import ISTFTGenerator

torch.set_num_threads(1)
SR = 22050


def voice(seconds: float, sr: int = SR, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    phase = 2 * np.pi * np.cumsum(130 + 30 * np.sin(2 * np.pi * t)) / sr
    x = sum(np.sin(k * phase) / k for k in range(1, 6)) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    return (0.3 * x + 0.003 * rng.standard_normal(t.shape[0])).astype(np.float32)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    g = ISTFTGenerator(dim=16, hidden=32, n_blocks=1, kernel_size=3)
    return save_model(tmp_path_factory.mktemp("m") / "tiny.safetensors", g)


@pytest.fixture(scope="module")
def judge_file(tmp_path_factory) -> Path:
    """An untrained scream judge (seeded): enough for the table's rows and names."""
    from sonomorph.models.scream_judge import ScreamJudge

    torch.manual_seed(0)
    return save_model(tmp_path_factory.mktemp("j") / "judge.safetensors",
                      ScreamJudge(channels=8, embedding=4))


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("sonomorph: error: ")
    return lines[0]


def test_help_of_every_command(capsys):
    for argv in (["scream"], ["train", "scream"], ["eval", "scream"], ["export", "scream"]):
        with pytest.raises(SystemExit) as exc:
            main([*argv, "--help"])
        assert exc.value.code == 0
        assert "usage:" in capsys.readouterr().out


def test_scream_writes_mono_at_the_input_rate_with_notes(tmp_path, capsys, model_file):
    src = tmp_path / "take.wav"
    sf.write(src, np.stack([voice(1.0, 48000), voice(1.0, 48000, 1)]).T, 48000)
    code, _, err = run(capsys, "scream", src, "--model", model_file, "-o", tmp_path / "out")
    assert code == 0
    y, rate = sf.read(tmp_path / "out" / "take_scream.wav")
    assert rate == 48000 and y.ndim == 1 and y.shape[0] == 48000
    assert "downmixed to mono" in err and "resampled from 48000 Hz" in err


def test_one_sample_file_is_one_line_exit_2(tmp_path, capsys, model_file):
    src = tmp_path / "tick.wav"
    sf.write(src, np.zeros(1, np.float32), SR)
    code, _, err = run(capsys, "scream", src, "--model", model_file)
    assert code == 2
    line = one_line_error(err)
    assert "tick.wav" in line and "too short" in line
    assert not (tmp_path / "tick_scream.wav").exists()


def test_existing_output_and_batches(tmp_path, capsys, model_file):
    good = tmp_path / "in" / "a.wav"
    good.parent.mkdir()
    sf.write(good, voice(0.5), SR)
    (tmp_path / "in" / "b.wav").write_bytes(b"not audio at all")
    out = tmp_path / "out"
    code, _, err = run(capsys, "scream", good, "--model", model_file, "-o", out)
    assert code == 0
    code, _, err = run(capsys, "scream", good, "--model", model_file, "-o", out)
    assert code == 2 and "exists" in one_line_error(err)
    # A folder with one bad file: the good one is done, the bad one listed, exit 1.
    code, _, err = run(capsys, "scream", tmp_path / "in", "--model", model_file, "-o", out, "-f",
                       "--format", "flac")
    assert code == 1 and "b.wav" in err
    assert (out / "a_scream.flac").exists()


def test_growl_preset_and_style_strength(tmp_path, capsys):
    from sonomorph.cli import scream as cli_scream
    from sonomorph.pipelines import scream as pipeline

    src = tmp_path / "v.wav"
    sf.write(src, voice(1.0), SR, subtype="FLOAT")
    outs = {}
    for strength in ("0", "0.5", "1.5"):
        out = tmp_path / f"s{strength}"
        code, _, _ = run(capsys, "scream", src, "--preset", "growl", "--strength", strength,
                         "-o", out, "--bit-depth", "32f")
        assert code == 0
        outs[strength] = sf.read(out / "v_growl.wav", dtype="float32")[0]
    np.testing.assert_allclose(outs["0"], voice(1.0), atol=1e-5)  # 0: the dry input
    dist = {k: float(np.abs(v - voice(1.0)).mean()) for k, v in outs.items()}
    assert dist["0"] < dist["0.5"] < dist["1.5"]
    code, _, _ = run(capsys, "scream", src, "--preset", "growl", "--style-strength", "0.5",
                     "-o", tmp_path / "old")  # the former name still works
    assert code == 0 and (tmp_path / "old" / "v_growl.wav").exists()
    for bad in ("2.5", "-1", "nan", "loud"):
        with pytest.raises(SystemExit) as exc:
            main(["scream", str(src), "--strength", bad])
        assert exc.value.code == 2
    assert cli_scream.MAX_STRENGTH == pipeline.MAX_STRENGTH
    capsys.readouterr()
    code, _, err = run(capsys, "scream", "--live", "--strength", "0.5")
    assert code == 2 and "--live plays the model alone" in one_line_error(err)


def test_export_then_scream_with_the_onnx_model(tmp_path, capsys, model_file):
    onnx_path = tmp_path / "scream.onnx"
    code, _, err = run(capsys, "export", "scream", "--onnx", onnx_path, "--model", model_file)
    assert code == 0 and onnx_path.exists()
    code, _, err = run(capsys, "export", "scream", "--onnx", onnx_path, "--model", model_file)
    assert code == 2 and "exists" in one_line_error(err)
    src = tmp_path / "v.wav"
    sf.write(src, voice(1.0), SR)
    code, _, _ = run(capsys, "scream", src, "--model", onnx_path, "-o", tmp_path / "o")
    assert code == 0
    y, _ = sf.read(tmp_path / "o" / "v_scream.wav")
    assert np.isfinite(y).all() and np.abs(y).max() > 0.01


def test_live_without_portaudio_or_devices_is_one_line_exit_2(capsys, model_file, monkeypatch):
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # import fails: no PortAudio
    code, _, err = run(capsys, "scream", "--live", "--model", model_file, "--duration", "0.1")
    assert code == 2 and "PortAudio" in one_line_error(err)

    fake = types.ModuleType("sounddevice")
    fake.PortAudioError = type("PortAudioError", (Exception,), {})
    fake.query_devices = lambda: [{"name": "hdmi", "max_input_channels": 0,
                                   "max_output_channels": 2}]
    monkeypatch.setitem(sys.modules, "sounddevice", fake)
    code, out, err = run(capsys, "-q", "scream", "--live", "--model", model_file)
    assert code == 2 and "no audio input device" in one_line_error(err)


def test_live_rejects_inputs_and_bad_blocks(tmp_path, capsys, model_file):
    code, _, err = run(capsys, "scream", "--live", tmp_path / "x.wav", "--model", model_file)
    assert code == 2 and "--live takes no input" in one_line_error(err)
    with pytest.raises(SystemExit):
        main(["scream", "--live", "--block", "64"])


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    for side in ("voices", "screams"):
        (root / side).mkdir()
        for i in range(4):
            x = voice(1.5, seed=i) if side == "voices" else np.tanh(5 * voice(1.5, seed=10 + i))
            sf.write(root / side / f"{side[0]}{i:02d}-001.wav", x.astype(np.float32), SR)
    return root


TINY = ["--set", "generator.dim=16", "--set", "generator.hidden=32", "--set", "generator.n_blocks=1",
        "--set", "discriminator.ndf=2", "--set", "discriminator.max_channels=8",
        "--set", "discriminator.n_layers=2", "--set", "batch_size=2", "--set", "segment_s=0.5",
        "--set", "disc_crop=4096", "--set", "validate_every=2", "--set", "sample_every=2",
        "--set", "checkpoint_every=2", "--set", "log_every=1", "--set", "feature_matching_weight=1",
        "--set", "stft_weight=1", "--set", "holdout_speakers=1"]


def test_train_scream_runs_resumes_and_exports(tmp_path, capsys, tiny_corpus):
    out = tmp_path / "run"
    args = ["-q", "train", "scream", "--voices", tiny_corpus / "voices", "--screams",
            tiny_corpus / "screams", "--out", out, "--threads", "1", *TINY]
    assert run(capsys, *args, "--steps", "2")[0] == 0
    assert run(capsys, *args, "--steps", "4")[0] == 0  # resumes from step 2
    model, meta = load_model(out / "last.safetensors", expect="scream")
    assert meta["step"] == 4 and meta["sample_rate"] == SR
    assert meta["receptive_field"]["future"] == model.receptive_field()[1]
    assert "mel_corr" in meta["metrics"]
    assert any((out / "logs").iterdir())
    code, _, err = run(capsys, "train", "scream", "--voices", tmp_path / "nope", "--screams",
                       tiny_corpus / "screams", "--out", tmp_path / "run2")
    assert code == 2 and "voices" in one_line_error(err)


def test_eval_scream_compares_input_growl_and_model(tmp_path, capsys, tiny_corpus, model_file,
                                                    judge_file):
    report = tmp_path / "eval.json"
    code, out, _ = run(capsys, "-q", "eval", "scream", "--voices", tiny_corpus / "voices",
                       "--screams", tiny_corpus / "screams", "--model", model_file, "--no-wer",
                       "--judge", judge_file,
                       "--json", report, "--limit", "2")
    assert code == 0
    import json

    rows = json.loads(report.read_text())["rows"]
    assert set(rows) == {"input", "growl", "model"}
    assert rows["input"]["mel_corr"] == pytest.approx(1.0, abs=1e-4)
    assert "| model |" in out
    # without --strength every model runs at the pipeline's default, 1; the input at none
    assert (rows["model"]["strength"], rows["growl"]["strength"]) == (1.0, 1.0)
    assert rows["input"]["strength"] is None


def test_eval_scream_sweeps_the_style_strength(tmp_path, capsys, tiny_corpus, model_file,
                                               judge_file):
    """Each --strength gives the model a row of its own. Strength 0 is documented as the dry
    input, so its row scores like the input's; strength 1 (the model alone, here an untrained
    one) does not keep the input's mel bands."""
    import json

    report = tmp_path / "eval.json"
    code, out, _ = run(capsys, "-q", "eval", "scream", "--voices", tiny_corpus / "voices",
                       "--screams", tiny_corpus / "screams", "--model", model_file, "--no-wer",
                       "--judge", judge_file, "--strength", "0", "--strength", "1",
                       "--json", report, "--limit", "2")
    assert code == 0
    data = json.loads(report.read_text())
    rows = data["rows"]
    assert set(rows) == {"input", "growl", "model @ strength 0", "model @ strength 1"}
    assert "| model @ strength 0 |" in out
    dry, inp = rows["model @ strength 0"], rows["input"]
    for metric in ("mel_corr", "p_scream", "frechet"):
        assert dry[metric] == pytest.approx(inp[metric], abs=1e-4), metric
    assert rows["model @ strength 1"]["mel_corr"] < inp["mel_corr"] - 0.05
    assert {k: r["strength"] for k, r in rows.items()} == {
        "input": None, "growl": 1.0, "model @ strength 0": 0.0, "model @ strength 1": 1.0}
    assert set(data["weights"]) == {"model @ strength 0", "model @ strength 1", "judge"}
    for bad in ("2.5", "-0.1", "nan", "loud"):
        with pytest.raises(SystemExit) as exc:
            main(["eval", "scream", "--voices", str(tiny_corpus / "voices"), "--screams",
                  str(tiny_corpus / "screams"), "--strength", bad])
        assert exc.value.code == 2
        lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert len(lines) == 1 and "--strength" in lines[0], lines


def test_eval_rows_of_same_named_models_stay_apart(tmp_path, capsys, tiny_corpus, model_file,
                                                   judge_file):
    """Two runs' last.safetensors and a model file called "input" each get their own row;
    the dry input's row is not replaced."""
    import json
    import shutil

    paths = [tmp_path / "run-a" / "last.safetensors", tmp_path / "run-b" / "last.safetensors",
             tmp_path / "input.safetensors"]
    for p in paths:
        p.parent.mkdir(exist_ok=True)
        shutil.copy(model_file, p)
    report = tmp_path / "eval.json"
    args = ["-q", "eval", "scream", "--voices", tiny_corpus / "voices", "--screams",
            tiny_corpus / "screams", "--no-wer", "--json", report, "--limit", "1", "--judge",
            judge_file]
    for p in paths:
        args += ["--model", p]
    code, _, _ = run(capsys, *args)
    assert code == 0
    rows = json.loads(report.read_text())["rows"]
    assert set(rows) == {"input", "growl", "last", "run-b/last", f"{tmp_path.name}/input"}
    assert rows["input"]["mel_corr"] == pytest.approx(1.0, abs=1e-4)
    assert rows["last"]["mel_corr"] == pytest.approx(rows["run-b/last"]["mel_corr"], abs=1e-6)


def test_scream_and_export_use_the_shipped_model_by_default(tmp_path, capsys):
    from sonomorph.pipelines.scream import load_backend
    from sonomorph.pipelines.streaming import OnnxBackend

    src = tmp_path / "v.wav"
    sf.write(src, voice(1.5), SR)
    code, _, _ = run(capsys, "scream", src, "-o", tmp_path / "o")
    assert code == 0
    y, rate = sf.read(tmp_path / "o" / "v_scream.wav")
    assert rate == SR and y.shape == (int(1.5 * SR),) and np.abs(y).max() > 0.01
    onnx_path = tmp_path / "scream.onnx"
    code, _, _ = run(capsys, "export", "scream", "--onnx", onnx_path)
    assert code == 0 and onnx_path.is_file()
    onnx_be, torch_be = OnnxBackend(onnx_path), load_backend("default")
    x = voice(1.5)
    assert np.abs(onnx_be(x, 0.0) - torch_be(x, 0.0)).max() < 1e-3
