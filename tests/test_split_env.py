"""``--vec split``: half the copies in a worker process, stepping beside this process's half, the same steps
as a sync vector env of all the copies (pgrl.envs.split)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import pytest
import torch

import pgrl
from pgrl.envs import make_vec_env
from pgrl.envs.split import SplitVectorEnv
from pgrl.errors import PgrlError


def workers() -> list[multiprocessing.Process]:
    return [p for p in multiprocessing.active_children() if p.name == "pgrl-env"]


def test_split_steps_each_copy_as_a_sync_vector_env_does() -> None:
    sync = make_vec_env("CartPole-v1", 5, seed=3, vectorization="sync", max_ep_len=17)
    split = make_vec_env("CartPole-v1", 5, seed=3, vectorization="split", max_ep_len=17)
    assert isinstance(split, SplitVectorEnv) and (split.local, split.num_envs) == (2, 5)
    assert split.single_observation_space == sync.single_observation_space
    assert split.action_space.shape == sync.action_space.shape == (5,)
    for a, b in zip(sync.reset(seed=11), split.reset(seed=11), strict=True):
        np.testing.assert_equal(a, b)
    rng = np.random.default_rng(0)
    ends = 0
    for _ in range(300):
        actions = rng.integers(0, 2, size=5)
        (o1, r1, te1, tr1, i1), (o2, r2, te2, tr2, i2) = sync.step(actions), split.step(actions)
        for x, y in ((o1, o2), (r1, r2), (te1, te2), (tr1, tr2)):
            np.testing.assert_array_equal(x, y)
        assert set(i1) == set(i2)
        if "final_obs" in i1:  # SAME_STEP autoreset: the true last observation of each ended copy
            np.testing.assert_array_equal(i1["_final_obs"], i2["_final_obs"])
            for k in np.flatnonzero(i1["_final_obs"]):
                np.testing.assert_array_equal(i1["final_obs"][k], i2["final_obs"][k])
        ends += int((te1 | tr1).sum())
    assert ends > 20 and tr1.dtype == tr2.dtype  # episodes ended on both sides of the split, time limits too
    for a, b in zip(sync.reset(seed=[5, 4, 3, 2, 1]), split.reset(seed=[5, 4, 3, 2, 1]), strict=True):
        np.testing.assert_equal(a, b)
    sync.close()
    split.close()
    assert not workers()


def test_training_with_split_envs_is_bit_identical_to_sync(tmp_path: Path) -> None:
    kw: dict[str, Any] = dict(epochs=2, steps_per_epoch=256, num_envs=4, minibatch_size=128, update_epochs=2,
                              eval_episodes=2, seed=7, verbose=False)  # fmt: skip
    runs, stepping = {}, []
    for vec in ("sync", "split"):
        agent, history = pgrl.ppo("CartPole-v1", vectorization=vec, logger_kwargs={"output_dir": str(tmp_path / vec)},
                                  callback=lambda *_: stepping.append(len(workers())), **kw)  # fmt: skip
        runs[vec] = ([p.detach().clone() for p in agent.ac.parameters()], history)
    assert stepping == [0, 0, 1, 1]  # the split run's copies 2 and 3 stepped in a worker process
    for p, q in zip(runs["sync"][0], runs["split"][0], strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    assert [h["AverageEpRet"] for h in runs["sync"][1]] == [h["AverageEpRet"] for h in runs["split"][1]]
    assert not workers()


class OddSeedFails(gym.Env):
    """Raises in its third step when it was reset with an odd seed (copy 1 of a 2-copy env: the worker's)."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}
    observation_space = gym.spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.odd, self.t = seed is not None and seed % 2 == 1, 0
        return np.zeros(1, dtype=np.float32), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        self.t += 1
        if self.odd and self.t == 3:
            raise ValueError(f"the worker's copy failed in pid {os.getpid()}")
        return np.zeros(1, dtype=np.float32), 1.0, False, False, {}


def test_an_error_in_the_workers_env_is_raised_here_with_its_type() -> None:
    envs = make_vec_env(OddSeedFails, 2, vectorization="split")
    envs.reset(seed=0)
    envs.step(np.zeros(2, dtype=np.int64))
    envs.step(np.zeros(2, dtype=np.int64))
    with pytest.raises(ValueError, match="the worker's copy failed in pid") as info:
        envs.step(np.zeros(2, dtype=np.int64))
    assert str(os.getpid()) not in str(info.value)  # it came from the other process
    envs.close()
    assert not workers()


def test_the_worker_leaves_signals_to_this_process_and_ends_with_close() -> None:
    envs = make_vec_env("CartPole-v1", 4, seed=0, vectorization="split")
    envs.reset(seed=0)
    (worker,) = workers()
    # a terminal's Ctrl-C, or a scheduler's SIGTERM to this process group, does not reach it
    assert os.getpgid(worker.pid) != os.getpgid(0)
    os.kill(worker.pid, signal.SIGINT)
    time.sleep(0.2)
    assert worker.is_alive()
    envs.step(np.zeros(4, dtype=np.int64))  # it still answers
    envs.close()
    assert not worker.is_alive() and not workers()
    envs.close()  # twice is fine


@pytest.mark.parametrize("vec", ["split", "async"])
def test_an_interpreter_that_exits_without_closing_the_envs_ends(vec: str) -> None:
    """multiprocessing ends a daemonic worker at exit with SIGTERM, then waits for it."""
    import subprocess
    import sys

    code = f"from pgrl.envs import make_vec_env; make_vec_env('CartPole-v1', 4, vectorization='{vec}').reset(seed=0)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]


def test_split_needs_two_copies() -> None:
    with pytest.raises(PgrlError, match="--vec split needs at least 2 env copies"):
        make_vec_env("CartPole-v1", 1, vectorization="split")


def test_auto_splits_the_mujoco_envs_whose_step_is_mostly_simulation() -> None:
    from pgrl.envs.named import NamedEnv
    from pgrl.envs.vector import resolve_vectorization

    pytest.importorskip("mujoco")
    assert resolve_vectorization("Hopper-v5", "auto", num_envs=16) == "split"
    assert resolve_vectorization("Walker2d-v4", "auto", num_envs=2) == "split"
    assert resolve_vectorization("Ant-v5", "auto", per_copy_seeds=True, num_envs=16) == "split"  # ARS too
    assert resolve_vectorization(NamedEnv("Humanoid-v5", {"forward_reward_weight": 1.0}), "auto", num_envs=4) == "split"
    assert resolve_vectorization("Hopper-v5", "auto", num_envs=1) == "sync"  # one copy: nothing to split
    assert resolve_vectorization("Hopper-v5", "sync", num_envs=16) == "sync"  # what the caller asks
    for other in ("HalfCheetah-v5", "InvertedPendulum-v5", "Pendulum-v1", OddSeedFails):
        assert resolve_vectorization(other, "auto", num_envs=16) == "sync", other
    assert resolve_vectorization("CartPole-v1", "auto", num_envs=16) == "native"


def test_a_hopper_run_steps_half_its_copies_in_a_worker(tmp_path: Path) -> None:
    import json

    pytest.importorskip("mujoco")
    stepping: list[int] = []
    pgrl.ppo("Hopper-v5", epochs=1, num_envs=4, steps_per_epoch=64, max_ep_len=16, eval_episodes=0, verbose=False,
             callback=lambda *_: stepping.append(len(workers())), logger_kwargs={"output_dir": str(tmp_path)})  # fmt: skip
    assert stepping == [1] and not workers()
    assert json.loads((tmp_path / "config.json").read_text())["vectorization"] == "split"  # resume steps the same


def _steps_in_a_pool_worker(steps: int) -> tuple[int, list[np.ndarray]]:
    envs = make_vec_env("CartPole-v1", 4, seed=1, vectorization="split")
    out = [envs.reset(seed=2)[0]] + [envs.step(np.ones(4, dtype=np.int64))[0] for _ in range(steps)]
    parts = len(envs.envs)  # type: ignore[attr-defined]
    envs.close()
    return parts, out


def test_a_daemonic_process_steps_every_copy_itself() -> None:
    """A multiprocessing.Pool worker may not start a process: split then steps as sync, the same steps."""
    with multiprocessing.get_context("fork").Pool(1) as pool:
        parts, there = pool.apply(_steps_in_a_pool_worker, (30,))
    assert parts == 1
    sync = make_vec_env("CartPole-v1", 4, seed=1, vectorization="sync")
    here = [sync.reset(seed=2)[0]] + [sync.step(np.ones(4, dtype=np.int64))[0] for _ in range(30)]
    for a, b in zip(here, there, strict=True):
        np.testing.assert_array_equal(a, b)


def test_the_worker_ends_quietly_when_this_process_goes_away() -> None:
    envs = make_vec_env("CartPole-v1", 2, seed=0, vectorization="split")
    worker = envs.envs[1]  # type: ignore[attr-defined]
    worker._pipe.close()  # as when this process dies: the worker's next read finds the pipe closed
    worker.process.join(timeout=10)
    assert worker.process.exitcode == 0  # no traceback from a failed answer to nobody
    worker.closed = True
    envs.close()
