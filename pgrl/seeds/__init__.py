"""Many seeds in one process: an algorithm called with a list of seeds (``ppo(env_fn="CartPole-v1",
seed=[0, 1, 2])``, ``pgrl train ppo --seeds 0 1 2``) trains them as one batched computation
(:mod:`pgrl.seeds.run`) and returns one ``(agent, history)`` per seed, each seed in its own run directory.

Stacked are pgrl's MLP actor-critics with categorical (Discrete) or Gaussian (Box) actors on flat
observations, in one process. Anything else (ARS, a network of your own, images, MultiDiscrete or
MultiBinary actions, a data-parallel run) trains the seeds one after another in the same process, said in
one line.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym

from pgrl import distributed
from pgrl.config import Config
from pgrl.envs.vector import make_env_fn
from pgrl.errors import PgrlError
from pgrl.networks import MLPActorCritic
from pgrl.rundir import CONFIG, holds_run, refuse_used, runs_inside
from pgrl.seeds.run import SeedRuns, member_arguments, start
from pgrl.spaces import ObsLayout
from pgrl.training.call import Call
from pgrl.training.run import GROUP_START


def check_seeds(seeds: Any) -> list[int]:
    """The list of seeds, refused in one line unless distinct integers in [0, 2**32 - 1]."""
    values = list(seeds)
    if not values:
        raise PgrlError("seed is an empty list; give one seed or several, e.g. seed=[0, 1, 2]")
    if any(isinstance(s, bool) or not isinstance(s, int) or not 0 <= s < 2**32 for s in values):
        raise PgrlError(f"seeds must be integers in [0, 2**32 - 1], got {values!r}")
    if len(set(values)) != len(values):
        raise PgrlError(f"seeds must be distinct (each has its own run directory), got {values!r}")
    return values


def group_seeds(directory: Any) -> list[int]:
    """The seeds whose runs a group's directory holds (``<directory>/s<seed>``, each with its config.json),
    in order; [] for a run's own directory or one without such runs."""
    if (Path(directory) / CONFIG).exists():
        return []
    return [int(name[1:]) for name in runs_inside(directory) if re.fullmatch(r"s\d+", name)]


def why_one_after_another(config_class: type[Config], arguments: dict[str, Any]) -> str | None:
    """Why these seeds cannot train as one batched computation (None: they can)."""
    if config_class.algo == "ars":
        return "ars already evaluates all its perturbed policies in one batched computation per step"
    if arguments.get("actor_critic") not in (None, MLPActorCritic):
        return "the network is your own (only pgrl's MLPActorCritic is stacked)"
    if distributed.world_size() > 1:
        return "the run is data-parallel (torchrun)"
    call = Call.parse(config_class, {**arguments, "seed": 0})
    if call.env_fn is None:
        return None  # refused by the first seed's run, in its words
    env = make_env_fn(call.env_fn)()
    try:
        obs_space, act_space = env.observation_space, env.action_space
    finally:
        env.close()
    if ObsLayout.of(obs_space).images:
        return "the observation has images (a CNN encoder is not stacked)"
    if not isinstance(act_space, gym.spaces.Discrete | gym.spaces.Box):
        return f"the action space is {type(act_space).__name__} (stacked actors: Discrete, Box)"
    return None


def train(
    fn: Callable[..., Any], config_class: type[Config], bound: inspect.BoundArguments, seeds: Sequence[int]
) -> Any:
    """``fn`` (an algorithm function) called with a list of seeds: one ``(agent, history)`` per seed."""
    seeds = check_seeds(seeds)
    arguments = dict(bound.arguments)
    options = dict(arguments.pop("options", {}) or {})
    if options.get("resume") is not None and list(seeds) != group_seeds(options["resume"]):
        raise PgrlError("resume continues runs: give resume a group's directory (its seeds' runs in sS) and no seeds")
    calls = [member_arguments({**arguments, "options": options}, s) for s in seeds]
    if not options.get("overwrite") and options.get("resume") is None:  # refused before any seed's run is written
        for call in calls:
            out = call["logger_kwargs"].get("output_dir")
            if out and holds_run(Path(out)):
                refuse_used(Path(out))
    why = why_one_after_another(config_class, {**arguments, "options": options}) if len(seeds) > 1 else "one seed"
    if why is not None:
        if len(seeds) > 1 and options.get("verbose", True):
            print(f"pgrl: seeds {' '.join(map(str, seeds))} train one after another: {why}")
        results = []
        for call in calls:  # a list of one seed also trains in <output_dir>/s<seed>
            own = call.pop("options")
            results.append(fn(**call, **own))
        return results
    groups: list[SeedRuns] = []

    def start_group(config_class: type[Config], arguments: Mapping[str, Any], seeds: list[int]) -> SeedRuns:
        groups.append(start(config_class, arguments, seeds))
        return groups[-1]

    token = GROUP_START.set(start_group)
    try:
        fn(**{**arguments, "seed": list(seeds)}, **options)
    finally:
        GROUP_START.reset(token)
    return groups[0].results
