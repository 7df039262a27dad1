"""`pgrl compare` and the statistics behind it (pgrl.analysis): final scores, IQM, the stratified
bootstrap CI and the probability of improvement, checked against plain direct computations."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pgrl.analysis import (
    final_score,
    iqm,
    load_run,
    probability_of_improvement,
    stratified_bootstrap_ci,
    stratified_probability_of_improvement,
)
from pgrl.cli import main
from pgrl.errors import PgrlError


def plain_iqm(scores: list[float]) -> float:
    """Drop floor(n/4) of the lowest and of the highest, average the rest (scipy's trim_mean(0.25))."""
    s = sorted(scores)
    k = len(s) // 4
    kept = s[k : len(s) - k]
    return sum(kept) / len(kept)


def plain_quantile(values: list[float], q: float) -> float:
    """Linear-interpolation quantile (numpy's default rule), by hand."""
    s = sorted(values)
    pos = q * (len(s) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def write_run(
    path: Path, returns: list[float], env: str = "CartPole-v1", eval_returns: list[float] | None = None
) -> Path:
    path.mkdir(parents=True)
    cols = ["Epoch", "AverageEpRet", "TotalEnvInteracts", "Time"] + (["EvalAverageEpRet"] if eval_returns else [])
    lines = ["\t".join(cols)]
    for i, r in enumerate(returns):
        row = [str(i + 1), repr(r), str(100 * (i + 1)), repr(0.5 * (i + 1))]
        if eval_returns:
            row.append(repr(eval_returns[i]))
        lines.append("\t".join(row))
    (path / "progress.txt").write_text("\n".join(lines) + "\n")
    (path / "config.json").write_text(json.dumps({"algo": "ppo", "env_id": env, "exp_name": path.parent.name}))
    return path


# ----------------------------------------------------------------------------------------------- IQM


def test_iqm_of_a_hand_made_dataset() -> None:
    scores = np.array([10.0, 1.0, 9.0, 2.0, 8.0, 3.0, 7.0, 4.0, 6.0, 5.0])
    assert iqm(scores) == pytest.approx((3 + 4 + 5 + 6 + 7 + 8) / 6)  # 10 scores: 2 dropped at each end
    assert iqm(np.array([1.0, 2.0, 100.0])) == pytest.approx(103 / 3)  # fewer than 4: the plain mean
    assert iqm(np.array([0.0, 1.0, 2.0, 1000.0])) == pytest.approx(1.5)  # 4 scores: one dropped at each end


@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=40))
def test_iqm_equals_direct_trimming(scores: list[float]) -> None:
    assert float(iqm(np.array(scores))) == pytest.approx(plain_iqm(scores), rel=1e-9, abs=1e-6)


def test_iqm_along_an_axis_matches_rows() -> None:
    rows = np.random.default_rng(3).normal(size=(5, 9))
    np.testing.assert_allclose(iqm(rows, axis=-1), [plain_iqm(list(r)) for r in rows])


# ----------------------------------------------------------------------------------------------- bootstrap


def plain_stratified_ci(scores: list[float], strata: list[str], reps: int, seed: int) -> tuple[float, float]:
    """The documented resampling, written out with loops: per stratum (in order of first appearance)
    an index matrix from one generator, a resample = the strata's picks concatenated, IQM by hand."""
    rng = np.random.default_rng(seed)
    order = list(dict.fromkeys(strata))
    picks = []
    for s in order:
        members = [x for x, t in zip(scores, strata, strict=True) if t == s]
        idx = rng.integers(0, len(members), size=(reps, len(members)))
        picks.append([[members[j] for j in row] for row in idx])
    stats = [plain_iqm([x for part in picks for x in part[r]]) for r in range(reps)]
    return plain_quantile(stats, 0.025), plain_quantile(stats, 0.975)


def test_stratified_bootstrap_ci_matches_a_plain_implementation() -> None:
    scores = [12.0, 15.5, 9.0, 30.0, 22.0, 18.0, 140.0, 160.0, 155.0, 120.0, 90.0]
    strata = ["a"] * 6 + ["b"] * 5
    low, high = stratified_bootstrap_ci(np.array(scores), strata, iqm, reps=500, seed=7)
    p_low, p_high = plain_stratified_ci(scores, strata, reps=500, seed=7)
    assert low == pytest.approx(p_low, rel=1e-12)
    assert high == pytest.approx(p_high, rel=1e-12)
    assert low <= float(iqm(np.array(scores))) <= high


