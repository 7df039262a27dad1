"""Resuming: what a resumed run keeps from its directory (env, hyperparameters, seed, network), and the
checks that it fits the call that resumes it.

A resumed run continues bit-identically where the env's state can be saved (:mod:`pgrl.snapshot`):
network, optimizers, observation statistics, counters, RNG states and the collector's envs come back
from the checkpoint, and progress.txt continues after the checkpoint's epoch.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from pgrl import distributed
from pgrl.agent import Agent
from pgrl.checkpoint import load_checkpoint, load_config
from pgrl.config import Config
from pgrl.envs import EnvSpec, NamedEnv, env_name
from pgrl.envs.named import from_config, register
from pgrl.errors import PgrlError
from pgrl.networks import MLPActorCritic, class_path, json_ac_kwargs
from pgrl.optim import Optimizer
from pgrl.rollout import Collector
from pgrl.training.call import Call

C = TypeVar("C", bound=Config)


@dataclass
class Resumed:
    """The run directory being resumed: its config.json and its checkpoint."""

    run_dir: Path
    config: dict[str, Any]
    state: dict[str, Any]

    @property
    def epoch(self) -> int:
        return int(self.state["epoch"])

    def reseed(self, rank_seed: int) -> int:
        """A seed for what cannot continue where it stopped (envs whose state was not saved, a data-parallel
        process's RNGs), apart from the run's first seeds."""
        return int(np.random.SeedSequence([rank_seed, self.epoch]).generate_state(1)[0])

    def restore_agent(self, agent: Agent) -> None:
        """The checkpoint's network and observation statistics into ``agent``."""
        try:
            agent.ac.load_state_dict(self.state["ac"])
            if agent.obs_rms is not None and self.state.get("obs_rms") is not None:
                agent.obs_rms.load_state_dict(self.state["obs_rms"])
        except (RuntimeError, KeyError, ValueError, TypeError) as e:
            raise PgrlError(
                f"the checkpoint in {str(self.run_dir)!r} does not fit this run's network: {str(e).splitlines()[0]}"
            ) from e

    def restore_optimizer(self, name: str, optimizer: Optimizer) -> None:
        """The checkpoint's state of the optimizer ``name`` into ``optimizer``."""
        saved = self.state.get("optimizers") or {}
        if name not in saved:
            raise PgrlError(
                f"the checkpoint in {str(self.run_dir)!r} holds optimizers {sorted(saved)}, not {name!r}; "
                "resume with the same settings"
            )
        try:
            optimizer.load_state_dict(saved[name])
        except (ValueError, KeyError, RuntimeError, TypeError) as e:
            raise PgrlError(
                f"the checkpoint's optimizer {name!r} does not fit this run: {str(e).splitlines()[0]}"
            ) from e

    def check_optimizers(self, optimizers: Mapping[str, Optimizer]) -> None:
        """Refuse a run whose optimizers are not those of the checkpoint."""
        saved = self.state.get("optimizers") or {}
        if set(saved) != set(optimizers):
            raise PgrlError(
                f"the checkpoint in {str(self.run_dir)!r} holds optimizers {sorted(saved)}, this run has "
                f"{sorted(optimizers)}; resume with the same settings"
            )

    def restore_collector(self, collector: Collector, rank_seed: int) -> bool:
        """The checkpoint's observations, episode tallies and env state into ``collector``; False when the
        envs cannot continue (their state was not saved, e.g. Box2D) and start new episodes instead. The
        checkpoint holds rank 0's envs: the other data-parallel processes start anew. The reward scaler's
        statistics come back either way (its running returns restart with the episodes)."""
        scaler, saved_scaler = collector.reward_scaler, self.state.get("reward_scaler")
        if scaler is not None and saved_scaler is not None:
            try:
                scaler.load_state_dict(saved_scaler)
            except (KeyError, ValueError, TypeError) as e:
                raise PgrlError(f"the checkpoint's reward statistics in {str(self.run_dir)!r} do not fit: {e}") from e
        saved = self.state.get("collector") if distributed.is_main() else None
        return collector.load_state_dict(saved, reseed=self.reseed(rank_seed))


def resolve_config(
    config_class: type[C],
    env_fn: EnvSpec | None,
    given: dict[str, Any],
    resume: str | os.PathLike[str] | None,
    env_options: dict[str, Any] | None = None,
) -> tuple[EnvSpec, str, C]:
    """The run's env and configuration: ``(env_fn, env_id, cfg)``.

    A new run: the defaults < the env's preset < ``given``. A resumed run (``resume`` = its directory) takes
    its config.json's values (:meth:`pgrl.config.Config.resumed`), and its env (:func:`resumed_env`).
    """
    algo = config_class.algo
    if resume is None:
        if env_fn is None:
            raise PgrlError(f"{algo} needs an environment: pass env_fn (a function returning an env) or an env id")
        env_id = env_name(env_fn)
        return env_fn, env_id, config_class.resolve(env_id, given)
    config = load_config(resume)
    if config.get("algo") != algo:
        raise PgrlError(
            f"{str(resume)!r} holds a {config.get('algo')} run, not {algo}; resume it with "
            f"`pgrl train {config.get('algo')} --resume {resume}`"
        )
    env_fn = resumed_env(config, env_fn, env_options, resume)
    saved_env = config.get("env_id")
    env_id = env_name(env_fn)
    if env_id != saved_env:
        raise PgrlError(f"the run in {str(resume)!r} trained on {saved_env!r}, not {env_id!r}")
    saved = config.get("hyperparameters")
    if not isinstance(saved, dict):
        raise PgrlError(f"config.json in {str(resume)!r} lacks the run's hyperparameters")
    return env_fn, env_id, config_class.resumed(env_id, saved, given, str(resume))


def resumed_env(
    config: Mapping[str, Any], env_fn: EnvSpec | None, env_options: dict[str, Any] | None, resume: Any
) -> EnvSpec:
    """The env a resumed run continues on: its config.json's id with its env_kwargs and wrappers (env options
    the call repeats must be the same), or the env_fn the call passes again for a run made by a function."""
    saved_env = config.get("env_id")
    made_by = config.get("env_fn")  # the function that made the env, when it was not made from an id
    saved = {"env_kwargs": config.get("env_kwargs") or {}, "wrappers": config.get("wrappers") or []}
    if env_options is not None and env_options != saved and not made_by:
        raise PgrlError(
            f"env_kwargs and wrappers {env_options} differ from the resumed run's {saved}; a resumed run keeps "
            "its env (leave them out to take the run's own)"
        )
    if env_fn is not None and not (isinstance(env_fn, str | NamedEnv) and not made_by):
        return env_fn  # the factory the run was made with, passed again
    if env_fn is not None and env_name(env_fn) != saved_env:
        raise PgrlError(f"the run in {str(resume)!r} trained on {saved_env!r}, not {env_name(env_fn)!r}")
    if made_by or not isinstance(saved_env, str) or not _registered(saved_env):
        raise PgrlError(
            f"the run in {str(resume)!r} trained on {saved_env!r}"
            + (f" made by the function {made_by}" if made_by else ", which is not a registered env id")
            + "; pass the same env_fn to resume it"
        )
    return from_config(config)  # type: ignore[no-any-return]


def _registered(env_id: str) -> bool:
    try:
        register(env_id)
    except PgrlError:
        return False
    return True


def open_resumed(call: Call, cfg: Config) -> Resumed:
    """Check that the call may resume its run directory, read the checkpoint, and make the call the run's
    own: its seed, experiment name and in-training evaluation."""
    options = call.options
    resume = options["resume"]
    assert resume is not None
    if options["overwrite"]:
        raise PgrlError("overwrite and resume exclude each other: resume continues the run in its directory")
    out = call.logger_kwargs.get("output_dir")
    if out and Path(out).resolve() != Path(resume).resolve():
        raise PgrlError(f"a resumed run stays in its directory {str(resume)!r}; drop the output directory {out!r}")
    resumed = Resumed(Path(resume), load_config(resume), load_checkpoint(resume))
    missing = [k for k in ("ac", "epoch", "total_steps", "rng") if k not in resumed.state]
    if missing:
        raise PgrlError(f"the checkpoint in {str(resume)!r} cannot be resumed: it lacks {', '.join(missing)}")
    if resumed.epoch >= cfg.epochs:
        raise PgrlError(
            f"the run in {str(resume)!r} already finished its {resumed.epoch} epochs; "
            "pass a larger epochs (--epochs) to train it further"
        )
    call.seed = int(resumed.config.get("seed", call.seed))
    call.logger_kwargs = {
        "exp_name": resumed.config.get("exp_name"),
        **{k: v for k, v in call.logger_kwargs.items() if v is not None},
        "output_dir": str(resume),
    }
    if options["vectorization"] == "auto":  # the run's own kind of vector env (runs before "auto" were sync)
        options["vectorization"] = resumed.config.get("vectorization", "sync")
    if not options["eval_every"]:  # progress.txt of a run that evaluated has the Eval* columns to fill
        options["eval_every"] = resumed.config.get("eval_every") or options["eval_every"]
    if options["target_return"] is None and not options["until_solved"]:  # the run's own target, if it had one
        options["target_return"] = resumed.config.get("target_return")
    if options["eval_every"] and options["eval_episodes"] < 1:
        raise PgrlError("eval_every needs eval_episodes >= 1 (the episodes of each evaluation)")
    return resumed


def resumed_network(resumed: Resumed, call: Call) -> dict[str, Any]:
    """The resumed run's network arguments; refuses another network class or other arguments."""
    saved_class = resumed.config.get("actor_critic", class_path(MLPActorCritic))
    if saved_class != class_path(call.actor_critic):
        raise PgrlError(
            f"the run in {str(resumed.run_dir)!r} used the actor-critic {resumed.config.get('actor_critic')}; "
            "pass the same actor_critic to resume it"
        )
    saved_kwargs = resumed.config.get("ac_kwargs", {})
    ac_kwargs = call.ac_kwargs
    if ac_kwargs and json_ac_kwargs(ac_kwargs) != {k: saved_kwargs.get(k) for k in ac_kwargs}:
        raise PgrlError(
            f"ac_kwargs {json_ac_kwargs(ac_kwargs)} differ from the resumed run's {saved_kwargs}; "
            "a resumed run keeps its network"
        )
    return {**saved_kwargs, **ac_kwargs}
