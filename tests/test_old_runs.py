"""A run directory written by an earlier pgrl (commit 7b84031, committed as test data) still loads,
evaluates, watches and resumes: config.json and checkpoint.pt keep their formats.

The run: PPO on CartPole-v1, seed 11, (4,) hidden units, stopped by its callback after 2 of 4 epochs.
``run-7b84031-expected.json`` holds what resuming it to 4 epochs reached just before the design
refactor (7b84031 plus PPO's population-std advantage normalisation; its epochs 3-4 re-recorded when the
collection's forward pass moved to numpy, a last-bit change of ~1e-7), so today's code must resume it to
exactly that (to float tolerance on another machine, see tests/test_golden.py).
"""

from __future__ import annotations

import io
import json
import shutil
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import numpy as np

import pgrl
from pgrl.cli import main

DATA = Path(__file__).parent / "data"
OLD_RUN = DATA / "run-7b84031"


def copy_run(tmp_path: Path) -> Path:
    run = tmp_path / "old-run"
    shutil.copytree(OLD_RUN, run)
    return run


def test_old_run_loads_and_evaluates(tmp_path: Path, fingerprint: dict[str, str]) -> None:
    agent = pgrl.load(copy_run(tmp_path))
    assert agent.config["algo"] == "ppo" and agent.config["env_id"] == "CartPole-v1"
    assert agent.obs_rms is not None  # the preset's observation normalisation came back with the model
    # 7b84031 evaluated in gymnasium's sync vector env (now "auto" steps CartPole's own vectorised env)
    returns, _ = pgrl.evaluate(agent, "CartPole-v1", episodes=3, seed=0, vectorization="sync")
    expected = json.loads((DATA / "run-7b84031-expected.json").read_text())
    if expected["fingerprint"] == fingerprint:  # what 7b84031 measured for this agent right after training it
        np.testing.assert_array_equal(returns, [74.0, 73.0, 52.0])
    assert len(returns) == 3 and returns.min() >= 8  # an episode of CartPole lasts at least 8 steps
    assert isinstance(agent.act(np.zeros(4, dtype=np.float32), deterministic=True), int)


def test_old_run_evaluates_from_the_cli(tmp_path: Path) -> None:
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["eval", str(copy_run(tmp_path)), "--episodes", "3"]) == 0
    assert "CartPole-v1: return " in out.getvalue() and "over 3 deterministic episodes" in out.getvalue()


def test_old_run_watches(tmp_path: Path) -> None:
    video = tmp_path / "old.gif"
    with redirect_stdout(io.StringIO()):
        assert main(["watch", str(copy_run(tmp_path)), "--out", str(video), "--max-ep-len", "20"]) == 0
    assert video.stat().st_size > 0


def test_old_run_resumes_as_before(tmp_path: Path, same_numbers: Any, fingerprint: dict[str, str]) -> None:
    run = copy_run(tmp_path)
    (run / "eval.json").unlink()  # the old run stopped early by its callback; it continues to 4 epochs
    agent, history = pgrl.ppo(resume=str(run), epochs=4, verbose=False, eval_episodes=3)
    expected = json.loads((DATA / "run-7b84031-expected.json").read_text())
    params = {k: v.reshape(-1).tolist() for k, v in agent.ac.state_dict().items()}
    exact = expected["fingerprint"] == fingerprint
    same_numbers(expected["params"], params, exact, "params")
    rows = [{k: v for k, v in r.items() if k not in ("Time", "StepsPerSecond")} for r in history]
    # epochs 1-2 come back from progress.txt (6 significant digits); epochs 3-4 are computed again
    same_numbers(expected["rows"][2:], rows[2:], exact, "rows")
    assert [r["Epoch"] for r in rows] == [1, 2, 3, 4]
    assert len((run / "progress.txt").read_text().splitlines()) == 1 + 4
