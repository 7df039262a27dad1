"""What a resumed run needs besides the networks: RNG states and the environments' state, as plain data.

A checkpoint holds tensors and plain data only (it is read with ``weights_only=True``), so numpy
arrays and scalars are encoded here as small tagged dicts of lists, and decoded back bit for bit.

Environments: an env's state can be restored when every attribute of the env and of each wrapper
around it is plain data (numbers, strings, numpy arrays, lists and dicts of those), plus the env's
``np_random`` generator. That holds for gymnasium's classic-control envs (CartPole, Acrobot,
MountainCar, Pendulum), its toy-text envs (FrozenLake, Taxi, CliffWalking, Blackjack; their transition
tables, made again by the constructor, are left out) and the ``TimeLimit`` / ``OrderEnforcing`` /
``PassiveEnvChecker`` wrappers of ``gymnasium.make``. Envs that hold simulator objects (Box2D worlds, MuJoCo data) or functions
cannot be captured: a resumed run starts new episodes in them.
"""

from __future__ import annotations

import random
from typing import Any

import gymnasium as gym
import numpy as np
import torch

_NDARRAY = "__ndarray__"
_NPSCALAR = "__npscalar__"


class Unencodable(Exception):
    """A value that is not plain data."""


def encode(value: Any) -> Any:
    """``value`` as tensors and plain data (raises :class:`Unencodable` for anything else)."""
    if value is None or (isinstance(value, bool | int | float | str | bytes) and not isinstance(value, np.generic)):
        return value  # (numpy's float64 is a float, but torch's safe loader refuses it: encoded below)
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biufcSU" or value.dtype.hasobject:  # numbers, bytes and str (a map's letters)
            raise Unencodable(f"array of {value.dtype}")
        return {_NDARRAY: value.tolist(), "dtype": value.dtype.str, "shape": list(value.shape)}
    if isinstance(value, np.generic):
        if value.dtype.kind not in "biufcSU":
            raise Unencodable(f"numpy scalar of {value.dtype}")
        return {_NPSCALAR: value.item(), "dtype": value.dtype.str}
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, list | tuple):
        items = [encode(v) for v in value]
        return items if isinstance(value, list) else tuple(items)
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise Unencodable("dict with non-string keys")
        return {k: encode(v) for k, v in value.items()}
    raise Unencodable(type(value).__name__)


def decode(value: Any) -> Any:
    """The inverse of :func:`encode`."""
    if isinstance(value, dict):
        if _NDARRAY in value:
            return np.array(value[_NDARRAY], dtype=np.dtype(value["dtype"])).reshape(value["shape"])
        if _NPSCALAR in value:
            return np.dtype(value["dtype"]).type(value[_NPSCALAR])
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    if isinstance(value, tuple):
        return tuple(decode(v) for v in value)
    return value


# ---------------------------------------------------------------------------------------------- RNGs


def rng_state() -> dict[str, Any]:
    """The global RNG states of python's ``random``, numpy and torch."""
    return {
        "python": encode(random.getstate()),
        "numpy": encode(np.random.get_state()),
        "torch": torch.get_rng_state(),
    }


def set_rng_state(state: dict[str, Any]) -> None:
    py = decode(state["python"])
    random.setstate((py[0], tuple(py[1]), py[2]))
    random_np = decode(state["numpy"])
    np.random.set_state(tuple(random_np))  # type: ignore[arg-type]
    torch.set_rng_state(state["torch"])


# ---------------------------------------------------------------------------------------------- envs

# Attributes that configure or render an env rather than hold its state.
_SKIP_ENV = {"spec", "render_mode", "screen", "clock", "isopen", "viewer", "window", "metadata", "_np_random"}
# What gymnasium's toy-text envs build in their constructor from its arguments and never change: the transition
# table ``P`` (a dict by state of dicts by action, thousands of entries in Taxi). The resumed run's env, made
# with the same arguments, builds it again; everything they change as they step (``s``, ``lastaction``, the
# cards) is saved.
_BUILT_BY_THE_CONSTRUCTOR = {"gymnasium.envs.toy_text": {"P"}}
_SKIP_WRAPPER = {"env", "_action_space", "_observation_space", "_metadata", "_cached_spec", "_saved_kwargs"}


