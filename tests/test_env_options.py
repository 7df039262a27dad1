"""The env as the user names it: --env-kwargs (JSON literals, never evaluated), --wrapper module:Class in
order, pixel preprocessing by gymnasium's wrappers, envs a package registers (module:EnvId), all recorded
in config.json so that eval, watch, resume and grid rebuild the same env; and each bad input's one line."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import pytest

import pgrl
from pgrl.cli import main
from pgrl.envs import make_env_fn
from pgrl.envs.named import parse_kwargs
from pgrl.errors import PgrlError
from pgrl.grid import Grid

TINY = ["--epochs", "1", "--steps-per-epoch", "64", "--num-envs", "2", "--minibatch-size", "32",
        "--update-epochs", "1", "--eval-episodes", "2", "--quiet"]  # fmt: skip


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = main(list(argv))
    return status, out.getvalue(), err.getvalue()


def one_line_error(*argv: str) -> str:
    status, _, err = cli(*argv)
    lines = err.strip().splitlines()
    assert status == 2 and len(lines) == 1 and lines[0].startswith("pgrl: error: "), err
    return lines[0].removeprefix("pgrl: error: ")


def test_env_kwargs_are_json_literals_never_evaluated() -> None:
    assert parse_kwargs(["is_slippery=false", "map_name=8x8", "n=3", "desc=[\"SF\", \"FG\"]", "x=null"]) == {
        "is_slippery": False, "map_name": "8x8", "n": 3, "desc": ["SF", "FG"], "x": None
    }  # fmt: skip
    assert parse_kwargs(['{"stack_size": 4}']) == {"stack_size": 4}
    assert parse_kwargs(["cmd=__import__('os').system('true')"]) == {"cmd": "__import__('os').system('true')"}
    with pytest.raises(PgrlError, match="takes KEY=VALUE items"):
        parse_kwargs(["novalue"])


class Pixels(gym.Env):
    """A 16x16 RGB picture of noise; one step an episode."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 30}

    def __init__(self, render_mode: str | None = None) -> None:
        self.observation_space = gym.spaces.Box(0, 255, (16, 16, 3), np.uint8)
        self.action_space = gym.spaces.Discrete(2)
        self.render_mode = render_mode

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        return self.observation_space.sample(), float(action), True, False, {}

    def render(self) -> np.ndarray:
        return np.zeros((8, 8, 3), np.uint8)


if "PgrlTest/Pixels-v0" not in gym.registry:
    gym.register("PgrlTest/Pixels-v0", entry_point=Pixels, max_episode_steps=5)


def test_wrappers_apply_in_order_and_eval_watch_resume_rebuild_them(tmp_path: Path) -> None:
    run = tmp_path / "run"
    status, _, err = cli("train", "ppo", "--env", "CartPole-v1", "--out", str(run), *TINY,
                         "--wrapper", "gymnasium.wrappers:FrameStackObservation", "stack_size=2",
                         "--wrapper", "gymnasium.wrappers:FlattenObservation")  # fmt: skip
    assert status == 0, err
    config = json.loads((run / "config.json").read_text())
    assert config["wrappers"] == [
        {"wrapper": "gymnasium.wrappers:FrameStackObservation", "kwargs": {"stack_size": 2}},
        {"wrapper": "gymnasium.wrappers:FlattenObservation", "kwargs": {}},
    ]
    assert config["observation_space"]["shape"] == [8]  # stacked (2, 4), then flattened
    status, out, err = cli("eval", str(run), "--episodes", "2")
    assert status == 0 and "over 2 deterministic episodes" in out, err
    status, out, err = cli("watch", str(run), "--out", str(tmp_path / "w.gif"), "--max-ep-len", "5")
    assert status == 0, err
    status, _, err = cli("train", "ppo", "--resume", str(run), "--epochs", "2", "--quiet", "--eval-episodes", "0")
    assert status == 0, err
    assert len((run / "progress.txt").read_text().splitlines()) == 3


def test_pixel_preprocessing_uses_gymnasiums_wrappers(tmp_path: Path) -> None:
    run = tmp_path / "run"
    status, _, err = cli("train", "ppo", "--env", "PgrlTest/Pixels-v0", "--out", str(run), *TINY,
                         "--grayscale", "--resize", "8", "8", "--frame-stack", "2")  # fmt: skip
    assert status == 0, err
    config = json.loads((run / "config.json").read_text())
    assert [w["wrapper"] for w in config["wrappers"]] == [
        "gymnasium.wrappers:GrayscaleObservation", "gymnasium.wrappers:ResizeObservation",
        "gymnasium.wrappers:FrameStackObservation",
    ]  # fmt: skip
    assert config["observation_space"] == {"type": "Box", "shape": [2, 8, 8], "dtype": "uint8", "low": 0, "high": 255}
    agent = pgrl.load(run)
    assert agent.act(np.zeros((2, 8, 8), np.uint8)) in (0, 1)  # the CNN takes stacked grayscale frames


