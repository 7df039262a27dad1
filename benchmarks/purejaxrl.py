"""PureJaxRL's PPO on CartPole-v1: the peer that trains K agents at once under ``jax.vmap``.

PureJaxRL (github.com/luchris429/purejaxrl) is not vendored: this runs the user's checkout of its
``purejaxrl/ppo.py`` in a separate Python that has jax (benchmarks/README.md gives the recipe). Two
environment variables say where:

- ``PGRL_PUREJAXRL``: the checkout's ``purejaxrl/`` folder, the one holding ``ppo.py``;
- ``PGRL_JAX_PYTHON``: a Python with jax, flax, optax, distrax and gymnax; unset, this Python when it has
  them (``pip install -e .[peers]``).

The subprocess (``benchmarks/purejaxrl_runner.py``) runs ``make_train(config)`` with the CartPole-v1
config of ppo.py's ``__main__`` block (read from the file; only TOTAL_TIMESTEPS and DEBUG are changed),
K PRNG keys under ``jax.vmap`` in one ``jax.jit``, the compile and the run timed apart, and writes every
agent's actor parameters to a .npz. This side then evaluates each agent with pgrl's own evaluator
(:func:`pgrl.evaluate`: 20 deterministic episodes of gymnasium's CartPole-v1, seed 0) through a pgrl
actor-critic of the same shape (64x64 tanh) carrying the actor's weights: the argmax of the logits
PureJaxRL's actor computes. Solved: mean return >= 475.

Usage::

    PGRL_PUREJAXRL=~/purejaxrl/purejaxrl PGRL_JAX_PYTHON=~/jaxenv/bin/python \\
        python benchmarks/purejaxrl.py --seeds 1 10 --steps 500000

Another benchmark imports :func:`run_purejaxrl` (and :func:`missing` to skip the peer with a note).
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

ENV_ID = "CartPole-v1"
THRESHOLD = 475.0  # CartPole-v1's "solved", as in benchmarks/solve.py
DEFAULT_STEPS = 5e5  # PureJaxRL's own TOTAL_TIMESTEPS for CartPole
DEFAULT_SEED = 30  # PureJaxRL's jax.random.PRNGKey(30); K agents get jax.random.split(key, K)
RUNNER = Path(__file__).resolve().parent / "purejaxrl_runner.py"
ACTOR_KEYS = ("w0", "b0", "w1", "b1", "w2", "b2")  # the actor's three Dense layers, kernels (in, out)

UNSET_DIR = (
    "set PGRL_PUREJAXRL to PureJaxRL's purejaxrl/ folder (the one with ppo.py) and PGRL_JAX_PYTHON to a "
    "Python with jax (benchmarks/README.md)"
)
UNSET_PYTHON = (
    "set PGRL_JAX_PYTHON to a Python with jax, flax, optax, distrax and gymnax, or pip install -e .[peers] "
    "(benchmarks/README.md)"
)
JAX_SIDE = ("jax", "flax", "optax", "distrax", "gymnax")


class PeerMissing(RuntimeError):
    """PureJaxRL or its Python is not configured; the message is one line saying what to set."""


def find() -> tuple[Path, str]:
    """(PureJaxRL's purejaxrl/ folder, the jax Python) from the environment, or :class:`PeerMissing`."""
    folder = os.environ.get("PGRL_PUREJAXRL", "").strip()
    if not folder:
        raise PeerMissing(UNSET_DIR)
    path = Path(folder).expanduser()
    if not (path / "ppo.py").is_file():
        raise PeerMissing(
            f"PGRL_PUREJAXRL={folder} has no ppo.py: point it at the purejaxrl/ folder inside PureJaxRL's checkout"
        )
    python = os.environ.get("PGRL_JAX_PYTHON", "").strip() or (sys.executable if jax_here() else "")
    if not python:
        raise PeerMissing(UNSET_PYTHON)
    exe = shutil.which(str(Path(python).expanduser()))  # a path, or a command on PATH ("python3.11")
    if exe is None:
        raise PeerMissing(f"PGRL_JAX_PYTHON={python} is not an executable file")
    return path, exe


def jax_here() -> bool:
    """Whether this Python has the jax side's packages (looked up, not imported)."""
    return all(importlib.util.find_spec(name) is not None for name in JAX_SIDE)


def missing() -> str | None:
    """The one-line reason the peer cannot run, or None when it is configured."""
    try:
        find()
    except PeerMissing as e:
        return str(e)
    return None


def default_config(ppo: Path) -> dict[str, Any]:
    """The ``config = {...}`` literal of ppo.py's ``if __name__ == "__main__":`` block (its CartPole run)."""
    tree = ast.parse(ppo.read_text(), filename=str(ppo))
    for node in tree.body:
        if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test):
            for stmt in node.body:
                targets = [t.id for t in getattr(stmt, "targets", []) if isinstance(t, ast.Name)]
                if "config" in targets and isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Dict):
                    config: dict[str, Any] = ast.literal_eval(stmt.value)
                    if config.get("ENV_NAME") != ENV_ID:
                        raise PeerMissing(f"{ppo}'s default config is for {config.get('ENV_NAME')}, not {ENV_ID}")
                    return config
    raise PeerMissing(f"{ppo} has no `config = {{...}}` in its __main__ block to take the defaults from")


