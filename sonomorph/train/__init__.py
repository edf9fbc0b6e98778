"""Training: the one trainer, typed configs, training checkpoints and DDP.

A model's training code is a :class:`TrainTask` plus a :class:`TrainConfig` subclass::

    cfg = load_config(MyConfig, "my.toml", {"steps": 2000})
    result = Trainer(MyTask(cfg), cfg).fit()   # out_dir/best.safetensors, last.safetensors

Launch on several processes with ``torchrun --nproc_per_node N -m sonomorph train ...``.
See :mod:`sonomorph.train.task` for the task protocol and the rules that make resume exact.
"""

import importlib

# Exports load lazily (PEP 562): the CLI imports sonomorph.train.config to build its parser,
# and that must not pull in torch.
_EXPORTS = {
    "ConfigError": "sonomorph.errors",
    "TrainConfig": "sonomorph.train.config",
    "add_config_arguments": "sonomorph.train.config",
    "config_from_args": "sonomorph.train.config",
    "config_from_dict": "sonomorph.train.config",
    "config_to_dict": "sonomorph.train.config",
    "load_config": "sonomorph.train.config",
    "parse_override": "sonomorph.train.config",
    "DeterministicBatchSampler": "sonomorph.train.distributed",
    "EpochAware": "sonomorph.train.distributed",
    "mix_seed": "sonomorph.train.distributed",
    "sample_generator": "sonomorph.train.distributed",
    "sample_rng": "sonomorph.train.distributed",
    "TrainLogger": "sonomorph.train.logger",
    "TrainingState": "sonomorph.train.state",
    "latest_checkpoint": "sonomorph.train.state",
    "load_training_state": "sonomorph.train.state",
    "save_training_state": "sonomorph.train.state",
    "Trainer": "sonomorph.train.trainer",
    "TrainingDiverged": "sonomorph.train.trainer",
    "TrainResult": "sonomorph.train.trainer",
    "StepContext": "sonomorph.train.task",
    "TrainTask": "sonomorph.train.task",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sonomorph.train' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
