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

import os
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from pgrl import distributed
from pgrl.advantages import gae
from pgrl.agent import Agent
from pgrl.envs import EnvSpec
from pgrl.hyperparams import validate
from pgrl.losses import policy_gradient_loss, value_loss
from pgrl.networks import MLPActorCritic, entropy_of
from pgrl.training import Callback, Run, resolve_hyperparameters
from pgrl.update import adam, make_batch, set_lr, step_optimizer


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
    vectorization: str = "sync",
    callback: Callback | None = None,
    eval_episodes: int = 20,
    eval_every: int | None = None,
    tensorboard: bool = False,
    verbose: bool = True,
    overwrite: bool = False,
    env: EnvSpec | None = None,
    resume: str | os.PathLike[str] | None = None,
    nan_policy: str = "stop",
) -> tuple[Agent, list[dict[str, Any]]]:
    """Train a policy with VPG (GAE-Lambda advantages); Spinning Up's signature and meaning.

    Hyperparameters left as ``None`` come from the env's preset or the defaults (``pgrl algos``).

    Args:
        env_fn: a function returning a gymnasium env (Spinning Up's), or an env id such as "CartPole-v1".
        actor_critic: network class called as ``actor_critic(obs_space, act_space, **ac_kwargs)``;
            see :mod:`pgrl.networks` for the protocol.
        ac_kwargs: e.g. ``dict(hidden_sizes=[64, 64], activation=torch.nn.ReLU)``.
        seed: seeds python, numpy, torch and the envs.
        steps_per_epoch: env steps per epoch summed over all envs (rounded up to a multiple of num_envs).
        epochs: number of collect-and-update rounds (one policy step each).
        gamma: discount. lam: GAE lambda.
        pi_lr: Adam learning rate of the policy. vf_lr: Adam learning rate of the critic.
        train_v_iters: full-batch critic steps per epoch.
        max_ep_len: extra time limit per episode (a truncation, bootstrapped).
        logger_kwargs: ``dict(output_dir=..., exp_name=...)``.
        save_freq: checkpoint every this many epochs (and always at the end).
        num_envs: parallel env copies.
        max_grad_norm: clip the global gradient norm (None: no clipping).
        anneal_lr: decay the learning rates linearly to zero over the epochs (keeps a solved policy from
            drifting away late in training).
        norm_adv: standardise the advantages over the batch (Spinning Up does).
        norm_obs: running observation normalisation (saved with the model).
        vectorization, callback, eval_episodes, eval_every, tensorboard, verbose, overwrite, env, resume, nan_policy: as for
            :func:`pgrl.ppo`.

    Returns:
        (agent, history): the trained :class:`pgrl.agent.Agent` and one dict per epoch (the logged row,
        Spinning Up's VPG columns: LossPi, LossV, DeltaLossPi, DeltaLossV, Entropy, KL).
    """
    env_fn = env_fn if env_fn is not None else env
    given = dict(
        steps_per_epoch=steps_per_epoch, epochs=epochs, gamma=gamma, pi_lr=pi_lr, vf_lr=vf_lr,
        train_v_iters=train_v_iters, lam=lam, max_ep_len=max_ep_len, save_freq=save_freq, num_envs=num_envs,
        max_grad_norm=max_grad_norm, anneal_lr=anneal_lr, norm_adv=norm_adv, norm_obs=norm_obs,
    )  # fmt: skip
    env_fn, env_id, hp = resolve_hyperparameters("vpg", env_fn, given, resume)
    validate(hp)

    run = Run("vpg", env_fn, hp, actor_critic, ac_kwargs, seed, logger_kwargs, callback, verbose,
              vectorization, eval_episodes, overwrite, env_id, eval_every=eval_every,
              tensorboard=tensorboard, resume=resume, nan_policy=nan_policy)  # fmt: skip
    ac = run.agent.ac
    optimizers = {
        "pi": adam(ac.pi.parameters(), lr=hp["pi_lr"]),
        "v": adam(ac.v.parameters(), lr=hp["vf_lr"]),
    }
    run.attach(optimizers)

    base_lr = {"pi": hp["pi_lr"], "v": hp["vf_lr"]}

    while True:
        rollout = run.collect()
        if hp["anneal_lr"]:
            set_lr(optimizers, base_lr, 1.0 - run.epoch / run.epochs)
        adv, ret = gae(rollout.rewards, rollout.values, rollout.next_values,
                       rollout.terminated, rollout.truncated, hp["gamma"], hp["lam"])  # fmt: skip
        batch = make_batch(rollout, adv, ret)
        weights = distributed.standardize(batch.adv) if hp["norm_adv"] else batch.adv  # over all processes

        # One policy-gradient step on the whole batch.
        dist, logp = ac.pi(batch.obs, batch.act)
        pi_loss = policy_gradient_loss(logp, weights)
        entropy = entropy_of(dist).mean().item()
        step_optimizer(optimizers["pi"], pi_loss, ac.pi.parameters(), hp["max_grad_norm"])

        # Then the critic, several steps towards the GAE returns.
        with torch.no_grad():
            v_loss_old = value_loss(ac.v(batch.obs), batch.ret)
        for _ in range(hp["train_v_iters"]):
            step_optimizer(
                optimizers["v"], value_loss(ac.v(batch.obs), batch.ret), ac.v.parameters(), hp["max_grad_norm"]
            )

        with torch.no_grad():
            _, logp_new = ac.pi(batch.obs, batch.act)
            pi_loss_new = policy_gradient_loss(logp_new, weights)
            v_loss_new = value_loss(ac.v(batch.obs), batch.ret)
        stats = {
            "LossPi": pi_loss.item(),
            "LossV": v_loss_old.item(),
            "DeltaLossPi": (pi_loss_new - pi_loss).item(),
            "DeltaLossV": (v_loss_new - v_loss_old).item(),
            "Entropy": entropy,
            "KL": (batch.logp - logp_new).mean().item(),  # Spinning Up's estimate of KL(pi_old || pi)
        }
        if not run.end_epoch(rollout, stats):
            break
    return run.finish()
