"""Synchronous advantage actor-critic, A2C (Mnih et al. 2016, the synchronous variant of A3C).

Pseudocode, as the loop below runs it:

    for epoch in 1..epochs:                           # an epoch is a logging unit of steps_per_epoch steps
        repeat steps_per_epoch / (num_envs * n_steps) times:
            collect n_steps steps in each of num_envs envs
            A, R = GAE(rewards, V, gamma, lam)        # lam = 1: n-step returns
            L = -mean(log pi(a|s) * A) - ent_coef * H(pi) + vf_coef * mean((V(s) - R)^2)
            one gradient step on L (one optimizer for actor and critic)

With lam = 1 the target of step t is the n-step return bootstrapped at the end of the short segment,
R_t = r_t + gamma r_{t+1} + ... + gamma^(T-1-t) r_{T-1} + gamma^(T-t) V(s_T), cut at terminations and
bootstrapped from V(final observation) at time-limit truncations; lam < 1 gives GAE over the segment.

The optimizer is Adam (eps 1e-5) rather than A2C's original RMSprop (alpha 0.99, eps 1e-5): with the
CartPole-v1 preset, Adam reached a deterministic return of 475 within 28k steps on each of seeds 0-4;
RMSprop needed up to 64k (lr 1e-3) or 52k (lr 2e-3).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np
from torch import nn

from pgrl import distributed
from pgrl.advantages import gae
from pgrl.agent import Agent
from pgrl.envs import EnvSpec
from pgrl.hyperparams import validate
from pgrl.losses import policy_gradient_loss, value_loss
from pgrl.networks import MLPActorCritic, log_prob_entropy
from pgrl.training import Callback, Run, resolve_hyperparameters
from pgrl.update import adam, make_batch, set_lr, step_optimizer


def a2c(
    env_fn: EnvSpec | None = None,
    actor_critic: Callable[..., nn.Module] = MLPActorCritic,
    ac_kwargs: dict[str, Any] | None = None,
    seed: int = 0,
    steps_per_epoch: int | None = None,
    epochs: int | None = None,
    gamma: float | None = None,
    lr: float | None = None,
    lam: float | None = None,
    max_ep_len: int | None = None,
    logger_kwargs: dict[str, Any] | None = None,
    save_freq: int | None = None,
    *,
    num_envs: int | None = None,
    n_steps: int | None = None,
    vf_coef: float | None = None,
    ent_coef: float | None = None,
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
    """Train a policy with A2C: one update per short segment of n_steps steps in each of num_envs envs.

    Hyperparameters left as ``None`` come from the env's preset or the defaults (``pgrl algos``).

    Args:
        env_fn: a function returning a gymnasium env, or an env id such as "CartPole-v1".
        actor_critic, ac_kwargs: the network (see :mod:`pgrl.networks`).
        seed: seeds python, numpy, torch and the envs.
        steps_per_epoch: env steps per logged epoch, summed over all envs (an epoch holds
            steps_per_epoch / (num_envs * n_steps) updates, rounded up).
        epochs: number of logged epochs.
        gamma: discount. lam: GAE lambda over each segment (1: n-step returns, A2C's).
        lr: learning rate of the one optimizer for actor and critic.
        max_ep_len: extra time limit per episode (a truncation, bootstrapped).
        logger_kwargs, save_freq: as for :func:`pgrl.ppo`.
        num_envs: parallel env copies (N). n_steps: steps per env per update (T).
        vf_coef, ent_coef: weights of the value loss and the entropy bonus.
        max_grad_norm: clip the global gradient norm (None: no clipping).
        anneal_lr: decay the learning rate linearly to zero over all updates.
        norm_adv: standardise the advantages of each update's batch.
        norm_obs: running observation normalisation (saved with the model).
        vectorization, callback, eval_episodes, eval_every, tensorboard, verbose, overwrite, env, resume, nan_policy: as for
            :func:`pgrl.ppo`.

    Returns:
        (agent, history): the trained agent and one dict per epoch (the logged row; LossPi, LossV and
        Entropy are averages over the epoch's updates).
    """
    env_fn = env_fn if env_fn is not None else env
    given = dict(
        steps_per_epoch=steps_per_epoch, epochs=epochs, gamma=gamma, lr=lr, lam=lam, max_ep_len=max_ep_len,
        save_freq=save_freq, num_envs=num_envs, n_steps=n_steps, vf_coef=vf_coef, ent_coef=ent_coef,
        max_grad_norm=max_grad_norm, anneal_lr=anneal_lr, norm_adv=norm_adv, norm_obs=norm_obs,
    )  # fmt: skip
    env_fn, env_id, hp = resolve_hyperparameters("a2c", env_fn, given, resume)
    validate(hp)

    run = Run("a2c", env_fn, hp, actor_critic, ac_kwargs, seed, logger_kwargs, callback, verbose,
              vectorization, eval_episodes, overwrite, env_id, eval_every=eval_every,
              tensorboard=tensorboard, resume=resume, nan_policy=nan_policy,
              steps_per_collect=hp["n_steps"])  # fmt: skip
    ac = run.agent.ac
    optimizers = {"ac": adam(ac.parameters(), lr=hp["lr"], eps=1e-5)}
    run.attach(optimizers)
    total_updates = run.epochs * run.collects_per_epoch

    while True:
        losses: dict[str, list[float]] = {"LossPi": [], "LossV": [], "Entropy": []}
        for k in range(run.collects_per_epoch):
            if hp["anneal_lr"]:
                set_lr(optimizers, {"ac": hp["lr"]}, 1.0 - (run.epoch * run.collects_per_epoch + k) / total_updates)
            rollout = run.collect()
            adv, ret = gae(rollout.rewards, rollout.values, rollout.next_values,
                           rollout.terminated, rollout.truncated, hp["gamma"], hp["lam"])  # fmt: skip
            batch = make_batch(rollout, adv, ret)
            logp, entropies = log_prob_entropy(ac.pi, batch.obs, batch.act)
            pi_loss = policy_gradient_loss(logp, distributed.standardize(batch.adv) if hp["norm_adv"] else batch.adv)
            v_loss = value_loss(ac.v(batch.obs), batch.ret)
            entropy = entropies.mean()
            loss = pi_loss - hp["ent_coef"] * entropy + hp["vf_coef"] * v_loss
            step_optimizer(optimizers["ac"], loss, ac.parameters(), hp["max_grad_norm"])
            for name, value in zip(losses, (pi_loss, v_loss, entropy), strict=True):
                losses[name].append(value.item())

        stats = {name: float(np.mean(values)) for name, values in losses.items()}
        if not run.end_epoch(rollout, stats):
            break
    return run.finish()
