"""Policy-gradient losses: pure, differentiable functions of tensors shaped (B,).

Every loss reduces over the last axis only, so the same functions serve K agents trained at once
(:mod:`pgrl.seeds`): inputs (K, B) give one loss per agent, (K,). ``valid`` (same shape, 1 for a
sample, 0 for padding) makes it the mean over the valid samples: agents whose batches differ in
size are padded to one (K, B) array.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


def sample_mean(x: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """The mean over the last axis: (B,) -> (), (K, B) -> (K,); over the valid samples (``valid`` 1) when given."""
    if valid is None:
        return x.mean(-1)
    return (x * valid).sum(-1) / valid.sum(-1).clamp(min=1.0)


def stat(x: torch.Tensor) -> float | np.ndarray:
    """A logged statistic: a float for one agent's scalar, a (K,) float array for K agents'."""
    return x.item() if x.dim() == 0 else x.detach().numpy().astype(np.float64)


def per_agent(x: np.ndarray) -> Any:
    """A (K,) array of a statistic as logged: one agent's as a plain number, K agents' as the array."""
    return x.item() if x.size == 1 else x


def mean_stat(values: list[Any]) -> float | np.ndarray:
    """The mean of a statistic over an epoch's updates: of floats, a float; of (K,) arrays, per agent."""
    mean = np.mean(values, axis=0)
    return float(mean) if np.ndim(mean) == 0 else mean


def ppo_clip_loss(
    logp: torch.Tensor,
    logp_old: torch.Tensor,
    adv: torch.Tensor,
    clip_ratio: float,
    valid: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, float | np.ndarray]]:
    """PPO's clipped surrogate objective, as a loss to minimise.

        r = exp(logp - logp_old);  L = -mean(min(r * A, clip(r, 1 - eps, 1 + eps) * A))

    Args:
        logp: log pi(a|s) under the current policy, (B,), carries the gradient.
        logp_old: log pi_old(a|s) recorded when the actions were taken, (B,).
        adv: advantages, (B,).
        clip_ratio: eps > 0.
        valid: optional (B,) 1 for a sample, 0 for padding (see the module docstring); all shapes may be (K, B).

    Returns:
        (loss, info): the scalar loss, and ``info`` with ``approx_kl`` (Spinning Up's estimate
        mean(logp_old - logp) of KL(pi_old || pi)) and ``clip_frac`` (fraction of samples whose ratio
        lies outside [1 - eps, 1 + eps]); floats, or (K,) arrays for (K, B) inputs.
    """
    log_ratio = logp - logp_old
    ratio = torch.exp(log_ratio)
    clipped = torch.clamp(ratio, 1 - clip_ratio, 1 + clip_ratio)
    loss = -sample_mean(torch.min(ratio * adv, clipped * adv), valid)
    with torch.no_grad():
        approx_kl = stat(sample_mean(-log_ratio, valid))
        clip_frac = stat(sample_mean(((ratio > 1 + clip_ratio) | (ratio < 1 - clip_ratio)).to(ratio.dtype), valid))
    return loss, {"approx_kl": approx_kl, "clip_frac": clip_frac}


def value_loss(values: torch.Tensor, targets: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared error between predicted values (B,) and their targets (B,)."""
    return sample_mean((values - targets) ** 2, valid)


def clipped_value_loss(
    values: torch.Tensor,
    old_values: torch.Tensor,
    targets: torch.Tensor,
    clip: float,
    valid: torch.Tensor | None = None,
) -> torch.Tensor:
    """PPO's clipped value loss (the implementations of Schulman et al.; CleanRL's ``clip_vloss``), (B,) each.

        V_clip = V_old + clip(V - V_old, -eps, eps);  L = mean(max((V - R)^2, (V_clip - R)^2))

    The critic may not move its prediction for a state further than ``clip`` from the value it had when the
    batch was collected, in the direction that lowers the loss; ``values`` carries the gradient.
    """
    clipped = old_values + torch.clamp(values - old_values, -clip, clip)
    return sample_mean(torch.max((values - targets) ** 2, (clipped - targets) ** 2), valid)


def policy_gradient_loss(logp: torch.Tensor, weights: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """The vanilla policy-gradient loss -mean(log pi(a|s) * weight), with weights the advantages
    (VPG, A2C) or the returns-to-go (REINFORCE); shapes (B,) (``valid``: see the module docstring)."""
    return -sample_mean(logp * weights, valid)
