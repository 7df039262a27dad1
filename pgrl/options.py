"""The run options: how a run is carried out rather than what it learns, the same for every algorithm.

Every algorithm function takes them by keyword after its hyperparameters, typed as
``**options: Unpack[RunOptions]``::

    ppo("CartPole-v1", eval_every=5000, verbose=False)

Each option is declared once, below, with its default, check and help (an :class:`Option` in its
``Annotated`` type); the algorithms' docstrings, the docs and :func:`complete` come from there.
"""

# No `from __future__ import annotations` here: the Option metadata is read from the annotations at run
# time, so they must be objects, not strings.
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, TypedDict, get_args

from pgrl.errors import PgrlError

if TYPE_CHECKING:
    from pgrl.agent import Agent
    from pgrl.envs import EnvSpec
    from pgrl.envs.named import WrapperSpec

Callback = Callable[[int, dict[str, Any], "Agent"], bool | None]
"""``callback(epoch, stats, agent)`` after every epoch; returning False stops training."""

VECTORIZATIONS = ("auto", "native", "sync", "async", "split", "envpool")
NAN_POLICIES = ("stop", "skip")
TABLES = ("compact", "full")


@dataclass(frozen=True)
class Option:
    """A run option's default, check (``check(value)`` raises :class:`PgrlError`) and help; ``grid``:
    whether a grid (:mod:`pgrl.grid`) may vary it."""

    default: Any
    help: str
    check: Callable[[Any], None] | None = None
    grid: bool = False


