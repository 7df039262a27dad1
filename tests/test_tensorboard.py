"""tensorboard=True / --tensorboard: event files in the run directory with the progress table's scalars,
read back with TensorBoard's EventAccumulator."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import pgrl
from pgrl.analysis import read_progress
from pgrl.cli import main

SMALL = dict(steps_per_epoch=256, num_envs=4, epochs=3, update_epochs=2, minibatch_size=128, eval_episodes=2)


def scalars(run_dir: Path) -> EventAccumulator:
    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    acc.Reload()
    return acc


def test_tensorboard_holds_the_progress_scalars(tmp_path: Path) -> None:
    out = tmp_path / "tb"
    _, history = pgrl.ppo(
        "CartPole-v1", seed=0, verbose=False, tensorboard=True, eval_every=512, logger_kwargs={"output_dir": str(out)},
        **SMALL,
    )  # fmt: skip
    assert list(out.glob("events.out.tfevents.*"))
    acc = scalars(out)
    tags = set(acc.Tags()["scalars"])
    progress = read_progress(out / "progress.txt")
    assert tags == set(progress)  # every column of the table
    steps = [row["TotalEnvInteracts"] for row in history]
    assert steps == [256, 512, 768]
    for tag in ("AverageEpRet", "LossPi", "LossV", "Entropy", "Time", "Epoch"):
        events = acc.Scalars(tag)
        assert [e.step for e in events] == steps
        for e, row in zip(events, history, strict=True):
            assert e.value == pytest.approx(row[tag], rel=1e-6, abs=1e-6)  # stored as float32
    # The evaluation ran once (at 512 steps); its NaN rows are not written.
    evals = acc.Scalars("EvalAverageEpRet")
    assert [e.step for e in evals] == [512]
    assert evals[0].value == pytest.approx(history[1]["EvalAverageEpRet"])
    assert math.isnan(history[0]["EvalAverageEpRet"])


def test_no_event_files_without_the_flag_and_overwrite_clears_them(tmp_path: Path) -> None:
    out = tmp_path / "plain"
    pgrl.ppo("CartPole-v1", verbose=False, logger_kwargs={"output_dir": str(out)}, **SMALL | {"epochs": 1})
    assert not list(out.glob("events.out.tfevents.*"))
    args = ["train", "ppo", "--env", "CartPole-v1", "--epochs", "1", "--steps-per-epoch", "256", "--num-envs", "4",
            "--update-epochs", "1", "--minibatch-size", "256", "--eval-episodes", "0", "--out", str(out),
            "--tensorboard", "--overwrite", "--quiet"]  # fmt: skip
    assert main(args) == 0
    assert len(list(out.glob("events.out.tfevents.*"))) == 1
    assert main(args) == 0  # the old run's event files go with it
    files = list(out.glob("events.out.tfevents.*"))
    assert len(files) == 1
    assert [e.step for e in scalars(out).Scalars("AverageEpRet")] == [256]


def test_missing_tensorboard_gives_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(pgrl.PgrlError, match=r'pip install "pgrl\[tensorboard\]"'):
        pgrl.ppo("CartPole-v1", verbose=False, tensorboard=True, logger_kwargs={"output_dir": str(tmp_path / "r")},
                 **SMALL)  # fmt: skip
