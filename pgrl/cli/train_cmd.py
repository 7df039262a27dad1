"""``pgrl train ALGO --env ID [flags]``: flags are made from the algorithm's signature and defaults.

``pgrl train ALGO --resume RUN_DIR`` continues a run from its last checkpoint (see docs/robustness.md).
"""

from __future__ import annotations

import argparse
import inspect
import json
from typing import Any

from pgrl.algos.registry import ALGORITHMS
from pgrl.checkpoint import load_config
from pgrl.errors import PgrlError
from pgrl.hyperparams import DEFAULTS, PRESETS

# Arguments that are not hyperparameters, or that the CLI spells its own way.
_NOT_FLAGS = {"env_fn", "env", "actor_critic", "ac_kwargs", "logger_kwargs", "callback", "verbose", "overwrite",
              "vectorization", "eval_episodes", "seed", "eval_every", "tensorboard", "resume", "nan_policy"}  # fmt: skip


def _flag_type(annotation: str) -> type | None:
    if "bool" in annotation:
        return bool
    if "int" in annotation:
        return int
    if "float" in annotation:
        return float
    return None


def _default_help(algo: str, name: str) -> str:
    parts = []
    if name in DEFAULTS.get(algo, {}):
        parts.append(f"default {DEFAULTS[algo][name]}")
    for env_id, preset in PRESETS.get(algo, {}).items():
        if name in preset:
            parts.append(f"{env_id}: {preset[name]}")
    return "; ".join(parts)


def add_parser(sub: Any) -> None:
    train = sub.add_parser("train", help="train an agent", description="Train an agent; see `pgrl algos`.")
    algos = train.add_subparsers(dest="algo", metavar="ALGO", required=True)
    for name, info in ALGORITHMS.items():
        p = algos.add_parser(name, help=info.summary, description=info.summary)
        p.add_argument("--env", help="gymnasium env id, e.g. CartPole-v1 (required unless --resume)")
        p.add_argument("--seed", type=int, help="random seed (default 0)")
        p.add_argument("--out", help="run directory (default runs/<algo>-<env>/<time>_s<seed>)")
        p.add_argument("--exp-name", help="experiment name used in the default run directory")
        p.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
        p.add_argument(
            "--resume",
            metavar="RUN_DIR",
            help="continue the run in RUN_DIR from its last checkpoint (its own env and hyperparameters; "
            "--epochs may be raised)",
        )
        p.add_argument(
            "--nan-policy",
            choices=["stop", "skip"],
            help="on a NaN/inf loss, gradient or parameter: stop, keeping the last good checkpoint "
            "(default), or skip that update",
        )
        p.add_argument(
            "--vec", choices=["sync", "async"], default="sync", help="vector env: in-process or subprocesses"
        )
        p.add_argument(
            "--eval-episodes",
            type=int,
            default=20,
            help="deterministic episodes at the end, and in each --eval-every evaluation (default 20)",
        )
        p.add_argument(
            "--eval-every",
            type=int,
            metavar="STEPS",
            help="also evaluate deterministically every STEPS env steps during training (columns EvalAverageEpRet, ...)",
        )
        p.add_argument(
            "--tensorboard", action="store_true", help="write TensorBoard event files into the run directory"
        )
        p.add_argument("--hidden-sizes", type=int, nargs="+", help=_default_help(name, "hidden_sizes"))
        p.add_argument("--activation", help=f"tanh, relu, elu, gelu, ...; {_default_help(name, 'activation')}")
        p.add_argument("--quiet", action="store_true", help="do not print the epoch table")
        for pname, param in inspect.signature(info.fn).parameters.items():
            kind = _flag_type(str(param.annotation))
            if pname in _NOT_FLAGS or kind is None:
                continue
            flag = "--" + pname.replace("_", "-")
            help_text = _default_help(name, pname)
            if kind is bool:
                p.add_argument(flag, dest=pname, action=argparse.BooleanOptionalAction, default=None, help=help_text)
            else:
                p.add_argument(flag, dest=pname, type=kind, default=None, metavar=kind.__name__.upper(), help=help_text)
        p.set_defaults(
            run=run, hyperparameters=[pn for pn in inspect.signature(info.fn).parameters if pn not in _NOT_FLAGS]
        )


def run(args: argparse.Namespace) -> int:
    info = ALGORITHMS[args.algo]
    kwargs = {name: getattr(args, name) for name in args.hyperparameters if getattr(args, name, None) is not None}
    if args.env is None and args.resume is None:
        raise PgrlError("pgrl train needs --env ID (or --resume RUN_DIR to continue a run)")
    if args.resume is not None and args.seed is not None:
        saved_seed = load_config(args.resume).get("seed")
        if args.seed != saved_seed:
            raise PgrlError(f"--seed {args.seed} differs from the resumed run's seed {saved_seed}; drop --seed")
    extras = {
        "eval_every": args.eval_every,
        "tensorboard": args.tensorboard or None,
        "resume": args.resume,
        "nan_policy": args.nan_policy,
    }
    extras = {k: v for k, v in extras.items() if v is not None}
    accepted = inspect.signature(info.fn).parameters
    for name in extras:
        if name not in accepted:
            raise PgrlError(f"{args.algo} does not support --{name.replace('_', '-')} yet")
    kwargs.update(extras)
    ac_kwargs = {}
    if args.hidden_sizes is not None:
        ac_kwargs["hidden_sizes"] = tuple(args.hidden_sizes)
    if args.activation is not None:
        ac_kwargs["activation"] = args.activation
    agent, _ = info.fn(
        env_fn=args.env,
        seed=args.seed if args.seed is not None else 0,
        ac_kwargs=ac_kwargs or None,
        logger_kwargs={"output_dir": args.out, "exp_name": args.exp_name},
        vectorization=args.vec,
        eval_episodes=args.eval_episodes,
        verbose=not args.quiet,
        overwrite=args.overwrite,
        **kwargs,
    )
    if args.quiet:  # no table, but the outcome still deserves one line
        eval_file = agent.run_dir / "eval.json"
        if eval_file.exists():
            result = json.loads(eval_file.read_text())
            print(f"{args.env}: deterministic return {result['mean_return']:.1f} +/- {result['std_return']:.1f} "
                  f"over {result['episodes']} episodes after {result['total_steps']} steps; run in {agent.run_dir}")  # fmt: skip
    return 0
