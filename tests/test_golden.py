"""Golden runs: a short seeded run of every algorithm reproduces the parameters, the deterministic
progress columns and the final evaluation recorded in ``tests/data/golden.json``.

They guard refactorings of the shared training machinery: a change that alters what an algorithm
computes, even by one rounding, shows up here. On the machine and library versions they were recorded
with (the ``fingerprint`` in the file) the comparison is exact, bit for bit; elsewhere floating-point
kernels may round differently (another CPU's matmul), so the values must agree to a tight tolerance.

Re-record (only for a change meant to alter the numbers, in a commit of its own saying why)::

    PGRL_RECORD_GOLDEN=1 python -m pytest tests/test_golden.py            # every case
    PGRL_RECORD_GOLDEN=ppo-cartpole python -m pytest tests/test_golden.py # the cases named (comma-separated)
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

import pgrl

GOLDEN = Path(__file__).parent / "data" / "golden.json"

# Small networks and a few short epochs: every case runs in about a second. The CartPole cases were
# recorded with gymnasium's sync vector env (before "auto" chose CartPole's native one) and pin it; the
# "-native" case guards the NEXT_STEP collection.
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "ppo-cartpole": (
        "ppo",
        dict(env_fn="CartPole-v1", seed=3, steps_per_epoch=256, epochs=3, num_envs=4, minibatch_size=64,
             update_epochs=3, ac_kwargs=dict(hidden_sizes=[8]), eval_every=256, eval_episodes=3),
    ),
    "ppo-cartpole-native": (
        "ppo",
        dict(env_fn="CartPole-v1", seed=3, steps_per_epoch=256, epochs=3, num_envs=4, minibatch_size=64,
             update_epochs=3, ac_kwargs=dict(hidden_sizes=[8]), eval_every=256, eval_episodes=3, max_ep_len=20,
             vectorization="native"),
    ),
    "ppo-spinningup-continuous": (
        "ppo",
        dict(env_fn="pgrl/ContinuousCartPole-v0", seed=5, steps_per_epoch=200, epochs=3, num_envs=2,
             pi_lr=3e-3, vf_lr=1e-3, train_pi_iters=4, train_v_iters=3, target_kl=0.01, minibatch_size=50,
             ac_kwargs=dict(hidden_sizes=[8]), eval_episodes=2),
    ),
    "vpg-cartpole": (
        "vpg",
        dict(env_fn="CartPole-v1", seed=1, steps_per_epoch=200, epochs=3, num_envs=2, train_v_iters=5,
             ac_kwargs=dict(hidden_sizes=[8]), eval_episodes=2),
    ),
    "a2c-cartpole": (
        "a2c",
        dict(env_fn="CartPole-v1", seed=2, steps_per_epoch=100, epochs=3, num_envs=4, n_steps=5, anneal_lr=True,
             norm_adv=True, ac_kwargs=dict(hidden_sizes=[8]), eval_episodes=2),
    ),
    "reinforce-baseline-cartpole": (
        "reinforce",
        dict(env_fn="CartPole-v1", seed=4, steps_per_epoch=300, epochs=3, num_envs=2, baseline=True,
             train_v_iters=3, ac_kwargs=dict(hidden_sizes=[8]), eval_episodes=2),
    ),
    "reinforce-linear-continuous": (
        "reinforce",
        dict(env_fn="pgrl/ContinuousCartPole-v0", seed=6, steps_per_epoch=300, epochs=3, num_envs=2, linear=True,
             eval_episodes=2),
    ),
    "ars-cartpole": (
        "ars",
        dict(env_fn="CartPole-v1", seed=7, epochs=3, n_directions=4, top_b=2, max_ep_len=100, eval_episodes=2),
    ),
    "ars-continuous-mlp": (
        "ars",
        dict(env_fn="pgrl/ContinuousCartPole-v0", seed=8, epochs=3, n_directions=3, top_b=3, max_ep_len=80,
             norm_obs=False, ac_kwargs=dict(hidden_sizes=[4]), eval_episodes=2),
    ),
}  # fmt: skip

WALL_CLOCK = {"Time", "StepsPerSecond"}


def run_case(name: str, out: Path) -> dict[str, Any]:
    algo, kwargs = CASES[name]
    kwargs = {"vectorization": "sync", **kwargs}
    agent, history = getattr(pgrl, algo)(
        **kwargs, logger_kwargs=dict(output_dir=str(out)), verbose=False, overwrite=True
    )
    params = {k: v.detach().reshape(-1).tolist() for k, v in agent.ac.state_dict().items()}
    rows = [{k: v for k, v in row.items() if k not in WALL_CLOCK} for row in history]
    saved = json.loads((out / "eval.json").read_text())
    result = {k: saved[k] for k in ("episodes", "mean_return", "std_return", "mean_length", "total_steps")}
    obs_rms = None
    if agent.obs_rms is not None:
        obs_rms = {"mean": agent.obs_rms.mean.tolist(), "var": agent.obs_rms.var.tolist()}
    config = json.loads((out / "config.json").read_text())
    return {"params": params, "rows": rows, "eval": result, "obs_rms": obs_rms,
            "hyperparameters": config["hyperparameters"]}  # fmt: skip


def _record(names: list[str], tmp_path: Path, fingerprint: dict[str, str]) -> None:
    data = json.loads(GOLDEN.read_text()) if GOLDEN.exists() else {"cases": {}}
    data["fingerprint"] = fingerprint
    for name in names:
        data["cases"][name] = run_case(name, tmp_path / name)
    data["cases"] = {k: data["cases"][k] for k in CASES if k in data["cases"]}
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    GOLDEN.write_text(json.dumps(data, indent=1) + "\n")


@pytest.mark.parametrize("name", list(CASES))
def test_golden_run(name: str, tmp_path: Path, fingerprint: dict[str, str], same_numbers: Any) -> None:
    record = os.environ.get("PGRL_RECORD_GOLDEN")
    if record:
        names = list(CASES) if record == "1" else record.split(",")
        if name == next(n for n in CASES if n in names):
            _record(names, tmp_path, fingerprint)
        if name in names:
            pytest.skip("recorded")
    data = json.loads(GOLDEN.read_text())
    assert name in data["cases"], f"no golden record for {name}; record it (see the module docstring)"
    recorded, now = data["cases"][name], run_case(name, tmp_path / name)
    # a hyperparameter added since the recording (with its default) is not a change of the run
    now["hyperparameters"] = {k: v for k, v in now["hyperparameters"].items() if k in recorded["hyperparameters"]}
    same_numbers(recorded, now, data["fingerprint"] == fingerprint, name)
