"""From the command line, PPO on the envs students bring next, with pgrl's presets (tuned on seeds >= 100;
these run seed 0): FrozenLake-v1 (not slippery), Taxi-v4 and CliffWalking-v1 are solved, Blackjack-v1 (Tuple observations)
trains, MiniGrid-Empty-5x5-v0 (a Dict with an image and a mission string) is solved; ``pgrl eval`` and
``pgrl watch`` work on each run, rebuilding the env from config.json."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

import pgrl
from pgrl.cli import main


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = main(list(argv))
    return status, out.getvalue(), err.getvalue()


def train_eval_watch(tmp_path: Path, env: str, *flags: str) -> tuple[dict, str, str]:
    """Train from the CLI, then ``pgrl eval`` and ``pgrl watch`` the run; (eval.json, eval's output, train's)."""
    run = tmp_path / "run"
    status, out, err = cli("train", "ppo", "--env", env, "--seed", "0", "--out", str(run), *flags)
    assert status == 0, err
    result = json.loads((run / "eval.json").read_text())
    status, eval_out, err = cli("eval", str(run))
    assert status == 0 and "over 20 deterministic episodes" in eval_out, err
    status, watch_out, err = cli("watch", str(run), "--out", str(tmp_path / "episode.gif"))
    assert status == 0 and "wrote" in watch_out and (tmp_path / "episode.gif").stat().st_size > 0, err
    return result, eval_out, out


@pytest.mark.slow
def test_frozenlake_not_slippery_is_solved(tmp_path: Path) -> None:
    result, eval_out, _ = train_eval_watch(tmp_path, "FrozenLake-v1", "--env-kwargs", "is_slippery=false", "--quiet")
    assert result["mean_return"] == 1.0
    assert "return 1.00 +/- 0.00" in eval_out  # eval rebuilt the env with is_slippery=False


@pytest.mark.slow
def test_taxi_is_solved(tmp_path: Path) -> None:
    result, _, _ = train_eval_watch(tmp_path, "Taxi-v4", "--quiet")
    assert result["mean_return"] >= 7.0, result


@pytest.mark.slow
def test_cliffwalking_is_solved_by_a_table_per_state(tmp_path: Path) -> None:
    """The preset's actor and critic are tables (no hidden layer, no bias): the safe path or better."""
    result, _, _ = train_eval_watch(tmp_path, "CliffWalking-v1", "--quiet")
    assert result["mean_return"] >= -17, result  # -17: the safe path along the top; -13 is optimal
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["ac_kwargs"]["hidden_sizes"] == [] and config["ac_kwargs"]["bias"] is False
    assert all("bias" not in k for k in pgrl.load(tmp_path / "run").ac.state_dict())


@pytest.mark.slow
def test_blackjack_trains_and_evaluates(tmp_path: Path) -> None:
    result, _, _ = train_eval_watch(tmp_path, "Blackjack-v1", "--epochs", "3", "--steps-per-epoch", "2048", "--quiet")
    assert result["episodes"] == 20 and -1.0 <= result["mean_return"] <= 1.0


@pytest.mark.slow
def test_minigrid_dict_observation_is_solved(tmp_path: Path) -> None:
    result, _, out = train_eval_watch(tmp_path, "minigrid:MiniGrid-Empty-5x5-v0", "--eval-episodes", "20")
    assert "pgrl: leaving out the observation's text part(s) mission: pgrl does not encode text" in out
    assert result["mean_return"] >= 0.9, result


def test_minigrid_image_wrapper_is_rebuilt_by_eval_and_watch(tmp_path: Path) -> None:
    run = tmp_path / "run"
    status, _, err = cli("train", "ppo", "--env", "minigrid:MiniGrid-Empty-5x5-v0", "--wrapper",
                         "minigrid.wrappers:ImgObsWrapper", "--epochs", "1", "--steps-per-epoch", "256",
                         "--eval-episodes", "1", "--out", str(run), "--quiet")  # fmt: skip
    assert status == 0, err
    config = json.loads((run / "config.json").read_text())
    assert config["observation_space"]["shape"] == [7, 7, 3] and config["env_id"] == "minigrid:MiniGrid-Empty-5x5-v0"
    assert cli("eval", str(run), "--episodes", "2")[0] == 0
    assert cli("watch", str(run), "--out", str(tmp_path / "w.gif"), "--max-ep-len", "3")[0] == 0


def test_minatar_trains_with_the_cnn_from_the_cli(tmp_path: Path) -> None:
    run = tmp_path / "run"
    status, _, err = cli("train", "ppo", "--env", "minatar.gym.register_envs:MinAtar/Breakout-v1", "--epochs", "1",
                         "--steps-per-epoch", "256", "--eval-episodes", "1", "--out", str(run), "--quiet")  # fmt: skip
    assert status == 0, err
    config = json.loads((run / "config.json").read_text())
    assert config["observation_space"] == {"type": "Box", "shape": [10, 10, 4], "dtype": "bool", "low": False,
                                           "high": True}  # fmt: skip
    assert any(k.startswith("pi.encoder.images.0.net.0.") for k in pgrl_state(run))  # the CNN's first convolution
    assert cli("eval", str(run), "--episodes", "1")[0] == 0  # rebuilt through the registering function


def pgrl_state(run: Path) -> dict:
    return pgrl.load(run).ac.state_dict()


def test_cliffwalking_evaluations_end_from_the_cli(tmp_path: Path) -> None:
    # CliffWalking-v1 has no time limit: an untrained deterministic policy walks into a wall forever
    run = tmp_path / "run"
    status, _, err = cli("train", "ppo", "--env", "CliffWalking-v1", "--epochs", "1", "--steps-per-epoch", "256",
                         "--eval-episodes", "2", "--out", str(run), "--quiet")  # fmt: skip
    assert status == 0, err
    result = json.loads((run / "eval.json").read_text())
    if result["mean_length"] == 10_000:  # the cap cut them, and said so
        assert "were cut at 10000 steps" in err
    status, out, err = cli("eval", str(run), "--episodes", "2")
    assert status == 0 and "over 2 deterministic episodes" in out
