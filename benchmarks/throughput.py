"""Training throughput of every pgrl algorithm beside the env floor.

For each env and algorithm: env steps per second of training (collection and updates, after the first
epoch, which pays one-off costs), and the floor: the same vector env (the algorithm's num_envs copies,
the same vectorization) stepped with random actions and no learning, which no learner beats. The
ratio is training / floor. Each algorithm runs with its preset for the env (defaults where there is
none); only ``epochs`` is set, to cover about ``--steps`` env steps.

On CartPole-v1, beside pgrl's PPO, a row for PureJaxRL's PPO when the peer is configured
(benchmarks/purejaxrl.py: ``PGRL_PUREJAXRL`` and ``PGRL_JAX_PYTHON``; a "not run" row saying what to set
otherwise): one agent of its default config for ``--steps`` env steps, in jax on gymnax's CartPole, the
compiled training's steps/s with the compile left out; no floor (its env steps inside the compiled
program).

Usage::

    python benchmarks/throughput.py --envs CartPole-v1 LunarLander-v3 --steps 100000
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch

ALGOS = ["ppo", "vpg", "a2c", "reinforce", "ars"]


def epoch_steps(algo: str, env_id: str) -> int:
    """Env steps of one epoch with the algorithm's preset (ARS: an estimate, its episodes vary)."""
    from pgrl.algos.registry import ALGORITHMS
    from pgrl.config import batch_size

    cfg: Any = ALGORITHMS[algo].config.resolve(env_id, {})
    if algo == "ars":
        return 2 * cfg.n_directions * 200
    return batch_size(cfg.steps_per_epoch, cfg.num_envs)


def num_envs(algo: str, env_id: str) -> int:
    from pgrl.algos.registry import ALGORITHMS

    cfg: Any = ALGORITHMS[algo].config.resolve(env_id, {})
    return int(cfg.num_envs)  # ARS: one env copy per perturbed policy, 2 * n_directions


def train_rate(algo: str, env_id: str, steps: int, vectorization: str = "sync") -> float:
    """Env steps per second of training, from the epochs after the first."""
    import pgrl

    fn: Any = getattr(pgrl, algo)
    epochs = max(2, math.ceil(steps / epoch_steps(algo, env_id)) + 1)
    with tempfile.TemporaryDirectory() as out:
        _, history = fn(
            env=env_id, epochs=epochs, eval_episodes=0, verbose=False, vectorization=vectorization,
            logger_kwargs=dict(output_dir=out), overwrite=True, save_freq=10**6,
        )  # fmt: skip
    first, last = history[0], history[-1]
    return (last["TotalEnvInteracts"] - first["TotalEnvInteracts"]) / max(last["Time"] - first["Time"], 1e-9)


def floor_rate(env_id: str, n: int, steps: int, vectorization: str = "sync") -> float:
    """Env steps per second of the same vector env with random actions and no learning (gathering the info
    keys a run gathers, where the checkout measured has pgrl.envs.gym_vectors)."""
    from pgrl.envs import make_vec_env

    try:
        from pgrl.envs.gym_vectors import LEARNER_INFO

        kept: dict[str, Any] = {"info_keys": LEARNER_INFO}
    except ImportError:  # an older checkout: its runs gathered every key
        kept = {}
    envs = make_vec_env(env_id, n, seed=0, vectorization=vectorization, **kept)  # type: ignore[arg-type]
    envs.reset(seed=0)
    sample = envs.action_space.sample
    for _ in range(10):
        envs.step(sample())
    iters = max(1, steps // n)
    t = time.perf_counter()
    for _ in range(iters):
        envs.step(sample())
    rate = iters * n / (time.perf_counter() - t)
    envs.close()
    return rate


def sibling(name: str) -> ModuleType:
    """benchmarks/NAME.py, loaded by its path (``import purejaxrl`` could find PureJaxRL's own package)."""
    key = f"pgrl_bench_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, Path(__file__).resolve().with_name(f"{name}.py"))
        assert spec is not None and spec.loader is not None
        sys.modules[key] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[key])
    return sys.modules[key]


def purejaxrl_row(env_id: str, steps: int) -> tuple[dict[str, Any], str]:
    """PureJaxRL's row (one agent, training steps/s without the compile) and its line of the table."""
    purejaxrl = sibling("purejaxrl")
    row: dict[str, Any] = {"env": env_id, "algo": "purejaxrl", "num_envs": 4, "train": math.nan, "floor": math.nan}
    reason = purejaxrl.missing()
    row["note"] = f"not run: {reason}"
    if reason is None:
        try:
            r = purejaxrl.run_purejaxrl(1, steps, eval_episodes=0)
        except RuntimeError as e:
            row["note"] = f"failed: {e}"
        else:
            row.update(num_envs=r["config"]["NUM_ENVS"], train=r["steps_per_s"], compile_s=r["compile_s"], note="")
            line = f"| {env_id} | purejaxrl (jax; compile {r['compile_s']:.1f} s excluded) | {row['num_envs']} "
            return row, line + f"| {row['train']:,.0f} | - | - |"
    return row, f"| {env_id} | purejaxrl | 4 | {row['note']} | - | - |"


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--envs", nargs="+", default=["CartPole-v1", "LunarLander-v3"])
    p.add_argument("--algos", nargs="+", default=ALGOS, choices=ALGOS)
    p.add_argument("--steps", type=int, default=100_000, help="env steps of training per algorithm (about)")
    p.add_argument("--vec", default="sync", help="vectorization: sync, async, envpool")
    p.add_argument("--no-peers", action="store_true", help="leave out PureJaxRL's row")
    args = p.parse_args(argv)

    torch.set_num_threads(1)
    torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])  # the one-off torch._dynamo import
    rows: list[dict[str, Any]] = []
    print("| env | algo | envs | training steps/s | floor steps/s | training / floor |")
    print("|---|---|---|---|---|---|")
    for env_id in args.envs:
        for algo in args.algos:
            n = num_envs(algo, env_id)
            train = train_rate(algo, env_id, args.steps, args.vec)
            floor = floor_rate(env_id, n, min(args.steps, 200_000), args.vec)  # measured right after, same load
            row = {"env": env_id, "algo": algo, "num_envs": n, "train": train, "floor": floor}
            rows.append(row)
            print(f"| {env_id} | {algo} | {n} | {train:,.0f} | {floor:,.0f} | {train / floor:.0%} |", flush=True)
        if env_id == "CartPole-v1" and "ppo" in args.algos and not args.no_peers:
            row, line = purejaxrl_row(env_id, args.steps)
            rows.append(row)
            print(line, flush=True)
    return rows


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
