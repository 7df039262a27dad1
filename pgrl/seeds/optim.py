"""Adam and pgrl's gradient step for K agents' stacked parameters (:mod:`pgrl.seeds.networks`).

Each agent keeps what its own :class:`pgrl.optim.Optimizer` would: its Adam moments (slice k of the
stacked ones; Adam is elementwise), its step count (so its bias correction is its own when another
agent's step was skipped), its gradient-norm clipping (its own norm) and its NaN guard. An agent that is
not ``active`` in a step (it stopped early, solved the env, or its minibatch is empty) is left exactly as it
was: parameters, moments and step count.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import torch

from pgrl.nan_guard import NanGuard
from pgrl.optim import Optimizer


def rows_of(tensors: Sequence[torch.Tensor], K: int) -> torch.Tensor:
    """(K, ...) tensors as one (K, D) matrix, agent k's entries in row k (one copy: a few ops, not a few per
    tensor, which for a small network cost more than the arithmetic)."""
    return torch.cat([t.reshape(K, -1) for t in tensors], dim=1)


def per_agent(values: torch.Tensor, like: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """(K,) values viewed to broadcast over each (K, ...) tensor of ``like`` (one view per dimension count)."""
    views: dict[int, torch.Tensor] = {}
    for t in like:
        if t.dim() not in views:
            views[t.dim()] = values.view((-1,) + (1,) * (t.dim() - 1))
    return [views[t.dim()] for t in like]


class StackedAdam:
    """Adam (Kingma and Ba 2015, torch.optim.Adam's arithmetic) on (K, ...) parameters, one step count per agent."""

    def __init__(self, params: Iterable[torch.nn.Parameter], agents: int, lr: float, eps: float = 1e-8) -> None:
        self.params = list(params)
        self.agents = agents
        self.param_groups: list[dict[str, Any]] = [
            {"lr": lr, "betas": (0.9, 0.999), "eps": eps, "weight_decay": 0, "amsgrad": False, "maximize": False,
             "foreach": None, "capturable": False, "differentiable": False, "fused": True,
             "decoupled_weight_decay": False, "params": self.params}
        ]  # fmt: skip
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]
        self.steps = torch.zeros(agents, dtype=torch.float64)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self, active: torch.Tensor) -> None:
        """One Adam step of the agents ``active`` ((K,) bool) on the parameters that have a gradient."""
        group = self.param_groups[0]
        beta1, beta2 = group["betas"]
        self.steps += active.to(self.steps.dtype)
        steps = self.steps.clamp(min=1.0)  # an agent that never stepped: its (unused) correction stays finite
        step_size = group["lr"] / (1.0 - beta1**steps)
        root_correction = (1.0 - beta2**steps).sqrt()
        live = [i for i, p in enumerate(self.params) if p.grad is not None]
        if bool(active.all()):  # the common case: every agent steps, in a few foreach kernels
            self._step_all(live, step_size, root_correction, beta1, beta2, group["eps"])
            return
        for i in live:
            p, m, v = self.params[i], self.exp_avg[i], self.exp_avg_sq[i]
            shape = (self.agents,) + (1,) * (p.dim() - 1)
            g = p.grad
            assert g is not None
            new_m = m.lerp(g, 1 - beta1)
            new_v = v * beta2 + (1 - beta2) * g * g
            denom = new_v.sqrt() / root_correction.to(p.dtype).view(shape) + group["eps"]
            update = step_size.to(p.dtype).view(shape) * new_m / denom
            on = active.view(shape)
            m.copy_(torch.where(on, new_m, m))
            v.copy_(torch.where(on, new_v, v))
            p.sub_(torch.where(on, update, torch.zeros_like(update)))

    def _step_all(
        self, live: list[int], step_size: torch.Tensor, root_correction: torch.Tensor, beta1: float, beta2: float,
        eps: float,
    ) -> None:  # fmt: skip
        params: list[torch.Tensor] = [self.params[i] for i in live]
        grads = [p.grad for p in params]
        m, v = [self.exp_avg[i] for i in live], [self.exp_avg_sq[i] for i in live]
        torch._foreach_lerp_(m, grads, 1 - beta1)  # type: ignore[arg-type]
        torch._foreach_mul_(v, beta2)
        torch._foreach_addcmul_(v, grads, grads, 1 - beta2)  # type: ignore[arg-type]
        denom = torch._foreach_sqrt(v)
        torch._foreach_div_(denom, per_agent(root_correction.to(params[0].dtype), params))
        torch._foreach_add_(denom, eps)
        update = torch._foreach_div(m, denom)
        torch._foreach_mul_(update, per_agent(step_size.to(params[0].dtype), params))
        torch._foreach_sub_(params, update)

    def narrow(self, index: torch.Tensor) -> None:
        """Keep only the agents ``index``: the parameters' slices (narrowed by their module) and the states."""
        self.exp_avg = [m[index].clone() for m in self.exp_avg]
        self.exp_avg_sq = [v[index].clone() for v in self.exp_avg_sq]
        self.steps = self.steps[index].clone()
        self.agents = len(index)

    @torch.no_grad()
    def load_member(self, k: int, state: dict[str, Any]) -> None:
        """Agent ``k``'s slice from :meth:`member_state`'s layout (its checkpoint's, when a group resumes)."""
        saved = state.get("state") or {}
        for i, (m, v) in enumerate(zip(self.exp_avg, self.exp_avg_sq, strict=True)):
            entry = saved.get(i, saved.get(str(i)))
            if entry is None:  # the agent had not stepped: its moments are zero, its count 0
                continue
            m[k].copy_(entry["exp_avg"].reshape(m[k].shape))
            v[k].copy_(entry["exp_avg_sq"].reshape(v[k].shape))
            self.steps[k] = float(entry["step"])

    def member_state(self, k: int, shapes: Sequence[torch.Size]) -> dict[str, Any]:
        """Agent ``k``'s state in :class:`pgrl.optim.Adam`'s (torch.optim.Adam's) layout, for its checkpoint."""
        group = {key: value for key, value in self.param_groups[0].items() if key != "params"}
        state = {}
        if self.steps[k] > 0:
            step = torch.tensor(float(self.steps[k]), dtype=torch.float32)
            for i, (m, v, shape) in enumerate(zip(self.exp_avg, self.exp_avg_sq, shapes, strict=True)):
                state[i] = {"step": step.clone(), "exp_avg": m[k].reshape(shape).clone(),
                            "exp_avg_sq": v[k].reshape(shape).clone()}  # fmt: skip
        return {"state": state, "param_groups": [{**group, "params": list(range(len(self.params)))}]}


