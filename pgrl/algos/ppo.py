"""Proximal Policy Optimization with the clipped objective (Schulman et al. 2017).

Pseudocode, as the loop below runs it:

    for epoch in 1..epochs:
        collect steps_per_epoch steps with pi_old across num_envs envs
        A, R = GAE(rewards, V, gamma, lam)               # bootstrapped at truncations and segment ends
        for pass in 1..update_epochs, for each minibatch:
            L = clip_loss(pi, pi_old, A) - ent_coef * H(pi) + vf_coef * (V - R)^2
            gradient step (one shared optimizer; or Spinning Up's separate pi and v optimizers)
        stop early, before any step, once the approximate KL exceeds 1.5 * target_kl
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
from pgrl.errors import PgrlError
from pgrl.hyperparams import batch_size, validate
from pgrl.losses import ppo_clip_loss, value_loss
from pgrl.networks import MLPActorCritic, log_prob_entropy
from pgrl.training import Callback, Run, resolve_hyperparameters
from pgrl.update import Batch, adam, make_batch, minibatches, set_lr, step_optimizer


def ppo(
    env_fn: EnvSpec | None = None,
    actor_critic: Callable[..., nn.Module] = MLPActorCritic,
    ac_kwargs: dict[str, Any] | None = None,
    seed: int = 0,
    steps_per_epoch: int | None = None,
    epochs: int | None = None,
    gamma: float | None = None,
    clip_ratio: float | None = None,
    pi_lr: float | None = None,
    vf_lr: float | None = None,
    train_pi_iters: int | None = None,
    train_v_iters: int | None = None,
    lam: float | None = None,
    max_ep_len: int | None = None,
    target_kl: float | None = None,
    logger_kwargs: dict[str, Any] | None = None,
    save_freq: int | None = None,
    *,
    num_envs: int | None = None,
    minibatch_size: int | None = None,
    update_epochs: int | None = None,
    shared_optimizer: bool | None = None,
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
    """Train a policy with PPO-clip; Spinning Up's signature, plus the options of modern implementations.

    Hyperparameters left as ``None`` come from the env's preset or the defaults (``pgrl algos`` lists
    them; the resolved values are in the run's config.json).

    Args:
        env_fn: a function returning a gymnasium env (Spinning Up's), or an env id such as "CartPole-v1".
        actor_critic: network class called as ``actor_critic(obs_space, act_space, **ac_kwargs)``;
            see :mod:`pgrl.networks` for the protocol a custom module follows.
        ac_kwargs: e.g. ``dict(hidden_sizes=[64, 64], activation=torch.nn.ReLU)`` or ``activation="relu"``.
        seed: seeds python, numpy, torch and the envs.
        steps_per_epoch: env steps per epoch summed over all envs (rounded up to a multiple of num_envs).
        epochs: number of collect-and-update rounds.
        gamma: discount. lam: GAE lambda.
        clip_ratio: eps of the clipped objective.
        pi_lr: learning rate of the policy (of the shared optimizer when ``shared_optimizer``).
        vf_lr: learning rate of the critic's own optimizer (Spinning Up mode).
        train_pi_iters: passes over the batch for the policy (default: update_epochs).
        train_v_iters: passes for the critic in Spinning Up mode (default: update_epochs).
        max_ep_len: extra time limit per episode (a truncation, bootstrapped).
        target_kl: stop the policy's passes once the approximate KL exceeds 1.5 * target_kl (None: never).
        logger_kwargs: ``dict(output_dir=..., exp_name=...)``; default runs/<exp_name>/<time>_s<seed>.
        save_freq: checkpoint every this many epochs (and always at the end).
        num_envs: parallel env copies. minibatch_size: samples per gradient step (when left to the preset,
            at most the batch of steps_per_epoch).
        update_epochs: passes over each batch.
        shared_optimizer: one Adam on pi_loss - ent_coef * entropy + vf_coef * v_loss (modern), or
            Spinning Up's two optimizers. Passing vf_lr or train_v_iters selects Spinning Up's.
        vf_coef, ent_coef: weights of the value loss and entropy bonus.
        max_grad_norm: clip the global gradient norm (None: no clipping).
        anneal_lr: decay learning rates linearly to zero over the epochs.
        norm_adv: normalise advantages per minibatch. norm_obs: running observation normalisation
            (the statistics are saved with the model).
        vectorization: "sync", "async" (subprocess envs) or "envpool" (envpool's C++ envs, when installed).
        callback: ``callback(epoch, stats, agent)`` after every epoch; return False to stop.
        eval_episodes: deterministic episodes evaluated at the end (0: none), written to eval.json;
            also the episodes of each in-training evaluation.
        eval_every: evaluate deterministically every this many env steps during training (None:
            never), logged as EvalAverageEpRet, EvalStdEpRet, ... (see :class:`pgrl.training.Run`).
        tensorboard: also write TensorBoard event files into the run directory.
        verbose: print the epoch table. overwrite: replace a run already in output_dir.
        env: alias of env_fn.
        resume: a run directory to continue from its last checkpoint (networks, optimizers, learning-rate
            schedule, observation statistics, RNG states, env state where possible, counters); the
            run's saved hyperparameters apply (passing ``epochs`` higher trains further). env_fn may be
            omitted for a registered env id. See docs/robustness.md.
        nan_policy: "stop" (default) stops training at a non-finite loss, gradient or parameter, keeping
            the last good checkpoint; "skip" skips such updates.

    Returns:
        (agent, history): the trained :class:`pgrl.agent.Agent` and one dict per epoch (the logged row).
    """
    env_fn = env_fn if env_fn is not None else env
    if shared_optimizer is None and (vf_lr is not None or train_v_iters is not None):
        shared_optimizer = False  # vf_lr and train_v_iters only mean something with a critic optimizer
    if shared_optimizer and (vf_lr is not None or train_v_iters is not None):
        raise PgrlError("vf_lr and train_v_iters need shared_optimizer=False (the critic's own optimizer)")
    given = dict(
        steps_per_epoch=steps_per_epoch, epochs=epochs, gamma=gamma, clip_ratio=clip_ratio, pi_lr=pi_lr,
        vf_lr=vf_lr, train_pi_iters=train_pi_iters, train_v_iters=train_v_iters, lam=lam, max_ep_len=max_ep_len,
        target_kl=target_kl, save_freq=save_freq, num_envs=num_envs, minibatch_size=minibatch_size,
        update_epochs=update_epochs, shared_optimizer=shared_optimizer, vf_coef=vf_coef, ent_coef=ent_coef,
        max_grad_norm=max_grad_norm, anneal_lr=anneal_lr, norm_adv=norm_adv, norm_obs=norm_obs,
    )  # fmt: skip
    env_fn, env_id, hp = resolve_hyperparameters("ppo", env_fn, given, resume)
    spe, n_envs = hp["steps_per_epoch"], hp["num_envs"]
    if minibatch_size is None and resume is None and all(type(x) is int and x >= 1 for x in (spe, n_envs)):
        # A preset's minibatch is capped at a smaller batch that the caller asked for.
        hp["minibatch_size"] = min(hp["minibatch_size"], batch_size(spe, n_envs))
    hp["train_pi_iters"] = hp["train_pi_iters"] or hp["update_epochs"]
    hp["train_v_iters"] = hp["train_v_iters"] or hp["update_epochs"]
    validate(hp)

    run = Run("ppo", env_fn, hp, actor_critic, ac_kwargs, seed, logger_kwargs, callback, verbose,
              vectorization, eval_episodes, overwrite, env_id, eval_every=eval_every,
              tensorboard=tensorboard, resume=resume, nan_policy=nan_policy)  # fmt: skip
    ac = run.agent.ac
    if hp["shared_optimizer"]:
        optimizers = {"ac": adam(ac.parameters(), lr=hp["pi_lr"], eps=1e-5)}
        base_lr = {"ac": hp["pi_lr"]}
    else:
        optimizers = {
            "pi": adam(ac.pi.parameters(), lr=hp["pi_lr"]),
            "v": adam(ac.v.parameters(), lr=hp["vf_lr"]),
        }
        base_lr = {"pi": hp["pi_lr"], "v": hp["vf_lr"]}
    run.attach(optimizers)  # checkpointed, restored on resume, NaN-guarded in step_optimizer

    def pi_terms(b: Batch) -> tuple[torch.Tensor, dict[str, float], torch.Tensor]:
        logp, entropy = log_prob_entropy(ac.pi, b.obs, b.act)
        # Standardised with the population std, over every process's minibatch when data-parallel.
        adv = distributed.standardize(b.adv) if hp["norm_adv"] else b.adv
        loss, info = ppo_clip_loss(logp, b.logp, adv, hp["clip_ratio"])
        return loss, info, entropy.mean()

    minibatch_size = distributed.share(hp["minibatch_size"])  # per process: same number of steps per epoch
    while True:
        rollout = run.collect()
        adv, ret = gae(rollout.rewards, rollout.values, rollout.next_values,
                       rollout.terminated, rollout.truncated, hp["gamma"], hp["lam"])  # fmt: skip
        batch = make_batch(rollout, adv, ret)
        if hp["anneal_lr"]:
            set_lr(optimizers, base_lr, 1.0 - run.epoch / run.epochs)

        with torch.no_grad():
            pi_loss_old, _, _ = pi_terms(batch)
            v_loss_old = value_loss(ac.v(batch.obs), batch.ret)

        kl, clip_frac, passes, too_far = 0.0, 0.0, 0, False
        for _ in range(hp["train_pi_iters"]):
            passes += 1
            for mb in minibatches(batch, minibatch_size):
                pi_loss, info, ent = pi_terms(mb)
                kl, clip_frac = info["approx_kl"], info["clip_frac"]
                if hp["target_kl"] is not None:  # data-parallel: every process stops alike
                    kl = distributed.mean_float(kl)
                # Spinning Up's early stop: no further step once pi has moved too far from pi_old.
                too_far = hp["target_kl"] is not None and kl > 1.5 * hp["target_kl"]
                if too_far:
                    break
                if hp["shared_optimizer"]:
                    loss = pi_loss - hp["ent_coef"] * ent + hp["vf_coef"] * value_loss(ac.v(mb.obs), mb.ret)
                    step_optimizer(optimizers["ac"], loss, ac.parameters(), hp["max_grad_norm"])
                else:
                    step_optimizer(
                        optimizers["pi"], pi_loss - hp["ent_coef"] * ent, ac.pi.parameters(), hp["max_grad_norm"]
                    )
            if too_far:
                break
        if not hp["shared_optimizer"]:  # Spinning Up: the critic trains on after the policy stops
            for _ in range(hp["train_v_iters"]):
                for mb in minibatches(batch, minibatch_size):
                    step_optimizer(
                        optimizers["v"], value_loss(ac.v(mb.obs), mb.ret), ac.v.parameters(), hp["max_grad_norm"]
                    )

        with torch.no_grad():
            pi_loss_new, _, entropy = pi_terms(batch)
            v_loss_new = value_loss(ac.v(batch.obs), batch.ret)
        stats = {
            "LossPi": pi_loss_old.item(),
            "LossV": v_loss_old.item(),
            "DeltaLossPi": (pi_loss_new - pi_loss_old).item(),
            "DeltaLossV": (v_loss_new - v_loss_old).item(),
            "Entropy": entropy.item(),
            "KL": kl,
            "ClipFrac": clip_frac,
            "StopIter": passes,
        }
        if not run.end_epoch(rollout, stats):
            break
    return run.finish()
