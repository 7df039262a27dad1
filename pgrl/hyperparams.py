"""Default hyperparameters per algorithm, per-env presets, and their validation.

Every hyperparameter argument of an algorithm defaults to ``None``, meaning "take it from here":
the algorithm's defaults, overridden by the preset for the env when there is one, overridden by what
the caller passed. The resolved values are printed by ``pgrl algos`` and written to config.json.
"""

from __future__ import annotations

import math
from typing import Any

from pgrl.errors import PgrlError

DEFAULTS: dict[str, dict[str, Any]] = {
    "ppo": {
        "num_envs": 8,
        "steps_per_epoch": 4096,
        "epochs": 50,
        "gamma": 0.99,
        "lam": 0.95,
        "clip_ratio": 0.2,
        "pi_lr": 3e-4,
        "vf_lr": 1e-3,
        "update_epochs": 10,
        "train_pi_iters": None,
        "train_v_iters": None,
        "minibatch_size": 256,
        "shared_optimizer": True,
        "vf_coef": 0.5,
        "ent_coef": 0.0,
        "max_grad_norm": 0.5,
        "anneal_lr": True,
        "norm_adv": True,
        "norm_obs": False,
        "target_kl": None,
        "max_ep_len": None,
        "save_freq": 10,
        "hidden_sizes": (64, 64),
        "activation": "tanh",
    },
}

PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "ppo": {
        "CartPole-v1": {
            "num_envs": 8,
            "steps_per_epoch": 256,
            "epochs": 200,
            "gamma": 0.98,
            "lam": 0.8,
            "pi_lr": 1e-3,
            "update_epochs": 20,
            "minibatch_size": 256,
            "save_freq": 50,
        },
        "LunarLander-v3": {
            "num_envs": 16,
            "steps_per_epoch": 16384,
            "epochs": 62,
            "gamma": 0.999,
            "lam": 0.98,
            "pi_lr": 3e-4,
            "update_epochs": 4,
            "minibatch_size": 64,
            "ent_coef": 0.01,
        },
    },
}


def resolve(algo: str, env_id: str, given: dict[str, Any]) -> dict[str, Any]:
    """Defaults < env preset < explicitly given (non-None) values."""
    hp = dict(DEFAULTS[algo])
    hp.update(PRESETS.get(algo, {}).get(env_id, {}))
    hp.update({k: v for k, v in given.items() if v is not None})
    return hp


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise PgrlError(message)


def validate(hp: dict[str, Any]) -> None:
    """Refuse values that cannot train, with a message naming the value and the valid range."""

    def num(name: str) -> float | None:
        v = hp.get(name)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise PgrlError(f"{name} must be a finite number, got {v!r}")
        return float(v)

    for name in ("gamma", "lam"):
        v = num(name)
        if v is not None:
            _check(0.0 <= v <= 1.0, f"{name} must be in [0, 1], got {hp[name]}")
    for name in ("pi_lr", "vf_lr", "lr", "clip_ratio", "target_kl", "max_grad_norm", "step_size", "noise_std"):
        v = num(name)
        if v is not None:
            _check(v > 0, f"{name} must be > 0, got {hp[name]}")
    for name in ("vf_coef", "ent_coef"):
        v = num(name)
        if v is not None:
            _check(v >= 0, f"{name} must be >= 0, got {hp[name]}")
    for name in (
        "num_envs",
        "steps_per_epoch",
        "epochs",
        "update_epochs",
        "train_pi_iters",
        "train_v_iters",
        "minibatch_size",
        "save_freq",
        "max_ep_len",
    ):
        v = hp.get(name)
        if v is not None:
            _check(
                isinstance(v, int) and not isinstance(v, bool) and v >= 1,
                f"{name} must be a positive integer, got {v!r}",
            )
    if hp.get("minibatch_size") and hp.get("steps_per_epoch") and hp.get("num_envs"):
        batch = batch_size(hp["steps_per_epoch"], hp["num_envs"])
        _check(
            hp["minibatch_size"] <= batch,
            f"minibatch_size {hp['minibatch_size']} is larger than the batch of {batch} steps per epoch; "
            "lower minibatch_size or raise steps_per_epoch",
        )
    hidden = hp.get("hidden_sizes")
    if hidden is not None:
        _check(
            all(isinstance(h, int) and h >= 1 for h in hidden),
            f"hidden_sizes must be positive integers, got {list(hidden)}",
        )


def steps_per_env(steps_per_epoch: int, num_envs: int) -> int:
    """T: steps each env collects per epoch (steps_per_epoch rounded up to a multiple of num_envs)."""
    return -(-steps_per_epoch // num_envs)


def batch_size(steps_per_epoch: int, num_envs: int) -> int:
    return steps_per_env(steps_per_epoch, num_envs) * num_envs
