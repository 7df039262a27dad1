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
        shape (T,), same kind (numpy/torch) and dtype as ``x`` (integer input becomes float). For
        rewards this is the return-to-go.
    """
    if x.ndim != 1:
        raise ValueError(f"discount_cumsum expects a 1-D sequence, got shape {tuple(x.shape)}")
    if isinstance(x, torch.Tensor):
        # Integer (or bool) input is promoted to float: summing discounted values in place in an
        # integer array would round down at every step.
        out = x.clone() if x.is_floating_point() else x.to(torch.get_default_dtype())
    else:
        out = np.array(x, dtype=np.result_type(x.dtype, np.float32), copy=True)
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


def returns_to_go(rewards: Array, terminated: Array, truncated: Array, gamma: float) -> tuple[Array, Array]:
    """Monte-Carlo discounted returns-to-go over N parallel env segments, and which of them are complete.

    All inputs are time-major, shape (T, N). Per env, walking backwards:

        G_t = r_t + gamma * (1 - (terminated_t or truncated_t)) * G_{t+1},   G_T = 0

    so each return sums the rewards of its own episode only. A return is *complete* when its episode
    ended (terminated or truncated) within the segment: it depends only on the future, so it is exact
    even for an episode that began in an earlier segment. The steps after an env's last episode end
    belong to an episode still running when collection stopped; their sums lack the rest of the
    episode and must be left out of a Monte-Carlo loss (the mask is False there). A time-limit
    truncation ends the sum like a termination: a Monte-Carlo return has no value to bootstrap with.

    Args:
        rewards: float array (T, N).
        terminated, truncated: bool (or 0/1) arrays (T, N).
        gamma: discount in [0, 1].

    Returns:
        (returns, complete): returns (T, N) of the same kind and dtype as ``rewards``; complete (T, N)
        boolean of the same kind (numpy bool array or torch bool tensor).
    """
    not_done = (1 - _as_float(terminated, rewards)) * (1 - _as_float(truncated, rewards))
    returns = rewards.clone() if isinstance(rewards, torch.Tensor) else np.array(rewards, copy=True)
    complete = not_done == 0  # an episode ends at this step
    for t in range(len(returns) - 2, -1, -1):
        returns[t] = returns[t] + gamma * not_done[t] * returns[t + 1]
        complete[t] = complete[t] | complete[t + 1]  # an episode ends at or after t, before the segment's end
    return returns, complete  # type: ignore[return-value]


def standardize(x: Array, eps: float = 1e-8) -> Array:
    """(x - mean(x)) / (std(x) + eps) over all elements (population std); a single element is only centred.

    Used to normalise policy-gradient weights (returns-to-go or advantages) within a batch, which
    keeps the step size independent of the scale of the rewards.
    """
    n = x.numel() if isinstance(x, torch.Tensor) else x.size
    if n < 2:
        return x - x.mean() if n else x  # nothing to scale by
    std = x.std(unbiased=False) if isinstance(x, torch.Tensor) else x.std()
    return (x - x.mean()) / (std + eps)  # type: ignore[return-value]


def standardize_rows(x: torch.Tensor, valid: torch.Tensor | None = None, eps: float = 1e-8) -> torch.Tensor:
    """:func:`standardize` of each row of a (K, B) tensor on its own (one agent's batch per row, see
    :mod:`pgrl.seeds`), over the samples with ``valid`` 1 when given (padding is left as it is, centred)."""
    n = torch.full(x.shape[:-1], float(x.shape[-1]), dtype=x.dtype) if valid is None else valid.sum(-1)
    w = torch.ones_like(x) if valid is None else valid
    mean = (x * w).sum(-1, keepdim=True) / n.clamp(min=1.0).unsqueeze(-1)
    centred = x - mean
    std = ((centred**2 * w).sum(-1, keepdim=True) / n.clamp(min=1.0).unsqueeze(-1)).sqrt()
    return torch.where((n >= 2).unsqueeze(-1), centred / (std + eps), centred)
