"""Actor-critic networks and the protocol any user network follows.

The protocol is Spinning Up's, so a course's own module plugs in unchanged. An actor-critic is an
``nn.Module`` built as ``actor_critic(observation_space, action_space, **ac_kwargs)`` with:

- ``pi(obs, act=None) -> (dist, logp)``: a ``torch.distributions`` object for the batch of
  observations, and, when ``act`` is given, log pi(act|obs) shaped (B,) (None otherwise).
- ``v(obs) -> values``: the critic, (B,).
- ``step(obs) -> (a, v, logp)``: numpy arrays, sampled action (B, *act_shape), value (B,), log-prob (B,);
  called once per environment step for all envs together, without gradients.
- ``act(obs) -> a``: a sampled action as a numpy array.

``obs`` is the batch as :mod:`pgrl.spaces` lays it out: a float32 tensor (B, obs_dim) (a Box's values
flattened, Discrete parts one-hot, Dict and Tuple parts concatenated), or, for an observation with an
image, a dict of tensors (``"vector"`` and the raw uint8 images; :class:`pgrl.encoders.ObsEncoder`
encodes it). Actions are stored flat (:mod:`pgrl.actions`). When the env gives action masks, ``pi``,
``step`` and ``act`` also get ``mask=`` (a bool tensor (B, n), True where an action is allowed).

Deterministic actions (evaluation) are ``dist.mode``: argmax for categorical, the mean for Gaussian,
1 where the logit is positive for Bernoulli. ``MLPActorCritic`` also samples without building a
``torch.distributions`` object in ``step``, which is the hot path of data collection, and the collector runs
its plain MLPs as numpy there (:meth:`MLPActorCritic.numpy_step`, :mod:`pgrl.inference`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn
from torch.distributions import Categorical, Distribution, Normal
from torch.nn import functional as F

from pgrl import inference
from pgrl.actions import ActionLayout
from pgrl.distributions import (
    MASKED_LOGIT,
    Bernoullis,
    MultiCategorical,
    Segments,
    bernoulli_log_prob_entropy,
    entropy_of_log_probs,
    gumbel_argmax,
    masked,
    multi_categorical_log_prob_entropy,
)
from pgrl.encoders import ObsEncoder, resolve_encoder
from pgrl.errors import PgrlError
from pgrl.spaces import ObsLayout

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


# The activations whose module is a plain call of one torch function (the same op, the same bits).
LAYER_FUNCTIONS: dict[type[nn.Module], Callable[[torch.Tensor], torch.Tensor]] = {
    nn.Tanh: torch.tanh, nn.ReLU: torch.relu, nn.Sigmoid: torch.sigmoid, nn.Identity: lambda x: x,
}  # fmt: skip


class MLP(nn.Sequential):
    """An ``nn.Sequential`` of Linear layers and activations whose forward calls their functions directly:
    the same ops and bits as Sequential's, without a module call per layer (each ~5-10 us, much of a small
    network's forward pass). Its layers' own hooks are therefore not called; the MLP's are."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self:
            kind = type(layer)
            if kind is nn.Linear:
                linear: nn.Linear = layer  # type: ignore[assignment]
                x = F.linear(x, linear.weight, linear.bias)
            elif kind in LAYER_FUNCTIONS and not getattr(layer, "inplace", False):
                x = LAYER_FUNCTIONS[kind](x)
            else:
                x = layer(x)
        return x