def test_stratified_resamples_keep_each_stratum_whole() -> None:
    # Stratum a scores 0, stratum b scores 1: every resample holds 3 zeros and 2 ones, so the IQM of every
    # resample is the same and the interval has zero width (an unstratified bootstrap would vary).
    scores = np.array([0.0, 0.0, 0.0, 1.0, 1.0])
    low, high = stratified_bootstrap_ci(scores, ["a", "a", "a", "b", "b"], lambda r: r.mean(axis=-1), reps=200)
    assert low == high == pytest.approx(0.4)
    low_u, high_u = stratified_bootstrap_ci(scores, None, lambda r: r.mean(axis=-1), reps=200)
    assert low_u < 0.4 < high_u


def test_bootstrap_ci_is_seeded() -> None:
    scores = np.random.default_rng(0).normal(size=12)
    assert stratified_bootstrap_ci(scores, seed=1, reps=100) == stratified_bootstrap_ci(scores, seed=1, reps=100)
    assert stratified_bootstrap_ci(scores, seed=1, reps=100) != stratified_bootstrap_ci(scores, seed=2, reps=100)


# ----------------------------------------------------------------------------------------------- P(X > Y)


def test_probability_of_improvement_by_hand() -> None:
    # pairs (x, y): (1,2) 0, (1,2) 0, (2,2) 0.5, (2,2) 0.5, (3,2) 1, (3,2) 1  -> 3 / 6
    assert probability_of_improvement([1, 2, 3], [2, 2]) == pytest.approx(0.5)
    assert probability_of_improvement([5, 6], [1, 2, 3]) == 1.0
    assert probability_of_improvement([1], [1]) == 0.5


scores_st = st.lists(st.integers(-5, 5).map(float), min_size=1, max_size=12)  # small ints: many ties


@given(scores_st, scores_st)
def test_probabilities_of_improvement_both_ways_add_up_to_one(x: list[float], y: list[float]) -> None:
    p_xy, p_yx = probability_of_improvement(x, y), probability_of_improvement(y, x)
    assert 0.0 <= p_xy <= 1.0
    assert p_xy + p_yx == pytest.approx(1.0, abs=1e-12)
    direct = sum((a > b) + 0.5 * (a == b) for a in x for b in y) / (len(x) * len(y))
    assert p_xy == pytest.approx(direct, abs=1e-12)


def test_stratified_probability_averages_over_shared_envs() -> None:
    p = stratified_probability_of_improvement([1, 9, 10], ["a", "b", "b"], [2, 3], ["a", "b"])
    assert p == pytest.approx((0.0 + 1.0) / 2)
    with pytest.raises(PgrlError, match="share no environment"):
        stratified_probability_of_improvement([1.0], ["a"], [2.0], ["b"])


# ----------------------------------------------------------------------------------------------- runs


def test_final_score_is_the_mean_of_the_last_tenth(tmp_path: Path) -> None:
    run = load_run(write_run(tmp_path / "e" / "r", [float(i) for i in range(20)]))
    assert final_score(run, "AverageEpRet") == pytest.approx((18 + 19) / 2)  # last 10% of 20 epochs = 2
    assert final_score(run, "AverageEpRet", last_frac=0.25) == pytest.approx(np.mean([15, 16, 17, 18, 19]))
    short = load_run(write_run(tmp_path / "e" / "short", [3.0, 4.0, 7.0]))
    assert final_score(short, "AverageEpRet") == 7.0  # at least one value


def test_final_score_skips_epochs_without_a_value(tmp_path: Path) -> None:
    nan = float("nan")
    run = load_run(write_run(tmp_path / "e" / "r", [1.0] * 6, eval_returns=[nan, 10.0, nan, 20.0, nan, 30.0]))
    assert final_score(run, "EvalAverageEpRet") == 30.0  # 3 evaluations: the last one
    assert final_score(run, "EvalAverageEpRet", last_frac=1.0) == 20.0


