"""Actor-critic networks and the protocol any user network follows.

The protocol is Spinning Up's, so a course's own module plugs in unchanged. An actor-critic is an
``nn.Module`` built as ``actor_critic(observation_space, action_space, **ac_kwargs)`` with:

- ``pi(obs, act=None) -> (dist, logp)``: a ``torch.distributions`` object for the batch of
  observations (B, obs_dim), and, when ``act`` is given, log pi(act|obs) shaped (B,) (None otherwise).
- ``v(obs) -> values``: the critic, (B,).
- ``step(obs) -> (a, v, logp)``: numpy arrays, sampled action (B, *act_shape), value (B,), log-prob (B,);
  called once per environment step for all envs together, without gradients.
- ``act(obs) -> a``: a sampled action as a numpy array.

Deterministic actions (evaluation) are ``dist.mode``: argmax for categorical, the mean for Gaussian.
``MLPActorCritic`` also samples without building a ``torch.distributions`` object in ``step``, which
is the hot path of data collection.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn
from torch.distributions import Categorical, Distribution, Normal

from pgrl.errors import PgrlError

# Activations are looked up by name in this fixed table: config strings are never evaluated.
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "leaky_relu": nn.LeakyReLU,
    "sigmoid": nn.Sigmoid,
    "softplus": nn.Softplus,
    "identity": nn.Identity,
}


def resolve_activation(activation: str | type[nn.Module]) -> type[nn.Module]:
    """An activation class from a name ("tanh", "relu", ...) or an ``nn.Module`` class."""
    if isinstance(activation, str):
        key = activation.lower().replace("-", "_")
        aliases = {cls.__name__.lower(): cls for cls in ACTIVATIONS.values()}
        if key in ACTIVATIONS:
            return ACTIVATIONS[key]
        if key in aliases:
            return aliases[key]
        raise PgrlError(f"unknown activation {activation!r}; choose one of {', '.join(ACTIVATIONS)}")
    if isinstance(activation, type) and issubclass(activation, nn.Module):
        return activation
    raise PgrlError(f"activation must be a name or an nn.Module class, got {activation!r}")


def activation_name(activation: str | type[nn.Module]) -> str:
    """The table name of an activation, for config.json (a user's own class keeps its class name)."""
    cls = resolve_activation(activation)
    for name, known in ACTIVATIONS.items():
        if known is cls:
            return name
    return cls.__name__


def class_path(obj: Any) -> str:
    """``module.QualifiedName`` of a class, as config.json names a run's network."""
    return f"{obj.__module__}.{obj.__qualname__}"


def json_ac_kwargs(ac_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """ac_kwargs as plain JSON: activations by table name, tuples as lists."""
    out: dict[str, Any] = {}
    for k, v in ac_kwargs.items():
        if k == "activation" or (isinstance(v, type) and issubclass(v, nn.Module)):
            out[k] = activation_name(v)
        elif isinstance(v, tuple):
            out[k] = list(v)
        else:
            out[k] = v
    return out


def mlp(
    sizes: Sequence[int], activation: type[nn.Module], output_activation: type[nn.Module] = nn.Identity
) -> nn.Sequential:
    """A multi-layer perceptron with layer widths ``sizes`` (input first, output last)."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        act = activation if i < len(sizes) - 2 else output_activation
        layers += [nn.Linear(sizes[i], sizes[i + 1]), act()]
    return nn.Sequential(*layers)


def _init_layers(net: nn.Sequential, last_gain: float) -> None:
    # Orthogonal init with a small last layer keeps the initial policy near uniform and the initial
    # value near zero, which the PPO implementation studies found to matter (Andrychowicz et al. 2021).
    linears = [m for m in net if isinstance(m, nn.Linear)]
    for i, layer in enumerate(linears):
        nn.init.orthogonal_(layer.weight, gain=last_gain if i == len(linears) - 1 else math.sqrt(2))
        nn.init.zeros_(layer.bias)


def obs_dim_of(space: gym.Space) -> int:
    """obs_dim, the number of network inputs: the product of a Box space's shape (observations are flattened
    to (B, obs_dim)); other spaces are refused with a :class:`pgrl.PgrlError`."""
    if not isinstance(space, gym.spaces.Box):
        raise PgrlError(f"unsupported observation space {space}; pgrl networks take Box observations")
    return int(np.prod(space.shape))


class MLPCategoricalActor(nn.Module):
    """pi(a|s) = softmax(logits_net(s)) for a Discrete(n) action space."""

    def __init__(self, obs_dim: int, n_actions: int, hidden_sizes: Sequence[int], activation: type[nn.Module]) -> None:
        super().__init__()
        self.logits_net = mlp([obs_dim, *hidden_sizes, n_actions], activation)
        _init_layers(self.logits_net, last_gain=0.01)

    def distribution(self, obs: torch.Tensor) -> Distribution:
        return Categorical(logits=self.logits_net(obs), validate_args=False)

    def log_prob(self, dist: Distribution, act: torch.Tensor) -> torch.Tensor:
        return dist.log_prob(act.long())

    def forward(self, obs: torch.Tensor, act: torch.Tensor | None = None) -> tuple[Distribution, torch.Tensor | None]:
        dist = self.distribution(obs)
        return dist, None if act is None else self.log_prob(dist, act)

    def sample(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(action (B,), log-prob (B,)) without a distribution object: Gumbel-max sampling."""
        log_probs = torch.log_softmax(self.logits_net(obs), dim=-1)
        gumbel = -torch.log(-torch.log(torch.rand_like(log_probs).clamp_(min=1e-20)))
        a = torch.argmax(log_probs + gumbel, dim=-1)
        return a, log_probs.gather(-1, a.unsqueeze(-1)).squeeze(-1)

    def mode(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.argmax(self.logits_net(obs), dim=-1)

    def log_prob_entropy(self, obs: torch.Tensor, act: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(log pi(act|obs) (B,), entropy (B,)) with gradients, without a distribution object (the
        update's hot path: ``Categorical``'s construction costs ~10% of a small gradient step)."""
        log_probs = torch.log_softmax(self.logits_net(obs), dim=-1)
        logp = log_probs.gather(-1, act.long().unsqueeze(-1)).squeeze(-1)
        return logp, -(log_probs.exp() * log_probs).sum(-1)


class MLPGaussianActor(nn.Module):
    """pi(a|s) = N(mu_net(s), diag(exp(log_std))^2), log_std a learned state-independent vector."""

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        hidden_sizes: Sequence[int],
        activation: type[nn.Module],
        log_std_init: float = -0.5,
    ) -> None:
        super().__init__()
        self.mu_net = mlp([obs_dim, *hidden_sizes, act_dim], activation)
        _init_layers(self.mu_net, last_gain=0.01)
        self.log_std = nn.Parameter(torch.full((act_dim,), float(log_std_init)))

    def distribution(self, obs: torch.Tensor) -> Distribution:
        return Normal(self.mu_net(obs), torch.exp(self.log_std), validate_args=False)

    def log_prob(self, dist: Distribution, act: torch.Tensor) -> torch.Tensor:
        return dist.log_prob(act).sum(-1)

    def forward(self, obs: torch.Tensor, act: torch.Tensor | None = None) -> tuple[Distribution, torch.Tensor | None]:
        dist = self.distribution(obs)
        return dist, None if act is None else self.log_prob(dist, act)

    def sample(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(action (B, act_dim), log-prob (B,)) by reparameterisation, without a distribution object."""
        mu = self.mu_net(obs)
        noise = torch.randn_like(mu)
        a = mu + torch.exp(self.log_std) * noise
        logp = -0.5 * (noise**2).sum(-1) - self.log_std.sum() - 0.5 * math.log(2 * math.pi) * mu.shape[-1]
        return a, logp

    def mode(self, obs: torch.Tensor) -> torch.Tensor:
        return self.mu_net(obs)

    def log_prob_entropy(self, obs: torch.Tensor, act: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(log pi(act|obs) (B,), entropy (B,)) with gradients, without a ``Normal`` object."""
        mu = self.mu_net(obs)
        k = mu.shape[-1]
        z = (act - mu) * torch.exp(-self.log_std)
        logp = -0.5 * (z**2).sum(-1) - self.log_std.sum() - 0.5 * math.log(2 * math.pi) * k
        entropy = (self.log_std.sum() + 0.5 * k * (1.0 + math.log(2 * math.pi))).expand(mu.shape[0])
        return logp, entropy


class MLPCritic(nn.Module):
    """V(s), shape (B,)."""

    def __init__(self, obs_dim: int, hidden_sizes: Sequence[int], activation: type[nn.Module]) -> None:
        super().__init__()
        self.v_net = mlp([obs_dim, *hidden_sizes, 1], activation)
        _init_layers(self.v_net, last_gain=1.0)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.v_net(obs).squeeze(-1)


class MLPActorCritic(nn.Module):
    """Separate MLP actor and critic; categorical head for Discrete, diagonal Gaussian for Box actions.

    Args:
        observation_space: a Box (flattened to obs_dim inputs).
        action_space: Discrete(n) or Box(act_dim,).
        hidden_sizes: widths of the hidden layers of both networks.
        activation: name ("tanh", "relu", ...) or an ``nn.Module`` class such as ``torch.nn.ReLU``.
        log_std_init: initial log standard deviation of the Gaussian head (Spinning Up: -0.5).
    """

    def __init__(
        self,
        observation_space: gym.Space,
        action_space: gym.Space,
        hidden_sizes: Sequence[int] = (64, 64),
        activation: str | type[nn.Module] = "tanh",
        log_std_init: float = -0.5,
    ) -> None:
        super().__init__()
        obs_dim = obs_dim_of(observation_space)
        act = resolve_activation(activation)
        self.pi: MLPCategoricalActor | MLPGaussianActor
        if isinstance(action_space, gym.spaces.Discrete):
            self.pi = MLPCategoricalActor(obs_dim, int(action_space.n), hidden_sizes, act)
        elif isinstance(action_space, gym.spaces.Box):
            self.pi = MLPGaussianActor(obs_dim, int(np.prod(action_space.shape)), hidden_sizes, act, log_std_init)
        else:
            raise PgrlError(f"unsupported action space {action_space}; pgrl supports Discrete and Box")
        self.v = MLPCritic(obs_dim, hidden_sizes, act)

    @torch.inference_mode()  # cheaper than no_grad: the outputs leave as numpy arrays
    def step(self, obs: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        a, logp = self.pi.sample(obs)
        return a.numpy(), self.v(obs).numpy(), logp.numpy()

    @torch.inference_mode()
    def act(self, obs: torch.Tensor, deterministic: bool = False) -> np.ndarray:
        if deterministic:
            return self.pi.mode(obs).numpy()
        return self.pi.sample(obs)[0].numpy()


def log_prob_entropy(pi: nn.Module, obs: torch.Tensor, act: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """log pi(act|obs) and the policy's entropy, both (B,) with gradients, for a batch (B, obs_dim).

    pgrl's MLP actors compute them directly; any other actor goes through the protocol's
    ``pi(obs, act) -> (dist, logp)`` and ``dist.entropy()``.
    """
    direct = getattr(pi, "log_prob_entropy", None)
    if direct is not None:
        logp, entropy = direct(obs, act)
        return logp, entropy
    dist, logp = pi(obs, act)
    return logp, entropy_of(dist)


def entropy_of(dist: Distribution) -> torch.Tensor:
    """Per-sample entropy (B,), summing over action dimensions for factorised Gaussians."""
    ent = dist.entropy()
    return ent.sum(-1) if ent.dim() > 1 else ent


def mode_net(actor: nn.Module) -> nn.Sequential:
    """The part of an MLP actor whose output decides its deterministic action: the logits of a
    categorical actor (action = argmax) or the mean of a Gaussian one (action = the mean)."""
    if isinstance(actor, MLPCategoricalActor):
        return actor.logits_net
    if isinstance(actor, MLPGaussianActor):
        return actor.mu_net
    raise PgrlError(f"expected an MLPCategoricalActor or MLPGaussianActor, got {type(actor).__name__}")


def batched_forward(net: nn.Sequential, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Run P copies of an MLP at once, copy p with its own parameters on its own input.

    Each ``nn.Linear`` of ``net`` becomes one batched matrix product over the P weight matrices
    (einsum "poi,pi->po"); the other layers (activations) apply elementwise. This is how ARS
    evaluates all its perturbed policies in one forward pass per env step.

    Args:
        net: a ``nn.Sequential`` of Linear layers and elementwise activations (as :func:`mlp` builds).
        params: (P, D) flat parameter vectors, each laid out like
            ``torch.nn.utils.parameters_to_vector(net.parameters())``.
        x: (P, in_features) one input row per copy.

    Returns:
        (P, out_features): row p equals ``net(x[p])`` with ``net``'s parameters set to ``params[p]``.
    """
    P, offset = params.shape[0], 0
    h = x
    for layer in net:
        if isinstance(layer, nn.Linear):
            n_out, n_in = layer.weight.shape
            weight = params[:, offset : offset + n_out * n_in].reshape(P, n_out, n_in)
            offset += n_out * n_in
            h = torch.einsum("poi,pi->po", weight, h)
            if layer.bias is not None:
                h = h + params[:, offset : offset + n_out]
                offset += n_out
        else:
            h = layer(h)
    if offset != params.shape[1]:
        raise ValueError(f"params hold {params.shape[1]} values per copy, the network has {offset}")
    return h
