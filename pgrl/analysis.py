"""The numbers behind ``pgrl plot`` and ``pgrl compare``: reading runs, grouping them into
experiments, smoothing, interpolating onto a common x grid, bootstrap confidence bands, and the
aggregate statistics of Agarwal et al. 2021 (rliable): interquartile mean, stratified bootstrap
confidence intervals and the probability of improvement.

Everything here is numpy and scipy.stats (no matplotlib), so the tests check numbers, not pictures.
The IQM is ``scipy.stats.trim_mean``, the stratified bootstrap is ``scipy.stats.bootstrap`` (one sample
per stratum) and the probability of improvement is the Mann-Whitney U statistic
(``scipy.stats.mannwhitneyu``); the curves' bands are a hand-written bootstrap (see
:func:`bootstrap_mean_band` for why). scipy is imported when one of those is first called, not with
this module, so that the other ``pgrl`` commands do not pay for importing scipy.stats.

Runs
    A run directory holds ``progress.txt`` (tab-separated, one header line, one row per epoch: the
    format of pgrl and of OpenAI Spinning Up) and usually ``config.json``. Any other directory given
    is searched recursively for run directories.

Experiments (how runs are grouped across seeds, ``group_by="exp"``)
    1. ``exp_name`` in config.json (Spinning Up writes it; pgrl writes the ``exp_name`` of
       logger_kwargs / ``--exp-name``, by default ``<algo>-<env>``);
    2. else ``<algo>-<env_id>`` from a pgrl config.json;
    3. else the name of the run directory's parent directory (pgrl's default layout is
       ``runs/<exp_name>/<time>_s<seed>``).
    ``group_by="parent"`` always uses the parent directory's name; ``group_by="run"`` keeps every run
    on its own.

Final performance of a run (``pgrl compare``)
    The mean of the last 10% (at least one) of the non-NaN values of the score column. The score
    column is the in-training evaluation (``EvalAverageEpRet`` in pgrl, ``AverageTestEpRet`` in
    Spinning Up) when every run compared has one, else the training ``AverageEpRet``.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from pgrl.errors import PgrlError
from pgrl.rundir import CONFIG, PROGRESS

X_COLUMNS: dict[str, tuple[str, str]] = {
    "steps": ("TotalEnvInteracts", "environment steps"),
    "time": ("Time", "seconds"),
    "epoch": ("Epoch", "epoch"),
}
"""``--x`` choices: the progress column and the axis label (with its unit)."""

EVAL_COLUMNS = ("EvalAverageEpRet", "AverageTestEpRet")
"""Deterministic evaluation returns: pgrl's in-training evaluation, Spinning Up's test episodes."""

TRAIN_COLUMN = "AverageEpRet"

Statistic = Callable[[np.ndarray], np.ndarray]


# ----------------------------------------------------------------------------------------------- runs


@dataclass
class RunData:
    """One run: its directory, its progress columns (float arrays, NaN where a value is missing or
    not a number) and its config.json (empty when absent)."""

    path: Path
    columns: dict[str, np.ndarray]
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def env_id(self) -> str | None:
        env = self.config.get("env_id") or self.config.get("env_name") or self.config.get("env")
        return env if isinstance(env, str) else None

    def column(self, name: str) -> np.ndarray:
        if name not in self.columns:
            known = ", ".join(self.columns)
            raise PgrlError(f"{str(self.path / PROGRESS)!r} has no column {name!r}; its columns: {known}")
        return self.columns[name]


def _to_float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def read_progress(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """The columns of a progress.txt (pgrl's or Spinning Up's) as float arrays, in file order.

    Blank lines are skipped; a row cut short by a crash is padded with NaN; values that are not
    numbers read as NaN.
    """
    path = Path(path)
    try:
        lines = [ln.rstrip("\r\n") for ln in path.read_text(encoding="utf-8").splitlines()]
    except OSError as e:
        raise PgrlError(f"cannot read {str(path)!r}: {e.strerror}") from e
    lines = [ln for ln in lines if ln.strip()]
    if not lines:
        raise PgrlError(f"{str(path)!r} is empty (the run logged no epoch yet)")
    header = [h.strip() for h in lines[0].split("\t")]
    while header and header[-1] == "":  # a trailing tab
        header.pop()
    rows = []
    for ln in lines[1:]:
        cells = [_to_float(c.strip()) for c in ln.split("\t")][: len(header)]
        rows.append(cells + [math.nan] * (len(header) - len(cells)))
    data = np.array(rows, dtype=np.float64).reshape(len(rows), len(header))
    return {name: data[:, i] for i, name in enumerate(header)}


def _read_config(run_dir: Path) -> dict[str, Any]:
    path = run_dir / CONFIG
    if not path.exists():
        return {}
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return config if isinstance(config, dict) else {}


def load_run(run_dir: str | os.PathLike[str]) -> RunData:
    """A run directory's progress.txt and config.json."""
    run_dir = Path(run_dir)
    progress = run_dir / PROGRESS
    if not progress.exists():
        raise PgrlError(f"no {PROGRESS} in {str(run_dir)!r}; pass a run directory or a directory of runs")
    return RunData(run_dir, read_progress(progress), _read_config(run_dir))


