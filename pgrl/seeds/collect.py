"""K agents' collection as one: their vector envs side by side as one vector env, their networks as one
stacked network (:mod:`pgrl.seeds.networks`), each with its own observation statistics and reward scaler.

Agent k's env copies are columns k * N ... (k + 1) * N - 1 of the rollout (N copies each). Every agent's
envs are its own (built and seeded as its single-seed run builds them), so nothing one agent's env does
reaches another's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from pgrl.agent import Agent
from pgrl.envs.concat import ConcatVectorEnv
from pgrl.normalize import RewardScaler, RunningMeanStd
from pgrl.rollout import Collector, Rollout
from pgrl.seeds.networks import StackedActorCritic


class StackedStatistics:
    """K agents' observation statistics (:class:`pgrl.normalize.RunningMeanStd`, the same arithmetic) as
    (K, obs_dim) arrays, updated and applied to the (K, N, obs_dim) rows at once; :meth:`copy_to` writes
    agent k's back to its own (before its run saves or evaluates)."""

    def __init__(self, members: Sequence[RunningMeanStd]) -> None:
        self.mean = np.stack([m.mean for m in members])
        self.var = np.stack([m.var for m in members])
        self.count = np.array([m.count for m in members], dtype=np.float64)
        self.clip, self.epsilon = members[0].clip, members[0].epsilon

    def update(self, batch: np.ndarray) -> None:
        """Fold in (K, N, obs_dim): row k into agent k's statistics."""
        b_mean, b_var, b_count = batch.mean(axis=1), batch.var(axis=1), batch.shape[1]
        delta = b_mean - self.mean
        total = (self.count + b_count)[:, None]
        old = self.count[:, None]
        self.mean = self.mean + delta * b_count / total
        self.var = (self.var * old + b_var * b_count + delta**2 * old * b_count / total) / total
        self.count = total[:, 0]

    def normalize(self, x: np.ndarray) -> np.ndarray:
        z = (x - self.mean[:, None]) / np.sqrt(self.var[:, None] + self.epsilon)
        return np.clip(z, -self.clip, self.clip).astype(np.float32)

    def narrow(self, keep: Sequence[int]) -> None:
        self.mean, self.var, self.count = self.mean[list(keep)], self.var[list(keep)], self.count[list(keep)]

    def copy_to(self, k: int, member: RunningMeanStd) -> None:
        member.mean, member.var, member.count = self.mean[k].copy(), self.var[k].copy(), float(self.count[k])


