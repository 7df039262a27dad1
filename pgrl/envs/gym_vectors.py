"""gymnasium's sync and async vector envs as pgrl steps them: their step info kept to the keys the learner
reads, and an async env's close that cannot hang.

**The info.** gymnasium's sync vector env gathers every key of every copy's ``info`` into batched arrays on every step
(``VectorEnv._add_info``: a new array and a ``_key`` mask per key, then one assignment per copy and key).
A MuJoCo env's info has six numbers (its reward terms and positions) that no learner reads; gathering them
cost ~270 us a step for 8 Hopper-v5 copies (~10% of the step), and a split env (:mod:`pgrl.envs.split`)
then pickled them through its pipe and joined the two halves' (another ~110 us). What pgrl reads
from a vector env's info is :data:`LEARNER_INFO`: the true final observation of an ended episode, the
ended step's own info (where :mod:`pgrl.envs.limits` marks an episode it cut), and the action mask.

The copies' envs and their wrappers still see and return their whole info; only the vector env's batched
info leaves the other keys out. ``make_vec_env(..., info_keys=None)`` keeps gymnasium's behaviour.

**The close.** gymnasium's ``AsyncVectorEnv.close()`` waits without a limit for each worker to answer and to
end, so an env stuck in its step or its close held the run's end (or a failed run's) forever. pgrl's waits
at most :data:`CLOSE_TIMEOUT_S` in all, then kills the workers still running.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Collection, Iterable
from typing import Any

import gymnasium as gym
from gymnasium.vector import AutoresetMode
from gymnasium.vector.async_vector_env import AsyncState

from pgrl.envs.limits import CAPPED
from pgrl.spaces import MASK_KEY

LEARNER_INFO: frozenset[str] = frozenset({"final_obs", "final_info", MASK_KEY, CAPPED})
"""The info keys pgrl's collector and evaluations read (a nested ``final_info`` keeps the same ones)."""

CLOSE_TIMEOUT_S = 5.0
"""Seconds an async vector env's close waits for its workers before it kills them."""


class KeepInfo(gym.vector.VectorEnv):
    """A gymnasium vector env's info gathering (``_add_info``) that keeps only the keys in ``info_keys``
    (None: every key, as gymnasium's)."""

    info_keys: frozenset[str] | None = None

    def _add_info(self, vector_infos: dict[str, Any], env_info: dict[str, Any], env_num: int) -> dict[str, Any]:
        # gymnasium calls this for each copy's info and again for a nested dict (final_info): both filtered
        if self.info_keys is not None:
            env_info = {k: v for k, v in env_info.items() if k in self.info_keys}
            if not env_info:
                return vector_infos
        return super()._add_info(vector_infos, env_info, env_num)


def keys(info_keys: Collection[str] | None) -> frozenset[str] | None:
    """``info_keys`` as a frozenset (None stays None: every key)."""
    return None if info_keys is None else frozenset(info_keys)


class SyncVectorEnv(KeepInfo, gym.vector.SyncVectorEnv):
    """gymnasium's ``SyncVectorEnv`` in SAME_STEP autoreset mode, its info kept to ``info_keys``."""

    def __init__(self, env_fns: Iterable[Callable[[], gym.Env]], info_keys: Collection[str] | None = None) -> None:
        self.info_keys = keys(info_keys)
        super().__init__(list(env_fns), autoreset_mode=AutoresetMode.SAME_STEP)


class AsyncVectorEnv(KeepInfo, gym.vector.AsyncVectorEnv):
    """gymnasium's ``AsyncVectorEnv`` in SAME_STEP autoreset mode, its info kept to ``info_keys`` (the workers
    still send the whole info; the keys are dropped where the copies' infos are gathered)."""

    def __init__(
        self, env_fns: Iterable[Callable[[], gym.Env]], info_keys: Collection[str] | None = None, **kwargs: Any
    ) -> None:
        self.info_keys = keys(info_keys)
        super().__init__(list(env_fns), autoreset_mode=AutoresetMode.SAME_STEP, **kwargs)

    def close_extras(self, timeout: float | None = None, terminate: bool = False) -> None:
        """gymnasium's close (a pending step or reset collected, each worker told to close, the processes
        joined), waiting at most ``timeout`` (None: :data:`CLOSE_TIMEOUT_S`) in all; then the workers still
        running are killed. ``terminate``: kill them without asking."""
        limit = CLOSE_TIMEOUT_S if timeout is None else timeout
        deadline = time.monotonic() + (0.0 if terminate else limit)

        def left() -> float:
            return max(0.0, deadline - time.monotonic())

        if not terminate and self._state != AsyncState.DEFAULT:  # a step or reset still out: its answers first
            try:
                getattr(self, f"{self._state.value}_wait")(left())
            except Exception:  # it timed out (mp.TimeoutError) or failed: the workers cannot be asked
                deadline = time.monotonic()
        pipes = [p for p in self.parent_pipes if p is not None and not p.closed]
        if left() > 0:
            for pipe in pipes:
                with contextlib.suppress(OSError):  # a worker already gone
                    pipe.send(("close", None))
            for pipe in pipes:
                with contextlib.suppress(OSError, EOFError):
                    if pipe.poll(left()):
                        pipe.recv()
        for process in self.processes:
            process.join(left())  # its env's close runs after it answered
        for process in self.processes:
            if process.is_alive():
                process.kill()
                process.join(limit)
        for pipe in pipes:
            pipe.close()
