"""The pipelines keep a model's work on its device: the output of a chunk is not copied back
to the CPU inside the chunk loop (issue 19, "a GPU path").

A CPU-only machine cannot see a device copy, so the copies are counted instead: every
``Tensor.cpu()`` and ``Tensor.numpy()`` call (``np.asarray(tensor)`` goes through
``numpy()``) while a pipeline processes a short and a long input with the same settings.
The long input has several more chunks; a pipeline that copies once at the end makes as
many calls for both. The separator streams its output to a file block by block, so it may
copy each finished block back (resampling and writing need it), and no more.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sonomorph.models import build_model


class CopyCounter:
    """Counts ``Tensor.cpu()`` and ``Tensor.numpy()`` calls while installed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        for name in ("cpu", "numpy"):
            original = getattr(torch.Tensor, name)

            def counted(tensor, *args, _original=original, **kwargs):
                self.calls += 1
                return _original(tensor, *args, **kwargs)

            monkeypatch.setattr(torch.Tensor, name, counted)

    def during(self, work) -> int:
        before = self.calls
        work()
        return self.calls - before


@pytest.fixture
def copies(monkeypatch):
    return CopyCounter(monkeypatch)


def tone(seconds: float, sr: int, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    x = 0.3 * np.sin(2 * np.pi * 220 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 1.3 * t))
    return np.stack([x * (1 - 0.2 * c) for c in range(channels)]).astype(np.float32)


def test_the_counter_sees_copies(copies):
    x = torch.ones(3)
    assert copies.during(lambda: (x.cpu(), x.numpy(), np.asarray(x))) == 3


@pytest.mark.parametrize("target", ["accompaniment", "mixture"])
def test_accompanist_copies_back_once_whatever_the_number_of_chunks(copies, target):
    from sonomorph.pipelines.accompany import Accompanist

    torch.manual_seed(0)
    net = build_model("pix2pix_unet", ngf=4, max_channels=8, depth=4, n_fft=64, hop=16,
                      sample_rate=8000, target=target).eval()
    acc = Accompanist(net, tile_frames=32, chunk_seconds=4.0, gl_iters=2)
    chunks = []

    def run(seconds: float) -> int:
        n = copies.during(lambda: acc.generate(tone(seconds, 8000), 8000,
                                               progress=lambda d, t: chunks.append(t)))
        return n

    short, long = run(6.0), run(16.0)
    assert chunks[-1] > chunks[0] + 3  # the long input has more chunks (progress counts them)
    assert short > 0 and long == short


def test_scream_chunked_rendering_copies_back_once(copies):
    from sonomorph.pipelines.scream import Screamer
    from sonomorph.pipelines.streaming import TorchBackend

    torch.manual_seed(0)
    backend = TorchBackend(build_model("melgan", ngf=2).eval())
    screamer = Screamer(backend=backend, chunk_seconds=0.25, crossfade_seconds=0.02)
    sr = backend.sample_rate
    short = copies.during(lambda: screamer.wet(tone(1.0, sr)[0]))
    long = copies.during(lambda: screamer.wet(tone(3.0, sr)[0]))  # 8 more chunks
    assert short > 0 and long == short


def test_separator_copies_each_finished_block_back_once_at_most(copies):
    from sonomorph.pipelines.separate import Separator

    torch.manual_seed(0)
    net = build_model("mask_separator", n_fft=512, hop=128, hidden=8, layers=1).eval()
    sep = Separator(net, chunk_seconds=0.25, overlap=0.1)
    sr = sep.sample_rate
    step = sep.chunk - sep.overlap

    def chunks(seconds: float) -> int:
        return 1 + int(np.ceil(max(0, int(seconds * sr) - sep.chunk) / step))

    short = copies.during(lambda: sep.separate(tone(1.0, sr, 2), sr))
    long = copies.during(lambda: sep.separate(tone(3.0, sr, 2), sr))
    extra = chunks(3.0) - chunks(1.0)
    assert extra >= 8
    # .cpu() then .numpy() of each finished block: two calls per chunk, nothing more
    assert long - short <= 2 * extra


def test_scream_judge_copies_its_scores_back_once_whatever_the_number_of_windows(copies):
    from sonomorph.models.scream_judge import ScreamJudge, clip_scores

    torch.manual_seed(0)
    judge = ScreamJudge(channels=8, embedding=4).eval()
    rng = np.random.default_rng(0)

    def score(seconds: float) -> tuple[int, int]:
        wav = torch.from_numpy((0.1 * rng.standard_normal(int(seconds * judge.sample_rate))
                                ).astype(np.float32))
        out: list = []
        n = copies.during(lambda: out.append(clip_scores(judge, wav, batch=2)))
        return n, out[0][0].shape[0]

    (short, short_windows), (long, long_windows) = score(2.0), score(8.0)
    assert long_windows > short_windows + 6  # several more batches of two windows
    assert short > 0 and long == short


