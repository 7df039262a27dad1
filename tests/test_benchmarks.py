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


def test_throughput(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGRL_PUREJAXRL", raising=False)  # the peer's row then says what to set
    throughput = load("throughput")
    rows = throughput.main(["--envs", "CartPole-v1", "--algos", "ppo", "ars", "--steps", "2000"])
    assert [r["algo"] for r in rows] == ["ppo", "ars", "purejaxrl"]
    assert all(r["train"] > 0 and r["floor"] > 0 for r in rows[:2])
    out = capsys.readouterr().out
    assert "| CartPole-v1 | ppo |" in out
    assert "| CartPole-v1 | purejaxrl | 4 | not run: set PGRL_PUREJAXRL to" in out
    assert rows[2]["note"].startswith("not run: set PGRL_PUREJAXRL")


def test_purejaxrl_finder_says_what_to_set(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    purejaxrl = load("purejaxrl")
    monkeypatch.delenv("PGRL_PUREJAXRL", raising=False)
    monkeypatch.delenv("PGRL_JAX_PYTHON", raising=False)
    monkeypatch.setattr(purejaxrl, "jax_here", lambda: False)  # else this Python serves (the peers extra)
    assert purejaxrl.missing() == purejaxrl.UNSET_DIR and "\n" not in purejaxrl.UNSET_DIR
    with pytest.raises(purejaxrl.PeerMissing, match="set PGRL_PUREJAXRL"):
        purejaxrl.run_purejaxrl(1, 1000)
    monkeypatch.setenv("PGRL_PUREJAXRL", str(tmp_path))
    assert "has no ppo.py" in (purejaxrl.missing() or "")
    (tmp_path / "ppo.py").write_text(
        'if __name__ == "__main__":\n    config = {"NUM_ENVS": 4, "ENV_NAME": "CartPole-v1"}\n    rng = 0\n'
    )
    assert purejaxrl.missing() == purejaxrl.UNSET_PYTHON
    monkeypatch.setenv("PGRL_JAX_PYTHON", str(tmp_path / "no-python"))
    assert "is not an executable file" in (purejaxrl.missing() or "")
    monkeypatch.setenv("PGRL_JAX_PYTHON", sys.executable)
    assert purejaxrl.missing() is None
    monkeypatch.delenv("PGRL_JAX_PYTHON")
    monkeypatch.setattr(purejaxrl, "jax_here", lambda: True)
    assert purejaxrl.find() == (tmp_path, sys.executable)
    assert purejaxrl.default_config(tmp_path / "ppo.py") == {"NUM_ENVS": 4, "ENV_NAME": "CartPole-v1"}


def _actor_logits(p: dict[str, np.ndarray], i: int, obs: np.ndarray) -> np.ndarray:
    h = np.tanh(obs @ p["w0"][i] + p["b0"][i])
    h = np.tanh(h @ p["w1"][i] + p["b1"][i])
    return h @ p["w2"][i] + p["b2"][i]


def test_purejaxrl_actors_evaluate_in_torch(tmp_path: Path) -> None:
    """Exported actor parameters (as the jax runner writes them) evaluated by pgrl's evaluator, no jax."""
    purejaxrl = load("purejaxrl")
    rng = np.random.default_rng(0)
    shapes = {"w0": (4, 8), "b0": (8,), "w1": (8, 8), "b1": (8,), "w2": (8, 2), "b2": (2,)}
    p = {k: rng.normal(0, 0.5, (3, *s)).astype(np.float32) for k, s in shapes.items()}
    for k in p:  # agent 0 pushes towards the pole's fall (3 theta + omega > 0: right), which holds it up
        p[k][0] = 0.0
    p["w0"][0, :, 0] = [0.0, 0.0, 0.3, 0.1]
    p["w1"][0, 0, 0] = 1.0
    p["w2"][0, 0, 1] = 1.0
    p["b2"][2] = [5.0, -5.0]  # agent 2 always pushes left: the pole falls within ~10 steps
    p["w2"][2] = 0.0
    obs = rng.normal(0, 1, (16, 4)).astype(np.float32)
    logits = np.stack([_actor_logits(p, i, obs) for i in range(3)])
    np.savez(tmp_path / "actors.npz", activation=np.array("tanh"), check_obs=obs, check_logits=logits, **p)
    means = purejaxrl.evaluate_params(tmp_path / "actors.npz", episodes=4)
    assert means[0] == 500.0 and 0 < means[1] <= 500 and means[2] < 20
    np.savez(tmp_path / "wrong.npz", check_obs=obs, check_logits=-logits, **p)  # the copy must agree
    with pytest.raises(ValueError, match="does not reproduce PureJaxRL's logits"):
        purejaxrl.agents_from_params(tmp_path / "wrong.npz")


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


def test_epoch_profile_runs_a_mujoco_env_as_a_script_with_hyperparameters_over_the_preset() -> None:
    """Run as a script, benchmarks/mujoco.py must not shadow the mujoco package; --set reaches pgrl.ppo."""
    import subprocess

    pytest.importorskip("mujoco")
    cmd = [sys.executable, str(BENCH / "epoch_profile.py"), "--env", "Hopper-v5", "--epochs", "2", "--repeats", "1",
           "--set", "num_envs=2", "steps_per_epoch=64", "minibatch_size=32"]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines()[-1].startswith("steps/s (cpu time)")
    bad = subprocess.run([*cmd[:-1], "minibatch_size=65"], capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "minibatch_size 65 is larger than the batch of 64" in bad.stderr


def test_seeds_benchmark_rows_and_the_median_of_rounds(capsys: pytest.CaptureFixture[str]) -> None:
    seeds = load("seeds")
    rows = seeds.main(["--env", "CartPole-v1", "--seeds", "2", "--budget", "preset", "--epochs", "1",
                       "--no-sequential", "--no-peers"])  # fmt: skip
    assert [(r.system, r.agents, len(r.steps)) for r in rows] == [("pgrl", 1, 1), ("pgrl, one process", 2, 2)]
    assert all(r.steps == [2048] * r.agents and r.wall_s > r.train_s > 0 for r in rows)
    assert "K seeds in one process / one seed, wall:" in capsys.readouterr().out
    rounds = [seeds.Row("pgrl", 1, wall, 1.0, [10], 1) for wall in (5.0, 3.0, 4.0, 9.0)]
    chosen = seeds.median_row(rounds)
    assert chosen.wall_s == 4.0 and chosen.note == "median of 4 rounds (wall s: 5.0, 3.0, 4.0, 9.0)"


def test_mujoco_benchmark_reports_medians_of_rounds_and_paired_ratios() -> None:
    bench = load("mujoco")
    rounds = [{"floor": 100.0, "pgrl": 60.0, "sb3": 10.0}, {"floor": 50.0, "pgrl": 40.0, "sb3": 10.0},
              {"floor": 80.0, "pgrl": 20.0, "sb3": 5.0}]  # fmt: skip
    r = bench._medians(rounds)
    assert (r["floor"], r["pgrl"], r["sb3"]) == (80.0, 40.0, 10.0)
    assert (r["pgrl/floor"], r["pgrl/sb3"]) == (0.6, 4.0)  # each round's ratio, then the median (not 40/80, 40/10)
    assert bench._medians([{"floor": 10.0, "pgrl": 5.0, "sb3": None}])["pgrl/sb3"] is None  # without SB3
    runs = [
        {"env": "Hopper-v5", "seed": 0, "steps": 1000, "wall_s": 60.0, "score_last100": 2000.0, "eval_mean": 2500.0}
    ]
    row = bench.table({"Hopper-v5": r}, runs, 1000).splitlines()[-1]
    assert row.startswith("| Hopper-v5 | 2,000 ") and "| 60% | 10 | 4.0x | 2,383 +/- 272 |" in row


def test_mujoco_benchmark_scores_a2c_with_its_preset() -> None:
    """--algo a2c: the score runs train A2C with its MuJoCo preset (one epoch here), and the table says so."""
    pytest.importorskip("mujoco")
    bench = load("mujoco")
    run = bench.pgrl_run("Hopper-v5", 0, 1, "a2c")
    assert (run["algo"], run["steps"]) == ("a2c", 4000)  # the preset's epoch: 8 envs x 500 steps
    assert np.isfinite(run["score_last100"]) and np.isfinite(run["eval_mean"])
    row = bench.table({"Hopper-v5": {}}, [run], 1000).splitlines()[-1]  # no throughput rows: they measure PPO
    assert row.startswith("| Hopper-v5 (a2c) | ") and "| - | - | - | - | - | 2,383 +/- 272 |" in row