class StackedOptimizer(Optimizer):
    """pgrl's gradient step for K agents at once: ``step(loss)`` with ``loss`` (K,), one loss per agent.

    Args:
        adam: the agents' :class:`StackedAdam`.
        max_grad_norm: each agent's gradient norm is clipped to this on its own (None: no clipping).
        guards: each agent's NaN guard; with policy "skip" its non-finite update is undone and counted.
        training: the agents still training, (K,) bool (a finished or failed agent never steps).
        failed: called as ``failed(k, quantity, value)`` when agent k's loss, gradient norm or parameters are
            not finite under the "stop" policy; the caller stops that agent (the others go on).
    """

    def __init__(
        self,
        adam: StackedAdam,
        max_grad_norm: float | None,
        guards: Sequence[NanGuard],
        training: Callable[[], torch.Tensor],
        failed: Callable[[int, str, float], None],
    ) -> None:
        super().__init__(adam, max_grad_norm, guards[0])  # type: ignore[arg-type]
        self.adam, self.guards, self.training, self.failed = adam, list(guards), training, failed

    name = ""  # the name its run checkpoints it under

    def narrow(self, index: torch.Tensor, guards: Sequence[NanGuard]) -> None:
        """Keep only the agents ``index`` (:meth:`StackedAdam.narrow`), with these guards."""
        self.adam.narrow(index)
        self.guards = list(guards)

    def step(self, loss: torch.Tensor, active: Any = None) -> bool:
        """Backward on the agents' losses, per-agent clipping, guards and Adam; ``active`` (K,) bools: the
        agents that take this step (default all that are training)."""
        on = self.training().clone()
        if active is not None:
            on &= torch.as_tensor(np.asarray(active, dtype=bool))
        on &= self._finite(on, torch.isfinite(loss.detach()), "loss", loss.detach())
        self.adam.zero_grad()
        torch.where(on, loss, torch.zeros_like(loss)).sum().backward()
        params = [p for p in self.params if p.grad is not None]
        grads: list[torch.Tensor] = [p.grad for p in params]  # type: ignore[misc]
        K = self.adam.agents
        norms = torch.linalg.vector_norm(rows_of(grads, K), dim=1)  # each agent's global norm, (K,)
        on &= self._finite(on, torch.isfinite(norms), "gradient norm", norms)
        if self.max_grad_norm is not None:
            coef = (self.max_grad_norm / (norms + 1e-6)).clamp(max=1.0)
            torch._foreach_mul_(grads, per_agent(coef, grads))
        undo = self._snapshot() if any(g.policy == "skip" for g in self.guards) else None
        self.adam.step(on)
        finite = torch.isfinite(rows_of([p.detach() for p in self.params], K)).all(1)
        bad = on & ~finite
        if bool(bad.any()):
            self._restore(bad, undo)
            self._finite(on, finite, "parameters", torch.full((K,), float("nan")))
        return bool(on.any())

    def _finite(self, on: torch.Tensor, ok: torch.Tensor, quantity: str, values: torch.Tensor) -> torch.Tensor:
        """The agents whose ``quantity`` is finite; the guard of each that is not (among ``on``) handles it."""
        for k in np.flatnonzero((on & ~ok).numpy()):
            if self.guards[k].policy == "skip":
                self.guards[k].skipped += 1
            else:
                self.failed(int(k), quantity, float(values[k]))
        return ok

    def _snapshot(self) -> list[torch.Tensor]:
        return [t.detach().clone() for t in (*self.params, *self.adam.exp_avg, *self.adam.exp_avg_sq, self.adam.steps)]

    @torch.no_grad()
    def _restore(self, agents: torch.Tensor, saved: list[torch.Tensor] | None) -> None:
        """Undo the last step of ``agents`` (nan_policy skip); under "stop" the caller resets them."""
        if saved is None:
            return
        live = (*self.params, *self.adam.exp_avg, *self.adam.exp_avg_sq, self.adam.steps)
        for now, before in zip(live, saved, strict=True):
            now[agents] = before[agents]

    def member_state(self, k: int, shapes: Sequence[torch.Size]) -> dict[str, Any]:
        return self.adam.member_state(k, shapes)


class MemberOptimizer(Optimizer):
    """Agent k's view of a :class:`StackedOptimizer`: what its run's checkpoints save under the optimizer's
    name (the state :class:`pgrl.optim.Adam` would have), so that the seed's run resumes on its own."""

    def __init__(self, stacked: StackedOptimizer, k: int, params: Iterable[torch.nn.Parameter]) -> None:
        self.stacked, self.k = stacked, k
        self.shapes = [p.shape for p in params]
        self.frozen: dict[str, Any] | None = None
        self.optimizer = stacked.optimizer
        self.max_grad_norm, self.guard = stacked.max_grad_norm, stacked.guards[k]

    def scale_lr(self, fraction: float) -> None: ...  # the stacked optimizer's schedule is every agent's

    def state_dict(self) -> dict[str, Any]:
        return self.frozen if self.frozen is not None else self.stacked.member_state(self.k, self.shapes)

    def freeze(self) -> None:
        """Keep the current state: the agent leaves the stacked computation (it stopped training)."""
        self.frozen = self.state_dict()

    def step(self, loss: torch.Tensor, active: Any = None) -> bool:
        raise RuntimeError("a seed's optimizer steps through the stacked optimizer of its group")
