"""The scream recipe, in tiny smoke runs of a few steps: the content loss is selectable
(mel or envelope correlation) and, given a judge file, validation tracks the held-out
judge's P(scream) of the outputs in TensorBoard beside the mel and envelope correlation."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch
from _scream_library import SR, noise_burst, tone

from sonomorph.errors import ConfigError
from sonomorph.models import save_model
from sonomorph.models.losses import EnvelopeCorrelationLoss, MelCorrelationLoss
from sonomorph.models.scream_judge import ScreamJudge, clip_scores

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """voices/<speaker>-NNN.wav of three speakers (the last held out) and screams/."""
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    for kind, make, names in (("voices", tone, ("v1", "v2", "v3")), ("screams", noise_burst, ("s1",))):
        (root / kind).mkdir()
        for name in names:
            for i in range(2):
                sf.write(root / kind / f"{name}-{i:03d}.wav", make(1.5, rng), SR)
    torch.manual_seed(0)
    judge = save_model(root / "judge.safetensors", ScreamJudge(channels=8, embedding=4))
    return root, judge


def tiny_config(out, root, **keys):
    from sonomorph.train.recipes.scream import DiscriminatorArgs, GeneratorArgs, ScreamConfig

    settings = dict(steps=2, validate_every=2)
    settings.update(keys)
    cfg = ScreamConfig(out_dir=str(out), voices=str(root / "voices"),
                       screams=str(root / "screams"), holdout_speakers=1,
                       batch_size=2, val_batch_size=2, disc_crop=4096,
                       checkpoint_every=0, sample_every=0, log_every=1, device="cpu", seed=0,
                       generator=GeneratorArgs(dim=8, hidden=16, n_blocks=1, kernel_size=3),
                       discriminator=DiscriminatorArgs(n_scales=1, ndf=4, n_layers=1,
                                                       max_channels=16), **settings)
    cfg.validate()
    return cfg


def test_validation_tracks_the_judge_and_the_envelope_loss_is_selectable(tmp_path, folders):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from sonomorph.models import load_model
    from sonomorph.train import Trainer
    from sonomorph.train.recipes.scream import ScreamTask, _ValVoices

    root, judge_file = folders
    cfg = tiny_config(tmp_path / "run", root, judge=str(judge_file), content_loss="envelope",
                      envelope_coeffs=16)
    task = ScreamTask(cfg)
    result = Trainer(task, cfg, quiet=True).fit()
    assert isinstance(task.corr, EnvelopeCorrelationLoss) and task.corr.n_coeffs == 16
    m = result.metrics
    assert set(m) == {"mel_corr", "envelope_corr", "judge_p_scream", "style_content"}
    # the combined criterion: the share reached of the nearer-missed target (0.5 and 0.8)
    assert m["style_content"] == pytest.approx(min(m["judge_p_scream"] / 0.5, m["mel_corr"] / 0.8))
    # the logged P(scream) is the judge's on the exported generator's held-out outputs
    gen, _ = load_model(result.last, expect="scream")
    judge, _ = load_model(judge_file, expect="scream-judge")
    held = _ValVoices(str(root / "voices"), 1.0, files=sorted((root / "voices").glob("v3-*.wav")))
    with torch.no_grad():
        probs = [float(clip_scores(judge.eval(), gen(held[i]["voice"][None])[0, 0])[0].mean())
                 for i in range(len(held))]
    assert m["judge_p_scream"] == pytest.approx(np.mean(probs), abs=1e-4)
    acc = EventAccumulator(str(tmp_path / "run" / "logs"), size_guidance={"scalars": 0})
    acc.Reload()
    for tag in ("val/judge_p_scream", "val/mel_corr", "val/envelope_corr", "train/corr"):
        assert tag in acc.Tags()["scalars"], tag
    assert [e.step for e in acc.Scalars("val/judge_p_scream")] == [2]


def test_default_content_loss_is_the_mel_correlation_and_bad_keys_are_refused(tmp_path, folders):
    from sonomorph.train.recipes.scream import ScreamTask

    root, _ = folders
    task = ScreamTask(tiny_config(tmp_path / "a", root))
    task.build_models()
    assert type(task.corr) is MelCorrelationLoss and task._load_judge() is None
    for keys in ({"judge": str(root / "missing.safetensors")}, {"content_loss": "words"},
                 {"envelope_coeffs": 0}, {"envelope_smoothing": 2}, {"envelope_smoothing": 0},
                 {"envelope_drop_c0": True, "envelope_coeffs": 1}, {"disc_steps": 0}):
        with pytest.raises(ConfigError):
            tiny_config(tmp_path / "b", root, **keys)


def test_real_scream_settings_shape_the_loss_and_step_the_discriminator_twice(tmp_path, folders):
    """The settings proposed for real screams: the envelope loss without its level and
    smoothed over 3 frames, no STFT term, feature matching, two discriminator updates per
    generator step, keep-best on the combined criterion. Two steps take four discriminator
    updates and two generator updates; best.safetensors is the step-2 model."""
    from sonomorph.train import Trainer
    from sonomorph.train.recipes.scream import ScreamTask

    root, judge_file = folders
    cfg = tiny_config(tmp_path / "run", root, judge=str(judge_file), content_loss="envelope",
                      envelope_drop_c0=True, envelope_smoothing=3, stft_weight=0.0,
                      correlation_weight=30.0, feature_matching_weight=10.0, disc_steps=2,
                      keep_best="style_content", keep_best_mode="max")
    task = ScreamTask(cfg)
    trainer = Trainer(task, cfg, quiet=True)
    result = trainer.fit()
    assert task.corr.drop_c0 and task.corr.time_smoothing == 3 and task.corr.n_coeffs == 20
    steps = {name: {int(st["step"]) for st in opt.state.values()}
             for name, opt in trainer.optimizers.items()}
    assert steps == {"d": {4}, "g": {2}}
    assert result.best is not None and result.best.is_file()
    assert result.best_metric == pytest.approx(result.metrics["style_content"])


def test_a_config_from_before_the_new_keys_loads_with_the_old_behaviour(tmp_path, folders):
    """Configurations written before envelope_drop_c0 / envelope_smoothing / disc_steps
    existed load unchanged: the envelope loss as first trained, one discriminator update."""
    from sonomorph.train.config import load_config
    from sonomorph.train.recipes.scream import ScreamConfig, ScreamTask

    root, _ = folders
    toml = tmp_path / "old.toml"
    toml.write_text(f'voices = "{root / "voices"}"\nscreams = "{root / "screams"}"\n'
                    'content_loss = "envelope"\nenvelope_coeffs = 16\n')
    cfg = load_config(ScreamConfig, toml)
    assert (cfg.envelope_drop_c0, cfg.envelope_smoothing, cfg.disc_steps) == (False, 1, 1)
    task = ScreamTask(cfg)
    task.build_models()
    a = torch.randn(1, 80, 20)
    b = a + torch.randn(1, 80, 20)
    assert torch.allclose(task.corr(a, b), EnvelopeCorrelationLoss(80, 16)(a, b))


@pytest.fixture
def text_folder(tmp_path):
    """Three English-like clips (1.0, 1.2 and 1.4 s) saying "The dog sat down." and one
    clip with no text beside it."""
    folder = tmp_path / "text"
    folder.mkdir()
    rng = np.random.default_rng(3)
    for i, seconds in enumerate((1.0, 1.2, 1.4)):
        sf.write(folder / f"t-{i:03d}.wav", tone(seconds, rng), SR, subtype="FLOAT")
        (folder / f"t-{i:03d}.txt").write_text("The dog sat down.\n", encoding="utf-8")
    sf.write(folder / "u-000.wav", tone(1.1, rng), SR, subtype="FLOAT")
    return folder


def test_val_text_is_checked_when_the_config_is(tmp_path, folders, text_folder, monkeypatch):
    import sys

    from sonomorph.errors import DependencyError

    root, _ = folders
    assert tiny_config(tmp_path / "a", root).val_text == ""  # off by default
    with pytest.raises(ConfigError, match="val_text"):
        tiny_config(tmp_path / "a", root, val_text=str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="val_text"):  # a folder, but no clip has a text
        tiny_config(tmp_path / "a", root, val_text=str(root / "voices"))
    with pytest.raises(ConfigError, match="val_text_items"):
        tiny_config(tmp_path / "a", root, val_text=str(text_folder), val_text_items=0)
    monkeypatch.setitem(sys.modules, "pocketsphinx", None)  # as if not installed
    with pytest.raises(DependencyError, match="pocketsphinx"):
        tiny_config(tmp_path / "a", root, val_text=str(text_folder))
    tiny_config(tmp_path / "a", root)  # without val_text it is not needed


def test_validation_reports_the_word_error_rate_of_outputs_and_inputs(tmp_path, folders,
                                                                      text_folder, monkeypatch):
    """A fake recogniser hears "the cat sat" in the text clips themselves (WER 2/4 against
    "The dog sat down.") and nothing in anything else (WER 4/4), so the outputs' WER is 1,
    the inputs' 0.5 and their ratio 2. Of the three clips, val_text_items = 2 takes the first
    and the last; the inputs are recognised at the first validation only."""
    import sonomorph.models.recognizer as recognizer
    from sonomorph.train.recipes.scream import ScreamTask

    clips = {p.name: sf.read(p, dtype="float32")[0] for p in sorted(text_folder.glob("t-*.wav"))}
    heard_inputs: list[str] = []
    calls = []

    class FakeRecognizer:
        def __call__(self, x, sr):
            calls.append(sr)
            for name, clip in clips.items():
                if x.shape == clip.shape and np.allclose(x, clip, atol=1e-6):
                    heard_inputs.append(name)
                    return "the cat sat"
            return ""

    monkeypatch.setattr(recognizer, "Recognizer", FakeRecognizer)
    root, _ = folders
    task = ScreamTask(tiny_config(tmp_path / "run", root, val_text=str(text_folder),
                                  val_text_items=2))
    models = task.build_models()
    for m in models.values():
        m.eval()
    loader = torch.utils.data.DataLoader(task.val_dataset(), batch_size=2)
    with torch.no_grad():
        first = task.validate(models, loader)
        second = task.validate(models, loader)
    assert first["wer"] == pytest.approx(1.0) and first["wer_input"] == pytest.approx(0.5)
    assert first["wer_ratio"] == pytest.approx(2.0)
    assert {"mel_corr", "envelope_corr"} <= set(first)
    assert sorted(heard_inputs) == ["t-000.wav", "t-002.wav"]
    assert calls == [SR] * 6  # 2 inputs + 2 outputs, then only the 2 outputs again
    assert second["wer"] == first["wer"] and second["wer_input"] == first["wer_input"]


def test_a_teacher_is_distilled_into_the_generator_and_stays_frozen(tmp_path, folders):
    """With only the distillation term on, a few steps bring the generator's output on a
    held-out voice closer (multi-resolution STFT distance) to a fixed teacher's output than
    the same run's starting weights (a run with the same seed whose only, vanishing loss
    leaves them where they start); the teacher's weights do not move; ``train/distill`` is
    logged. A teacher needs a positive weight and the other way round; a missing file is
    refused."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from sonomorph.errors import CheckpointError
    from sonomorph.models import load_model
    from sonomorph.models.losses import MultiResolutionSTFTLoss
    from sonomorph.models.melgan import ISTFTGenerator
    from sonomorph.train import Trainer
    from sonomorph.train.recipes.scream import ScreamTask, _ValVoices

    root, _ = folders
    torch.manual_seed(1)
    teacher_file = save_model(tmp_path / "teacher.safetensors",
                              ISTFTGenerator(dim=8, hidden=16, n_blocks=1, kernel_size=3))
    teacher, _ = load_model(teacher_file, expect="scream")
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    voice = _ValVoices(str(root / "voices"), 1.0,
                       files=sorted((root / "voices").glob("v3-*.wav")))[0]["voice"][None]
    distance = MultiResolutionSTFTLoss()
    common = dict(stft_weight=0.0, adversarial_weight=0.0, steps=8, validate_every=0, lr=5e-3)
    runs = {}
    for name, keys in (("start", dict(correlation_weight=1e-12)),
                       ("distilled", dict(correlation_weight=0.0, teacher=str(teacher_file),
                                          distill_weight=1.0))):
        cfg = tiny_config(tmp_path / name, root, **common, **keys)
        task = ScreamTask(cfg)
        result = Trainer(task, cfg, quiet=True).fit()
        student, _ = load_model(result.last, expect="scream")
        with torch.no_grad():
            runs[name] = float(distance(student(voice), teacher(voice)))
    assert runs["distilled"] < 0.8 * runs["start"], runs
    assert all(torch.equal(v, task._teacher.state_dict()[k]) for k, v in before.items())
    acc = EventAccumulator(str(tmp_path / "distilled" / "logs"), size_guidance={"scalars": 0})
    acc.Reload()
    assert "train/distill" in acc.Tags()["scalars"]
    for bad in ({"teacher": str(teacher_file)}, {"distill_weight": 1.0}):
        with pytest.raises(ConfigError, match="distill_weight"):
            tiny_config(tmp_path / "b", root, **bad)
    with pytest.raises(CheckpointError):
        tiny_config(tmp_path / "b", root, teacher=str(tmp_path / "missing.safetensors"),
                    distill_weight=1.0)
    pickle = tmp_path / "teacher.pt"
    torch.save(teacher.state_dict(), pickle)
    with pytest.raises(ConfigError, match="pickled files are not read"):
        tiny_config(tmp_path / "b", root, teacher=str(pickle), distill_weight=1.0)
