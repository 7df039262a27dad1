"""A run's collector: made on the first collection, with the reward scaler when the configuration asks
for one, continuing a resumed run's envs and statistics; and the running statistics that data-parallel
processes merge after each collection."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import gymnasium as gym

from pgrl import distributed
from pgrl.agent import Agent
from pgrl.config import RolloutConfig
from pgrl.normalize import RewardScaler, RunningMeanStd
from pgrl.rollout import Collector
from pgrl.training.resume import Resumed


def make_collector(
    cfg: RolloutConfig, envs: gym.vector.VectorEnv, agent: Agent, seed: int, resumed: Resumed | None
) -> tuple[Collector, bool]:
    """The collector of a run's ``envs`` (T = the config's ``segment_steps``), its rewards scaled when
    ``cfg.norm_reward``; resuming, the checkpoint's envs and statistics come back. Returns (collector,
    whether the envs continue where they stopped: False when they start new episodes)."""
    scaler = RewardScaler(envs.num_envs, cfg.gamma, cfg.reward_clip) if cfg.norm_reward else None
    collector = Collector(envs, agent, cfg.segment_steps(distributed.world_size()), seed, reward_scaler=scaler)
    restored = resumed is None or resumed.restore_collector(collector, seed)
    if scaler is not None:  # every process scales alike from the start (the checkpoint holds rank 0's)
        distributed.broadcast_running_stats(scaler.rms)
    return collector, restored


def running_statistics(agent: Agent, collector: Collector) -> list[RunningMeanStd]:
    """The statistics a collection updates: the observations' (norm_obs) and the discounted return's (norm_reward)."""
    scaler = collector.reward_scaler
    return [rms for rms in (agent.obs_rms, scaler.rms if scaler is not None else None) if rms is not None]


@contextlib.contextmanager
def merged_statistics(agent: Agent, collector: Collector) -> Iterator[None]:
    """Around a collection: data-parallel, every process then folds in what every process saw, so that all of
    them normalise and scale alike (a no-op in one process)."""
    stats = running_statistics(agent, collector)
    before = [distributed.running_stats_snapshot(rms) for rms in stats]
    yield
    for rms, snapshot in zip(stats, before, strict=True):
        if snapshot is not None:
            distributed.sync_running_stats(rms, snapshot)
