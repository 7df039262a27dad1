"""Deterministic evaluation: K episodes spread over a vector env, separate from training envs."""

from __future__ import annotations

import numpy as np

from pgrl.agent import Agent
from pgrl.envs import EnvSpec, make_vec_env

EVAL_SEED_OFFSET = 1_000_000  # evaluation episodes never replay the training seeds


def evaluate(
    agent: Agent,
    env: EnvSpec,
    episodes: int = 20,
    seed: int = 0,
    deterministic: bool = True,
    num_envs: int | None = None,
    max_ep_len: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Run ``episodes`` complete episodes and return their (returns, lengths), each shaped (episodes,).

    The episodes run in ``num_envs`` parallel copies (default min(episodes, 10)); copy i runs a fixed
    quota of episodes so that the result does not depend on which episodes end first. With
    ``deterministic`` the policy's mode is used (argmax / Gaussian mean).
    """
    n = num_envs or min(episodes, 10)
    envs = make_vec_env(env, n, seed=seed + EVAL_SEED_OFFSET, max_ep_len=max_ep_len)
    quota = np.full(n, episodes // n)
    quota[: episodes % n] += 1
    returns: list[list[float]] = [[] for _ in range(n)]
    lengths: list[list[int]] = [[] for _ in range(n)]
    ep_ret = np.zeros(n)
    ep_len = np.zeros(n, dtype=np.int64)
    try:
        obs, _ = envs.reset(seed=seed + EVAL_SEED_OFFSET)
        while any(len(returns[i]) < quota[i] for i in range(n)):
            obs, r, term, trunc, _ = envs.step(agent.act(obs, deterministic=deterministic))
            ep_ret += r
            ep_len += 1
            for i in np.flatnonzero(term | trunc):
                if len(returns[i]) < quota[i]:
                    returns[i].append(float(ep_ret[i]))
                    lengths[i].append(int(ep_len[i]))
                ep_ret[i] = 0.0
                ep_len[i] = 0
    finally:
        envs.close()
    return np.array([x for rs in returns for x in rs]), np.array([x for ls in lengths for x in ls])
