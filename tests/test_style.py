"""Style transfer: seeded random filters, length-normalised memory-light Grams, an optimiser
that keeps the spectrogram non-negative and cannot diverge, losses that fall, the classifier
method, and the ``style`` command's files and one-line errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile as sf
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from sonomorph.cli import main
from sonomorph.errors import AudioLoadError, InputTooShortError
from sonomorph.models.random_cnn import RandomCNN, band_edges, parse_kernel, time_gram
from sonomorph.pipelines.style import (
    ClassifierStyleTransfer,
    RandomStyleTransfer,
    optimise,
)
from sonomorph.train.losses import FeatureContentLoss, GramLoss

SR = 16000


def voice(seconds: float, f0: float, formant: float, seed: int, sr: int = SR) -> np.ndarray:
    """A crude voiced signal: harmonics of a gliding f0 shaped by one formant, syllable-like
    amplitude bursts and a little breath noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    pitch = f0 * (1.0 + 0.05 * np.sin(2 * np.pi * 0.7 * t + seed))
    phase = 2 * np.pi * np.cumsum(pitch) / sr
    x = np.zeros_like(t)
    for k in range(1, int(4000 / f0)):
        x += np.exp(-(((k * f0 - formant) / 400.0) ** 2)) * np.sin(k * phase) / k ** 0.3
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 3.0 * t + rng.uniform(0, 6)) ** 2
    x = x * env + 0.01 * rng.standard_normal(t.shape)
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("style")
    content, style = d / "content.wav", d / "style.wav"
    sf.write(content, voice(1.0, 120, 700, 1), SR)
    sf.write(style, voice(1.2, 230, 1800, 2, sr=22050), 22050)  # another rate
    return content, style


# ----------------------------------------------------------------------------- network


def test_random_filters_are_seeded_and_frozen():
    a, b, c = RandomCNN(8, "3x1", seed=3), RandomCNN(8, "3x1", seed=3), RandomCNN(8, "3x1", seed=4)
    assert torch.equal(a.conv.weight, b.conv.weight)
    assert not torch.equal(a.conv.weight, c.conv.weight)
    assert not any(p.requires_grad for p in a.parameters())
    x = torch.rand(1, 40, 30)
    assert torch.equal(a(x), b(x))


@pytest.mark.parametrize("kernel", ["3x1", "3x3"])
def test_fast_convolution_matches_conv2d(kernel):
    net = RandomCNN(6, kernel, seed=1)
    x = torch.rand(2, 33, 20)
    ref = torch.nn.functional.leaky_relu(net.conv(x[:, None]), net.negative_slope)
    assert net(x).shape == ref.shape
    assert torch.allclose(net(x), ref, atol=1e-6)


def test_kernel_parsing():
    assert parse_kernel("3x1") == (3, 1) and parse_kernel("3x3") == (3, 3)
    with pytest.raises(Exception, match="kernel"):
        parse_kernel("3by1")


def test_gram_is_normalised_by_frame_count():
    f = torch.randn(1, 4, 10, 37)
    twice = torch.cat([f, f], dim=-1)
    for bands in (1, 3, 10):
        assert torch.allclose(time_gram(f, bands), time_gram(twice, bands), atol=1e-5)


def test_gram_bands_average_per_bin_grams():
    f = torch.randn(2, 3, 9, 11)
    per_bin = time_gram(f, 9)
    edges = band_edges(9, 2)
    banded = time_gram(f, 2)
    assert banded.shape == (2, 2, 3, 3)
    assert torch.allclose(banded[:, 0], per_bin[:, edges[0]:edges[1]].mean(dim=1), atol=1e-6)


class _Shapes(TorchDispatchMode):
    """Records the shape of every tensor an operation produces."""

    def __init__(self):
        super().__init__()
        self.shapes: list[tuple[int, ...]] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor):
                self.shapes.append(tuple(t.shape))
        return out


