"""A rollout as a flat batch of samples, and its random minibatches.

The rollout of K agents trained at once (:mod:`pgrl.seeds`; their env copies side by side, (T, K * N))
becomes a batch with an agent axis first, (K, B, ...), B = T * N, with ``valid`` marking each agent's
samples (a NEXT_STEP env's reset steps and REINFORCE's incomplete episodes are not): the losses reduce
over the last axis (:mod:`pgrl.losses`), so an algorithm's update serves one agent and K alike.
"""

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
    """A rollout flattened to (B,) samples, B = T * N, as tensors (K agents': (K, B, ...), see the module)."""

    obs: Obs  # (B, obs_dim) or a dict of (B, ...)
    act: torch.Tensor  # (B,) or (B, act_dim)
    logp: torch.Tensor  # (B,) log-probs when the actions were taken
    adv: torch.Tensor  # (B,)
    ret: torch.Tensor  # (B,) critic targets
    mask: torch.Tensor | None = None  # (B, mask_size) the action masks the actions were taken under
    val: torch.Tensor | None = None  # (B,) V(s) when the step was collected (PPO's clipped value loss)
    valid: torch.Tensor | None = None  # K agents': (K, B) float, 1 for an agent's sample, 0 for padding
    generators: list[torch.Generator] | None = None  # K agents': each one's own, drawing its minibatches

    def __len__(self) -> int:
        return int(self.adv.shape[-1])

    @property
    def present(self) -> np.ndarray:
        """(K,) bool: the agents with at least one sample here (an agent with none takes no step)."""
        if self.valid is None:
            return np.ones(self.agents, dtype=bool)
        return (self.valid.sum(-1) > 0).reshape(-1).numpy()

    @property
    def stacked(self) -> bool:
        """Whether the batch has an agent axis ((K, B, ...), K >= 1; see the module docstring)."""
        return self.adv.dim() > 1

    @property
    def agents(self) -> int:
        """K, the agents whose samples the batch holds (1: a plain (B,) batch)."""
        return 1 if self.adv.dim() == 1 else int(self.adv.shape[0])

    def __getitem__(self, idx: torch.Tensor) -> Batch:
        """The samples ``idx``: (b,) indices or a bool mask; for K agents' batch, (K, b) indices per agent."""
        if self.stacked:  # row k takes its own samples idx[k]
            idx = (torch.arange(idx.shape[0]).unsqueeze(-1), idx)  # type: ignore[assignment]
        obs = self.obs[idx] if isinstance(self.obs, torch.Tensor) else {k: v[idx] for k, v in self.obs.items()}
        mask = None if self.mask is None else self.mask[idx]
        val = None if self.val is None else self.val[idx]
        valid = None if self.valid is None else self.valid[idx]
        return Batch(
            obs, self.act[idx], self.logp[idx], self.adv[idx], self.ret[idx], mask, val, valid, self.generators
        )


def _flat(x: np.ndarray) -> torch.Tensor:
    # Copies, because the collector reuses its arrays for the next epoch.
    return torch.from_numpy(x.reshape(-1, *x.shape[2:]).copy())


def _flat_obs(obs: Any) -> Obs:
    return _flat(obs) if isinstance(obs, np.ndarray) else {k: _flat(v) for k, v in obs.items()}


def make_batch(rollout: Rollout, adv: np.ndarray, ret: np.ndarray, keep: np.ndarray | None = None) -> Batch:
    """The (T, N) rollout with its advantages and critic targets (each (T, N)) as a (B,) batch, with the
    values the critic gave when the steps were collected, of the steps ``keep`` (a (T, N) bool mask; default
    all) that are transitions (not a NEXT_STEP env's reset steps). K agents' rollout: a (K, T * N) batch."""
    if rollout.agents is not None:
        return _agents_batch(rollout, adv, ret, keep)
    mask = None if rollout.masks is None else _flat(rollout.masks)
    batch = Batch(_flat_obs(rollout.obs), _flat(rollout.actions), _flat(rollout.logp), _flat(adv), _flat(ret), mask,
                  _flat(rollout.values))  # fmt: skip
    if rollout.valid is not None:
        keep = rollout.valid if keep is None else keep & rollout.valid
    return batch if keep is None else batch[torch.from_numpy(keep.reshape(-1))]


def _by_agent(x: np.ndarray, agents: int) -> torch.Tensor:
    """(T, K * N, ...) -> (K, T * N, ...): agent k's env copies are columns k * N ... (k + 1) * N - 1."""
    T, KN = x.shape[:2]
    n = KN // agents
    return torch.from_numpy(np.ascontiguousarray(x.reshape(T, agents, n, *x.shape[2:]).swapaxes(0, 1)).reshape(
        agents, T * n, *x.shape[2:]))  # fmt: skip


def _agents_batch(rollout: Rollout, adv: np.ndarray, ret: np.ndarray, keep: np.ndarray | None) -> Batch:
    K = rollout.agents
    assert K is not None
    if not isinstance(rollout.obs, np.ndarray):
        raise TypeError("K agents' batches take flat observations only (pgrl.seeds stacks MLP agents)")
    keep = rollout.valid if keep is None else (keep if rollout.valid is None else keep & rollout.valid)
    valid = None if keep is None else _by_agent(keep, K).to(torch.float32)
    mask = None if rollout.masks is None else _by_agent(rollout.masks, K)
    return Batch(_by_agent(rollout.obs, K), _by_agent(rollout.actions, K), _by_agent(rollout.logp, K),
                 _by_agent(adv, K), _by_agent(ret, K), mask, _by_agent(rollout.values, K), valid,
                 rollout.generators)  # fmt: skip


def minibatches(batch: Batch, size: int) -> Iterator[Batch]:
    """A fresh random partition of the batch into minibatches of ``size`` (the last may be smaller).

    K agents' batch: each agent's valid samples are partitioned on their own, as one agent's would be
    (minibatch j holds samples j * size ... of the agent's permutation, padded with invalid ones where the
    agent has fewer; an agent with none left gets an all-invalid minibatch, which its optimizer skips)."""
    n = len(batch)
    if size >= n:
        yield batch
        return
    if batch.stacked:
        yield from _agents_minibatches(batch, size)
        return
    perm = torch.randperm(n)
    for start in range(0, n, size):
        yield batch[perm[start : start + size]]


def _agents_minibatches(batch: Batch, size: int) -> Iterator[Batch]:
    # One uniform key per sample, drawn from each agent's own generator: sorting the keys of agent k puts its
    # valid samples first, in an order that depends on its own keys only.
    gens = batch.generators
    keys = (
        torch.stack([torch.rand(len(batch), generator=g) for g in gens])
        if gens
        else torch.rand(batch.agents, len(batch))
    )
    if batch.valid is not None:
        keys = keys + (batch.valid == 0).to(keys.dtype) * 2.0
    order = keys.argsort(-1)
    n = len(batch) if batch.valid is None else int(batch.valid.sum(-1).max())
    for start in range(0, n, size):
        yield batch[order[:, start : start + size]]
