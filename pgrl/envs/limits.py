"""Every evaluation ends: an episode is capped at the env's time limit, else ``max_ep_len``, else
:data:`DEFAULT_EPISODE_CAP` steps.

An env without a time limit (CliffWalking-v1, MinAtar, an env_fn without a ``TimeLimit``) can run an
episode forever under a deterministic policy that never reaches a terminal state. The final and the
in-training evaluations, ``pgrl eval``, ``pgrl watch`` and ARS's episodes therefore wrap such an env in
:class:`EpisodeCap`, and say so in one line when the cap cut an episode.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np

DEFAULT_EPISODE_CAP = 10_000
"""The steps an episode of an env without a time limit may last in an evaluation (and in ARS)."""

CAPPED = "pgrl_episode_cap"
"""The ``info`` key :class:`EpisodeCap` sets (True) on the step where it cut an episode."""


def time_limit(env: gym.Env) -> int | None:
    """The max_episode_steps of the ``TimeLimit`` around ``env`` (None: it has none)."""
    e: Any = env
    while True:
        if isinstance(e, gym.wrappers.TimeLimit):
            return int(e._max_episode_steps)
        if not isinstance(e, gym.Wrapper):
            return None
        e = e.env


class EpisodeCap(gym.wrappers.TimeLimit):
    """gymnasium's ``TimeLimit`` that marks the step where it cut an episode (``info["pgrl_episode_cap"]``)."""

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = super().step(action)
        elapsed: int = self._elapsed_steps  # type: ignore[assignment]  # counted since the reset
        if truncated and not terminated and elapsed >= self._max_episode_steps:
            info = {**info, CAPPED: True}
        return obs, reward, terminated, truncated, info


def capped(env_fn: Callable[[], gym.Env], cap: int = DEFAULT_EPISODE_CAP) -> Callable[[], gym.Env]:
    """A factory whose env is capped at ``cap`` steps an episode when it has no time limit of its own."""

    def make() -> gym.Env:
        env = env_fn()
        return env if time_limit(env) is not None else EpisodeCap(env, max_episode_steps=cap)

    return make


def cut_flags(info: dict[str, Any], num_envs: int) -> np.ndarray:
    """(num_envs,) bool: which copies' episodes the cap cut in a vector env's step (SAME_STEP autoreset:
    the ending step's info is ``info["final_info"]``)."""
    final = info.get("final_info")
    if not final or CAPPED not in final:
        return np.zeros(num_envs, dtype=bool)
    return np.asarray(final[CAPPED], dtype=bool) & np.asarray(final[f"_{CAPPED}"], dtype=bool)


def warn_cut(cut: int, episodes: int, env: object, cap: int = DEFAULT_EPISODE_CAP) -> None:
    """The one-line warning that the cap cut ``cut`` of ``episodes`` episodes (nothing when none)."""
    if cut:
        print(
            f"pgrl: warning: {cut} of {episodes} episodes of {env} were cut at {cap} steps (the env has no time "
            "limit; set max_ep_len (--max-ep-len) to choose another cap)",
            file=sys.stderr,
        )


def env_label(env: object) -> str:
    """An env id for messages (a factory: "the env")."""
    name = env if isinstance(env, str) else getattr(env, "id", None)
    return name if isinstance(name, str) else "the env"