class StackedAgent(Agent):
    """The collector's view of K agents: ``ac`` their stacked network; each agent's rows of a (K * N, ...)
    batch of observations are normalised with its own statistics."""

    def __init__(self, members: Sequence[Agent], ac: StackedActorCritic) -> None:
        first = members[0]
        super().__init__(ac, first.observation_space, first.action_space, first.obs_rms, first.config)
        self.members = list(members)
        stats = [m.obs_rms for m in members]
        self.stats = StackedStatistics(stats) if self._single_box and all(s is not None for s in stats) else None  # type: ignore[arg-type]

    def obs_tensor(self, obs: Any, update_stats: bool = False) -> Any:
        if self.obs_rms is None:
            return self.members[0].obs_tensor(obs)
        if self.stats is not None:
            rows = np.asarray(obs).reshape(len(self.members), len(obs) // len(self.members), -1)
            if update_stats:
                self.stats.update(rows)
            return torch.from_numpy(self.stats.normalize(rows).reshape(len(obs), -1))
        # Dict / Tuple observations: each agent's rows through its own agent
        parts = _split(obs, len(self.members))
        return torch.cat([m.obs_tensor(x, update_stats) for m, x in zip(self.members, parts, strict=True)])

    def narrow(self, keep: Sequence[int]) -> None:
        """Keep only the agents ``keep`` (in that order): their members, network slices and statistics."""
        self.members = [self.members[k] for k in keep]
        self.ac.narrow(keep)
        if self.stats is not None:
            self.stats.narrow(keep)

    def sync(self, k: int) -> None:
        """Agent k's own network and statistics set to the stacked ones' slice k."""
        self.ac.copy_to(k, self.members[k].ac)
        if self.stats is not None and self.members[k].obs_rms is not None:
            self.stats.copy_to(k, self.members[k].obs_rms)  # type: ignore[arg-type]

    def value(self, obs: Any) -> np.ndarray:
        return self.ac.value(self.obs_tensor(obs))  # type: ignore[no-any-return]


def _split(obs: Any, k: int) -> list[Any]:
    """A batch of observations (arrays, or Dict / Tuple of arrays) cut into k equal parts along the copies."""
    if isinstance(obs, dict):
        parts = {key: _split(v, k) for key, v in obs.items()}
        return [{key: parts[key][i] for key in obs} for i in range(k)]
    if isinstance(obs, tuple):
        cols = [_split(v, k) for v in obs]
        return [tuple(c[i] for c in cols) for i in range(k)]
    return np.split(np.asarray(obs), k)


class RewardScalers:
    """Each agent's :class:`pgrl.normalize.RewardScaler` over its own copies (the collector's ``reward_scaler``)."""

    def __init__(self, scalers: Sequence[RewardScaler]) -> None:
        self.scalers = list(scalers)

    def __call__(self, rewards: np.ndarray, done: np.ndarray, counted: np.ndarray | None = None) -> np.ndarray:
        K = len(self.scalers)
        counts = np.split(counted, K) if counted is not None else [None] * K
        parts = zip(self.scalers, np.split(rewards, K), np.split(done, K), counts, strict=True)
        return np.concatenate([s(r, d, c) for s, r, d, c in parts])


class StackedCollector(Collector):
    """:class:`pgrl.rollout.Collector` of K agents, keeping each agent's finished episodes apart."""

    def __init__(self, envs: ConcatVectorEnv, agent: StackedAgent, steps_per_env: int, seeds: list[int],
                 reward_scaler: RewardScalers | None) -> None:  # fmt: skip
        super().__init__(envs, agent, steps_per_env, seeds, reward_scaler)  # type: ignore[arg-type]
        self.agents = len(agent.members)
        self.copies = self.N // self.agents
        self.episodes: list[tuple[list[float], list[int]]] = []

    def collect(self) -> Rollout:
        self.episodes = [([], []) for _ in range(self.agents)]
        rollout = super().collect()
        rollout.agents = self.agents
        return rollout

    def _episodes_ended(self, t: int, term: np.ndarray, trunc: np.ndarray, info: dict[str, Any],
                        ep_returns: list[float], ep_lengths: list[int]) -> None:  # fmt: skip
        for i in np.flatnonzero(term | trunc):
            returns, lengths = self.episodes[i // self.copies]
            returns.append(float(self.ep_return[i]))
            lengths.append(int(self.ep_length[i]))
        super()._episodes_ended(t, term, trunc, info, ep_returns, ep_lengths)

    def narrow(self, keep: Sequence[int], envs: ConcatVectorEnv) -> None:
        """Keep only the agents ``keep`` (in that order), stepping ``envs`` (theirs) from where they are."""
        rows = np.concatenate([np.arange(k * self.copies, (k + 1) * self.copies) for k in keep])
        self.obs = self._rows(rows)  # (indices in the order of keep)
        self.envs, self.agents, self.N = envs, len(keep), len(rows)
        self.ep_return, self.ep_length, self.resetting = (
            self.ep_return[rows],
            self.ep_length[rows],
            self.resetting[rows],
        )
        if self.mask is not None:
            self.mask = self.mask[torch.from_numpy(rows)]
        if isinstance(self.reward_scaler, RewardScalers):
            self.reward_scaler = RewardScalers([self.reward_scaler.scalers[k] for k in keep])
        self._buffers = self._allocate(self.T, self.N)

    def _values_of(self, obs: Any, which: np.ndarray) -> np.ndarray:
        # The stacked network takes every agent's rows: the other copies' current observations fill in.
        full = np.array(self.obs, copy=True)
        full[which] = obs
        return self.agent.value(full)[which]
