"""The NaN policy: what a gradient step does when a loss, the gradients or the parameters are not finite."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from pgrl.errors import NonFiniteError
from pgrl.options import NAN_POLICIES


class NanGuard:
    """``policy="stop"`` raises :class:`pgrl.errors.NonFiniteError` (training stops; nothing non-finite
    reaches a checkpoint); ``policy="skip"`` drops that update (:class:`pgrl.optim.Optimizer` leaves the
    parameters and the optimizer's state as before it) and counts it in ``skipped``.

    ``context()`` adds where training stood to the message (a run's epoch and last checkpoint).
    """

    POLICIES = NAN_POLICIES

    def __init__(self, policy: str = "stop", context: Callable[[], str] | None = None) -> None:
        self.policy = policy
        self.context = context
        self.skipped = 0

    def fail(self, quantity: str, value: float) -> bool:
        """Handle a non-finite ``quantity``: raise (stop) or count it and return False (skip)."""
        if self.policy == "skip":
            self.skipped += 1
            return False
        where = self.context() if self.context is not None else ""
        raise NonFiniteError(
            f"non-finite {quantity} ({value}){where}; lower the learning rate or clip gradients "
            "(max_grad_norm), or pass nan_policy='skip' (--nan-policy skip) to skip such updates"
        )


CAT_MAX = 1 << 16
"""Tensors of at most this many values in all are checked through one concatenation (see first_non_finite)."""


def first_non_finite(tensors: list[torch.Tensor]) -> torch.Tensor | None:
    """The first tensor holding a NaN or infinity, else None.

    Fast path, run after every gradient step: one sum and a single check (a NaN or inf anywhere makes the
    sum non-finite). For a small network (at most CAT_MAX values) the tensors are concatenated and summed
    once: three ops instead of one sum per tensor, ~35 us less a step for a 12-tensor 64x64 MLP. A larger
    one keeps one sum per tensor, as the copy would then cost more than it saves (measured: 2x slower at
    500k values, 17x at 8M). Confirmed tensor by tensor when it fails, since a sum of huge finite values
    can overflow.
    """
    if not tensors:
        return None
    with torch.no_grad():
        try:
            if sum(t.numel() for t in tensors) <= CAT_MAX:
                total = torch.cat([t.reshape(-1) for t in tensors]).sum()
            else:
                total = torch.stack([t.sum() for t in tensors])
            if all_finite(total):
                return None
        except RuntimeError:  # e.g. tensors on different devices, or of dtypes that do not stack
            pass
        return next((t for t in tensors if not all_finite(t)), None)


def all_finite(t: torch.Tensor) -> bool:
    """Whether every element of ``t`` is finite. A one-element tensor (a loss, a norm) is read with one
    ``item()`` instead of three ops (isfinite, all, bool): ~15 us less on every gradient step."""
    if t.numel() == 1 and not t.is_complex():
        return math.isfinite(t.item())
    return bool(torch.isfinite(t).all())


def a_non_finite_value(t: torch.Tensor) -> float:
    """One NaN or infinite element of ``t``, for the message."""
    t = t.detach()
    return float(t[~torch.isfinite(t)].flatten()[0])


def check_parameters(module: torch.nn.Module, context: Callable[[], str]) -> None:
    """Refuse a network with a NaN or infinite parameter (:class:`NonFiniteError`, ``context()`` saying
    where training stood), so that nothing non-finite is logged as trained or reaches a checkpoint."""
    named = list(module.named_parameters())
    if first_non_finite([p for _, p in named]) is None:  # the usual case, in one check
        return
    for name, p in named:
        if not bool(torch.isfinite(p).all()):
            raise NonFiniteError(f"non-finite parameter {name} ({a_non_finite_value(p)}){context()}")