def mlp(
    sizes: Sequence[int], activation: type[nn.Module], output_activation: type[nn.Module] = nn.Identity
) -> nn.Sequential:
    """A multi-layer perceptron with layer widths ``sizes`` (input first, output last)."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        act = activation if i < len(sizes) - 2 else output_activation
        layers += [nn.Linear(sizes[i], sizes[i + 1]), act()]
    return MLP(*layers)


def _init_layers(net: nn.Sequential, last_gain: float) -> None:
    # Orthogonal init with a small last layer keeps the initial policy near uniform and the initial
    # value near zero, which the PPO implementation studies found to matter (Andrychowicz et al. 2021).
    linears = [m for m in net if isinstance(m, nn.Linear)]
    for i, layer in enumerate(linears):
        nn.init.orthogonal_(layer.weight, gain=last_gain if i == len(linears) - 1 else math.sqrt(2))
        nn.init.zeros_(layer.bias)


def obs_dim_of(space: gym.Space) -> int:
    """obs_dim, the width of the flat vector the networks take for an observation space without images
    (a Box's values, one-hots of Discrete parts, ...; see :mod:`pgrl.spaces`); refuses an unsupported
    space with a :class:`pgrl.PgrlError`."""
    return ObsLayout.of(space).vector_dim


Features = nn.Module | None
"""An observation encoder (:class:`pgrl.encoders.ObsEncoder`) in front of a network, or None: the input
already is the flat vector (B, obs_dim)."""


class _Encoded(nn.Module):
    """A network whose input passes through its own encoder first (when it has one)."""

    encoder: Features

    def _set_encoder(self, encoder: Features) -> None:
        self.encoder = encoder  # None: no module, so the state_dict and RNG draws are a plain MLP's

    def features(self, obs: Any) -> torch.Tensor:
        return obs if self.encoder is None else self.encoder(obs)


class MLPCategoricalActor(_Encoded):
    """pi(a|s) = softmax(logits_net(s)) for a Discrete(n) action space; masked actions get probability 0."""

    def __init__(
        self,
        obs_dim: int,
        n_actions: int,
        hidden_sizes: Sequence[int],
        activation: type[nn.Module],
        encoder: Features = None,
    ) -> None:
        super().__init__()
        self._set_encoder(encoder)
        self.logits_net = mlp([obs_dim, *hidden_sizes, n_actions], activation)
        _init_layers(self.logits_net, last_gain=0.01)

    def logits(self, obs: Any, mask: torch.Tensor | None = None) -> torch.Tensor:
        return masked(self.logits_net(self.features(obs)), mask)

    def distribution(self, obs: Any, mask: torch.Tensor | None = None) -> Distribution:
        return Categorical(logits=self.logits(obs, mask), validate_args=False)

    def log_prob(self, dist: Distribution, act: torch.Tensor) -> torch.Tensor:
        return dist.log_prob(act.long())

    def forward(
        self, obs: Any, act: torch.Tensor | None = None, mask: torch.Tensor | None = None
    ) -> tuple[Distribution, torch.Tensor | None]:
        dist = self.distribution(obs, mask)
        return dist, None if act is None else self.log_prob(dist, act)

    def sample(self, obs: Any, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(action (B,), log-prob (B,)) without a distribution object: Gumbel-max sampling."""
        # the collection's hot path: the encoder and the mask inline, no extra calls for a plain MLP
        logits = self.logits_net(obs if self.encoder is None else self.encoder(obs))
        log_probs = torch.log_softmax(logits if mask is None else masked(logits, mask), dim=-1)
        a = gumbel_argmax(log_probs)
        return a, log_probs.gather(-1, a.unsqueeze(-1)).squeeze(-1)

    def mode(self, obs: Any, mask: torch.Tensor | None = None) -> torch.Tensor:
        return torch.argmax(self.logits(obs, mask), dim=-1)

    def mode_of(self, out: torch.Tensor) -> torch.Tensor:
        """The deterministic action from ``logits_net``'s output (ARS acts on it directly)."""
        return out.argmax(-1)

    def log_prob_entropy(
        self, obs: Any, act: torch.Tensor, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(log pi(act|obs) (B,), entropy (B,)) with gradients, without a distribution object (the
        update's hot path: ``Categorical``'s construction costs ~10% of a small gradient step)."""
        log_probs = torch.log_softmax(self.logits(obs, mask), dim=-1)
        logp = log_probs.gather(-1, act.long().unsqueeze(-1)).squeeze(-1)
        return logp, entropy_of_log_probs(log_probs)


class MLPMultiCategoricalActor(_Encoded):
    """Independent categoricals for a MultiDiscrete(nvec) action space: logits_net gives sum(nvec) logits,
    nvec[i] for entry i; log-probs and entropies are summed over the entries (masks as for Discrete)."""

    def __init__(
        self,
        obs_dim: int,
        nvec: Sequence[int],
        hidden_sizes: Sequence[int],
        activation: type[nn.Module],
        encoder: Features = None,
    ) -> None:
        super().__init__()
        self._set_encoder(encoder)
        self.segments = Segments(nvec)
        self.logits_net = mlp([obs_dim, *hidden_sizes, sum(self.segments.nvec)], activation)
        _init_layers(self.logits_net, last_gain=0.01)

    def distribution(self, obs: Any, mask: torch.Tensor | None = None) -> Distribution:
        return MultiCategorical(self.segments, self.logits_net(self.features(obs)), mask)

    def forward(
        self, obs: Any, act: torch.Tensor | None = None, mask: torch.Tensor | None = None
    ) -> tuple[Distribution, torch.Tensor | None]:
        dist = self.distribution(obs, mask)
        return dist, None if act is None else dist.log_prob(act)

    def sample(self, obs: Any, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(action (B, k), log-prob (B,))."""
        log_probs = self.segments.log_probs(self.logits_net(self.features(obs)), mask)
        a = gumbel_argmax(log_probs)
        return a, log_probs.gather(-1, a.unsqueeze(-1)).squeeze(-1).sum(-1)

    def mode(self, obs: Any, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.mode_of(self.logits_net(self.features(obs)), mask)

    def mode_of(self, out: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return torch.argmax(self.segments.padded(masked(out, mask), MASKED_LOGIT), dim=-1)

    def log_prob_entropy(
        self, obs: Any, act: torch.Tensor, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return multi_categorical_log_prob_entropy(self.segments, self.logits_net(self.features(obs)), act, mask)


class MLPBernoulliActor(_Encoded):
    """Independent Bernoullis for a MultiBinary(n) action space: logits_net gives one logit per entry."""

    def __init__(
        self, obs_dim: int, n: int, hidden_sizes: Sequence[int], activation: type[nn.Module], encoder: Features = None
    ) -> None:
        super().__init__()
        self._set_encoder(encoder)
        self.logits_net = mlp([obs_dim, *hidden_sizes, n], activation)
        _init_layers(self.logits_net, last_gain=0.01)

    def forward(
        self, obs: Any, act: torch.Tensor | None = None, mask: torch.Tensor | None = None
    ) -> tuple[Distribution, torch.Tensor | None]:
        dist = Bernoullis(self.logits_net(self.features(obs)))
        return dist, None if act is None else dist.log_prob(act)

    def sample(self, obs: Any, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(action (B, n) of 0/1 floats, log-prob (B,))."""
        logits = self.logits_net(self.features(obs))
        a = (torch.rand_like(logits) < torch.sigmoid(logits)).to(logits.dtype)
        return a, bernoulli_log_prob_entropy(logits, a)[0]

    def mode(self, obs: Any, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.mode_of(self.logits_net(self.features(obs)))

    def mode_of(self, out: torch.Tensor) -> torch.Tensor:
        return (out > 0).to(out.dtype)

    def log_prob_entropy(
        self, obs: Any, act: torch.Tensor, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return bernoulli_log_prob_entropy(self.logits_net(self.features(obs)), act)


class MLPGaussianActor(_Encoded):
    """pi(a|s) = N(mu_net(s), diag(exp(log_std))^2), log_std a learned state-independent vector; a Box
    action of any shape is flattened to act_dim entries."""

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        hidden_sizes: Sequence[int],
        activation: type[nn.Module],
        log_std_init: float = -0.5,
        encoder: Features = None,
    ) -> None:
        super().__init__()
        self._set_encoder(encoder)
        self.mu_net = mlp([obs_dim, *hidden_sizes, act_dim], activation)
        _init_layers(self.mu_net, last_gain=0.01)
        self.log_std = nn.Parameter(torch.full((act_dim,), float(log_std_init)))

    def distribution(self, obs: Any) -> Distribution:
        return Normal(self.mu_net(self.features(obs)), torch.exp(self.log_std), validate_args=False)

    def log_prob(self, dist: Distribution, act: torch.Tensor) -> torch.Tensor:
        return dist.log_prob(act).sum(-1)

    def forward(self, obs: Any, act: torch.Tensor | None = None) -> tuple[Distribution, torch.Tensor | None]:
        dist = self.distribution(obs)
        return dist, None if act is None else self.log_prob(dist, act)

    def sample(self, obs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """(action (B, act_dim), log-prob (B,)) by reparameterisation, without a distribution object."""
        mu = self.mu_net(obs if self.encoder is None else self.encoder(obs))  # the hot path: no extra call
        noise = torch.randn_like(mu)
        a = mu + torch.exp(self.log_std) * noise
        logp = -0.5 * (noise**2).sum(-1) - self.log_std.sum() - 0.5 * math.log(2 * math.pi) * mu.shape[-1]
        return a, logp

    def mode(self, obs: Any) -> torch.Tensor:
        return self.mu_net(self.features(obs))  # type: ignore[no-any-return]

    def mode_of(self, out: torch.Tensor) -> torch.Tensor:
        return out

    def log_prob_entropy(self, obs: Any, act: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(log pi(act|obs) (B,), entropy (B,)) with gradients, without a ``Normal`` object."""
        mu = self.mu_net(self.features(obs))
        k = mu.shape[-1]
        z = (act - mu) * torch.exp(-self.log_std)
        logp = -0.5 * (z**2).sum(-1) - self.log_std.sum() - 0.5 * math.log(2 * math.pi) * k
        entropy = (self.log_std.sum() + 0.5 * k * (1.0 + math.log(2 * math.pi))).expand(mu.shape[0])
        return logp, entropy


class MLPCritic(_Encoded):
    """V(s), shape (B,)."""

    def __init__(
        self, obs_dim: int, hidden_sizes: Sequence[int], activation: type[nn.Module], encoder: Features = None
    ) -> None:
        super().__init__()
        self._set_encoder(encoder)
        self.v_net = mlp([obs_dim, *hidden_sizes, 1], activation)
        _init_layers(self.v_net, last_gain=1.0)

    def forward(self, obs: Any) -> torch.Tensor:
        return self.v_net(obs if self.encoder is None else self.encoder(obs)).squeeze(-1)  # type: ignore[no-any-return]


Actor = MLPCategoricalActor | MLPGaussianActor | MLPMultiCategoricalActor | MLPBernoulliActor


def make_actor(
    action_space: gym.Space,
    obs_dim: int,
    hidden_sizes: Sequence[int],
    activation: type[nn.Module],
    log_std_init: float,
    encoder: Features,
) -> Actor:
    """The actor for an action space: categorical (Discrete), Gaussian (Box), independent categoricals
    (MultiDiscrete) or Bernoullis (MultiBinary); other spaces are refused naming the space."""
    layout = ActionLayout.of(action_space)
    if isinstance(action_space, gym.spaces.Discrete):
        return MLPCategoricalActor(obs_dim, int(action_space.n), hidden_sizes, activation, encoder)
    if isinstance(action_space, gym.spaces.Box):
        return MLPGaussianActor(obs_dim, layout.shape[0], hidden_sizes, activation, log_std_init, encoder)
    if isinstance(action_space, gym.spaces.MultiDiscrete):
        return MLPMultiCategoricalActor(obs_dim, action_space.nvec.reshape(-1).tolist(), hidden_sizes, activation,
                                        encoder)  # fmt: skip
    return MLPBernoulliActor(obs_dim, layout.shape[0], hidden_sizes, activation, encoder)


class MLPActorCritic(nn.Module):
    """Separate MLP actor and critic, each behind its own observation encoder when the observation has an
    image; the actor's head follows the action space (see :func:`make_actor`).

    Args:
        observation_space: any space :mod:`pgrl.spaces` takes (Box, Discrete, images, Dict, Tuple, ...).
        action_space: Discrete, Box, MultiDiscrete or MultiBinary.
        hidden_sizes: widths of the hidden layers of both networks (after the encoder).
        activation: name ("tanh", "relu", ...) or an ``nn.Module`` class such as ``torch.nn.ReLU``.
        log_std_init: initial log standard deviation of the Gaussian head (Spinning Up: -0.5).
        encoder: how images are encoded: "auto" (a CNN), "cnn" or "mlp" (see :mod:`pgrl.encoders`).
        bias: biases in the MLPs' linear layers. Without them and without hidden layers, a Discrete
            observation's one-hot input makes the actor and the critic tables (a row of logits and a value
            per state): nothing learned in one state moves another, as a shared bias would.
    """

    def __init__(
        self,
        observation_space: gym.Space,
        action_space: gym.Space,
        hidden_sizes: Sequence[int] = (64, 64),
        activation: str | type[nn.Module] = "tanh",
        log_std_init: float = -0.5,
        encoder: str = "auto",
        bias: bool = True,
    ) -> None:
        super().__init__()
        layout = ObsLayout.of(observation_space)
        kind = resolve_encoder(layout, encoder)
        act = resolve_activation(activation)
        ActionLayout.of(action_space)  # refuse an unsupported action space before building anything
        pi_encoder = ObsEncoder(observation_space, kind) if kind is not None else None
        obs_dim = pi_encoder.out_dim if pi_encoder is not None else layout.vector_dim
        self.pi: Actor = make_actor(action_space, obs_dim, hidden_sizes, act, log_std_init, pi_encoder)
        v_encoder = ObsEncoder(observation_space, kind) if kind is not None else None
        self.v = MLPCritic(obs_dim, hidden_sizes, act, v_encoder)
        self.masked = isinstance(self.pi, MLPCategoricalActor | MLPMultiCategoricalActor)
        if not bias:
            for net in (m for part in (self.pi, self.v) for m in part.children() if isinstance(m, nn.Sequential)):
                for layer in net:
                    if isinstance(layer, nn.Linear):
                        layer.register_parameter("bias", None)

    @torch.inference_mode()  # cheaper than no_grad: the outputs leave as numpy arrays
    def step(self, obs: Any, mask: torch.Tensor | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        a, logp = self.pi.sample(obs) if mask is None else self.pi.sample(obs, mask)  # type: ignore[call-arg]
        return a.numpy(), self.v(obs).numpy(), logp.numpy()

    def numpy_step(self, batch: int) -> inference.GaussianStep | inference.CategoricalStep | None:
        """:meth:`step` as numpy with a copy of the current weights (:mod:`pgrl.inference`), for batches of
        ``batch`` flat observations, or None where the modules must run: products over
        :data:`pgrl.inference.MAX_PRODUCT`, an image encoder, a head other than categorical or Gaussian, layers
        other than Linear with tanh / ReLU / none, a critic of another kind, or a ``step`` of a subclass or
        instance's own. Valid until the weights change (the collector makes one per collection)."""
        actor = self._numpy_actor(batch)
        if actor is None or type(self.v) is not MLPCritic or self.v.encoder is not None:
            return None
        critic = inference.numpy_layers(self.v.v_net)
        if critic is None or not inference.small(critic, batch):
            return None
        pi, layers = self.pi, actor[0]
        if isinstance(pi, MLPGaussianActor):
            return inference.GaussianStep(layers, pi.log_std.detach().numpy().copy(), critic)
        return inference.CategoricalStep(layers, critic, MASKED_LOGIT)

    def numpy_mode(self, batch: int) -> inference.Mode | None:
        """The deterministic action (``pi``'s mode) as numpy with a copy of the current weights, for evaluations
        of ``batch`` flat observations; None where the modules must run (as for :meth:`numpy_step`: a network
        whose ``step`` is its own may act otherwise too)."""
        actor = self._numpy_actor(batch)
        return inference.Mode(*actor, MASKED_LOGIT) if actor is not None else None

    def _numpy_actor(self, batch: int) -> tuple[inference.Layers, bool] | None:
        """The actor's MLP as numpy layers and whether it is categorical (else Gaussian, with a float32
        log-std), or None where the numpy path does not serve it (see :meth:`numpy_step`)."""
        pi = self.pi
        if getattr(self.step, "__func__", None) is not MLPActorCritic.step or pi.encoder is not None:
            return None
        if type(pi) is MLPCategoricalActor:
            net, discrete = pi.logits_net, True
        elif type(pi) is MLPGaussianActor and pi.log_std.dtype == torch.float32:
            net, discrete = pi.mu_net, False
        else:
            return None
        layers = inference.numpy_layers(net)
        return (layers, discrete) if layers is not None and inference.small(layers, batch) else None

    @torch.inference_mode()
    def act(self, obs: Any, deterministic: bool = False, mask: torch.Tensor | None = None) -> np.ndarray:
        kwargs = {} if mask is None else {"mask": mask}
        if deterministic:
            return self.pi.mode(obs, **kwargs).numpy()
        return self.pi.sample(obs, **kwargs)[0].numpy()


def log_prob_entropy(
    pi: nn.Module, obs: Any, act: torch.Tensor, mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """log pi(act|obs) and the policy's entropy, both (B,) with gradients, for a batch of network inputs
    (B, obs_dim) (or the dict of an observation with images), under the action ``mask`` when there is one.

    pgrl's MLP actors compute them directly; any other actor goes through the protocol's
    ``pi(obs, act) -> (dist, logp)`` (``pi(obs, act, mask=mask)`` with a mask) and ``dist.entropy()``.
    """
    direct = getattr(pi, "log_prob_entropy", None)
    kwargs = {} if mask is None else {"mask": mask}
    if direct is not None:
        logp, entropy = direct(obs, act, **kwargs)
        return logp, entropy
    dist, logp = pi(obs, act, **kwargs)
    return logp, entropy_of(dist)


def policy(pi: nn.Module, obs: Any, act: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[Distribution, Any]:
    """The protocol's ``pi(obs, act) -> (dist, logp)``, with ``mask=`` only when there is a mask (so a
    network without mask support serves the envs that give none)."""
    return pi(obs, act) if mask is None else pi(obs, act, mask=mask)  # type: ignore[no-any-return]


def entropy_of(dist: Distribution) -> torch.Tensor:
    """Per-sample entropy (B,), summing over action dimensions for factorised Gaussians."""
    ent = dist.entropy()
    return ent.sum(-1) if ent.dim() > 1 else ent


def mode_net(actor: nn.Module) -> nn.Sequential:
    """The part of an MLP actor whose output decides its deterministic action (``actor.mode_of(out)``): the
    logits of a categorical, multi-categorical or Bernoulli actor, or the mean of a Gaussian one."""
    if isinstance(actor, MLPCategoricalActor | MLPMultiCategoricalActor | MLPBernoulliActor):
        return actor.logits_net
    if isinstance(actor, MLPGaussianActor):
        return actor.mu_net
    raise PgrlError(f"expected one of pgrl's MLP actors, got {type(actor).__name__}")


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
