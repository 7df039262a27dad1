"""K agents' deterministic evaluations as one (:func:`pgrl.evaluate.evaluate`'s episodes, env copies, seeds
and quotas for each agent): their evaluation envs side by side, their actions from the stacked network (pgrl's
MLPs as numpy, :func:`pgrl.inference.stacked`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from pgrl import inference
from pgrl.actions import mask_of
from pgrl.agent import Agent
from pgrl.envs.limits import env_label, warn_cut
from pgrl.evaluate import EVAL_SEED_OFFSET, eval_copies, eval_envs, quotas, run_quotas
from pgrl.networks import MLPActorCritic
from pgrl.seeds.collect import StackedAgent
from pgrl.seeds.joined import side_by_side
from pgrl.seeds.networks import StackedActorCritic
from pgrl.training.epoch import Evaluations


def evaluate_together(
    members: Sequence[Agent], evaluations: Sequence[Evaluations]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``evaluations[k].run(members[k])`` for every k, all in one loop: the same episodes, as each agent's own
    evaluation would run them (to float rounding of the network), with one stacked network for all."""
    agents = StackedAgent(members, StackedActorCritic([m.ac for m in members], [torch.Generator() for _ in members]))
    first, K = evaluations[0], len(members)
    n = eval_copies(first.env, first.episodes)
    seeds = [ev.seed + EVAL_SEED_OFFSET for ev in evaluations]
    envs = side_by_side([eval_envs(first.env, n, s, first.max_ep_len) for s in seeds])

    modes = [m.ac.numpy_mode(n) if isinstance(m.ac, MLPActorCritic) else None for m in members]
    fast = inference.stacked(modes) if all(mode is not None for mode in modes) else None  # type: ignore[arg-type]

    def act(obs: Any, info: dict[str, Any]) -> np.ndarray:
        x = agents.obs_tensor(obs).reshape(K, n, -1)
        mask = mask_of(obs, info, agents.layout.mask_in_obs)
        if fast is not None:  # the members' MLPs as numpy (pgrl.inference), as a single agent's evaluation
            a = fast(x, None if mask is None else agents.mask_tensor(mask, K * n).reshape(K, n, -1))
            return agents.to_env_action(a.reshape(K * n, *a.shape[2:]))
        with torch.inference_mode():
            if mask is None:
                a = agents.ac.pi.mode(x)
            else:
                a = agents.ac.pi.mode(x, agents.mask_tensor(mask, K * n).reshape(K, n, -1))  # type: ignore[call-arg]
        return agents.to_env_action(a.reshape(K * n, *a.shape[2:]).numpy())

    try:
        returns, lengths, cut = run_quotas(envs, act, np.tile(quotas(first.episodes, n), K), seeds)
    finally:
        envs.close()
    warn_cut(cut, first.episodes * K, env_label(first.env))
    mine = [slice(k * n, (k + 1) * n) for k in range(K)]
    return [
        (np.array([x for rs in returns[m] for x in rs]), np.array([x for ls in lengths[m] for x in ls])) for m in mine
    ]
