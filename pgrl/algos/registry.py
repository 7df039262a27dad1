"""The algorithms by name, for the CLI and ``pgrl algos``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pgrl.algos.ppo import ppo


@dataclass(frozen=True)
class AlgoInfo:
    name: str
    fn: Callable[..., Any]
    summary: str


ALGORITHMS: dict[str, AlgoInfo] = {
    "ppo": AlgoInfo("ppo", ppo, "PPO-clip: clipped surrogate, GAE, minibatch passes (Schulman et al. 2017)"),
}
