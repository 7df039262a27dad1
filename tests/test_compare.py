"""`pgrl compare` and the statistics behind it (pgrl.analysis): final scores, IQM, the stratified
bootstrap CI and the probability of improvement, checked against plain direct computations."""

from __future__ import annotations

import itertools
import json
import warnings
from collections.abc import Callable, Sequence
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


def exact_bootstrap_quantile(
    strata_scores: Sequence[Sequence[float]], statistic: Callable[[list[float]], float], q: float
) -> float:
    """The q quantile of the exact stratified bootstrap distribution, by enumeration: every way of
    resampling each stratum with replacement (all n_s ** n_s index tuples per stratum, every
    combination across strata, all equally likely), ``statistic`` of each concatenation. Returns the
    atom where the distribution function reaches q, and checks that q is at least 0.01 away from
    either of that atom's ends (so that a large Monte Carlo bootstrap lands on that atom too)."""
    per_stratum = [list(itertools.product(m, repeat=len(m))) for m in strata_scores]
    values = sorted(statistic([x for part in combo for x in part]) for combo in itertools.product(*per_stratum))
    atoms = sorted(set(values))
    cdf = [sum(v <= a for v in values) / len(values) for a in atoms]
    i = next(k for k, c in enumerate(cdf) if c >= q)
    assert q - (cdf[i - 1] if i else 0.0) >= 0.01 and cdf[i] - q >= 0.01, "q too close to a jump: pick other data"
    return atoms[i]


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
    np.testing.assert_allclose(iqm(rows, axis=0), [plain_iqm(list(c)) for c in rows.T])


def test_iqm_refuses_no_scores() -> None:
    with pytest.raises(PgrlError, match="the IQM of no scores is undefined"):
        iqm(np.array([]))


# ----------------------------------------------------------------------------------------------- bootstrap


def test_stratified_bootstrap_ci_contains_the_iqm_of_the_data() -> None:
    rng = np.random.default_rng(5)
    datasets = [
        ([12.0, 15.5, 9.0, 30.0, 22.0, 18.0, 140.0, 160.0, 155.0, 120.0, 90.0], ["a"] * 6 + ["b"] * 5),
        (list(rng.normal(100, 30, size=25)), None),
        (list(rng.exponential(50, size=12)), ["x", "y", "z"] * 4),
        ([0.0, 0.0, 0.0, 0.0, 500.0], None),
    ]
    for scores, strata in datasets:
        low, high = stratified_bootstrap_ci(np.array(scores), strata, iqm, reps=1000, seed=7)
        assert low <= plain_iqm(scores) < high


def test_plain_bootstrap_matches_the_exact_bootstrap_distribution() -> None:
    # 4 scores: the 4**4 = 256 equally likely resamples can be listed; a seeded Monte Carlo bootstrap
    # of 20000 resamples must land on the exact distribution's 2.5% and 97.5% quantiles.
    scores = [0.0, 1.0, 3.0, 10.0]
    low, high = stratified_bootstrap_ci(np.array(scores), None, iqm, confidence=0.95, reps=20000, seed=11)
    assert low == pytest.approx(exact_bootstrap_quantile([scores], plain_iqm, 0.025), rel=1e-12, abs=1e-12)
    assert high == pytest.approx(exact_bootstrap_quantile([scores], plain_iqm, 0.975), rel=1e-12)


def test_stratified_bootstrap_matches_the_exact_stratified_distribution() -> None:
    # Two strata resampled independently within themselves: 3**3 * 2**2 = 108 equally likely resamples.
    # (An unstratified bootstrap of the 5 scores would give resamples with 0 or 4 runs of stratum b.)
    a, b = [0.0, 1.0, 2.0], [10.0, 20.0]
    scores, strata = np.array([a[0], b[0], a[1], a[2], b[1]]), ["a", "b", "a", "a", "b"]

    def mean(r: np.ndarray) -> np.ndarray:
        return r.mean(axis=-1)

    def plain_mean(r: list[float]) -> float:
        return sum(r) / len(r)

    low, high = stratified_bootstrap_ci(scores, strata, mean, confidence=0.95, reps=20000, seed=3)
    assert low == pytest.approx(exact_bootstrap_quantile([a, b], plain_mean, 0.025), rel=1e-12)
    assert high == pytest.approx(exact_bootstrap_quantile([a, b], plain_mean, 0.975), rel=1e-12)


