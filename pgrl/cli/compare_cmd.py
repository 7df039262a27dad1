"""``pgrl compare GROUP...``: final performance of groups of runs, after Agarwal et al. 2021 (rliable).

Each GROUP is a glob of run directories (quote it so that the shell leaves it alone), or a directory
holding runs, optionally labelled 'label=glob'. Per group: the runs' final scores (the mean of the last
10% of each run's values of the score column: EvalAverageEpRet, or Spinning Up's AverageTestEpRet, when
every run has it, else AverageEpRet), their interquartile mean with a 95% stratified-bootstrap confidence
interval (strata: envs), median, mean, and the probability of improvement of each group over each other.
"""

from __future__ import annotations

import argparse
import csv
import glob
import io
import json
import math
import os
from typing import Any

from pgrl.analysis import (
    GroupSummary,
    find_runs,
    load_run,
    run_strata,
    score_column,
    stratified_probability_of_improvement,
    summarize_group,
)
from pgrl.errors import PgrlError

FORMATS = ("table", "markdown", "csv", "json")


def add_parser(sub: Any, help: str) -> None:
    p = sub.add_parser(
        "compare",
        help=help,
        description=__doc__.split("\n", 2)[2] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("groups", metavar="GROUP", nargs="+", help="'glob' or 'label=glob' of run directories")
    p.add_argument("--format", choices=FORMATS, default="table", help="output format (default table)")
    p.add_argument("--column", help="score column (default EvalAverageEpRet when every run has it, else AverageEpRet)")
    p.add_argument(
        "--last-frac", type=float, default=0.1, help="final score: mean over this last fraction of epochs (0.1)"
    )
    p.add_argument("--reps", type=int, default=2000, help="bootstrap resamples (default 2000)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.set_defaults(run=run)


def parse_group(spec: str) -> tuple[str, str]:
    """``label=glob`` -> (label, glob); a bare glob is its own label."""
    label, sep, pattern = spec.partition("=")
    if sep and label and pattern and os.sep not in label and not glob.has_magic(label):
        return label, pattern
    return spec, spec


def expand_group(pattern: str) -> list[Any]:
    matches = sorted(glob.glob(pattern, recursive=True))
    if not matches and os.path.exists(pattern):
        matches = [pattern]
    runs = find_runs(matches) if matches else []
    if not runs:
        raise PgrlError(f"no runs (directories with progress.txt) match {pattern!r}")
    return [load_run(r) for r in runs]


def compare(
    specs: list[str], column: str | None = None, last_frac: float = 0.1, reps: int = 2000, seed: int = 0
) -> tuple[str, list[GroupSummary], dict[str, dict[str, float]]]:
    """(score column, one summary per group, P(row > column) between groups) for the group specs."""
    labelled = [parse_group(s) for s in specs]
    labels = [lab for lab, _ in labelled]
    if len(set(labels)) != len(labels):
        raise PgrlError(f"two groups have the same label: {labels}; name them with label=glob")
    groups = [expand_group(pattern) for _, pattern in labelled]
    column = column or score_column(groups)
    strata = run_strata(groups)
    summaries = [
        summarize_group(lab, runs, column, st, last_frac, reps=reps, seed=seed)
        for lab, runs, st in zip(labels, groups, strata, strict=True)
    ]
    poi: dict[str, dict[str, float]] = {a.label: {} for a in summaries}
    for a in summaries:
        for b in summaries:
            if a is not b:
                poi[a.label][b.label] = stratified_probability_of_improvement(a.scores, a.strata, b.scores, b.strata)
    return column, summaries, poi


def _f(v: float) -> str:
    return "nan" if math.isnan(v) else f"{v:.2f}"


def _rows(summaries: list[GroupSummary]) -> list[list[str]]:
    return [
        [s.label, str(len(s.scores)), _f(s.iqm), f"[{_f(s.iqm_low)}, {_f(s.iqm_high)}]", _f(s.median), _f(s.mean),
         _f(s.std)]
        for s in summaries
    ]  # fmt: skip


def _poi_rows(summaries: list[GroupSummary], poi: dict[str, dict[str, float]]) -> list[list[str]]:
    return [[a.label] + ["-" if a is b else f"{poi[a.label][b.label]:.2f}" for b in summaries] for a in summaries]


def _text_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    return "\n".join(fmt.format(*r).rstrip() for r in [header, *rows])


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    return "\n".join(lines)


HEADER = ["group", "runs", "IQM", "IQM 95% CI", "median", "mean", "std"]


def render(
    fmt: str, column: str, summaries: list[GroupSummary], poi: dict[str, dict[str, float]], last_frac: float, reps: int
) -> str:
    note = (
        f"final score per run: mean of the last {last_frac:.0%} (at least one) of its {column} values; "
        f"IQM with a 95% stratified-bootstrap CI ({reps} resamples)"
    )
    poi_header = ["P(row > column)"] + [s.label for s in summaries]
    if fmt == "table":
        parts = [note, "", _text_table(HEADER, _rows(summaries))]
        if len(summaries) > 1:
            parts += ["", "probability of improvement:", _text_table(poi_header, _poi_rows(summaries, poi))]
        return "\n".join(parts)
    if fmt == "markdown":
        parts = [f"_{note}_", "", _md_table(HEADER, _rows(summaries))]
        if len(summaries) > 1:
            parts += ["", "Probability of improvement:", "", _md_table(poi_header, _poi_rows(summaries, poi))]
        return "\n".join(parts)
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        others = [s.label for s in summaries]
        w.writerow(["group", "runs", "column", "iqm", "iqm_low", "iqm_high", "median", "mean", "std"]
                   + [f"P(>{o})" for o in others])  # fmt: skip
        for s in summaries:
            w.writerow([s.label, len(s.scores), column, s.iqm, s.iqm_low, s.iqm_high, s.median, s.mean, s.std]
                       + ["" if o == s.label else poi[s.label][o] for o in others])  # fmt: skip
        return buf.getvalue().rstrip("\n")
    if fmt == "json":
        payload = {
            "column": column,
            "last_frac": last_frac,
            "confidence": 0.95,
            "bootstrap_reps": reps,
            "groups": [s.as_dict() for s in summaries],
            "probability_of_improvement": poi,
        }
        return json.dumps(payload, indent=2)
    raise PgrlError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")


def run(args: argparse.Namespace) -> int:
    if args.reps < 1:
        raise PgrlError(f"--reps must be >= 1, got {args.reps}")
    if args.seed < 0:
        raise PgrlError(f"--seed must be >= 0, got {args.seed}")
    column, summaries, poi = compare(args.groups, args.column, args.last_frac, args.reps, args.seed)
    print(render(args.format, column, summaries, poi, args.last_frac, args.reps))
    return 0
