"""The envs pgrl registers with gymnasium when it is imported (without importing torch or the rest of pgrl)."""

from __future__ import annotations

import gymnasium as gym

CONTINUOUS_CARTPOLE = "pgrl/ContinuousCartPole-v0"


def register_envs() -> None:
    """Register ``pgrl/ContinuousCartPole-v0`` (:mod:`pgrl.envs.continuous_cartpole`), once."""
    if CONTINUOUS_CARTPOLE not in gym.registry:
        gym.register(
            id=CONTINUOUS_CARTPOLE,
            entry_point="pgrl.envs.continuous_cartpole:ContinuousCartPoleEnv",
            max_episode_steps=500,
            reward_threshold=475.0,
        )
