"""Advantage maths: discounted sums and generalised advantage estimation (GAE).

Pure functions on arrays. Each accepts numpy arrays or torch tensors and returns the same kind, so
the same code serves the rollout buffer (numpy) and notebooks that work in torch.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch

Array = TypeVar("Array", np.ndarray, torch.Tensor)


def discount_cumsum(x: Array, discount: float) -> Array:
    """Discounted cumulative sum along a 1-D sequence.

    ``out[t] = x[t] + discount * x[t+1] + discount**2 * x[t+2] + ...``

    Args:
        x: shape (T,), e.g. rewards of one episode.
        discount: the factor per step, usually gamma (or gamma * lambda for GAE).

    Returns:
        shape (T,), same kind (numpy/torch) and dtype as ``x``. For rewards this is the return-to-go.
    """
    if x.ndim != 1:
        raise ValueError(f"discount_cumsum expects a 1-D sequence, got shape {tuple(x.shape)}")
    out = x.clone() if isinstance(x, torch.Tensor) else np.array(x, copy=True)
    for t in range(len(out) - 2, -1, -1):
        out[t] = out[t] + discount * out[t + 1]
    return out


def _as_float(flags: Array, like: Array) -> Array:
    if isinstance(like, torch.Tensor):
        return torch.as_tensor(flags, device=like.device).to(like.dtype)
    return np.asarray(flags).astype(like.dtype)


def gae(
    rewards: Array,
    values: Array,
    next_values: Array,
    terminated: Array,
    truncated: Array,
    gamma: float,
    lam: float,
) -> tuple[Array, Array]:
    """Generalised advantage estimation (Schulman et al. 2016) over N parallel env segments.

    All inputs are time-major, shape (T, N): row t holds step t of each of the N envs.

        delta_t = r_t + gamma * (1 - terminated_t) * next_values_t - values_t
        A_t     = delta_t + gamma * lam * (1 - (terminated_t or truncated_t)) * A_{t+1}

    ``next_values_t`` is V of the observation that followed step t: for a time-limit truncation it
    must be V of the true final observation (not of the reset observation), and for the last row it is
    V of the observation where collection stopped, so both bootstrap. A termination cuts the
    bootstrap; any episode end stops the recursion, and nothing carries past the last row, so no
    advantage mixes two episodes or two envs.

    Args:
        rewards, values, next_values: float arrays (T, N).
        terminated, truncated: bool (or 0/1) arrays (T, N).
        gamma: discount in [0, 1]. lam: GAE lambda in [0, 1] (0: one-step TD error, 1: Monte Carlo).

    Returns:
        (advantages, returns), each (T, N) of the same kind and dtype as ``rewards``;
        ``returns = advantages + values`` is the critic's regression target.
    """
    not_term = 1 - _as_float(terminated, rewards)
    not_done = not_term * (1 - _as_float(truncated, rewards))
    deltas = rewards + gamma * not_term * next_values - values
    advantages = deltas.clone() if isinstance(deltas, torch.Tensor) else np.array(deltas, copy=True)
    for t in range(len(advantages) - 2, -1, -1):
        advantages[t] = advantages[t] + gamma * lam * not_done[t] * advantages[t + 1]
    return advantages, advantages + values  # type: ignore[return-value]
