"""Action spaces: how the policy's actions are stored, handed to the env, and masked.

The policy acts in a flat form, the one the rollout stores:

| space | policy | stored per step | to the env |
|---|---|---|---|
| Discrete(n, start) | categorical over n | int64 () | + start |
| Box of any shape | diagonal Gaussian over prod(shape) | float32 (act_dim,), unclipped | reshaped, clipped to the bounds |
| MultiDiscrete(nvec, start) | one categorical per entry, independent | int64 (k,) | reshaped to nvec's shape, + start |
| MultiBinary(n) | one Bernoulli per entry, independent | float32 (n,) of 0/1 | int8, reshaped |

An action mask (``info["action_mask"]`` or a Dict observation's ``"action_mask"``) is a bool per
discrete choice: (n,) for Discrete, the concatenated (sum(nvec),) for MultiDiscrete (SB3-contrib's
convention); True marks an allowed action. Box and MultiBinary actions take no mask.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from pgrl.errors import PgrlError
from pgrl.spaces import MASK_KEY


@dataclass(frozen=True)
class ActionLayout:
    """An action space's flat form (see the module docstring)."""

    space: gym.Space
    shape: tuple[int, ...]  # the stored action of one step: () or (act_dim,)
    dtype: type

    @classmethod
    def of(cls, space: gym.Space) -> ActionLayout:
        """The layout of ``space``; other spaces (Dict, Tuple, Text, ...) are refused naming the space."""
        if isinstance(space, gym.spaces.Discrete):
            return cls(space, (), np.int64)
        if isinstance(space, gym.spaces.Box):
            return cls(space, (int(np.prod(space.shape)),), np.float32)
        if isinstance(space, gym.spaces.MultiDiscrete):
            return cls(space, (int(space.nvec.size),), np.int64)
        if isinstance(space, gym.spaces.MultiBinary):
            return cls(space, (int(np.prod(space.shape)),), np.float32)
        raise PgrlError(
            f"unsupported action space {space}: pgrl takes Discrete, Box, MultiDiscrete and MultiBinary actions "
            f"(not {type(space).__name__}); wrap the env so that it takes one of them"
        )

    @property
    def discrete(self) -> bool:
        return isinstance(self.space, gym.spaces.Discrete)

    @property
    def mask_size(self) -> int | None:
        """The length of an action mask (None: the space takes no mask)."""
        if isinstance(self.space, gym.spaces.Discrete):
            return int(self.space.n)
        if isinstance(self.space, gym.spaces.MultiDiscrete):
            return int(self.space.nvec.sum())
        return None

    def to_env(self, actions: np.ndarray) -> np.ndarray:
        """A batch of stored actions (B, *shape) as the env takes them (see the module docstring)."""
        s = self.space
        if isinstance(s, gym.spaces.Discrete):
            return actions + int(s.start) if s.start else actions
        if isinstance(s, gym.spaces.Box):
            return np.clip(actions.reshape(len(actions), *(s.shape or ())), s.low, s.high)
        if isinstance(s, gym.spaces.MultiDiscrete):
            return (actions.reshape(len(actions), *np.shape(s.nvec)) + s.start).astype(s.dtype)
        return actions.reshape(len(actions), *(s.shape or ())).astype(np.int8)

    # ------------------------------------------------------------------------------------------- masks

    def check_mask(self, mask: Any, batch: int) -> np.ndarray:
        """``mask`` as a bool (batch, mask_size) array, refusing one of the wrong shape with a one-line
        :class:`PgrlError` (a single (mask_size,) mask is taken for a batch of one)."""
        size = self.mask_size
        if size is None:
            raise PgrlError(
                f"the env gives an action mask, but {self.space} actions take none "
                "(masks are for Discrete and MultiDiscrete actions)"
            )
        m = np.asarray(mask)
        if m.shape == (size,) and batch == 1:
            m = m[None]
        if m.shape != (batch, size):
            raise PgrlError(
                f"the action mask has shape {m.shape[1:] if m.ndim == 2 and len(m) == batch else m.shape}; "
                f"{self.space} needs ({size},), one bool per {'action' if self.discrete else 'choice of each entry'}"
            )
        m = m.astype(bool, copy=False)
        if not self.discrete:
            return m
        if not m.any(axis=1).all():
            raise PgrlError(f"the action mask allows no action ({m.astype(int).tolist()[0]}); allow at least one")
        return m


def mask_of(obs: Any, info: Mapping[str, Any] | None, in_obs: bool) -> Any:
    """The action mask that came with ``obs``: its Dict key "action_mask" (``in_obs``), else
    ``info["action_mask"]``, else None."""
    if in_obs:
        return obs[MASK_KEY]
    if info is not None and MASK_KEY in info:
        return info[MASK_KEY]
    return None
