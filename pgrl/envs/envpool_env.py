"""envpool (C++ vector envs, optional) adapted to the SAME_STEP autoreset semantics pgrl's collector expects.

envpool resets an env on the step *after* the one that ended its episode (NEXT_STEP: that step ignores
the action and returns the reset observation with reward 0), so a rollout would hold one fake transition
per episode. :class:`EnvpoolVectorEnv` instead resets the finished copies right away (envpool resets a
subset of copies with ``reset(env_id=...)``), returns their first new observation, and puts the true
final observation in ``info["final_obs"]``, as gymnasium's SAME_STEP vector envs do: every transition is
real, and a truncation bootstraps from V(final observation).

envpool seeds its copies when it is created (copy i gets seed + i in its own generator), so
``reset(seed=...)`` cannot reseed them: the seed given to :func:`pgrl.envs.make_vec_env` applies.
Install it with ``pip install envpool``; it has CartPole-v1, LunarLander-v3, and others.
"""

from __future__ import annotations

import importlib.util
import warnings
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from pgrl.errors import PgrlError


def envpool_available() -> bool:
    return importlib.util.find_spec("envpool") is not None


class EnvpoolVectorEnv(gym.vector.VectorEnv):
    """``num_envs`` copies of an envpool env as a gymnasium vector env with SAME_STEP autoreset."""

    def __init__(self, env_id: str, num_envs: int, seed: int | None = None, max_ep_len: int | None = None) -> None:
        if not isinstance(env_id, str):
            raise PgrlError(
                "vectorization='envpool' needs a registered env id (envpool makes its own envs), not a factory"
            )
        if not envpool_available():
            raise PgrlError("vectorization='envpool' needs envpool: pip install envpool (or use 'sync' / 'async')")
        import envpool

        if env_id not in envpool.list_all_envs():
            raise PgrlError(f"envpool has no env {env_id!r}; use vectorization 'sync' or 'async' for it")
        kwargs: dict[str, Any] = {"num_envs": num_envs, "seed": 0 if seed is None else int(seed)}
        if max_ep_len is not None:
            default = envpool.make_spec(env_id).config.max_episode_steps
            kwargs["max_episode_steps"] = min(int(max_ep_len), int(default))
        with warnings.catch_warnings():  # gymnasium warns about envpool's float64 Box bounds
            warnings.simplefilter("ignore", UserWarning)
            self._env = envpool.make_gymnasium(env_id, **kwargs)
            self.single_observation_space = self._env.observation_space
            self.single_action_space = self._env.action_space
        self.metadata = {"autoreset_mode": AutoresetMode.SAME_STEP}
        self.num_envs = num_envs
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        if seed is not None:
            self.action_space.seed(seed)
        self._none = np.full(num_envs, None, dtype=object)

    def reset(self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None) -> Any:
        obs, _ = self._env.reset()  # seeds are fixed at creation (see the module docstring)
        return obs, {}

    def step(self, actions: Any) -> Any:
        obs, reward, terminated, truncated, _ = self._env.step(np.asarray(actions))
        done = terminated | truncated
        info: dict[str, Any] = {}
        if done.any():
            ids = np.flatnonzero(done)
            obs = np.array(obs, copy=True)
            final = self._none.copy()
            final[ids] = list(obs[ids])
            new_obs, _ = self._env.reset(env_id=ids.astype(np.int32))
            obs[ids] = new_obs
            info = {"final_obs": final, "_final_obs": done}
        return obs, reward, terminated, truncated, info

    def close_extras(self, **kwargs: Any) -> None:
        self._env.close()
