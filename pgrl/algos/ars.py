"""Augmented Random Search, ARS V2-t (Mania, Guy and Recht 2018): derivative-free search over policies.

Pseudocode, as the loop below runs it:

    theta: the policy's parameters (a linear map of the normalised observation by default)
    for epoch in 1..epochs:
        draw n_directions directions delta_i ~ N(0, I)
        run one episode with each of the 2 * n_directions policies theta +/- noise_std * delta_i,
            all at once, in 2 * n_directions env copies         # r+_i, r-_i: their returns
        keep the top_b directions by max(r+_i, r-_i)
        theta += step_size / (top_b * sigma_R) * sum_kept (r+_i - r-_i) delta_i
            with sigma_R the standard deviation of the 2 * top_b kept returns
        fold the observations of the epoch into the running mean / std           # V2
    policies act deterministically, on (s - mean) / std: the argmax of the outputs for discrete
    actions, the output clipped to the bounds for continuous ones

The policy is the actor of an :class:`pgrl.networks.MLPActorCritic` (hidden_sizes=() by default:
linear, with a bias; any hidden_sizes for a small MLP), so the saved run loads with :func:`pgrl.load`
and evaluates like the other algorithms' (the critic and the Gaussian log-std are carried along unused).
An antithetic pair starts from the same initial state (common random numbers), so r+_i - r-_i measures
the direction, not the luck of the start.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from pgrl import distributed
from pgrl.agent import Agent
from pgrl.envs import EnvSpec
from pgrl.errors import PgrlError
from pgrl.hyperparams import validate
from pgrl.networks import MLPActorCritic, batched_forward, mode_net
from pgrl.rollout import run_episodes
from pgrl.training import Callback, Run, resolve_hyperparameters


def ars_step(
    theta: torch.Tensor,
    deltas: torch.Tensor,
    returns_pos: torch.Tensor,
    returns_neg: torch.Tensor,
    step_size: float,
    top_b: int,
) -> tuple[torch.Tensor, dict[str, float]]:
    """One ARS update (Mania et al. 2018, Algorithm 2, line 7).

        keep the top_b directions by max(r+_i, r-_i)
        theta' = theta + step_size / (top_b * sigma_R) * sum_kept (r+_i - r-_i) delta_i

    Args:
        theta: (D,) current parameters.
        deltas: (N, D) the directions, drawn from N(0, I) (the perturbations were theta +/- nu * delta_i).
        returns_pos, returns_neg: (N,) returns of theta + nu * delta_i and theta - nu * delta_i.
        step_size: alpha.
        top_b: b <= N, the number of best directions kept.

    Returns:
        (theta', info): the new parameters (D,), and ``info`` with ``sigma_R`` (the standard deviation
        of the 2b kept returns; when it is 0, so are all the differences, and theta is unchanged) and
        ``step_norm`` (the norm of theta' - theta).
    """
    best = torch.topk(torch.maximum(returns_pos, returns_neg), top_b).indices
    r_pos, r_neg = returns_pos[best], returns_neg[best]
    sigma_r = torch.cat([r_pos, r_neg]).std(unbiased=False)
    scale = step_size / (top_b * (sigma_r if sigma_r > 0 else torch.ones_like(sigma_r)))
    step = (scale * (r_pos - r_neg)).to(deltas.dtype) @ deltas[best]
    return theta + step, {"sigma_R": float(sigma_r), "step_norm": float(step.norm())}


def ars(
    env_fn: EnvSpec | None = None,
    ac_kwargs: dict[str, Any] | None = None,
    seed: int = 0,
    epochs: int | None = None,
    n_directions: int | None = None,
    top_b: int | None = None,
    step_size: float | None = None,
    noise_std: float | None = None,
    max_ep_len: int | None = None,
    logger_kwargs: dict[str, Any] | None = None,
    save_freq: int | None = None,
    *,
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
) -> tuple[Agent, list[dict[str, Any]]]:
    """Train a deterministic policy with Augmented Random Search (V2-t: observation normalisation, top-b).

    Hyperparameters left as ``None`` come from the env's preset or the defaults (``pgrl algos``).

    Args:
        env_fn: a function returning a gymnasium env, or an env id. The env needs a time limit: every
            iteration runs one complete episode per perturbed policy.
        ac_kwargs: ``hidden_sizes`` (default ``()``: a linear policy) and ``activation`` of the policy.
        seed: seeds python, numpy, torch, the directions and the envs.
        epochs: number of ARS iterations.
        n_directions: N, directions per iteration (2N episodes in 2N env copies).
        top_b: b <= N, the best directions kept for the update.
        step_size: alpha. noise_std: nu, the scale of the perturbations.
        max_ep_len: extra time limit per episode.
        logger_kwargs, save_freq: as for :func:`pgrl.ppo`.
        norm_obs: V2's running observation normalisation (V1 without it); saved with the model.
        vectorization, callback, eval_episodes, eval_every, tensorboard, verbose, overwrite, env, resume: as for
            :func:`pgrl.ppo`.

    Returns:
        (agent, history): the trained agent and one dict per iteration (the logged row: the episode
        columns describe the 2N perturbed policies' episodes; SigmaR, StepNorm, ParamNorm the update).
    """
    env_fn = env_fn if env_fn is not None else env
    given = dict(
        epochs=epochs, n_directions=n_directions, top_b=top_b, step_size=step_size, noise_std=noise_std,
        max_ep_len=max_ep_len, save_freq=save_freq, norm_obs=norm_obs,
    )  # fmt: skip
    env_fn, env_id, hp = resolve_hyperparameters("ars", env_fn, given, resume)
    hp["num_envs"] = 2 * hp["n_directions"]  # one env copy per perturbed policy
    validate(hp)
    # Data-parallel (pgrl.distributed): process r runs the pairs of directions r, r + W, r + 2W, ...
    distributed.init()
    world = distributed.world_size()
    if hp["n_directions"] < world:
        raise PgrlError(f"n_directions={hp['n_directions']} is fewer than the {world} processes; give each one")
    mine = torch.arange(distributed.rank(), hp["n_directions"], world)
    run_hp = hp if world == 1 else {**hp, "num_envs": 2 * len(mine)}

    run = Run("ars", env_fn, run_hp, MLPActorCritic, ac_kwargs, seed, logger_kwargs, callback, verbose,
              vectorization, eval_episodes, overwrite, env_id, eval_every=eval_every,
              tensorboard=tensorboard, resume=resume, rollouts=False)  # fmt: skip
    agent = run.agent
    net = mode_net(agent.ac.pi)  # the layers that map an observation to the deterministic action
    discrete = isinstance(agent.action_space, gym.spaces.Discrete)
    theta = parameters_to_vector(net.parameters()).detach()
    N, nu = hp["n_directions"], hp["noise_std"]

    def perturbed_policies(params: torch.Tensor) -> Callable[[np.ndarray], np.ndarray]:
        """Env actions for a batch of raw observations, row i acting with the parameters params[i]."""

        def act(obs: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                out = batched_forward(net, params, agent.obs_tensor(obs))  # normalised with frozen statistics
            return agent.to_env_action(out.argmax(-1).numpy() if discrete else out.numpy())

        return act

    while True:
        deltas = torch.randn(N, theta.numel())
        starts = np.random.randint(2**31, size=N).tolist()  # seeded by the run (and restored on resume)
        if world > 1:  # every process uses rank 0's directions and start states, and runs its share
            deltas = distributed.broadcast_tensor(deltas)
            starts = distributed.broadcast_tensor(torch.tensor(starts, dtype=torch.int64)).tolist()
            starts = [starts[i] for i in mine.tolist()]
            candidates = torch.cat([theta + nu * deltas[mine], theta - nu * deltas[mine]])
        else:
            candidates = torch.cat([theta + nu * deltas, theta - nu * deltas])  # (2N, D)
        rms_before = distributed.running_stats_snapshot(agent.obs_rms)
        episodes = run_episodes(run.envs, perturbed_policies(candidates), seed=starts + starts)
        returns = torch.from_numpy(episodes.returns).float()
        if world > 1:  # the returns of all 2N policies, in direction order, on every process
            k = len(mine)
            pairs = distributed.gather_rows(torch.stack([returns[:k], returns[k:]], dim=1))  # in rank order
            full = torch.empty(N, 2)
            full[torch.cat([torch.arange(r, N, world) for r in range(world)])] = pairs
            returns = torch.cat([full[:, 0], full[:, 1]])
        theta, info = ars_step(theta, deltas, returns[:N], returns[N:], hp["step_size"], hp["top_b"])
        vector_to_parameters(theta, net.parameters())
        if agent.obs_rms is not None:  # V2: statistics of the states visited, used from the next iteration
            agent.obs_rms.update(episodes.observations)
            if rms_before is not None:
                distributed.sync_running_stats(agent.obs_rms, rms_before)

        run.record_episodes(episodes.returns.tolist(), episodes.lengths.tolist(), episodes.num_steps)
        stats = {"SigmaR": info["sigma_R"], "StepNorm": info["step_norm"], "ParamNorm": float(theta.norm())}
        if not run.end_epoch(None, stats):
            break
    return run.finish()
