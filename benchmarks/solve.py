"""Time-to-solve: pgrl PPO beside Stable-Baselines3 PPO (rl-baselines3-zoo hyperparameters), side by side.

The protocol (REFERENCE section 4, with the evaluation time taken off the clock):

- "Solved": the mean return of 20 deterministic evaluation episodes reaches the env's threshold
  (CartPole-v1 >= 475, LunarLander-v3 >= 200).
- One evaluator for both systems (:func:`evaluate`): a vector env of 20 copies, one episode each, all
  copies stepping together; the policy maps the batch of raw observations to the batch of actions
  (pgrl: ``agent.act(obs, deterministic=True)``; SB3: ``model.predict(obs, deterministic=True)``).
  Evaluation k resets copy i with seed 1_000_000 + 1000 * k + i, the same start states for both systems.
- An evaluation each time the env-step count crosses the next multiple of ``--eval-every``: pgrl from
  its ``callback(epoch, stats, agent)`` after each epoch, SB3 from a callback's ``_on_step``.
- The training clock starts just before the system builds its model and envs, and is paused while
  evaluating; it stops at the evaluation that first passes. torch._dynamo (imported by the first
  torch optimizer, ~1 s) is imported before any clock starts, so neither system pays it.
- pgrl and SB3 alternate in one process (pgrl first on even seeds, SB3 first on odd ones), both with one
  torch thread, so that a noisy shared machine loads both alike; compare the ratios.

Usage::

    python benchmarks/solve.py --envs CartPole-v1 LunarLander-v3 --seeds 0 1 2 3 4

SB3 is a benchmark extra (``pip install -e .[bench]``); without it only pgrl runs.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

THRESHOLDS = {"CartPole-v1": 475.0, "LunarLander-v3": 200.0}
EVAL_EPISODES = 20
DEFAULT_EVAL_EVERY = {"CartPole-v1": 2048, "LunarLander-v3": 16384}
DEFAULT_MAX_STEPS = {"CartPole-v1": 100_000, "LunarLander-v3": 1_000_000}

# rl-baselines3-zoo, hyperparams/ppo.yml (written out from memory of the zoo's file; the zoo's
# LunarLander-v2 entry, which newer zoo versions carry over to v3):
#   CartPole-v1:    n_envs 8, n_timesteps 1e5, policy MlpPolicy, n_steps 32, batch_size 256,
#                   gae_lambda 0.8, gamma 0.98, n_epochs 20, ent_coef 0.0, learning_rate lin_0.001,
#                   clip_range lin_0.2
#   LunarLander-v3: n_envs 16, n_timesteps 1e6, policy MlpPolicy, n_steps 1024, batch_size 64,
#                   gae_lambda 0.98, gamma 0.999, n_epochs 4, ent_coef 0.01
# "lin_x" is a schedule decaying linearly from x to 0 over n_timesteps (passed to learn() as
# total_timesteps, so the schedule is the zoo's even when a run stops early).
ZOO_PPO: dict[str, dict[str, Any]] = {
    "CartPole-v1": {
        "n_envs": 8,
        "n_timesteps": 100_000,
        "kwargs": dict(
            n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98, n_epochs=20, ent_coef=0.0,
            learning_rate=("lin", 1e-3), clip_range=("lin", 0.2),
        ),
    },
    "LunarLander-v3": {
        "n_envs": 16,
        "n_timesteps": 1_000_000,
        "kwargs": dict(n_steps=1024, batch_size=64, gae_lambda=0.98, gamma=0.999, n_epochs=4, ent_coef=0.01),
    },
}  # fmt: skip


def sb3_available() -> bool:
    return importlib.util.find_spec("stable_baselines3") is not None


@dataclass
class Result:
    env: str
    system: str
    seed: int
    solved: bool
    train_seconds: float  # training clock at the passing evaluation (or at the end when unsolved)
    steps: int  # env steps at the passing evaluation (or at the end)
    evals: int
    last_eval: float
    wall_seconds: float = math.nan  # the same, evaluation time included (REFERENCE section 4's clock)


class Evaluator:
    """The one evaluator both systems share: ``EVAL_EPISODES`` deterministic episodes in a vector env."""

    def __init__(self, env_id: str, episodes: int = EVAL_EPISODES) -> None:
        from pgrl.envs import make_vec_env

        self.envs = make_vec_env(env_id, episodes)
        self.count = 0

    def __call__(self, policy: Callable[[np.ndarray], np.ndarray]) -> float:
        from pgrl.rollout import run_episodes

        seed = 1_000_000 + 1000 * self.count
        self.count += 1
        with torch.no_grad():
            episodes = run_episodes(self.envs, policy, seed=seed)
        return float(episodes.returns.mean())

    def close(self) -> None:
        self.envs.close()


class Clock:
    """A stopwatch that can be paused (for evaluations)."""

    def __init__(self) -> None:
        self.elapsed = 0.0
        self.start = time.perf_counter()
        self.started: float | None = self.start

    def pause(self) -> None:
        if self.started is not None:
            self.elapsed += time.perf_counter() - self.started
            self.started = None

    def resume(self) -> None:
        self.started = time.perf_counter()

    def __call__(self) -> float:
        return self.elapsed + (time.perf_counter() - self.started if self.started is not None else 0.0)


class Schedule:
    """Evaluates when the step count crosses the next multiple of ``every``; remembers the first pass."""

    def __init__(self, env_id: str, every: int, max_steps: int, clock: Clock) -> None:
        self.evaluator = Evaluator(env_id)
        self.threshold = THRESHOLDS[env_id]
        self.every, self.max_steps, self.clock = every, max_steps, clock
        self.next_eval = every
        self.solved_at: tuple[float, int, float] | None = None
        self.last = -math.inf

    def __call__(self, steps: int, policy: Callable[[np.ndarray], np.ndarray]) -> bool:
        """Evaluate if due; False when training should stop (solved or out of steps)."""
        if steps >= self.next_eval:
            self.clock.pause()
            self.last = self.evaluator(policy)
            self.next_eval = (steps // self.every + 1) * self.every
            if self.last >= self.threshold:
                self.solved_at = (self.clock(), steps, time.perf_counter() - self.clock.start)
                return False
            self.clock.resume()
        return steps < self.max_steps


def run_pgrl(
    env_id: str, seed: int, every: int, max_steps: int, vectorization: str = "sync", **overrides: Any
) -> Result:
    """pgrl PPO with its preset for the env (what ``pgrl train ppo --env ENV`` runs), stopped when solved;
    ``overrides`` are passed to :func:`pgrl.algos.ppo.ppo` (hyperparameter trials)."""
    from pgrl.algos.ppo import ppo

    steps = 0
    clock = Clock()
    schedule = Schedule(env_id, every, max_steps, clock)

    def callback(epoch: int, stats: dict[str, Any], agent: Any) -> bool:
        nonlocal steps
        steps = int(stats["TotalEnvInteracts"])
        return schedule(steps, lambda obs: agent.act(obs, deterministic=True))

    with tempfile.TemporaryDirectory() as out:
        ppo(
            env=env_id, seed=seed, callback=callback, eval_episodes=0, verbose=False, vectorization=vectorization,
            logger_kwargs=dict(output_dir=out), overwrite=True, **overrides,
        )  # fmt: skip
    clock.pause()
    schedule.evaluator.close()
    return _result(env_id, "pgrl", seed, schedule, clock, steps)


def run_sb3(env_id: str, seed: int, every: int, max_steps: int) -> Result:
    """SB3 PPO with the zoo's hyperparameters (DummyVecEnv, as the zoo runs it), stopped when solved."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    zoo = ZOO_PPO[env_id]
    total = int(zoo["n_timesteps"])
    clock = Clock()
    schedule = Schedule(env_id, every, max_steps, clock)

    def lin(x: float) -> Callable[[float], float]:
        return lambda progress_remaining: progress_remaining * x

    kwargs = {k: lin(v[1]) if isinstance(v, tuple) else v for k, v in zoo["kwargs"].items()}
    envs = make_vec_env(env_id, n_envs=zoo["n_envs"], seed=seed)
    model = PPO("MlpPolicy", envs, seed=seed, verbose=0, device="cpu", **kwargs)

    class Eval(BaseCallback):
        def _on_step(self) -> bool:
            return schedule(self.num_timesteps, lambda obs: model.predict(obs, deterministic=True)[0])

    model.learn(total_timesteps=total, callback=Eval())  # the zoo's budget: it sets the lin_ schedules
    clock.pause()
    envs.close()
    schedule.evaluator.close()
    return _result(env_id, "sb3", seed, schedule, clock, int(model.num_timesteps))


