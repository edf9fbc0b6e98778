"""Exponential moving averages of the trained models (``config.ema_decay`` > 0) and their
place in a training checkpoint.

Each model gets one :class:`~torch.optim.swa_utils.AveragedModel` (buffers averaged too, so
a BatchNorm's running statistics follow the averaged weights); the trainer updates it after
every step and validates, samples and exports through it. In a checkpoint the averages sit
beside the models, under their names prefixed with :data:`EMA_PREFIX`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

log = logging.getLogger(__name__)

#: Prefix of the averaged models' names inside a training checkpoint.
EMA_PREFIX = "ema:"


def warmup_ema_fn(decay: float):
    """An :class:`~torch.optim.swa_utils.AveragedModel` update whose decay after ``n``
    averaged updates is ``min(decay, (1 + n) / (10 + n))``: the average spans about a tenth
    of the steps so far until it reaches ``decay``. ``n`` is stored in the average's state,
    so a resumed run continues the same ramp."""

    @torch.no_grad()
    def update(ema: list[torch.Tensor], current: list[torch.Tensor],
               n_averaged: torch.Tensor) -> None:
        n = float(n_averaged)
        d = min(decay, (1.0 + n) / (10.0 + n))
        if torch.is_floating_point(ema[0]) or torch.is_complex(ema[0]):
            torch._foreach_lerp_(ema, current, 1.0 - d)
        else:  # integer buffers (a BatchNorm's batch count): rounded like torch's own update
            for e, c in zip(ema, current, strict=True):
                e.copy_(e * d + c * (1.0 - d))

    return update


def build_ema(models: Mapping[str, nn.Module], decay: float,
              warmup: bool = False) -> dict[str, AveragedModel]:
    """One averaged copy per model, by name; none when ``decay`` is 0. With ``warmup`` the
    decay ramps up as :func:`warmup_ema_fn` says, else it is ``decay`` from the start."""
    if not decay:
        return {}
    fn = warmup_ema_fn(decay) if warmup else get_ema_multi_avg_fn(decay)
    return {n: AveragedModel(m, multi_avg_fn=fn, use_buffers=True) for n, m in models.items()}


def ema_state_dicts(ema: Mapping[str, AveragedModel]) -> dict[str, dict]:
    """The averages' state dicts under their checkpoint names (:data:`EMA_PREFIX` + name)."""
    return {EMA_PREFIX + n: a.state_dict() for n, a in ema.items()}


def split_ema_state(saved: Mapping[str, dict]) -> tuple[dict[str, dict], dict[str, dict]]:
    """A checkpoint's model state dicts split into (the models', the averages' by model
    name)."""
    models = dict(saved)
    averages = {k[len(EMA_PREFIX):]: models.pop(k) for k in list(models)
                if k.startswith(EMA_PREFIX)}
    return models, averages


def restore_ema(ema: Mapping[str, AveragedModel], saved: Mapping[str, dict],
                models: Mapping[str, nn.Module]) -> None:
    """Load each average from ``saved`` (by model name); an average the checkpoint lacks (a
    run without EMA resumed with it) starts from its model's restored weights, with a
    warning."""
    for name, avg in ema.items():
        if name in saved:
            avg.load_state_dict(saved[name])
        else:
            log.warning("the checkpoint has no moving average of '%s': it starts from the "
                        "restored weights", name)
            avg.module.load_state_dict(models[name].state_dict())
