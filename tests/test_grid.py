"""Experiment grids (pgrl.grid, pgrl grid): names, the literal parser, the local pool and Ray giving the
same runs, failures reported without stopping the others, finished runs skipped, interrupted ones resumed."""

from __future__ import annotations

import io
import json
import os
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pytest

from pgrl.analysis import read_progress
from pgrl.cli import main
from pgrl.errors import PgrlError
from pgrl.grid import Grid, expected_config, parse_setting, parse_value

TINY = dict(epochs=[2], steps_per_epoch=[256], num_envs=[4], update_epochs=[2], minibatch_size=[128], save_freq=[1])
TINY_NAME = "_epochs2_steps_per_epoch256_num_envs4_update_epochs2_minibatch_size128_save_freq1"


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
    # A name carries every value that differs from the defaults and the env's preset (single values too):
    # PPO's CartPole-v1 preset has lam 0.95, VPG's lam 0.9; neither has pi_lr 1e-3.
    assert names == ["ppo-CartPole-v1_lam0.9_pi_lr0.001/s0", "ppo-CartPole-v1_pi_lr0.001/s0",
                     "vpg-CartPole-v1_pi_lr0.001/s0", "vpg-CartPole-v1_lam0.95_pi_lr0.001/s0"]  # fmt: skip
    with pytest.raises(PgrlError, match="takes a hyperparameter"):
        Grid(tmp_path, algos=["ppo"], lamda=[0.9])


@pytest.mark.usefixtures("loopback_ports")  # Ray binds ports on 127.0.0.1
def test_local_pool_and_ray_give_the_same_runs(tmp_path):
    ray = pytest.importorskip("ray")
    local = _grid(tmp_path / "local").run(workers=2, verbose=False)
    assert local.ok and [r["variant"] for r in local.rows] == [
        f"ppo-CartPole-v1_lam0.9{TINY_NAME}",
        f"ppo-CartPole-v1{TINY_NAME}",
    ]
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
    name = "ppo-CartPole-v1_lam0.9_epochs3_steps_per_epoch256_num_envs4_update_epochs2_save_freq1"
    assert len(errors) == 1 and f"1 of 2 runs failed: {name.replace('lam0.9', 'lam2')}/s0" in errors[0]
    assert "lam must be in [0, 1]" in errors[0]
    assert f"{name} " in captured.out  # the summary table shows the successful variant
    good = out / name / "s0"
    assert (good / "eval.json").exists() and not (out / name.replace("lam0.9", "lam2")).exists()
    before = read_progress(good / "progress.txt")

    # Interrupt the finished run after epoch 2: the checkpoint of epoch 2 is kept, its eval.json gone.
    from pgrl import ppo

    interrupted = tmp_path / "interrupted"
    ppo("CartPole-v1", seed=1, lam=0.9, epochs=3, steps_per_epoch=256, num_envs=4, update_epochs=2, save_freq=1,
        eval_episodes=0, verbose=False, logger_kwargs={"output_dir": str(interrupted), "exp_name": "x"},
        callback=lambda epoch, row, agent: epoch < 2)  # fmt: skip
    assert len(read_progress(interrupted / "progress.txt")["Epoch"]) == 2

    again = Grid(out, algos="ppo", envs="CartPole-v1", seeds=[0, 1], eval_episodes=2, lam=[0.9], epochs=[3],
                 steps_per_epoch=[256], num_envs=[4], update_epochs=[2], save_freq=[1])  # fmt: skip
    # The grid's lam now has one value, still in the name (it differs from the preset's 0.95): s0 is the
    # finished run, s1 the interrupted one (the same values).
    target = out / name / "s1"
    interrupted.rename(target)
    summary = again.run(workers=2, verbose=False)
    status = {r["label"]: r["status"] for r in summary.results}
    assert status == {f"{name}/s0": "skipped", f"{name}/s1": "resumed from epoch 2"}, status
    assert summary.ok and summary.rows[0]["runs"] == 2
    after = read_progress(good / "progress.txt")
    np.testing.assert_array_equal(before["LossPi"], after["LossPi"])  # untouched
    resumed = read_progress(target / "progress.txt")
    assert list(resumed["Epoch"]) == [1, 2, 3] and (target / "eval.json").exists()


