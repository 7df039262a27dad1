"""The NaN policy: what a gradient step does when a loss, the gradients or the parameters are not finite."""

from __future__ import annotations

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


def first_non_finite(tensors: list[torch.Tensor]) -> torch.Tensor | None:
    """The first tensor holding a NaN or infinity, else None. Fast path: one sum per tensor and a single
    check (a NaN or inf anywhere makes its sum non-finite); confirmed element-wise when it fails, since a
    sum of huge finite values can overflow."""
    if not tensors:
        return None
    with torch.no_grad():
        try:
            if bool(torch.isfinite(torch.stack([t.sum() for t in tensors])).all()):
                return None
        except RuntimeError:  # e.g. mixed dtypes
            pass
        return next((t for t in tensors if not bool(torch.isfinite(t).all())), None)


def a_non_finite_value(t: torch.Tensor) -> float:
    """One NaN or infinite element of ``t``, for the message."""
    t = t.detach()
    return float(t[~torch.isfinite(t)].flatten()[0])


def check_parameters(module: torch.nn.Module, context: Callable[[], str]) -> None:
    """Refuse a network with a NaN or infinite parameter (:class:`NonFiniteError`, ``context()`` saying
    where training stood), so that nothing non-finite is logged as trained or reaches a checkpoint."""
    for name, p in module.named_parameters():
        if not bool(torch.isfinite(p).all()):
            raise NonFiniteError(f"non-finite parameter {name} ({a_non_finite_value(p)}){context()}")
