"""Proximal Policy Optimization with the clipped objective (Schulman et al. 2017).

Pseudocode, as the loop below runs it:

    for epoch in 1..epochs:
        collect steps_per_epoch steps with pi_old across num_envs envs
        A, R = GAE(rewards, V, gamma, lam)               # bootstrapped at truncations and segment ends
        for pass in 1..update_epochs, for each minibatch:
            L = clip_loss(pi, pi_old, A) - ent_coef * H(pi) + vf_coef * (V - R)^2   # (V - R)^2 clipped: vf_clip
            gradient step (one shared optimizer; or Spinning Up's separate pi and v optimizers)
        stop early, before any step, once the approximate KL exceeds 1.5 * target_kl
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Unpack

import numpy as np
import torch
from torch import nn

from pgrl import distributed
from pgrl.advantages import gae
from pgrl.algos.signature import algorithm
from pgrl.batch import Batch, make_batch, minibatches
from pgrl.config import RolloutConfig, batch_size, boolean, hyperparameter, non_negative, positive, positive_int
from pgrl.config import unit_interval as unit
from pgrl.envs import EnvSpec
from pgrl.errors import PgrlError
from pgrl.losses import clipped_value_loss, per_agent, ppo_clip_loss, sample_mean, stat, value_loss
from pgrl.networks import MLPActorCritic, log_prob_entropy
from pgrl.optim import Optimizer
from pgrl.options import RunOptions
from pgrl.training import Run, Trained


@dataclass(frozen=True)
class PPOConfig(RolloutConfig):
    """PPO's hyperparameters: Spinning Up's, and the options of modern implementations."""

    algo: ClassVar[str] = "ppo"

    lam: float = hyperparameter(0.95, "GAE lambda", unit)
    clip_ratio: float = hyperparameter(0.2, "eps of the clipped objective", positive)
    pi_lr: float = hyperparameter(
        3e-4, "learning rate of the policy (of the shared optimizer when shared_optimizer)", positive
    )
    vf_lr: float = hyperparameter(1e-3, "learning rate of the critic's own optimizer (Spinning Up mode)", positive)
    update_epochs: int = hyperparameter(10, "passes over each batch", positive_int)
    train_pi_iters: int | None = hyperparameter(None, "passes over the batch for the policy (None: update_epochs)",
                                                positive_int)  # fmt: skip
    train_v_iters: int | None = hyperparameter(
        None, "passes for the critic in Spinning Up mode (None: update_epochs)", positive_int
    )
    minibatch_size: int = hyperparameter(
        256, "samples per gradient step (a preset's is capped at a smaller batch the caller asks for)", positive_int
    )
    shared_optimizer: bool = hyperparameter(
        True, "one Adam on pi_loss - ent_coef * entropy + vf_coef * v_loss (modern), or Spinning Up's two "
        "optimizers; passing vf_lr or train_v_iters selects Spinning Up's", boolean,
    )  # fmt: skip
    vf_coef: float = hyperparameter(0.5, "weight of the value loss (shared optimizer)", non_negative)
    ent_coef: float = hyperparameter(0.0, "weight of the entropy bonus", non_negative)
    max_grad_norm: float | None = 0.5
    anneal_lr: bool = True
    norm_adv: bool = hyperparameter(True, "standardise the advantages of each minibatch", boolean)
    target_kl: float | None = hyperparameter(
        None, "stop the policy's passes once the approximate KL exceeds 1.5 * target_kl (None: never)", positive
    )
    # Off by default (the plain squared error, Spinning Up's); the reference implementations clip (CleanRL's
    # clip_vloss, with the policy's clip_ratio), and the MuJoCo presets do as they do.
    vf_clip: float | None = hyperparameter(
        None, "clipped value loss: the critic's prediction for a state may move at most this far from its value "
        "at collection per update (None: the plain squared error)", positive,
    )  # fmt: skip

    def __post_init__(self) -> None:
        for passes in ("train_pi_iters", "train_v_iters"):
            if getattr(self, passes) is None:
                object.__setattr__(self, passes, self.update_epochs)
        super().__post_init__()

    def check(self) -> None:
        super().check()
        batch = batch_size(self.steps_per_epoch, self.num_envs)
        if self.minibatch_size > batch:
            raise PgrlError(
                f"minibatch_size {self.minibatch_size} is larger than the batch of {batch} steps per epoch; "
                "lower minibatch_size or raise steps_per_epoch"
            )

    @classmethod
    def interpret(cls, given: dict[str, Any]) -> dict[str, Any]:
        spinning_up = "vf_lr" in given or "train_v_iters" in given  # they only mean something with two optimizers
        if given.get("shared_optimizer") and spinning_up:
            raise PgrlError("vf_lr and train_v_iters need shared_optimizer=False (the critic's own optimizer)")
        return {"shared_optimizer": False, **given} if spinning_up else given

    @classmethod
    def complete(cls, values: dict[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
        spe, n_envs = values["steps_per_epoch"], values["num_envs"]
        if "minibatch_size" not in given and all(type(x) is int and x >= 1 for x in (spe, n_envs)):
            values = {**values, "minibatch_size": min(values["minibatch_size"], batch_size(spe, n_envs))}
        return values


@algorithm(PPOConfig)
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
    obs_clip: float | None = None,
    norm_reward: bool | None = None,
    reward_clip: float | None = None,
    vf_clip: float | None = None,
    **options: Unpack[RunOptions],
) -> Trained:
    """Train a policy with PPO-clip; Spinning Up's signature, plus the options of modern implementations.

    Hyperparameters left as ``None`` come from the env's preset or the defaults (``pgrl algos`` lists
    them; the resolved values are in the run's config.json).

    Args:
        env_fn: a function returning a gymnasium env (Spinning Up's), or an env id such as "CartPole-v1".
        actor_critic: network class called as ``actor_critic(obs_space, act_space, **ac_kwargs)``;
            see :mod:`pgrl.networks` for the protocol a custom module follows.
        ac_kwargs: e.g. ``dict(hidden_sizes=[64, 64], activation=torch.nn.ReLU)`` or ``activation="relu"``.
        seed: seeds python, numpy, torch and the envs; a list of seeds trains them together (:mod:`pgrl.seeds`)
            and returns one (agent, history) per seed.
        logger_kwargs: ``dict(output_dir=..., exp_name=...)``; default runs/<exp_name>/<time>_s<seed>.

    Returns:
        (agent, history): the trained :class:`pgrl.agent.Agent` and one dict per epoch (the logged row).
    """
    run, cfg = Run.start(PPOConfig, locals())
    ac = run.agent.ac
    if cfg.shared_optimizer:
        optimizers = {"ac": run.optimizer("ac", ac.parameters(), cfg.pi_lr, cfg.max_grad_norm, eps=1e-5)}
    else:
        optimizers = {
            "pi": run.optimizer("pi", ac.pi.parameters(), cfg.pi_lr, cfg.max_grad_norm),
            "v": run.optimizer("v", ac.v.parameters(), cfg.vf_lr, cfg.max_grad_norm),
        }
    minibatch = distributed.share(cfg.minibatch_size)  # per process: same number of steps per epoch

    for epoch in run.epochs():
        rollout = run.collect()
        adv, ret = gae(rollout.rewards, rollout.values, rollout.next_values,
                       rollout.terminated, rollout.truncated, cfg.gamma, cfg.lam)  # fmt: skip
        if cfg.anneal_lr:
            run.scale_lr(1.0 - epoch / cfg.epochs)
        stats = ppo_update(cfg, ac, make_batch(rollout, adv, ret), optimizers, minibatch)
        run.log(stats)
    return run.finish()


def ppo_update(
    cfg: PPOConfig, ac: Any, batch: Batch, optimizers: dict[str, Optimizer], minibatch: int
) -> dict[str, Any]:
    """PPO's update on one epoch's batch: minibatch passes of the clipped objective; the epoch's columns.

    K agents' batch (:mod:`pgrl.seeds`): every loss is (K,), one per agent, each agent stops early on its own.
    """

    def pi_terms(b: Batch) -> tuple[torch.Tensor, dict[str, Any], torch.Tensor]:
        logp, entropy = log_prob_entropy(ac.pi, b.obs, b.act, b.mask)
        # Standardised with the population std, over every process's minibatch when data-parallel.
        adv = distributed.standardize(b.adv, b.valid) if cfg.norm_adv else b.adv
        loss, info = ppo_clip_loss(logp, b.logp, adv, cfg.clip_ratio, b.valid)
        return loss, info, sample_mean(entropy, b.valid)

    def v_loss(b: Batch) -> torch.Tensor:
        if cfg.vf_clip is None:
            return value_loss(ac.v(b.obs), b.ret, b.valid)
        assert b.val is not None  # make_batch keeps V at collection
        return clipped_value_loss(ac.v(b.obs), b.val, b.ret, cfg.vf_clip, b.valid)

    with torch.no_grad():
        pi_loss_old, _, _ = pi_terms(batch)
        v_loss_old = value_loss(ac.v(batch.obs), batch.ret, batch.valid)

    kl, clip_frac = np.zeros(batch.agents), np.zeros(batch.agents)
    passes, too_far = np.zeros(batch.agents, dtype=int), np.zeros(batch.agents, dtype=bool)
    for _ in range(cfg.train_pi_iters or cfg.update_epochs):
        passes += ~too_far
        for mb in minibatches(batch, minibatch):
            pi_loss, info, ent = pi_terms(mb)
            kl = np.where(too_far, kl, info["approx_kl"])  # an agent's last KL before it stopped
            clip_frac = np.where(too_far, clip_frac, info["clip_frac"])
            if cfg.target_kl is not None:
                if distributed.active():  # every process stops alike
                    kl = np.array([distributed.mean_float(float(kl[0]))])
                # Spinning Up's early stop: no further step once pi has moved too far from pi_old.
                too_far = too_far | (kl > 1.5 * cfg.target_kl)
            if too_far.all():
                break
            loss = pi_loss - cfg.ent_coef * ent + (cfg.vf_coef * v_loss(mb) if cfg.shared_optimizer else 0.0)
            optimizers["ac" if cfg.shared_optimizer else "pi"].step(loss, active=~too_far & mb.present)
        if too_far.all():
            break
    if not cfg.shared_optimizer:  # Spinning Up: the critic trains on after the policy stops
        for _ in range(cfg.train_v_iters or cfg.update_epochs):
            for mb in minibatches(batch, minibatch):
                optimizers["v"].step(v_loss(mb), active=mb.present)

    with torch.no_grad():
        pi_loss_new, _, entropy = pi_terms(batch)
        v_loss_new = value_loss(ac.v(batch.obs), batch.ret, batch.valid)
    return {
        "LossPi": stat(pi_loss_old),
        "LossV": stat(v_loss_old),
        "DeltaLossPi": stat(pi_loss_new - pi_loss_old),
        "DeltaLossV": stat(v_loss_new - v_loss_old),
        "Entropy": stat(entropy),
        "KL": per_agent(kl),
        "ClipFrac": per_agent(clip_frac),
        "StopIter": per_agent(passes),
    }
