"""``pgrl eval RUN_DIR``: mean and std return of deterministic episodes of a saved agent."""

from __future__ import annotations

import argparse
from typing import Any

from pgrl.envs import DEFAULT_EPISODE_CAP
from pgrl.errors import PgrlError
from pgrl.evaluate import evaluate
from pgrl.load import env_of_run, load


def add_parser(sub: Any, help: str) -> None:
    p = sub.add_parser("eval", help=help, description="Evaluate a saved agent deterministically.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="directory of a pgrl run")
    p.add_argument("--episodes", type=int, default=20, help="number of episodes (default 20)")
    p.add_argument("--seed", type=int, default=0, help="evaluation seed (default 0)")
    p.add_argument("--stochastic", action="store_true", help="sample actions instead of taking the policy's mode")
    p.add_argument(
        "--max-ep-len",
        type=int,
        help=f"cap on an episode's steps (default: the env's time limit, else the run's max_ep_len, else "
        f"{DEFAULT_EPISODE_CAP}, with a warning when that cap cuts an episode)",
    )
    p.add_argument(
        "--best", action="store_true", help="the best policy an in-training evaluation found (best.pt), not the last"
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.episodes < 1:
        raise PgrlError(f"--episodes must be >= 1, got {args.episodes}")
    if args.max_ep_len is not None and args.max_ep_len < 1:
        raise PgrlError(f"--max-ep-len must be >= 1, got {args.max_ep_len}")
    agent = load(args.run_dir, best=args.best)
    env_id = agent.config.get("env_id", "")
    env = env_of_run(agent.config, args.run_dir)  # the id with the run's env_kwargs and wrappers
    max_ep_len = args.max_ep_len or agent.config.get("hyperparameters", {}).get("max_ep_len")
    returns, lengths = evaluate(
        agent, env, args.episodes, seed=args.seed, deterministic=not args.stochastic, max_ep_len=max_ep_len
    )
    mode = "stochastic" if args.stochastic else "deterministic"
    print(
        f"{env_id}: return {returns.mean():.2f} +/- {returns.std():.2f} over {len(returns)} {mode} episodes "
        f"(min {returns.min():.1f}, max {returns.max():.1f}, mean length {lengths.mean():.1f})"
    )
    return 0
