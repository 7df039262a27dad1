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

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Unpack

import numpy as np
import torch
from torch import nn

from pgrl import distributed
from pgrl.advantages import returns_to_go
from pgrl.algos.signature import algorithm
from pgrl.batch import Batch, make_batch
from pgrl.config import RolloutConfig, boolean, hyperparameter, positive, positive_int
from pgrl.envs import EnvSpec
from pgrl.errors import PgrlError
from pgrl.losses import policy_gradient_loss, sample_mean, stat, value_loss
from pgrl.networks import MLPActorCritic, log_prob_entropy
from pgrl.optim import Optimizer
from pgrl.options import RunOptions
from pgrl.training import Run, Trained


@dataclass(frozen=True)
class REINFORCEConfig(RolloutConfig):
    """REINFORCE's hyperparameters: Spinning Up's simplest policy gradient (one (32,) hidden layer, Adam
    1e-2, ~5000 steps per batch)."""

    algo: ClassVar[str] = "reinforce"

    steps_per_epoch: int = 5000
    pi_lr: float = hyperparameter(1e-2, "Adam learning rate of the policy", positive)
    vf_lr: float = hyperparameter(1e-3, "Adam learning rate of the baseline's critic", positive)
    train_v_iters: int = hyperparameter(80, "full-batch steps of the baseline's critic per epoch", positive_int)
    norm_returns: bool = hyperparameter(
        False, "standardise the weights (returns-to-go, or G - V with a baseline) over the batch (with one "
        "episode per batch, the course notebooks' per-episode normalisation)", boolean,
    )  # fmt: skip
    baseline: bool = hyperparameter(False, "subtract a learned state value V(s) from the returns", boolean)
    linear: bool = hyperparameter(
        False, "a linear policy (no hidden layers); shorthand for ac_kwargs=dict(hidden_sizes=())", boolean
    )
    hidden_sizes: tuple[int, ...] = (32,)

    def __post_init__(self) -> None:
        if self.linear:
            object.__setattr__(self, "hidden_sizes", ())
        super().__post_init__()

    def network_kwargs(self, ac_kwargs: Mapping[str, Any]) -> dict[str, Any]:
        if self.linear and ac_kwargs and tuple(ac_kwargs.get("hidden_sizes", ())):
            raise PgrlError("linear=True means no hidden layers; drop hidden_sizes from ac_kwargs (or linear)")
        return super().network_kwargs(ac_kwargs)


@algorithm(REINFORCEConfig)
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
    obs_clip: float | None = None,
    norm_reward: bool | None = None,
    reward_clip: float | None = None,
    **options: Unpack[RunOptions],
) -> Trained:
    """Train a policy with REINFORCE; Spinning Up's signature shape (like :func:`pgrl.vpg`).

    Discrete actions get a categorical policy, Box actions a diagonal Gaussian; deterministic
    evaluation takes the argmax or the mean. Hyperparameters left as ``None`` come from the env's
    preset or the defaults (``pgrl algos``). max_ep_len ends the return like any episode end.

    Args:
        env_fn: a function returning a gymnasium env, or an env id such as "CartPole-v1".
        actor_critic, ac_kwargs: the network (see :mod:`pgrl.networks`); the critic is used only with
            ``baseline``.
        seed: seeds python, numpy, torch and the envs; a list of seeds trains them together (:mod:`pgrl.seeds`)
            and returns one (agent, history) per seed.
        logger_kwargs: as for :func:`pgrl.ppo`.

    Returns:
        (agent, history): the trained agent and one dict per epoch (the logged row).
    """
    run, cfg = Run.start(REINFORCEConfig, locals())
    ac = run.agent.ac
    pi_optimizer = run.optimizer("pi", ac.pi.parameters(), cfg.pi_lr, cfg.max_grad_norm)
    v_optimizer = run.optimizer("v", ac.v.parameters(), cfg.vf_lr, cfg.max_grad_norm) if cfg.baseline else None

    for epoch in run.epochs():
        rollout = run.collect()
        if cfg.anneal_lr:
            run.scale_lr(1.0 - epoch / cfg.epochs)
        G, complete = returns_to_go(rollout.rewards, rollout.terminated, rollout.truncated, cfg.gamma)
        batch = make_batch(rollout, adv=G, ret=G, keep=complete)  # complete steps only
        # An epoch in which no episode ended has no return to learn from yet (K agents: each on its own).
        n_all = int(batch.present.any()) if batch.stacked else distributed.global_count(len(batch))
        if n_all:
            stats = reinforce_update(cfg, ac, batch, n_all, pi_optimizer, v_optimizer)
        else:
            stats = dict.fromkeys(("LossPi", "LossV", "Entropy", "KL"), float("nan"))
        run.log(stats)
    return run.finish()


