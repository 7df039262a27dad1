"""``pgrl plot RUN_DIR... --out curves.png``: learning curves of pgrl and Spinning Up runs, the mean
over seeds with a 95% bootstrap band, one line per experiment (see :mod:`pgrl.analysis` for the grouping)."""

from __future__ import annotations

import argparse
from typing import Any

from pgrl.analysis import X_COLUMNS
from pgrl.plot import FORMATS, check_format, curves, draw


def add_parser(sub: Any, help: str) -> None:
    p = sub.add_parser(
        "plot",
        help=help,
        description="Plot learning curves from progress.txt files (pgrl or Spinning Up runs). Runs are grouped "
        "into experiments across seeds by config.json's exp_name (else algo-env, else the parent directory's "
        "name); each experiment is drawn as the mean over its runs with a 95%% bootstrap confidence band.",
    )
    p.add_argument("run_dirs", metavar="RUN_DIR", nargs="+", help="run directories or directories holding runs")
    p.add_argument("--out", required=True, metavar="FILE", help=f"image file: {', '.join(FORMATS)} (by extension)")
    p.add_argument("--x", choices=list(X_COLUMNS), default="steps", help="x axis (default steps)")
    p.add_argument(
        "--y",
        metavar="COLUMN",
        help="progress column (default EvalAverageEpRet when every run has it, else AverageEpRet)",
    )
    p.add_argument("--smooth", type=int, default=1, metavar="K", help="moving average over K epochs (default 1)")
    p.add_argument(
        "--group-by",
        choices=["exp", "parent", "run"],
        default="exp",
        help="exp: config.json exp_name, else algo-env, else the parent dir (default); parent: the parent dir; "
        "run: every run alone",
    )
    p.add_argument("--title", help="figure title (default: the env ids)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    check_format(args.out)
    found, _, y_column = curves(args.run_dirs, args.x, args.y, args.smooth, args.group_by)
    draw(found, args.x, y_column, args.out, args.title, args.smooth)
    groups = ", ".join(f"{c.label} ({len(c.runs)} run{'s' if len(c.runs) != 1 else ''})" for c in found)
    print(f"wrote {args.out}: {y_column} of {groups}")
    return 0
