"""Building a run from an algorithm's call: seeding, torch's threads, the envs, the network and the agent,
the run directory, and the contents of config.json."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from pgrl import distributed
from pgrl.agent import Agent
from pgrl.checkpoint import space_to_json
from pgrl.config import Config, RolloutConfig
from pgrl.envs import EnvSpec, NamedEnv, make_vec_env
from pgrl.envs.gym_vectors import LEARNER_INFO
from pgrl.envs.vector import resolve_vectorization
from pgrl.errors import PgrlError
from pgrl.networks import MLPActorCritic, class_path, json_ac_kwargs
from pgrl.normalize import RunningMeanStd
from pgrl.rollout import check_fits_in_memory
from pgrl.rundir import default_run_dir, exp_name, prepare_run_dir
from pgrl.spaces import ObsLayout
from pgrl.threads import TorchThreads
from pgrl.training.call import Call
from pgrl.training.goal import Goal
from pgrl.training.resume import Resumed, open_resumed, resolve_config, resumed_network
from pgrl.version import __version__


def seed_everything(seed: int) -> None:
    """Seed python's ``random``, numpy's global generator and torch."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build_actor_critic(
    actor_critic: Callable[..., nn.Module],
    observation_space: gym.Space,
    action_space: gym.Space,
    ac_kwargs: dict[str, Any],
) -> nn.Module:
    """``actor_critic(observation_space, action_space, **ac_kwargs)``, checked against the protocol."""
    try:
        ac = actor_critic(observation_space, action_space, **ac_kwargs)
    except TypeError as e:
        if "argument" not in str(e):
            raise
        raise PgrlError(f"actor_critic {getattr(actor_critic, '__name__', actor_critic)} refused ac_kwargs: {e}") from e
    missing = [name for name in ("pi", "v", "step", "act") if not hasattr(ac, name)]
    if missing:
        raise PgrlError(
            f"actor_critic {getattr(actor_critic, '__name__', actor_critic)} lacks {', '.join(missing)}; "
            "see pgrl.networks for the protocol (pi, v, step, act)"
        )
    return ac


def network_kwargs(actor_critic: Callable[..., nn.Module], cfg: Config, ac_kwargs: dict[str, Any]) -> dict[str, Any]:
    """The network's arguments: pgrl's MLP takes the config's network fields where ac_kwargs leaves them
    out; a user's own network gets exactly ``ac_kwargs``."""
    return cfg.network_kwargs(ac_kwargs) if actor_critic is MLPActorCritic else dict(ac_kwargs)


def run_config(
    call: Call,
    env_fn: EnvSpec,
    env_id: str,
    cfg: Config,
    ac_kwargs: Mapping[str, Any],
    envs: gym.vector.VectorEnv,
    exp_name: str,
) -> dict[str, Any]:
    """config.json: what a run was made of, enough to load its agent without the env and to resume it."""
    return {
        "algo": call.algo,
        "env_id": env_id,
        "seed": call.seed,
        "hyperparameters": cfg.to_json(),
        "actor_critic": class_path(call.actor_critic),
        "ac_kwargs": json_ac_kwargs(ac_kwargs),
        **env_config(env_fn),
        "observation_space": space_to_json(envs.single_observation_space),
        "action_space": space_to_json(envs.single_action_space),
        "vectorization": call.options["vectorization"],
        "exp_name": exp_name,
        "eval_every": call.options["eval_every"] or None,
        "nan_policy": call.options["nan_policy"],
        "pgrl_version": __version__,
    }


def env_config(env: Any) -> dict[str, Any]:
    """config.json's record of how the env was made: env_kwargs and wrappers (rebuilt by eval, watch, resume
    and grid), and ``env_fn``, the name of the function that made it when that was not an id."""
    named = env if isinstance(env, NamedEnv) else None
    out: dict[str, Any] = named.config() if named is not None else {"env_kwargs": {}, "wrappers": []}
    factory = named.env if named is not None else env
    if not isinstance(factory, str):
        out["env_fn"] = f"{getattr(factory, '__module__', '?')}.{getattr(factory, '__qualname__', repr(factory))}"
    return out


