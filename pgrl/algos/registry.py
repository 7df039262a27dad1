"""The algorithms by name, for the CLI and ``pgrl algos``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pgrl.algos.a2c import a2c
from pgrl.algos.ars import ars
from pgrl.algos.ppo import ppo
from pgrl.algos.reinforce import reinforce
from pgrl.algos.vpg import vpg


@dataclass(frozen=True)
class AlgoInfo:
    name: str
    fn: Callable[..., Any]
    summary: str


ALGORITHMS: dict[str, AlgoInfo] = {
    "reinforce": AlgoInfo(
        "reinforce",
        reinforce,
        "REINFORCE: Monte-Carlo returns-to-go, optional baseline and normalisation (Williams 1992)",
    ),
    "vpg": AlgoInfo("vpg", vpg, "VPG: one policy-gradient step per batch on GAE advantages, then critic steps"),
    "a2c": AlgoInfo("a2c", a2c, "A2C: N envs x n_steps, one actor-critic update per segment (Mnih et al. 2016)"),
    "ppo": AlgoInfo("ppo", ppo, "PPO-clip: clipped surrogate, GAE, minibatch passes (Schulman et al. 2017)"),
    "ars": AlgoInfo(
        "ars", ars, "ARS V2-t: antithetic random search, top-b directions, linear policy (Mania et al. 2018)"
    ),
}
