"""Experiments you can follow and trust: stop when solved and keep the best, progress a person can read,
messages that agree with what happens next, refusals before allocating, env failures that end cleanly."""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import signal
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import pytest

import pgrl
from pgrl.checkpoint import load_checkpoint
from pgrl.cli import main
from pgrl.errors import PgrlError, TrainingInterrupted
from pgrl.progress import Progress, compact_line, format_table

TINY = dict(steps_per_epoch=256, num_envs=4, minibatch_size=128, update_epochs=2, ac_kwargs=dict(hidden_sizes=(16,)))


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as e:  # argparse's own errors exit from inside parse_args
            code = int(e.code or 0)
    return code, out.getvalue(), err.getvalue()


# ------------------------------------------------------------------ stop when solved, keep the best


@pytest.mark.slow
def test_until_solved_stops_early_with_a_best_checkpoint_that_passes(tmp_path: Path) -> None:
    run = tmp_path / "run"
    code, out, err = cli("train", "ppo", "--env", "CartPole-v1", "--until-solved", "--out", str(run))
    assert code == 0, err
    rows = (run / "progress.txt").read_text().splitlines()
    epochs = len(rows) - 1
    assert epochs < 64, "stopped before the preset's last epoch"
    assert "it stops when an evaluation reaches 475" in out.splitlines()[0]
    solved = [line for line in out.splitlines() if line.startswith("Solved at ")]
    assert len(solved) == 1 and f"at {epochs * 2048} steps after " in solved[0]
    assert out.splitlines()[-2].endswith("solved (threshold 475)")
    result = json.loads((run / "eval.json").read_text())
    assert result["solved"] is True and result["solved_at"]["steps"] == epochs * 2048
    best = load_checkpoint(run / "best.pt")
    assert best["eval_return"] >= 475 and best["epoch"] <= epochs
    returns, _ = pgrl.evaluate(pgrl.load(run, best=True), "CartPole-v1", episodes=20)
    assert returns.mean() >= 475
    code, out, _ = cli("eval", str(run), "--best")
    assert code == 0 and float(out.split("return ")[1].split()[0]) >= 475


def test_target_return_stops_after_the_evaluation_that_reaches_it(tmp_path: Path) -> None:
    _, history = pgrl.ppo("CartPole-v1", seed=1, epochs=30, target_return=60.0, eval_episodes=2, verbose=False,
                          logger_kwargs={"output_dir": str(tmp_path / "t")}, **TINY)  # fmt: skip
    evaluations = [row["EvalAverageEpRet"] for row in history]
    assert all(np.isfinite(evaluations))  # evaluated every epoch: no eval_every was given
    assert evaluations[-1] >= 60 and all(e < 60 for e in evaluations[:-1]) and len(history) < 30
    best = load_checkpoint(tmp_path / "t" / "best.pt")
    assert best["eval_return"] == max(evaluations)
    config = json.loads((tmp_path / "t" / "config.json").read_text())
    assert config["target_return"] == 60.0 and config["eval_every"] == 256


def test_the_best_checkpoint_is_the_best_evaluation_not_the_last(tmp_path: Path) -> None:
    _, history = pgrl.ppo("CartPole-v1", seed=3, epochs=6, eval_every=256, eval_episodes=2, verbose=False,
                          logger_kwargs={"output_dir": str(tmp_path / "b")}, **TINY)  # fmt: skip
    evaluations = [row["EvalAverageEpRet"] for row in history]
    best = load_checkpoint(tmp_path / "b" / "best.pt")
    assert best["eval_return"] == max(evaluations) and best["epoch"] == 1 + int(np.argmax(evaluations))
    agent = pgrl.load(tmp_path / "b", best=True)
    returns, _ = pgrl.evaluate(agent, "CartPole-v1", episodes=2, seed=3)  # the in-training evaluation's episodes
    assert returns.mean() == max(evaluations)