@dataclass
class Parts:
    """What :func:`build` makes of an algorithm call, for :class:`pgrl.training.run.Run`."""

    call: Call
    cfg: Config
    env_fn: EnvSpec
    env_id: str
    envs: gym.vector.VectorEnv
    agent: Agent
    run_dir: Path
    resumed: Resumed | None
    threads: TorchThreads
    goal: Goal

    def start_line(self) -> str:
        """What the run will do, in one line: algorithm, env, seed, steps, target, run directory."""
        target = f"; it stops when an evaluation reaches {self.goal.target:g}" if self.goal.target is not None else ""
        return (
            f"Training {self.call.algo} on {self.env_id} (seed {self.call.seed}): {self.cfg.budget()}{target}; "
            f"run directory {self.run_dir}"
        )


def build(config_class: type[Config], arguments: Mapping[str, Any]) -> Parts:
    """From an algorithm function's ``locals()``: its configuration, the envs (first: a bad env id or space is
    refused before anything is written), the seeded network and agent, and the run directory."""
    call = Call.parse(config_class, arguments)
    env_fn, env_id, cfg = resolve_config(
        config_class, call.env_fn, call.given, call.options["resume"], call.env_options
    )
    resumed = open_resumed(call, cfg) if call.options["resume"] is not None else None
    goal = Goal.of(call.options, env_fn, env_id, resumed.run_dir if resumed is not None else None)
    if goal.target is not None and not call.options["eval_every"]:  # a target is checked by evaluations
        call.options["eval_every"] = cfg.steps_per_epoch if isinstance(cfg, RolloutConfig) else 1
    distributed.init()  # torchrun's WORLD_SIZE/RANK/MASTER_ADDR; a no-op in a single process
    rank_seed = distributed.rank_seed(call.seed)
    n_envs = cfg.envs_per_process(distributed.world_size(), distributed.rank())
    # config.json records what "auto" became, so that a resume steps the same kind of vector env
    call.options["vectorization"] = resolve_vectorization(
        env_fn, call.options["vectorization"], config_class.per_copy_seeds, n_envs
    )
    envs = make_vec_env(env_fn, n_envs, rank_seed, call.options["vectorization"], cfg.max_ep_len,  # type: ignore[arg-type]
                        info_keys=LEARNER_INFO)  # fmt: skip
    seed_everything(rank_seed)
    threads = TorchThreads(1)
    ac_kwargs = network_kwargs(
        call.actor_critic, cfg, resumed_network(resumed, call) if resumed is not None else call.ac_kwargs
    )
    obs_space, act_space = envs.single_observation_space, envs.single_action_space
    if isinstance(cfg, RolloutConfig):  # refused before the run directory is written
        check_fits_in_memory(cfg.segment_steps(distributed.world_size()), n_envs, obs_space, act_space)
    ac = build_actor_critic(call.actor_critic, obs_space, act_space, ac_kwargs)
    layout = ObsLayout.of(obs_space)
    if layout.left_out and distributed.is_main() and call.options["verbose"]:
        print(
            f"pgrl: leaving out the observation's text part(s) {', '.join(layout.left_out)}: pgrl does not encode text"
        )
    obs_rms = RunningMeanStd((layout.box_dim,), clip=cfg.obs_clip) if cfg.norm_obs and layout.box_dim else None
    config = run_config(call, env_fn, env_id, cfg, ac_kwargs, envs, exp_name(call.logger_kwargs, call.algo, env_id))
    config["target_return"] = goal.target
    if resumed is not None:
        run_dir = resumed.run_dir
    elif distributed.is_main():  # the run directory once the input is known to be good
        run_dir = prepare_run_dir(call.logger_kwargs, call.algo, env_id, call.seed, call.options["overwrite"])
    else:  # only rank 0 writes
        run_dir = Path(call.logger_kwargs.get("output_dir") or default_run_dir("rank", call.seed))
    agent = Agent(ac, obs_space, act_space, obs_rms, config)
    agent.run_dir = run_dir
    return Parts(call, cfg, env_fn, env_id, envs, agent, run_dir, resumed, threads, goal)