def test_gram_loss_is_memory_light():
    """Forward and backward of the Gram loss never build a T x T (or (C F) x (C F)) matrix."""
    frames, channels, freqs = 1200, 4, 20
    net = RandomCNN(channels, "3x1")
    x = torch.rand(1, freqs + 2, frames, requires_grad=True)
    loss_fn = GramLoss(bands=4)
    target = loss_fn.gram(net(torch.rand(1, freqs + 2, 500)))[0]
    with _Shapes() as rec:
        loss = loss_fn(net(x), target)
        loss.backward()
    biggest_square = max((min(s[-2:]) for s in rec.shapes if len(s) >= 2), default=0)
    assert biggest_square < freqs * channels  # the Grams are at most C x C per band
    assert max(math.prod(s) for s in rec.shapes) <= 4 * freqs * channels * frames


def test_losses_are_relative():
    f = torch.rand(2, 3, 5, 7)
    assert float(FeatureContentLoss()(f, f)) == 0.0
    assert float(FeatureContentLoss()(torch.zeros_like(f), f)) == pytest.approx(1.0)
    g = GramLoss(2)
    target = g.gram(f[:1])[0]
    assert float(g(torch.zeros_like(f[:1]), target)) == pytest.approx(1.0)


# ----------------------------------------------------------------------------- optimiser


@pytest.mark.parametrize("optimizer,lr", [("adam", 0.1), ("lbfgs", 0.1)])
def test_optimiser_keeps_the_variable_non_negative_and_bounded(optimizer, lr):
    torch.manual_seed(0)  # the starts below are random: the same ones whatever ran before
    seen = []

    def down(x):  # the unconstrained minimum is at -5
        seen.append(float(x.detach().min()))
        return ((x + 5.0) ** 2).sum(), {}

    x, history = optimise(torch.rand(3, 4) + 1.0, down, steps=40, lr=lr, optimizer=optimizer,
                          upper=2.0)
    assert min(seen) >= 0.0 and float(x.min()) >= 0.0
    assert float(x.max()) < 0.5  # pushed onto the bound at 0
    assert history

    def up(x):  # the unconstrained minimum is at 9
        return ((x - 9.0) ** 2).sum(), {}

    x, _ = optimise(torch.rand(3, 4), up, steps=40, lr=lr, optimizer=optimizer, upper=2.0)
    assert float(x.max()) <= 2.0 and float(x.min()) > 1.5


def test_optimiser_cannot_diverge():
    """A loss that explodes after a few steps: the best finite iterate comes back."""
    calls = {"n": 0}

    def loss_fn(x):
        calls["n"] += 1
        loss = ((x - 1.0) ** 2).sum()
        if calls["n"] > 5:
            loss = loss * float("inf")
        return loss, {}

    x, history = optimise(torch.zeros(4), loss_fn, steps=50, lr=0.1)
    assert torch.isfinite(x).all()
    assert len(history) < 50
    assert float(((x - 1.0) ** 2).sum()) < 4.0


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_optimiser_stops_at_the_first_iterate_that_reaches_the_goal(optimizer):
    scored = []

    def loss_fn(x):
        d = float(((x.detach() - 1.0) ** 2).sum())
        scored.append((x.detach().clone(), d))
        return ((x - 1.0) ** 2).sum(), {"d": d}

    x, history = optimise(torch.full((5,), 0.1), loss_fn, steps=200, lr=0.05, optimizer=optimizer,
                          stop=lambda terms: terms["d"] <= 2.0)
    first = next(i for i, (_, d) in enumerate(scored) if d <= 2.0)
    assert torch.equal(x, scored[first][0])  # that iterate, not a later or better one
    assert float(((x - 1.0) ** 2).sum()) <= 2.0
    assert len(history) < 200 and scored[-1][1] > 0.5  # it did not run on to the minimum


def test_plateau_hook_changes_the_loss_and_the_run_goes_on():
    weight, calls = [0.0], []

    def loss_fn(x):  # flat (a plateau) until the hook gives the pull towards 3 a weight
        return weight[0] * ((x - 3.0) ** 2).sum() + 0.0 * x.sum(), {}

    def on_plateau():
        calls.append(len(calls))
        if weight[0] == 0.0:
            weight[0] = 1.0
            return True
        return False

    x, history = optimise(torch.zeros(3), loss_fn, steps=400, lr=0.1, on_plateau=on_plateau)
    assert calls and weight[0] == 1.0
    assert float(x.min()) > 2.5  # the loss after the hook was minimised
    assert len(history) < 400  # the second plateau ended it (the hook said no)


