"""A vector env's info kept to the keys the learner reads (pgrl.envs.gym_vectors): the rest left out by sync, async
and split envs alike, what pgrl reads (final_obs, final_info, action masks, the episode cap's mark) kept."""

from __future__ import annotations

import importlib
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from pgrl.envs import make_vec_env
from pgrl.envs.gym_vectors import LEARNER_INFO
from pgrl.envs.limits import CAPPED, capped
from pgrl.spaces import MASK_KEY

EPISODE = 3


class Chatty(gym.Env):
    """Terminates every EPISODE steps; its info has an action mask and a number nothing in pgrl reads."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(1, np.float32), {MASK_KEY: np.array([True, True]), "x_position": 0.0}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        self.t += 1
        info = {MASK_KEY: np.array([True, self.t % 2 == 0]), "x_position": float(self.t)}
        return np.full(1, self.t, np.float32), 1.0, self.t == EPISODE, False, info


def endless() -> gym.Env:
    """Never terminates: the evaluation cap (CAPPED) cuts it."""
    env = Chatty()
    env.step = lambda a: (np.zeros(1, np.float32), 0.0, False, False, {"x_position": 1.0})  # type: ignore[method-assign]
    return env


@pytest.mark.parametrize("vectorization", ["sync", "async", "split"])
def test_learner_info_keeps_what_pgrl_reads_and_drops_the_rest(vectorization: str) -> None:
    kept = make_vec_env(Chatty, 3, seed=0, vectorization=vectorization, info_keys=LEARNER_INFO)  # type: ignore[arg-type]
    every = make_vec_env(Chatty, 3, seed=0, vectorization=vectorization)  # type: ignore[arg-type]
    try:
        _, info = kept.reset(seed=0)
        assert set(info) == {MASK_KEY, f"_{MASK_KEY}"}
        assert "x_position" in every.reset(seed=0)[1]
        for _ in range(EPISODE):
            _, _, term, _, info = kept.step(np.zeros(3, dtype=np.int64))
            full = every.step(np.zeros(3, dtype=np.int64))[4]
            assert "x_position" in full and "x_position" not in info
            np.testing.assert_equal(info[MASK_KEY], full[MASK_KEY])
        assert term.all()
        assert set(info) == {MASK_KEY, f"_{MASK_KEY}", "final_obs", "_final_obs", "final_info", "_final_info"}
        np.testing.assert_equal(np.stack(list(info["final_obs"])), np.full((3, 1), EPISODE, np.float32))
        assert set(info["final_info"]) == {MASK_KEY, f"_{MASK_KEY}"}  # the nested info is kept alike
        assert set(full["final_info"]) == {MASK_KEY, f"_{MASK_KEY}", "x_position", "_x_position"}
    finally:
        kept.close()
        every.close()


def test_the_episode_caps_mark_is_kept() -> None:
    envs = make_vec_env(capped(endless, 2), 2, seed=0, vectorization="sync", info_keys=LEARNER_INFO)
    envs.reset(seed=0)
    envs.step(np.zeros(2, dtype=np.int64))
    _, _, _, trunc, info = envs.step(np.zeros(2, dtype=np.int64))
    assert trunc.all() and info["final_info"][CAPPED].all()
    assert "x_position" not in info and "x_position" not in info["final_info"]


def test_runs_and_evaluations_gather_only_the_learner_keys(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    import pgrl

    evaluate = importlib.import_module("pgrl.evaluate")  # the package attribute is the function
    from pgrl.training import build

    asked: list[tuple[str, Any]] = []

    def spy(module: Any) -> None:
        real = module.make_vec_env

        def make(*args: Any, **kwargs: Any) -> gym.vector.VectorEnv:
            asked.append((module.__name__, kwargs.get("info_keys")))
            return real(*args, **kwargs)

        monkeypatch.setattr(module, "make_vec_env", make)

    spy(build)
    spy(evaluate)
    pgrl.ppo(Chatty, epochs=1, steps_per_epoch=64, num_envs=2, eval_episodes=2, verbose=False,
             logger_kwargs={"output_dir": str(tmp_path / "run")})  # fmt: skip
    assert {name for name, _ in asked} == {build.__name__, evaluate.__name__}
    assert all(keys == LEARNER_INFO for _, keys in asked)