def test_an_atari_game_through_ale_py_and_atari_preprocessing(tmp_path: Path) -> None:
    """Real ALE (ale-py's Pong, registered by its package): AtariPreprocessing's 84x84 grayscale frames, four
    stacked, into the CNN; eval rebuilds the env from config.json. ALE's v5 envs skip frames themselves, so
    AtariPreprocessing refuses them unless made with frameskip=1, and the one line says how."""
    pytest.importorskip("ale_py")
    pytest.importorskip("cv2")
    env = "ale_py:ALE/Pong-v5"
    message = one_line_error("train", "ppo", "--env", env, "--atari-preprocessing", "--out", str(tmp_path / "x"))
    assert "frame-skipping" in message and "--env-kwargs frameskip=1" in message
    assert not (tmp_path / "x").exists()
    run = tmp_path / "run"
    status, _, err = cli("train", "ppo", "--env", env, "--env-kwargs", "frameskip=1", "--atari-preprocessing",
                         "--frame-stack", "4", "--max-ep-len", "50", "--out", str(run), *TINY)  # fmt: skip
    assert status == 0, err
    config = json.loads((run / "config.json").read_text())
    assert config["env_kwargs"] == {"frameskip": 1}
    assert config["observation_space"]["shape"] == [4, 84, 84]
    status, out, err = cli("eval", str(run), "--episodes", "1", "--max-ep-len", "30")
    assert status == 0 and "over 1 deterministic episodes" in out, err


def test_env_kwargs_reach_gym_make_and_are_recorded(tmp_path: Path) -> None:
    run = tmp_path / "run"
    status, _, err = cli("train", "ppo", "--env", "FrozenLake-v1", "--env-kwargs", "map_name=8x8", "is_slippery=false",
                         "--out", str(run), *TINY)  # fmt: skip
    assert status == 0, err
    config = json.loads((run / "config.json").read_text())
    assert config["env_kwargs"] == {"map_name": "8x8", "is_slippery": False}
    assert config["observation_space"]["n"] == 64  # the 8x8 map
    assert cli("eval", str(run), "--episodes", "1")[0] == 0  # rebuilt with the run's kwargs: 64 states
    message = one_line_error("train", "ppo", "--resume", str(run), "--epochs", "2", "--env-kwargs", "map_name=4x4")
    assert message.startswith("env_kwargs and wrappers {'env_kwargs': {'map_name': '4x4'}")
    assert "a resumed run keeps its env" in message


def test_grid_runs_take_env_kwargs(tmp_path: Path) -> None:
    summary = Grid(tmp_path / "grid", algos="ppo", envs="FrozenLake-v1", seeds=[0], eval_episodes=1,
                   env_kwargs={"map_name": "8x8"}, epochs=1, steps_per_epoch=64, num_envs=2, minibatch_size=32,
                   update_epochs=1).run(workers=1, verbose=False)  # fmt: skip
    assert summary.ok, summary.failures
    config = json.loads(next((tmp_path / "grid").rglob("config.json")).read_text())
    assert config["env_kwargs"] == {"map_name": "8x8"}


def test_envs_a_package_registers_are_named_module_colon_id() -> None:
    env = make_env_fn("minigrid:MiniGrid-Empty-5x5-v0")()
    assert env.spec is not None and env.spec.id == "MiniGrid-Empty-5x5-v0"
    env = make_env_fn("minatar.gym.register_envs:MinAtar/Breakout-v1")()  # registered through a function
    assert env.observation_space.shape == (10, 10, 4)


def test_a_run_of_a_python_env_fn_says_how_to_pass_it_back(tmp_path: Path) -> None:
    def flat_cliff() -> gym.Env:
        return gym.wrappers.TimeLimit(gym.wrappers.FlattenObservation(gym.make("CliffWalking-v1")), 20)

    run = tmp_path / "run"
    pgrl.ppo(flat_cliff, epochs=1, steps_per_epoch=64, num_envs=2, minibatch_size=32, eval_episodes=0, verbose=False,
             logger_kwargs={"output_dir": str(run)})  # fmt: skip
    config = json.loads((run / "config.json").read_text())
    assert config["env_fn"].endswith("flat_cliff")
    message = one_line_error("eval", str(run))
    assert "made by the function" in message and "flat_cliff" in message
    assert "pgrl.evaluate(pgrl.load(" in message and "env_fn)" in message
    assert "pgrl.watch(" in one_line_error("watch", str(run), "--out", str(tmp_path / "x.gif"))
    returns, _ = pgrl.evaluate(pgrl.load(run), flat_cliff, episodes=1)  # what the message says works
    assert len(returns) == 1


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--env", "CartPole-v1", "--env-kwargs", "slippery=1"],
         "CartPole-v1 does not take env_kwargs ['slippery']"),
        (["--env", "CartPole-v1", "--wrapper", "nosuchpackage.wrappers:Thing"],
         "cannot import wrapper 'nosuchpackage.wrappers:Thing': No module named 'nosuchpackage'"),
        (["--env", "CartPole-v1", "--wrapper", "gymnasium.wrappers:NoSuchWrapper"],
         "cannot import wrapper 'gymnasium.wrappers:NoSuchWrapper': module 'gymnasium.wrappers' has no 'NoSuchWrapper'"),
        (["--env", "CartPole-v1", "--wrapper", "FrameStackObservation"],
         "wrapper 'FrameStackObservation' must be named module:Name"),
        (["--env", "CartPole-v1", "--grayscale"],
         "wrapper gymnasium.wrappers:GrayscaleObservation does not fit the env"),
        (["--env", "nosuchpackage:Env-v0"], "cannot import 'nosuchpackage'"),
    ],
)  # fmt: skip
def test_bad_env_options_are_one_line(tmp_path: Path, flags: list[str], message: str) -> None:
    line = one_line_error("train", "ppo", *flags, "--out", str(tmp_path / "run"), *TINY)
    assert line.startswith(message), line
    assert not (tmp_path / "run").exists()
