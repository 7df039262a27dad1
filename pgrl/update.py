"""Pieces of the update step that algorithms share: the flat batch, minibatches, optimizer steps."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import torch

from pgrl import distributed
from pgrl.errors import NonFiniteError, PgrlError
from pgrl.rollout import Rollout


@dataclass
class Batch:
    """A rollout flattened to (B,) samples, B = T * N, as tensors."""

    obs: torch.Tensor  # (B, obs_dim)
    act: torch.Tensor  # (B,) or (B, act_dim)
    logp: torch.Tensor  # (B,) log-probs when the actions were taken
    adv: torch.Tensor  # (B,)
    ret: torch.Tensor  # (B,) critic targets

    def __len__(self) -> int:
        return len(self.adv)

    def __getitem__(self, idx: torch.Tensor) -> Batch:
        return Batch(self.obs[idx], self.act[idx], self.logp[idx], self.adv[idx], self.ret[idx])


def _flat(x: np.ndarray) -> torch.Tensor:
    # Copies, because the collector reuses its arrays for the next epoch.
    return torch.from_numpy(x.reshape(-1, *x.shape[2:]).copy())


def make_batch(rollout: Rollout, adv: np.ndarray, ret: np.ndarray) -> Batch:
    return Batch(_flat(rollout.obs), _flat(rollout.actions), _flat(rollout.logp), _flat(adv), _flat(ret))


def minibatches(batch: Batch, size: int) -> Iterator[Batch]:
    """A fresh random partition of the batch into minibatches of ``size`` (the last may be smaller)."""
    n = len(batch)
    if size >= n:
        yield batch
        return
    perm = torch.randperm(n)
    for start in range(0, n, size):
        yield batch[perm[start : start + size]]


def adam(params: Iterable[torch.nn.Parameter], lr: float, eps: float = 1e-8) -> torch.optim.Adam:
    """Adam, with PyTorch's fused kernel where every parameter allows it (floating point, on CPU or CUDA).

    A small network's gradient step is mostly fixed per-call overhead; the fused kernel updates all
    parameters in one call instead of a Python loop over them (~25% of a CartPole minibatch step).
    """
    params = list(params)
    fused = bool(params) and all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)
    return torch.optim.Adam(params, lr=lr, eps=eps, fused=fused or None)


class NanGuard:
    """What :func:`step_optimizer` does when a loss, the gradients or the parameters are not finite.

    ``policy="stop"`` raises :class:`pgrl.errors.NonFiniteError` (training stops; nothing non-finite
    reaches a checkpoint); ``policy="skip"`` drops that update (the parameters and the optimizer's
    state are left as before it) and counts it in ``skipped``. A :class:`pgrl.training.Run` attaches one
    to each optimizer passed to ``run.attach``; ``context()`` adds where training stood to the message.
    """

    POLICIES = ("stop", "skip")

    def __init__(self, policy: str = "stop", context: Callable[[], str] | None = None) -> None:
        if policy not in self.POLICIES:
            raise PgrlError(f"nan_policy must be one of {', '.join(self.POLICIES)}, got {policy!r}")
        self.policy = policy
        self.context = context
        self.skipped = 0

    def attach(self, optimizer: torch.optim.Optimizer) -> None:
        optimizer._pgrl_guard = self  # type: ignore[attr-defined]

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


_DEFAULT_GUARD = NanGuard("stop")


def _optimizer_params(optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
    return [p for group in optimizer.param_groups for p in group["params"]]


def _first_non_finite(tensors: list[torch.Tensor]) -> torch.Tensor | None:
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


def _a_non_finite_value(t: torch.Tensor) -> float:
    t = t.detach()
    return float(t[~torch.isfinite(t)].flatten()[0])


def step_optimizer(
    optimizer: torch.optim.Optimizer,
    loss: torch.Tensor,
    params: Iterable[torch.nn.Parameter],
    max_grad_norm: float | None,
) -> bool:
    """zero_grad, backward, optional global-norm clipping, step; guarded against NaN and infinity.

    A non-finite loss or gradient norm, or non-finite parameters after the step, are handled by the
    optimizer's :class:`NanGuard` (``run.attach`` sets it; default: stop with
    :class:`pgrl.errors.NonFiniteError`). Returns False when the update was skipped.

    In a data-parallel run (:mod:`pgrl.distributed`) the gradients are averaged over the processes
    (one flattened all_reduce) before clipping and the step, so every process makes the same update.
    """
    guard: NanGuard = getattr(optimizer, "_pgrl_guard", _DEFAULT_GUARD)
    if distributed.active():  # data-parallel: average the gradients over processes (pgrl.distributed)
        params = list(params)
        loss_ok = bool(torch.isfinite(loss).all())
        optimizer.zero_grad(set_to_none=True)
        if loss_ok:
            loss.backward()
        if not distributed.sync_gradients(params, loss_ok):  # every process decides alike
            optimizer.zero_grad(set_to_none=True)
            return guard.fail("loss", float(loss.detach().flatten()[0]) if not loss_ok else float("nan"))
    else:
        if not bool(torch.isfinite(loss).all()):
            return guard.fail("loss", float(loss.detach().flatten()[0]))
        params = list(params)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
    if max_grad_norm is not None:
        norm = torch.nn.utils.clip_grad_norm_(params, max_grad_norm, foreach=True)
        bad_grad = not bool(torch.isfinite(norm))
    else:
        grad = _first_non_finite([p.grad for p in params if p.grad is not None])
        bad_grad, norm = grad is not None, torch.tensor(_a_non_finite_value(grad) if grad is not None else 0.0)
    if bad_grad:
        optimizer.zero_grad(set_to_none=True)
        return guard.fail("gradient norm", float(norm))
    opt_params = _optimizer_params(optimizer)
    if guard.policy == "skip":  # keep what the step changes, to undo it
        saved_params = [p.detach().clone() for p in opt_params]
        saved_state = copy.deepcopy(optimizer.state_dict())
    optimizer.step()
    bad = _first_non_finite(opt_params)
    if bad is not None:
        value = _a_non_finite_value(bad)
        if guard.policy == "skip":
            with torch.no_grad():
                for p, saved in zip(opt_params, saved_params, strict=True):
                    p.copy_(saved)
            optimizer.load_state_dict(saved_state)
        return guard.fail("parameters", value)
    return True


def set_lr(optimizers: Mapping[str, torch.optim.Optimizer], base_lr: Mapping[str, float], fraction: float) -> None:
    """Set each optimizer's learning rate to base_lr * fraction (linear annealing)."""
    for name, opt in optimizers.items():
        for group in opt.param_groups:
            group["lr"] = base_lr[name] * fraction