def make_groups(root: Path, with_eval: bool = False) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Two groups of runs whose final scores (mean of the last 2 of 20 epochs) are known."""
    finals = {"ppo": [100.0, 120.0, 80.0, 500.0, 110.0], "vpg": [90.0, 60.0, 70.0, 95.0]}
    evals = {"ppo": [200.0, 210.0, 190.0, 205.0, 300.0], "vpg": [150.0, 100.0, 120.0, 110.0]}
    nan = float("nan")
    for algo, values in finals.items():
        for seed, final in enumerate(values):
            returns = [float(i) for i in range(18)] + [final - 1.0, final + 1.0]
            ev = [nan] * 19 + [evals[algo][seed]] if with_eval else None
            write_run(root / algo / f"s{seed}", returns, eval_returns=ev)
    return finals, evals


def test_compare_json_matches_direct_computation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    finals, _ = make_groups(tmp_path)
    code = main(["compare", f"{tmp_path}/ppo/*", f"vpg={tmp_path}/vpg", "--format", "json", "--reps", "300"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["column"] == "AverageEpRet"
    ppo, vpg = out["groups"]
    assert ppo["label"] == f"{tmp_path}/ppo/*" and vpg["label"] == "vpg"
    assert ppo["runs"] == 5 and vpg["runs"] == 4
    assert ppo["scores"] == pytest.approx(finals["ppo"])
    assert ppo["iqm"] == pytest.approx(plain_iqm(finals["ppo"]))  # 5 runs: drop 1 at each end
    assert vpg["iqm"] == pytest.approx(plain_iqm(finals["vpg"]))
    assert ppo["median"] == pytest.approx(110.0) and ppo["mean"] == pytest.approx(np.mean(finals["ppo"]))
    lo, hi = plain_stratified_ci(finals["ppo"], ["CartPole-v1"] * 5, reps=300, seed=0)
    assert ppo["iqm_ci"] == pytest.approx([lo, hi])
    poi = out["probability_of_improvement"]
    direct = sum((a > b) + 0.5 * (a == b) for a in finals["ppo"] for b in finals["vpg"]) / 20
    assert poi[ppo["label"]]["vpg"] == pytest.approx(direct)
    assert poi[ppo["label"]]["vpg"] + poi["vpg"][ppo["label"]] == pytest.approx(1.0)


def test_compare_uses_the_eval_column_when_every_run_has_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, evals = make_groups(tmp_path, with_eval=True)
    assert main(["compare", f"a={tmp_path}/ppo", f"b={tmp_path}/vpg", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["column"] == "EvalAverageEpRet"
    assert out["groups"][0]["scores"] == pytest.approx(evals["ppo"])
    assert main(["compare", f"a={tmp_path}/ppo", "--column", "AverageEpRet", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["column"] == "AverageEpRet"


@pytest.mark.parametrize("fmt", ["table", "markdown", "csv"])
def test_compare_text_formats(tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str) -> None:
    finals, _ = make_groups(tmp_path)
    assert main(["compare", f"ppo={tmp_path}/ppo", f"vpg={tmp_path}/vpg", "--format", fmt, "--reps", "100"]) == 0
    out = capsys.readouterr().out
    iqm_text = f"{plain_iqm(finals['ppo']):.2f}"
    if fmt == "csv":
        lines = out.strip().splitlines()
        assert lines[0].startswith("group,runs,column,iqm,iqm_low,iqm_high,median,mean,std,P(>ppo),P(>vpg)")
        ppo_row = lines[1].split(",")
        assert ppo_row[0] == "ppo" and float(ppo_row[3]) == pytest.approx(plain_iqm(finals["ppo"]))
        assert float(ppo_row[10]) + float(lines[2].split(",")[9]) == pytest.approx(1.0)
    else:
        assert iqm_text in out and "probability of improvement" in out.lower()
        if fmt == "markdown":
            assert "| group | runs | IQM |" in out


def test_compare_refuses_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", str(tmp_path / "nothing-*")]) == 2
    assert "no runs" in capsys.readouterr().err
    make_groups(tmp_path)
    assert main(["compare", f"x={tmp_path}/ppo", f"x={tmp_path}/vpg"]) == 2
    assert "same label" in capsys.readouterr().err
