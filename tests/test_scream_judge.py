"""The scream judge and the judged ``eval scream``: a tiny judge trained in the test on a
fake library (noise bursts as screams, harmonic tones as speech) separates held-out
characters and speakers; its features ignore level and padding; the word error rate is
measured against the known text, never a recognition of the input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from _scream_library import SR, make_library, noise_burst, tone

from sonomorph.models import load_model, save_model
from sonomorph.models.scream_judge import ScreamJudge, judge_windows

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    return make_library(tmp_path_factory.mktemp("lib"), clips=6)


@pytest.fixture(scope="module")
def judge_run(tmp_path_factory, library):
    from sonomorph.train import Trainer
    from sonomorph.train.recipes.scream_judge import ScreamJudgeConfig, ScreamJudgeTask

    out = tmp_path_factory.mktemp("run")
    cfg = ScreamJudgeConfig(out_dir=str(out), library=str(library), steps=150, batch_size=16,
                            channels=16, embedding=8, seed=0, validate_every=150,
                            checkpoint_every=0, log_every=20, device="cpu")
    cfg.validate()
    result = Trainer(ScreamJudgeTask(cfg), cfg, quiet=True).fit()
    return result


def test_tiny_judge_separates_held_out_characters_and_speakers(judge_run, library):
    from sonomorph.eval.scream import judge_report
    from sonomorph.train.recipes.scream_judge import load_clips

    judge, meta = load_model(judge_run.last, expect="scream-judge")
    held = load_clips(str(library), "test-real", max_seconds=4.0, speech_per_speaker=None, seed=0)
    # test-real holds a character and a speaker that training never read
    assert {c["group"] for c in held} == {"screams/ghoul", "speech/dora"}
    report = judge_report(judge, [c["audio"] for c in held if c["label"] == 1],
                          [c["audio"] for c in held if c["label"] == 0])
    assert report["n_screams"] == 6 and report["n_voices"] == 6
    assert report["auc"] == 1.0, report
    assert report["accuracy"] == 1.0, report
    assert report["p_scream_screams"] > 0.5 > report["p_scream_voices"]
    assert judge_run.metrics["clip_auc"] == 1.0  # validation on the valid split


def test_judge_ignores_level_and_zero_padding():
    torch.manual_seed(0)
    judge = ScreamJudge(channels=8, embedding=4).eval()
    x = torch.from_numpy(tone(0.6, np.random.default_rng(1)))
    padded = torch.zeros(SR)
    padded[2048: 2048 + x.numel()] = x
    with torch.no_grad():
        base = judge(padded[None])
        quiet = judge(0.05 * padded[None])
        later = judge(torch.roll(padded, 4096)[None])
    assert torch.allclose(base, quiet, atol=1e-4)
    assert torch.allclose(base, later, atol=1e-4)
    # how much padding surrounds the sound does not matter: padded frames are left out of
    # the normalisation and the pooling (the same sound in 1 s and in 2 s of zeros)
    longer = torch.zeros(2 * SR)
    longer[2048: 2048 + x.numel()] = x
    with torch.no_grad():
        assert torch.allclose(judge(longer[None]), base, atol=1e-4)
        assert torch.allclose(judge.embed(longer[None]), judge.embed(padded[None]), atol=1e-4)
    # silent windows are not judged (of 3.6 s, only the two windows touching the tone)
    w = judge_windows(torch.cat([x, torch.zeros(3 * SR)]), SR)
    assert w.shape == (2, SR)
    assert judge_windows(x, SR).shape == (1, SR)  # a short clip: one zero-padded window
    assert judge_windows(torch.zeros(SR), SR).shape == (0, SR)


def test_wer_reference_is_the_known_text(tmp_path, monkeypatch):
    """A recogniser that always hears "the cat sat": against the known text "the dog sat
    down" every system's WER is 2/4 (a reference taken from the input's recognition would
    give 0)."""
    import soundfile as sf

    from sonomorph.eval import scream as ev

    calls = []

    class FakeRecognizer:
        def __call__(self, x, sr):
            calls.append(len(x))
            return "the cat sat"

    monkeypatch.setattr(ev, "Recognizer", FakeRecognizer)
    rng = np.random.default_rng(0)
    voices, screams, text = tmp_path / "v", tmp_path / "s", tmp_path / "t"
    for d in (voices, screams, text):
        d.mkdir()
    sf.write(voices / "a-001.wav", tone(1.5, rng), SR)
    for i in range(2):
        sf.write(screams / f"c-{i}.wav", noise_burst(1.2, rng), SR)
    sf.write(text / "kal-001.wav", tone(1.5, rng), SR)
    (text / "kal-001.txt").write_text("The dog sat down.\n")
    torch.manual_seed(0)
    judge = ScreamJudge(channels=8, embedding=4).eval()
    report = ev.evaluate_scream(voices, screams, systems={"input": lambda x: x,
                                                          "half": lambda x: 0.5 * x},
                                judge=judge, text=text)
    assert report.n_text_clips == 1
    for row in report.rows.values():
        assert row["wer"] == pytest.approx(0.5)
    assert len(calls) == 2  # once per system's output, never on the input alone
    assert ev.word_error_rate("the dog sat down", "the cat sat") == pytest.approx(0.5)


def test_eval_scream_cli_judges_input_growl_and_model(tmp_path, capsys, judge_run, library):
    from sonomorph.cli import main
    from sonomorph.data.corpus.screams import build_screams
    from sonomorph.models.melgan import ISTFTGenerator

    corpus = tmp_path / "corpus"
    build_screams(corpus, library=library, seed=0, minutes=0.05, real_voices=1.0,
                  heldout_clips=2, quiet=True, voices={})
    torch.manual_seed(0)
    model = save_model(tmp_path / "tiny.safetensors",
                       ISTFTGenerator(dim=16, hidden=32, n_blocks=1, kernel_size=3))
    report = tmp_path / "eval.json"
    code = main([str(a) for a in ("-q", "eval", "scream", "--corpus", corpus, "--judge",
                                  judge_run.last, "--model", model, "--no-wer", "--json",
                                  report, "--limit", "2")])
    out = capsys.readouterr().out
    assert code == 0 and "| growl |" in out and "judge on the held-out real audio" in out
    data = json.loads(report.read_text())
    assert set(data["rows"]) == {"input", "growl", "model"}
    assert data["rows"]["input"]["mel_corr"] == pytest.approx(1.0, abs=1e-4)
    assert data["judge"]["auc"] == 1.0 and data["n_real_screams"] == 2
    # the held-out real voices (tones) are judged speech, the real screams screams
    assert data["rows"]["input"]["p_scream"] < 0.5 < data["judge"]["p_scream_screams"]
    # the weights behind the model row and the judge, by sha256, with no absolute path
    import hashlib

    for key, path in (("model", model), ("judge", judge_run.last)):
        record = data["weights"][key]
        assert record["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert not record["file"].startswith("/")
    assert set(data["weights"]) == {"model", "judge"}
