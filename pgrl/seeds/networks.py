"""K of pgrl's MLP actor-critics as one batched network: each layer's K weight matrices stacked into one
(K, out, in) tensor, so one batched matrix product (``torch.baddbmm``) computes every agent's layer.

Inputs are (K, B, obs_dim), agent k's rows in ``x[k]``; outputs are (K, B, ...). The gradient of the sum of
the K agents' losses with respect to slice k of a stacked parameter is agent k's own gradient, since no
computation mixes slices. The stacked parameters are listed in the order of the members' own
(``ac.parameters()``, ``ac.pi.parameters()``, ``ac.v.parameters()``), so that stacked parameter i, slice k,
is parameter i of member k (:meth:`StackedActorCritic.copy_to`, and the optimizer states in checkpoints).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from pgrl.distributions import entropy_of_log_probs, masked
from pgrl.networks import LAYER_FUNCTIONS, MLPActorCritic, MLPCategoricalActor, MLPCritic, MLPGaussianActor


def why_not_stackable(ac: Any) -> str | None:
    """Why K copies of this network cannot be computed as one batched network (None: they can)."""
    if type(ac) is not MLPActorCritic:
        return f"the network is {type(ac).__name__}, and only pgrl's MLPActorCritic is stacked"
    if not isinstance(ac.pi, MLPCategoricalActor | MLPGaussianActor):
        return f"its actor is {type(ac.pi).__name__}; stacked actors are categorical (Discrete) and Gaussian (Box)"
    if ac.pi.encoder is not None or ac.v.encoder is not None:
        return "the observation has images (a CNN encoder); stacked networks take flat observations"
    return None


class StackedMLP(nn.Module):
    """K copies of an MLP (an ``nn.Sequential`` of Linear layers and elementwise activations)."""

    def __init__(self, nets: Sequence[nn.Sequential]) -> None:
        super().__init__()
        self.layers: list[tuple[nn.Parameter, nn.Parameter | None] | Callable[[torch.Tensor], torch.Tensor]] = []
        for i, layer in enumerate(nets[0]):
            if isinstance(layer, nn.Linear):
                linears: list[nn.Linear] = [net[i] for net in nets]  # type: ignore[misc]
                weight = nn.Parameter(torch.stack([lin.weight.detach() for lin in linears]))  # (K, out, in)
                self.register_parameter(f"w{i}", weight)
                bias = None
                if layer.bias is not None:
                    bias = nn.Parameter(torch.stack([lin.bias.detach() for lin in linears]).unsqueeze(1))
                    self.register_parameter(f"b{i}", bias)  # (K, 1, out)
                self.layers.append((weight, bias))
            else:
                self.add_module(f"act{i}", layer)
                plain = type(layer) in LAYER_FUNCTIONS and not getattr(layer, "inplace", False)
                self.layers.append(LAYER_FUNCTIONS[type(layer)] if plain else layer)  # type: ignore[arg-type]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(K, B, in) -> (K, B, out)."""
        for layer in self.layers:
            if isinstance(layer, tuple):
                weight, bias = layer
                x = (
                    torch.bmm(x, weight.transpose(1, 2))
                    if bias is None
                    else torch.baddbmm(bias, x, weight.transpose(1, 2))
                )
            else:
                x = layer(x)
        return x


def agent_noise(generators: Sequence[torch.Generator], shape: torch.Size, gaussian: bool) -> torch.Tensor:
    """(K, *shape[1:]) noise, row k drawn from agent k's own generator: what agent k samples depends on its
    seed only, not on which seeds train beside it."""
    draw = torch.randn if gaussian else torch.rand
    return torch.stack([draw(shape[1:], generator=g) for g in generators])