def test_until_solved_needs_a_threshold_and_excludes_target_return(tmp_path: Path) -> None:
    with pytest.raises(PgrlError, match=r"Pendulum-v1 has no reward_threshold .* pass target_return"):
        pgrl.ppo("Pendulum-v1", until_solved=True, verbose=False, logger_kwargs={"output_dir": str(tmp_path / "p")})
    with pytest.raises(PgrlError, match="pass one of them"):
        pgrl.ppo("CartPole-v1", until_solved=True, target_return=10.0)
    assert not (tmp_path / "p").exists()
    with pytest.raises(PgrlError, match="has no best checkpoint"):
        pgrl.ppo("CartPole-v1", epochs=1, eval_episodes=0, verbose=False,
                 logger_kwargs={"output_dir": str(tmp_path / "n")}, **TINY)  # fmt: skip
        pgrl.load(tmp_path / "n", best=True)


# ------------------------------------------------------------------ progress a person can read


def test_default_output_is_a_start_line_and_a_line_per_epoch_without_nan(tmp_path: Path, capsys: Any) -> None:
    # 8 steps per env in the first epoch: no CartPole episode ends in it
    pgrl.ppo("CartPole-v1", epochs=3, steps_per_epoch=16, num_envs=2, minibatch_size=16, update_epochs=1,
             eval_episodes=0, logger_kwargs={"output_dir": str(tmp_path / "c")})  # fmt: skip
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == (
        f"Training ppo on CartPole-v1 (seed 0): 3 epochs of 16 steps (48 steps); run directory {tmp_path / 'c'}"
    )
    assert [line.split()[1] for line in lines[1:]] == ["1/3", "2/3", "3/3"]
    assert "return        -" in lines[1] and "nan" not in "\n".join(lines)
    progress = (tmp_path / "c" / "progress.txt").read_text().splitlines()
    assert "nan" in progress[1]  # the file keeps NaN for programs


def test_progress_lines_table_and_bar() -> None:
    row = {"Epoch": 3, "AverageEpRet": float("nan"), "StdEpRet": float("nan"), "TotalEnvInteracts": 3072,
           "LossPi": 0.5, "EvalAverageEpRet": 200.0, "StepsPerSecond": 12345.6, "Time": 2.25}  # fmt: skip
    line = compact_line(row, 64)
    assert line.startswith("epoch  3/64  steps     3,072  return        -")
    assert "eval 200.00" in line and "12,346 steps/s" in line and line.endswith("2.2 s")
    table = format_table(row)
    assert "AverageEpRet |             - |" in table and "nan" not in table
    out = io.StringIO()
    err = io.StringIO()
    with redirect_stderr(err):
        progress = Progress("compact", epochs=4, done=1, stream=out, bar=True)
        progress.status("epoch 2: collecting")
        progress.epoch({**row, "Epoch": 2})
        assert progress.bar.n == 2  # a resumed run's bar starts at its epoch
        progress.close()
    assert "epoch 2/4" in out.getvalue() and "epoch/s" in err.getvalue() and "epoch 2: collecting" in err.getvalue()


# ------------------------------------------------------------------ messages that agree with what happens next


def test_an_immediate_stop_before_the_first_checkpoint_says_how_to_start_again(tmp_path: Path) -> None:
    def twice(epoch: int, stats: dict, agent: Any) -> None:
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)

    run = tmp_path / "r"
    kw: dict[str, Any] = dict(epochs=3, eval_episodes=0, verbose=False, logger_kwargs={"output_dir": str(run)}, **TINY)
    with pytest.raises(TrainingInterrupted) as info:
        pgrl.ppo("CartPole-v1", callback=twice, **kw)
    assert info.value.epoch is None and not (run / "checkpoint.pt").exists()
    assert info.value.message().endswith("start the run again with overwrite=True")
    assert info.value.message(cli=True).endswith("start the run again with --overwrite")
    with pytest.raises(PgrlError, match=r"already holds a run; .* replace it with overwrite=True"):
        pgrl.ppo("CartPole-v1", **kw)
    _, history = pgrl.ppo("CartPole-v1", overwrite=True, **kw)  # what the message said works
    assert len(history) == 3


