"""Environments: seeded vector envs from an id or a factory, and the envs pgrl registers."""

from pgrl.envs.vector import EnvSpec, check_spaces, env_name, make_env_fn, make_vec_env

__all__ = ["EnvSpec", "check_spaces", "env_name", "make_env_fn", "make_vec_env"]
