"""An async vector env's close never hangs (pgrl.envs.gym_vectors): an env stuck in its close or its step is
killed after CLOSE_TIMEOUT_S; a well-behaved one still closes cleanly."""

from __future__ import annotations

import multiprocessing
import time
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from pgrl.envs import gym_vectors, make_vec_env

STUCK_S = 60.0


class Sticky(gym.Env):
    """A one-number env whose close (``stuck="close"``, in a worker: not the probes this process makes and
    closes) or step (``stuck="step"``) sleeps STUCK_S."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, stuck: str | None = None) -> None:
        self.stuck = stuck

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        return np.zeros(1, np.float32), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        if self.stuck == "step":
            time.sleep(STUCK_S)
        return np.zeros(1, np.float32), 0.0, False, False, {}

    def close(self) -> None:
        if self.stuck == "close" and multiprocessing.parent_process() is not None:
            time.sleep(STUCK_S)


@pytest.mark.parametrize("stuck", ["close", "step"])
def test_a_stuck_worker_is_killed_after_the_close_timeout(stuck: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gym_vectors, "CLOSE_TIMEOUT_S", 1.0)
    envs: Any = make_vec_env(lambda: Sticky(stuck), 2, seed=0, vectorization="async")
    envs.reset(seed=0)
    if stuck == "step":
        envs.step_async(np.zeros(2, dtype=np.int64))  # its answer never comes
    start = time.monotonic()
    envs.close()
    assert time.monotonic() - start < 1.0 + 3.0  # the limit, and the kill (gymnasium's waited STUCK_S or forever)
    assert not any(p.is_alive() for p in envs.processes)


def test_a_well_behaved_async_env_still_closes_cleanly() -> None:
    envs: Any = make_vec_env(lambda: Sticky(), 2, seed=0, vectorization="async")
    envs.reset(seed=0)
    envs.step(np.zeros(2, dtype=np.int64))
    envs.close()
    assert [p.exitcode for p in envs.processes] == [0, 0]  # they ended by themselves, not killed
    assert envs.closed
