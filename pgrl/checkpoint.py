"""Checkpoints: written atomically, read back as tensors and plain data only.

A checkpoint is one ``checkpoint.pt`` in the run directory (:mod:`pgrl.rundir`): a dict of state_dicts
(network, optimizers), observation-normalisation statistics, counters, RNG states and the collector's
envs (:func:`training_state`). ``torch.load`` runs with
``weights_only=True``, so a file that hides a pickled object is refused, never executed. The run's
config (hyperparameters, spaces) sits beside it in config.json.
"""

from __future__ import annotations

import json
import os
import pickle
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np
import torch

from pgrl.errors import PgrlError
from pgrl.files import atomic_write
from pgrl.rundir import CHECKPOINT, CONFIG, runs_inside
from pgrl.snapshot import rng_state
from pgrl.spaces import is_text

if TYPE_CHECKING:
    from pgrl.agent import Agent
    from pgrl.optim import Optimizer
    from pgrl.rollout import Collector

FORMAT = "pgrl-checkpoint"
VERSION = 1


def training_state(
    agent: Agent,
    epoch: int,
    total_steps: int,
    optimizers: Mapping[str, Optimizer],
    collector: Collector | None,
) -> dict[str, Any]:
    """What a checkpoint holds to resume training: the network, the observation statistics, the
    counters, every optimizer's state, the RNG states of python, numpy and torch, the collector's
    current observations, episode tallies and env state (None for an algorithm without one), and the
    reward scaler's statistics and running returns (None without ``norm_reward``; a checkpoint of an older
    pgrl has no such key)."""
    scaler = collector.reward_scaler if collector is not None else None
    return {
        "ac": agent.ac.state_dict(),
        "obs_rms": agent.obs_rms.state_dict() if agent.obs_rms is not None else None,
        "reward_scaler": scaler.state_dict() if scaler is not None else None,
        "epoch": epoch,
        "total_steps": total_steps,
        "optimizers": {name: opt.state_dict() for name, opt in optimizers.items()},
        "rng": rng_state(),
        "collector": collector.state_dict() if collector is not None else None,
    }


def save_checkpoint(run_dir: str | os.PathLike[str], state: dict[str, Any], name: str = CHECKPOINT) -> Path:
    """Write ``state`` to run_dir/checkpoint.pt (or ``name``: the best policy's best.pt) via a temp file,
    fsync and rename: a crash at any moment leaves either the previous checkpoint or the new one, never a
    torn file. A failed write (e.g. a full disk) raises :class:`PgrlError` and leaves the previous
    checkpoint in place."""
    path = Path(run_dir) / name
    payload = {"format": FORMAT, "version": VERSION, **state}
    kept = "the previous checkpoint is intact" if path.exists() else "no checkpoint was written"
    atomic_write(path, lambda f: torch.save(payload, f), kept)
    return path


