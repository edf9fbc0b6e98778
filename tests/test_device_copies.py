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
