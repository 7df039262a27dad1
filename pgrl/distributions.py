"""The policies' action distributions, as pure functions of the network's outputs, and the
``torch.distributions`` objects that Spinning Up's protocol hands out (``pi(obs) -> (dist, logp)``).

- Categorical (Discrete): logits (B, n).
- MultiCategorical (MultiDiscrete): logits (B, sum(nvec)), one independent categorical per entry;
  log-probs and entropies are summed over the entries.
- Bernoullis (MultiBinary): logits (B, n), one independent Bernoulli per entry, summed likewise.

Masks: a masked logit is set to :data:`MASKED_LOGIT`, so a masked action has probability exactly 0
(exp underflows) in sampling, in log-probs and in the entropy (0 * log 0 counts as 0), and is never the
mode. (-1e8 rather than -inf keeps the arithmetic free of inf - inf and 0 * inf.)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.distributions import Distribution, constraints

MASKED_LOGIT = -1e8


def masked(logits: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """``logits`` with the masked entries (mask False) set to :data:`MASKED_LOGIT`; None: unchanged."""
    if mask is None:
        return logits
    return torch.where(mask, logits, torch.full_like(logits, MASKED_LOGIT))


def gumbel_argmax(log_probs: torch.Tensor) -> torch.Tensor:
    """A sample of the categorical with these log-probs (last axis) by the Gumbel-max trick."""
    gumbel = -torch.log(-torch.log(torch.rand_like(log_probs).clamp_(min=1e-20)))
    return torch.argmax(log_probs + gumbel, dim=-1)


def entropy_of_log_probs(log_probs: torch.Tensor) -> torch.Tensor:
    """-sum p log p over the last axis (masked entries, with p = 0, add 0)."""
    return -(log_probs.exp() * log_probs).sum(-1)


# ----------------------------------------------------------------------------------- multi-categorical


class Segments:
    """The layout of MultiDiscrete logits: entry i owns ``nvec[i]`` consecutive logits. ``padded`` turns
    (B, sum(nvec)) into (B, k, max(nvec)), the padding masked, so each entry is one row."""

    def __init__(self, nvec: Sequence[int]) -> None:
        self.nvec = [int(n) for n in nvec]
        total, width = sum(self.nvec), max(self.nvec)
        index = torch.full((len(self.nvec), width), total, dtype=torch.long)  # total: the padding column
        offset = 0
        for i, n in enumerate(self.nvec):
            index[i, :n] = torch.arange(offset, offset + n)
            offset += n
        self.index = index

    def padded(self, flat: torch.Tensor, fill: float | bool) -> torch.Tensor:
        pad = torch.full((*flat.shape[:-1], 1), fill, dtype=flat.dtype)
        return torch.cat([flat, pad], dim=-1)[..., self.index]

    def log_probs(self, logits: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, k, max(nvec)) log-probs of each entry's choices (padding and masked choices ~ -1e8)."""
        rows = self.padded(masked(logits, mask), MASKED_LOGIT)
        return torch.log_softmax(rows, dim=-1)


def multi_categorical_log_prob_entropy(
    segments: Segments, logits: torch.Tensor, act: torch.Tensor, mask: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(log pi(act) (B,), entropy (B,)) of independent categoricals; ``act`` (B, k) the choices."""
    log_probs = segments.log_probs(logits, mask)
    logp = log_probs.gather(-1, act.long().unsqueeze(-1)).squeeze(-1).sum(-1)
    return logp, entropy_of_log_probs(log_probs).sum(-1)


class MultiCategorical(Distribution):
    """Independent categoricals over the entries of a MultiDiscrete action (see :class:`Segments`)."""

    arg_constraints: dict[str, constraints.Constraint] = {}  # noqa: RUF012  (torch's class attribute)

    def __init__(self, segments: Segments, logits: torch.Tensor, mask: torch.Tensor | None = None) -> None:
        self.segments, self.log_probs = segments, segments.log_probs(logits, mask)
        super().__init__(batch_shape=logits.shape[:-1], validate_args=False)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        return self.log_probs.gather(-1, value.long().unsqueeze(-1)).squeeze(-1).sum(-1)

    def entropy(self) -> torch.Tensor:
        return entropy_of_log_probs(self.log_probs).sum(-1)

    def sample(self, sample_shape: torch.Size | list[int] | tuple[int, ...] = ()) -> torch.Tensor:
        with torch.no_grad():
            return gumbel_argmax(self.log_probs.expand(*sample_shape, *self.log_probs.shape))

    @property
    def mode(self) -> torch.Tensor:
        return torch.argmax(self.log_probs, dim=-1)


# ----------------------------------------------------------------------------------------- Bernoullis


def bernoulli_log_prob_entropy(logits: torch.Tensor, act: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(log pi(act) (B,), entropy (B,)) of independent Bernoullis with these logits; ``act`` (B, n) of 0/1."""
    log_p, log_not_p = torch.nn.functional.logsigmoid(logits), torch.nn.functional.logsigmoid(-logits)
    logp = (act * log_p + (1.0 - act) * log_not_p).sum(-1)
    p = torch.sigmoid(logits)
    return logp, -(p * log_p + (1.0 - p) * log_not_p).sum(-1)


class Bernoullis(Distribution):
    """Independent Bernoullis over the entries of a MultiBinary action; the mode is 1 where the logit > 0."""

    arg_constraints: dict[str, constraints.Constraint] = {}  # noqa: RUF012

    def __init__(self, logits: torch.Tensor) -> None:
        self.logits = logits
        super().__init__(batch_shape=logits.shape[:-1], validate_args=False)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        return bernoulli_log_prob_entropy(self.logits, value.to(self.logits.dtype))[0]

    def entropy(self) -> torch.Tensor:
        return bernoulli_log_prob_entropy(self.logits, torch.zeros_like(self.logits))[1]

    def sample(self, sample_shape: torch.Size | list[int] | tuple[int, ...] = ()) -> torch.Tensor:
        with torch.no_grad():
            p = torch.sigmoid(self.logits.expand(*sample_shape, *self.logits.shape))
            return (torch.rand_like(p) < p).to(p.dtype)

    @property
    def mode(self) -> torch.Tensor:
        return (self.logits > 0).to(self.logits.dtype)
