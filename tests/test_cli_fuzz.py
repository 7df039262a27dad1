"""Fuzzing the command line: whatever the arguments, ``pgrl`` ends with status 0, or status 2 and a
one-line message (argparse's usage errors included), never a traceback or an internal error.

The arguments come from the parser itself (every subcommand, algorithm and flag), with values mixing
good ones, edge cases and garbage. Budgets stay tiny so that the arguments that do start training
finish in a fraction of a second.
"""

from __future__ import annotations

import argparse
import io
import signal
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import event, given, settings
from hypothesis import strategies as st

from pgrl.cli import build_parser, main

INT_VALUES: dict[str, list[str]] = {
    "epochs": ["-1", "0", "1", "2"],
    "steps_per_epoch": ["-3", "0", "1", "16", "64"],
    "num_envs": ["-1", "0", "1", "3"],
    "n_directions": ["-1", "0", "1", "2"],
    "n_steps": ["-1", "0", "1", "5"],
    "eval_episodes": ["-1", "0", "1", "2"],
    "episodes": ["-1", "0", "1", "2"],
    "eval_every": ["-1", "0", "1", "40"],
    "seed": ["-1", "0", "7", str(2**40)],
    "hidden_sizes": ["-1", "0", "1", "4"],
    "reps": ["-1", "0", "1", "20"],
    "max_ep_len": ["-1", "0", "1", "20"],
}
DEFAULT_INTS = ["-2", "0", "1", "2", "3", "x", "1.5"]
FLOATS = ["nan", "inf", "-1", "0", "1e-3", "0.05", "0.5", "1", "1.5", "1e308", "x"]
STRINGS: dict[str, list[str]] = {
    "env": ["CartPole-v1", "CartPole-v1", "CartPol-v1", "", "Pendulum-v1", "NoSuchEnv-v0", "ale_py:Pong-v5"],
    "activation": ["relu", "Tanh", "eval", "__import__('os').system('touch PWNED')", ""],
    "out": ["out1", "out1", "sub/out2", "blocker/run", "video.gif", "video.mp4", "plot.png", "plot.txt", ""],
    "resume": ["finished", "finished", "nope", "blocker", ""],
}
DEFAULT_STRINGS = ["finished", "finished", "nope", "blocker", "", "-", "*", "x=finished", "nan", "AverageEpRet"]
# A valid, tiny training command: the flags an algorithm has, with these values (--env first:
# base_train(...)[2:] drops it).
BASE_TRAIN = {"--env": "CartPole-v1", "--epochs": "1", "--steps-per-epoch": "32", "--num-envs": "2",
              "--minibatch-size": "16", "--update-epochs": "1", "--train-v-iters": "1", "--n-directions": "2",
              "--top-b": "1", "--max-ep-len": "30", "--eval-episodes": "0", "--quiet": None}  # fmt: skip


def base_train(parser: argparse.ArgumentParser) -> list[str]:
    flags = {s for a in parser._actions for s in a.option_strings}
    return [t for flag, v in BASE_TRAIN.items() if flag in flags for t in (flag, v) if t is not None]


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


PARSER = build_parser()
COMMANDS = subcommands(PARSER)
ALGOS = subcommands(COMMANDS["train"])


def values_for(action: argparse.Action) -> st.SearchStrategy[list[str]]:
    """Tokens after a flag (or for a positional)."""
    if action.choices is not None:
        one = st.sampled_from([*map(str, action.choices), "bogus"])
    elif action.type is int:
        one = st.sampled_from(INT_VALUES.get(action.dest, DEFAULT_INTS))
    elif action.type is float:
        one = st.sampled_from(FLOATS)
    else:
        one = st.sampled_from(STRINGS.get(action.dest, DEFAULT_STRINGS))
    if action.nargs in ("+", "*"):
        return st.lists(one, min_size=0 if action.nargs == "*" else 1, max_size=3)
    if action.nargs == "?":
        return st.lists(one, max_size=1)
    if action.nargs == 0:
        return st.just([])
    return st.lists(one, min_size=1, max_size=1)


@st.composite
def arguments(draw: st.DrawFn) -> list[str]:
    command = draw(st.sampled_from([*["train"] * 8, *COMMANDS, "bogus"]))  # mostly train
    argv = [command]
    parser = COMMANDS.get(command)
    if command == "train":
        algo = draw(st.sampled_from([*ALGOS, "bogus"]))
        argv.append(algo)
        parser = ALGOS.get(algo)
        if parser is not None:
            # Small budgets first (the drawn flags come later and override them), so that what trains
            # is quick; the env too, half the time, so that single bad values and real runs get tried.
            base = base_train(parser)
            argv += base if draw(st.booleans()) else base[2:]
    if parser is None:
        return argv + draw(st.lists(st.sampled_from(DEFAULT_STRINGS), max_size=2))
    optionals = [a for a in parser._actions if a.option_strings and a.dest not in ("help", "debug")]
    positionals = [a for a in parser._actions if not a.option_strings]
    for action in draw(st.lists(st.sampled_from(optionals), max_size=6)) if optionals else []:
        flag = draw(st.sampled_from([s for s in action.option_strings if s.startswith("--")]))
        argv += [flag, *draw(values_for(action))]
    for action in positionals:
        argv += draw(values_for(action))
    if draw(st.integers(0, 9)) == 0:  # now and then, a stray token somewhere
        argv.insert(draw(st.integers(0, len(argv))), draw(st.sampled_from(["--", "-x", "--nope", "1", "--debug="])))
    return argv


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with a finished run ("finished") and a file where a directory is expected ("blocker")."""
    root = tmp_path_factory.mktemp("fuzz")
    with redirect_stdout(io.StringIO()):
        assert main(["train", "ppo", *base_train(ALGOS["ppo"]), "--out", str(root / "finished")]) == 0
    (root / "blocker").write_text("a file, not a directory")
    return root


@settings(max_examples=200, deadline=None)
@given(argv=arguments())
def test_cli_never_shows_a_traceback(workdir: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str]) -> None:
    monkeypatch.chdir(workdir)
    threads = torch.get_num_threads()
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            status: Any = main(argv)
        except SystemExit as e:  # argparse: usage errors (2) and --help (0)
            status = e.code
            event(f"{argv[0]}: argparse exit {status}")
            assert status in (0, 2), (argv, err.getvalue())
            return
    message = err.getvalue()
    event(f"{argv[0]}: exit {status}")
    assert "Traceback" not in message, (argv, message)
    assert status in (0, 2), (argv, message)
    if status == 2:
        lines = message.strip().splitlines()
        assert lines and lines[-1].startswith("pgrl: error: "), (argv, message)
        assert len([line for line in lines if line.startswith("pgrl: ")]) == 1, (argv, message)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler, argv  # nothing left behind
    assert torch.get_num_threads() == threads, argv
    assert not (workdir / "PWNED").exists()
