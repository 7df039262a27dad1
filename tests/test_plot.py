"""`pgrl plot`: the curve maths (pgrl.analysis) against direct computations, and the drawn Figure's
lines and bands against those numbers; pgrl runs and Spinning Up runs."""

from __future__ import annotations

import json
import math
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pgrl.analysis import (
    bootstrap_mean_band,
    common_grid,
    find_runs,
    group_runs,
    interpolate,
    load_runs,
    read_progress,
    smooth,
)
from pgrl.cli import main
from pgrl.errors import PgrlError
from pgrl.plot import plot

PGRL_COLUMNS = ["Epoch", "AverageEpRet", "StdEpRet", "MaxEpRet", "MinEpRet", "EpLen", "AverageVVals",
                "TotalEnvInteracts", "LossPi", "LossV", "Time", "StepsPerSecond"]  # fmt: skip
SPINUP_COLUMNS = ["Epoch", "AverageEpRet", "StdEpRet", "MaxEpRet", "MinEpRet", "EpLen", "AverageVVals",
                  "StdVVals", "MaxVVals", "MinVVals", "TotalEnvInteracts", "LossPi", "LossV", "DeltaLossPi",
                  "DeltaLossV", "Entropy", "KL", "ClipFrac", "StopIter", "Time"]  # fmt: skip


def write_pgrl_run(path: Path, returns: list[float], steps: list[int], times: list[float], exp: str) -> Path:
    path.mkdir(parents=True)
    lines = ["\t".join(PGRL_COLUMNS)]
    for i, (r, s, t) in enumerate(zip(returns, steps, times, strict=True)):
        row = {c: 0.0 for c in PGRL_COLUMNS} | {"Epoch": i + 1, "AverageEpRet": r, "TotalEnvInteracts": s, "Time": t}
        lines.append("\t".join(f"{row[c]:.6g}" if isinstance(row[c], float) else str(row[c]) for c in PGRL_COLUMNS))
    (path / "progress.txt").write_text("\n".join(lines) + "\n")
    config = {"algo": "ppo", "env_id": "CartPole-v1", "exp_name": exp, "seed": 0}
    (path / "config.json").write_text(json.dumps(config))
    return path


def write_spinup_run(path: Path, returns: list[float], exp_name: str, seed: int) -> Path:
    """A progress.txt as Spinning Up's EpochLogger writes it: its columns, values joined with str(), and
    its config.json (exp_name plus the locals of the algorithm call)."""
    path.mkdir(parents=True)
    lines = ["\t".join(SPINUP_COLUMNS)]
    for i, r in enumerate(returns):
        vals = [i, r, 3.0, r + 5, r - 5, r, 0.5 * r, 0.1, 0.9, 0.0, 4000 * (i + 1), -0.01, 12.5, -0.002, -1.1,
                0.68, 0.004, 0.03, 80, 2.5 * (i + 1)]  # fmt: skip
        lines.append("\t".join(map(str, vals)))
    (path / "progress.txt").write_text("\n".join(lines) + "\n")
    config = {"exp_name": exp_name, "seed": seed, "env_fn": "<function <lambda> at 0x7f>", "gamma": 0.99,
              "logger_kwargs": {"exp_name": exp_name, "output_dir": str(path)}}  # fmt: skip
    (path / "config.json").write_text(json.dumps(config, indent=4))
    return path


# ----------------------------------------------------------------------------------------------- maths


def test_smooth_matches_spinning_up_and_skips_nan() -> None:
    y = np.array([1.0, 4.0, 2.0, 8.0, 5.0, 7.0])
    k = 3
    expected = np.convolve(y, np.ones(k), "same") / np.convolve(np.ones(len(y)), np.ones(k), "same")
    np.testing.assert_allclose(smooth(y, k), expected)
    np.testing.assert_allclose(smooth(y, 3)[:2], [(1 + 4) / 2, (1 + 4 + 2) / 3])
    np.testing.assert_array_equal(smooth(y, 1), y)
    with_nan = np.array([1.0, np.nan, 3.0, np.nan, np.nan, np.nan, 5.0])
    np.testing.assert_allclose(smooth(with_nan, 3), [1.0, 2.0, 3.0, 3.0, np.nan, 5.0, 5.0])


