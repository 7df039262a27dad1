"""The ``pgrl`` command. Each subcommand lives in its own module with ``add_parser`` and ``run``.

Bad input (:class:`pgrl.PgrlError`) prints one line and exits with status 2; ``--debug`` shows the
traceback instead. SIGINT / SIGTERM during training write a checkpoint and exit with 130 / 143.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from types import ModuleType

from pgrl.cli import algos_cmd, compare_cmd, eval_cmd, grid_cmd, plot_cmd, train_cmd, watch_cmd
from pgrl.errors import PgrlError, TrainingInterrupted

COMMANDS: list[ModuleType] = [train_cmd, eval_cmd, algos_cmd, watch_cmd, plot_cmd, compare_cmd, grid_cmd]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pgrl", description="Policy-gradient reinforcement learning.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        args.argv = argv  # the command line, for commands that relaunch it (pgrl train --nproc)
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


def _one_line(message: str) -> str:
    return " ".join(message.split())
