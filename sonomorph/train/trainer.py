"""The one training loop. A model's training code is a
:class:`~sonomorph.train.task.TrainTask` (what to train); :class:`Trainer` is how:
seeding, data order, mixed precision, gradient clipping, logging, validation with the
best model kept, moving averages (:mod:`sonomorph.train.ema`), exact resume and DDP. No
model module loops by itself. The task protocol, with the rules a task follows so that
resume is exact and DDP works, is in :mod:`sonomorph.train.task`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, IterableDataset

from sonomorph.errors import CheckpointError, ConfigError, OutputExistsError, SonomorphError
from sonomorph.models.checkpoint import library_versions, save_model
from sonomorph.train import distributed as D
from sonomorph.train.config import TrainConfig, config_to_dict
from sonomorph.train.ema import build_ema, ema_state_dicts, restore_ema, split_ema_state
from sonomorph.train.logger import TrainLogger
from sonomorph.train.state import (
    STATE_DIR,
    TrainingState,
    clear_training_state,
    latest_checkpoint,
    load_training_state,
    preserve_rng,
    rng_state,
    save_training_state,
    seed_everything,
    set_rng_state,
)
from sonomorph.train.task import Models, StepContext, TrainTask
from sonomorph.utils.progress import make_progress

log = logging.getLogger(__name__)

# Config keys that may change between a run and its resumption without a warning.
_RESUMABLE_KEYS = {"steps", "out_dir", "log_every", "validate_every", "sample_every",
                   "checkpoint_every", "num_workers", "device", "resume", "force",
                   "val_batch_size", "decay_steps"}


class TrainingDiverged(SonomorphError):
    """A training loss became NaN or infinite."""


@dataclass
class TrainResult:
    """What :meth:`Trainer.fit` returns."""

    step: int
    last: Path | None = None
    best: Path | None = None
    best_metric: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)  #: the last validation's


def to_device(batch: Any, device: torch.device) -> Any:
    """``batch`` with every tensor inside (tuples, lists, dicts) moved to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return type(batch)(*(to_device(v, device) for v in batch))
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


def resolve_device(spec: str) -> torch.device:
    """``auto`` -> CUDA when available (this process's LOCAL_RANK GPU under torchrun)."""
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    if spec.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"device {spec!r} asked for, but CUDA is not available")
        if spec == "cuda":
            return torch.device("cuda", D.local_rank() if D.launched_by_torchrun() else 0)
    return torch.device(spec)


@contextlib.contextmanager
def _eval_mode(models: Models) -> Iterator[None]:
    modes = [(m, m.training) for model in models.values() for m in model.modules()]
    for model in models.values():
        model.eval()
    try:
        with torch.no_grad(), preserve_rng():
            yield
    finally:
        for m, training in modes:
            m.training = training