def test_common_grid_and_interpolation() -> None:
    same = np.array([100.0, 200.0, 300.0])
    np.testing.assert_array_equal(common_grid([same, same.copy()]), same)  # shared x: used as is
    grid = common_grid([np.array([0.0, 1.0, 2.0, 4.0]), np.array([0.5, 1.5, 3.0])])
    np.testing.assert_allclose(grid, np.linspace(0.5, 3.0, 4))  # the range both cover, longest run's count
    np.testing.assert_allclose(interpolate(np.array([0.0, 2.0]), np.array([0.0, 10.0]), np.array([0.5, 1.0])), [2.5, 5])
    np.testing.assert_allclose(
        interpolate(np.array([0.0, 1.0, 2.0]), np.array([0.0, np.nan, 4.0]), np.array([1.0])), [2.0]
    )  # NaN points are skipped
    with pytest.raises(PgrlError, match="do not overlap"):
        common_grid([np.array([0.0, 1.0]), np.array([2.0, 3.0])])


def test_bootstrap_band_matches_a_plain_loop() -> None:
    ys = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 1.0], [0.0, 3.0, 5.0], [4.0, 4.0, 4.0]])
    mean, low, high = bootstrap_mean_band(ys, reps=400, seed=3)
    np.testing.assert_allclose(mean, ys.mean(axis=0))
    idx = np.random.default_rng(3).integers(0, 4, size=(400, 4))
    means = np.array([[np.mean([ys[i, p] for i in row]) for p in range(3)] for row in idx])
    np.testing.assert_allclose(low, np.quantile(means, 0.025, axis=0))
    np.testing.assert_allclose(high, np.quantile(means, 0.975, axis=0))
    assert np.all(low <= mean) and np.all(mean <= high)
    one = bootstrap_mean_band(ys[:1])
    np.testing.assert_array_equal(one[1], ys[0])  # one run: a band of zero width
    np.testing.assert_array_equal(one[2], ys[0])