def _configs_match(summary, grid: Grid) -> None:
    """Every run the summary reports holds exactly its variant's values in config.json."""
    variants = {v.label: v for v in grid.variants()}
    for r in summary.results:
        expected = expected_config(variants[r["label"]])
        saved = json.loads((Path(r["run_dir"]) / "config.json").read_text())
        for key, value in expected.items():
            section, _, field = key.rpartition(".")
            assert (saved[section] if section else saved)[field] == (list(value) if isinstance(value, tuple) else value)


def test_a_changed_set_never_reuses_a_run_with_other_values(tmp_path, capsys):
    """The bug of 7b84031: a second grid with another single-valued --set was 'skipped' onto the first's runs."""
    out = tmp_path / "g"
    base = ["grid", "--algo", "ppo", "--env", "CartPole-v1", "--seeds", "0", "--set", "epochs=2",
            "--set", "steps_per_epoch=128", "--set", "num_envs=2", "--set", "update_epochs=1",
            "--eval-episodes", "1", "--out", str(out), "--workers", "1", "--quiet"]  # fmt: skip
    first = Grid(out, algos="ppo", envs="CartPole-v1", seeds=[0], eval_episodes=1, epochs=2, steps_per_epoch=128,
                 num_envs=2, update_epochs=1)  # fmt: skip
    assert main(base) == 0
    second = Grid(out, algos="ppo", envs="CartPole-v1", seeds=[0], eval_episodes=1, epochs=2, steps_per_epoch=128,
                  num_envs=2, update_epochs=1, lam=0.9)  # fmt: skip
    assert main([*base, "--set", "lam=0.9"]) == 0
    summary = second.run(verbose=False)  # a third time: everything is reused now, and matches
    assert [r["status"] for r in summary.results] == ["skipped"]
    _configs_match(summary, second)
    _configs_match(first.run(verbose=False), first)
    assert summary.rows[0]["hyperparameters"]["lam"] == 0.9
    grid_json = json.loads((out / "grid.json").read_text())
    assert all(row["hyperparameters"].get("lam", 0.95) == 0.95 for row in grid_json["rows"])  # the first grid's


def test_a_run_with_other_values_in_the_variants_directory_is_refused(tmp_path, capsys):
    out = tmp_path / "g"
    grid = Grid(out, algos="ppo", envs="CartPole-v1", seeds=[0], eval_episodes=1, epochs=2, steps_per_epoch=128,
                num_envs=2, update_epochs=1)  # fmt: skip
    assert grid.run(verbose=False).ok
    run_dir = Path(grid.variants()[0].run_dir)
    config = json.loads((run_dir / "config.json").read_text())
    config["hyperparameters"]["gamma"] = 0.9  # as if the defaults had changed since it was made
    (run_dir / "config.json").write_text(json.dumps(config))
    with pytest.raises(PgrlError, match=r"holds a run with gamma=0\.9 \(the grid asks 0\.98\); replace them"):
        grid.run(verbose=False)
    args = ["grid", "--algo", "ppo", "--env", "CartPole-v1", "--set", "epochs=2", "--set", "steps_per_epoch=128",
            "--set", "num_envs=2", "--set", "update_epochs=1", "--eval-episodes", "1", "--out", str(out)]  # fmt: skip
    err = io.StringIO()
    with redirect_stderr(err), redirect_stdout(io.StringIO()):
        assert main(args) == 2
    assert err.getvalue().count("\n") == 1 and "gamma=0.9" in err.getvalue() and "--fresh" in err.getvalue()
    summary = grid.run(verbose=False, fresh=True)
    assert [r["status"] for r in summary.results] == ["replaced"]
    _configs_match(summary, grid)


@pytest.mark.parametrize("kind", ["file", "unwritable"])
def test_grid_out_that_cannot_be_a_directory_is_one_line(tmp_path, kind):
    out = tmp_path / "out"
    if kind == "unwritable" and os.geteuid() == 0:
        pytest.skip("root writes anywhere")
    if kind == "file":
        out.write_text("not a directory")
    else:
        tmp_path.chmod(0o500)
    err = io.StringIO()
    try:
        with redirect_stderr(err), redirect_stdout(io.StringIO()):
            code = main(["grid", "--algo", "ppo", "--env", "CartPole-v1", "--out", str(out / "g")])
    finally:
        tmp_path.chmod(0o700)
    assert code == 2 and err.getvalue().startswith("pgrl: error: cannot make the grid's directory")
    assert err.getvalue().count("\n") == 1
