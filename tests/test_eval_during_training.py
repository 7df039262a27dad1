"""Evaluation during training (eval_every / --eval-every): deterministic episodes on separate envs,
logged as Eval* columns in every row (NaN between evaluations), without disturbing training."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import pgrl
from pgrl.analysis import read_progress
from pgrl.cli import main
from pgrl.errors import PgrlError

EVAL_COLUMNS = ["EvalAverageEpRet", "EvalStdEpRet", "EvalMaxEpRet", "EvalMinEpRet", "EvalEpLen"]
SMALL = dict(steps_per_epoch=256, num_envs=4, epochs=5, update_epochs=2, minibatch_size=128)


def train(out: Path, **kwargs: object) -> list[dict]:
    _, history = pgrl.ppo(
        "CartPole-v1", seed=0, verbose=False, logger_kwargs={"output_dir": str(out)}, **SMALL, **kwargs
    )
    return history


def test_eval_columns_every_row_nan_between_evaluations(tmp_path: Path) -> None:
    history = train(tmp_path / "eval", eval_every=512, eval_episodes=3)
    progress = read_progress(tmp_path / "eval" / "progress.txt")
    for col in EVAL_COLUMNS:
        assert col in progress and len(progress[col]) == 5
        assert all(col in row for row in history)
    # 256 steps per epoch: epochs 2 and 4 reach 512 and 1024 steps.
    evaluated = [not math.isnan(row["EvalAverageEpRet"]) for row in history]
    assert evaluated == [False, True, False, True, False]
    np.testing.assert_array_equal(np.isfinite(progress["EvalAverageEpRet"]), evaluated)
    for row in history:
        if not math.isnan(row["EvalAverageEpRet"]):
            assert row["EvalMinEpRet"] <= row["EvalAverageEpRet"] <= row["EvalMaxEpRet"]
            assert row["EvalEpLen"] == row["EvalAverageEpRet"]  # CartPole: reward 1 per step


def test_eval_during_training_leaves_training_untouched(tmp_path: Path) -> None:
    with_eval = train(tmp_path / "a", eval_every=256, eval_episodes=2)
    without = train(tmp_path / "b", eval_episodes=2)
    assert "EvalAverageEpRet" not in without[0]
    for a, b in zip(with_eval, without, strict=True):
        for key in ("AverageEpRet", "EpLen", "LossPi", "LossV", "KL", "AverageVVals", "TotalEnvInteracts"):
            assert a[key] == b[key] or (math.isnan(a[key]) and math.isnan(b[key])), key


def test_last_evaluation_is_the_deterministic_evaluation_of_the_agent(tmp_path: Path) -> None:
    history = train(tmp_path / "r", eval_every=1280, eval_episodes=4)
    assert [not math.isnan(r["EvalAverageEpRet"]) for r in history] == [False] * 4 + [True]
    agent = pgrl.load(tmp_path / "r")
    returns, _ = pgrl.evaluate(agent, "CartPole-v1", episodes=4, seed=0)
    assert history[-1]["EvalAverageEpRet"] == pytest.approx(returns.mean())
    assert history[-1]["EvalStdEpRet"] == pytest.approx(returns.std())


def test_eval_every_from_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    args = ["train", "ppo", "--env", "CartPole-v1", "--epochs", "2", "--steps-per-epoch", "256", "--num-envs", "4",
            "--update-epochs", "1", "--minibatch-size", "256", "--eval-every", "256", "--eval-episodes", "2",
            "--out", str(out), "--quiet"]  # fmt: skip
    assert main(args) == 0
    progress = read_progress(out / "progress.txt")
    assert np.isfinite(progress["EvalAverageEpRet"]).all()
    assert (out / "eval.json").exists()
    capsys.readouterr()


def test_eval_every_is_validated(tmp_path: Path) -> None:
    with pytest.raises(PgrlError, match="eval_every"):
        train(tmp_path / "x", eval_every=-5)
    with pytest.raises(PgrlError, match="eval_episodes"):
        train(tmp_path / "y", eval_every=256, eval_episodes=0)
