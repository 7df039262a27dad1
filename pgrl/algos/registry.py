"""The algorithms by name, for the CLI, grids and ``pgrl algos``: each one's function and config class."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pgrl.algos.a2c import A2CConfig, a2c
from pgrl.algos.ars import ARSConfig, ars
from pgrl.algos.ppo import PPOConfig, ppo
from pgrl.algos.reinforce import REINFORCEConfig, reinforce
from pgrl.algos.vpg import VPGConfig, vpg
from pgrl.config import Config


@dataclass(frozen=True)
class AlgoInfo:
    name: str
    fn: Callable[..., Any]
    config: type[Config]
    summary: str


ALGORITHMS: dict[str, AlgoInfo] = {
    info.name: info
    for info in [
        AlgoInfo("reinforce", reinforce, REINFORCEConfig,
                 "REINFORCE: Monte-Carlo returns-to-go, optional baseline and normalisation (Williams 1992)"),
        AlgoInfo("vpg", vpg, VPGConfig, "VPG: one policy-gradient step per batch on GAE advantages, then critic steps"),
        AlgoInfo("a2c", a2c, A2CConfig, "A2C: N envs x n_steps, one actor-critic update per segment (Mnih et al. 2016)"),
        AlgoInfo("ppo", ppo, PPOConfig, "PPO-clip: clipped surrogate, GAE, minibatch passes (Schulman et al. 2017)"),
        AlgoInfo("ars", ars, ARSConfig,
                 "ARS V2-t: antithetic random search, top-b directions, linear policy (Mania et al. 2018)"),
    ]
}  # fmt: skip
