"""Collecting experience: T steps in each of N envs into preallocated (T, N) arrays.

The hot loop does, per step, one batched forward pass for all N envs, one vector-env step, and a few
numpy slice assignments. There is no per-env Python loop; the only extra work happens on steps where
an episode was truncated, to evaluate V(true final observation) for the bootstrap.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np
import torch

from pgrl.agent import Agent


@dataclass
class Rollout:
    """One epoch of experience, time-major (T, N).

    ``obs`` are the network inputs (normalised when the agent normalises). ``next_values[t]`` is V of the
    observation that followed step t: the true final observation on a truncation, and V of the
    observation where collection stopped on the last row. Actions are stored as sampled (unclipped).
    """

    obs: np.ndarray  # (T, N, obs_dim) float32
    actions: np.ndarray  # (T, N) int64 or (T, N, act_dim) float32
    logp: np.ndarray  # (T, N) float32
    values: np.ndarray  # (T, N) float32
    next_values: np.ndarray  # (T, N) float32
    rewards: np.ndarray  # (T, N) float32
    terminated: np.ndarray  # (T, N) bool
    truncated: np.ndarray  # (T, N) bool
    episode_returns: list[float] = field(default_factory=list)  # episodes that finished this epoch
    episode_lengths: list[int] = field(default_factory=list)

    @property
    def num_steps(self) -> int:
        return int(self.rewards.size)


class Collector:
    """Steps a vector env with an agent, keeping the current observations and episode tallies between epochs.

    Args:
        envs: a gymnasium vector env in SAME_STEP autoreset mode (see :func:`pgrl.envs.make_vec_env`).
        agent: the agent whose ``ac.step`` picks actions.
        steps_per_env: T, the steps collected in each env per call to :meth:`collect`.
        seed: seeds the first reset (env i gets seed + i).
    """

    def __init__(self, envs: gym.vector.VectorEnv, agent: Agent, steps_per_env: int, seed: int | None = None) -> None:
        self.envs = envs
        self.agent = agent
        self.T = steps_per_env
        self.N = envs.num_envs
        self.obs, _ = envs.reset(seed=seed)
        self.ep_return = np.zeros(self.N, dtype=np.float64)
        self.ep_length = np.zeros(self.N, dtype=np.int64)
        obs_dim = int(np.prod(envs.single_observation_space.shape or ()))
        act_space = envs.single_action_space
        discrete = isinstance(act_space, gym.spaces.Discrete)
        act_shape = () if discrete else tuple(act_space.shape or ())
        T, N = self.T, self.N
        self._buffers = Rollout(
            obs=np.zeros((T, N, obs_dim), dtype=np.float32),
            actions=np.zeros((T, N, *act_shape), dtype=np.int64 if discrete else np.float32),
            logp=np.zeros((T, N), dtype=np.float32),
            values=np.zeros((T, N), dtype=np.float32),
            next_values=np.zeros((T, N), dtype=np.float32),
            rewards=np.zeros((T, N), dtype=np.float32),
            terminated=np.zeros((T, N), dtype=bool),
            truncated=np.zeros((T, N), dtype=bool),
        )

    def collect(self) -> Rollout:
        """Run T steps in every env; the arrays are reused between calls (copy what you keep)."""
        buf = self._buffers
        agent, envs = self.agent, self.envs
        ep_returns: list[float] = []
        ep_lengths: list[int] = []
        step = agent.ac.step
        for t in range(self.T):
            x = agent.obs_tensor(self.obs, update_stats=agent.obs_rms is not None)
            a, v, logp = step(x)
            buf.obs[t] = x.numpy()
            buf.actions[t] = a
            buf.values[t] = v
            buf.logp[t] = logp
            self.obs, r, term, trunc, info = envs.step(agent.to_env_action(a))
            buf.rewards[t] = r
            buf.terminated[t] = term
            buf.truncated[t] = trunc
            self.ep_return += r
            self.ep_length += 1
            done = term | trunc
            if done.any():
                buf.next_values[t, term] = 0.0  # a true terminal state has no future
                # Bootstrap a truncated episode from V(true final obs); the reset obs is in self.obs.
                cut = trunc & ~term
                if cut.any():
                    final = np.stack(info["final_obs"][cut])
                    buf.next_values[t, cut] = agent.value(final)
                ep_returns.extend(self.ep_return[done].tolist())
                ep_lengths.extend(self.ep_length[done].tolist())
                self.ep_return[done] = 0.0
                self.ep_length[done] = 0
        # next_values[t] = values[t+1] except where an episode ended at t (set above); the last row bootstraps from the obs where collection stopped.
        ended = buf.terminated | buf.truncated
        buf.next_values[:-1] = np.where(ended[:-1], buf.next_values[:-1], buf.values[1:])
        last_v = agent.value(self.obs)
        buf.next_values[-1] = np.where(ended[-1], buf.next_values[-1], last_v)
        buf.episode_returns = ep_returns
        buf.episode_lengths = ep_lengths
        return buf


def flatten_time_env(x: np.ndarray) -> torch.Tensor:
    """(T, N, ...) numpy -> (T*N, ...) torch tensor sharing memory, for minibatching."""
    return torch.from_numpy(x.reshape(-1, *x.shape[2:]))
