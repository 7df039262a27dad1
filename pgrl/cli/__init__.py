"""The ``pgrl`` command. Each subcommand lives in its own module with ``add_parser`` and ``run``.

Bad input (:class:`pgrl.PgrlError`) prints one line and exits with status 2; ``--debug`` shows the
traceback instead. SIGINT / SIGTERM during training write a checkpoint and exit with 130 / 143.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import sys
import warnings
from collections.abc import Sequence
from typing import NoReturn

from pgrl.errors import PgrlError, TrainingInterrupted

COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("pgrl.cli.train_cmd", "train an agent"),
    "eval": ("pgrl.cli.eval_cmd", "evaluate a saved agent"),
    "algos": ("pgrl.cli.algos_cmd", "list the algorithms and their defaults"),
    "watch": ("pgrl.cli.watch_cmd", "record a video of an agent (mp4 or gif), no display needed"),
    "plot": ("pgrl.cli.plot_cmd", "plot learning curves of runs (mean over seeds, 95%% CI)"),
    "compare": ("pgrl.cli.compare_cmd", "compare groups of runs: IQM with 95%% CI, probability of improvement"),
    "grid": ("pgrl.cli.grid_cmd", "run an experiment grid (algos x envs x hyperparameters x seeds) in parallel"),
}
"""Each subcommand: the module with its ``add_parser(sub, help)`` and ``run(args)``, and its one-line help."""


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``pgrl`` parser. ``command``: the only subcommand whose flags are built (its module imported);
    the others get their one-line help only, so that ``pgrl --help`` imports neither torch nor gymnasium's
    envs. None: every subcommand (the docs show all of them)."""
    parser = argparse.ArgumentParser(prog="pgrl", description="Policy-gradient reinforcement learning.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module, help) in COMMANDS.items():
        if command is None or name == command:
            # imported by name, as the command line chose it: the other commands' modules stay unloaded
            importlib.import_module(module).add_parser(sub, help)
        else:
            sub.add_parser(name, help=help)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv  # anywhere on the line, also after the subcommand
    argv = [a for a in argv if a != "--debug"]
    if not debug:  # a failing subprocess env is reported in pgrl's one line; gymnasium's own lines would repeat it
        warnings.filterwarnings("ignore", message=r".*ERROR: (Traceback|Received the following error|Raising the last)")
    parser = build_parser(argv[0] if argv and argv[0] in COMMANDS else "")
    try:
        args, unknown = parser.parse_known_args(argv)
        if unknown:
            refuse_unknown(parser, args, unknown)
        args.argv = ["--debug", *argv] if debug else argv  # for commands that relaunch it (pgrl train --nproc)
        return int(args.run(args) or 0)
    except PgrlError as e:
        if debug:
            raise
        print(f"pgrl: error: {_one_line(str(e))}", file=sys.stderr)
        return 2
    except TrainingInterrupted as e:  # SIGINT/SIGTERM: the epoch and a checkpoint were written
        print(f"pgrl: {e.message(cli=True)}", file=sys.stderr)
        return 128 + e.signum
    except KeyboardInterrupt:
        print("pgrl: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # an unexpected failure still gets one line, with the way to see more
        if debug:
            raise
        print(
            f"pgrl: internal error: {type(e).__name__}: {_one_line(str(e))} (rerun with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1


def refuse_unknown(parser: argparse.ArgumentParser, args: argparse.Namespace, unknown: list[str]) -> NoReturn:
    """argparse's error for arguments no parser knows, from the (sub)command they were given to (its usage,
    not the top level's), with the flags they were probably meant to be."""
    command = parser
    for dest in ("command", "algo"):  # pgrl COMMAND [ALGO]: the innermost parser that was used
        sub = next((a for a in command._actions if isinstance(a, argparse._SubParsersAction)), None)
        name = getattr(args, dest, None)
        if sub is None or name not in sub.choices:
            break
        command = sub.choices[name]
    flags = [s for a in command._actions for s in a.option_strings if s.startswith("--")]
    hints = []
    for arg in unknown:
        close = difflib.get_close_matches(arg.split("=", 1)[0], flags, n=3, cutoff=0.7) if arg.startswith("-") else []
        if close:
            hints.append(f"{arg}: did you mean {' or '.join(close)}?")
    command.error(f"unrecognized arguments: {' '.join(unknown)}" + (f" ({'; '.join(hints)})" if hints else ""))


def _one_line(message: str) -> str:
    return " ".join(message.split())
