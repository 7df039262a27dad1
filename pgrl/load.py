"""Loading a trained agent from its run directory (config.json + checkpoint.pt), without the env."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from torch import nn

from pgrl.agent import Agent
from pgrl.checkpoint import load_checkpoint, load_config, space_from_json
from pgrl.envs import make_env_fn
from pgrl.envs.named import from_config
from pgrl.errors import PgrlError
from pgrl.networks import MLPActorCritic, class_path
from pgrl.normalize import RunningMeanStd
from pgrl.rundir import BEST
from pgrl.spaces import ObsLayout, same_structure


def load(
    run_dir: str | os.PathLike[str], actor_critic: Callable[..., nn.Module] | None = None, best: bool = False
) -> Agent:
    """The agent saved in ``run_dir``, ready for ``agent.act(obs, deterministic=True)``.

    Args:
        run_dir: a directory written by a pgrl algorithm (holds config.json and checkpoint.pt).
        actor_critic: the network class, needed only when the run used a custom one (pgrl never
            imports code named in a file it loads).
        best: the best policy an in-training evaluation found (best.pt, written by runs that evaluate
            during training: ``eval_every``, ``target_return``, ``until_solved``) instead of the last one.
    """
    config = load_config(run_dir)
    if best and not (Path(run_dir) / BEST).exists():
        raise PgrlError(
            f"{str(run_dir)!r} has no best checkpoint: a run keeps one when it evaluates during training "
            "(eval_every / --eval-every, target_return, until_solved)"
        )
    state = load_checkpoint(Path(run_dir) / BEST if best else run_dir)
    obs_space = space_from_json(config["observation_space"])
    act_space = space_from_json(config["action_space"])
    saved_class = config.get("actor_critic", class_path(MLPActorCritic))
    if actor_critic is None:
        if saved_class != class_path(MLPActorCritic):
            raise PgrlError(
                f"this run used the custom actor-critic {saved_class}; pass it as load(run_dir, actor_critic=...)"
            )
        actor_critic = MLPActorCritic
    ac_kwargs: dict[str, Any] = dict(config.get("ac_kwargs", {}))
    ac = actor_critic(obs_space, act_space, **ac_kwargs)
    try:
        ac.load_state_dict(state["ac"])
    except (RuntimeError, KeyError) as e:
        raise PgrlError(f"the checkpoint in {str(run_dir)!r} does not fit its network: {str(e).splitlines()[0]}") from e
    ac.eval()
    obs_rms = None
    if state.get("obs_rms") is not None:
        obs_rms = RunningMeanStd((ObsLayout.of(obs_space).box_dim,))
        obs_rms.load_state_dict(state["obs_rms"])
    agent = Agent(ac, obs_space, act_space, obs_rms, config)
    agent.run_dir = Path(run_dir)
    return agent


def env_of_run(config: Mapping[str, Any], run_dir: str | os.PathLike[str], purpose: str = "evaluate") -> Any:
    """The env a run trained on, rebuilt from its config.json (its id, env_kwargs and wrappers), for
    ``pgrl eval`` and ``pgrl watch``. A run whose env a Python function made is rebuilt from the id only
    when that gives the same spaces; otherwise the message says how to pass the function back."""
    made_by = config.get("env_fn")
    env = from_config(config)
    how = (
        f"{purpose} it from Python with the same function: pgrl.evaluate(pgrl.load({str(run_dir)!r}), env_fn) or "
        f"pgrl.watch({str(run_dir)!r}, env=env_fn) (an env_fn making its env with render_mode='rgb_array')"
    )
    if env is None:
        raise PgrlError(f"the run in {str(run_dir)!r} records no env id; {how}")
    try:
        probe = make_env_fn(env)()
    except PgrlError as e:
        raise PgrlError(f"the run's env {config.get('env_id')!r} cannot be made here ({e}); {how}") from e
    same = same_structure(probe.observation_space, space_from_json(config["observation_space"])) and same_structure(
        probe.action_space, space_from_json(config["action_space"])
    )
    probe.close()
    if not same:
        what = f"made by the function {made_by}" if made_by else f"{config.get('env_id')!r}"
        raise PgrlError(
            f"the run in {str(run_dir)!r} trained on an env {what} whose spaces the id alone does not give; {how}"
        )
    return env
