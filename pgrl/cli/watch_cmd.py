"""``pgrl watch RUN_DIR --out FILE.mp4|FILE.gif``: record episodes of a saved agent, headless.

``pgrl watch --random --env ID --out FILE`` records a random policy (the picture before training).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import Any

import numpy as np

from pgrl.cli.env_flags import add_env_kwargs_flags, env_kwargs_options
from pgrl.envs import DEFAULT_EPISODE_CAP
from pgrl.envs.limits import env_label
from pgrl.envs.named import name_env
from pgrl.errors import PgrlError
from pgrl.watch import (
    check_options,
    check_video_path,
    env_fps,
    record_episodes,
    render_env,
    resolve_policy,
    write_video,
)


def add_parser(sub: Any, help: str) -> None:
    p = sub.add_parser(
        "watch",
        help=help,
        description="Record episodes of a saved agent (or of a random policy with --random --env ID) as an "
        "mp4 or gif, rendering headless; prints each episode's return. Actions are deterministic "
        "(the policy's mode) unless --stochastic.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", nargs="?", help="directory of a pgrl run (optional with --random)")
    p.add_argument("--out", required=True, metavar="FILE", help="the video file: .mp4 or .gif")
    p.add_argument("--episodes", type=int, default=1, help="number of episodes (default 1)")
    p.add_argument("--seed", type=int, default=0, help="episode k starts from reset(seed=SEED + k) (default 0)")
    p.add_argument("--env", help="gymnasium env id (default: the run's env; needed with --random and no RUN_DIR)")
    add_env_kwargs_flags(p, " (with --env; a run's own env has its recorded ones)")
    p.add_argument("--random", action="store_true", help="uniformly random actions instead of the agent")
    p.add_argument("--stochastic", action="store_true", help="sample actions instead of taking the policy's mode")
    p.add_argument(
        "--max-ep-len",
        type=int,
        help=f"time limit per episode (default: the run's, else the env's, else {DEFAULT_EPISODE_CAP} steps)",
    )
    p.add_argument("--fps", type=float, help="frames per second (default: the env's render_fps)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    check_video_path(args.out)
    check_options(args.episodes, args.seed, args.fps, args.max_ep_len)
    if args.run_dir is None and not args.random:
        raise PgrlError("give a RUN_DIR to watch a trained agent, or --random --env ID for a random policy")
    options = env_kwargs_options(args)
    if options and args.env is None:
        raise PgrlError("--env-kwargs and --wrapper go with --env ID; a run's own env already has its recorded ones")
    agent, env, run_max_ep_len, policy = resolve_policy(args.run_dir, name_env(args.env, **options), args.random)
    returns: list[float] = []
    count = 0

    def report(k: int, ret: float, length: int) -> None:
        print(f"episode {k + 1}: return {ret:.2f}, length {length}", flush=True)

    e = render_env(env, args.max_ep_len if args.max_ep_len is not None else run_max_ep_len)
    try:
        frames = record_episodes(
            agent, e, args.episodes, args.seed, not args.stochastic, returns=returns, on_episode=report
        )

        def counted() -> Iterator[np.ndarray]:
            nonlocal count
            for f in frames:
                count += 1
                yield f

        path = write_video(counted(), args.out, args.fps or env_fps(e))
    finally:
        e.close()
    print(
        f"{policy} on {env_label(env)}: mean return {np.mean(returns):.2f} over "
        f"{len(returns)} episodes; wrote {path} ({count} frames)"
    )
    return 0
