"""Tiny training tasks for the trainer tests, and the DDP worker script.

* :class:`RegressionTask`: one network (with dropout, so the global RNG matters), one
  optimiser with an LR scheduler, per-sample noise from ``sample_rng``.
* :class:`GanTask`: a generator and a critic with two optimisers (critic step, then generator
  step in one training step), random crops and gains drawn per sample, latent noise from the
  global generator, audio/spectrogram samples.

Both deliberately draw from the global RNG in ``validate``/``log_samples``, which must not
change the training trajectory.

Run as a script under torchrun (see tests/test_ddp.py): ``python -m torch.distributed.run
--standalone --nproc_per_node 2 tests/_toy_task.py OUT_DIR``.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from sonomorph.models import register_model
from sonomorph.train import EpochAware, TrainConfig, TrainTask, sample_rng


@register_model("toy_regressor", kind="toy")
class ToyRegressor(nn.Module):
    """inputs -> hidden -> 1, with dropout."""

    def __init__(self, inputs: int = 4, hidden: int = 16, dropout: float = 0.1):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(inputs, hidden), nn.Tanh(), nn.Dropout(dropout),
                                 nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@register_model("toy_generator", kind="toy_gan")
class ToyGenerator(nn.Module):
    def __init__(self, latent: int = 4, length: int = 8):
        super().__init__()
        self.latent = latent
        self.net = nn.Sequential(nn.Linear(latent, 16), nn.ReLU(), nn.Linear(16, length), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


@register_model("toy_critic")
class ToyCritic(nn.Module):
    def __init__(self, length: int = 8):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(length, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@dataclass
class Shape:
    hidden: int = 16
    sizes: list[int] = field(default_factory=lambda: [1, 2])


@dataclass
class ToyConfig(TrainConfig):
    steps: int = 12
    batch_size: int = 8
    lr: float = 1e-2
    checkpoint_every: int = 0
    log_every: int = 2
    validate_every: int = 0
    n_train: int = 40
    n_val: int = 16
    noise: float = 0.05
    shape: Shape = field(default_factory=Shape)


class RegressionData(EpochAware, Dataset):
    """Fixed inputs and targets; the noise added to a target depends on (seed, epoch, index)."""

    def __init__(self, n: int, seed: int, noise: float, data_seed: int = 1234):
        weights = torch.randn(4, 1, generator=torch.Generator().manual_seed(7))
        self.x = torch.randn(n, 4, generator=torch.Generator().manual_seed(data_seed))
        self.y = self.x @ weights
        self.seed = seed
        self.noise = noise

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int):
        jitter = sample_rng(self.seed, self.epoch, i).normal(0.0, self.noise)
        return self.x[i], self.y[i] + torch.tensor([jitter], dtype=torch.float32)


class RegressionTask(TrainTask):
    def __init__(self, config: ToyConfig):
        super().__init__(config)
        self.autocast_dtypes: list[torch.dtype] = []  # dtype of the net output in each step
        self.validations: list[int] = []

    def build_models(self):
        return {"net": ToyRegressor(hidden=self.config.shape.hidden)}

    def build_optimizers(self, models):
        return {"opt": torch.optim.Adam(models["net"].parameters(), lr=self.config.lr)}

    def build_schedulers(self, optimizers):
        return {"opt": torch.optim.lr_scheduler.StepLR(optimizers["opt"], step_size=5, gamma=0.8)}

    def train_dataset(self):
        return RegressionData(self.config.n_train, self.config.seed, self.config.noise)

    def val_dataset(self):
        return RegressionData(self.config.n_val, self.config.seed, 0.0, data_seed=4321)

    def training_step(self, models, batch, ctx):
        x, y = batch
        pred = models["net"](x)
        self.autocast_dtypes.append(pred.dtype)
        with ctx.fp32():
            loss = F.mse_loss(pred.float(), y)
        ctx.backward(loss, "opt")
        ctx.step("opt")
        return {"loss": loss}

    def validate(self, models, loader):
        torch.rand(3)  # must not disturb training's random stream
        np.random.rand(3)
        self.validations.append(1)
        total, count = 0.0, 0
        for x, y in loader:
            total += F.mse_loss(models["net"](x), y, reduction="sum").item()
            count += len(x)
        return {"loss": total / count}


class CropData(EpochAware, Dataset):
    """Fixed 32-sample sines; each item is a random 8-sample crop at a random gain."""

    def __init__(self, n: int, seed: int, length: int = 8):
        g = torch.Generator().manual_seed(99)
        t = torch.arange(32, dtype=torch.float32)
        phase = torch.rand(n, 1, generator=g) * 6.28
        freq = 0.2 + torch.rand(n, 1, generator=g) * 0.3
        self.signals = torch.sin(freq * t + phase)
        self.seed = seed
        self.length = length

    def __len__(self) -> int:
        return len(self.signals)

    def __getitem__(self, i: int) -> torch.Tensor:
        rng = sample_rng(self.seed, self.epoch, i)
        start = int(rng.integers(0, 32 - self.length + 1))
        gain = float(rng.uniform(0.5, 1.0))
        return self.signals[i, start:start + self.length] * gain


class GanTask(TrainTask):
    def build_models(self):
        return {"generator": ToyGenerator(), "critic": ToyCritic()}

    def build_optimizers(self, models):
        lr = self.config.lr
        return {"d": torch.optim.Adam(models["critic"].parameters(), lr=lr, betas=(0.5, 0.9)),
                "g": torch.optim.Adam(models["generator"].parameters(), lr=lr, betas=(0.5, 0.9))}

    def train_dataset(self):
        return CropData(self.config.n_train, self.config.seed)

    def val_dataset(self):
        return CropData(self.config.n_val, self.config.seed)

    def training_step(self, models, batch, ctx):
        generator, critic = models["generator"], models["critic"]
        z = torch.randn(len(batch), 4, device=batch.device)  # global RNG: saved and restored
        fake = generator(z)
        d_loss = F.softplus(-critic(batch)).mean() + F.softplus(critic(fake.detach())).mean()
        ctx.backward(d_loss, "d")
        ctx.step("d")
        g_loss = F.softplus(-critic(fake)).mean()
        ctx.backward(g_loss, "g")
        ctx.step("g")
        return {"d": d_loss, "g": g_loss}

    def validate(self, models, loader):
        torch.randn(5)
        scores = [models["critic"](x).mean().item() for x in loader]
        return {"critic_real": float(np.mean(scores))}

    def log_samples(self, models, logger, step):
        z = torch.randn(64, 4)
        audio = models["generator"](z).reshape(-1)
        logger.audio("sample/audio", audio, step, sample_rate=8000)
        logger.spectrogram("sample/spectrogram", audio, step, n_fft=64, hop_length=16)

    def export(self, models):
        return models["generator"], {"sample_rate": 8000}


# ---------------------------------------------------------------------- DDP worker script

def _ddp_main(out: Path) -> None:
    """Three runs under the same process group: uninterrupted (a), interrupted and resumed
    (b); each rank writes its final weights and the saving calls it made."""
    import torch.distributed as dist
    from safetensors.torch import save_file

    import sonomorph.train.trainer as trainer_module
    from sonomorph.train import Trainer

    dist.init_process_group("gloo")
    rank = dist.get_rank()
    calls = {"save_training_state": 0, "save_model": 0}

    def counting(name, fn):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return fn(*args, **kwargs)
        return wrapper

    for name in calls:
        setattr(trainer_module, name, counting(name, getattr(trainer_module, name)))

    def fit(sub: str, steps: int) -> Trainer:
        cfg = ToyConfig(out_dir=str(out / sub), steps=steps, batch_size=4, n_train=28,
                        checkpoint_every=steps, log_every=2, validate_every=4,
                        device="cpu")
        trainer = Trainer(GanTask(cfg), cfg, quiet=True)
        trainer.fit()
        return trainer

    finals = {"a": fit("a", 8)}
    fit("b", 4)
    finals["b"] = fit("b", 8)
    for sub, trainer in finals.items():
        tensors = {f"{m}/{k}": v.contiguous() for m, model in trainer.models.items()
                   for k, v in model.state_dict().items()}
        for name, opt in trainer.optimizers.items():
            for idx, st in opt.state_dict()["state"].items():
                for k, v in st.items():
                    tensors[f"opt/{name}/{idx}/{k}"] = v.reshape(-1).contiguous()
        save_file(tensors, str(out / f"final-{sub}-rank{rank}.safetensors"))
    (out / f"calls-rank{rank}.json").write_text(json.dumps(calls))
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    torch.set_num_threads(1)
    _ddp_main(Path(sys.argv[1]))
