"""What every algorithm function shares besides its loop: a Spinning-Up signature that matches its config.

An algorithm function spells out its arguments (notebooks and ``help(pgrl.ppo)`` show them): Spinning
Up's call arguments (env_fn, actor_critic, ac_kwargs, seed, logger_kwargs), one argument per
hyperparameter of its config class (default None: the env's preset, else the config's default), and
``**options`` (:class:`pgrl.options.RunOptions`). :func:`algorithm` checks that agreement when the
module is imported and appends the hyperparameters' and the options' help to the docstring, so that
each is written once, in its declaration.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from pgrl import options, seeds
from pgrl.config import Config, Hyperparameter, hyperparameters
from pgrl.training.call import CALL_ARGUMENTS

F = TypeVar("F", bound=Callable[..., Any])


def check_signature(fn: Callable[..., Any], config_class: type[Config]) -> None:
    """Raise TypeError unless ``fn``'s parameters are Spinning Up's call arguments, exactly the config's
    (non-network) hyperparameters, each defaulting to None, and ``**options``."""
    params = inspect.signature(fn).parameters
    fields = {hp.name for hp in hyperparameters(config_class) if not hp.network}
    names = set(params) - {"options"}
    problems = []
    if names - fields - set(CALL_ARGUMENTS):
        problems.append(f"arguments without a config field: {sorted(names - fields - set(CALL_ARGUMENTS))}")
    if fields - names:
        problems.append(f"config fields without an argument: {sorted(fields - names)}")
    not_none = [n for n in fields & names if params[n].default is not None]
    if not_none:
        problems.append(f"hyperparameters whose default is not None: {sorted(not_none)}")
    if "options" not in params or params["options"].kind is not inspect.Parameter.VAR_KEYWORD:
        problems.append("no **options")
    if problems:
        raise TypeError(f"{fn.__name__} does not match {config_class.__name__}: {'; '.join(problems)}")


def in_signature_order(fn: Callable[..., Any], config_class: type[Config]) -> list[Hyperparameter]:
    """The config's hyperparameters in the order of ``fn``'s arguments, then the network's (ac_kwargs)."""
    order = {name: i for i, name in enumerate(inspect.signature(fn).parameters)}
    return sorted(hyperparameters(config_class), key=lambda hp: (hp.network, order.get(hp.name, 0)))


def hyperparameter_docs(config_class: type[Config], fn: Callable[..., Any]) -> str:
    """The config's hyperparameters as Google-style ``Args`` entries, in the signature's order."""
    return "\n".join(
        f"    {hp.name}{' (in ac_kwargs)' if hp.network else ''}: {hp.help} (default {hp.default!r})."
        for hp in in_signature_order(fn, config_class)
    )


def algorithm(config_class: type[Config]) -> Callable[[F], F]:
    """Check an algorithm function against its config class and complete its docstring's ``Args``
    (the hyperparameters, then the run options) before its ``Returns``."""

    def decorate(fn: F) -> F:
        check_signature(fn, config_class)
        signature = inspect.signature(fn)
        seed_at = list(signature.parameters).index("seed")

        @functools.wraps(fn)
        def with_seeds(*args: Any, **kwargs: Any) -> Any:
            """A list of seeds trains them together (:mod:`pgrl.seeds`): one (agent, history) per seed."""
            seed = args[seed_at] if len(args) > seed_at else kwargs.get("seed")
            # resume= a group's directory (its seeds' runs in sS): the seeds resume as a group
            group = seeds.group_seeds(kwargs["resume"]) if kwargs.get("resume") is not None else []
            if group and len(args) <= seed_at and not isinstance(seed, list | tuple | range):  # its seeds
                kwargs = {**kwargs, "seed": group}
                seed = group
            if not isinstance(seed, list | tuple | range):
                return fn(*args, **kwargs)
            return seeds.train(fn, config_class, signature.bind(*args, **kwargs), seed)

        doc = inspect.cleandoc(fn.__doc__ or "")
        head, sep, tail = doc.partition("\nReturns:")
        generated = (
            f"{hyperparameter_docs(config_class, fn)}\n"
            "    **options: the run options, the same for every algorithm (:class:`pgrl.options.RunOptions`):\n"
            f"{_indent(options.docs())}\n"
        )
        fn.__doc__ = f"{head.rstrip()}\n{generated}{sep}{tail}" if sep else f"{doc}\n\nArgs:\n{generated}"
        with_seeds.__doc__ = fn.__doc__
        return with_seeds  # type: ignore[return-value]

    return decorate


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())
