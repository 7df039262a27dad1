"""What every algorithm's epoch loop shares: seeding, envs, the agent, the run directory, the epoch
log, checkpoints, the callback and the final evaluation. An algorithm file builds a :class:`Run`,
then loops ``collect -> its own update -> end_epoch`` and returns ``run.finish()``.
"""

from __future__ import annotations

import random
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

import pgrl
from pgrl.agent import Agent
from pgrl.checkpoint import CHECKPOINT_FILE, save_checkpoint, space_to_json
from pgrl.envs import EnvSpec, env_name, make_vec_env
from pgrl.errors import PgrlError
from pgrl.evaluate import evaluate
from pgrl.hyperparams import steps_per_env
from pgrl.logger import EpochLogger, Stopwatch, array_stats, episode_stats
from pgrl.networks import MLPActorCritic, activation_name
from pgrl.normalize import RunningMeanStd
from pgrl.rollout import Collector, Rollout

Callback = Callable[[int, dict[str, Any], Agent], bool | None]
"""``callback(epoch, stats, agent)`` after every epoch; returning False stops training."""


def seed_everything(seed: int) -> None:
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
    ac = actor_critic(observation_space, action_space, **ac_kwargs)
    missing = [name for name in ("pi", "v", "step", "act") if not hasattr(ac, name)]
    if missing:
        raise PgrlError(
            f"actor_critic {getattr(actor_critic, '__name__', actor_critic)} lacks {', '.join(missing)}; "
            "see pgrl.networks for the protocol (pi, v, step, act)"
        )
    return ac


def class_path(obj: Any) -> str:
    return f"{obj.__module__}.{obj.__qualname__}"


def json_ac_kwargs(ac_kwargs: dict[str, Any]) -> dict[str, Any]:
    """ac_kwargs as plain JSON: activations by table name, tuples as lists."""
    out: dict[str, Any] = {}
    for k, v in ac_kwargs.items():
        if k == "activation" or (isinstance(v, type) and issubclass(v, nn.Module)):
            out[k] = activation_name(v)
        elif isinstance(v, tuple):
            out[k] = list(v)
        else:
            out[k] = v
    return out


def default_run_dir(exp_name: str, seed: int) -> Path:
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
    return Path("runs") / exp_name / f"{stamp}_s{seed}"


def prepare_run_dir(logger_kwargs: dict[str, Any] | None, algo: str, env_id: str, seed: int, overwrite: bool) -> Path:
    """The run directory from Spinning Up's logger_kwargs (output_dir, exp_name); refuses to mix two runs."""
    logger_kwargs = dict(logger_kwargs or {})
    exp_name = logger_kwargs.get("exp_name") or f"{algo}-{env_id}"
    output_dir = logger_kwargs.get("output_dir")
    run_dir = Path(output_dir) if output_dir else default_run_dir(exp_name, seed)
    holds_run = (run_dir / "progress.txt").exists() or (run_dir / CHECKPOINT_FILE).exists()
    if holds_run:
        if not overwrite:
            raise PgrlError(
                f"{str(run_dir)!r} already holds a run; choose another output directory or pass overwrite "
                "(--overwrite) to replace it"
            )
        for name in ("progress.txt", CHECKPOINT_FILE, "config.json", "eval.json"):
            (run_dir / name).unlink(missing_ok=True)
        shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)
    return run_dir