def _result(env_id: str, system: str, seed: int, schedule: Schedule, clock: Clock, steps: int) -> Result:
    n, last = schedule.evaluator.count, schedule.last
    if schedule.solved_at is not None:
        seconds, steps, wall = schedule.solved_at
        return Result(env_id, system, seed, True, seconds, steps, n, last, wall)
    return Result(env_id, system, seed, False, clock(), steps, n, last, time.perf_counter() - clock.start)


def warm_up() -> None:
    """Pay the per-process fixed costs (importing torch._dynamo with the first optimizer) before any clock."""
    torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])


def table(results: list[Result]) -> str:
    """env, system, seeds solved, median/min/max training seconds to solve, median steps, SB3/pgrl ratio."""
    lines = [
        "| env | system | solved | median s | min s | max s | median steps | SB3/pgrl (median s) "
        "| median s incl. eval | SB3/pgrl incl. eval |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for env_id in dict.fromkeys(r.env for r in results):
        medians: dict[str, float] = {}
        walls: dict[str, float] = {}
        for system in dict.fromkeys(r.system for r in results if r.env == env_id):
            rs = [r for r in results if r.env == env_id and r.system == system]
            ok = [r for r in rs if r.solved]
            if ok:
                secs = [r.train_seconds for r in ok]
                medians[system] = statistics.median(secs)
                walls[system] = statistics.median(r.wall_seconds for r in ok)
                cells = [f"{medians[system]:.1f}", f"{min(secs):.1f}", f"{max(secs):.1f}"]
                cells.append(f"{statistics.median(r.steps for r in ok):,.0f}")
            else:
                cells = ["-", "-", "-", "-"]
            ratio, wall_ratio = "", ""
            if system == "sb3" and "pgrl" in medians and "sb3" in medians:
                ratio = f"{medians['sb3'] / medians['pgrl']:.1f}x"
                wall_ratio = f"{walls['sb3'] / walls['pgrl']:.1f}x"
            cells += [ratio, f"{walls[system]:.1f}" if system in walls else "-", wall_ratio]
            lines.append(f"| {env_id} | {system} | {len(ok)}/{len(rs)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[Result]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--envs", nargs="+", default=["CartPole-v1", "LunarLander-v3"], choices=sorted(THRESHOLDS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    p.add_argument("--systems", nargs="+", default=["pgrl", "sb3"], choices=["pgrl", "sb3"])
    p.add_argument("--max-steps", type=int, default=None, help="env-step cap per run (default: per env)")
    p.add_argument("--eval-every", type=int, default=None, help="env steps between evaluations (default: per env)")
    p.add_argument("--vec", default="sync", help="pgrl's vectorization (sync, async, envpool)")
    p.add_argument("--json", default=None, help="also write the results to this file")
    args = p.parse_args(argv)

    systems = list(args.systems)
    if "sb3" in systems and not sb3_available():
        print("stable-baselines3 is not installed (pip install -e .[bench]): running pgrl only")
        systems.remove("sb3")
    torch.set_num_threads(1)  # pgrl's Run does this itself; SB3 gets the same single thread
    warm_up()
    results: list[Result] = []
    for env_id in args.envs:
        every = args.eval_every or DEFAULT_EVAL_EVERY[env_id]
        max_steps = args.max_steps or DEFAULT_MAX_STEPS[env_id]
        for i, seed in enumerate(args.seeds):
            for system in systems if i % 2 == 0 else systems[::-1]:
                torch.set_num_threads(1)
                if system == "pgrl":
                    r = run_pgrl(env_id, seed, every, max_steps, args.vec)
                else:
                    r = run_sb3(env_id, seed, every, max_steps)
                results.append(r)
                print(
                    f"{env_id} {system:4s} seed {seed}: {'solved' if r.solved else 'NOT solved'} "
                    f"{r.train_seconds:7.1f} s ({r.wall_seconds:7.1f} s incl. eval)  {r.steps:>9,d} steps  "
                    f"last eval {r.last_eval:7.1f}",
                    flush=True,
                )
    print()
    print(table(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump([asdict(r) for r in results], f, indent=1)
    return results


if __name__ == "__main__":
    main()
