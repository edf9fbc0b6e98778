"""Training: the one trainer, typed configs, training checkpoints and DDP.

A model's training code is a :class:`TrainTask` plus a :class:`TrainConfig` subclass::

    cfg = load_config(MyConfig, "my.toml", {"steps": 2000})
    result = Trainer(MyTask(cfg), cfg).fit()   # out_dir/best.safetensors, last.safetensors

Launch on several processes with ``torchrun --nproc_per_node N -m sonomorph train ...``.
See :mod:`sonomorph.train.trainer` for the task protocol and the rules that make resume exact.
"""

from sonomorph.errors import ConfigError
from sonomorph.train.config import (
    TrainConfig,
    add_config_arguments,
    config_from_args,
    config_from_dict,
    config_to_dict,
    load_config,
    parse_override,
)
from sonomorph.train.distributed import (
    DeterministicBatchSampler,
    EpochAware,
    mix_seed,
    sample_generator,
    sample_rng,
)
from sonomorph.train.logger import TrainLogger
from sonomorph.train.state import (
    TrainingState,
    latest_checkpoint,
    load_training_state,
    save_training_state,
)
from sonomorph.train.trainer import (
    StepContext,
    Trainer,
    TrainingDiverged,
    TrainResult,
    TrainTask,
)

__all__ = [
    "ConfigError",
    "TrainConfig",
    "load_config",
    "config_from_dict",
    "config_to_dict",
    "config_from_args",
    "add_config_arguments",
    "parse_override",
    "Trainer",
    "TrainTask",
    "StepContext",
    "TrainResult",
    "TrainingDiverged",
    "TrainLogger",
    "DeterministicBatchSampler",
    "EpochAware",
    "sample_rng",
    "sample_generator",
    "mix_seed",
    "TrainingState",
    "save_training_state",
    "load_training_state",
    "latest_checkpoint",
]