class Trainer:
    """Runs a :class:`TrainTask` under a :class:`TrainConfig`. After :meth:`fit`,
    ``models``/``optimizers``/``schedulers`` hold the trained objects (plain modules),
    ``step`` the steps done, ``history`` the logged averages."""

    def __init__(self, task: TrainTask, config: TrainConfig | None = None, *, quiet: bool = False):
        config = config if config is not None else getattr(task, "config", None)
        if config is None:
            raise TypeError("Trainer needs a config (argument or task.config)")
        if getattr(task, "config", None) is None:
            task.config = config
        self.task = task
        self.config = config
        self.quiet = quiet
        self.out_dir = Path(config.out_dir)
        self.state_dir = self.out_dir / STATE_DIR
        self.models: Models = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.schedulers: dict[str, Any] = {}
        self.scalers: dict[str, torch.amp.GradScaler] = {}
        self.step = 0
        self.epoch = 0
        self.history: list[dict[str, float]] = []
        self.best: dict[str, Any] | None = None  #: {"metric", "value", "step"}
        self.metrics: dict[str, float] = {}
        self.wrapped: Models = {}  #: the models as training_step sees them (DDP-wrapped)
        #: exponential moving averages of the models (``config.ema_decay`` > 0), by name
        self.ema: dict[str, torch.optim.swa_utils.AveragedModel] = {}
        self.dist = D.DistInfo()
        self.device = torch.device("cpu")
        self._saved_step = -1
        self._nonfinite_run = 0  # optimiser steps skipped in a row for non-finite gradients
        self._validated_step = -1

    # ----------------------------------------------------------------- set-up

    def fit(self) -> TrainResult:
        """Train to ``config.steps``, resuming from ``out_dir`` when it holds a checkpoint."""
        self.config.validate()
        self.device = resolve_device(self.config.device)
        self.dist = D.setup_distributed(self.device)
        try:
            return self._fit()
        finally:
            D.cleanup_distributed(self.dist)

    def _autocast(self) -> contextlib.AbstractContextManager:
        p = self.config.precision
        if p == "fp32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if p == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    def _prepare(self) -> tuple[bool, Dataset, Dataset | None]:
        cfg, task = self.config, self.task
        if cfg.precision == "fp16" and self.device.type != "cuda":
            raise ConfigError("precision 'fp16' needs a CUDA device; use 'bf16' on the CPU")
        latest = latest_checkpoint(self.state_dir)
        resume = latest is not None and cfg.resume
        earlier = latest is not None or any(
            (self.out_dir / n).exists() for n in ("last.safetensors", "best.safetensors"))
        if not resume and earlier:
            if not cfg.force:
                raise OutputExistsError("holds an earlier training run (resume is off or it has "
                                        "no training state): use --force to start afresh, or "
                                        "another output folder", self.out_dir)
            if self.dist.is_main:
                clear_training_state(self.state_dir)
            D.barrier(self.dist)
        seed_everything(cfg.seed + self.dist.rank)
        models = task.build_models()
        if not models or not all(isinstance(m, nn.Module) for m in models.values()):
            raise TypeError("build_models() must return a non-empty dict of nn.Modules")
        self.models = {n: m.to(self.device) for n, m in models.items()}
        self.ema = build_ema(self.models, cfg.ema_decay, warmup=cfg.ema_warmup)
        self.optimizers = dict(task.build_optimizers(self.models))
        self.schedulers = dict(task.build_schedulers(self.optimizers))
        if cfg.precision == "fp16":
            self.scalers = {n: torch.amp.GradScaler("cuda") for n in self.optimizers}
        train_set, val_set = task.train_dataset(), task.val_dataset()
        if isinstance(train_set, IterableDataset) or not hasattr(train_set, "__len__"):
            raise TypeError("train_dataset() must return a map-style Dataset with __len__")
        if resume:
            self._restore(latest)
        return resume, train_set, val_set

    def _eval_models(self) -> Models:
        """The models that validation, samples and exports see: the averages when EMA is on."""
        if not self.ema:
            return self.models
        return {n: self.ema[n].module if n in self.ema else m for n, m in self.models.items()}

    def _restore(self, path: Path) -> None:
        state = load_training_state(path)
        saved_models, saved_ema = split_ema_state(state.models)
        for kind, have, saved in (("models", self.models, saved_models),
                                  ("optimizers", self.optimizers, state.optimizers),
                                  ("schedulers", self.schedulers, state.schedulers),
                                  ("scalers", self.scalers, state.scalers)):
            if set(have) != set(saved):
                raise CheckpointError(f"this checkpoint holds {kind} {sorted(saved)}, the task "
                                      f"builds {sorted(have)}", path)
            for name, obj in have.items():
                try:
                    obj.load_state_dict(saved[name])
                except (RuntimeError, ValueError, KeyError) as exc:
                    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                    raise CheckpointError(f"cannot restore {kind[:-1]} '{name}': {first}",
                                          path) from None
        restore_ema(self.ema, saved_ema, self.models)
        changed = sorted(k for k, v in config_to_dict(self.config).items()
                         if k not in _RESUMABLE_KEYS and k in state.config and state.config[k] != v)
        if changed:
            log.warning("resuming with a changed config (%s): the run will not match an "
                        "uninterrupted one", ", ".join(changed))
        if len(state.rng) == self.dist.world_size:
            set_rng_state(state.rng[self.dist.rank])
        else:
            log.warning("the checkpoint was written by %d processes, this run has %d: random "
                        "streams are re-seeded", len(state.rng), self.dist.world_size)
            seed_everything(D.mix_seed(self.config.seed, self.dist.rank, state.step))
        self.step = self._saved_step = state.step
        self.best = state.extra.get("best")
        self.metrics = dict(state.extra.get("metrics", {}))

    def _loader(self, dataset: Dataset, *, batch_sampler=None, batch_size: int = 1,
                seed: int = 0) -> DataLoader:
        cfg = self.config
        batching = {"batch_sampler": batch_sampler} if batch_sampler is not None else \
            {"batch_size": batch_size, "shuffle": False}
        return DataLoader(
            dataset, **batching,
            num_workers=cfg.num_workers, collate_fn=getattr(self.task, "collate_fn", None),
            pin_memory=self.device.type == "cuda", worker_init_fn=D.seed_worker,
            # The workers' base seed is drawn from this generator, not the global one, so
            # creating an iterator never shifts the training step's random stream.
            generator=torch.Generator().manual_seed(D.mix_seed(cfg.seed, seed, self.dist.rank)))

    # ----------------------------------------------------------------- the loop

    def _fit(self) -> TrainResult:
        cfg = self.config
        resumed, train_set, val_set = self._prepare()
        if val_set is None and cfg.keep_best:
            raise ConfigError(f"keep_best = '{cfg.keep_best}' needs a validation set, and the "
                              "task has none")
        sampler = D.DeterministicBatchSampler(len(train_set), cfg.batch_size, cfg.seed,
                                              rank=self.dist.rank, world_size=self.dist.world_size)
        per_epoch = sampler.batches_per_epoch
        if per_epoch == 0:
            raise ConfigError(f"the training set has {len(train_set)} samples, fewer than "
                              f"batch_size x processes = {cfg.batch_size * self.dist.world_size}")
        self.wrapped = {n: D.wrap_ddp(m, self.dist, self.device,
                                      find_unused_parameters=cfg.ddp_find_unused_parameters)
                        for n, m in self.models.items()}
        self.logger = TrainLogger(self.out_dir / "logs", enabled=self.dist.is_main,
                                  purge_step=self.step if resumed else 0)
        ctx = StepContext(self)
        sums: dict[str, torch.Tensor] = {}
        counts: dict[str, int] = {}
        tick = (time.perf_counter(), self.step)
        progress = make_progress(quiet=self.quiet or not self.dist.is_main)
        try:
            with progress:
                bar = progress.add_task("train", total=cfg.steps, completed=self.step)
                while self.step < cfg.steps:
                    self.epoch, start = divmod(self.step, per_epoch)
                    sampler.set_epoch(self.epoch, start)
                    if hasattr(train_set, "set_epoch"):
                        train_set.set_epoch(self.epoch)
                    for batch in self._loader(train_set, batch_sampler=sampler, seed=self.epoch):
                        values = self._train_step(to_device(batch, self.device), ctx)
                        values = self._after_skips(values, ctx)
                        for k, v in values.items():
                            sums[k] = sums[k] + v if k in sums else v
                            counts[k] = counts.get(k, 0) + 1
                        self.step += 1
                        progress.update(bar, completed=self.step)
                        if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                            text = self._log_scalars(sums, counts, tick)
                            progress.update(bar, description=f"train {text}")
                            sums, counts, tick = {}, {}, (time.perf_counter(), self.step)
                        self._periodic(val_set)
                        if self.step >= cfg.steps:
                            break
                self._finish(val_set)
        except KeyboardInterrupt:
            self._save_on_interrupt()
            raise
        finally:
            self.logger.close()
        best_path = self.out_dir / "best.safetensors"
        return TrainResult(step=self.step, last=self.out_dir / "last.safetensors",
                           best=best_path if self.best else None,
                           best_metric=self.best["value"] if self.best else None,
                           metrics=dict(self.metrics))

    def _train_step(self, batch: Any, ctx: StepContext) -> dict[str, torch.Tensor]:
        ctx._begin()
        with self._autocast():
            out = self.task.training_step(self.wrapped, batch, ctx)
        extra = ctx._end()
        for sched in self.schedulers.values():
            sched.step()
        for name, avg in self.ema.items():
            avg.update_parameters(self.models[name])
        values: dict[str, torch.Tensor] = {}
        for name, value in {**dict(out or {}), **extra}.items():
            t = torch.as_tensor(value).detach()
            if t.numel() != 1:
                raise ValueError(f"training_step returned {name!r} with {t.numel()} values; "
                                 "return scalars")
            values[name] = t.float().reshape(())
        return values

    def _after_skips(self, values: dict[str, torch.Tensor],
                     ctx: StepContext) -> dict[str, torch.Tensor]:
        """Count optimiser steps skipped for non-finite gradients; drop that step's
        non-finite values from the logged means; stop after ``max_nonfinite_steps`` in a row."""
        if not ctx.skipped:
            self._nonfinite_run = 0
            return values
        self._nonfinite_run += 1
        limit = self.config.max_nonfinite_steps
        if self._nonfinite_run > limit:
            raise TrainingDiverged(
                f"non-finite gradients for {self._nonfinite_run} step(s) in a row by step "
                f"{self.step} (max_nonfinite_steps={limit}); lower lr (the checkpoint at step "
                f"{max(self._saved_step, 0)} is kept)", self.out_dir)
        log.warning("step %d: non-finite gradients for %s, optimiser step skipped",
                    self.step, ", ".join(sorted(ctx.skipped)))
        return {k: v for k, v in values.items() if bool(torch.isfinite(v))}

    def _log_scalars(self, sums: dict[str, torch.Tensor], counts: dict[str, int],
                     tick: tuple[float, int]) -> str:
        means = {k: float((sums[k] / counts[k]).item()) for k in sorted(sums)}
        means = D.average_scalars(self.dist, means, self.device)
        bad = [k for k, v in means.items() if not math.isfinite(v) and not k.startswith("grad_norm")]
        if bad and self.config.precision != "fp16":
            raise TrainingDiverged(f"loss '{bad[0]}' became {means[bad[0]]} by step {self.step}; "
                                   f"lower lr or set grad_clip (the checkpoint at step "
                                   f"{max(self._saved_step, 0)} is kept)", self.out_dir)
        rate = (self.step - tick[1]) / max(time.perf_counter() - tick[0], 1e-9)
        self.logger.scalars(means, self.step, prefix="train/")
        self.logger.scalars({n: o.param_groups[0]["lr"] for n, o in self.optimizers.items()},
                            self.step, prefix="lr/")
        self.logger.scalar("perf/steps_per_s", rate, self.step)
        self.history.append({"step": self.step, **means})
        return " ".join(f"{k}={v:.4g}" for k, v in means.items()
                        if not k.startswith(("grad_norm", "skipped/")))

    def _periodic(self, val_set: Dataset | None) -> None:
        cfg, s = self.config, self.step
        if val_set is not None and cfg.validate_every and s % cfg.validate_every == 0:
            self._validate(val_set)
        if cfg.sample_every and s % cfg.sample_every == 0:
            self._on_main(lambda: self._samples(), "log samples")
        if cfg.checkpoint_every and s % cfg.checkpoint_every == 0:
            self._checkpoint()

    def _save_on_interrupt(self) -> None:
        """Ctrl-C or SIGTERM (the CLI turns it into KeyboardInterrupt): keep the steps done
        since the last checkpoint, so a resumed run loses nothing. The step being computed
        when the signal came is not counted (its batch is trained again on resume). Skipped
        in multi-process runs, where the other ranks may not reach the same point."""
        if self.dist.world_size > 1 or self.step <= max(self._saved_step, 0):
            return
        log.warning("interrupted at step %d: writing a checkpoint to resume from", self.step)
        try:
            self._checkpoint()
        except (SonomorphError, OSError) as exc:
            log.warning("the interrupt checkpoint failed (%s); the one at step %d is kept", exc,
                        max(self._saved_step, 0))

    def _finish(self, val_set: Dataset | None) -> None:
        if val_set is not None and self.config.validate_every and self._validated_step != self.step:
            self._validate(val_set)
        if self._saved_step != self.step:
            self._checkpoint()

    # ----------------------------------------------------------------- rank-0 work

    def _on_main(self, fn, what: str) -> None:
        """Run ``fn`` on rank 0 while the others wait; if it fails, every rank raises."""
        error: BaseException | None = None
        if self.dist.is_main:
            try:
                fn()
            except Exception as exc:  # noqa: BLE001 - re-raised below after the others learn
                error = exc
        ok = D.agree(self.dist, error is None, self.device)
        if error is not None:
            raise error
        if not ok:
            raise SonomorphError(f"rank 0 failed to {what}; see its error", self.out_dir)

    def _samples(self) -> None:
        with _eval_mode(self._eval_models()):
            self.task.log_samples(self._eval_models(), self.logger, self.step)
        self.logger.flush()

    def _validate(self, val_set: Dataset) -> None:
        self._validated_step = self.step
        self._on_main(lambda: self._validate_main(val_set), "validate")

    def _validate_main(self, val_set: Dataset) -> None:
        cfg = self.config
        if hasattr(val_set, "set_epoch"):
            val_set.set_epoch(0)
        loader = self._loader(val_set, batch_size=cfg.val_batch_size or cfg.batch_size, seed=-1)
        models = self._eval_models()
        with _eval_mode(models):
            metrics = {k: float(v) for k, v in (self.task.validate(models, loader) or {}).items()}
        self.metrics = metrics
        self.logger.scalars(metrics, self.step, prefix="val/")
        self.logger.flush()
        if not cfg.keep_best:
            return
        if cfg.keep_best not in metrics:
            raise ConfigError(f"keep_best = '{cfg.keep_best}' is not a validation metric of "
                              f"this task (it reports: {', '.join(sorted(metrics)) or 'none'})")
        value = metrics[cfg.keep_best]
        better = self.best is None or (value < self.best["value"] if cfg.keep_best_mode == "min"
                                       else value > self.best["value"])
        if better and math.isfinite(value):
            self._export("best.safetensors")
            self.best = {"metric": cfg.keep_best, "value": value, "step": self.step}

    def _export(self, name: str) -> Path:
        model, meta = self.task.export(self._eval_models())
        meta = {**dict(meta), "train_config": config_to_dict(self.config), "step": self.step,
                "metrics": dict(self.metrics), "task": type(self.task).__name__,
                "ema_decay": self.config.ema_decay}
        prior = int(getattr(self.task, "prior_steps", 0) or 0)
        if prior:  # fine-tuned from another file: the steps behind these weights in all
            meta["prior_steps"] = prior
        meta["total_steps"] = prior + self.step
        return save_model(self.out_dir / name, model, meta=meta, overwrite=True)

    def _checkpoint(self) -> None:
        """Write the training state (rank 0; all ranks' RNG states) and last.safetensors."""
        rngs = [json.loads(t) for t in
                D.all_gather_text(self.dist, json.dumps(rng_state()), self.device)]

        def write() -> None:
            state = TrainingState(
                step=self.step, epoch=self.epoch,
                models={**{n: m.state_dict() for n, m in self.models.items()},
                        **ema_state_dicts(self.ema)},
                optimizers={n: o.state_dict() for n, o in self.optimizers.items()},
                schedulers={n: s.state_dict() for n, s in self.schedulers.items()},
                scalers={n: s.state_dict() for n, s in self.scalers.items()},
                rng=rngs, config=config_to_dict(self.config),
                extra={"best": self.best, "metrics": self.metrics})
            try:
                save_training_state(self.state_dir, state, versions=library_versions())
                self._export("last.safetensors")
            except OSError as exc:
                kept = f"step {self._saved_step}" if self._saved_step >= 0 else "none"
                raise CheckpointError(f"could not write the training checkpoint at step "
                                      f"{self.step} ({exc.strerror or exc}); the previous one "
                                      f"({kept}) is intact", self.state_dir) from exc

        self._on_main(write, "write the checkpoint")
        self._saved_step = self.step
