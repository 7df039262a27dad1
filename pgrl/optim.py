"""Optimizers and pgrl's gradient step: backward, clipping, the NaN guard, data-parallel averaging, the lr schedule."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch

from pgrl import distributed
from pgrl.nan_guard import NanGuard, a_non_finite_value, all_finite, first_non_finite


class Adam:
    """Adam (Kingma and Ba 2015) stepping with PyTorch's fused kernel ``torch._fused_adam_``: the call that
    ``torch.optim.Adam(fused=True)`` makes, so the arithmetic is the same bit for bit, without
    torch.optim's Python wrapper around it. That wrapper imports ``torch._dynamo`` the first time any
    optimizer is made or stepped (~1.4 s of every run's start here) and adds per-step bookkeeping (hooks,
    grad-mode switches, grouping by device) to a step that is mostly fixed overhead for small networks.

    Its :meth:`state_dict` has torch.optim.Adam's layout (state by parameter index, one param group with
    torch's keys), so checkpoints written with either load into the other. For parameters the fused
    kernel does not take (not floating point, not on CPU or CUDA, mixed devices or dtypes) :func:`adam`
    returns ``torch.optim.Adam`` instead.
    """

    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float, eps: float = 1e-8) -> None:
        self.params = list(params)
        self.param_groups: list[dict[str, Any]] = [
            {"lr": lr, "betas": (0.9, 0.999), "eps": eps, "weight_decay": 0, "amsgrad": False, "maximize": False,
             "foreach": None, "capturable": False, "differentiable": False, "fused": True,
             "decoupled_weight_decay": False, "params": self.params}
        ]  # fmt: skip
        self.state: dict[torch.Tensor, dict[str, torch.Tensor]] = {}
        # Each parameter's step count (a float32 0-d tensor in its state: torch's layout) is a view into one
        # vector, so a step where every parameter has a gradient counts them all with one add_ instead of
        # torch._foreach_add_, which on CPU is one add per tensor (~25 us of a small network's ~1.4 ms step).
        devices = {p.device for p in self.params}
        self._steps = (
            torch.zeros(len(self.params), dtype=torch.float32, device=devices.pop()) if len(devices) == 1 else None
        )
        self._every: tuple[list[torch.Tensor], ...] | None = None
        """Every parameter with its exp_avg, exp_avg_sq and step once they all have state, for the fast path."""

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """One Adam step on the parameters that have a gradient (their state made on their first step)."""
        grads = [p.grad for p in self.params if p.grad is not None]
        if self._every is not None and self._steps is not None and len(grads) == len(self.params):
            params, exp_avgs, exp_avg_sqs, steps = self._every
            self._steps.add_(1)
        else:
            params, grads, exp_avgs, exp_avg_sqs, steps = self._with_grads()
            if not params:
                return
            torch._foreach_add_(steps, 1)
            if len(params) == len(self.params):
                self._every = params, exp_avgs, exp_avg_sqs, steps
        group = self.param_groups[0]
        beta1, beta2 = group["betas"]
        torch._fused_adam_(
            params, grads, exp_avgs, exp_avg_sqs, [], steps, amsgrad=False, lr=group["lr"], beta1=beta1,
            beta2=beta2, weight_decay=0.0, eps=group["eps"], maximize=False, grad_scale=None, found_inf=None,
        )  # fmt: skip

    def _with_grads(self) -> tuple[list[torch.Tensor], ...]:
        """The parameters that have a gradient, their gradients and their state (made on their first step)."""
        params: list[torch.Tensor] = []
        grads: list[torch.Tensor] = []
        exp_avgs: list[torch.Tensor] = []
        exp_avg_sqs: list[torch.Tensor] = []
        steps: list[torch.Tensor] = []
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            state = self.state.get(p)
            if state is None:
                zeros = torch.zeros_like(p, memory_format=torch.preserve_format)
                state = self.state[p] = {
                    "step": self._step_count(i, 0.0),
                    "exp_avg": zeros,
                    "exp_avg_sq": zeros.clone(),
                }
            params.append(p)
            grads.append(p.grad)
            exp_avgs.append(state["exp_avg"])
            exp_avg_sqs.append(state["exp_avg_sq"])
            steps.append(state["step"])
        return params, grads, exp_avgs, exp_avg_sqs, steps

    def _step_count(self, i: int, value: torch.Tensor | float) -> torch.Tensor:
        """Parameter i's step count, set to ``value``: its view of the shared vector (see __init__)."""
        if self._steps is None:
            return torch.as_tensor(value, dtype=torch.float32).to(self.params[i].device).reshape(()).clone()
        self._steps[i] = value
        return self._steps[i]

    def state_dict(self) -> dict[str, Any]:
        """torch.optim's layout: ``{"state": {index: {"step", "exp_avg", "exp_avg_sq"}}, "param_groups": [...]}``."""
        index = {id(p): i for i, p in enumerate(self.params)}
        group = {k: v for k, v in self.param_groups[0].items() if k != "params"}
        return {
            "state": {index[id(p)]: dict(state) for p, state in self.state.items()},
            "param_groups": [{**group, "params": list(range(len(self.params)))}],
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (or a ``torch.optim.Adam``'s): the moments, steps and hyperparameters."""
        groups = state_dict["param_groups"]
        if len(groups) != 1 or len(groups[0]["params"]) != len(self.params):
            raise ValueError(
                "loaded state dict contains a parameter group that doesn't match the size of optimizer's group"
            )
        saved = {i: state_dict["state"][i] for i in groups[0]["params"] if i in state_dict["state"]}
        if self._steps is not None:  # a new vector: the saved counts may be views of the old one, which
            self._steps = torch.zeros_like(self._steps)  # torch.optim.Adam.load_state_dict also keeps, uncopied
        restored = {}
        for i, state in saved.items():
            p = self.params[i]
            if state["exp_avg"].shape != p.shape or state["exp_avg_sq"].shape != p.shape:
                raise ValueError(
                    f"the state of parameter {i} has shape {tuple(state['exp_avg'].shape)}, not {tuple(p.shape)}"
                )
            restored[p] = {
                "step": self._step_count(i, state["step"].detach().reshape(())),
                "exp_avg": state["exp_avg"].detach().clone().to(dtype=p.dtype, device=p.device),
                "exp_avg_sq": state["exp_avg_sq"].detach().clone().to(dtype=p.dtype, device=p.device),
            }
        self.state, self._every = restored, None
        self.param_groups[0].update({k: v for k, v in groups[0].items() if k != "params"})


def adam(params: Iterable[torch.nn.Parameter], lr: float, eps: float = 1e-8) -> Adam | torch.optim.Adam:
    """Adam with PyTorch's fused kernel (:class:`Adam`) where the parameters allow it (floating point, all on
    one CPU or CUDA device, one dtype), else ``torch.optim.Adam``."""
    params = list(params)
    kinds = {(p.device.type, p.dtype) for p in params}
    if (
        params
        and all(p.is_floating_point() for p in params)
        and len(kinds) == 1
        and next(iter(kinds))[0] in ("cpu", "cuda")
    ):
        return Adam(params, lr=lr, eps=eps)
    return torch.optim.Adam(params, lr=lr, eps=eps)


def one_foreach_group(params: list[torch.Tensor]) -> bool:
    """Whether the parameters are floating point, all of one dtype on one CPU or CUDA device: one group of
    torch's foreach kernels, what :func:`clip_grad_norm` takes (and :class:`Adam`)."""
    kinds = {(p.device, p.dtype) for p in params}
    return (
        len(kinds) == 1 and all(p.is_floating_point() for p in params) and next(iter(kinds))[0].type in ("cpu", "cuda")
    )


@torch.no_grad()
def clip_grad_norm(params: list[torch.Tensor], max_norm: float) -> torch.Tensor:
    """``torch.nn.utils.clip_grad_norm_(params, max_norm, foreach=True)`` for parameters that form one
    foreach group (:func:`one_foreach_group`): the same ops in the same order, so the same bits (a test
    compares them), without its grouping of the tensors by device and dtype and its three nested no_grad
    wrappers on every call, which cost about as much as the arithmetic for a small network (~165 us a
    step instead of ~90 here). Returns the total norm before clipping."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.tensor(0.0)
    total_norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads, 2.0)), 2.0)
    # max_norm / (total_norm + 1e-6) as Tensor.__rdiv__ computes it, without its Python wrapper (~20 us)
    clip_coef = (total_norm + 1e-6).reciprocal() * float(max_norm)
    torch._foreach_mul_(grads, torch.clamp(clip_coef, max=1.0))  # no `if coef < 1`: no device sync, as torch
    return total_norm


class Optimizer:
    """A torch optimizer with pgrl's gradient step (:meth:`step`) and linear lr schedule (:meth:`scale_lr`).

    Args:
        optimizer: e.g. :func:`adam` over the parameters it trains.
        max_grad_norm: clip the global gradient norm to this before each step (None: no clipping).
        guard: what a non-finite loss, gradient or parameter does (:class:`pgrl.nan_guard.NanGuard`).
    """

    def __init__(self, optimizer: torch.optim.Optimizer | Adam, max_grad_norm: float | None, guard: NanGuard) -> None:
        self.optimizer = optimizer
        self.max_grad_norm = max_grad_norm
        self.guard = guard
        self.params: list[torch.Tensor] = [p for group in optimizer.param_groups for p in group["params"]]
        self.base_lrs = [float(group["lr"]) for group in optimizer.param_groups]
        self._one_group = one_foreach_group(self.params)  # clip_grad_norm below serves it

    def scale_lr(self, fraction: float) -> None:
        """Set the learning rate to its initial value times ``fraction`` (linear annealing)."""
        for group, lr in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
            group["lr"] = lr * fraction

    def state_dict(self) -> dict[str, Any]:
        return self.optimizer.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state)

    def step(self, loss: torch.Tensor, active: Any = None) -> bool:
        """zero_grad, backward, optional global-norm clipping, step; guarded against NaN and infinity.

        ``active`` False (or an array of it, the shape of the algorithms' per-agent flags, see
        :mod:`pgrl.seeds`) skips the step: the agent stopped early (PPO's target_kl).

        A non-finite loss or gradient norm, or non-finite parameters after the step, are handled by the
        guard (stop: :class:`pgrl.errors.NonFiniteError`; skip: the update is undone). Returns False when
        the update was skipped. In a data-parallel run (:mod:`pgrl.distributed`) the gradients are
        averaged over the processes (one flattened all_reduce) before clipping and the step, so every
        process makes the same update.
        """
        if active is not None and not np.all(active):
            return False
        if not self._backward(loss):
            return False
        params = self.params
        if self.max_grad_norm is not None:
            norm = self._clip(params, self.max_grad_norm)
            bad_grad = not all_finite(norm)
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

    def _clip(self, params: list[torch.Tensor], max_norm: float) -> torch.Tensor:
        """Clip the global gradient norm to ``max_norm``; returns the norm before clipping."""
        if self._one_group:
            return clip_grad_norm(params, max_norm)
        return torch.nn.utils.clip_grad_norm_(params, max_norm, foreach=True)

    def _backward(self, loss: torch.Tensor) -> bool:
        """The gradients of ``loss`` (averaged over processes when data-parallel); False if it is not finite."""
        if distributed.active():
            loss_ok = all_finite(loss)
            self.optimizer.zero_grad(set_to_none=True)
            if loss_ok:
                loss.backward()
            if not distributed.sync_gradients(self.params, loss_ok):  # every process decides alike
                self.optimizer.zero_grad(set_to_none=True)
                return self.guard.fail("loss", float(loss.detach().flatten()[0]) if not loss_ok else float("nan"))
            return True
        if not all_finite(loss):
            return self.guard.fail("loss", float(loss.detach().flatten()[0]))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        return True
