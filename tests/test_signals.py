"""SIGINT and SIGTERM during training: the epoch's row and a checkpoint are written, then training stops
(TrainingInterrupted from Python, exit 130 / 143 from the CLI) with a message saying how to resume."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest

import pgrl.algos.ppo
import pgrl.training
import pgrl.training.interrupts
from pgrl import ppo
from pgrl.checkpoint import load_checkpoint
from pgrl.cli import main
from pgrl.errors import TrainingInterrupted

REPO_ROOT = Path(__file__).resolve().parents[1]
TINY = dict(steps_per_epoch=64, num_envs=2, minibatch_size=32, update_epochs=2, ac_kwargs=dict(hidden_sizes=(16,)),
            eval_episodes=0, verbose=False)  # fmt: skip
CLI_TINY = ["--steps-per-epoch", "64", "--num-envs", "2", "--minibatch-size", "32", "--update-epochs", "2",
            "--hidden-sizes", "16", "--eval-episodes", "0", "--quiet"]  # fmt: skip


def rows(run_dir: Path) -> list[int]:
    return [int(line.split("\t")[0]) for line in (run_dir / "progress.txt").read_text().splitlines()[1:]]


def send_at(epoch: int, *signums: int) -> Any:
    """A callback that sends the signals after ``epoch`` (1-based, as the callback and the table count)."""
    target = epoch

    def callback(epoch: int, stats: dict, agent: Any) -> None:
        if epoch == target:
            for signum in signums:
                os.kill(os.getpid(), signum)

    return callback


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_writes_the_epoch_and_a_checkpoint(tmp_path: Path, signum: int) -> None:
    before = signal.getsignal(signum)
    with pytest.raises(TrainingInterrupted) as info:
        ppo("CartPole-v1", epochs=6, save_freq=100, **TINY, logger_kwargs={"output_dir": str(tmp_path)},
            callback=send_at(3, signum))  # fmt: skip
    e = info.value
    assert (e.signum, e.epoch, e.complete, e.immediate) == (signum, 3, False, False)
    assert load_checkpoint(tmp_path)["epoch"] == 3  # written by the interruption (save_freq is 100)
    assert rows(tmp_path) == [1, 2, 3]
    assert f"resume with ppo(resume={str(tmp_path)!r})" in str(e)
    assert signal.getsignal(signum) is before


def test_a_signal_from_the_callback_says_which_checkpoint_it_writes(tmp_path: Path, capfd) -> None:
    with pytest.raises(TrainingInterrupted) as info:
        ppo(
            "CartPole-v1",
            epochs=6,
            **TINY,
            logger_kwargs={"output_dir": str(tmp_path)},
            callback=send_at(2, signal.SIGINT),
        )
    assert info.value.epoch == 2 and load_checkpoint(tmp_path)["epoch"] == 2
    said = capfd.readouterr()  # written to fd 2 by the handler
    assert "SIGINT received: writing a checkpoint of epoch 2 " in said.out + said.err  # not "finishing epoch 3"


def test_second_signal_stops_at_once_keeping_the_last_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(TrainingInterrupted) as info:
        ppo("CartPole-v1", epochs=6, save_freq=2, **TINY, logger_kwargs={"output_dir": str(tmp_path)},
            callback=send_at(3, signal.SIGINT, signal.SIGINT))  # fmt: skip
    assert info.value.immediate and info.value.epoch == 2
    assert "the last checkpoint (epoch 2)" in str(info.value)
    assert load_checkpoint(tmp_path)["epoch"] == 2
    assert rows(tmp_path) == [1, 2, 3]  # resuming drops row 3 (see test_resume)
    _, history = ppo(resume=str(tmp_path), eval_episodes=0, verbose=False)
    assert [r["Epoch"] for r in history] == [1, 2, 3, 4, 5, 6]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_signal_in_the_last_epoch_says_training_is_complete(tmp_path: Path) -> None:
    with pytest.raises(TrainingInterrupted) as info:
        ppo("CartPole-v1", epochs=2, **TINY, logger_kwargs={"output_dir": str(tmp_path)},
            callback=send_at(2, signal.SIGINT))  # fmt: skip
    assert info.value.complete and "pgrl eval" in str(info.value)
    assert load_checkpoint(tmp_path)["epoch"] == 2


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_cli_exit_status_and_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, signum: int, code: int) -> None:
    original = pgrl.training.Run.log

    def log(self: pgrl.training.Run, *args: Any, **kwargs: Any) -> None:
        if self.epoch == 1:
            os.kill(os.getpid(), signum)
        original(self, *args, **kwargs)

    monkeypatch.setattr(pgrl.training.Run, "log", log)
    err = io.StringIO()
    with redirect_stdout(io.StringIO()), redirect_stderr(err):
        status = main(["train", "ppo", "--env", "CartPole-v1", "--epochs", "5", "--out", str(tmp_path), *CLI_TINY])
    assert status == code
    last = err.getvalue().strip().splitlines()[-1]
    assert last == (
        f"pgrl: interrupted by {signal.Signals(signum).name}: checkpoint of epoch 2 saved in {str(tmp_path)!r}; "
        f"resume with `pgrl train ppo --resume {tmp_path}`"
    )
    monkeypatch.undo()
    with redirect_stdout(io.StringIO()):
        assert main(["train", "ppo", "--resume", str(tmp_path), "--quiet", "--eval-episodes", "0"]) == 0
    assert rows(tmp_path) == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("vec", ["sync", "split", "async"])
def test_sigterm_to_the_cli_process_group(tmp_path: Path, vec: str) -> None:
    """A real process, as a job scheduler would stop it: SIGTERM to its whole process group, so to the env
    workers of ``--vec split`` and ``--vec async`` too (which leave it to the main process: the epoch ends,
    the checkpoint is written, then the workers are closed). Epochs of mostly collection, so that the signal comes mid-step."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "pgrl", "train", "ppo", "--env", "CartPole-v1", "--epochs", "200", "--out",
         str(tmp_path), "--vec", vec, *CLI_TINY, "--steps-per-epoch", "1024", "--minibatch-size", "1024"],
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    progress = tmp_path / "progress.txt"
    deadline = time.monotonic() + 120
    while not (progress.exists() and len(progress.read_text().splitlines()) > 2):
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "pgrl: interrupted by SIGTERM: checkpoint of epoch" in err and "--resume" in err
    epoch = load_checkpoint(tmp_path)["epoch"]
    assert rows(tmp_path) == list(range(1, epoch + 1))


