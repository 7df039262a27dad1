"""PPO with the CNN on pixel envs: training steps per second and a learning curve over a stated budget,
beside a random policy's return.

Usage::

    python benchmarks/pixels.py --env minatar.gym.register_envs:MinAtar/Breakout-v1 --steps 200000 --out runs/bench-minatar
    python benchmarks/pixels.py --env CarRacing-v3 --steps 24576 --grayscale --resize 64 64 --frame-stack 4 \
        --vec async --eval-episodes 3 --out runs/bench-carracing

Prints a Markdown table (env steps, the mean training return of the epoch's finished episodes, the
deterministic evaluation when ``--eval-every`` is set) for benchmarks/README.md; the run directory holds
progress.txt for ``pgrl plot``.
"""

from __future__ import annotations

import argparse
import math
import time
from typing import Any

import numpy as np


def random_return(env: str, episodes: int, seed: int, **options: Any) -> float:
    """The mean return of a uniformly random policy over ``episodes`` episodes (capped like evaluations)."""
    from pgrl.envs import DEFAULT_EPISODE_CAP, make_env_fn
    from pgrl.envs.named import name_env, pixel_wrappers

    named = name_env(
        env, None, None, pixel_wrappers(grayscale=options["grayscale"], frame_stack=options["frame_stack"])
    )
    e = make_env_fn(named)()
    e.action_space.seed(seed)
    returns = []
    for k in range(episodes):
        e.reset(seed=seed + k)
        total, done, t = 0.0, False, 0
        while not done and t < DEFAULT_EPISODE_CAP:
            _, r, term, trunc, _ = e.step(e.action_space.sample())
            total, done, t = total + float(r), term or trunc, t + 1
        returns.append(total)
    e.close()
    return float(np.mean(returns))


def main() -> None:
    import pgrl

    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--env", required=True)
    p.add_argument("--steps", type=int, default=200_000, help="the training budget in env steps")
    p.add_argument("--num-envs", type=int, default=8)
    p.add_argument("--steps-per-epoch", type=int, default=1024)
    p.add_argument("--pi-lr", type=float, default=5e-4)
    p.add_argument("--update-epochs", type=int, default=4)
    p.add_argument("--minibatch-size", type=int, default=256)
    p.add_argument("--ent-coef", type=float, default=0.01)
    p.add_argument("--grayscale", action="store_true")
    p.add_argument("--frame-stack", type=int)
    p.add_argument("--resize", type=int, nargs=2, metavar=("H", "W"))
    p.add_argument("--vec", default="sync", help="sync or async (subprocess envs: CarRacing's step is ~10 ms)")
    p.add_argument("--eval-episodes", type=int, default=10)
    p.add_argument("--eval-every", type=int)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    p.add_argument("--rows", type=int, default=10, help="rows of the learning-curve table")
    args = p.parse_args()

    epochs = max(1, math.ceil(args.steps / args.steps_per_epoch))
    start = time.perf_counter()
    _, history = pgrl.ppo(
        args.env, seed=args.seed, epochs=epochs, num_envs=args.num_envs, steps_per_epoch=args.steps_per_epoch,
        pi_lr=args.pi_lr, update_epochs=args.update_epochs, minibatch_size=args.minibatch_size,
        ent_coef=args.ent_coef, ac_kwargs=dict(activation="relu"), grayscale=args.grayscale,
        frame_stack=args.frame_stack, resize=tuple(args.resize) if args.resize else None, vectorization=args.vec,
        eval_every=args.eval_every, eval_episodes=args.eval_episodes, verbose=False,
        logger_kwargs=dict(output_dir=args.out), overwrite=True,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    steps = history[-1]["TotalEnvInteracts"]
    sps = np.median([row["StepsPerSecond"] for row in history[1:]] or [history[0]["StepsPerSecond"]])
    rand = random_return(args.env, args.eval_episodes, 1000, grayscale=args.grayscale, frame_stack=args.frame_stack)
    print(f"{args.env}: {steps} steps in {seconds:.0f} s (evaluations included); training {sps:,.0f} steps/s "
          f"(median over epochs); random policy {rand:.2f}")  # fmt: skip
    print("| env steps | training return (epoch mean) | deterministic evaluation |\n|---:|---:|---:|")
    for row in [*history[:: max(1, len(history) // args.rows)], history[-1]]:
        ev = row.get("EvalAverageEpRet", math.nan)
        print(f"| {row['TotalEnvInteracts']:,} | {row['AverageEpRet']:.2f} | {'' if math.isnan(ev) else f'{ev:.2f}'} |")


if __name__ == "__main__":
    main()
