"""An algorithm function's call, sorted: what to train on, the hyperparameters given, the run options."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch import nn

from pgrl.config import Config, hyperparameters
from pgrl.envs import EnvSpec
from pgrl.envs.named import name_env, options_config, pixel_wrappers
from pgrl.errors import PgrlError
from pgrl.networks import MLPActorCritic
from pgrl.options import RunOptions, complete

CALL_ARGUMENTS = ("env_fn", "actor_critic", "ac_kwargs", "seed", "logger_kwargs")
"""The arguments of Spinning Up's call that are not hyperparameters (an algorithm without its own network
choice, ARS, has no actor_critic)."""


@dataclass
class Call:
    """An algorithm function's arguments, sorted: what to train on, the hyperparameters it was given
    (None: not given) and the run options (checked, defaults filled in)."""

    algo: str
    env_fn: EnvSpec | None
    actor_critic: Callable[..., nn.Module]
    ac_kwargs: dict[str, Any]
    seed: int
    logger_kwargs: dict[str, Any]
    given: dict[str, Any]
    options: RunOptions
    env_options: dict[str, Any] | None = None  # config.json's env_kwargs and wrappers of the call's env options

    @classmethod
    def parse(cls, config_class: type[Config], arguments: Mapping[str, Any]) -> Call:
        """From the algorithm function's ``locals()``: its parameters by name, ``options`` its run options."""
        args = dict(arguments)
        options = complete(args.pop("options", {}), config_class.algo)
        names = {hp.name for hp in hyperparameters(config_class) if not hp.network}
        given = {k: args.pop(k) for k in list(args) if k in names}
        unexpected = set(args) - set(CALL_ARGUMENTS)
        if unexpected:  # a programming error in an algorithm file (tests/test_config.py guards the signatures)
            raise TypeError(
                f"{config_class.algo}() has arguments that are neither hyperparameters nor run options: {unexpected}"
            )
        env_fn = args.get("env_fn")
        check_seed(args.get("seed", 0))
        pixels = pixel_wrappers(options["atari_preprocessing"], options["grayscale"], options["resize"],
                                options["frame_stack"])  # fmt: skip
        env = name_env(env_fn if env_fn is not None else options["env"], options["env_kwargs"], options["wrappers"],
                       pixels)  # fmt: skip
        env_options = options_config(options["env_kwargs"], options["wrappers"], pixels)
        return cls(
            config_class.algo,
            env,
            args.get("actor_critic") or MLPActorCritic,
            dict(args.get("ac_kwargs") or {}),
            int(args.get("seed", 0)),
            dict(args.get("logger_kwargs") or {}),
            given,
            options,
            env_options,
        )


def check_seed(seed: Any) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= seed < 2**32:
        raise PgrlError(f"seed must be an integer in [0, 2**32 - 1], got {seed!r}")