class StackedCategoricalActor(nn.Module):
    """K categorical actors: log-probs and samples (K, B), logits (K, B, n)."""

    def __init__(self, actors: Sequence[MLPCategoricalActor], generators: Sequence[torch.Generator]) -> None:
        super().__init__()
        self.logits_net = StackedMLP([a.logits_net for a in actors])
        self.generators = list(generators)

    def sample(self, obs: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        log_probs = torch.log_softmax(masked(self.logits_net(obs), mask), dim=-1)
        uniform = agent_noise(self.generators, log_probs.shape, gaussian=False)
        a = torch.argmax(log_probs - torch.log(-torch.log(uniform.clamp_(min=1e-20))), dim=-1)  # Gumbel-max
        return a, log_probs.gather(-1, a.unsqueeze(-1)).squeeze(-1)

    def mode(self, obs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return masked(self.logits_net(obs), mask).argmax(-1)

    def log_prob_entropy(
        self, obs: torch.Tensor, act: torch.Tensor, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        log_probs = torch.log_softmax(masked(self.logits_net(obs), mask), dim=-1)
        return log_probs.gather(-1, act.long().unsqueeze(-1)).squeeze(-1), entropy_of_log_probs(log_probs)


class StackedGaussianActor(nn.Module):
    """K diagonal Gaussian actors with state-independent log-stds (K, act_dim)."""

    def __init__(self, actors: Sequence[MLPGaussianActor], generators: Sequence[torch.Generator]) -> None:
        super().__init__()
        self.mu_net = StackedMLP([a.mu_net for a in actors])
        self.log_std = nn.Parameter(torch.stack([a.log_std.detach() for a in actors]))
        self.generators = list(generators)

    def _log_prob(self, z: torch.Tensor) -> torch.Tensor:
        k = z.shape[-1]
        return -0.5 * (z**2).sum(-1) - self.log_std.sum(-1, keepdim=True) - 0.5 * math.log(2 * math.pi) * k

    def sample(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu = self.mu_net(obs)
        noise = agent_noise(self.generators, mu.shape, gaussian=True)
        return mu + torch.exp(self.log_std).unsqueeze(1) * noise, self._log_prob(noise)

    def mode(self, obs: torch.Tensor) -> torch.Tensor:
        return self.mu_net(obs)  # type: ignore[no-any-return]

    def log_prob_entropy(self, obs: torch.Tensor, act: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu = self.mu_net(obs)
        logp = self._log_prob((act - mu) * torch.exp(-self.log_std).unsqueeze(1))
        k = mu.shape[-1]
        entropy = self.log_std.sum(-1, keepdim=True) + 0.5 * k * (1.0 + math.log(2 * math.pi))
        return logp, entropy.expand(mu.shape[:2])


class StackedCritic(nn.Module):
    """K critics: V (K, B)."""

    def __init__(self, critics: Sequence[MLPCritic]) -> None:
        super().__init__()
        self.v_net = StackedMLP([c.v_net for c in critics])

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.v_net(obs).squeeze(-1)  # type: ignore[no-any-return]


class StackedActorCritic(nn.Module):
    """K MLP actor-critics (``members``, alike but for their parameters) computed as one network; agent k
    samples its actions with ``generators[k]``.

    ``pi`` and ``v`` take (K, B, obs_dim); :meth:`step` and :meth:`act` take the collector's (K * B, obs_dim)
    rows, agent k's being rows k * B ... (k + 1) * B - 1, and return (K * B, ...) arrays.
    """

    def __init__(self, members: Sequence[MLPActorCritic], generators: Sequence[torch.Generator]) -> None:
        super().__init__()
        self.agents = len(members)
        actors = [m.pi for m in members]
        self.pi: StackedCategoricalActor | StackedGaussianActor = (
            StackedCategoricalActor(actors, generators)  # type: ignore[arg-type]
            if isinstance(actors[0], MLPCategoricalActor)
            else StackedGaussianActor(actors, generators)  # type: ignore[arg-type]
        )
        self.v = StackedCritic([m.v for m in members])
        self.masked = members[0].masked

    def _rows(self, obs: torch.Tensor) -> torch.Tensor:
        return obs.reshape(self.agents, -1, *obs.shape[1:])

    @torch.inference_mode()
    def step(self, obs: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x = self._rows(obs)
        a, logp = self.pi.sample(x) if mask is None else self.pi.sample(x, self._rows(mask))  # type: ignore[call-arg]
        flat = (self.agents * x.shape[1],)
        return a.reshape(*flat, *a.shape[2:]).numpy(), self.v(x).reshape(flat).numpy(), logp.reshape(flat).numpy()

    @torch.inference_mode()
    def value(self, obs: torch.Tensor) -> np.ndarray:
        """V of the collector's (K * B, obs_dim) rows, (K * B,)."""
        return self.v(self._rows(obs)).reshape(-1).numpy()

    @torch.no_grad()
    def narrow(self, keep: Sequence[int]) -> None:
        """Keep only the agents ``keep`` (in that order), e.g. when the others have stopped."""
        index = torch.tensor(list(keep))
        for p in self.parameters():
            p.data = p.data[index].clone()
        self.agents = len(keep)
        self.pi.generators = [self.pi.generators[k] for k in keep]

    @torch.no_grad()
    def copy_to(self, k: int, member: MLPActorCritic) -> None:
        """Member ``k``'s parameters set to slice k of the stacked ones (before it is saved or evaluated)."""
        for stacked, own in zip(self.parameters(), member.parameters(), strict=True):
            own.copy_(stacked[k].reshape(own.shape))

    @torch.no_grad()
    def copy_from(self, k: int, member: MLPActorCritic) -> None:
        """Slice k of the stacked parameters set to member ``k``'s (its last good parameters)."""
        for stacked, own in zip(self.parameters(), member.parameters(), strict=True):
            stacked[k].copy_(own.reshape(stacked[k].shape))
