"""Per-sample randomness that does not depend on where or when a sample is loaded.

A dataset with random augmentation draws from ``sample_rng(seed, epoch, index)``: the same
generator in the main process or any loader worker, on a first run or a resumed one, so a
training run is reproducible. The trainer calls ``set_epoch`` on :class:`EpochAware`
datasets before each epoch. (Used by :mod:`sonomorph.data.datasets` and the training
recipes; :mod:`sonomorph.train.distributed` re-exports these names.)
"""

from __future__ import annotations

import numpy as np

__all__ = ["mix_seed", "sample_rng", "EpochAware"]

_MASK64 = 2**64 - 1


def mix_seed(*values: int) -> int:
    """A well-mixed non-negative 63-bit seed from several integers (seed, epoch, index...):
    (1, 0) and (0, 1) give unrelated streams, unlike ``seed + epoch``."""
    words = np.random.SeedSequence([int(v) & _MASK64 for v in values]).generate_state(2, np.uint32)
    return (int(words[0]) << 31 | int(words[1])) & (2**63 - 1)


def sample_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The numpy generator for sample ``index`` in ``epoch``: the same wherever and whenever
    the sample is loaded (main process or any worker, first run or resumed)."""
    return np.random.default_rng(np.random.SeedSequence([int(seed) & _MASK64, int(epoch) & _MASK64,
                                                         int(index) & _MASK64]))


class EpochAware:
    """Mixin for datasets with per-sample randomness: the trainer calls ``set_epoch`` before
    each epoch; ``__getitem__`` uses ``sample_rng(self.seed, self.epoch, index)``."""

    epoch: int = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