def test_random_transfer_raises_the_style_weight_until_the_goal_then_stops(clips):
    content, style = (sf.read(p, dtype="float32") for p in clips)
    opts = dict(sample_rate=SR, steps=300, channels=4, bands=4, griffin_lim_iters=2)
    goal = RandomStyleTransfer(style_drop=0.8, **opts).transfer(
        content[0], content[1], style[0], style[1])
    plain = RandomStyleTransfer(style_drop=None, **opts).transfer(
        content[0], content[1], style[0], style[1])
    g, p = goal.metrics, plain.metrics
    # With the default weights alone the run stalls short of the goal ...
    assert p["style_end"] > 0.2 * p["style_start"] and p["style_weight_end"] == 3.0
    # ... so the goal run raised the style weight on the plateaus, met the goal, and
    # stopped at the first iterate that did (its steps are small: just past the goal).
    assert g["style_weight_end"] > 3.0 and g["steps"] > p["steps"]
    assert 0.1 * g["style_start"] < g["style_end"] <= 0.2 * g["style_start"]
    assert g["steps"] < 300


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_random_transfer_loss_falls_and_spectrogram_stays_non_negative(clips, optimizer):
    content, style = (sf.read(p, dtype="float32") for p in clips)
    transfer = RandomStyleTransfer(sample_rate=SR, steps=12, channels=4, bands=4,
                                   griffin_lim_iters=4, optimizer=optimizer, style_drop=None)
    result = transfer.transfer(content[0], content[1], style[0], style[1])
    losses = [h["loss"] for h in result.history]
    assert all(math.isfinite(v) for v in losses)
    assert losses[5] < losses[0] and min(losses) < 0.8 * losses[0]
    assert result.metrics["style_end"] < result.metrics["style_start"]
    assert result.result.min() >= 0.0
    assert result.audio.shape == (1, len(content[0])) and np.isfinite(result.audio).all()


def test_silent_or_short_content_is_refused():
    transfer = RandomStyleTransfer(sample_rate=SR, steps=2, channels=2)
    style = voice(0.5, 200, 1000, 3)
    with pytest.raises(AudioLoadError, match="silent"):
        transfer.transfer(np.zeros(SR, np.float32), SR, style, SR)
    with pytest.raises(InputTooShortError, match="receptive field"):
        transfer.transfer(style[:300], SR, style, SR)
    with pytest.raises(AudioLoadError, match="style clip is silent"):
        transfer.transfer(style, SR, np.full(SR, 1e-6, np.float32), SR)


# ----------------------------------------------------------------------------- classifier


@pytest.fixture(scope="module")
def tiny_genre_model(tmp_path_factory):
    from sonomorph.models.checkpoint import save_model
    from sonomorph.models.classifier import GENRE_FEATURES, GenreCNN

    torch.manual_seed(0)
    model = GenreCNN(n_classes=3, channels=(4, 4, 6, 6, 8))
    path = tmp_path_factory.mktemp("genre") / "tiny.safetensors"
    save_model(path, model.eval(), meta={"labels": ["a", "b", "c"],
                                         "features": dict(GENRE_FEATURES)})
    return path


def test_classifier_transfer_loss_falls(clips, tiny_genre_model):
    content, style = (sf.read(p, dtype="float32") for p in clips)
    transfer = ClassifierStyleTransfer(tiny_genre_model, steps=8, griffin_lim_iters=2)
    assert transfer.style_layers == ["conv1", "conv2", "conv3", "conv4"]
    assert transfer.content_layers == ["conv5"]
    result = transfer.transfer(content[0], content[1], style[0], style[1])
    losses = [h["loss"] for h in result.history]
    assert losses[4] < losses[0]
    assert result.result.min() >= 0.0  # the scaled mel, hence the mel, is non-negative
    dead = (transfer.mel.mel_basis.sum(dim=1) == 0).numpy()  # bands no sound can fill
    assert dead.any() and not result.result[dead].any()
    assert result.audio.shape[0] == 1 and np.isfinite(result.audio).all()