class ReadbackCounter:
    """Counts every way a tensor's values come back to the host: ``item()``, ``cpu()``,
    ``tolist()``, ``numpy()`` and ``float(tensor)``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        for name in ("item", "cpu", "tolist", "numpy", "__float__"):
            original = getattr(torch.Tensor, name)

            def counted(tensor, *args, _original=original, **kwargs):
                self.calls += 1
                return _original(tensor, *args, **kwargs)

            monkeypatch.setattr(torch.Tensor, name, counted)


@pytest.fixture(scope="module")
def tiny_genre(tmp_path_factory):
    from sonomorph.models.checkpoint import save_model
    from sonomorph.models.classifier import GENRE_FEATURES, GenreCNN

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("genre") / "tiny.safetensors"
    save_model(path, GenreCNN(n_classes=3, channels=(4, 4, 6, 6, 8)).eval(),
               meta={"labels": ["a", "b", "c"], "features": dict(GENRE_FEATURES)})
    return path


def test_the_readback_counter_sees_item_float_and_tolist(monkeypatch):
    counter = ReadbackCounter(monkeypatch)
    x = torch.ones(2)
    x[0].item(), float(x[1]), x.tolist(), x.cpu()
    assert counter.calls == 4


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_classifier_style_reads_the_loss_back_once_a_step_whatever_the_windows(
        monkeypatch, tiny_genre, optimizer):
    """The classifier method's loss runs over window groups; their loss terms are read
    back to the host together, not one group at a time: a long content (five groups of
    one window) costs as many readbacks as a short one (one group) for the same steps."""
    from sonomorph.pipelines.style import ClassifierStyleTransfer

    transfer = ClassifierStyleTransfer(tiny_genre, steps=2, batch_windows=1, style_drop=None,
                                       optimizer=optimizer, griffin_lim_iters=1)
    sr = transfer.sample_rate
    windows = []

    def readbacks(seconds: float) -> int:
        counter = ReadbackCounter(monkeypatch)
        result = transfer.transfer(tone(seconds, sr)[0], sr, tone(1.0, sr)[0], sr)
        windows.append(-(-result.result.shape[-1] // (transfer.window // 2)))
        assert len(result.history) == 2  # no goal, no plateau: exactly the steps asked
        monkeypatch.undo()
        return counter.calls

    short, long = readbacks(1.0), readbacks(12.0)
    assert windows[1] >= windows[0] + 3  # several more windows, hence groups
    assert short > 0 and long == short


def test_classifier_style_terms_are_the_groups_read_one_by_one(tiny_genre):
    """Reading the groups' terms back together changes no number: the recorded content and
    style terms of the result equal the same groups scored and read back one at a time,
    summed in Python floats (what the method did before)."""
    from sonomorph.models.classifier import scale_mel
    from sonomorph.pipelines.style import ClassifierStyleTransfer

    transfer = ClassifierStyleTransfer(tiny_genre, steps=3, batch_windows=1, style_drop=None,
                                       griffin_lim_iters=1, seed=3)
    sr = transfer.sample_rate
    content, style = tone(12.0, sr)[0], tone(1.0, sr)[0]
    result = transfer.transfer(content, sr, style, sr)
    model, w = transfer.model, transfer.window
    x = torch.from_numpy(result.result)

    def windows(m: torch.Tensor) -> list[torch.Tensor]:
        starts = list(range(0, max(1, m.shape[-1] - w + 1), w // 2))
        if starts[-1] + w < m.shape[-1]:
            starts.append(m.shape[-1] - w)
        return [m[..., a:a + w][None] for a in starts]

    with torch.no_grad():
        cm = scale_mel(transfer.mel(torch.from_numpy(content)))
        sm = scale_mel(transfer.mel(torch.from_numpy(style)))
        targets = {}
        for win in windows(sm):
            f = model.features(win, transfer.style_layers)
            for n in transfer.style_layers:
                targets.setdefault(n, []).append(transfer.gram_loss.gram(f[n]))
        targets = {n: torch.cat(g).mean(dim=0) for n, g in targets.items()}
        groups = list(zip(windows(x), windows(cm)))
        total_c = total_s = 0.0
        for xw, cw in groups:
            fx = model.features(xw, transfer.style_layers + transfer.content_layers)
            fc = model.features(cw, transfer.content_layers)
            lc = sum(transfer.content_loss(fx[n], fc[n]) for n in transfer.content_layers)
            ls = sum(transfer.gram_loss(fx[n], targets[n]) for n in transfer.style_layers)
            total_c += float(lc / len(transfer.content_layers)) * 1 / len(groups)
            total_s += float(ls / len(transfer.style_layers)) * 1 / len(groups)
    assert len(groups) >= 4
    assert result.metrics["content_end"] == total_c
    assert result.metrics["style_end"] == total_s
