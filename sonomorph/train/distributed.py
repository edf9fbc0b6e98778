"""Several processes (torchrun) and a data order that is a pure function of the seed.

**Data order.** :class:`DeterministicBatchSampler` draws each epoch's permutation from a
``torch.Generator`` seeded with ``mix_seed(seed, epoch)``, gives each rank its own slice
(rank r takes every world_size-th index), and can start part way through an epoch, so a
resumed run skips batches without loading them. Randomness *inside* a sample (a random
crop, a gain, a mix partner) must come from :func:`sample_rng` (or
:func:`sample_generator`) with ``(seed, epoch, index)``: never from a global generator,
whose state in a DataLoader worker depends on which worker got the batch. Datasets learn the
epoch through ``set_epoch`` (see :class:`EpochAware`), which the trainer calls before it
creates each epoch's DataLoader iterator (so workers see it too).

**Processes.** When launched by ``torchrun`` (RANK, WORLD_SIZE, LOCAL_RANK in the
environment), :func:`setup_distributed` joins the process group (gloo on CPU, nccl on
CUDA), :func:`wrap_ddp` wraps each model that has trainable parameters in
DistributedDataParallel, and the helpers below let rank 0 alone write files while the
others wait for it and learn whether it succeeded.
"""

from __future__ import annotations

import datetime
import os
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import Sampler

from sonomorph.data.sampling import EpochAware, mix_seed, sample_rng  # noqa: F401 - re-exported

# ------------------------------------------------------------------ deterministic randomness

def sample_generator(seed: int, epoch: int, index: int) -> torch.Generator:
    """Like :func:`sample_rng`, as a CPU ``torch.Generator``."""
    return torch.Generator().manual_seed(mix_seed(seed, epoch, index))


class DeterministicBatchSampler(Sampler[list[int]]):
    """Batches of indices for one rank; the order depends only on (seed, epoch).

    ``length`` samples are shuffled per epoch, the first ``length // world_size *
    world_size`` are dealt to ranks (rank r gets positions r, r + world_size, ...), and each
    rank's share is cut into ``batch_size`` batches, dropping the incomplete last one, so every
    rank runs the same number of steps. ``set_epoch(epoch, start)`` starts at batch ``start``.
    """

    def __init__(self, length: int, batch_size: int, seed: int, *, rank: int = 0,
                 world_size: int = 1, shuffle: bool = True):
        if batch_size < 1 or world_size < 1 or not 0 <= rank < world_size:
            raise ValueError("bad batch_size, rank or world_size")
        self.length = int(length)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.rank = int(rank)
        self.world_size = int(world_size)
        self.shuffle = shuffle
        self.epoch = 0
        self.start = 0

    @property
    def batches_per_epoch(self) -> int:
        return (self.length // self.world_size) // self.batch_size

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Select the epoch to iterate and the batch to begin at (for a resumed run)."""
        if not 0 <= start <= self.batches_per_epoch:
            raise ValueError(f"start batch {start} outside 0..{self.batches_per_epoch}")
        self.epoch = int(epoch)
        self.start = int(start)

    def indices(self, epoch: int) -> list[int]:
        """This rank's sample indices for ``epoch``, in order (whole batches only)."""
        if self.shuffle:
            gen = torch.Generator().manual_seed(mix_seed(self.seed, epoch))
            order = torch.randperm(self.length, generator=gen)
        else:
            order = torch.arange(self.length)
        used = self.batches_per_epoch * self.batch_size * self.world_size
        return order[:used][self.rank::self.world_size].tolist()

    def __iter__(self) -> Iterator[list[int]]:
        mine = self.indices(self.epoch)
        for b in range(self.start, self.batches_per_epoch):
            yield mine[b * self.batch_size:(b + 1) * self.batch_size]

    def __len__(self) -> int:
        return self.batches_per_epoch - self.start


def seed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: seed numpy and Python in each worker from torch's
    per-worker seed (so code that does use global generators at least differs by worker)."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


# ------------------------------------------------------------------ process group

@dataclass
class DistInfo:
    """Where this process stands among its peers."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None
    owns_group: bool = False  #: True when setup_distributed created the process group

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_by_torchrun() -> bool:
    return all(k in os.environ for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def setup_distributed(device: torch.device, timeout_s: float = 1800) -> DistInfo:
    """Join the process group when launched by torchrun with more than one process (gloo
    for CPU, nccl for CUDA); a no-op otherwise. An existing group is used as it is."""
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank(),
                        dist.get_backend(), owns_group=False)
    if not launched_by_torchrun() or int(os.environ["WORLD_SIZE"]) <= 1:
        return DistInfo()
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s))
    return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank(), backend, owns_group=True)


def cleanup_distributed(info: DistInfo) -> None:
    """Leave the process group if :func:`setup_distributed` created it."""
    if info.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def wrap_ddp(model: nn.Module, info: DistInfo, device: torch.device, *,
             find_unused_parameters: bool = False) -> nn.Module:
    """``model`` wrapped in DistributedDataParallel when several processes train and it has
    trainable parameters (frozen feature extractors stay as they are)."""
    if not info.enabled or not any(p.requires_grad for p in model.parameters()):
        return model
    ids = [device.index if device.index is not None else torch.cuda.current_device()] \
        if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids,
                                               find_unused_parameters=find_unused_parameters)


def _comm_device(info: DistInfo, device: torch.device) -> torch.device:
    return device if info.backend == "nccl" else torch.device("cpu")


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def agree(info: DistInfo, ok: bool, device: torch.device) -> bool:
    """True on every rank when ``ok`` is true on every rank (a collective: all must call)."""
    if not info.enabled:
        return ok
    flag = torch.tensor([1 if ok else 0], dtype=torch.int32, device=_comm_device(info, device))
    dist.all_reduce(flag, op=dist.ReduceOp.MIN)
    return bool(flag.item())


def all_gather_text(info: DistInfo, text: str, device: torch.device) -> list[str]:
    """Every rank's ``text``, in rank order (through byte tensors: nothing is pickled)."""
    if not info.enabled:
        return [text]
    where = _comm_device(info, device)
    data = torch.frombuffer(bytearray(text.encode("utf-8")), dtype=torch.uint8).to(where)
    size = torch.tensor([data.numel()], dtype=torch.int64, device=where)
    sizes = [torch.zeros_like(size) for _ in range(info.world_size)]
    dist.all_gather(sizes, size)
    longest = int(max(s.item() for s in sizes))
    padded = torch.zeros(longest, dtype=torch.uint8, device=where)
    padded[: data.numel()] = data
    parts = [torch.zeros_like(padded) for _ in range(info.world_size)]
    dist.all_gather(parts, padded)
    return [p[: int(s.item())].cpu().numpy().tobytes().decode("utf-8") for p, s in zip(parts, sizes)]


def average_scalars(info: DistInfo, values: Mapping[str, float],
                    device: torch.device) -> dict[str, float]:
    """The mean over ranks of each value (every rank must pass the same keys)."""
    if not info.enabled or not values:
        return dict(values)
    keys = sorted(values)
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64,
                     device=_comm_device(info, device))
    dist.all_reduce(t)
    t /= info.world_size
    return dict(zip(keys, t.cpu().tolist()))