def _plain_attrs(obj: Any, skip: set[str]) -> dict[str, Any]:
    out = {}
    for name, value in vars(obj).items():
        if name in skip or isinstance(value, gym.Space | gym.envs.registration.EnvSpec):
            continue
        out[name] = encode(value)  # raises Unencodable for simulator objects, functions, ...
    return out


def env_state(env: gym.Env) -> dict[str, Any] | None:
    """The state of one env and its wrappers as plain data, or None when it cannot be captured."""
    try:
        wrappers = []
        layer: Any = env
        while isinstance(layer, gym.Wrapper):
            wrappers.append({"type": type(layer).__name__, "attrs": _plain_attrs(layer, _SKIP_WRAPPER)})
            layer = layer.env
        module = type(layer).__module__
        built = {
            name for prefix, names in _BUILT_BY_THE_CONSTRUCTOR.items() if module.startswith(prefix) for name in names
        }
        attrs = _plain_attrs(layer, _SKIP_ENV | built)
        rng = getattr(layer, "_np_random", None)
        rng_state = encode(rng.bit_generator.state) if isinstance(rng, np.random.Generator) else None
    except Unencodable:
        return None
    return {"type": type(layer).__name__, "attrs": attrs, "np_random": rng_state, "wrappers": wrappers}


def set_env_state(env: gym.Env, state: dict[str, Any]) -> bool:
    """Restore :func:`env_state` into a freshly reset env of the same kind; False if the kinds differ."""
    layers: list[Any] = []
    layer: Any = env
    while isinstance(layer, gym.Wrapper):
        layers.append(layer)
        layer = layer.env
    if type(layer).__name__ != state["type"] or [type(w).__name__ for w in layers] != [
        w["type"] for w in state["wrappers"]
    ]:
        return False
    for wrapper, saved in zip(layers, state["wrappers"], strict=True):
        for name, value in saved["attrs"].items():
            setattr(wrapper, name, decode(value))
    for name, value in state["attrs"].items():
        setattr(layer, name, decode(value))
    if state["np_random"] is not None:
        layer.np_random.bit_generator.state = decode(state["np_random"])
    return True


def _native(envs: gym.vector.VectorEnv) -> bool:
    """A vector env that is its own implementation (e.g. CartPoleVectorEnv), not a container of envs."""
    return not isinstance(envs, gym.vector.SyncVectorEnv | gym.vector.AsyncVectorEnv | gym.vector.VectorWrapper)


def vector_env_state(envs: gym.vector.VectorEnv) -> list[dict[str, Any]] | None:
    """Each copy's :func:`env_state` for a ``SyncVectorEnv``, or a native vector env's own state (a list of
    one); None when any copy (or the vector env) cannot be captured, e.g. subprocess envs or Box2D."""
    if _native(envs):
        state = env_state(envs)  # type: ignore[arg-type]  # plain arrays and its np_random, like an env's
        return [state] if state is not None else None
    if not isinstance(envs, gym.vector.SyncVectorEnv):
        return None
    states = [env_state(e) for e in envs.envs]
    if any(s is None for s in states):
        return None
    return states  # type: ignore[return-value]


def set_vector_env_state(envs: gym.vector.VectorEnv, states: list[dict[str, Any]] | None) -> bool:
    """Restore :func:`vector_env_state`; False (nothing or part restored) when it does not fit."""
    if states is not None and _native(envs):
        return len(states) == 1 and set_env_state(envs, states[0])  # type: ignore[arg-type]
    if states is None or not isinstance(envs, gym.vector.SyncVectorEnv) or len(states) != len(envs.envs):
        return False
    return all(set_env_state(e, s) for e, s in zip(envs.envs, states, strict=True))
