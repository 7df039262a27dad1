"""The jax side of benchmarks/purejaxrl.py, run by the Python in PGRL_JAX_PYTHON (not by pgrl's).

usage: python purejaxrl_runner.py PUREJAXRL_DIR NUM_SEEDS SEED CONFIG_JSON PARAMS_NPZ

Imports PureJaxRL's own ``ppo.py`` from PUREJAXRL_DIR, trains NUM_SEEDS agents in one compiled
``jax.jit(jax.vmap(make_train(config)))`` over ``jax.random.split(PRNGKey(SEED), NUM_SEEDS)``, times the
compile and the run apart, writes the actors' parameters (numpy, leading agent axis) to PARAMS_NPZ and
prints one JSON line last. Needs jax, flax, optax, distrax and gymnax; brax and navix, which PureJaxRL's
wrappers.py imports for other envs, get empty stand-ins when they are not installed.
"""

from __future__ import annotations

import json
import sys
import time
import types
from pathlib import Path

STAND_INS = ("brax", "brax.envs", "brax.envs.wrappers", "brax.envs.wrappers.training", "navix")


def stand_in_missing_modules() -> None:
    """Empty modules for what wrappers.py imports at the top but uses only for brax and navix envs."""
    for name in STAND_INS:
        try:
            __import__(name)
        except ImportError:
            module = types.ModuleType(name)
            module.__path__ = []  # a package, so that its submodules can be registered under it
            sys.modules[name] = module
    sys.modules["brax"].envs = sys.modules["brax.envs"]  # type: ignore[attr-defined]
    training = sys.modules["brax.envs.wrappers.training"]
    for name in ("EpisodeWrapper", "AutoResetWrapper"):  # `from ... import` needs the names to exist
        if not hasattr(training, name):
            setattr(training, name, None)


def main(argv: list[str]) -> None:
    folder, num_seeds, seed, config_json, params_out = argv
    here = str(Path(__file__).resolve().parent)
    sys.path = [folder, *(p for p in sys.path if p != here)]  # ppo.py imports its wrappers.py by bare name
    stand_in_missing_modules()
    import jax
    import numpy as np

    if not hasattr(jax, "tree_map"):  # jax 0.6 removed it; PureJaxRL's wrappers still call it
        jax.tree_map = jax.tree_util.tree_map
    from ppo import ActorCritic, make_train  # PureJaxRL's own module

    k = int(num_seeds)
    config = json.loads(config_json)
    t0 = time.perf_counter()
    keys = jax.random.split(jax.random.PRNGKey(int(seed)), k)
    train = jax.jit(jax.vmap(make_train(config)))  # make_train fills in NUM_UPDATES and MINIBATCH_SIZE
    compiled = train.lower(keys).compile()
    t1 = time.perf_counter()
    out = jax.block_until_ready(compiled(keys))
    t2 = time.perf_counter()

    dense = out["runner_state"][0].params["params"]  # Dense_0..2: the actor; Dense_3..5: the critic
    arrays = {}
    for j in range(3):
        arrays[f"w{j}"] = np.asarray(dense[f"Dense_{j}"]["kernel"])
        arrays[f"b{j}"] = np.asarray(dense[f"Dense_{j}"]["bias"])
    # PureJaxRL's own actor on a few observations, for the torch side to check that its copy agrees
    obs = jax.random.normal(jax.random.PRNGKey(0), (16, arrays["w0"].shape[1]))
    net = ActorCritic(arrays["w2"].shape[2], activation=config["ACTIVATION"])
    logits = jax.vmap(lambda p: net.apply(p, obs)[0].logits)(out["runner_state"][0].params)
    arrays["check_obs"], arrays["check_logits"] = np.asarray(obs), np.asarray(logits)
    np.savez(params_out, activation=np.array(config["ACTIVATION"]), **arrays)

    metrics = out["metrics"]  # (agents, updates, steps, envs) per key; the last 10 updates' ended episodes
    ended = np.asarray(metrics["returned_episode"][:, -10:])
    returns = np.asarray(metrics["returned_episode_returns"][:, -10:])
    train_returns = [float(r[e].mean()) if e.any() else None for r, e in zip(returns, ended, strict=True)]
    steps = int(config["NUM_UPDATES"]) * int(config["NUM_STEPS"]) * int(config["NUM_ENVS"])
    result = {
        "system": "purejaxrl",
        "env": config["ENV_NAME"],
        "agents": k,
        "steps_per_agent": steps,
        "compile_s": t1 - t0,
        "run_s": t2 - t1,
        "train_returns": train_returns,
        "jax": jax.__version__,
        "devices": [str(d) for d in jax.devices()],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
