"""Vanilla Policy Gradient with GAE advantages, as in Spinning Up (Sutton et al. 2000; Schulman et al. 2016).

Pseudocode, as the loop below runs it:

    for epoch in 1..epochs:
        collect steps_per_epoch steps with pi across num_envs envs
        A, R = GAE(rewards, V, gamma, lam)               # bootstrapped at truncations and segment ends
        one gradient step on the whole batch: L_pi = -mean(log pi(a|s) * A)     (A standardised)
        train_v_iters gradient steps on L_V = mean((V(s) - R)^2)

One policy step per batch is what distinguishes VPG from PPO: the samples were drawn by the current
policy, so the plain policy gradient is unbiased for exactly one step and no clipping is needed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Unpack

import torch
from torch import nn

from pgrl import distributed
from pgrl.advantages import gae
from pgrl.algos.signature import algorithm
from pgrl.batch import Batch, make_batch
from pgrl.config import RolloutConfig, boolean, hyperparameter, positive, positive_int, unit_interval
from pgrl.envs import EnvSpec
from pgrl.losses import policy_gradient_loss, sample_mean, stat, value_loss
from pgrl.networks import MLPActorCritic, log_prob_entropy
from pgrl.optim import Optimizer
from pgrl.options import RunOptions
from pgrl.training import Run, Trained


@dataclass(frozen=True)
class VPGConfig(RolloutConfig):
    """VPG's hyperparameters, with Spinning Up's defaults (the presets are tuned for speed)."""

    algo: ClassVar[str] = "vpg"

    steps_per_epoch: int = 4000
    lam: float = hyperparameter(0.97, "GAE lambda", unit_interval)
    pi_lr: float = hyperparameter(3e-4, "Adam learning rate of the policy", positive)
    vf_lr: float = hyperparameter(1e-3, "Adam learning rate of the critic", positive)
    train_v_iters: int = hyperparameter(80, "full-batch critic steps per epoch", positive_int)
    norm_adv: bool = hyperparameter(True, "standardise the advantages over the batch (Spinning Up does)", boolean)


@algorithm(VPGConfig)
def vpg(
    env_fn: EnvSpec | None = None,
    actor_critic: Callable[..., nn.Module] = MLPActorCritic,
    ac_kwargs: dict[str, Any] | None = None,
    seed: int = 0,
    steps_per_epoch: int | None = None,
    epochs: int | None = None,
    gamma: float | None = None,
    pi_lr: float | None = None,
    vf_lr: float | None = None,
    train_v_iters: int | None = None,
    lam: float | None = None,
    max_ep_len: int | None = None,
    logger_kwargs: dict[str, Any] | None = None,
    save_freq: int | None = None,
    *,
    num_envs: int | None = None,
    max_grad_norm: float | None = None,
    anneal_lr: bool | None = None,
    norm_adv: bool | None = None,
    norm_obs: bool | None = None,
    obs_clip: float | None = None,
    norm_reward: bool | None = None,
    reward_clip: float | None = None,
    **options: Unpack[RunOptions],
) -> Trained:
    """Train a policy with VPG (GAE-Lambda advantages); Spinning Up's signature and meaning.

    Hyperparameters left as ``None`` come from the env's preset or the defaults (``pgrl algos``).

    Args:
        env_fn: a function returning a gymnasium env (Spinning Up's), or an env id such as "CartPole-v1".
        actor_critic: network class called as ``actor_critic(obs_space, act_space, **ac_kwargs)``;
            see :mod:`pgrl.networks` for the protocol.
        ac_kwargs: e.g. ``dict(hidden_sizes=[64, 64], activation=torch.nn.ReLU)``.
        seed: seeds python, numpy, torch and the envs; a list of seeds trains them together (:mod:`pgrl.seeds`)
            and returns one (agent, history) per seed.
        logger_kwargs: ``dict(output_dir=..., exp_name=...)``.

    Returns:
        (agent, history): the trained :class:`pgrl.agent.Agent` and one dict per epoch (the logged row,
        Spinning Up's VPG columns: LossPi, LossV, DeltaLossPi, DeltaLossV, Entropy, KL).
    """
    run, cfg = Run.start(VPGConfig, locals())
    ac = run.agent.ac
    pi_optimizer = run.optimizer("pi", ac.pi.parameters(), cfg.pi_lr, cfg.max_grad_norm)
    v_optimizer = run.optimizer("v", ac.v.parameters(), cfg.vf_lr, cfg.max_grad_norm)

    for epoch in run.epochs():
        rollout = run.collect()
        if cfg.anneal_lr:
            run.scale_lr(1.0 - epoch / cfg.epochs)
        adv, ret = gae(rollout.rewards, rollout.values, rollout.next_values,
                       rollout.terminated, rollout.truncated, cfg.gamma, cfg.lam)  # fmt: skip
        stats = vpg_update(cfg, ac, make_batch(rollout, adv, ret), pi_optimizer, v_optimizer)
        run.log(stats)
    return run.finish()


def vpg_update(
    cfg: VPGConfig, ac: Any, batch: Batch, pi_optimizer: Optimizer, v_optimizer: Optimizer
) -> dict[str, Any]:
    """One policy-gradient step on the whole batch, then the critic's steps; the epoch's columns (per agent
    for K agents', see :mod:`pgrl.seeds`)."""
    weights = distributed.standardize(batch.adv, batch.valid) if cfg.norm_adv else batch.adv  # over all processes
    logp, entropies = log_prob_entropy(ac.pi, batch.obs, batch.act, batch.mask)
    pi_loss = policy_gradient_loss(logp, weights, batch.valid)
    entropy = stat(sample_mean(entropies.detach(), batch.valid))
    pi_optimizer.step(pi_loss, active=batch.present)

    # Then the critic, several steps towards the GAE returns.
    with torch.no_grad():
        v_loss_old = value_loss(ac.v(batch.obs), batch.ret, batch.valid)
    for _ in range(cfg.train_v_iters):
        v_optimizer.step(value_loss(ac.v(batch.obs), batch.ret, batch.valid), active=batch.present)

    with torch.no_grad():
        logp_new, _ = log_prob_entropy(ac.pi, batch.obs, batch.act, batch.mask)
        pi_loss_new = policy_gradient_loss(logp_new, weights, batch.valid)
        v_loss_new = value_loss(ac.v(batch.obs), batch.ret, batch.valid)
    return {
        "LossPi": stat(pi_loss),
        "LossV": stat(v_loss_old),
        "DeltaLossPi": stat(pi_loss_new - pi_loss),
        "DeltaLossV": stat(v_loss_new - v_loss_old),
        "Entropy": entropy,
        "KL": stat(sample_mean(batch.logp - logp_new, batch.valid)),  # Spinning Up's estimate of KL(pi_old || pi)
    }
