"""An agent: the actor-critic network with what it needs to act on raw env observations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from pgrl.normalize import RunningMeanStd


class Agent:
    """A policy ready to act in a plain gymnasium loop.

    Holds the actor-critic ``ac`` (see :mod:`pgrl.networks` for the protocol), the env's spaces, and
    the observation-normalisation statistics when training used them, so that a reloaded agent sees
    its inputs exactly as during training.

    Example::

        obs, _ = env.reset(seed=0)
        while True:
            obs, r, terminated, truncated, _ = env.step(agent.act(obs, deterministic=True))
            if terminated or truncated:
                break
    """

    def __init__(
        self,
        ac: nn.Module,
        observation_space: gym.Space,
        action_space: gym.Space,
        obs_rms: RunningMeanStd | None = None,
        config: dict[str, Any] | None = None,
    ) -> None:
        # Any: a user module follows the protocol of pgrl.networks, which torch types cannot express.
        self.ac: Any = ac
        self.observation_space = observation_space
        self.action_space = action_space
        self.obs_rms = obs_rms
        self.config = config or {}
        self.run_dir: Path | None = None
        """The run directory the agent was trained in or loaded from (None for an agent built by hand)."""
        self._obs_shape = tuple(observation_space.shape or ())
        self._discrete = isinstance(action_space, gym.spaces.Discrete)
        if isinstance(action_space, gym.spaces.Box):
            self._low, self._high = action_space.low, action_space.high

    def obs_tensor(self, obs: np.ndarray, update_stats: bool = False) -> torch.Tensor:
        """A batch of raw observations (B, *obs_shape) as the float32 tensor (B, obs_dim) the networks take,
        normalised when the agent normalises (and folded into the statistics if ``update_stats``)."""
        obs = np.asarray(obs).reshape(len(obs), -1)
        if self.obs_rms is not None:
            if update_stats:
                self.obs_rms.update(obs)
            obs = self.obs_rms.normalize(obs)
        return torch.from_numpy(np.ascontiguousarray(obs, dtype=np.float32))

    def to_env_action(self, actions: np.ndarray) -> np.ndarray:
        """Actions as the env takes them: Box actions clipped to the bounds (the buffer keeps them unclipped)."""
        if self._discrete:
            return actions
        return np.clip(actions, self._low, self._high)

    def act(self, obs: np.ndarray, deterministic: bool = False) -> Any:
        """Action for one observation (returns an int or a 1-D array) or a batch (B, *obs_shape) -> (B, ...).

        ``deterministic`` takes the mode of the policy: argmax for discrete, the mean for Gaussian.
        """
        obs = np.asarray(obs)
        single = obs.shape == self._obs_shape
        x = self.obs_tensor(obs[None] if single else obs)
        with torch.no_grad():
            if deterministic:
                dist, _ = self.ac.pi(x)
                a = dist.mode.numpy()
            else:
                a = np.asarray(self.ac.act(x))
        a = self.to_env_action(a)
        if single:
            return int(a[0]) if self._discrete else a[0]
        return a

    def value(self, obs: np.ndarray) -> np.ndarray:
        """Critic's V for a batch of raw observations, (B,)."""
        with torch.inference_mode():
            return self.ac.v(self.obs_tensor(obs)).numpy()