def agents_from_params(path: str | Path) -> list[Any]:
    """One :class:`pgrl.Agent` per agent in an actor-parameter file: a pgrl MLP actor-critic of the same
    widths and activation whose actor carries PureJaxRL's weights (the critic is unused by evaluation).

    The file holds ``w0, b0, w1, b1, w2, b2`` with a leading agent axis (kernels (in, out), as flax's
    Dense stores them) and ``activation`` ("tanh" or "relu"); with ``check_obs`` (B, obs_dim) and
    ``check_logits`` (agents, B, n), PureJaxRL's own logits there, each copy must reproduce them."""
    import gymnasium as gym
    import torch

    from pgrl import Agent
    from pgrl.networks import MLPActorCritic

    with np.load(path, allow_pickle=False) as f:
        arrays = {k: np.asarray(f[k], dtype=np.float32) for k in ACTOR_KEYS}
        activation = str(f["activation"]) if "activation" in f else "tanh"
        check = (f["check_obs"], f["check_logits"]) if "check_obs" in f else None
    env = gym.make(ENV_ID)
    obs_space, act_space = env.observation_space, env.action_space
    env.close()
    k, obs_dim, h1 = arrays["w0"].shape
    h2, n_act = arrays["w1"].shape[2], arrays["w2"].shape[2]
    if obs_dim != obs_space.shape[0] or n_act != act_space.n:  # type: ignore[index, attr-defined]
        raise ValueError(f"{path}: an actor {obs_dim} -> {n_act} does not fit {ENV_ID}")
    agents = []
    for i in range(k):
        ac = MLPActorCritic(obs_space, act_space, hidden_sizes=(h1, h2), activation=activation)
        actor: Any = ac.pi  # an MLPCategoricalActor: CartPole's actions are Discrete(2)
        linears = [m for m in actor.logits_net if isinstance(m, torch.nn.Linear)]
        with torch.no_grad():
            for j, layer in enumerate(linears):
                layer.weight.copy_(torch.from_numpy(arrays[f"w{j}"][i].T))  # torch's weight is (out, in)
                layer.bias.copy_(torch.from_numpy(arrays[f"b{j}"][i]))
            if check is not None and not _same_policy(actor.logits, check[0], check[1][i]):
                raise ValueError(f"{path}: agent {i}'s torch actor does not reproduce PureJaxRL's logits")
        agents.append(Agent(ac, obs_space, act_space))
    return agents


def _same_policy(logits: Any, obs: np.ndarray, theirs: np.ndarray) -> bool:
    """Whether the torch ``logits`` function gives PureJaxRL's action probabilities ``theirs`` on ``obs``."""
    import torch

    mine = torch.log_softmax(logits(torch.as_tensor(obs, dtype=torch.float32)), -1)
    return torch.allclose(mine, torch.log_softmax(torch.as_tensor(theirs, dtype=torch.float32), -1), atol=1e-4)


