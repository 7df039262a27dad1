"""``pgrl grid --algo A [A...] --env ID [ID...] --seeds S [S...] --set NAME=V1,V2 --out DIR``: an
experiment grid (every combination), run on a local process pool (``--workers N``) or Ray (``--ray``,
``--ray-address ADDR``); each run in DIR/<variant>/s<seed>. Running it again skips finished runs and
resumes interrupted ones. Prints a summary table (final return per variant over its seeds); a failed
run does not stop the others, and makes the exit status non-zero (2 when the failed runs refused their
input, e.g. an invalid value, as ``pgrl train`` does; 1 otherwise). See docs/scaling.md.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from pgrl.cli.env_flags import add_env_kwargs_flags, env_kwargs_options
from pgrl.errors import PgrlError
from pgrl.grid import Grid, failure_line, parse_setting


def add_parser(sub: Any, help: str) -> None:
    p = sub.add_parser(
        "grid",
        help=help,
        description=__doc__.split("\n", 1)[0] if __doc__ else None,
    )
    p.add_argument("--algo", nargs="+", required=True, help="algorithms, e.g. ppo vpg")
    p.add_argument("--env", nargs="+", required=True, help="env ids, e.g. CartPole-v1")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds (default 0)")
    p.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="NAME=V1,V2",
        help="a hyperparameter and its values (ints, floats, true/false, [a,b] lists, strings); repeatable",
    )
    p.add_argument("--out", required=True, help="the grid's directory")
    add_env_kwargs_flags(p, "; for every run")
    p.add_argument("--workers", type=int, help="runs at once on the local pool (default: number of CPUs)")
    p.add_argument("--ray", action="store_true", help="run on Ray (a new local cluster unless --ray-address)")
    p.add_argument("--ray-address", metavar="ADDR", help="join this Ray cluster (implies --ray)")
    p.add_argument("--plot", metavar="FILE", help="draw the learning curves to FILE (.png, .svg, .pdf)")
    p.add_argument("--eval-episodes", type=int, default=20, help="final deterministic episodes per run (20)")
    p.add_argument("--quiet", action="store_true", help="no line per finished run")
    p.add_argument("--seeds-apart", action="store_true",
                   help="one process per run (default: a variant's new runs train their seeds together)")  # fmt: skip
    p.add_argument(
        "--fresh",
        action="store_true",
        help="replace the runs in --out whose config.json differs from their variant (else the grid refuses)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    hyperparameters: dict[str, list[Any]] = {}
    for spec in args.settings:
        name, values = parse_setting(spec)
        if name in hyperparameters:
            raise PgrlError(f"--set {name} given twice; list its values once: {name}=V1,V2")
        hyperparameters[name] = values
    env_options = env_kwargs_options(args)
    grid = Grid(args.out, algos=args.algo, envs=args.env, seeds=args.seeds, eval_episodes=args.eval_episodes,
                env_kwargs=env_options.get("env_kwargs"), wrappers=env_options.get("wrappers"),
                **hyperparameters)  # fmt: skip
    summary = grid.run(
        workers=args.workers,
        backend="ray" if args.ray or args.ray_address else "local",
        ray_address=args.ray_address,
        plot=None,
        verbose=not args.quiet,
        fresh=args.fresh,
        together=not args.seeds_apart,
    )
    print(summary.table(failures=False) if summary.rows else "no run finished")
    if args.plot and summary.rows:
        summary.plot(args.plot)
        print(f"curves drawn to {args.plot}")
    if summary.failures:
        print(f"pgrl: {failure_line(summary.failures, len(summary.results))}", file=sys.stderr)
        bad_input = all(r.get("bad_input") for r in summary.results if r["status"] == "failed")
        return 2 if bad_input else 1  # 2: the runs refused their input, as pgrl train does
    return 0