def test_stratified_resamples_keep_each_stratum_whole() -> None:
    # Stratum a scores 0, stratum b scores 1: every resample holds 3 zeros and 2 ones, so the IQM of every
    # resample is the same and the interval has zero width (an unstratified bootstrap would vary).
    scores = np.array([0.0, 0.0, 0.0, 1.0, 1.0])
    low, high = stratified_bootstrap_ci(scores, ["a", "a", "a", "b", "b"], lambda r: r.mean(axis=-1), reps=200)
    assert low == high == pytest.approx(0.4)
    low_u, high_u = stratified_bootstrap_ci(scores, None, lambda r: r.mean(axis=-1), reps=200)
    assert low_u < 0.4 < high_u


def test_each_resample_is_drawn_within_its_strata_and_single_runs_stay_fixed() -> None:
    # Strata in order of first appearance: a (3 runs), c (2 runs), b (1 run).
    scores = np.array([1.0, 100.0, 10.0, 2.0, 200.0, 3.0])
    strata = ["a", "c", "b", "a", "c", "a"]
    seen: list[np.ndarray] = []

    def record(r: np.ndarray) -> np.ndarray:
        seen.append(np.array(r))
        return r.mean(axis=-1)

    stratified_bootstrap_ci(scores, strata, record, reps=300, seed=4)
    resamples = np.concatenate([np.atleast_2d(r) for r in seen])
    assert resamples.shape == (300, 6)
    assert set(resamples[:, :3].ravel()) <= {1.0, 2.0, 3.0}  # stratum a's three picks
    assert set(resamples[:, 3:5].ravel()) <= {100.0, 200.0}  # stratum c's two picks
    assert np.all(resamples[:, 5] == 10.0)  # stratum b's single run, in every resample
    assert any(len(set(row[:3])) < 3 for row in resamples)  # drawn with replacement
    assert len({tuple(row) for row in resamples}) > 1
    # A statistic that reads the single run only: an interval of zero width at its score.
    assert stratified_bootstrap_ci(scores, strata, lambda r: r[..., 5], reps=100) == (10.0, 10.0)


def test_bootstrap_ci_narrows_with_more_scores() -> None:
    rng = np.random.default_rng(0)
    few, many = rng.normal(size=10), rng.normal(size=160)
    width_few = np.subtract(*stratified_bootstrap_ci(few, reps=2000)[::-1])
    width_many = np.subtract(*stratified_bootstrap_ci(many, reps=2000)[::-1])
    assert 0 < width_many < width_few / 2  # ~ 1/sqrt(n): 4x narrower expected


def test_bootstrap_ci_settles_with_more_resamples() -> None:
    # More resamples do not narrow the interval, they pin it down: its ends vary less across seeds.
    scores = np.random.default_rng(1).normal(size=20)
    spread = {
        reps: np.std([stratified_bootstrap_ci(scores, reps=reps, seed=s) for s in range(20)], axis=0)
        for reps in (50, 5000)
    }
    assert np.all(spread[5000] < spread[50] / 3)  # ~ 1/sqrt(reps): 10x less expected


def test_bootstrap_ci_is_seeded() -> None:
    scores = np.random.default_rng(0).normal(size=12)
    assert stratified_bootstrap_ci(scores, seed=1, reps=100) == stratified_bootstrap_ci(scores, seed=1, reps=100)
    assert stratified_bootstrap_ci(scores, seed=1, reps=100) != stratified_bootstrap_ci(scores, seed=2, reps=100)


finite_scores = st.lists(st.floats(-1e4, 1e4, allow_nan=False), min_size=1, max_size=20)


@given(finite_scores, st.data())
def test_bootstrap_ci_properties(scores: list[float], data: st.DataObject) -> None:
    strata = data.draw(st.lists(st.sampled_from("abc"), min_size=len(scores), max_size=len(scores)))
    shift = data.draw(st.floats(-1e3, 1e3))
    x = np.array(scores)
    low, high = stratified_bootstrap_ci(x, strata, reps=200, seed=2)
    # Every resample's IQM lies within the scores' range, so the interval does.
    assert min(scores) - 1e-9 <= low <= high <= max(scores) + 1e-9
    # Shifting every score shifts the interval (same seed, same resamples).
    s_low, s_high = stratified_bootstrap_ci(x + shift, strata, reps=200, seed=2)
    assert (s_low, s_high) == pytest.approx((low + shift, high + shift), rel=1e-9, abs=1e-6)
    # One stratum is the plain bootstrap, however it is labelled.
    assert stratified_bootstrap_ci(x, ["only"] * len(x), reps=200, seed=2) == stratified_bootstrap_ci(
        x, None, reps=200, seed=2
    )


