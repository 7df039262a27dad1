"""A rollout as a flat batch of samples, and its random minibatches."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from pgrl.rollout import Rollout


@dataclass
class Batch:
    """A rollout flattened to (B,) samples, B = T * N, as tensors."""

    obs: torch.Tensor  # (B, obs_dim)
    act: torch.Tensor  # (B,) or (B, act_dim)
    logp: torch.Tensor  # (B,) log-probs when the actions were taken
    adv: torch.Tensor  # (B,)
    ret: torch.Tensor  # (B,) critic targets

    def __len__(self) -> int:
        return len(self.adv)

    def __getitem__(self, idx: torch.Tensor) -> Batch:
        return Batch(self.obs[idx], self.act[idx], self.logp[idx], self.adv[idx], self.ret[idx])


def _flat(x: np.ndarray) -> torch.Tensor:
    # Copies, because the collector reuses its arrays for the next epoch.
    return torch.from_numpy(x.reshape(-1, *x.shape[2:]).copy())


def make_batch(rollout: Rollout, adv: np.ndarray, ret: np.ndarray) -> Batch:
    """The (T, N) rollout with its advantages and critic targets (each (T, N)) as a (B,) batch."""
    return Batch(_flat(rollout.obs), _flat(rollout.actions), _flat(rollout.logp), _flat(adv), _flat(ret))


def minibatches(batch: Batch, size: int) -> Iterator[Batch]:
    """A fresh random partition of the batch into minibatches of ``size`` (the last may be smaller)."""
    n = len(batch)
    if size >= n:
        yield batch
        return
    perm = torch.randperm(n)
    for start in range(0, n, size):
        yield batch[perm[start : start + size]]