def test_handlers_are_only_held_while_training(tmp_path: Path) -> None:
    seen = []

    def callback(epoch: int, stats: dict, agent: Any) -> None:
        seen.append(signal.getsignal(signal.SIGINT))

    ppo("CartPole-v1", epochs=2, **TINY, logger_kwargs={"output_dir": str(tmp_path)}, callback=callback)
    assert all(getattr(h, "__self__", None).__class__ is pgrl.training.interrupts.Interrupts for h in seen)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_loop_that_died_does_not_swallow_a_later_ctrl_c(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The algorithm raised between collect and end_epoch, leaving Run's handlers installed: a later
    Ctrl-C still interrupts at once, and the default handler is back."""

    def broken_gae(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug in the update")

    monkeypatch.setattr(pgrl.algos.ppo, "gae", broken_gae)
    with pytest.raises(RuntimeError, match="a bug in the update"):
        ppo("CartPole-v1", epochs=2, **TINY, logger_kwargs={"output_dir": str(tmp_path)})
    with pytest.raises(KeyboardInterrupt) as info:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(1)
    assert not isinstance(info.value, TrainingInterrupted)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_async_env_workers_leave_signals_to_the_main_process(signum: int) -> None:
    import multiprocessing

    import numpy as np

    from pgrl.envs import make_vec_env

    envs = make_vec_env("CartPole-v1", 2, seed=0, vectorization="async")
    envs.reset(seed=0)
    workers = [p for p in multiprocessing.active_children() if p.name.startswith("Worker<AsyncVectorEnv>")]
    assert len(workers) == 2
    for worker in workers:  # a signal to this process group does not reach them
        assert os.getpgid(worker.pid) != os.getpgid(0)
    if signum == signal.SIGINT:  # and they ignore a Ctrl-C of their own
        for worker in workers:
            os.kill(worker.pid, signum)
        time.sleep(0.2)
        assert all(w.is_alive() for w in workers)
    envs.step(np.zeros(2, dtype=np.int64))  # they still answer
    envs.close()
    assert not any(w.is_alive() for w in workers)
