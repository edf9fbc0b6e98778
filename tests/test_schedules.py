"""The shared learning-rate schedules (sonomorph.train.schedules): the rate at each step."""

from __future__ import annotations

import pytest
import torch

from sonomorph.train.schedules import warmup_cosine


def _rates(steps_to_read: int, **schedule) -> list[float]:
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=schedule["lr"])
    sched = warmup_cosine(opt, **schedule)
    rates = []
    for _ in range(steps_to_read):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return rates


def test_warmup_then_cosine_to_the_final_rate():
    # lr 2.0 -> 0.2: a 4-step linear warm-up (0.5, 1.0, 1.5, 2.0), then half a cosine over
    # the 10 steps left, reaching 0.2 at step 14 and staying there.
    r = _rates(20, lr=2.0, lr_final=0.2, warmup_steps=4, steps=14)
    assert r[:4] == pytest.approx([0.5, 1.0, 1.5, 2.0])
    assert r[4] == pytest.approx(2.0)                 # cosine at t = 0
    assert r[9] == pytest.approx(0.2 + 1.8 * 0.5)     # t = 1/2: halfway between the rates
    assert r[14] == pytest.approx(0.2)
    assert r[19] == pytest.approx(0.2)                # held after the last step
    assert all(a >= b for a, b in zip(r[3:], r[4:], strict=False))


def test_no_warmup_starts_at_the_full_rate():
    r = _rates(3, lr=1.0, lr_final=0.0, warmup_steps=0, steps=2)
    assert r == pytest.approx([1.0, 0.5, 0.0])
