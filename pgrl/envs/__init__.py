"""Environments: seeded vector envs from an id or a factory, and the envs pgrl registers."""

# Importing the module registers pgrl/ContinuousCartPole-v0 with gymnasium.
from pgrl.envs.continuous_cartpole import ContinuousCartPoleEnv
from pgrl.envs.limits import DEFAULT_EPISODE_CAP
from pgrl.envs.named import NamedEnv, Wrapper
from pgrl.envs.vector import EnvSpec, check_spaces, env_name, make_env_fn, make_vec_env, reward_threshold

__all__ = [
    "DEFAULT_EPISODE_CAP",
    "ContinuousCartPoleEnv",
    "EnvSpec",
    "NamedEnv",
    "Wrapper",
    "check_spaces",
    "env_name",
    "make_env_fn",
    "make_vec_env",
    "reward_threshold",
]