def test_bootstrap_band_leaves_nan_out_without_warnings() -> None:
    # Point 0: no NaN. Point 1: run 1 is NaN there; resamples of run 1 only (mean NaN) are left out of
    # the quantiles, the others average runs 0 and 2. Point 2: one run only has a value: a zero-width
    # band at it. Point 3: every run NaN: NaN stays NaN.
    nan = math.nan
    ys = np.array([[1.0, 2.0, nan, nan], [2.0, nan, nan, nan], [3.0, 4.0, 7.0, nan]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mean, low, high = bootstrap_mean_band(ys, reps=500, seed=1)
    np.testing.assert_allclose(mean[:3], [2.0, 3.0, 7.0])
    assert np.isnan(mean[3]) and np.isnan(low[3]) and np.isnan(high[3])
    assert np.isfinite(low[:3]).all() and np.isfinite(high[:3]).all()
    idx = np.random.default_rng(1).integers(0, 3, size=(500, 3))
    at1 = [np.mean(v) for row in idx if (v := [ys[i, 1] for i in row if not math.isnan(ys[i, 1])])]
    assert len(at1) < 500  # some resamples held run 1 only
    assert low[1] == pytest.approx(np.quantile(at1, 0.025)) and high[1] == pytest.approx(np.quantile(at1, 0.975))
    assert low[2] == high[2] == 7.0


@given(
    st.integers(1, 6).flatmap(
        lambda runs: st.lists(
            st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=runs, max_size=runs), min_size=1, max_size=5
        )
    )
)
def test_bootstrap_band_lies_within_the_runs(columns: list[list[float]]) -> None:
    ys = np.array(columns).T  # (runs, points)
    mean, low, high = bootstrap_mean_band(ys, reps=100, seed=0)
    np.testing.assert_allclose(mean, ys.mean(axis=0), rtol=1e-12, atol=1e-9)
    assert np.all(ys.min(axis=0) - 1e-9 <= low) and np.all(low <= high + 1e-9)
    assert np.all(high <= ys.max(axis=0) + 1e-9)


def test_read_progress_tolerates_a_cut_row_and_text(tmp_path: Path) -> None:
    p = tmp_path / "progress.txt"
    p.write_text("Epoch\tAverageEpRet\tTime\n1\t10.5\t0.1\n2\tnan\t0.2\n3\tabc\t0.3\n4\t7\n")
    cols = read_progress(p)
    np.testing.assert_array_equal(cols["Epoch"], [1, 2, 3, 4])
    np.testing.assert_array_equal(cols["AverageEpRet"], [10.5, np.nan, np.nan, 7.0])
    assert math.isnan(cols["Time"][3])


# ----------------------------------------------------------------------------------------------- runs and groups


def make_experiments(root: Path) -> dict[str, np.ndarray]:
    """Experiment A: 3 seeds sharing x; experiment B: 2 seeds, no exp_name, grouped by algo-env."""
    steps = [100, 200, 300, 400, 500]
    a = np.array([[10, 20, 35, 50, 80], [12, 18, 30, 60, 90], [8, 25, 40, 45, 70]], dtype=float)
    for seed, r in enumerate(a):
        write_pgrl_run(root / "A" / f"s{seed}", list(r), steps, [0.5 * (i + 1) for i in range(5)], exp="A")
    b = np.array([[5, 6, 7, 8, 9], [7, 8, 9, 10, 11]], dtype=float)
    for seed, r in enumerate(b):
        path = write_pgrl_run(root / "B" / f"s{seed}", list(r), steps, [0.5 * (i + 1) for i in range(5)], exp="B")
        config = json.loads((path / "config.json").read_text())
        del config["exp_name"]
        (path / "config.json").write_text(json.dumps(config))
    return {"A": a, "ppo-CartPole-v1": b}


def test_runs_are_found_and_grouped(tmp_path: Path) -> None:
    expected = make_experiments(tmp_path)
    assert len(find_runs([tmp_path])) == 5
    assert len(find_runs([tmp_path / "A", tmp_path / "A" / "s0"])) == 3  # each run once
    groups = group_runs(load_runs([tmp_path]))
    assert {k: len(v) for k, v in groups.items()} == {k: len(v) for k, v in expected.items()}
    by_parent = group_runs(load_runs([tmp_path]), "parent")
    assert sorted(by_parent) == ["A", "B"]
    assert len(group_runs(load_runs([tmp_path]), "run")) == 5


def test_plot_draws_the_mean_and_the_bootstrap_band(tmp_path: Path) -> None:
    expected = make_experiments(tmp_path)
    fig = plot([tmp_path], out=tmp_path / "curves.png", seed=0, reps=500)
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ax = fig.axes[0]
    assert ax.get_xlabel() == "environment steps"
    assert "AverageEpRet" in ax.get_ylabel()
    assert "CartPole-v1" in ax.get_title()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["A (3 runs)", "ppo-CartPole-v1 (2 runs)"]
    assert len(ax.lines) == 2 and len(ax.collections) == 2
    x = np.array([100, 200, 300, 400, 500], dtype=float)
    for line, band, ys in zip(ax.lines, ax.collections, expected.values(), strict=True):
        np.testing.assert_allclose(line.get_xdata(), x)
        np.testing.assert_allclose(line.get_ydata(), ys.mean(axis=0))  # mean over seeds
        _, low, high = bootstrap_mean_band(ys, reps=500, seed=0)
        verts = band.get_paths()[0].vertices
        want = {(xi, round(v, 9)) for xi, lo, hi in zip(x, low, high, strict=True) for v in (lo, hi)}
        got = {(vx, round(vy, 9)) for vx, vy in verts}
        assert got == want  # the polygon runs along low and back along high, nothing else
        assert np.all(low < ys.mean(axis=0) + 1e-9) and np.any(high > low)


def test_plot_against_time_interpolates_onto_a_common_grid(tmp_path: Path) -> None:
    write_pgrl_run(tmp_path / "e" / "s0", [0.0, 10.0, 20.0], [1, 2, 3], [1.0, 2.0, 3.0], exp="e")
    write_pgrl_run(tmp_path / "e" / "s1", [0.0, 30.0, 60.0], [1, 2, 3], [0.0, 1.0, 2.0], exp="e")
    fig = plot([tmp_path], x="time", reps=50)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "seconds"
    grid = np.linspace(1.0, 2.0, 3)  # both runs cover 1 s .. 2 s
    np.testing.assert_allclose(ax.lines[0].get_xdata(), grid)
    run0 = np.interp(grid, [1.0, 2.0, 3.0], [0.0, 10.0, 20.0])
    run1 = np.interp(grid, [0.0, 1.0, 2.0], [0.0, 30.0, 60.0])
    np.testing.assert_allclose(ax.lines[0].get_ydata(), (run0 + run1) / 2)


def test_plot_smooths_each_run_before_averaging(tmp_path: Path) -> None:
    expected = make_experiments(tmp_path)
    fig = plot([tmp_path / "A"], smooth=3, reps=50)
    want = np.mean([smooth(r, 3) for r in expected["A"]], axis=0)
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), want)


