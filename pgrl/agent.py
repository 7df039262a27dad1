"""An agent: the actor-critic network with what it needs to act on raw env observations."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from pgrl.actions import ActionLayout, mask_of
from pgrl.networks import MLPActorCritic
from pgrl.normalize import RunningMeanStd
from pgrl.spaces import ObsLayout


class Agent:
    """A policy ready to act in a plain gymnasium loop.

    Holds the actor-critic ``ac`` (see :mod:`pgrl.networks` for the protocol), the env's spaces, and
    the observation-normalisation statistics when training used them, so that a reloaded agent sees
    its inputs exactly as during training.

    Example::

        obs, info = env.reset(seed=0)
        while True:
            action = agent.act(obs, deterministic=True, mask=info.get("action_mask"))
            obs, r, terminated, truncated, info = env.step(action)
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
        self.layout = ObsLayout.of(observation_space)
        self.actions = ActionLayout.of(action_space)
        self._obs_shape = tuple(observation_space.shape or ())
        self._single_box = self.layout.single_box
        self._discrete = isinstance(action_space, gym.spaces.Discrete)
        # the actions the env takes are the stored ones (a Discrete space starting at 0) or need converting
        self._as_stored = self._discrete and not action_space.start  # type: ignore[attr-defined]
        self._box_1d = isinstance(action_space, gym.spaces.Box) and len(action_space.shape) == 1
        if self._box_1d:
            self._low, self._high = action_space.low, action_space.high  # type: ignore[attr-defined]

    def obs_tensor(self, obs: Any, update_stats: bool = False) -> Any:
        """A batch of raw observations (B, *obs_shape), or the Dict / Tuple of batched parts a vector env
        gives, as the network's input (:mod:`pgrl.spaces`): a float32 tensor (B, obs_dim), or a dict of
        tensors with images. Box parts are normalised when the agent normalises (and folded into the
        statistics if ``update_stats``)."""
        if self._single_box:
            obs = np.asarray(obs).reshape(len(obs), -1)
            if self.obs_rms is not None:
                if update_stats:
                    self.obs_rms.update(obs)
                obs = self.obs_rms.normalize(obs)
            return torch.from_numpy(np.ascontiguousarray(obs, dtype=np.float32))
        rms = self.obs_rms if self.obs_rms is not None and self.layout.box_dim else None
        if rms is not None and update_stats:
            rms.update(self.layout.box_values(obs))
        return self.layout.network_input(obs, rms.normalize if rms is not None else None)

    def to_env_action(self, actions: np.ndarray) -> np.ndarray:
        """Actions as the env takes them (:mod:`pgrl.actions`): Box actions clipped to the bounds (the buffer
        keeps them unclipped) and shaped as the space; Discrete and MultiDiscrete from their start."""
        if self._as_stored:
            return actions
        if self._box_1d:
            return np.clip(actions, self._low, self._high)
        return self.actions.to_env(actions)

    def mask_tensor(self, mask: Any, batch: int) -> torch.Tensor:
        """An action mask (the env's (n,) or (B, n) bools) as the (B, n) bool tensor the network takes;
        a mask of the wrong shape is refused with a one-line :class:`pgrl.PgrlError`."""
        return torch.from_numpy(self.actions.check_mask(mask, batch))

    def act(self, obs: Any, deterministic: bool = False, mask: Any = None) -> Any:
        """Action for one observation (returns an int or an array) or a batch (B, *obs_shape) -> (B, ...).

        ``deterministic`` takes the mode of the policy: argmax for discrete, the mean for Gaussian.
        ``mask``: the env's action mask (``info["action_mask"]``), when it gives one; a Dict observation's
        ``"action_mask"`` is taken by itself. Masked actions are never taken. An observation that does not
        fit the observation space (shape, dtype, Dict keys) is refused with a one-line :class:`pgrl.PgrlError`.
        """
        if self._single_box:
            obs = np.asarray(obs)
            single = obs.shape == self._obs_shape
            if not single or obs.dtype.kind not in "biuf":
                self.layout.batch(obs)  # a batch passes; anything else is refused, naming the shapes
            batch = obs[None] if single else obs
        else:
            batch, single = self.layout.batch(obs)
        x = self.obs_tensor(batch)
        mask = mask_of(batch, None, True) if self.layout.mask_in_obs else mask
        kwargs = {} if mask is None else {"mask": self.mask_tensor(mask, _batch_size(x))}
        with torch.no_grad():
            if deterministic:
                dist, _ = self.ac.pi(x, **kwargs)
                a = dist.mode.numpy()
            else:
                a = np.asarray(self.ac.act(x, **kwargs))
        a = self.to_env_action(a)
        if single:
            return int(a[0]) if self._discrete else a[0]
        return a

    def batch_policy(self, batch: int, deterministic: bool = True) -> Callable[[Any, Any], Any]:
        """``act(obs, mask)`` for batches of ``batch`` raw observations from a vector env (an evaluation's):
        :meth:`act`'s actions, pgrl's own MLP run as numpy with a copy of the current weights for deterministic
        actions (:meth:`pgrl.networks.MLPActorCritic.numpy_mode`; use it while the weights stay as they are)."""
        fast = (
            self.ac.numpy_mode(batch)
            if deterministic and self._single_box and isinstance(self.ac, MLPActorCritic)
            else None
        )
        if fast is None:
            return lambda obs, mask=None: self.act(obs, deterministic=deterministic, mask=mask)  # type: ignore[misc]

        def act(obs: Any, mask: Any = None) -> Any:
            x = self.obs_tensor(obs)
            return self.to_env_action(fast(x, None if mask is None else self.mask_tensor(mask, len(x))))

        return act

    def value(self, obs: Any) -> np.ndarray:
        """Critic's V for a batch of raw observations, (B,)."""
        with torch.inference_mode():
            return self.ac.v(self.obs_tensor(obs)).numpy()


def _batch_size(x: Any) -> int:
    return len(x) if isinstance(x, torch.Tensor) else len(next(iter(x.values())))
