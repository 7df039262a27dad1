"""Smoke tests of the benchmark scripts (one seed, tiny budgets; no timing is asserted).

The SB3 parts run only where stable-baselines3 is installed (the ``bench`` extra)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"pgrl_bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_solve_pgrl(capsys: pytest.CaptureFixture[str]) -> None:
    solve = load("solve")
    args = ["--envs", "CartPole-v1", "--seeds", "0", "--systems", "pgrl", "--max-steps", "2048"]
    results = solve.main([*args, "--eval-every", "1024"])
    (r,) = results
    assert (r.env, r.system, r.seed) == ("CartPole-v1", "pgrl", 0)
    assert r.evals >= 1 and r.steps >= 2048 and r.train_seconds > 0
    assert not r.solved and np.isfinite(r.last_eval)  # 2048 steps do not solve CartPole
    out = capsys.readouterr().out
    assert "| CartPole-v1 | pgrl | 0/1 |" in out


def test_solve_table_ratio() -> None:
    solve = load("solve")
    R = solve.Result
    results = [
        R("CartPole-v1", "pgrl", 0, True, 1.0, 1000, 1, 500.0, 2.0),
        R("CartPole-v1", "sb3", 0, True, 6.0, 1000, 1, 500.0, 8.0),
        R("CartPole-v1", "pgrl", 1, False, 9.0, 1000, 1, 100.0, 10.0),
    ]
    text = solve.table(results)
    assert "| CartPole-v1 | pgrl | 1/2 | 1.0 |" in text
    assert text.splitlines()[-1].endswith("| 6.0x | 8.0 | 4.0x |")


def test_shared_evaluator_scores_a_fixed_policy() -> None:
    solve = load("solve")
    evaluator = solve.Evaluator("CartPole-v1", episodes=4)
    first = evaluator(lambda obs: np.zeros(len(obs), dtype=np.int64))  # always push left: falls fast
    assert 5 <= first < 20 and evaluator.count == 1
    evaluator.close()


def test_solve_sb3() -> None:
    pytest.importorskip("stable_baselines3")
    solve = load("solve")
    (r,) = solve.main(
        ["--envs", "CartPole-v1", "--seeds", "0", "--systems", "sb3", "--max-steps", "1024", "--eval-every", "512"]
    )
    assert r.system == "sb3" and r.evals >= 1 and r.steps >= 1024


def test_solve_without_sb3_runs_pgrl_only(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    solve = load("solve")
    monkeypatch.setattr(solve, "sb3_available", lambda: False)
    results = solve.main(["--envs", "CartPole-v1", "--seeds", "0", "--max-steps", "1024", "--eval-every", "1024"])
    assert [r.system for r in results] == ["pgrl"]
    assert "not installed" in capsys.readouterr().out


def test_throughput(capsys: pytest.CaptureFixture[str]) -> None:
    throughput = load("throughput")
    rows = throughput.main(["--envs", "CartPole-v1", "--algos", "ppo", "ars", "--steps", "2000"])
    assert [r["algo"] for r in rows] == ["ppo", "ars"]
    assert all(r["train"] > 0 and r["floor"] > 0 for r in rows)
    assert "| CartPole-v1 | ppo |" in capsys.readouterr().out


def test_epoch_profile(capsys: pytest.CaptureFixture[str]) -> None:
    from pgrl.optim import Optimizer
    from pgrl.rollout import Collector

    step, init = Optimizer.step, Collector.__init__
    profile = load("epoch_profile")
    parts = profile.main(["--epochs", "3", "--repeats", "1"])
    assert parts["epoch"] > 0 and parts["collection"] > 0 and parts["gradient steps (Optimizer.step)"] > 0
    assert parts["collection"] >= parts["policy forward (ac.step)"] + parts["env step"]
    assert parts["full-batch passes (before/after)"] > 0 and parts["minibatch indexing"] > 0
    out = capsys.readouterr().out
    assert "  the rest (bookkeeping)" in out and out.splitlines()[-1].startswith("steps/s (cpu time)")
    assert parts["steps/s"] > 0
    assert (Optimizer.step, Collector.__init__) == (step, init)  # pgrl is as before the profile
