"""``pgrl train ALGO --env ID [flags]``: flags are made from the algorithm's signature and defaults.

``pgrl train ALGO --resume RUN_DIR`` continues a run from its last checkpoint (see docs/robustness.md).
``pgrl train ALGO --nproc N ...`` trains data-parallel in N local processes, launched by torchrun's
launcher (``python -m torch.distributed.run``) on 127.0.0.1 (see docs/scaling.md).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sys
from collections.abc import Sequence
from typing import Any

from pgrl import distributed
from pgrl.algos.registry import ALGORITHMS, AlgoInfo
from pgrl.algos.signature import in_signature_order
from pgrl.checkpoint import load_config
from pgrl.cli.env_flags import add_env_flags, env_options
from pgrl.config import Hyperparameter
from pgrl.envs import DEFAULT_EPISODE_CAP
from pgrl.errors import PgrlError
from pgrl.options import VECTORIZATIONS
from pgrl.presets import PRESETS
from pgrl.rundir import EVAL


def _default_help(algo: str, hp: Hyperparameter) -> str:
    """The field's help, its default and the presets' values: "discount factor; default 0.99; CartPole-v1: 0.98"."""
    parts = [hp.help, f"default {hp.default}"]
    for env_id, preset in PRESETS.get(algo, {}).items():
        if hp.name in preset:
            parts.append(f"{env_id}: {preset[hp.name]}")
    return "; ".join(parts)


def add_hyperparameter_flag(p: argparse.ArgumentParser, algo: str, hp: Hyperparameter) -> None:
    """``--name-with-dashes``, typed by the config field (``--flag/--no-flag`` for booleans)."""
    flag, help_text, kind = "--" + hp.name.replace("_", "-"), _default_help(algo, hp), hp.value_type
    if kind is bool:
        p.add_argument(flag, dest=hp.name, action=argparse.BooleanOptionalAction, default=None, help=help_text)
    elif kind is tuple:
        p.add_argument(flag, dest=hp.name, type=hp.item_type, nargs="+", help=help_text)
    elif kind is str:
        p.add_argument(flag, dest=hp.name, help=help_text)
    else:
        p.add_argument(flag, dest=hp.name, type=kind, default=None, metavar=kind.__name__.upper(), help=help_text)


def hyperparameter_flags(info: AlgoInfo) -> tuple[list[Hyperparameter], list[Hyperparameter]]:
    """The config's fields with a flag: (the network's, the algorithm's in its signature's order)."""
    fields = in_signature_order(info.fn, info.config)
    return [hp for hp in fields if hp.network], [hp for hp in fields if not hp.network]


def add_parser(sub: Any, help: str) -> None:
    train = sub.add_parser("train", help=help, description="Train an agent; see `pgrl algos`.")
    algos = train.add_subparsers(dest="algo", metavar="ALGO", required=True)
    for name, info in ALGORITHMS.items():
        p = algos.add_parser(name, help=info.summary, description=info.summary)
        add_env_flags(p)
        add_run_flags(p)
        network, algorithm = hyperparameter_flags(info)
        for hp in network:
            add_hyperparameter_flag(p, name, hp)
        p.add_argument("--quiet", action="store_true", help="print only the final result (no start line or epochs)")
        p.add_argument(
            "--table",
            choices=["compact", "full"],
            default="compact",
            help="per epoch: one compact line (default), or Spinning Up's table of every column (full)",
        )
        p.add_argument(
            "--nproc",
            type=int,
            metavar="N",
            help="train data-parallel in N local processes (torchrun on 127.0.0.1; see docs/scaling.md)",
        )
        for hp in algorithm:
            add_hyperparameter_flag(p, name, hp)
        p.set_defaults(run=run, hyperparameters=[hp.name for hp in algorithm], network=[hp.name for hp in network])


def add_run_flags(p: argparse.ArgumentParser) -> None:
    """The flags of the run options and of the run directory, the same for every algorithm."""
    p.add_argument("--seed", type=int, help="random seed (default 0)")
    p.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        metavar="S",
        help="train these seeds together in one process (one batched computation where the network allows; "
        "seed S in --out/sS, or in its own default run directory)",
    )
    p.add_argument("--out", help="run directory (default runs/<algo>-<env>/<time>_s<seed>)")
    p.add_argument("--exp-name", help="experiment name used in the default run directory")
    p.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    p.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue the run in RUN_DIR from its last checkpoint (its own env and hyperparameters; "
        "--epochs may be raised); a group's directory (--seeds' --out) resumes its seeds together",
    )
    p.add_argument(
        "--nan-policy",
        choices=["stop", "skip"],
        help="on a NaN/inf loss, gradient or parameter: stop, keeping the last good checkpoint "
        "(default), or skip that update",
    )
    p.add_argument(
        "--vec",
        choices=list(VECTORIZATIONS),
        default="auto",
        help="vector env: auto (default: the env's own vectorised one, e.g. CartPole-v1's; split for Hopper, "
        "Walker2d, Ant, Humanoid; else sync), native, sync (in-process), async (a subprocess per copy), split (half "
        "the copies in one worker process, stepping beside this one's), or envpool's C++ envs (pip install envpool)",
    )
    p.add_argument(
        "--eval-episodes",
        type=int,
        default=20,
        help="deterministic episodes at the end, and in each --eval-every evaluation (default 20); an episode is "
        f"capped at the env's time limit, else --max-ep-len, else {DEFAULT_EPISODE_CAP} steps",
    )
    p.add_argument(
        "--eval-every",
        type=int,
        metavar="STEPS",
        help="also evaluate deterministically every STEPS env steps during training (columns EvalAverageEpRet, "
        "...); the best evaluated policy is kept as best.pt (pgrl eval --best)",
    )
    p.add_argument(
        "--target-return",
        type=float,
        metavar="R",
        help="stop after the in-training evaluation whose mean return reaches R (evaluating every epoch unless "
        "--eval-every)",
    )
    p.add_argument(
        "--until-solved",
        action="store_true",
        help="--target-return the env's reward_threshold (CartPole-v1: 475): stop once solved",
    )
    p.add_argument("--tensorboard", action="store_true", help="write TensorBoard event files into the run directory")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def strip_nproc(argv: Sequence[str]) -> list[str]:
    """The command line without ``--nproc N`` (or ``--nproc=N``)."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--nproc":
            skip = True
        elif not a.startswith("--nproc="):
            out.append(a)
    return out