def _eval_episodes(value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise PgrlError(f"eval_episodes must be an integer >= 0 (0: no evaluation), got {value!r}")


def _eval_every(value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise PgrlError(f"eval_every must be a positive number of env steps (or None: no evaluation), got {value!r}")


def _vectorization(value: Any) -> None:
    if value not in VECTORIZATIONS:
        raise PgrlError(f"vectorization must be one of {', '.join(VECTORIZATIONS)}, got {value!r}")


def _target_return(value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or value != value):
        raise PgrlError(f"target_return must be a number (the mean evaluation return to stop at), got {value!r}")


def _table(value: Any) -> None:
    if value not in TABLES:
        raise PgrlError(f"table must be one of {', '.join(TABLES)}, got {value!r}")


def _nan_policy(value: Any) -> None:
    if value not in NAN_POLICIES:
        raise PgrlError(f"nan_policy must be one of {', '.join(NAN_POLICIES)}, got {value!r}")


def _env_kwargs(value: Any) -> None:
    if value is not None and not (isinstance(value, Mapping) and all(isinstance(k, str) for k in value)):
        raise PgrlError(f"env_kwargs must be a dict of keyword arguments for gymnasium.make, got {value!r}")


def _wrappers(value: Any) -> None:
    if value is not None and (isinstance(value, str | bytes) or not isinstance(value, list | tuple)):
        raise PgrlError(f"wrappers must be a list of wrappers (module:Class, or (module:Class, kwargs)), got {value!r}")


def _flag(name: str) -> Callable[[Any], None]:
    def check(value: Any) -> None:
        if not isinstance(value, bool):
            raise PgrlError(f"{name} must be True or False, got {value!r}")

    return check


class RunOptions(TypedDict, total=False):
    """The options every algorithm takes by keyword: ``ppo(..., eval_every=5000, verbose=False)``."""

    env: Annotated["EnvSpec | None", Option(None, "alias of env_fn")]
    env_kwargs: Annotated[
        "dict[str, Any] | None",
        Option(
            None, "keyword arguments for gymnasium.make(env_id, ...), JSON values (e.g. dict(is_slippery=False)); "
            "recorded in config.json", _env_kwargs,
        ),
    ]  # fmt: skip
    wrappers: Annotated[
        "list[WrapperSpec] | None",
        Option(
            None, "wrappers applied in order, each 'module:Class' (or the class) or ('module:Class', kwargs), e.g. "
            "'minigrid.wrappers:ImgObsWrapper'; recorded in config.json", _wrappers,
        ),
    ]  # fmt: skip
    atari_preprocessing: Annotated[
        bool,
        Option(False, "gymnasium's AtariPreprocessing (84x84 grayscale, frame skip 4; make the env with frameskip=1)",
               _flag("atari_preprocessing")),
    ]  # fmt: skip
    grayscale: Annotated[bool, Option(False, "gymnasium's GrayscaleObservation on image observations",
                                      _flag("grayscale"))]  # fmt: skip
    resize: Annotated["tuple[int, int] | None", Option(None, "gymnasium's ResizeObservation to (height, width) pixels")]
    frame_stack: Annotated[
        "int | None", Option(None, "gymnasium's FrameStackObservation: observe the last N observations")
    ]
    vectorization: Annotated[
        str,
        Option(
            "auto", '"auto" (the env\'s own vectorised implementation where it has one, e.g. CartPole-v1\'s; '
            '"split" for the MuJoCo envs Hopper, Walker2d, Ant and Humanoid; else "sync"), "native", "sync" (in this '
            'process), "async" (a subprocess per copy), "split" (half the copies in one worker process, stepping '
            'beside this one\'s) or "envpool" (envpool\'s C++ envs, when installed)', _vectorization, grid=True,
        ),
    ]  # fmt: skip
    callback: Annotated[
        "Callback | None", Option(None, "``callback(epoch, stats, agent)`` after every epoch; return False to stop")
    ]
    eval_episodes: Annotated[
        int,
        Option(
            20, "deterministic episodes evaluated at the end (0: none), written to eval.json; also the episodes "
            "of each in-training evaluation", _eval_episodes,
        ),
    ]  # fmt: skip
    eval_every: Annotated[
        int | None,
        Option(
            None, "evaluate deterministically every this many env steps during training (None: never), logged as "
            "EvalAverageEpRet, EvalStdEpRet, ... (NaN in the epochs without an evaluation)", _eval_every, grid=True,
        ),
    ]  # fmt: skip
    target_return: Annotated[
        float | None,
        Option(
            None, "stop after the in-training evaluation whose mean return reaches this (evaluating every epoch "
            "unless eval_every says otherwise); the best evaluated policy is kept as the best checkpoint",
            _target_return, grid=True,
        ),
    ]  # fmt: skip
    until_solved: Annotated[
        bool,
        Option(
            False, "target_return = the env spec's reward_threshold (CartPole-v1: 475): stop once solved",
            grid=True,
        ),
    ]  # fmt: skip
    tensorboard: Annotated[bool, Option(False, "also write TensorBoard event files into the run directory", grid=True)]
    verbose: Annotated[bool, Option(True, "print a start line and a line per epoch (a progress bar on a terminal)")]
    table: Annotated[
        str, Option("compact", '"compact": one line per epoch; "full": Spinning Up\'s table of every column', _table)
    ]
    overwrite: Annotated[bool, Option(False, "replace a run already in logger_kwargs' output_dir")]
    resume: Annotated[
        "str | os.PathLike[str] | None",
        Option(
            None, "a run directory to continue from its last checkpoint (networks, optimizers, learning-rate "
            "schedule, observation statistics, RNG states, env state where possible, counters); the run's saved "
            "hyperparameters apply (passing epochs higher trains further); env_fn may be omitted for a "
            "registered env id. See docs/robustness.md.",
        ),
    ]  # fmt: skip
    nan_policy: Annotated[
        str,
        Option(
            "stop", '"stop" stops training at a non-finite loss, gradient or parameter, keeping the last good '
            'checkpoint; "skip" skips such updates (counted in the SkippedUpdates column)', _nan_policy, grid=True,
        ),
    ]  # fmt: skip


def declared() -> dict[str, Option]:
    """Every run option and its :class:`Option`, in declaration order."""
    hints = RunOptions.__annotations__  # Annotated objects; their forward references are never evaluated
    return {name: next(a for a in get_args(hint) if isinstance(a, Option)) for name, hint in hints.items()}


def complete(options: Mapping[str, Any], function: str) -> RunOptions:
    """The options a caller passed, checked, with the defaults of those left out.

    An unknown name is refused as Python refuses an unknown keyword argument (``function`` names the
    algorithm in the message), with the known names.
    """
    known = declared()
    unknown = [name for name in options if name not in known]
    if unknown:
        raise TypeError(
            f"{function}() got an unexpected keyword argument {unknown[0]!r}; its run options are {', '.join(known)}"
        )
    out: dict[str, Any] = {name: opt.default for name, opt in known.items()}
    out.update(options)
    for name, opt in known.items():
        if opt.check is not None:
            opt.check(out[name])
    if out["until_solved"] and out["target_return"] is not None:
        raise PgrlError("until_solved sets target_return from the env's reward_threshold: pass one of them")
    if out["eval_every"] and out["eval_episodes"] < 1:
        raise PgrlError("eval_every needs eval_episodes >= 1 (the episodes of each evaluation)")
    return RunOptions(**out)  # type: ignore[typeddict-item]


def docs() -> str:
    """The run options as Google-style ``Args`` entries, for the algorithms' docstrings."""
    return "\n".join(f"    {name}: {opt.help} (default {opt.default!r})." for name, opt in declared().items())
