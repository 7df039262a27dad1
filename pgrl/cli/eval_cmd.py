"""``pgrl eval RUN_DIR``: mean and std return of deterministic episodes of a saved agent."""

from __future__ import annotations

import argparse
from typing import Any

import gymnasium as gym

from pgrl.errors import PgrlError
from pgrl.evaluate import evaluate
from pgrl.load import load


def add_parser(sub: Any) -> None:
    p = sub.add_parser("eval", help="evaluate a saved agent", description="Evaluate a saved agent deterministically.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="directory of a pgrl run")
    p.add_argument("--episodes", type=int, default=20, help="number of episodes (default 20)")
    p.add_argument("--seed", type=int, default=0, help="evaluation seed (default 0)")
    p.add_argument("--stochastic", action="store_true", help="sample actions instead of taking the policy's mode")
    p.add_argument(
        "--best", action="store_true", help="the best policy an in-training evaluation found (best.pt), not the last"
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.episodes < 1:
        raise PgrlError(f"--episodes must be >= 1, got {args.episodes}")
    agent = load(args.run_dir, best=args.best)
    env_id = agent.config.get("env_id", "")
    if env_id not in gym.registry:
        raise PgrlError(
            f"the run's env {env_id!r} is not a registered gymnasium id; evaluate it from Python with pgrl.evaluate"
        )
    max_ep_len = agent.config.get("hyperparameters", {}).get("max_ep_len")
    returns, lengths = evaluate(
        agent, env_id, args.episodes, seed=args.seed, deterministic=not args.stochastic, max_ep_len=max_ep_len
    )
    mode = "stochastic" if args.stochastic else "deterministic"
    print(
        f"{env_id}: return {returns.mean():.2f} +/- {returns.std():.2f} over {len(returns)} {mode} episodes "
        f"(min {returns.min():.1f}, max {returns.max():.1f}, mean length {lengths.mean():.1f})"
    )
    return 0
