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

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Unpack

from torch import nn

from pgrl import distributed
from pgrl.advantages import gae
from pgrl.algos.signature import algorithm
from pgrl.batch import Batch, make_batch
from pgrl.config import RolloutConfig, boolean, hyperparameter, non_negative, positive, positive_int, unit_interval
from pgrl.envs import EnvSpec
from pgrl.losses import mean_stat, policy_gradient_loss, sample_mean, stat, value_loss
from pgrl.networks import MLPActorCritic, log_prob_entropy
from pgrl.optim import Optimizer
from pgrl.options import RunOptions
from pgrl.training import Run, Trained


@dataclass(frozen=True)
class A2CConfig(RolloutConfig):
    """A2C's hyperparameters, as in Stable-Baselines3 (n_steps 5, lam 1, vf_coef 0.5, max_grad_norm 0.5),
    with Adam. An epoch of steps_per_epoch steps holds steps_per_epoch / (num_envs * n_steps) updates."""

    algo: ClassVar[str] = "a2c"

    n_steps: int = hyperparameter(5, "steps per env per update (T)", positive_int)
    steps_per_epoch: int = 4000
    lam: float = hyperparameter(1.0, "GAE lambda over each segment (1: n-step returns, A2C's)", unit_interval)
    lr: float = hyperparameter(7e-4, "learning rate of the one optimizer for actor and critic", positive)
    vf_coef: float = hyperparameter(0.5, "weight of the value loss", non_negative)
    ent_coef: float = hyperparameter(0.0, "weight of the entropy bonus", non_negative)
    max_grad_norm: float | None = 0.5
    norm_adv: bool = hyperparameter(False, "standardise the advantages of each update's batch", boolean)

    def segment_steps(self, processes: int = 1) -> int:
        return min(self.n_steps, self.steps_per_env(processes))


@algorithm(A2CConfig)
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
    obs_clip: float | None = None,
    norm_reward: bool | None = None,
    reward_clip: float | None = None,
    **options: Unpack[RunOptions],
) -> Trained:
    """Train a policy with A2C: one update per short segment of n_steps steps in each of num_envs envs.

    Hyperparameters left as ``None`` come from the env's preset or the defaults (``pgrl algos``).

    Args:
        env_fn: a function returning a gymnasium env, or an env id such as "CartPole-v1".
        actor_critic, ac_kwargs: the network (see :mod:`pgrl.networks`).
        seed: seeds python, numpy, torch and the envs; a list of seeds trains them together (:mod:`pgrl.seeds`)
            and returns one (agent, history) per seed.
        logger_kwargs: as for :func:`pgrl.ppo`.

    Returns:
        (agent, history): the trained agent and one dict per epoch (the logged row; LossPi, LossV and
        Entropy are averages over the epoch's updates).
    """
    run, cfg = Run.start(A2CConfig, locals())
    ac = run.agent.ac
    optimizer = run.optimizer("ac", ac.parameters(), cfg.lr, cfg.max_grad_norm, eps=1e-5)
    world = distributed.world_size()
    updates_per_epoch = -(-cfg.steps_per_env(world) // cfg.segment_steps(world))  # segments of n_steps per env

    for epoch in run.epochs():
        losses: dict[str, list[Any]] = {"LossPi": [], "LossV": [], "Entropy": []}
        for k in range(updates_per_epoch):
            if cfg.anneal_lr:
                run.scale_lr(1.0 - (epoch * updates_per_epoch + k) / (cfg.epochs * updates_per_epoch))
            rollout = run.collect()
            adv, ret = gae(rollout.rewards, rollout.values, rollout.next_values,
                           rollout.terminated, rollout.truncated, cfg.gamma, cfg.lam)  # fmt: skip
            for name, value in a2c_update(cfg, ac, make_batch(rollout, adv, ret), optimizer).items():
                losses[name].append(value)
        run.log({name: mean_stat(values) for name, values in losses.items()})
    return run.finish()


def a2c_update(cfg: A2CConfig, ac: Any, batch: Batch, optimizer: Optimizer) -> dict[str, Any]:
    """One actor-critic gradient step on a segment's batch; its losses (per agent for K agents', see
    :mod:`pgrl.seeds`)."""
    logp, entropies = log_prob_entropy(ac.pi, batch.obs, batch.act, batch.mask)
    adv = distributed.standardize(batch.adv, batch.valid) if cfg.norm_adv else batch.adv
    pi_loss = policy_gradient_loss(logp, adv, batch.valid)
    v_loss = value_loss(ac.v(batch.obs), batch.ret, batch.valid)
    entropy = sample_mean(entropies, batch.valid)
    optimizer.step(pi_loss - cfg.ent_coef * entropy + cfg.vf_coef * v_loss, active=batch.present)
    return {"LossPi": stat(pi_loss), "LossV": stat(v_loss), "Entropy": stat(entropy)}