def evaluate_params(path: str | Path, episodes: int = 20, seed: int = 0) -> list[float]:
    """Mean return of ``episodes`` deterministic CartPole-v1 episodes per agent, by :func:`pgrl.evaluate`."""
    import torch

    from pgrl import evaluate

    with torch.no_grad():
        return [float(evaluate(a, ENV_ID, episodes=episodes, seed=seed)[0].mean()) for a in agents_from_params(path)]


def run_purejaxrl(
    num_seeds: int = 1,
    total_timesteps: float = DEFAULT_STEPS,
    seed: int = DEFAULT_SEED,
    eval_episodes: int = 20,
    timeout: float | None = None,
) -> dict[str, Any]:
    """Train ``num_seeds`` PureJaxRL PPO agents at once (``jax.vmap``; 1: a single agent) on gymnax's
    CartPole-v1 for ``total_timesteps`` each, then evaluate each (``eval_episodes`` 0: no evaluation).

    Returns a dict: ``compile_s`` (make_train, jit and XLA compile), ``run_s`` (the compiled training
    alone), ``steps_per_agent`` (what ppo.py runs: whole updates of NUM_ENVS x NUM_STEPS), ``steps_per_s``
    (all agents' steps / run_s), ``eval_means`` and ``solved`` (per agent, mean >= 475), ``solved_count``,
    ``train_returns`` (per agent, the mean return of the episodes that ended in the last 10 updates), the
    ``config`` ppo.py ran and ``jax`` (its version). Raises :class:`PeerMissing` when the peer is not
    configured and RuntimeError (with the subprocess's last lines) when it fails.
    """
    folder, python = find()
    config = {**default_config(folder / "ppo.py"), "TOTAL_TIMESTEPS": float(total_timesteps), "DEBUG": False}
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # this project's path is not the jax side's
    with tempfile.TemporaryDirectory() as tmp:
        params = Path(tmp) / "actors.npz"
        cmd = [python, str(RUNNER), str(folder), str(num_seeds), str(seed), json.dumps(config), str(params)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
        lines = proc.stdout.strip().splitlines()
        if proc.returncode != 0 or not lines or not lines[-1].startswith("{"):
            tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:]) or "no output"
            raise RuntimeError(f"PureJaxRL's run failed (exit {proc.returncode}): {tail}")
        result: dict[str, Any] = json.loads(lines[-1])
        means = evaluate_params(params, episodes=eval_episodes) if eval_episodes else []
    result["steps_per_s"] = num_seeds * result["steps_per_agent"] / result["run_s"]
    result["eval_means"] = means
    result["solved"] = [m >= THRESHOLD for m in means]
    result["solved_count"] = sum(result["solved"])
    result["config"] = config
    return result


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--seeds", nargs="+", type=int, default=[1, 10], help="agents per run, one run per value")
    p.add_argument("--steps", type=float, default=DEFAULT_STEPS, help="TOTAL_TIMESTEPS per agent")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="the PRNG key the agents' keys split from")
    p.add_argument("--eval-episodes", type=int, default=20)
    p.add_argument("--json", action="store_true", help="also print each result as one JSON line")
    args = p.parse_args(argv)
    reason = missing()
    if reason:
        print(f"PureJaxRL not run: {reason}")
        return []
    results = []
    print("| agents | steps per agent | compile s | run s | steps/s (all agents) | solved | eval means |")
    print("|---:|---:|---:|---:|---:|---:|---|")
    for k in args.seeds:
        r = run_purejaxrl(k, args.steps, seed=args.seed, eval_episodes=args.eval_episodes)
        results.append(r)
        means = ", ".join(f"{m:.0f}" for m in r["eval_means"])
        print(
            f"| {k} | {r['steps_per_agent']:,} | {r['compile_s']:.1f} | {r['run_s']:.1f} | {r['steps_per_s']:,.0f} "
            f"| {r['solved_count']}/{k} | {means} |",
            flush=True,
        )
        if args.json:
            print(json.dumps(r))
    return results


if __name__ == "__main__":
    main()