def test_degenerate_data_give_a_point_interval_without_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # scipy's DegenerateDataWarning, numpy's RuntimeWarnings
        same = np.full(6, 0.1)
        low, high = stratified_bootstrap_ci(same, reps=100)
        assert low == high == float(iqm(same)) == pytest.approx(0.1)
        assert stratified_bootstrap_ci(np.array([42.5]), reps=100) == (42.5, 42.5)
        # Every stratum a single run: no resample differs from the data.
        assert stratified_bootstrap_ci(np.array([1.0, 2.0, 9.0]), ["a", "b", "c"], reps=100) == (4.0, 4.0)
        # A single run beside an all-equal stratum.
        assert stratified_bootstrap_ci(np.array([3.0, 3.0, 3.0]), ["a", "a", "b"], reps=100) == (3.0, 3.0)
        low, high = stratified_bootstrap_ci(np.array([1.0, np.nan, 3.0, 4.0]), reps=100)
        assert np.isnan(low) and np.isnan(high)


def test_stratified_bootstrap_ci_refuses_bad_input() -> None:
    with pytest.raises(PgrlError, match="needs a non-empty 1-D array of scores"):
        stratified_bootstrap_ci(np.array([]))
    with pytest.raises(PgrlError, match="needs a non-empty 1-D array of scores"):
        stratified_bootstrap_ci(np.ones((2, 3)))
    with pytest.raises(PgrlError, match="2 strata for 3 scores"):
        stratified_bootstrap_ci(np.ones(3), ["a", "b"])
    with pytest.raises(PgrlError, match="at least one resample"):
        stratified_bootstrap_ci(np.arange(4.0), reps=0)


# ----------------------------------------------------------------------------------------------- P(X > Y)


def test_probability_of_improvement_by_hand() -> None:
    # pairs (x, y): (1,2) 0, (1,2) 0, (2,2) 0.5, (2,2) 0.5, (3,2) 1, (3,2) 1  -> 3 / 6
    assert probability_of_improvement([1, 2, 3], [2, 2]) == pytest.approx(0.5)
    assert probability_of_improvement([5, 6], [1, 2, 3]) == 1.0
    assert probability_of_improvement([1], [1]) == 0.5


scores_st = st.lists(st.integers(-5, 5).map(float), min_size=1, max_size=12)  # small ints: many ties


def plain_probability(x: Sequence[float], y: Sequence[float]) -> float:
    """P(X > Y) + 0.5 P(X = Y) by a double loop over all pairs."""
    return sum((a > b) + 0.5 * (a == b) for a in x for b in y) / (len(x) * len(y))


@given(
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=30),
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=30),
)
def test_probability_of_improvement_matches_all_pairs(x: list[float], y: list[float]) -> None:
    assert probability_of_improvement(x, y) == pytest.approx(plain_probability(x, y), abs=1e-12)


def test_probability_of_improvement_refuses_an_empty_side() -> None:
    for x, y in (([], [1.0]), ([1.0], [])):
        with pytest.raises(PgrlError, match="needs scores on both sides"):
            probability_of_improvement(x, y)


@given(scores_st, scores_st)
def test_probabilities_of_improvement_both_ways_add_up_to_one(x: list[float], y: list[float]) -> None:
    p_xy, p_yx = probability_of_improvement(x, y), probability_of_improvement(y, x)
    assert 0.0 <= p_xy <= 1.0
    assert p_xy + p_yx == pytest.approx(1.0, abs=1e-12)
    assert p_xy == pytest.approx(plain_probability(x, y), abs=1e-12)


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
    lo, hi = stratified_bootstrap_ci(np.array(finals["ppo"]), ["CartPole-v1"] * 5, iqm, reps=300, seed=0)
    assert ppo["iqm_ci"] == pytest.approx([lo, hi])  # --reps and the default seed 0 reach the bootstrap
    assert lo <= ppo["iqm"] <= hi and lo < hi
    poi = out["probability_of_improvement"]
    assert poi[ppo["label"]]["vpg"] == pytest.approx(plain_probability(finals["ppo"], finals["vpg"]))
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