def load_checkpoint(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Read run_dir/checkpoint.pt with ``weights_only=True``; refuse missing, corrupt or foreign files."""
    path = Path(run_dir)
    if path.is_dir():
        path = path / CHECKPOINT
    if not path.exists():
        raise PgrlError(f"no checkpoint at {str(path)!r}; pass the directory of a pgrl run")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "global" not in str(e).lower():  # not a class or function reference: garbage, or opcodes torch refuses
            raise PgrlError(f"corrupt checkpoint {str(path)!r}: not a file of tensors and plain data") from e
        raise PgrlError(
            f"refused to load {str(path)!r}: it holds objects other than tensors and plain data "
            "(pgrl never unpickles code)"
        ) from e
    except OSError as e:
        raise PgrlError(f"cannot read {str(path)!r}: {e.strerror or e}") from e
    except Exception as e:  # a truncated or garbled file surfaces as assorted errors from torch
        raise PgrlError(f"corrupt checkpoint {str(path)!r}: not a readable torch file ({type(e).__name__})") from e
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise PgrlError(f"{str(path)!r} is not a pgrl checkpoint")
    if state.get("version") != VERSION:
        raise PgrlError(f"{str(path)!r} has checkpoint version {state.get('version')}, this pgrl reads {VERSION}")
    return state


def _runs_inside(directory: str | os.PathLike[str]) -> str:
    """The end of the message for a directory that holds runs one level down (a group of seeds' --out, or
    a grid's variant): ", e.g. 'D/s0' (it holds N runs: ...)"; else ""."""
    runs = runs_inside(directory)
    if not runs:
        return ""
    shown = ", ".join(runs[:5]) + (", ..." if len(runs) > 5 else "")
    return f", e.g. {str(Path(directory) / runs[0])!r} (it holds {len(runs)} runs: {shown})"


def load_config(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    path = Path(run_dir) / CONFIG
    if not path.exists():
        raise PgrlError(f"no {CONFIG} in {str(run_dir)!r}; pass the directory of a pgrl run{_runs_inside(run_dir)}")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise PgrlError(f"cannot read {str(path)!r}: {e.strerror or e}") from e
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise PgrlError(f"corrupt {CONFIG} in {str(run_dir)!r}: {e}") from e
    if not isinstance(config, dict) or "algo" not in config:
        raise PgrlError(f"{str(path)!r} is not a pgrl run config")
    return config


FULL_BOUNDS = 64
"""A Box with at most this many entries keeps every bound in config.json; a larger one with bounds that
differ is summarised by their minimum and maximum (CarRacing's pixels would take a megabyte)."""


def space_to_json(space: gym.Space) -> dict[str, Any]:
    """Describe a space in plain JSON (so loading an agent needs no env): Discrete, Box, MultiDiscrete,
    MultiBinary, Dict, Tuple and Text (which pgrl leaves out). A Box's bounds are one number each when they
    are all equal, every bound when it is small, else a summary (``"bounds": "summary"``: min and max)."""
    if isinstance(space, gym.spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, gym.spaces.Box):
        out: dict[str, Any] = {"type": "Box", "shape": list(space.shape), "dtype": str(space.dtype)}
        low, high = np.asarray(space.low), np.asarray(space.high)
        if low.size and (low == low.flat[0]).all() and (high == high.flat[0]).all():
            return {**out, "low": low.flat[0].item(), "high": high.flat[0].item()}
        if low.size <= FULL_BOUNDS:
            return {**out, "low": low.tolist(), "high": high.tolist()}
        return {**out, "low": low.min().item(), "high": high.max().item(), "bounds": "summary"}
    if isinstance(space, gym.spaces.MultiDiscrete):
        return {"type": "MultiDiscrete", "nvec": space.nvec.tolist(), "start": space.start.tolist()}
    if isinstance(space, gym.spaces.MultiBinary):
        return {"type": "MultiBinary", "n": np.asarray(space.n).tolist()}
    if isinstance(space, gym.spaces.Dict):
        return {"type": "Dict", "spaces": {k: space_to_json(v) for k, v in space.spaces.items()}}
    if isinstance(space, gym.spaces.Tuple):
        return {"type": "Tuple", "spaces": [space_to_json(v) for v in space.spaces]}
    if isinstance(space, gym.spaces.Text):
        return {"type": "Text", "max_length": int(space.max_length), "min_length": int(space.min_length)}
    if is_text(space):  # another space of strings (MiniGrid's mission): pgrl leaves it out, a Text will do
        return {"type": "Text", "max_length": int(getattr(space, "max_length", None) or 1024), "min_length": 0}
    raise PgrlError(f"unsupported space {space}")


def space_from_json(d: dict[str, Any]) -> gym.Space:
    """The inverse of :func:`space_to_json` (a summarised Box gets its min and max as every bound); reads the
    config.json of older pgrl versions too (Box bounds as full lists)."""
    kind = d.get("type")
    if kind == "Discrete":
        return gym.spaces.Discrete(int(d["n"]), start=int(d.get("start", 0)))
    if kind == "Box":
        dtype = np.dtype(d["dtype"])
        low = np.broadcast_to(np.asarray(d["low"], dtype=dtype), d["shape"])
        high = np.broadcast_to(np.asarray(d["high"], dtype=dtype), d["shape"])
        return gym.spaces.Box(low=low.copy(), high=high.copy(), dtype=dtype)  # type: ignore[arg-type]
    if kind == "MultiDiscrete":
        return gym.spaces.MultiDiscrete(np.asarray(d["nvec"]), start=np.asarray(d.get("start", 0)))
    if kind == "MultiBinary":
        return gym.spaces.MultiBinary(d["n"])
    if kind == "Dict":
        # an OrderedDict keeps the recorded order (gymnasium sorts the keys of a plain dict)
        return gym.spaces.Dict(OrderedDict((k, space_from_json(v)) for k, v in d["spaces"].items()))
    if kind == "Tuple":
        return gym.spaces.Tuple([space_from_json(v) for v in d["spaces"]])
    if kind == "Text":
        return gym.spaces.Text(int(d["max_length"]), min_length=int(d.get("min_length", 1)))
    raise PgrlError(f"unknown space description {d!r} in config.json")
