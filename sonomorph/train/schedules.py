"""Learning-rate schedules the recipes share. Each is a function of the step alone, so a
resumed run follows the same rates as an uninterrupted one."""

from __future__ import annotations

import math

import torch


def warmup_cosine(optimizer: torch.optim.Optimizer, *, lr: float, lr_final: float,
                  warmup_steps: int, steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """A linear warm-up of the rate from ``lr / warmup_steps`` to ``lr`` over the first
    ``warmup_steps`` steps, then a cosine decay to ``lr_final`` at step ``steps`` (held
    there after). ``lr`` is the optimiser's own rate: the schedule scales it."""
    floor = lr_final / lr

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        t = min((step - warmup_steps) / max(1, steps - warmup_steps), 1.0)
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * t))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
