"""Pieces of the update step that algorithms share: the flat batch, minibatches, optimizer steps."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
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


def step_optimizer(
    optimizer: torch.optim.Optimizer,
    loss: torch.Tensor,
    params: Iterable[torch.nn.Parameter],
    max_grad_norm: float | None,
) -> None:
    """zero_grad, backward, optional global-norm clipping, step."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if max_grad_norm is not None:
        torch.nn.utils.clip_grad_norm_(list(params), max_grad_norm)
    optimizer.step()


def set_lr(optimizers: Mapping[str, torch.optim.Optimizer], base_lr: Mapping[str, float], fraction: float) -> None:
    """Set each optimizer's learning rate to base_lr * fraction (linear annealing)."""
    for name, opt in optimizers.items():
        for group in opt.param_groups:
            group["lr"] = base_lr[name] * fraction
