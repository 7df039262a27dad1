"""K agents' deterministic evaluations as one (:func:`pgrl.evaluate.evaluate`'s episodes, env copies, seeds
and quotas for each agent): their evaluation envs side by side, their actions from the stacked network."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from pgrl.actions import mask_of
from pgrl.agent import Agent
from pgrl.envs.limits import env_label, warn_cut
from pgrl.evaluate import EVAL_SEED_OFFSET, eval_copies, eval_envs, quotas, run_quotas
from pgrl.seeds.collect import ConcatVectorEnv, StackedAgent
from pgrl.seeds.networks import StackedActorCritic
from pgrl.training.epoch import Evaluations


def evaluate_together(
    members: Sequence[Agent], evaluations: Sequence[Evaluations]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``evaluations[k].run(members[k])`` for every k, all in one loop: the same episodes, as each agent's own
    evaluation would run them (to float rounding of the network), with one stacked network for all."""
    agents = StackedAgent(members, StackedActorCritic([m.ac for m in members], [torch.Generator() for _ in members]))
    results = _evaluate(agents, evaluations)
    return [r for r in results if r is not None]


def _evaluate(
    agents: StackedAgent, evaluations: Sequence[Evaluations | None]
) -> list[tuple[np.ndarray, np.ndarray] | None]:
    chosen = [k for k, ev in enumerate(evaluations) if ev is not None]
    first = evaluations[chosen[0]]
    assert first is not None
    n = eval_copies(first.env, first.episodes)
    seeds = [ev.seed + EVAL_SEED_OFFSET for ev in evaluations if ev is not None]
    envs = ConcatVectorEnv([eval_envs(first.env, n, s, first.max_ep_len) for s in seeds])
    K, rows = agents.ac.agents, np.asarray(chosen)

    def act(obs: Any, info: dict[str, Any]) -> np.ndarray:
        full = np.zeros((K, n, *np.shape(obs)[1:]), dtype=np.asarray(obs).dtype)  # the others' rows: unused
        full[rows] = np.asarray(obs).reshape(len(chosen), n, *np.shape(obs)[1:])
        x = agents.obs_tensor(full.reshape(K * n, *full.shape[2:])).reshape(K, n, -1)
        mask = None if agents.layout.mask_in_obs else mask_of(None, info, False)
        with torch.inference_mode():
            if mask is None:
                a = agents.ac.pi.mode(x)
            else:
                full_mask = torch.ones((K, n, agents.actions.mask_size or 0), dtype=torch.bool)
                full_mask[rows] = agents.mask_tensor(mask, len(chosen) * n).reshape(len(chosen), n, -1)
                a = agents.ac.pi.mode(x, full_mask)  # type: ignore[call-arg]
        return agents.to_env_action(a[rows].reshape(len(chosen) * n, *a.shape[2:]).numpy())

    try:
        returns, lengths, cut = run_quotas(envs, act, np.tile(quotas(first.episodes, n), len(chosen)), seeds)
    finally:
        envs.close()
    warn_cut(cut, first.episodes * len(chosen), env_label(first.env))
    out: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(evaluations)
    for j, k in enumerate(chosen):
        mine = slice(j * n, (j + 1) * n)
        out[k] = (np.array([x for rs in returns[mine] for x in rs]), np.array([x for ls in lengths[mine] for x in ls]))
    return out
