"""Experiment grids (pgrl.grid, pgrl grid): names, the literal parser, the local pool and Ray giving the
same runs, failures reported without stopping the others, finished runs skipped, interrupted ones resumed."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from pgrl.analysis import read_progress
from pgrl.cli import main
from pgrl.errors import PgrlError
from pgrl.grid import Grid, parse_setting, parse_value

TINY = dict(epochs=[2], steps_per_epoch=[256], num_envs=[4], update_epochs=[2], minibatch_size=[128], save_freq=[1])


def _grid(out: Path) -> Grid:
    return Grid(out, algos=["ppo"], envs=["CartPole-v1"], seeds=[0, 1], eval_episodes=2, lam=[0.9, 0.95], **TINY)


def _progress(run_dir: Path) -> dict[str, np.ndarray]:
    cols = read_progress(run_dir / "progress.txt")
    return {k: v for k, v in cols.items() if k not in ("Time", "StepsPerSecond")}


def test_literal_parser_and_names(tmp_path):
    assert parse_value("3") == 3 and parse_value("1e-3") == 1e-3 and parse_value("True") is True
    assert parse_value("none") is None and parse_value("relu") == "relu" and parse_value("[64,64]") == (64, 64)
    assert parse_value("__import__('os')") == "__import__('os')"  # a string, never evaluated
    assert parse_setting("hidden_sizes=[64,64],[32]") == ("hidden_sizes", [(64, 64), (32,)])
    with pytest.raises(PgrlError):
        parse_setting("lam")
    names = [v.label for v in Grid(tmp_path, algos=["ppo", "vpg"], seeds=[0], lam=[0.9, 0.95], pi_lr=[1e-3]).variants()]
    assert names == ["ppo-CartPole-v1_lam0.9/s0", "ppo-CartPole-v1_lam0.95/s0", "vpg-CartPole-v1_lam0.9/s0",
                     "vpg-CartPole-v1_lam0.95/s0"]  # fmt: skip
    with pytest.raises(PgrlError, match="takes a hyperparameter"):
        Grid(tmp_path, algos=["ppo"], lamda=[0.9])


@pytest.mark.usefixtures("loopback_ports")  # Ray binds ports on 127.0.0.1
def test_local_pool_and_ray_give_the_same_runs(tmp_path):
    ray = pytest.importorskip("ray")
    local = _grid(tmp_path / "local").run(workers=2, verbose=False)
    assert local.ok and [r["variant"] for r in local.rows] == ["ppo-CartPole-v1_lam0.9", "ppo-CartPole-v1_lam0.95"]
    assert all(r["runs"] == 2 for r in local.rows)

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    try:
        remote = _grid(tmp_path / "ray").run(backend="ray", verbose=False)
    finally:
        ray.shutdown()
    assert remote.ok
    runs = sorted(p.relative_to(tmp_path / "local") for p in (tmp_path / "local").glob("*/s*"))
    assert runs == sorted(p.relative_to(tmp_path / "ray") for p in (tmp_path / "ray").glob("*/s*"))
    assert len(runs) == 4
    for rel in runs:
        a, b = _progress(tmp_path / "local" / rel), _progress(tmp_path / "ray" / rel)
        assert a.keys() == b.keys()
        for k in a:
            np.testing.assert_array_equal(a[k], b[k], err_msg=f"{rel}: {k}")
    for ra, rb in zip(local.rows, remote.rows, strict=True):
        assert ra["scores"] == rb["scores"] and ra["eval_return"] == rb["eval_return"]


def test_failing_variant_skip_and_resume(tmp_path, capsys):
    out = tmp_path / "g"
    args = ["grid", "--algo", "ppo", "--env", "CartPole-v1", "--seeds", "0", "--set", "lam=0.9,2.0",
            "--set", "epochs=3", "--set", "steps_per_epoch=256", "--set", "num_envs=4", "--set", "update_epochs=2",
            "--set", "save_freq=1", "--eval-episodes", "2", "--out", str(out), "--workers", "2"]  # fmt: skip
    assert main(args) == 2  # the failed run refused its input (as pgrl train does)
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.startswith("pgrl:")]
    assert len(errors) == 1 and "1 of 2 runs failed: ppo-CartPole-v1_lam2/s0" in errors[0] and "lam" in errors[0]
    assert "ppo-CartPole-v1_lam0.9 " in captured.out  # the summary table shows the successful variant
    good = out / "ppo-CartPole-v1_lam0.9" / "s0"
    assert (good / "eval.json").exists() and not (out / "ppo-CartPole-v1_lam2").exists()
    before = read_progress(good / "progress.txt")

    # Interrupt the finished run after epoch 2: the checkpoint of epoch 2 is kept, its eval.json gone.
    from pgrl import ppo

    interrupted = tmp_path / "interrupted"
    ppo("CartPole-v1", seed=0, lam=0.9, epochs=3, steps_per_epoch=256, num_envs=4, update_epochs=2, save_freq=1,
        eval_episodes=0, verbose=False, logger_kwargs={"output_dir": str(interrupted), "exp_name": "x"},
        callback=lambda epoch, row, agent: epoch < 1)  # fmt: skip
    assert len(read_progress(interrupted / "progress.txt")["Epoch"]) == 2

    again = Grid(out, algos="ppo", envs="CartPole-v1", seeds=[0, 1], eval_episodes=2, lam=[0.9], epochs=[3],
                 steps_per_epoch=[256], num_envs=[4], update_epochs=[2], save_freq=[1])  # fmt: skip
    # The grid's lam now has one value, so its name is ppo-CartPole-v1: s0 is the finished run, s1 the
    # interrupted one (same hyperparameters).
    target = out / "ppo-CartPole-v1" / "s1"
    target.parent.mkdir(parents=True)
    interrupted.rename(target)
    (target / "config.json").write_text(
        (target / "config.json").read_text().replace('"exp_name": "x"', '"exp_name": "ppo-CartPole-v1"')
    )
    good.rename(out / "ppo-CartPole-v1" / "s0")
    summary = again.run(workers=2, verbose=False)
    status = {r["label"]: r["status"] for r in summary.results}
    assert status == {"ppo-CartPole-v1/s0": "skipped", "ppo-CartPole-v1/s1": "resumed from epoch 2"}, status
    assert summary.ok and summary.rows[0]["runs"] == 2
    after = read_progress(out / "ppo-CartPole-v1" / "s0" / "progress.txt")
    np.testing.assert_array_equal(before["LossPi"], after["LossPi"])  # untouched
    resumed = read_progress(target / "progress.txt")
    assert list(resumed["Epoch"]) == [1, 2, 3] and (target / "eval.json").exists()