class Run:
    """One training run's shared machinery (see the module docstring).

    Args:
        algo: algorithm name, for config.json and run names.
        env_fn: env id or factory.
        hp: resolved hyperparameters (see :mod:`pgrl.hyperparams`); uses num_envs, steps_per_epoch,
            epochs, max_ep_len, save_freq, norm_obs, hidden_sizes, activation.
        actor_critic, ac_kwargs: the network class and its extra arguments (Spinning Up's).
        seed: seeds python, numpy, torch and the envs (env i gets seed + i).
    """

    def __init__(
        self,
        algo: str,
        env_fn: EnvSpec,
        hp: dict[str, Any],
        actor_critic: Callable[..., nn.Module] = MLPActorCritic,
        ac_kwargs: dict[str, Any] | None = None,
        seed: int = 0,
        logger_kwargs: dict[str, Any] | None = None,
        callback: Callback | None = None,
        verbose: bool = True,
        vectorization: str = "sync",
        eval_episodes: int = 20,
        overwrite: bool = False,
        env_id: str | None = None,
    ) -> None:
        self.algo, self.env_fn, self.hp, self.seed = algo, env_fn, hp, seed
        self.callback, self.verbose, self.eval_episodes = callback, verbose, eval_episodes
        self.env_id = env_id or env_name(env_fn)
        # The envs first: a bad env id or space is refused before anything is written to disk.
        self.envs = make_vec_env(env_fn, hp["num_envs"], seed, vectorization, hp.get("max_ep_len"))  # type: ignore[arg-type]
        self.run_dir = prepare_run_dir(logger_kwargs, algo, self.env_id, seed, overwrite)
        self.logger = EpochLogger(self.run_dir, verbose=verbose)
        seed_everything(seed)
        obs_space, act_space = self.envs.single_observation_space, self.envs.single_action_space

        ac_kwargs = dict(ac_kwargs or {})
        if actor_critic is MLPActorCritic:
            ac_kwargs.setdefault("hidden_sizes", tuple(hp["hidden_sizes"]))
            ac_kwargs.setdefault("activation", hp["activation"])
        ac = build_actor_critic(actor_critic, obs_space, act_space, ac_kwargs)
        obs_rms = RunningMeanStd((int(np.prod(obs_space.shape or ())),)) if hp.get("norm_obs") else None
        self.config: dict[str, Any] = {
            "algo": algo,
            "env_id": self.env_id,
            "seed": seed,
            "hyperparameters": {k: list(v) if isinstance(v, tuple) else v for k, v in hp.items()},
            "actor_critic": class_path(actor_critic),
            "ac_kwargs": json_ac_kwargs(ac_kwargs),
            "observation_space": space_to_json(obs_space),
            "action_space": space_to_json(act_space),
            "vectorization": vectorization,
            "pgrl_version": pgrl.__version__,
        }
        self.agent = Agent(ac, obs_space, act_space, obs_rms, self.config)
        self.T = steps_per_env(hp["steps_per_epoch"], hp["num_envs"])
        self.collector = Collector(self.envs, self.agent, self.T, seed)
        self.logger.save_config(self.config)
        self.history: list[dict[str, Any]] = []
        self.total_steps = 0
        self.epoch = 0
        self.clock = Stopwatch()
        self._epoch_start = self.clock()
        self._stopped = False

    @property
    def epochs(self) -> int:
        return int(self.hp["epochs"])

    def collect(self) -> Rollout:
        """One epoch of experience from every env."""
        self._epoch_start = self.clock()
        self.logger.live(f"epoch {self.epoch + 1}/{self.epochs}  collecting {self.T * self.collector.N} steps ...")
        rollout = self.collector.collect()
        self.total_steps += rollout.num_steps
        self.logger.live(f"epoch {self.epoch + 1}/{self.epochs}  updating ...")
        return rollout

    def end_epoch(self, rollout: Rollout, stats: dict[str, Any], state: dict[str, Any]) -> bool:
        """Log the epoch, checkpoint on schedule and call the callback; False means stop.

        Args:
            rollout: this epoch's experience (for the episode and value columns).
            stats: the algorithm's update statistics (LossPi, LossV, ...), in column order.
            state: what to checkpoint besides the network: e.g. ``{"optimizers": {...}}``.
        """
        now = self.clock()
        row: dict[str, Any] = {"Epoch": self.epoch + 1}
        row.update(episode_stats(rollout.episode_returns, rollout.episode_lengths))
        row.update(array_stats("VVals", rollout.values))
        row["TotalEnvInteracts"] = self.total_steps
        row.update(stats)
        row["Time"] = now
        row["StepsPerSecond"] = rollout.num_steps / max(now - self._epoch_start, 1e-9)
        self.logger.log_epoch(row)
        self.history.append(row)
        self.epoch += 1
        self._state = state
        if self.epoch % int(self.hp["save_freq"]) == 0 or self.epoch == self.epochs:
            self.save()
        if self.callback is not None and self.callback(self.epoch - 1, row, self.agent) is False:
            self._stopped = True
        return not self._stopped and self.epoch < self.epochs

    def save(self) -> None:
        state = {
            "ac": self.agent.ac.state_dict(),
            "obs_rms": self.agent.obs_rms.state_dict() if self.agent.obs_rms is not None else None,
            "epoch": self.epoch,
            "total_steps": self.total_steps,
            **getattr(self, "_state", {}),
        }
        save_checkpoint(self.run_dir, state)

    def finish(self) -> tuple[Agent, list[dict[str, Any]]]:
        """Final checkpoint, the deterministic evaluation, and the (agent, history) an algorithm returns."""
        self.save()
        self.envs.close()
        if self.eval_episodes > 0:
            self.logger.live("evaluating ...")
            returns, lengths = evaluate(
                self.agent, self.env_fn, self.eval_episodes, seed=self.seed, max_ep_len=self.hp.get("max_ep_len")
            )
            result = {
                "episodes": len(returns),
                "mean_return": float(returns.mean()),
                "std_return": float(returns.std()),
                "mean_length": float(lengths.mean()),
                "total_steps": self.total_steps,
                "train_seconds": self.history[-1]["Time"] if self.history else 0.0,
            }
            self.logger.save_eval(result)
            if self.verbose:
                print(
                    f"Deterministic evaluation of {self.env_id} over {len(returns)} episodes: "
                    f"return {result['mean_return']:.1f} +/- {result['std_return']:.1f} "
                    f"(after {self.total_steps} steps, {result['train_seconds']:.1f} s of training)"
                )
                print(f"Run saved in {self.run_dir}")
        return self.agent, self.history
