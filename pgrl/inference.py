"""The collection's forward pass of pgrl's MLP actor-critic in numpy, for the small batches of one vector step.

``MLPActorCritic.step`` runs once per environment step for all copies together: for 16-32 copies and 64x64
networks that is ~20 torch calls, each ~5-10 us of dispatch when the caches are warm and several times
that when the env step in between has evicted them, for a few microseconds of arithmetic. numpy's calls
cost ~1-2 us, so the same layers as numpy arrays take a third to a half of the time. The copy of the
weights is made for one collection (:meth:`pgrl.rollout.Collector.collect`), while they stay as they are;
the update changes them and the next collection copies them again (~20 us). ``MLPActorCritic.step``
itself always runs the modules.

The arithmetic is the torch path's: the same layers, the same random draws from torch's generator
(``torch.randn`` for a Gaussian's noise, ``torch.rand`` for the Gumbel-max sample of a categorical), so a
run makes the same random choices as before; the products may differ in the last bit (another BLAS),
which sampled actions, log-probs and values tolerate like any float32 rounding. Only pgrl's own MLPs with
tanh, ReLU or no activation, float32 parameters, a categorical or Gaussian head, no image encoder and
products of at most :data:`MAX_PRODUCT` multiply-adds take this path
(:meth:`pgrl.networks.MLPActorCritic.numpy_step`); anything else runs the torch modules.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

MAX_PRODUCT = 2**19
"""The most multiply-adds of one layer's product (batch x in x out) the numpy path takes: numpy's OpenBLAS
computes up to about that on one thread (a 64-wide layer on 128 copies); beyond it, it starts threads of its
own (measured here: 256 x 64 x 64 took 5x as long as 128 x 64 x 64 on a busy 2-core machine), and the
product outweighs torch's dispatch anyway."""

Layers = list[tuple[np.ndarray, np.ndarray | None, str]]
"""An MLP as numpy: per layer (weight transposed to (in, out), bias (out,) or None, activation name)."""

_ACTIVATIONS: dict[type[nn.Module], str] = {nn.Tanh: "tanh", nn.ReLU: "relu", nn.Identity: "identity"}


def numpy_layers(net: nn.Sequential) -> Layers | None:
    """``net`` (Linear layers, each followed by an activation) as numpy arrays, or None when it holds any
    other module (or a parameter that is not a float32 CPU tensor)."""
    modules = list(net)
    if len(modules) % 2 or not modules:
        return None
    layers: Layers = []
    for linear, act in zip(modules[::2], modules[1::2], strict=True):
        name = _ACTIVATIONS.get(type(act))
        if type(linear) is not nn.Linear or name is None or getattr(act, "inplace", False):
            return None
        params = [linear.weight] + ([linear.bias] if linear.bias is not None else [])
        if any(p.dtype != torch.float32 or p.device.type != "cpu" for p in params):
            return None
        bias = linear.bias.detach().numpy().copy() if linear.bias is not None else None
        layers.append((linear.weight.detach().numpy().T.copy(), bias, name))
    return layers


def small(layers: Layers, batch: int) -> bool:
    """Whether every product of ``layers`` on ``batch`` rows is at most :data:`MAX_PRODUCT` multiply-adds."""
    return all(batch * weight.shape[0] * weight.shape[1] <= MAX_PRODUCT for weight, _, _ in layers)


def forward(layers: Layers, x: np.ndarray) -> np.ndarray:
    """The MLP's output for a batch ``x`` (B, in) float32: (B, out)."""
    for weight, bias, act in layers:
        x = x @ weight
        if bias is not None:
            x += bias
        if act == "tanh":
            np.tanh(x, out=x)
        elif act == "relu":
            np.maximum(x, 0.0, out=x)
    return x


class GaussianStep:
    """(action, value, log-prob) of a diagonal Gaussian actor and a critic: a = mu + std * noise, as
    :meth:`pgrl.networks.MLPGaussianActor.sample` (the noise from ``torch.randn``)."""

    def __init__(self, mu: Layers, log_std: np.ndarray, v: Layers) -> None:
        self.mu, self.v = mu, v
        self.std = np.exp(log_std)
        k = log_std.shape[0]
        self.logp_const = np.float32(-log_std.sum() - 0.5 * math.log(2 * math.pi) * k)

    def __call__(self, obs: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``MLPActorCritic.step`` for a batch (B, obs_dim) float32: (actions (B, k), values (B,), log-probs (B,))."""
        x = obs.numpy()
        mu = forward(self.mu, x)
        noise = torch.randn(mu.shape).numpy()
        a = mu + self.std * noise
        logp = np.float32(-0.5) * np.einsum("ij,ij->i", noise, noise) + self.logp_const
        return a, forward(self.v, x)[:, 0], logp


class CategoricalStep:
    """(action, value, log-prob) of a categorical actor (masked logits set to ``masked_logit``) and a critic,
    sampled by the Gumbel-max trick as :meth:`pgrl.networks.MLPCategoricalActor.sample` (``torch.rand``)."""

    def __init__(self, logits: Layers, v: Layers, masked_logit: float) -> None:
        self.logits, self.v = logits, v
        self.masked_logit = np.float32(masked_logit)

    def __call__(
        self, obs: torch.Tensor, mask: torch.Tensor | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``MLPActorCritic.step`` for a batch (B, obs_dim) float32 and its (B, n) bool mask (None: every
        action allowed): (actions (B,) int64, values (B,), log-probs (B,))."""
        x = obs.numpy()
        logits = forward(self.logits, x)
        if mask is not None:
            logits = np.where(mask.numpy(), logits, self.masked_logit)
        log_probs = log_softmax(logits)
        u = torch.rand(logits.shape).clamp_(min=1e-20).numpy()
        a = np.argmax(log_probs - np.log(-np.log(u)), axis=-1)
        logp = np.take_along_axis(log_probs, a[:, None], axis=-1)[:, 0]
        return a, forward(self.v, x)[:, 0], logp


class Mode:
    """The deterministic action of an actor (evaluation): the argmax of its logits, masked entries set to
    ``masked_logit``, or a Gaussian's mean (``discrete`` False), as ``dist.mode`` of the torch path."""

    def __init__(self, layers: Layers, discrete: bool, masked_logit: float) -> None:
        self.layers, self.discrete = layers, discrete
        self.masked_logit = np.float32(masked_logit)

    def __call__(self, obs: torch.Tensor, mask: torch.Tensor | None = None) -> np.ndarray:
        """Actions for a batch (B, obs_dim) float32: (B,) int64, or (B, k) float32 means (K agents' (K, B, ...):
        :func:`stacked`)."""
        out = forward(self.layers, obs.numpy())
        if not self.discrete:
            return out
        if mask is not None:
            out = np.where(mask.numpy(), out, self.masked_logit)
        return np.argmax(out, axis=-1)  # the first of equal maxima, as torch's


def stacked(modes: Sequence[Mode]) -> Mode:
    """K agents' modes (alike but for their weights) as one over batches (K, B, obs_dim): each layer's K
    weights stacked (K, in, out), one batched product a layer (numpy's matmul over the first axis); (K, B) or
    (K, B, k) actions."""
    layers: Layers = []
    for parts in zip(*(m.layers for m in modes), strict=True):
        weight = np.stack([w for w, _, _ in parts])
        bias = None if parts[0][1] is None else np.stack([b for _, b, _ in parts])[:, None]  # type: ignore[misc]
        layers.append((weight, bias, parts[0][2]))
    return Mode(layers, modes[0].discrete, float(modes[0].masked_logit))


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """log softmax over the last axis, shifted by the maximum as torch's is (no overflow)."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
