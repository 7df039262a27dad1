"""MuJoCo v5 continuous control: pgrl PPO with its presets at 1M steps, beside SB3 PPO and CleanRL's figures.

Per env, in one invocation:

1. Throughput, measured first and one system at a time (nothing else running): pgrl PPO with its preset
   and SB3 PPO with its standard MuJoCo setup (MlpPolicy, one env, n_steps 2048, batch 64, 10 epochs,
   VecNormalize on observations and rewards, as CleanRL runs PPO), each for ``--rate-steps`` env steps
   with one torch thread, after a first update that pays one-off costs; and the env floor, pgrl's vector
   env (the preset's copies, split across two processes where ``--vec auto`` splits them) stepped with
   random actions and no learning.
2. Scores: pgrl PPO for ``--steps`` env steps on each seed (``--jobs`` runs at a time, each in its own
   process with one torch thread). The score is CleanRL's: the mean return of the last 100 training
   episodes (the returns the env gave, not the scaled rewards the learner saw); beside it the mean of 20
   deterministic evaluation episodes (:func:`pgrl.evaluate`) and the wall time of training. ``--algo a2c``
   scores A2C with its MuJoCo preset instead, without the throughput columns (they measure PPO).

The published anchors are CleanRL's ``ppo_continuous_action`` on the v4 envs at 1M steps, 3 seeds (its
benchmark page); gymnasium says v4 and v5 train differently except HalfCheetah and Swimmer, so the
comparison with v5 is indicative.

Usage::

    python benchmarks/mujoco.py --envs Hopper-v5 HalfCheetah-v5 Walker2d-v5 InvertedPendulum-v5 --seeds 0 1 2

SB3 and MuJoCo are extras (``pip install -e .[bench,mujoco]``); without SB3 its columns are left empty.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import multiprocessing as mp
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# Run as a script, this file's folder is first on sys.path, and this file would shadow the mujoco package.
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import numpy as np  # noqa: E402

# CleanRL ppo_continuous_action, v4 envs, 1M steps, 3 seeds: mean and std of the last-100-episode score.
CLEANRL: dict[str, tuple[float, float]] = {
    "HalfCheetah-v5": (1442.64, 46.03),
    "Hopper-v5": (2382.70, 271.74),
    "Walker2d-v5": (2287.95, 568.08),
    "InvertedPendulum-v5": (963.09, 22.20),
    "Humanoid-v5": (716.11, 49.42),
}
SB3_PPO = dict(n_steps=2048, batch_size=64, n_epochs=10, learning_rate=3e-4, gamma=0.99, gae_lambda=0.95)


def pgrl_run(env_id: str, seed: int, steps: int, algo: str = "ppo") -> dict[str, Any]:
    """One pgrl run of ``algo`` with the env's preset for about ``steps`` env steps (run in a worker process)."""
    import torch

    import pgrl
    from pgrl.algos.registry import ALGORITHMS
    from pgrl.training import run as run_module

    torch.set_num_threads(1)
    cfg: Any = ALGORITHMS[algo].config.resolve(env_id, {})
    epochs = max(1, steps // cfg.steps_per_epoch)
    episodes: list[float] = []
    record = run_module.Run.record_episodes

    def recording(self: Any, returns: Any, lengths: Any, n: int) -> None:  # the training episodes' returns
        episodes.extend(float(r) for r in returns)
        record(self, returns, lengths, n)

    run_module.Run.record_episodes = recording  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        agent, history = ALGORITHMS[algo].fn(env_id, seed=seed, epochs=epochs, eval_episodes=0, verbose=False,
                                  logger_kwargs={"output_dir": out})  # fmt: skip
        wall = time.perf_counter() - start
    returns, _ = pgrl.evaluate(agent, env_id, 20, seed=seed)
    total = int(history[-1]["TotalEnvInteracts"])
    return {
        "env": env_id, "algo": algo, "seed": seed, "steps": total, "wall_s": wall, "steps_per_s": total / wall,
        "score_last100": float(np.mean(episodes[-100:])) if episodes else math.nan,
        "eval_mean": float(np.mean(returns)), "eval_std": float(np.std(returns)),
    }  # fmt: skip


def _pgrl_run(args: tuple[str, int, int, str]) -> dict[str, Any]:
    return pgrl_run(*args)


def pgrl_rate(env_id: str, steps: int) -> float:
    """pgrl's training steps/s with the preset: the epochs after the first, over about ``steps`` steps."""
    import torch

    import pgrl
    from pgrl.algos.registry import ALGORITHMS

    torch.set_num_threads(1)
    cfg: Any = ALGORITHMS["ppo"].config.resolve(env_id, {})
    epochs = max(2, 1 + steps // cfg.steps_per_epoch)
    with tempfile.TemporaryDirectory() as out:
        _, h = pgrl.ppo(
            env_id, seed=0, epochs=epochs, eval_episodes=0, verbose=False, logger_kwargs={"output_dir": out}
        )
    return (h[-1]["TotalEnvInteracts"] - h[0]["TotalEnvInteracts"]) / (h[-1]["Time"] - h[0]["Time"])


def floor_rate(env_id: str, steps: int) -> float:
    """The preset's vector env stepped with random actions: the most steps/s any learner could reach."""
    from pgrl.algos.registry import ALGORITHMS

    cfg: Any = ALGORITHMS["ppo"].config.resolve(env_id, {})
    path = Path(__file__).resolve().with_name("throughput.py")  # by path: this folder is off sys.path (above)
    spec = importlib.util.spec_from_file_location("pgrl_bench_throughput", path)
    assert spec is not None and spec.loader is not None
    throughput = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(throughput)
    return float(throughput.floor_rate(env_id, cfg.num_envs, steps, "auto"))  # the kind of vector env the run steps


def sb3_rate(env_id: str, steps: int) -> float | None:
    """SB3 PPO's training steps/s (its MuJoCo setup, see the module docstring) after its first update."""
    if importlib.util.find_spec("stable_baselines3") is None:
        return None
    import gymnasium as gym
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    torch.set_num_threads(1)
    envs = VecNormalize(DummyVecEnv([lambda: gym.make(env_id)]), norm_obs=True, norm_reward=True, gamma=0.99)
    model = PPO("MlpPolicy", envs, seed=0, device="cpu", verbose=0, **SB3_PPO)  # type: ignore[arg-type]
    model.learn(total_timesteps=SB3_PPO["n_steps"])  # the first update pays one-off costs
    n = max(SB3_PPO["n_steps"], steps // SB3_PPO["n_steps"] * SB3_PPO["n_steps"])
    start = time.perf_counter()
    model.learn(total_timesteps=n, reset_num_timesteps=False)
    rate = n / (time.perf_counter() - start)
    envs.close()
    return rate


def _fmt(x: float | None, spec: str = ",.0f") -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def _mean_std(xs: list[float]) -> str:
    if not xs:
        return "-"
    return f"{statistics.mean(xs):,.0f} +/- {statistics.pstdev(xs):,.0f}" if len(xs) > 1 else f"{xs[0]:,.0f}"


def table(rates: dict[str, dict[str, float | None]], runs: list[dict[str, Any]], steps: int) -> str:
    lines = [
        f"| env | pgrl score (last 100 ep.) | pgrl eval (20 ep.) | seeds | wall for {steps:,} steps | pgrl steps/s "
        "| floor steps/s | pgrl / floor | SB3 steps/s | pgrl / SB3 | CleanRL (v4) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for env_id, r in rates.items():
        mine = [x for x in runs if x["env"] == env_id]
        pg, fl, sb, of_floor, of_sb3 = (r.get(k) for k in ("pgrl", "floor", "sb3", "pgrl/floor", "pgrl/sb3"))
        ref = CLEANRL.get(env_id)
        walls = [x["wall_s"] / x["steps"] * steps / 60 for x in mine]
        algos = sorted({x["algo"] for x in mine if x.get("algo", "ppo") != "ppo"})
        lines.append(
            f"| {env_id}{f' ({algos[0]})' if algos else ''} | {_mean_std([x['score_last100'] for x in mine])} | {_mean_std([x['eval_mean'] for x in mine])} "
            f"| {','.join(str(x['seed']) for x in mine) or '-'} | {_fmt(statistics.mean(walls) if walls else None, '.1f')} min "
            f"| {_fmt(pg)} | {_fmt(fl)} | {_fmt(of_floor, '.0%')} | {_fmt(sb)} | {_fmt(of_sb3, '.1f') + 'x' if of_sb3 else '-'} | {f'{ref[0]:,.0f} +/- {ref[1]:,.0f}' if ref else '-'} |"
        )
    return "\n".join(lines)


def measure_rates(envs: list[str], steps: int, repeats: int) -> dict[str, dict[str, float | None]]:
    """Per env the floor's, pgrl's and SB3's steps/s, one at a time (no rate shares the cores with another
    process); with ``repeats`` > 1 the rounds interleave and each figure is the median of its rounds, the
    ratios the medians of each round's ratio (this kind of shared machine drifts by 10-30% within minutes)."""
    rounds: dict[str, list[dict[str, float | None]]] = {env_id: [] for env_id in envs}
    for k in range(repeats):
        for env_id in envs:
            r = {"floor": floor_rate(env_id, steps), "pgrl": pgrl_rate(env_id, steps), "sb3": sb3_rate(env_id, steps)}
            rounds[env_id].append(r)
            print(f"{env_id} (round {k + 1}): " + ", ".join(f"{n} {_fmt(v)} steps/s" for n, v in r.items()), flush=True)
    return {env_id: _medians(rs) for env_id, rs in rounds.items()}


def _medians(rounds: list[dict[str, float | None]]) -> dict[str, float | None]:
    def median(values: list[float | None]) -> float | None:
        known = [v for v in values if v is not None]
        return statistics.median(known) if known else None

    out = {name: median([r[name] for r in rounds]) for name in rounds[0]}
    out["pgrl/floor"] = median([r["pgrl"] / r["floor"] if r["pgrl"] and r["floor"] else None for r in rounds])
    out["pgrl/sb3"] = median([r["pgrl"] / r["sb3"] if r["pgrl"] and r["sb3"] else None for r in rounds])
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--envs", nargs="+", default=["Hopper-v5", "HalfCheetah-v5", "Walker2d-v5", "InvertedPendulum-v5"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=1_000_000, help="env steps per pgrl run (the preset: 999,424)")
    p.add_argument("--rate-steps", type=int, default=20_480, help="env steps of each throughput measurement")
    p.add_argument("--repeats", type=int, default=1, help="rounds of the throughput measurements (their medians)")
    p.add_argument("--jobs", type=int, default=2, help="pgrl runs at a time (one core each)")
    p.add_argument("--no-scores", action="store_true", help="throughput only")
    p.add_argument(
        "--algo",
        choices=["ppo", "a2c"],
        default="ppo",
        help="pgrl's algorithm for the scores (with its MuJoCo preset); other than ppo: no throughput columns",
    )
    p.add_argument("--json", default=None, help="also write the results to this file")
    args = p.parse_args()

    # the throughput rows are PPO's: a table of another algorithm's scores leaves them out
    rates = (
        measure_rates(args.envs, args.rate_steps, args.repeats) if args.algo == "ppo" else {e: {} for e in args.envs}
    )
    runs: list[dict[str, Any]] = []
    if not args.no_scores:
        jobs = [(env_id, seed, args.steps, args.algo) for env_id in args.envs for seed in args.seeds]
        with mp.get_context("spawn").Pool(args.jobs, maxtasksperchild=1) as pool:
            for result in pool.imap_unordered(_pgrl_run, jobs):
                runs.append(result)
                print(json.dumps(result), flush=True)
    runs.sort(key=lambda x: (args.envs.index(x["env"]), x["seed"]))
    print(table(rates, runs, args.steps))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rates": rates, "runs": runs}, f, indent=1)


if __name__ == "__main__":
    main()