def test_spinning_up_runs_plot_too(tmp_path: Path) -> None:
    for seed in range(3):
        write_spinup_run(tmp_path / "data" / "ppo-cartpole" / f"ppo-cartpole_s{seed}", [10.0 + seed, 50.0, 90.0 - seed],
                         "ppo-cartpole", seed)  # fmt: skip
    out = tmp_path / "spinup.svg"
    assert main(["plot", str(tmp_path / "data"), "--out", str(out)]) == 0
    assert out.read_text().lstrip().startswith("<?xml") and "<svg" in out.read_text()
    fig = plot([tmp_path / "data"], reps=50)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["ppo-cartpole (3 runs)"]
    np.testing.assert_allclose(ax.lines[0].get_xdata(), [4000, 8000, 12000])
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [11.0, 50.0, 89.0])


def test_plot_prefers_the_eval_column_and_draws_it_where_it_exists(tmp_path: Path) -> None:
    path = write_pgrl_run(tmp_path / "e" / "s0", [1.0, 2.0, 3.0, 4.0], [10, 20, 30, 40], [1, 2, 3, 4], exp="e")
    text = (path / "progress.txt").read_text().splitlines()
    evals = ["EvalAverageEpRet", "nan", "100", "nan", "300"]
    (path / "progress.txt").write_text("\n".join(f"{ln}\t{e}" for ln, e in zip(text, evals, strict=True)) + "\n")
    ax = plot([tmp_path], reps=50).axes[0]
    assert "EvalAverageEpRet" in ax.get_ylabel()
    np.testing.assert_allclose(ax.lines[0].get_xdata(), [20, 40])  # no flat extrapolation before the first eval
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [100, 300])
    ax = plot([tmp_path], y="AverageEpRet", reps=50).axes[0]
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [1, 2, 3, 4])


def test_plot_cli_formats_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_experiments(tmp_path)
    pdf = tmp_path / "c.pdf"
    assert main(["plot", str(tmp_path / "A"), str(tmp_path / "B"), "--out", str(pdf), "--smooth", "2"]) == 0
    assert pdf.read_bytes()[:5] == b"%PDF-"
    assert "A (3 runs)" in capsys.readouterr().out
    assert main(["plot", str(tmp_path), "--out", str(tmp_path / "c.jpg")]) == 2
    assert ".png" in capsys.readouterr().err
    assert main(["plot", str(tmp_path), "--out", str(tmp_path / "c.png"), "--y", "NoSuchColumn"]) == 2
    assert "no column 'NoSuchColumn'" in capsys.readouterr().err
    assert main(["plot", str(tmp_path / "missing"), "--out", str(tmp_path / "c.png")]) == 2


def test_missing_matplotlib_gives_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_experiments(tmp_path)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(PgrlError, match=r'pip install "pgrl\[viz\]"'):
        plot([tmp_path])