def find_runs(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Run directories (those holding progress.txt) among ``paths`` and below them, sorted within each
    path, each once, in the order the paths were given."""
    found: list[Path] = []
    seen: set[Path] = set()
    for p in paths:
        path = Path(p)
        if not path.exists():
            raise PgrlError(f"{str(path)!r} does not exist")
        if path.is_file() and path.name == PROGRESS:
            path = path.parent
        if (path / PROGRESS).exists():
            hits = [path]
        else:
            hits = sorted({Path(root) for root, _, files in os.walk(path) if PROGRESS in files})
        for h in hits:
            key = h.resolve()
            if key not in seen:
                seen.add(key)
                found.append(h)
    return found


def load_runs(paths: Iterable[str | os.PathLike[str]]) -> list[RunData]:
    """Every run under ``paths`` (see :func:`find_runs`); refuses an empty result."""
    paths = list(paths)
    runs = [load_run(p) for p in find_runs(paths)]
    if not runs:
        raise PgrlError(f"no runs (directories with {PROGRESS}) under {', '.join(map(str, paths))}")
    return runs


def experiment_name(run: RunData, group_by: str = "exp") -> str:
    """The experiment a run belongs to (see the module docstring): ``group_by`` is "exp", "parent" or "run"."""
    if group_by == "run":
        return str(run.path)
    parent = run.path.resolve().parent.name
    if group_by == "parent":
        return parent
    if group_by != "exp":
        raise PgrlError(f"group_by must be 'exp', 'parent' or 'run', got {group_by!r}")
    exp = run.config.get("exp_name")
    if isinstance(exp, str) and exp:
        return exp
    algo = run.config.get("algo")
    if isinstance(algo, str) and run.env_id:
        return f"{algo}-{run.env_id}"
    return parent


def group_runs(runs: Sequence[RunData], group_by: str = "exp") -> dict[str, list[RunData]]:
    """Runs by experiment name, in order of first appearance."""
    groups: dict[str, list[RunData]] = {}
    for run in runs:
        groups.setdefault(experiment_name(run, group_by), []).append(run)
    return groups


def default_y_column(runs: Sequence[RunData]) -> str:
    """The evaluation column when every run has one with values, else AverageEpRet."""
    for col in EVAL_COLUMNS:
        if runs and all(col in r.columns and np.isfinite(r.columns[col]).any() for r in runs):
            return col
    return TRAIN_COLUMN


# ----------------------------------------------------------------------------------------------- curves


def smooth(y: np.ndarray, k: int) -> np.ndarray:
    """Spinning Up's smoothing: the mean over a centred window of ``k`` points (``np.convolve(...,
    "same")``), over the points that exist near the ends; NaN points are left out of every window
    (a window of NaN only stays NaN). ``k <= 1`` returns ``y`` unchanged."""
    y = np.asarray(y, dtype=np.float64)
    if k <= 1 or len(y) == 0:
        return y.copy()
    valid = np.isfinite(y)
    window = np.ones(int(k))
    # "same" over len(y) points even when the window is longer than the run ("same" would give k points).
    start = (int(k) - 1) // 2
    num = np.convolve(np.where(valid, y, 0.0), window, "full")[start : start + len(y)]
    den = np.convolve(valid.astype(np.float64), window, "full")[start : start + len(y)]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.maximum(den, 1e-300), np.nan)


def common_grid(xs: Sequence[np.ndarray], num: int | None = None) -> np.ndarray:
    """The x grid that every run is put on: the runs' own x when they all share it, else ``num``
    (default: the longest run's number of points) evenly spaced points over the range that every run
    covers (from the largest first x to the smallest last x; nothing is extrapolated)."""
    xs = [np.asarray(x, dtype=np.float64) for x in xs]
    if not xs or any(len(x) == 0 for x in xs):
        raise PgrlError("cannot build an x grid from a run without points")
    if all(len(x) == len(xs[0]) and np.array_equal(x, xs[0]) for x in xs):
        return xs[0].copy()
    lo = max(float(x[0]) for x in xs)
    hi = min(float(x[-1]) for x in xs)
    if hi < lo:
        raise PgrlError("the runs' x ranges do not overlap; group them separately or plot against another x")
    return np.linspace(lo, hi, num or max(len(x) for x in xs))


def interpolate(x: np.ndarray, y: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """``y(x)`` linearly interpolated at ``grid``, from the points where x and y are finite (NaN
    everywhere when there are none). x must be increasing (as steps and time are)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    if not ok.any():
        return np.full(len(grid), np.nan)
    return np.interp(grid, x[ok], y[ok])


def bootstrap_indices(n: int, reps: int, seed: int) -> np.ndarray:
    """``reps`` resamples (with replacement) of ``n`` items: ``default_rng(seed).integers(0, n, (reps, n))``."""
    return np.random.default_rng(seed).integers(0, n, size=(reps, n))


def bootstrap_mean_band(
    ys: np.ndarray, confidence: float = 0.95, reps: int = 2000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over runs and its percentile-bootstrap confidence band, point by point.

    Args:
        ys: (runs, points): each run's curve on the common grid.
    Returns:
        (mean, low, high), each (points,). The runs are resampled with replacement ``reps`` times
        (indices from :func:`bootstrap_indices`), the mean taken over each resample, and ``low, high``
        are the (1 - confidence)/2 and (1 + confidence)/2 quantiles (``np.quantile``'s default linear
        rule) of those means. One run gives a band of zero width. NaN entries are left out of means.
    """
    # Not scipy.stats.bootstrap: NaN entries are left out of every mean here, and a resample may then
    # pick only runs that are NaN at a point; its mean is NaN and is left out of the quantiles
    # (np.nanquantile). scipy.stats.bootstrap (even with a NaN-aware statistic) takes the quantiles
    # of the whole bootstrap distribution, NaN included, so such a point's band comes out NaN (and it
    # warns that the distribution is degenerate): with 3 runs of which one is NaN at a point, about 4%
    # of the resamples are all NaN there, so 2000 resamples almost surely make that band NaN.
    ys = np.atleast_2d(np.asarray(ys, dtype=np.float64))
    n = ys.shape[0]
    # All-NaN columns stay NaN, on purpose: numpy's "Mean of empty slice" warning is silenced.
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(ys, axis=0)
        if n == 1:
            return mean, mean.copy(), mean.copy()
        idx = bootstrap_indices(n, reps, seed)
        means = np.nanmean(ys[idx], axis=1)  # (reps, points)
        alpha = (1.0 - confidence) / 2.0
        low, high = np.nanquantile(means, [alpha, 1.0 - alpha], axis=0)
    return mean, low, high


@dataclass
class Curve:
    """A group's curve: the mean over runs on the common grid, its confidence band, and the runs."""

    label: str
    x: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    runs: list[RunData]
    per_run: np.ndarray  # (runs, points): each run on the grid, after smoothing


def group_curve(
    label: str,
    runs: Sequence[RunData],
    x_column: str,
    y_column: str,
    smooth_k: int = 1,
    confidence: float = 0.95,
    reps: int = 2000,
    seed: int = 0,
) -> Curve:
    """One experiment's curve: each run's ``y_column`` smoothed over ``smooth_k`` epochs (see
    :func:`smooth`), interpolated onto the common grid (:func:`common_grid`, :func:`interpolate`) of
    the runs' ``x_column`` values where y has a value (so a sparse column such as EvalAverageEpRet,
    NaN between evaluations, is drawn between its evaluations only), then the mean and bootstrap
    band over runs (:func:`bootstrap_mean_band`)."""
    if not runs:
        raise PgrlError(f"experiment {label!r} has no runs")
    xs = [r.column(x_column) for r in runs]
    ys = [smooth(r.column(y_column), smooth_k) for r in runs]
    empty = [str(r.path) for r, x, y in zip(runs, xs, ys, strict=True) if not (np.isfinite(x) & np.isfinite(y)).any()]
    if empty:
        raise PgrlError(f"no {y_column} values in {', '.join(empty)}")
    grid = common_grid([x[np.isfinite(x) & np.isfinite(y)] for x, y in zip(xs, ys, strict=True)])
    per_run = np.stack([interpolate(x, y, grid) for x, y in zip(xs, ys, strict=True)])
    mean, low, high = bootstrap_mean_band(per_run, confidence, reps, seed)
    return Curve(label, grid, mean, low, high, list(runs), per_run)


# ----------------------------------------------------------------------------------------------- scores


def final_score(run: RunData, column: str, last_frac: float = 0.1) -> float:
    """Mean of the last ``last_frac`` (at least one) of the run's non-NaN values of ``column``; NaN
    when the column has no value."""
    if not 0.0 < last_frac <= 1.0:
        raise PgrlError(f"last_frac must be in (0, 1], got {last_frac}")
    values = run.column(column)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return math.nan
    k = max(1, math.ceil(last_frac * len(values) - 1e-9))
    return float(values[-k:].mean())


def iqm(scores: np.ndarray, axis: int = -1) -> np.ndarray:
    """Interquartile mean: the mean of the scores left after dropping ``floor(0.25 * n)`` of the
    lowest and as many of the highest (scipy.stats.trim_mean(scores, 0.25), as rliable computes it).
    For fewer than 4 scores nothing is dropped (the plain mean). A NaN score makes the IQM NaN."""
    from scipy import stats

    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape[axis] == 0:
        raise PgrlError("the IQM of no scores is undefined")
    return np.asarray(stats.trim_mean(scores, 0.25, axis=axis))[()]


def stratified_bootstrap_ci(
    scores: np.ndarray,
    strata: Sequence[Any] | None = None,
    statistic: Statistic = iqm,
    confidence: float = 0.95,
    reps: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile confidence interval of ``statistic`` by the stratified bootstrap (rliable's).

    Each stratum (e.g. an env: runs of one task) is resampled with replacement within itself,
    keeping its size, so every resample has the same mix of tasks as the data. With one stratum this
    is the plain bootstrap.

    Computed by ``scipy.stats.bootstrap`` with one sample per stratum (``paired=False``: each
    stratum resampled on its own), ``reps`` resamples drawn from ``np.random.default_rng(seed)``
    (so the interval is fixed by the seed), and ``method="percentile"``: the interval is the
    (1 - confidence)/2 and (1 + confidence)/2 quantiles of ``statistic`` over the resamples.
    ``statistic`` is applied along the last axis of a (resamples, n) array: each resample is its
    strata's resampled scores concatenated, strata in order of first appearance in ``strata``.

    A stratum of one run is the same in every resample (scipy resamples only samples of two or more,
    so pgrl adds it as is). When every resample must equal the data (no stratum has two runs, e.g. a
    single score, or all scores are equal) the interval is ``statistic`` of the data at both ends,
    without resampling. A NaN score makes the interval NaN.
    """
    from scipy import stats

    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1 or len(scores) == 0:
        raise PgrlError("stratified_bootstrap_ci needs a non-empty 1-D array of scores")
    labels = list(strata) if strata is not None else [0] * len(scores)
    if len(labels) != len(scores):
        raise PgrlError(f"{len(labels)} strata for {len(scores)} scores")
    if reps < 1:
        raise PgrlError(f"the bootstrap needs at least one resample, got reps={reps}")
    members = [scores[[i for i, s in enumerate(labels) if s == label]] for label in dict.fromkeys(labels)]
    if all(len(m) == 1 for m in members) or np.all(scores == scores[0]):
        point = float(np.asarray(statistic(np.concatenate(members)[np.newaxis])).reshape(-1)[0])
        return point, point

    def on_resamples(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
        # scipy hands over one (resamples, n_s) array per stratum of two or more runs, in order.
        resampled = iter(samples)
        lead = samples[0].shape[:-1]
        parts = [next(resampled) if len(m) > 1 else np.broadcast_to(m, (*lead, 1)) for m in members]
        return np.asarray(statistic(np.concatenate(parts, axis=-1)))

    with warnings.catch_warnings():
        # scipy warns "degenerate" whenever an end of the interval is NaN (a NaN score): NaN is the answer.
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        result = stats.bootstrap(
            [m for m in members if len(m) > 1],
            on_resamples,
            n_resamples=reps,
            vectorized=True,
            paired=False,
            axis=-1,
            confidence_level=confidence,
            method="percentile",
            rng=np.random.default_rng(seed),
        )
    low, high = result.confidence_interval
    return float(low), float(high)


def probability_of_improvement(x: ArrayLike, y: ArrayLike) -> float:
    """P(X > Y) + 0.5 P(X = Y) for X drawn from the scores ``x`` and Y from ``y``, over all pairs:
    the Mann-Whitney U statistic of ``x`` (scipy.stats.mannwhitneyu) divided by len(x) * len(y); so
    P(x over y) + P(y over x) = 1. A NaN score makes it NaN."""
    from scipy import stats

    a = np.asarray(x, dtype=np.float64).ravel()
    b = np.asarray(y, dtype=np.float64).ravel()
    if a.size == 0 or b.size == 0:
        raise PgrlError("the probability of improvement needs scores on both sides")
    return float(stats.mannwhitneyu(a, b).statistic / (a.size * b.size))


def stratified_probability_of_improvement(
    x: ArrayLike, x_strata: Sequence[Any], y: ArrayLike, y_strata: Sequence[Any]
) -> float:
    """:func:`probability_of_improvement` per stratum (task) shared by both groups, averaged over those
    strata (rliable's average over tasks); refuses groups without a shared stratum."""
    xs, ys = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    shared = [s for s in dict.fromkeys(x_strata) if s in set(y_strata)]
    if not shared:
        raise PgrlError("the two groups share no environment, so their runs cannot be compared")
    per = [
        probability_of_improvement(
            xs[[i for i, t in enumerate(x_strata) if t == s]], ys[[i for i, t in enumerate(y_strata) if t == s]]
        )
        for s in shared
    ]
    return float(np.mean(per))


@dataclass
class GroupSummary:
    """``pgrl compare``'s row for one group."""

    label: str
    scores: np.ndarray  # one final score per run
    strata: list[str]  # each run's env (the bootstrap's strata)
    runs: list[RunData]
    iqm: float
    iqm_low: float
    iqm_high: float
    median: float
    mean: float
    std: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "runs": len(self.scores),
            "iqm": self.iqm,
            "iqm_ci": [self.iqm_low, self.iqm_high],
            "median": self.median,
            "mean": self.mean,
            "std": self.std,
            "scores": [float(s) for s in self.scores],
            "run_dirs": [str(r.path) for r in self.runs],
        }


def summarize_group(
    label: str,
    runs: Sequence[RunData],
    column: str,
    strata: Sequence[str] | None = None,
    last_frac: float = 0.1,
    confidence: float = 0.95,
    reps: int = 2000,
    seed: int = 0,
) -> GroupSummary:
    """Final scores of a group's runs and their IQM (with its stratified-bootstrap interval, ``strata``
    being each run's env; None: one stratum), median, mean and standard deviation. Runs without a
    score (an empty column) are refused."""
    scores = np.array([final_score(r, column, last_frac) for r in runs])
    bad = [str(r.path) for r, s in zip(runs, scores, strict=True) if not np.isfinite(s)]
    if bad:
        raise PgrlError(f"no {column} values in {', '.join(bad)}")
    strata = list(strata) if strata is not None else ["all"] * len(runs)
    low, high = stratified_bootstrap_ci(scores, strata, iqm, confidence, reps, seed)
    return GroupSummary(
        label,
        scores,
        strata,
        list(runs),
        float(iqm(scores)),
        low,
        high,
        float(np.median(scores)),
        float(scores.mean()),
        float(scores.std()),
    )


def run_strata(groups: Sequence[Sequence[RunData]]) -> list[list[str]]:
    """Each run's stratum for the bootstrap: its env id when every run's env is known, else one
    stratum "all" (e.g. Spinning Up runs whose config names no env)."""
    known = all(r.env_id for g in groups for r in g)
    return [[(r.env_id or "all") if known else "all" for r in g] for g in groups]


def score_column(groups: Iterable[Sequence[RunData]]) -> str:
    """The column compared: an evaluation column when every run of every group has one, else AverageEpRet."""
    return default_y_column([r for g in groups for r in g])
