"""Policy-gradient losses: pure, differentiable functions of tensors shaped (B,)."""

from __future__ import annotations

import torch


def ppo_clip_loss(
    logp: torch.Tensor, logp_old: torch.Tensor, adv: torch.Tensor, clip_ratio: float
) -> tuple[torch.Tensor, dict[str, float]]:
    """PPO's clipped surrogate objective, as a loss to minimise.

        r = exp(logp - logp_old);  L = -mean(min(r * A, clip(r, 1 - eps, 1 + eps) * A))

    Args:
        logp: log pi(a|s) under the current policy, (B,), carries the gradient.
        logp_old: log pi_old(a|s) recorded when the actions were taken, (B,).
        adv: advantages, (B,).
        clip_ratio: eps > 0.

    Returns:
        (loss, info): the scalar loss, and ``info`` with ``approx_kl`` (Spinning Up's estimate
        mean(logp_old - logp) of KL(pi_old || pi)) and ``clip_frac`` (fraction of samples whose ratio
        lies outside [1 - eps, 1 + eps]).
    """
    log_ratio = logp - logp_old
    ratio = torch.exp(log_ratio)
    clipped = torch.clamp(ratio, 1 - clip_ratio, 1 + clip_ratio)
    loss = -torch.min(ratio * adv, clipped * adv).mean()
    with torch.no_grad():
        approx_kl = (-log_ratio).mean().item()
        clip_frac = ((ratio > 1 + clip_ratio) | (ratio < 1 - clip_ratio)).float().mean().item()
    return loss, {"approx_kl": approx_kl, "clip_frac": clip_frac}


def value_loss(values: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean squared error between predicted values (B,) and their targets (B,)."""
    return ((values - targets) ** 2).mean()


def clipped_value_loss(
    values: torch.Tensor, old_values: torch.Tensor, targets: torch.Tensor, clip: float
) -> torch.Tensor:
    """PPO's clipped value loss (the implementations of Schulman et al.; CleanRL's ``clip_vloss``), (B,) each.

        V_clip = V_old + clip(V - V_old, -eps, eps);  L = mean(max((V - R)^2, (V_clip - R)^2))

    The critic may not move its prediction for a state further than ``clip`` from the value it had when the
    batch was collected, in the direction that lowers the loss; ``values`` carries the gradient.
    """
    clipped = old_values + torch.clamp(values - old_values, -clip, clip)
    return torch.max((values - targets) ** 2, (clipped - targets) ** 2).mean()


def policy_gradient_loss(logp: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """The vanilla policy-gradient loss -mean(log pi(a|s) * weight), with weights the advantages
    (VPG, A2C) or the returns-to-go (REINFORCE); shapes (B,)."""
    return -(logp * weights).mean()
