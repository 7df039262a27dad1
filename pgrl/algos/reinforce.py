"""REINFORCE: Monte-Carlo policy gradient on discounted returns-to-go (Williams 1992).

Pseudocode, as the loop below runs it:

    for epoch in 1..epochs:
        collect steps_per_epoch steps with pi across num_envs envs
        G_t = r_t + gamma * r_{t+1} + ... to the end of t's episode     # returns-to-go
        keep the steps whose episode ended within the collected steps   # the others lack G_t
        w_t = G_t                       (or G_t - V(s_t) with a learned baseline)
        w_t = (w_t - mean(w)) / std(w)  (if norm_returns)
        one gradient step on L_pi = -mean(log pi(a_t|s_t) * w_t)
        with a baseline: train_v_iters gradient steps on mean((V(s_t) - G_t)^2)

Collection runs in fixed-size segments rather than whole episodes, so an episode may span two epochs.
A return-to-go depends only on the future, so every step of an episode that ends inside the segment
has its exact G_t, even if the episode began in the previous epoch; the steps of an episode still
running at the end of the segment have no complete return yet and are left out of the loss. They are
lost, so steps_per_epoch / num_envs should span several episodes (the presets do).

A linear policy (the course's linear Gaussian agent: mean = W s + b, a learned state-independent
standard deviation) is ``linear=True``, shorthand for ``ac_kwargs=dict(hidden_sizes=())``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from pgrl import distributed
from pgrl.advantages import returns_to_go
from pgrl.agent import Agent
from pgrl.envs import EnvSpec
from pgrl.errors import PgrlError
from pgrl.hyperparams import validate
from pgrl.losses import policy_gradient_loss, value_loss
from pgrl.networks import MLPActorCritic, entropy_of
from pgrl.training import Callback, Run, resolve_hyperparameters
from pgrl.update import Batch, adam, make_batch, set_lr, step_optimizer


def reinforce_weights(returns: torch.Tensor, values: torch.Tensor | None, normalize: bool) -> torch.Tensor:
    """The per-step weights of the REINFORCE loss, for the complete steps only.

    Args:
        returns: (B,) discounted returns-to-go G_t of complete steps.
        values: (B,) baseline V(s_t) to subtract, or None.
        normalize: standardise the weights over the batch (zero mean, unit std).

    Returns:
        (B,) ``G_t`` (or ``G_t - V(s_t)``), standardised if asked.
    """
    weights = returns if values is None else returns - values
    return distributed.standardize(weights) if normalize else weights  # over every process's steps


def reinforce(
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
    max_ep_len: int | None = None,
    logger_kwargs: dict[str, Any] | None = None,
    save_freq: int | None = None,
    *,
    num_envs: int | None = None,
    norm_returns: bool | None = None,
    baseline: bool | None = None,
    linear: bool | None = None,
    max_grad_norm: float | None = None,
    anneal_lr: bool | None = None,
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
    """Train a policy with REINFORCE; Spinning Up's signature shape (like :func:`pgrl.vpg`).

    Discrete actions get a categorical policy, Box actions a diagonal Gaussian; deterministic
    evaluation takes the argmax or the mean. Hyperparameters left as ``None`` come from the env's
    preset or the defaults (``pgrl algos``).

    Args:
        env_fn: a function returning a gymnasium env, or an env id such as "CartPole-v1".
        actor_critic, ac_kwargs: the network (see :mod:`pgrl.networks`); the critic is used only with
            ``baseline``.
        seed: seeds python, numpy, torch and the envs.
        steps_per_epoch: env steps per epoch summed over all envs (rounded up to a multiple of num_envs).
        epochs: number of collect-and-update rounds (one policy step each).
        gamma: discount of the returns-to-go.
        pi_lr: Adam learning rate of the policy.
        vf_lr, train_v_iters: Adam learning rate and full-batch steps of the baseline's critic.
        max_ep_len: extra time limit per episode (ends the return like any episode end).
        logger_kwargs, save_freq: as for :func:`pgrl.ppo`.
        num_envs: parallel env copies.
        norm_returns: standardise the weights (returns-to-go, or G - V with a baseline) over the batch
            (with one episode per batch, the course notebooks' per-episode normalisation).
        baseline: subtract a learned state value V(s) from the returns (off by default: plain REINFORCE).
        linear: a linear policy (no hidden layers); shorthand for ``ac_kwargs=dict(hidden_sizes=())``.
        max_grad_norm: clip the global gradient norm (None: no clipping).
        anneal_lr: decay the learning rates linearly to zero over the epochs (keeps a solved policy from
            drifting away late in training).
        norm_obs: running observation normalisation (saved with the model).
        vectorization, callback, eval_episodes, eval_every, tensorboard, verbose, overwrite, env, resume, nan_policy: as for
            :func:`pgrl.ppo`.

    Returns:
        (agent, history): the trained agent and one dict per epoch (the logged row).
    """
    env_fn = env_fn if env_fn is not None else env
    given = dict(
        steps_per_epoch=steps_per_epoch, epochs=epochs, gamma=gamma, pi_lr=pi_lr, vf_lr=vf_lr,
        train_v_iters=train_v_iters, max_ep_len=max_ep_len, save_freq=save_freq, num_envs=num_envs,
        norm_returns=norm_returns, baseline=baseline, linear=linear, max_grad_norm=max_grad_norm, anneal_lr=anneal_lr, norm_obs=norm_obs,
    )  # fmt: skip
    env_fn, env_id, hp = resolve_hyperparameters("reinforce", env_fn, given, resume)
    if hp["linear"]:
        if ac_kwargs and tuple(ac_kwargs.get("hidden_sizes", ())):
            raise PgrlError("linear=True means no hidden layers; drop hidden_sizes from ac_kwargs (or linear)")
        hp["hidden_sizes"] = ()
    validate(hp)

    run = Run("reinforce", env_fn, hp, actor_critic, ac_kwargs, seed, logger_kwargs, callback, verbose,
              vectorization, eval_episodes, overwrite, env_id, eval_every=eval_every,
              tensorboard=tensorboard, resume=resume, nan_policy=nan_policy)  # fmt: skip
    ac = run.agent.ac
    optimizers = {"pi": adam(ac.pi.parameters(), lr=hp["pi_lr"])}
    if hp["baseline"]:
        optimizers["v"] = adam(ac.v.parameters(), lr=hp["vf_lr"])
    run.attach(optimizers)

    def update(batch: Batch, n_all: int) -> dict[str, float]:
        """One policy-gradient step (then the baseline's steps) on the complete steps; the log columns.

        Data-parallel, the processes hold different numbers of complete steps (``n_all`` in all): each
        loss is this process's share of the mean over all of them (:func:`pgrl.distributed.batch_mean`).
        """
        split = distributed.active()
        mean = (lambda x: distributed.batch_mean(x, n_all)) if split else (lambda x: x.mean())
        with torch.no_grad():
            baseline_v = ac.v(batch.obs) if hp["baseline"] else None
        weights = reinforce_weights(batch.ret, baseline_v, hp["norm_returns"])
        dist, logp = ac.pi(batch.obs, batch.act)
        pi_loss = -mean(logp * weights) if split else policy_gradient_loss(logp, weights)
        entropy = mean(entropy_of(dist)).item()
        step_optimizer(optimizers["pi"], pi_loss, ac.pi.parameters(), hp["max_grad_norm"])

        v_loss = float("nan")
        if baseline_v is not None:
            v_mse = (lambda v: mean((v - batch.ret) ** 2)) if split else (lambda v: value_loss(v, batch.ret))
            v_loss = v_mse(baseline_v).item()
            for _ in range(hp["train_v_iters"]):
                step_optimizer(optimizers["v"], v_mse(ac.v(batch.obs)), ac.v.parameters(), hp["max_grad_norm"])

        with torch.no_grad():
            _, logp_new = ac.pi(batch.obs, batch.act)
        return {
            "LossPi": pi_loss.item(),
            "LossV": v_loss,
            "Entropy": entropy,
            "KL": mean(batch.logp - logp_new).item(),  # Spinning Up's estimate of KL(pi_old || pi)
        }

    base_lr = {name: lr for name, lr in (("pi", hp["pi_lr"]), ("v", hp["vf_lr"])) if name in optimizers}

    while True:
        rollout = run.collect()
        if hp["anneal_lr"]:
            set_lr(optimizers, base_lr, 1.0 - run.epoch / run.epochs)
        G, complete = returns_to_go(rollout.rewards, rollout.terminated, rollout.truncated, hp["gamma"])
        batch = make_batch(rollout, adv=G, ret=G)[torch.from_numpy(complete.reshape(-1))]  # complete steps only
        # An epoch in which no episode ended has no return to learn from yet.
        n_all = distributed.global_count(len(batch))  # complete steps over all processes
        stats = update(batch, n_all) if n_all else dict.fromkeys(("LossPi", "LossV", "Entropy", "KL"), float("nan"))
        if not run.end_epoch(rollout, stats):
            break
    return run.finish()
