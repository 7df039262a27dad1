"""Every evaluation ends: an env without a time limit whose deterministic policy never terminates is capped
at 10,000 steps an episode (the final and in-training evaluations, pgrl.evaluate, pgrl eval, watch's
episodes and ARS's), with a one-line warning; each test is bounded by a short alarm."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import pytest

import pgrl
from pgrl.cli import main
from pgrl.envs import DEFAULT_EPISODE_CAP
from pgrl.watch import record_episodes, render_env


class EndlessEnv(gym.Env):
    """Never terminates, has no TimeLimit: reward 1 a step, a 4x4 picture."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 30}

    def __init__(self, render_mode: str | None = None) -> None:
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.render_mode = render_mode

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        return np.zeros(2, np.float32), 1.0, False, False, {}

    def render(self) -> np.ndarray:
        return np.zeros((4, 4, 3), np.uint8)


if "PgrlTest/Endless-v0" not in gym.registry:
    gym.register("PgrlTest/Endless-v0", entry_point=EndlessEnv)  # no max_episode_steps: no time limit


@pytest.fixture(autouse=True)
def alarm() -> Iterator[None]:
    """A hang fails the test after 90 seconds instead of stalling the suite."""

    def fail(signum: int, frame: Any) -> None:
        raise TimeoutError("the evaluation did not end")

    previous = signal.signal(signal.SIGALRM, fail)
    signal.alarm(90)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


TINY = dict(steps_per_epoch=32, num_envs=2, epochs=1, minibatch_size=32, update_epochs=1, verbose=False)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("endless") / "run"
    pgrl.ppo("PgrlTest/Endless-v0", **TINY, eval_episodes=1, logger_kwargs={"output_dir": str(run)})
    return run


def test_the_final_evaluation_ends_at_the_cap(trained: Path, capsys: pytest.CaptureFixture) -> None:
    result = (trained / "eval.json").read_text()
    assert f'"mean_length": {float(DEFAULT_EPISODE_CAP)}' in result


def test_pgrl_evaluate_caps_and_warns(trained: Path, capsys: pytest.CaptureFixture) -> None:
    returns, lengths = pgrl.evaluate(pgrl.load(trained), "PgrlTest/Endless-v0", episodes=2)
    assert lengths.tolist() == [DEFAULT_EPISODE_CAP] * 2 and returns.tolist() == [float(DEFAULT_EPISODE_CAP)] * 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "pgrl: warning: 2 of 2 episodes of PgrlTest/Endless-v0 were cut at 10000 steps (the env has no time limit; "
        "set max_ep_len (--max-ep-len) to choose another cap)"
    ]
    _, lengths = pgrl.evaluate(pgrl.load(trained), "PgrlTest/Endless-v0", episodes=1, max_ep_len=50)
    assert lengths.tolist() == [50] and "warning" not in capsys.readouterr().err  # a cap the caller chose


def test_pgrl_eval_ends(trained: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["eval", str(trained), "--episodes", "1"]) == 0
    out = capsys.readouterr()
    assert "mean length 10000.0" in out.out and "cut at 10000 steps" in out.err


def test_in_training_evaluations_end(tmp_path: Path) -> None:
    _, history = pgrl.ppo(
        "PgrlTest/Endless-v0", **TINY, eval_every=32, eval_episodes=1, logger_kwargs={"output_dir": str(tmp_path)}
    )
    assert history[0]["EvalEpLen"] == DEFAULT_EPISODE_CAP


def test_watch_ends(trained: Path, capsys: pytest.CaptureFixture) -> None:
    env = render_env("PgrlTest/Endless-v0")
    lengths: list[int] = []
    frames = sum(1 for _ in record_episodes(pgrl.load(trained), env, episodes=1, lengths=lengths))
    assert lengths == [DEFAULT_EPISODE_CAP] and frames == DEFAULT_EPISODE_CAP + 1
    assert "cut at 10000 steps" in capsys.readouterr().err


def test_ars_episodes_end(tmp_path: Path) -> None:
    _, history = pgrl.ars("PgrlTest/Endless-v0", epochs=1, n_directions=1, top_b=1, eval_episodes=0, verbose=False,
                          logger_kwargs={"output_dir": str(tmp_path)})  # fmt: skip
    assert history[0]["EpLen"] == DEFAULT_EPISODE_CAP
