"""The task protocol: what a model's training code implements (:class:`TrainTask`: what
to train) and what its ``training_step`` is handed (:class:`StepContext`: backward, step,
precision). :class:`~sonomorph.train.trainer.Trainer` runs a task (how to train).

A task, in short (the GAN case; a one-optimiser task does one backward and one step)::

    class MelGANTask(TrainTask):
        def build_models(self):            return {"generator": G(...), "discriminator": D(...)}
        def build_optimizers(self, models): return {"g": Adam(models["generator"]...),
                                                    "d": Adam(models["discriminator"]...)}
        def train_dataset(self):           return CropDataset(..., seed=self.config.seed)
        def training_step(self, models, batch, ctx):
            fake = models["generator"](batch["mel"])
            d_loss = ...(models["discriminator"](fake.detach()), ...)
            ctx.backward(d_loss, "d"); ctx.step("d")
            g_loss = ...(models["discriminator"](fake), ...)
            ctx.backward(g_loss, "g"); ctx.step("g")
            return {"d": d_loss, "g": g_loss}
        def export(self, models):          return models["generator"], {"sample_rate": 22050}

Rules a task follows so that resume is exact and DDP works:

* ``training_step`` runs under autocast (bf16/fp16 per ``config.precision``); use
  ``with ctx.fp32():`` around code that must run in float32 (STFT losses...).
* Gradients start at zero every training step: the first ``ctx.backward(loss, name)`` of a
  step clears the gradients of optimiser ``name``; several backwards before ``ctx.step(name)``
  accumulate. Step an optimiser before another loss backpropagates into its parameters
  (the discriminator step comes before the generator's loss goes through the discriminator).
  One backward feeds one optimiser: a loss training two networks jointly puts both in one
  optimiser (parameter groups).
* Randomness inside a sample comes from ``sample_rng(seed, epoch, index)`` (datasets get
  ``set_epoch``); the training step may use the global torch/numpy generators (noise,
  dropout): their states are saved and restored.
* Under DDP, ``models`` in ``training_step`` are DistributedDataParallel wrappers (use
  ``ctx.unwrap(m)`` to reach attributes); compute forwards whose outputs are not
  backpropagated under ``torch.no_grad()`` and do not toggle ``requires_grad`` during
  training. ``validate``, ``log_samples`` and ``export`` get the plain modules, on rank 0.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from sonomorph.models.registry import unwrap_model
from sonomorph.train.config import TrainConfig
from sonomorph.train.logger import TrainLogger

if TYPE_CHECKING:
    from sonomorph.train.trainer import Trainer

log = logging.getLogger(__name__)

Models = dict[str, nn.Module]


class TrainTask:
    """What to train: subclass it and implement the methods that raise NotImplementedError.

    ``self.config`` is the run's config (set by the Trainer if the task has none).
    ``collate_fn`` (optional) is passed to the DataLoaders: assign a function in
    ``__init__`` (``self.collate_fn = pad_batch``) or use ``staticmethod`` at class level.
    """

    collate_fn = None
    #: training steps behind the starting weights (``init_from``, set by
    #: :meth:`initial_model`); the trainer adds them to the exported ``total_steps``
    prior_steps: int = 0
    #: the metadata of that file (None: the run started from new weights)
    init_meta: dict[str, Any] | None = None

    def __init__(self, config: TrainConfig | None = None):
        self.config = config

    def initial_model(self, kind: str, build: Callable[[], nn.Module], *,
                      shipped: str | None = None, must_match: Sequence[str] = ()) -> nn.Module:
        """``build()`` (new weights), or, when the config's ``init_from`` names a model file
        (or ``"default"``: the shipped ``shipped`` model, by default ``kind``), the model of
        that file in float32 and train mode, with :attr:`prior_steps` set to the steps
        behind it (:func:`sonomorph.train.init_from.load_initial_model`: ``must_match``
        names the constructor arguments that must equal those of ``build()``'s model)."""
        source = str(getattr(self.config, "init_from", "") or "").strip()
        if not source:
            return build()
        from sonomorph.train.init_from import load_initial_model

        init = load_initial_model(source, kind, shipped=shipped, fresh=build,
                                  must_match=must_match)
        self.prior_steps = init.prior_steps
        self.init_meta = init.meta
        return init.model

    def build_models(self) -> Models:
        """The networks, by name. Called after seeding, so initial weights are reproducible."""
        raise NotImplementedError

    def build_optimizers(self, models: Models) -> dict[str, torch.optim.Optimizer]:
        """One optimiser per independently stepped set of parameters, by name."""
        raise NotImplementedError

    def build_schedulers(self, optimizers: Mapping[str, torch.optim.Optimizer]) -> dict[str, Any]:
        """LR schedulers by name (optional); each steps once per training step."""
        return {}

    def train_dataset(self) -> Dataset:
        """A map-style dataset (with ``__len__``); may define ``set_epoch``."""
        raise NotImplementedError

    def val_dataset(self) -> Dataset | None:
        """The validation set, or None for no validation."""
        return None

    def training_step(self, models: Models, batch: Any,
                      ctx: StepContext) -> Mapping[str, float | torch.Tensor]:
        """One optimisation step on ``batch`` (already on the device) through ``ctx.backward``
        and ``ctx.step``; returns scalar values to log (losses...)."""
        raise NotImplementedError

    def validate(self, models: Models, loader: DataLoader) -> dict[str, float]:
        """Metrics over the validation loader (runs in eval mode, without gradients)."""
        return {}

    def log_samples(self, models: Models, logger: TrainLogger, step: int) -> None:
        """Log audio/spectrograms every ``sample_every`` steps (eval mode, no gradients)."""

    def export(self, models: Models) -> tuple[nn.Module, dict[str, Any]]:
        """The shippable model and its metadata (sample_rate, features...) for save_model.
        By default the only model, with no metadata."""
        if len(models) == 1:
            return next(iter(models.values())), {}
        raise NotImplementedError("a task with several models must define export()")


class StepContext:
    """What ``training_step`` uses to apply losses: backward, step, precision helpers."""

    def __init__(self, trainer: Trainer):
        self._t = trainer
        self._fresh: set[str] = set()
        self._pending: set[str] = set()
        self._values: dict[str, torch.Tensor] = {}
        self._warned: set[str] = set()
        #: optimisers whose step was skipped in this training step (non-finite gradients)
        self.skipped: set[str] = set()

    @property
    def global_step(self) -> int:
        """Index of the step being taken (0 for the first)."""
        return self._t.step

    @property
    def epoch(self) -> int:
        return self._t.epoch

    @property
    def config(self) -> TrainConfig:
        return self._t.config

    @property
    def device(self) -> torch.device:
        return self._t.device

    @property
    def rank(self) -> int:
        return self._t.dist.rank

    @property
    def world_size(self) -> int:
        return self._t.dist.world_size

    def unwrap(self, model: nn.Module) -> nn.Module:
        return unwrap_model(model)

    def lr(self, optimizer: str) -> float:
        return float(self._t.optimizers[optimizer].param_groups[0]["lr"])

    def fp32(self) -> contextlib.AbstractContextManager:
        """A block where autocast is off (float32 maths under bf16/fp16 training)."""
        return torch.autocast(self._t.device.type, enabled=False)

    def backward(self, loss: torch.Tensor, optimizer: str, *, retain_graph: bool = False) -> None:
        """Backpropagate ``loss`` for optimiser ``optimizer`` (scaled under fp16)."""
        opt = self._t.optimizers.get(optimizer)
        if opt is None:
            raise KeyError(f"no optimiser named {optimizer!r} (have {sorted(self._t.optimizers)})")
        if optimizer not in self._fresh:
            opt.zero_grad(set_to_none=True)
            self._fresh.add(optimizer)
        scaler = self._t.scalers.get(optimizer)
        with self.fp32():
            (scaler.scale(loss) if scaler is not None else loss).backward(retain_graph=retain_graph)
        self._pending.add(optimizer)

    def step(self, optimizer: str) -> None:
        """Unscale (fp16), clip (``config.grad_clip``), step and clear optimiser ``optimizer``."""
        opt = self._t.optimizers[optimizer]
        scaler = self._t.scalers.get(optimizer)
        if scaler is not None:
            scaler.unscale_(opt)
        clip = self._t.config.grad_clip
        if clip > 0:
            params = [p for g in opt.param_groups for p in g["params"] if p.grad is not None]
            norm = torch.nn.utils.clip_grad_norm_(params, clip)
            self.log(f"grad_norm/{optimizer}", norm)
            if scaler is None:
                finite = bool(torch.isfinite(norm))
                self.log(f"skipped/{optimizer}", 0.0 if finite else 1.0)
                if not finite:
                    # NaN or inf gradients: leave the weights and the optimiser's moments as
                    # they are; the trainer counts the skip and stops after too many in a row
                    self.skipped.add(optimizer)
                    opt.zero_grad(set_to_none=True)
                    self._pending.discard(optimizer)
                    return
        if scaler is not None:
            scaler.step(opt)
            scaler.update()
        else:
            opt.step()
        opt.zero_grad(set_to_none=True)
        self._pending.discard(optimizer)

    def log(self, name: str, value: float | torch.Tensor) -> None:
        """Log an extra scalar for this step (averaged over ``log_every`` like the losses)."""
        self._values[name] = torch.as_tensor(value).detach().float()

    def _begin(self) -> None:
        self._fresh.clear()
        self.skipped.clear()
        self._pending.clear()
        self._values = {}

    def _end(self) -> dict[str, torch.Tensor]:
        for name in self._pending - self._warned:
            log.warning("training_step computed gradients for optimiser %r but never called "
                        "ctx.step(%r): they are discarded", name, name)
            self._warned.add(name)
        return self._values
