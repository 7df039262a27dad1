"""Optimizers and pgrl's gradient step: backward, clipping, the NaN guard, data-parallel averaging, the lr schedule."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

import torch

from pgrl import distributed
from pgrl.nan_guard import NanGuard, a_non_finite_value, first_non_finite


def adam(params: Iterable[torch.nn.Parameter], lr: float, eps: float = 1e-8) -> torch.optim.Adam:
    """Adam, with PyTorch's fused kernel where every parameter allows it (floating point, on CPU or CUDA).

    A small network's gradient step is mostly fixed per-call overhead; the fused kernel updates all
    parameters in one call instead of a Python loop over them (~25% of a CartPole minibatch step).
    """
    params = list(params)
    fused = bool(params) and all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)
    return torch.optim.Adam(params, lr=lr, eps=eps, fused=fused or None)


class Optimizer:
    """A torch optimizer with pgrl's gradient step (:meth:`step`) and linear lr schedule (:meth:`scale_lr`).

    Args:
        optimizer: e.g. :func:`adam` over the parameters it trains.
        max_grad_norm: clip the global gradient norm to this before each step (None: no clipping).
        guard: what a non-finite loss, gradient or parameter does (:class:`pgrl.nan_guard.NanGuard`).
    """

    def __init__(self, optimizer: torch.optim.Optimizer, max_grad_norm: float | None, guard: NanGuard) -> None:
        self.optimizer = optimizer
        self.max_grad_norm = max_grad_norm
        self.guard = guard
        self.params: list[torch.Tensor] = [p for group in optimizer.param_groups for p in group["params"]]
        self.base_lrs = [float(group["lr"]) for group in optimizer.param_groups]

    def scale_lr(self, fraction: float) -> None:
        """Set the learning rate to its initial value times ``fraction`` (linear annealing)."""
        for group, lr in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
            group["lr"] = lr * fraction

    def state_dict(self) -> dict[str, Any]:
        return self.optimizer.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state)

    def step(self, loss: torch.Tensor) -> bool:
        """zero_grad, backward, optional global-norm clipping, step; guarded against NaN and infinity.

        A non-finite loss or gradient norm, or non-finite parameters after the step, are handled by the
        guard (stop: :class:`pgrl.errors.NonFiniteError`; skip: the update is undone). Returns False when
        the update was skipped. In a data-parallel run (:mod:`pgrl.distributed`) the gradients are
        averaged over the processes (one flattened all_reduce) before clipping and the step, so every
        process makes the same update.
        """
        if not self._backward(loss):
            return False
        params = self.params
        if self.max_grad_norm is not None:
            norm = torch.nn.utils.clip_grad_norm_(params, self.max_grad_norm, foreach=True)
            bad_grad = not bool(torch.isfinite(norm))
        else:
            grad = first_non_finite([p.grad for p in params if p.grad is not None])
            bad_grad, norm = grad is not None, torch.tensor(a_non_finite_value(grad) if grad is not None else 0.0)
        if bad_grad:
            self.optimizer.zero_grad(set_to_none=True)
            return self.guard.fail("gradient norm", float(norm))
        if self.guard.policy == "skip":  # keep what the step changes, to undo it
            saved_params = [p.detach().clone() for p in params]
            saved_state = copy.deepcopy(self.optimizer.state_dict())
        self.optimizer.step()
        bad = first_non_finite(params)
        if bad is not None:
            value = a_non_finite_value(bad)
            if self.guard.policy == "skip":
                with torch.no_grad():
                    for p, saved in zip(params, saved_params, strict=True):
                        p.copy_(saved)
                self.optimizer.load_state_dict(saved_state)
            return self.guard.fail("parameters", value)
        return True

    def _backward(self, loss: torch.Tensor) -> bool:
        """The gradients of ``loss`` (averaged over processes when data-parallel); False if it is not finite."""
        if distributed.active():
            loss_ok = bool(torch.isfinite(loss).all())
            self.optimizer.zero_grad(set_to_none=True)
            if loss_ok:
                loss.backward()
            if not distributed.sync_gradients(self.params, loss_ok):  # every process decides alike
                self.optimizer.zero_grad(set_to_none=True)
                return self.guard.fail("loss", float(loss.detach().flatten()[0]) if not loss_ok else float("nan"))
            return True
        if not bool(torch.isfinite(loss).all()):
            return self.guard.fail("loss", float(loss.detach().flatten()[0]))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        return True
