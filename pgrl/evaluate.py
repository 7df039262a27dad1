"""Deterministic evaluation: K episodes spread over a vector env, separate from training envs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from pgrl.actions import mask_of
from pgrl.agent import Agent
from pgrl.envs import EnvSpec, make_vec_env
from pgrl.envs.gym_vectors import LEARNER_INFO
from pgrl.envs.limits import DEFAULT_EPISODE_CAP, cut_flags, env_label, warn_cut
from pgrl.envs.vector import has_native_vectorization
from pgrl.threads import one_thread

EVAL_SEED_OFFSET = 1_000_000  # evaluation episodes never replay the training seeds


def evaluate(
    agent: Agent,
    env: EnvSpec,
    episodes: int = 20,
    seed: int = 0,
    deterministic: bool = True,
    num_envs: int | None = None,
    max_ep_len: int | None = None,
    vectorization: str = "auto",
) -> tuple[np.ndarray, np.ndarray]:
    """Run ``episodes`` complete episodes and return their (returns, lengths), each shaped (episodes,).

    The episodes run in ``num_envs`` parallel copies (default :func:`eval_copies`); copy i runs a fixed
    quota of episodes so that the result does not depend on which episodes end first. With
    ``deterministic`` the policy's mode is used (argmax / Gaussian mean). Every episode ends: it is capped
    at the env's time limit, else ``max_ep_len``, else :data:`pgrl.envs.DEFAULT_EPISODE_CAP` steps, with a
    one-line warning when that cap cut an episode. Action masks (``info["action_mask"]`` or the
    observation's) are obeyed. ``vectorization``: "auto" steps the env's own vectorised implementation
    where it has one (CartPole-v1's), else gymnasium's sync vector env; "sync" always the latter (the
    evaluations of pgrl before 2026-12-01 ran so: other start states than "auto"'s).
    """
    n = num_envs or eval_copies(env, episodes, vectorization)
    envs = eval_envs(env, n, seed + EVAL_SEED_OFFSET, max_ep_len, vectorization)

    policy = agent.batch_policy(n, deterministic)  # the weights stay as they are while it runs

    def act(obs: Any, info: dict[str, Any]) -> Any:
        return policy(obs, _info_mask(agent, info))

    # One torch thread: a small network's forward pass per step was ~20x faster so on this 2-core machine.
    try:
        with one_thread():
            returns, lengths, cut = run_quotas(envs, act, quotas(episodes, n), seed + EVAL_SEED_OFFSET)
    finally:
        envs.close()
    warn_cut(cut, episodes, env_label(env))
    return np.array([x for rs in returns for x in rs]), np.array([x for ls in lengths for x in ls])


def eval_copies(env: EnvSpec, episodes: int, vectorization: str = "auto") -> int:
    """How many env copies an evaluation of ``episodes`` steps: one per episode in the env's own vectorised
    implementation (a copy more costs it next to nothing), else at most 10 (each a Python env)."""
    native = vectorization != "sync" and has_native_vectorization(env)
    return max(1, episodes if native else min(episodes, 10))


def eval_envs(
    env: EnvSpec, n: int, seed: int, max_ep_len: int | None, vectorization: str = "auto"
) -> gym.vector.VectorEnv:
    """The ``n`` copies an evaluation steps: the env's own vectorised implementation where it has one (one
    call per step for all copies: CartPole-v1's 500-step episodes evaluate ~4x faster), else gymnasium's sync
    vector env; every episode ends (the cap)."""
    return make_vec_env(env, n, seed=seed, vectorization=vectorization, max_ep_len=max_ep_len,  # type: ignore[arg-type]
                        episode_cap=DEFAULT_EPISODE_CAP, info_keys=LEARNER_INFO)  # fmt: skip


def quotas(episodes: int, n: int) -> np.ndarray:
    """How many of ``episodes`` each of ``n`` env copies runs: as equal as can be, the first ones one more."""
    quota = np.full(n, episodes // n)
    quota[: episodes % n] += 1
    return quota


def run_quotas(
    envs: gym.vector.VectorEnv, act: Callable[[Any, dict[str, Any]], Any], quota: np.ndarray, seed: Any
) -> tuple[list[list[float]], list[list[int]], int]:
    """Step ``envs`` (reset with ``seed``) with ``act(obs, info)`` until copy i has finished ``quota[i]``
    episodes: each copy's (returns, lengths), and how many episodes the episode cap cut."""
    n = envs.num_envs
    returns: list[list[float]] = [[] for _ in range(n)]
    lengths: list[list[int]] = [[] for _ in range(n)]
    ep_ret = np.zeros(n)
    ep_len = np.zeros(n, dtype=np.int64)
    cut = 0
    # A NEXT_STEP vector env (a native one) resets a copy on the step after its episode ended: that step is
    # no step of an episode (reward 0, not counted in its length).
    next_step = envs.metadata.get("autoreset_mode") == gym.vector.AutoresetMode.NEXT_STEP
    resetting = np.zeros(n, dtype=bool)
    obs, info = envs.reset(seed=seed)
    while any(len(returns[i]) < quota[i] for i in range(n)):
        obs, r, term, trunc, info = envs.step(act(obs, info))
        done = term | trunc
        if next_step:
            ep_ret += np.where(resetting, 0.0, r)
            ep_len += ~resetting
            done, resetting = done & ~resetting, done
        else:
            ep_ret += r
            ep_len += 1
        capped = cut_flags(info, n) if done.any() else None
        for i in np.flatnonzero(done):
            if len(returns[i]) < quota[i]:
                cut += bool(capped is not None and capped[i])
                returns[i].append(float(ep_ret[i]))
                lengths[i].append(int(ep_len[i]))
            ep_ret[i] = 0.0
            ep_len[i] = 0
    return returns, lengths, cut


def _info_mask(agent: Agent, info: dict[str, Any]) -> Any:
    """The env's ``info["action_mask"]`` (the observation's own mask the agent takes by itself)."""
    return None if agent.layout.mask_in_obs else mask_of(None, info, False)