def test_did_you_mean_for_unknown_flags_and_debug_anywhere() -> None:
    code, _, err = cli("train", "ppo", "--env", "CartPole-v1", "--lr", "0.1")
    assert code == 2 and err.startswith("usage: pgrl train ppo")
    assert err.strip().endswith(
        "pgrl train ppo: error: unrecognized arguments: --lr 0.1 (--lr: did you mean --vf-lr or --pi-lr?)"
    )
    code, _, err = cli("train", "ppo", "--epcohs", "3")
    assert code == 2 and "did you mean --epochs?" in err
    with pytest.raises(PgrlError, match="unknown environment id 'Nope-v9'"):  # --debug after the subcommand
        cli("train", "ppo", "--env", "Nope-v9", "--debug")


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--num-envs", "100000"], "num_envs 100000 is larger than steps_per_epoch 2048"),
        (["--steps-per-epoch", "3000000000", "--minibatch-size", "64"], "needs about"),
        (["--eval-every", "0"], "eval_every must be a positive number of env steps"),
    ],
)
def test_refused_before_anything_is_allocated_or_written(tmp_path: Path, flags: list[str], message: str) -> None:
    code, _, err = cli("train", "ppo", "--env", "CartPole-v1", "--out", str(tmp_path / "x"), *flags)
    assert code == 2 and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "x").exists()


def test_quiet_resume_names_the_env(tmp_path: Path) -> None:
    run = tmp_path / "q"
    base = ["--steps-per-epoch", "256", "--num-envs", "4", "--minibatch-size", "128", "--update-epochs", "1",
            "--eval-episodes", "2", "--quiet"]  # fmt: skip
    assert cli("train", "ppo", "--env", "CartPole-v1", "--epochs", "1", "--out", str(run), *base)[0] == 0
    code, out, err = cli("train", "ppo", "--resume", str(run), "--epochs", "2", "--eval-episodes", "2", "--quiet")
    assert code == 0, err
    assert out.startswith("CartPole-v1: deterministic return ") and "None" not in out


# ------------------------------------------------------------------ faults end cleanly


class FailingEnv(gym.Env):
    """CartPole-like spaces; raises in step() after ``fail_at`` steps."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}

    def __init__(self, fail_at: int = 200) -> None:
        self.observation_space = gym.spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.fail_at, self.steps, self.t = fail_at, 0, 0

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(2, dtype=np.float32), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        self.steps += 1
        self.t += 1
        if self.steps > self.fail_at:
            raise RuntimeError("the simulator exploded")
        return np.zeros(2, dtype=np.float32), 1.0, self.t >= 20, False, {}


if "PgrlTest/Failing-v0" not in gym.registry:
    gym.register("PgrlTest/Failing-v0", entry_point=FailingEnv)


@pytest.mark.parametrize("vectorization", ["async", "split"])
@pytest.mark.parametrize("fault", ["killed", "raises"])
def test_an_env_worker_that_dies_ends_training_in_one_line(tmp_path: Path, fault: str, vectorization: str) -> None:
    run = tmp_path / fault
    name = "Worker<AsyncVectorEnv>" if vectorization == "async" else "pgrl-env"

    def kill_a_worker(epoch: int, stats: dict, agent: Any) -> None:
        if epoch == 2:
            workers = [p for p in multiprocessing.active_children() if p.name.startswith(name)]
            os.kill(workers[0].pid, signal.SIGKILL)  # one of this run's env workers, nothing else

    kw: dict[str, Any] = dict(epochs=6, save_freq=1, steps_per_epoch=128, num_envs=2, minibatch_size=64,
                              vectorization=vectorization, eval_episodes=0, verbose=False,
                              logger_kwargs={"output_dir": str(run)})  # fmt: skip
    if fault == "killed":
        env, kw["callback"], where = "CartPole-v1", kill_a_worker, "an env worker process died during step() ("
    else:
        env, where = "PgrlTest/Failing-v0", "step() raised RuntimeError: the simulator exploded"
    with pytest.raises(PgrlError) as info:
        pgrl.ppo(env, **kw)
    message = str(info.value)
    kept = 2 if fault == "killed" else 3  # 64 steps per env an epoch: the 201st, in epoch 4, fails
    assert message.startswith(f"the env {env} failed: {where}")
    assert f" in epoch {kept + 1}: training stopped" in message
    assert f"the last good checkpoint (epoch {kept}) in {str(run)!r} is kept" in message and "\n" not in message
    assert load_checkpoint(run)["epoch"] == kept
    assert not [p for p in multiprocessing.active_children() if p.name.startswith(name)]
