"""Vector envs side by side as one: the copies of K vector envs as columns of one batch.

Used for K seeds trained together (:mod:`pgrl.seeds`, each agent's env its own) and for a vector env split
between this process and a worker process (:mod:`pgrl.envs.split`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np


@runtime_checkable
class AsyncParts(Protocol):
    """A vector env that steps elsewhere: start a step or reset, do other work, then wait for it."""

    def step_async(self, actions: Any) -> None: ...

    def step_wait(self) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]: ...

    def reset_async(self, *, seed: Any = None, options: dict[str, Any] | None = None) -> None: ...

    def reset_wait(self) -> tuple[Any, dict[str, Any]]: ...


def _concat(parts: Sequence[Any]) -> Any:
    """Batches of observations (arrays, or Dict / Tuple of arrays) joined along the copies."""
    if isinstance(parts[0], dict):
        return {key: _concat([p[key] for p in parts]) for key in parts[0]}
    if isinstance(parts[0], tuple):
        return tuple(_concat([p[i] for p in parts]) for i in range(len(parts[0])))
    return np.concatenate([np.asarray(p) for p in parts])


def _merge_infos(infos: Sequence[dict[str, Any]], counts: Sequence[int]) -> dict[str, Any]:
    """Vector-env infos joined along the copies; a key one env lacks is empty (False, 0, None) for its copies."""
    out: dict[str, Any] = {}
    for key in dict.fromkeys(k for info in infos for k in info):
        present = [info.get(key) for info in infos]
        template = next(p for p in present if p is not None)
        if isinstance(template, dict):
            out[key] = _merge_infos([p if p is not None else {} for p in present], counts)
            continue
        template = np.asarray(template)
        parts = [
            np.asarray(p) if p is not None else np.full((n, *template.shape[1:]), None if template.dtype == object else 0,
                                                         dtype=template.dtype)
            for p, n in zip(present, counts, strict=True)
        ]  # fmt: skip
        out[key] = np.concatenate(parts)
    return out


class ConcatVectorEnv(gym.vector.VectorEnv):
    """K vector envs with the same spaces and autoreset mode, stepped as one with their copies side by side.

    An env with :class:`AsyncParts` (one in another process) is sent its actions first and collected last,
    so that it steps while the others do."""

    def __init__(self, envs: Sequence[gym.vector.VectorEnv]) -> None:
        self.envs = list(envs)
        self.counts = [e.num_envs for e in self.envs]
        self.num_envs = sum(self.counts)
        first = self.envs[0]
        self.single_observation_space = first.single_observation_space
        self.single_action_space = first.single_action_space
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, self.num_envs)
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, self.num_envs)
        self.metadata = dict(first.metadata)
        modes = {e.metadata.get("autoreset_mode") for e in self.envs}
        if len(modes) > 1:
            raise ValueError(f"the agents' vector envs autoreset differently ({modes}); they cannot step as one")
        self._splits = np.cumsum(self.counts)[:-1]
        # once: an isinstance check against a runtime Protocol costs ~12 us, too much for every step
        self._elsewhere = [isinstance(env, AsyncParts) for env in self.envs]

    def reset(self, *, seed: Any = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        """``seed``: one per vector env (a list of K; e.g. each agent's, as its single-seed run resets it),
        or one for all."""
        seeds = seed if isinstance(seed, list | tuple) else [seed] * len(self.envs)
        parts = list(zip(self.envs, self._elsewhere, seeds, self._part_options(options), strict=True))
        for env, elsewhere, s, o in parts:  # an env in another process starts first and resets beside the others
            if elsewhere:
                env.reset_async(seed=s, options=o)  # type: ignore[attr-defined]
        results = [env.reset_wait() if elsewhere else env.reset(seed=s, options=o)  # type: ignore[attr-defined]
                   for env, elsewhere, s, o in parts]  # fmt: skip
        return _concat([r[0] for r in results]), _merge_infos([r[1] for r in results], self.counts)

    def _part_options(self, options: dict[str, Any] | None) -> list[dict[str, Any] | None]:
        """Reset options per env: a ``reset_mask`` (one flag per copy) is cut along the copies."""
        if options is None or "reset_mask" not in options:
            return [options] * len(self.envs)
        masks = np.split(np.asarray(options["reset_mask"]), self._splits)
        return [{**options, "reset_mask": m} for m in masks]

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        parts = list(zip(self.envs, self._elsewhere, np.split(np.asarray(actions), self._splits), strict=True))
        for env, elsewhere, a in parts:  # an env in another process starts first and steps beside the others
            if elsewhere:
                env.step_async(a)  # type: ignore[attr-defined]
        results = [env.step_wait() if elsewhere else env.step(a) for env, elsewhere, a in parts]  # type: ignore[attr-defined]
        obs, rewards, terminated, truncated, infos = zip(*results, strict=True)
        return (_concat(obs), np.concatenate(rewards), np.concatenate(terminated), np.concatenate(truncated),
                _merge_infos(infos, self.counts))  # fmt: skip

    def close(self, **kwargs: Any) -> None:
        for env in self.envs:
            env.close(**kwargs)