# ----------------------------------------------------------------------------- command


def test_style_command_writes_audio_and_plot(clips, tmp_path, capsys):
    content, style = clips
    out = tmp_path / "res" / f"{content.stem}_styled.wav"
    code = main(["-q", "style", str(content), str(style), "-o", str(tmp_path / "res"),
                 "--steps", "3", "--channels", "4", "--plot"])
    assert code == 0
    data, sr = sf.read(out)
    assert sr == SR and data.ndim == 1 and len(data) == sf.info(content).frames
    plot = tmp_path / "res" / f"{content.stem}_spectrograms.png"
    assert plot.read_bytes()[:4] == b"\x89PNG"
    # An existing output is never replaced without --force.
    code = main(["-q", "style", str(content), str(style), "-o", str(tmp_path / "res"),
                 "--steps", "2"])
    assert code == 2
    assert "exists" in capsys.readouterr().err


def test_style_command_errors_are_one_line(clips, tmp_path, capsys):
    content, style = clips
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(SR, np.float32), SR)
    code = main(["style", str(silent), str(style), "-o", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "silent" in err and "silent.wav" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_classifier_of_another_shape_is_a_one_line_error(clips, tiny_genre_model, tmp_path,
                                                          capsys):
    bad = tmp_path / "bad.safetensors"
    _rewrite_args(tiny_genre_model, bad, channels=[4, 4, 6, 6, 16])
    content, style = clips
    code = main(["style", str(content), str(style), "-o", str(tmp_path / "o"),
                 "--method", "classifier", "--model", str(bad)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "shape mismatch" in err and "bad.safetensors" in err


def _rewrite_args(src, dst, **args):
    """Copy a model file with some constructor arguments changed in its metadata."""
    import json

    import safetensors
    import safetensors.torch

    with safetensors.safe_open(str(src), "pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    info = json.loads(meta["sonomorph"])
    info["args"].update(args)
    meta["sonomorph"] = json.dumps(info)
    safetensors.torch.save_file(tensors, str(dst), metadata=meta)


def test_style_drop_option(clips, tmp_path, capsys):
    from sonomorph.cli import build_parser
    from sonomorph.cli.style import options_from_args

    content, style = clips
    base = ["style", str(content), str(style), "-o", str(tmp_path / "o")]
    parse = build_parser().parse_args
    assert options_from_args(parse(base))["style_drop"] == 0.93
    assert options_from_args(parse([*base, "--style-drop", "0.5"]))["style_drop"] == 0.5
    assert options_from_args(parse([*base, "--style-drop", "0"]))["style_drop"] is None
    assert "content_weight" not in options_from_args(parse(base))  # the method's default
    for bad in ("1", "1.5", "-0.1", "nan"):
        with pytest.raises(SystemExit) as exit_info:
            main([*base, "--style-drop", bad])
        err = capsys.readouterr().err.strip()
        assert exit_info.value.code == 2 and "--style-drop" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_output_limiter_touches_only_the_loudest_samples():
    from sonomorph.pipelines.style import _limit

    t = np.arange(22050) / 22050
    y = (0.5 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    y[::2000] = np.linspace(-1.4, 1.4, len(y[::2000]))  # a few peaks past full scale
    out = _limit(y)
    assert np.abs(out).max() <= 0.99
    quiet = np.abs(y) <= 0.8
    assert np.array_equal(out[quiet], y[quiet])  # nothing below the knee changes ...
    order = np.argsort(y, kind="stable")
    assert np.all(np.diff(out[order]) >= 0)  # ... the curve is monotonic ...
    rms = lambda a: float(np.sqrt(np.mean(a.astype(np.float64) ** 2)))  # noqa: E731
    assert rms(out) > 0.99 * rms(y)  # ... and the level stays (scaling to the peak: 0.71x)
    assert np.array_equal(_limit(0.5 * y), 0.5 * y)  # a clip below the knee is left alone
