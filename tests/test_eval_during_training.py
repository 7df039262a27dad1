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


@pytest.mark.parametrize("seeds", [None, [0, 1]])
def test_a_run_that_stops_right_after_evaluating_does_not_evaluate_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seeds: list[int] | None
) -> None:
    """The final evaluation (eval.json) of a run whose last epoch evaluated is that evaluation: nothing trained
    since, and the same policy on the same episodes gives the same result. A run whose last epoch did not
    evaluate is evaluated at the end, as before; and so is a group's seed (pgrl.seeds)."""
    import json

    from pgrl.seeds import run as group_run
    from pgrl.training import epoch

    calls: list[int] = []
    real, together = epoch.evaluate, group_run.evaluate_together
    monkeypatch.setattr(epoch, "evaluate", lambda *a, **k: (calls.append(1), real(*a, **k))[1])
    monkeypatch.setattr(group_run, "evaluate_together", lambda *a, **k: (calls.append(2), together(*a, **k))[1])
    seed: object = seeds if seeds is not None else 0
    pgrl.ppo("CartPole-v1", seed=seed, verbose=False, eval_every=512, eval_episodes=3,  # type: ignore[arg-type]
             logger_kwargs={"output_dir": str(tmp_path / "a")}, **{**SMALL, "epochs": 4})  # fmt: skip
    runs = [tmp_path / "a" / f"s{s}" for s in seeds] if seeds else [tmp_path / "a"]
    for run in runs:
        last = read_progress(run / "progress.txt")["EvalAverageEpRet"][-1]
        assert json.loads((run / "eval.json").read_text())["mean_return"] == pytest.approx(last, rel=1e-5)  # 6 digits
    assert calls == [1 if seeds is None else 2] * 2  # epochs 2 and 4, not a third time at the end
    if seeds is None:
        pgrl.ppo("CartPole-v1", seed=0, verbose=False, eval_every=512, eval_episodes=3,
                 logger_kwargs={"output_dir": str(tmp_path / "b")}, **{**SMALL, "epochs": 3})  # fmt: skip
        assert len(calls) == 2 + 2  # epoch 2, then the end (epoch 3 trained after it)


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
