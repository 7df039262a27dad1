"""kill -9 at any moment leaves a checkpoint that loads and a progress.txt of whole rows; a full disk
fails with a one-line message and leaves the previous files intact."""

from __future__ import annotations

import errno
import io
import os
import random
import signal
import stat
import subprocess
import sys
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest
import torch

import pgrl.checkpoint
import pgrl.files
import pgrl.logger
from pgrl import ppo
from pgrl.checkpoint import load_checkpoint, save_checkpoint
from pgrl.cli import main
from pgrl.errors import PgrlError
from pgrl.logger import EpochLogger
from pgrl.rundir import CHECKPOINT as CHECKPOINT_FILE

REPO_ROOT = Path(__file__).resolve().parents[1]
TINY = dict(steps_per_epoch=64, num_envs=2, minibatch_size=32, update_epochs=2, ac_kwargs=dict(hidden_sizes=(16,)),
            eval_episodes=0, verbose=False)  # fmt: skip
CLI_TINY = ["--steps-per-epoch", "64", "--num-envs", "2", "--minibatch-size", "32", "--update-epochs", "2",
            "--hidden-sizes", "16", "--eval-episodes", "0", "--quiet"]  # fmt: skip


def check_run_files(run_dir: Path) -> tuple[int | None, list[int]]:
    """The checkpoint loads (when there is one) and progress.txt is whole rows; returns their epochs."""
    epoch = None
    if (run_dir / CHECKPOINT_FILE).exists():
        state = load_checkpoint(run_dir)
        epoch = int(state["epoch"])
        if "blob" in state:  # the writer below: the payload matches its epoch throughout
            assert torch.equal(state["blob"], torch.full_like(state["blob"], float(epoch)))
    epochs: list[int] = []
    progress = run_dir / "progress.txt"
    if progress.exists():
        text = progress.read_text()
        assert text == "" or text.endswith("\n"), "torn last row"
        lines = text.splitlines()
        if lines:
            width = len(lines[0].split("\t"))
            for line in lines[1:]:
                fields = line.split("\t")
                assert len(fields) == width, f"torn row {line!r}"
                epochs.append(int(fields[0]))
    return epoch, epochs


def writer(run_dir: Path) -> None:
    """Log a row and write a checkpoint per epoch, forever, resuming like a restarted run."""
    logger = EpochLogger(run_dir)
    epoch = int(load_checkpoint(run_dir)["epoch"]) if (run_dir / CHECKPOINT_FILE).exists() else 0
    logger.resume(epoch)  # drops rows logged after the last checkpoint
    while True:
        epoch += 1
        logger.log_epoch({"Epoch": epoch, "AverageEpRet": epoch * 1.5, "Padding": "x" * random.randint(1, 3000)})
        save_checkpoint(run_dir, {"epoch": epoch, "blob": torch.full((random.randint(1, 200_000),), float(epoch))})


def test_kill_9_at_random_moments_never_tears_a_file(tmp_path: Path) -> None:
    rng = random.Random()
    for round_ in range(26):
        pid = os.fork()
        if pid == 0:  # the child writes until it is killed
            try:
                writer(tmp_path)
            finally:
                os._exit(1)
        time.sleep(rng.uniform(0.0, 0.06) if round_ < 25 else 0.5)  # the last round surely completes some
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status), "the writer died on its own"
        epoch, epochs = check_run_files(tmp_path)
        assert epochs == list(range(1, len(epochs) + 1))  # no epoch twice, none missing
        assert epoch is None or epoch <= len(epochs)  # rows are logged before their checkpoint
    assert check_run_files(tmp_path)[0], "no checkpoint was ever completed"


def test_kill_9_during_cli_training_then_resume(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pgrl", "train", "ppo", "--env", "CartPole-v1", "--epochs", "300", "--save-freq", "3",
         "--out", str(tmp_path), *CLI_TINY],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    k = random.randint(4, 8)
    deadline = time.monotonic() + 120
    while not ((tmp_path / "progress.txt").exists() and len((tmp_path / "progress.txt").read_text().splitlines()) > k):
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.005)
    time.sleep(random.uniform(0.0, 0.1))
    proc.kill()
    proc.wait(timeout=60)
    epoch, epochs = check_run_files(tmp_path)
    assert epoch is not None and epoch % 3 == 0 and epochs[:epoch] == list(range(1, epoch + 1))

    resumed = subprocess.run(
        [sys.executable, "-m", "pgrl", "train", "ppo", "--resume", str(tmp_path), "--epochs", str(epoch + 2),
         "--quiet", "--eval-episodes", "0"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert check_run_files(tmp_path) == (epoch + 2, list(range(1, epoch + 3)))


def enospc(*args: Any, **kwargs: Any) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_disk_full_while_checkpointing_keeps_the_previous_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_save = torch.save
    calls = []

    def save_then_fill_the_disk(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
        calls.append(1)
        if len(calls) == 1:
            return real_save(obj, f, *args, **kwargs)
        f.write(b"PK\x03\x04 half a checkpoint")
        enospc()

    monkeypatch.setattr(pgrl.checkpoint.torch, "save", save_then_fill_the_disk)
    with pytest.raises(PgrlError, match="the disk is full") as info:
        ppo("CartPole-v1", epochs=4, save_freq=1, **TINY, logger_kwargs={"output_dir": str(tmp_path)})
    assert "the previous checkpoint is intact" in str(info.value)
    monkeypatch.undo()
    assert load_checkpoint(tmp_path)["epoch"] == 1
    assert not (tmp_path / (CHECKPOINT_FILE + ".tmp")).exists()


def test_disk_full_while_logging_is_one_line_from_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    writes = []
    real_fsync = os.fsync

    class FullDiskOs:
        """The os of the log files' writes: fsync fails with ENOSPC from the fourth call on."""

        def __getattr__(self, name: str) -> Any:
            return getattr(os, name)

        def fsync(self, fd: int) -> None:
            if stat.S_ISDIR(os.fstat(fd).st_mode):  # the rename's directory sync is not a write
                return real_fsync(fd)
            writes.append(fd)
            if len(writes) > 3:
                enospc()
            real_fsync(fd)

    real_atomic_write = pgrl.files.atomic_write

    def log_write_on_a_full_disk(path: Path, write: Any, kept: Any = None) -> None:
        with monkeypatch.context() as m:  # only the logger's writes see the full disk, not checkpoints
            m.setattr(pgrl.files, "os", FullDiskOs())
            real_atomic_write(path, write, kept)

    monkeypatch.setattr(pgrl.logger, "atomic_write", log_write_on_a_full_disk)
    err = io.StringIO()
    with redirect_stdout(io.StringIO()), redirect_stderr(err):
        status = main(["train", "ppo", "--env", "CartPole-v1", "--epochs", "5", "--save-freq", "1",
                       "--out", str(tmp_path), *CLI_TINY])  # fmt: skip
    assert status == 2
    lines = err.getvalue().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pgrl: error: the disk is full: could not write"), lines
    assert "progress.txt" in lines[0] and "the previous version is intact" in lines[0]
    monkeypatch.undo()
    epoch, epochs = check_run_files(tmp_path)
    assert epochs == list(range(1, len(epochs) + 1)) and epoch == len(epochs)