def launch(nproc: int, argv: Sequence[str]) -> int:
    """Run ``pgrl <argv>`` in ``nproc`` processes with torchrun's launcher (torch.distributed.run), on
    127.0.0.1; the exit status is the first failed process's, else 0 (bad input: :class:`PgrlError`)."""
    if os.environ.get("WORLD_SIZE"):
        raise PgrlError("--nproc inside a torchrun launch: drop --nproc (torchrun already started the processes)")
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser
    from torch.distributed.run import run as torchrun

    saved_env = dict(os.environ)
    saved_signals = {
        sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
    }
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if sys.platform.startswith("linux"):  # gloo's connections on the loopback interface, like the rendezvous
        os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    launcher_args = get_args_parser().parse_args(
        ["--nnodes", "1", "--nproc-per-node", str(nproc), "--master-addr", "127.0.0.1",
         "--master-port", str(_free_port()), "-m", "pgrl", *argv]
    )  # fmt: skip
    try:
        torchrun(launcher_args)
    except ChildFailedError as e:
        codes = [f.exitcode for f in e.failures.values() if f.exitcode]
        code = int(codes[0]) if codes and codes[0] > 0 else 1
        if code == 2:  # bad input: the processes printed why; one line here too, as pgrl train does
            raise PgrlError(f"the {nproc} training processes refused their input (see their message above)") from None
        return code
    finally:  # the launcher's signal handlers and environment stay with it
        for sig, handler in saved_signals.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        os.environ.clear()
        os.environ.update(saved_env)
    return 0


def run(args: argparse.Namespace) -> int:
    info = ALGORITHMS[args.algo]
    if args.nproc is not None:
        if args.nproc < 1:
            raise PgrlError(f"--nproc must be >= 1, got {args.nproc}")
        if args.nproc > 1:
            argv = getattr(args, "argv", None)
            if argv is None:
                argv = sys.argv[1:]
            return launch(args.nproc, strip_nproc(argv))
    kwargs = {name: getattr(args, name) for name in args.hyperparameters if getattr(args, name, None) is not None}
    if args.env is None and args.resume is None:
        raise PgrlError("pgrl train needs --env ID (or --resume RUN_DIR to continue a run)")
    if args.resume is not None and args.seed is not None:
        saved_seed = load_config(args.resume).get("seed")
        if args.seed != saved_seed:
            raise PgrlError(f"--seed {args.seed} differs from the resumed run's seed {saved_seed}; drop --seed")
    options = {
        "eval_every": args.eval_every,
        "target_return": args.target_return,
        "until_solved": args.until_solved or None,
        "tensorboard": args.tensorboard or None,
        "resume": args.resume,
        "nan_policy": args.nan_policy,
    }
    kwargs.update({k: v for k, v in options.items() if v is not None})
    kwargs.update(env_options(args))
    ac_kwargs = {name: getattr(args, name) for name in args.network if getattr(args, name) is not None}
    if "hidden_sizes" in ac_kwargs:
        ac_kwargs["hidden_sizes"] = tuple(ac_kwargs["hidden_sizes"])
    if args.seeds is not None and (args.seed is not None or args.resume is not None):
        raise PgrlError(
            "--seeds trains new runs: drop --seed (or --resume, which continues runs: a seed's or a group's directory)"
        )
    seed: int | list[int] = args.seeds if args.seeds is not None else (args.seed if args.seed is not None else 0)
    trained = info.fn(
        env_fn=args.env,
        seed=seed,
        ac_kwargs=ac_kwargs or None,
        logger_kwargs={"output_dir": args.out, "exp_name": args.exp_name},
        vectorization=args.vec,
        eval_episodes=args.eval_episodes,
        verbose=not args.quiet,
        table=args.table,
        overwrite=args.overwrite,
        **kwargs,
    )
    for agent, _ in trained if isinstance(trained, list) else [trained]:
        if args.quiet and distributed.is_main():  # no table, but the outcome still deserves one line
            quiet_outcome(agent)
    return 0


def quiet_outcome(agent: Any) -> None:
    """The one line a --quiet run prints: its final deterministic evaluation."""
    eval_file = agent.run_dir / EVAL
    if eval_file.exists():
        result = json.loads(eval_file.read_text())
        solved = {True: "; solved", False: "; not solved"}.get(result.get("solved"), "")
        print(f"{agent.config.get('env_id')}: deterministic return {result['mean_return']:.1f} +/- "
              f"{result['std_return']:.1f} over {result['episodes']} episodes after {result['total_steps']} "
              f"steps{solved}; run in {agent.run_dir}")  # fmt: skip
