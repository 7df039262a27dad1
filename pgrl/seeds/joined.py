"""K seeds' CartPole-v1 copies stepped as one native vector env, each seed's copies drawing their start states
from that seed's own env.

gymnasium's ``CartPoleVectorEnv`` steps all its copies with a handful of numpy operations, whatever their
number (here ~86 us a call for 20 copies, ~104 us for 200), so K seeds' envs side by side
(:class:`pgrl.envs.concat.ConcatVectorEnv`, K calls a step) cost ~K times one seed's. One env of all the
copies would draw every start state from its one random generator, so the seeds would no longer be apart;
:class:`JoinedCartPoles` steps one big env and redraws each reset copy's start state from its own seed's env,
exactly as that env would have drawn it. The physics act on each copy alone, so every seed's copies see what
they would see in their own env (tests/test_seeds_joined.py compares the two step by step), and each seed's
env keeps its state current (views into the big env's arrays), so its checkpoint and resume are unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import gymnasium as gym
import numpy as np
from gymnasium.envs.classic_control.cartpole import CartPoleVectorEnv

from pgrl.envs.concat import ConcatVectorEnv

_APART = ("num_envs", "screen_width", "screen_height", "_np_random_seed")  # what need not agree


def side_by_side(envs: Sequence[gym.vector.VectorEnv]) -> ConcatVectorEnv:
    """The agents' vector envs as one: :class:`JoinedCartPoles` where they are all gymnasium's CartPole
    vector env with the same settings, else :class:`pgrl.envs.concat.ConcatVectorEnv`."""
    return JoinedCartPoles(envs) if JoinedCartPoles.fits(envs) else ConcatVectorEnv(envs)


def _settings(env: gym.vector.VectorEnv) -> dict[str, Any]:
    """A CartPole vector env's physics and limits (its plain-valued attributes)."""
    return {k: v for k, v in vars(env).items() if isinstance(v, bool | int | float | str) and k not in _APART}


class JoinedCartPoles(ConcatVectorEnv):
    """K ``CartPoleVectorEnv`` s (the agents' own, seeded as their runs seed them) stepped as one of all
    their copies; reset, observations, rewards, ends and each env's random stream as
    :class:`ConcatVectorEnv` of them gives."""

    def __init__(self, envs: Sequence[gym.vector.VectorEnv]) -> None:
        super().__init__(envs)
        self.carts = cast(list[CartPoleVectorEnv], self.envs)
        first = self.carts[0]
        self.big = CartPoleVectorEnv(num_envs=self.num_envs)
        for key, value in _settings(first).items():
            setattr(self.big, key, value)
        ends = np.cumsum(self.counts)
        self._slices = [slice(int(e - n), int(e)) for e, n in zip(ends, self.counts, strict=True)]
        if all(e.state is not None for e in self.carts):  # envs already running (a group that lost a seed)
            self._gather()

    @staticmethod
    def fits(envs: Sequence[gym.vector.VectorEnv]) -> bool:
        """Whether ``envs`` are all an unwrapped ``CartPoleVectorEnv`` (no subclass: its state could be more)
        with the same settings and no rendering."""
        if not envs or any(type(e) is not CartPoleVectorEnv or e.render_mode is not None for e in envs):
            return False
        first = _settings(envs[0])
        return all(_settings(e) == first for e in envs[1:])

    def reset(self, *, seed: Any = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        """Each agent's env reset with its seed (see :meth:`ConcatVectorEnv.reset`), the big env taking over."""
        obs, info = super().reset(seed=seed, options=options)
        self._gather()
        return obs, info

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        big = self.big
        resetting = big.prev_done  # the copies this step starts anew (NEXT_STEP autoreset)
        obs, reward, terminated, truncated, info = big.step(np.asarray(actions))
        if resetting.any():  # their start states from their own env's generator, as their own step draws them
            state: Any = big.state
            for env, part in zip(self.carts, self._slices, strict=True):
                mine = np.flatnonzero(resetting[part])
                if len(mine):
                    state[:, mine + part.start] = env.np_random.uniform(big.low, big.high, size=(4, len(mine)))
            obs = state.T.astype(np.float32)
        self._scatter()
        return obs, reward, terminated, truncated, info

    def close(self, **kwargs: Any) -> None:
        super().close(**kwargs)
        self.big.close()

    def _gather(self) -> None:
        """The big env's state from the agents' envs' (after their reset, or where they stand)."""
        carts = self.carts
        self.big.low, self.big.high = carts[0].low, carts[0].high
        self.big.state = np.concatenate([e.state for e in carts], axis=1)  # type: ignore[assignment]
        self.big.steps = np.concatenate([e.steps for e in carts])
        self.big.prev_done = np.concatenate([e.prev_done for e in carts])
        self.big.steps_beyond_terminated = None
        self._scatter()

    def _scatter(self) -> None:
        """Each agent's env sees its copies' current state (views: nothing is copied), for its checkpoint."""
        state: Any = self.big.state
        for env, part in zip(self.carts, self._slices, strict=True):
            env.state, env.steps, env.prev_done = state[:, part], self.big.steps[part], self.big.prev_done[part]
