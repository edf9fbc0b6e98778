"""Starting a training run from the weights of a model file (``init_from``, ``--init-from``).

Every recipe's config has an ``init_from`` key: empty (random weights), a model file
(``best.safetensors`` or ``last.safetensors`` of an earlier run), ``"default"`` (the shipped
model of the recipe) or the name of another shipped model (``scream-real``). The recipe's
``build_models`` asks :meth:`sonomorph.train.TrainTask.initial_model` for the network that
file replaces; that calls :func:`load_initial_model` here, which

* reads only self-describing ``.safetensors`` files (:func:`~sonomorph.models.load_model`;
  a pickled ``.pt``/``.ckpt`` is refused before anything is read);
* checks that the file holds a model of the recipe's kind (a one-line :class:`ConfigError`
  otherwise) and that the arguments tied to the data (sample rate, channels, ...) are those
  of the model the configuration would build;
* takes the architecture from the file: where the configuration would build another one
  (other widths, depth...), the file wins and a warning lists the differences;
* returns the model in float32 and train mode, and the training steps behind it (the
  file's ``total_steps``, else its ``step``), which the trainer adds to the exported files'
  ``total_steps`` (their own ``step`` stays this run's count).

A GAN recipe starts its generator from the file (a shipped file holds the generator only)
and its discriminators from random weights.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sonomorph.errors import ConfigError

log = logging.getLogger(__name__)

__all__ = ["InitialModel", "load_initial_model", "prior_steps", "resolve_init_from"]


@dataclass(frozen=True)
class InitialModel:
    """What :func:`load_initial_model` returns."""

    model: nn.Module  #: float32, train mode, on the CPU
    meta: dict[str, Any]  #: the file's metadata
    path: Path
    prior_steps: int  #: training steps behind these weights


def resolve_init_from(source: str, shipped: str) -> Path:
    """The file ``init_from = source`` names: ``"default"`` -> the shipped ``shipped`` model;
    a bare name of a shipped model (no folder, no suffix) -> that model; otherwise a path
    (CheckpointError when it does not exist)."""
    from sonomorph.models.checkpoint import resolve_model

    return resolve_model(str(source).strip(), shipped)


def prior_steps(meta: Mapping[str, Any]) -> int:
    """The training steps behind a model file's weights: its ``total_steps`` (steps carried
    over from earlier runs included), else its ``step``, else 0."""
    for key in ("total_steps", "step"):
        value = meta.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
            return int(value)
    return 0


def _args_of(model: nn.Module) -> tuple[str, dict[str, Any]]:
    from sonomorph.models.registry import model_config

    config = model_config(model)
    return config["name"], dict(config["args"])


def _fresh_args(build: Callable[[], nn.Module]) -> tuple[str, dict[str, Any]]:
    """The registered name and arguments of the model ``build`` makes, without moving the
    global random streams (the networks built after it get the same weights as in a run
    without ``init_from``)."""
    with torch.random.fork_rng(devices=[]):
        return _args_of(build())


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def load_initial_model(source: str, kind: str, *, shipped: str | None = None,
                       fresh: Callable[[], nn.Module] | None = None,
                       must_match: Sequence[str] = ()) -> InitialModel:
    """The model of kind ``kind`` in ``source`` (see the module docstring), ready to train.

    ``shipped``: the shipped model ``"default"`` means (default: ``kind``). ``fresh``: builds
    the model the configuration describes; its constructor arguments named in ``must_match``
    must equal the file's (ConfigError otherwise), the others are only compared and any
    difference is logged (the file's architecture is used)."""
    from sonomorph.models.checkpoint import PICKLE_SUFFIXES, load_model, read_metadata

    path = resolve_init_from(source, shipped or kind)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise ConfigError("init_from needs a .safetensors model file written by sonomorph "
                          "(a run's best.safetensors or last.safetensors); pickled files "
                          "are not read", path)
    meta = read_metadata(path)
    if kind not in (meta.get("kind"), meta.get("model")):
        raise ConfigError(f"init_from needs a {kind} model file, this one holds a "
                          f"'{meta.get('model')}' model (kind '{meta.get('kind')}')", path)
    model, meta = load_model(path, expect=kind)
    name, args = _args_of(model)
    if fresh is not None:
        fresh_name, wanted = _fresh_args(fresh)
        wrong = [k for k in must_match if k in wanted and args.get(k) != wanted[k]]
        if wrong:
            needs = ", ".join(f"{k}={_show(wanted[k])}" for k in wrong)
            has = ", ".join(f"{k}={_show(args.get(k))}" for k in wrong)
            raise ConfigError(f"init_from needs a {kind} model with {needs} for this "
                              f"configuration; this file has {has}", path)
        differ = [f"{k}={_show(args[k])} (configured {_show(wanted[k])})"
                  for k in sorted(set(args) & set(wanted)) if args[k] != wanted[k]]
        if fresh_name != name:
            differ.insert(0, f"model {name!r} (configured {fresh_name!r})")
        if differ:
            log.warning("init_from %s: the architecture comes from that file, not from the "
                        "configuration: %s", path, ", ".join(differ))
    steps = prior_steps(meta)
    log.info("starting from the weights of %s (%d steps behind them)", path, steps)
    return InitialModel(model=model.float().train(), meta=dict(meta), path=path,
                        prior_steps=steps)