def reinforce_weights(
    returns: torch.Tensor, values: torch.Tensor | None, normalize: bool, valid: torch.Tensor | None = None
) -> torch.Tensor:
    """The per-step weights of the REINFORCE loss, for the complete steps only.

    Args:
        returns: (B,) discounted returns-to-go G_t of complete steps.
        values: (B,) baseline V(s_t) to subtract, or None.
        normalize: standardise the weights over the batch (zero mean, unit std).
        valid: K agents' (K, B) batch: 1 on each agent's complete steps (see :mod:`pgrl.batch`).

    Returns:
        (B,) ``G_t`` (or ``G_t - V(s_t)``), standardised if asked.
    """
    weights = returns if values is None else returns - values
    return distributed.standardize(weights, valid) if normalize else weights  # over every process's steps


def reinforce_update(
    cfg: REINFORCEConfig, ac: Any, batch: Batch, n_all: int, pi_optimizer: Optimizer, v_optimizer: Optimizer | None
) -> dict[str, Any]:
    """One policy-gradient step (then the baseline's steps) on the complete steps; the epoch's columns.

    Data-parallel, the processes hold different numbers of complete steps (``n_all`` in all): each
    loss is this process's share of the mean over all of them (:func:`pgrl.distributed.batch_mean`).
    K agents' batch (:mod:`pgrl.seeds`): the losses are per agent; an agent without complete steps does
    not step, and its columns are NaN.
    """
    split = distributed.active()
    mean = (lambda x: distributed.batch_mean(x, n_all)) if split else (lambda x: sample_mean(x, batch.valid))
    present = batch.present
    with torch.no_grad():
        baseline_v = ac.v(batch.obs) if cfg.baseline else None
    weights = reinforce_weights(batch.ret, baseline_v, cfg.norm_returns, batch.valid)
    logp, entropies = log_prob_entropy(ac.pi, batch.obs, batch.act, batch.mask)
    pi_loss = -mean(logp * weights) if split else policy_gradient_loss(logp, weights, batch.valid)
    entropy = mean(entropies.detach())
    pi_optimizer.step(pi_loss, active=present)

    v_loss: Any = float("nan")
    if baseline_v is not None and v_optimizer is not None:
        v_mse = (lambda v: mean((v - batch.ret) ** 2)) if split else (lambda v: value_loss(v, batch.ret, batch.valid))
        v_loss = v_mse(baseline_v)
        for _ in range(cfg.train_v_iters):
            v_optimizer.step(v_mse(ac.v(batch.obs)), active=present)

    with torch.no_grad():
        logp_new, _ = log_prob_entropy(ac.pi, batch.obs, batch.act, batch.mask)
    stats = {"LossPi": pi_loss, "LossV": v_loss, "Entropy": entropy, "KL": mean(batch.logp - logp_new)}
    # Spinning Up's estimate of KL(pi_old || pi) in KL; an agent without complete steps: NaN
    return {k: v if isinstance(v, float) else _where_present(stat(v), present) for k, v in stats.items()}


def _where_present(value: float | np.ndarray, present: np.ndarray) -> float | np.ndarray:
    return value if isinstance(value, float) else np.where(present, value, np.nan)
