"""A rollout as a flat batch of samples, and its random minibatches."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from pgrl.rollout import Rollout

Obs = torch.Tensor | dict[str, torch.Tensor]
"""Network inputs: (B, obs_dim), or a dict of (B, ...) tensors for an observation with images (pgrl.spaces)."""


@dataclass
class Batch:
    """A rollout flattened to (B,) samples, B = T * N, as tensors."""

    obs: Obs  # (B, obs_dim) or a dict of (B, ...)
    act: torch.Tensor  # (B,) or (B, act_dim)
    logp: torch.Tensor  # (B,) log-probs when the actions were taken
    adv: torch.Tensor  # (B,)
    ret: torch.Tensor  # (B,) critic targets
    mask: torch.Tensor | None = None  # (B, mask_size) the action masks the actions were taken under
    val: torch.Tensor | None = None  # (B,) V(s) when the step was collected (PPO's clipped value loss)

    def __len__(self) -> int:
        return len(self.adv)

    def __getitem__(self, idx: torch.Tensor) -> Batch:
        obs = self.obs[idx] if isinstance(self.obs, torch.Tensor) else {k: v[idx] for k, v in self.obs.items()}
        mask = None if self.mask is None else self.mask[idx]
        val = None if self.val is None else self.val[idx]
        return Batch(obs, self.act[idx], self.logp[idx], self.adv[idx], self.ret[idx], mask, val)


def _flat(x: np.ndarray) -> torch.Tensor:
    # Copies, because the collector reuses its arrays for the next epoch.
    return torch.from_numpy(x.reshape(-1, *x.shape[2:]).copy())


def _flat_obs(obs: Any) -> Obs:
    return _flat(obs) if isinstance(obs, np.ndarray) else {k: _flat(v) for k, v in obs.items()}


def make_batch(rollout: Rollout, adv: np.ndarray, ret: np.ndarray, keep: np.ndarray | None = None) -> Batch:
    """The (T, N) rollout with its advantages and critic targets (each (T, N)) as a (B,) batch, with the
    values the critic gave when the steps were collected, of the steps ``keep`` (a (T, N) bool mask; default
    all) that are transitions (not a NEXT_STEP env's reset steps)."""
    mask = None if rollout.masks is None else _flat(rollout.masks)
    batch = Batch(_flat_obs(rollout.obs), _flat(rollout.actions), _flat(rollout.logp), _flat(adv), _flat(ret), mask,
                  _flat(rollout.values))  # fmt: skip
    if rollout.valid is not None:
        keep = rollout.valid if keep is None else keep & rollout.valid
    return batch if keep is None else batch[torch.from_numpy(keep.reshape(-1))]


def minibatches(batch: Batch, size: int) -> Iterator[Batch]:
    """A fresh random partition of the batch into minibatches of ``size`` (the last may be smaller)."""
    n = len(batch)
    if size >= n:
        yield batch
        return
    perm = torch.randperm(n)
    for start in range(0, n, size):
        yield batch[perm[start : start + size]]
