"""Data-parallel training over processes (and machines) with ``torch.distributed`` on the gloo backend.

A run launched by ``torchrun`` (or ``pgrl train ALGO --nproc N``, which calls torchrun's launcher) gets
``WORLD_SIZE``, ``RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` in its environment; :func:`init` joins the
process group from them. Then every process (rank) collects its share of each epoch's steps with its own
seeds (seed + 10000 * rank), the parameters start as rank 0's, the gradients are averaged before every
optimizer step (:func:`pgrl.update.step_optimizer` calls :func:`sync_gradients`), and only rank 0 writes
the run directory. See docs/scaling.md.

With one process (no ``WORLD_SIZE``, or ``WORLD_SIZE=1``) every function here is a no-op that returns
its input: single-process training pays nothing and is unchanged, bit for bit.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from pgrl.advantages import standardize as local_standardize
from pgrl.advantages import standardize_rows

SEED_STRIDE = 10000
"""Rank r seeds its envs and RNGs with seed + SEED_STRIDE * r."""


def active() -> bool:
    """Whether this process is one of several in an initialised process group."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def is_main() -> bool:
    """Rank 0: the process that logs, checkpoints and evaluates."""
    return rank() == 0


def init() -> bool:
    """Join the process group described by torchrun's environment variables (gloo backend, CPU).

    Returns whether training is distributed. Without ``WORLD_SIZE`` > 1 nothing happens; an already
    initialised group (e.g. set up by the caller) is used as it is.
    """
    if dist.is_available() and dist.is_initialized():
        return active()
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    timeout = datetime.timedelta(seconds=float(os.environ.get("PGRL_DIST_TIMEOUT", "1800")))
    dist.init_process_group("gloo", timeout=timeout)
    global _owned
    _owned = True
    return active()


_owned = False  # whether init() created the process group (a caller's own group is left to the caller)


def shutdown() -> None:
    """Leave the process group that :func:`init` created, once every process got here.

    A process that exits with the group alive can abort in gloo's threads at interpreter shutdown
    ("terminate called without an active exception"), so training ends by destroying it.
    """
    global _owned
    if _owned and dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
    _owned = False


def rank_seed(seed: int) -> int:
    """This process's seed: ``seed`` on rank 0 (and in single-process runs), seed + 10000 * rank else."""
    return seed + SEED_STRIDE * rank()


def share(total: int) -> int:
    """This process's share of ``total`` (steps per epoch): ceil(total / world_size)."""
    return -(-int(total) // world_size())


# ----------------------------------------------------------------------------------------------- tensors


def broadcast_parameters(module: torch.nn.Module, src: int = 0) -> None:
    """Make every process's parameters and buffers those of rank ``src`` (one flattened broadcast)."""
    if not active():
        return
    tensors = [t for t in [*module.parameters(), *module.buffers()] if t.is_floating_point()]
    if not tensors:
        return
    with torch.no_grad():
        flat = torch.cat([t.detach().reshape(-1).to(torch.float64) for t in tensors])
        dist.broadcast(flat, src)
        offset = 0
        for t in tensors:
            n = t.numel()
            t.copy_(flat[offset : offset + n].view_as(t).to(t.dtype))
            offset += n


def sync_gradients(params: Sequence[torch.Tensor], loss_ok: bool) -> bool:
    """Average the gradients of ``params`` over processes in place, with one flattened all_reduce.

    ``loss_ok`` is whether this process's loss was finite (a process with a non-finite loss sends zero
    gradients); returns whether every process's was, so that all take the same decision. A parameter
    without a gradient sends zeros (every process must send the same layout).
    """
    if not active():
        return loss_ok
    grads = [p.grad.reshape(-1) if p.grad is not None else torch.zeros(p.numel(), dtype=p.dtype) for p in params]
    flat = torch.cat([*grads, torch.tensor([0.0 if loss_ok else 1.0], dtype=grads[0].dtype)])
    if not loss_ok:
        flat.zero_()
        flat[-1] = 1.0
    dist.all_reduce(flat)
    flat.div_(dist.get_world_size())
    offset = 0
    for p in params:
        n = p.numel()
        g = flat[offset : offset + n].view_as(p)
        if p.grad is not None:
            p.grad.copy_(g)
        elif bool(g.any()):  # unused here, used elsewhere; left None where no process used it
            p.grad = g.clone()
        offset += n
    return bool(flat[-1] == 0)


def sum_array(x: np.ndarray | Sequence[float]) -> np.ndarray:
    """Element-wise sum over processes (float64)."""
    a = np.asarray(x, dtype=np.float64)
    if not active():
        return a
    t = torch.from_numpy(a.copy())
    dist.all_reduce(t)
    return t.numpy()


def mean_float(x: float) -> float:
    """The mean of a number over processes."""
    if not active():
        return x
    return float(sum_array([x])[0]) / world_size()


def gather_objects(obj: Any) -> list[Any]:
    """Every process's ``obj`` (picklable), in rank order; ``[obj]`` with one process."""
    if not active():
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def gather_rows(x: torch.Tensor) -> torch.Tensor:
    """Concatenate (n_r, ...) tensors of every process in rank order; the n_r may differ."""
    if not active():
        return x
    sizes = [int(s) for s in sum_array(np.eye(world_size())[rank()] * len(x))]
    padded = torch.zeros((max(sizes), *x.shape[1:]), dtype=x.dtype)
    padded[: len(x)] = x
    parts = [torch.empty_like(padded) for _ in sizes]
    dist.all_gather(parts, padded)
    return torch.cat([p[:n] for p, n in zip(parts, sizes, strict=True)])


def broadcast_tensor(x: torch.Tensor, src: int = 0) -> torch.Tensor:
    """Rank ``src``'s ``x`` (same shape and dtype on every process)."""
    if active():
        dist.broadcast(x, src)
    return x


# --------------------------------------------------------------------------------------------- batches


def global_count(n: int) -> int:
    """The number of samples over all processes."""
    return int(sum_array([n])[0]) if active() else n


def standardize(x: torch.Tensor, valid: torch.Tensor | None = None, eps: float = 1e-8) -> torch.Tensor:
    """:func:`pgrl.advantages.standardize` with the mean and (population) std over every process's
    ``x`` (one all_reduce of count, sum and sum of squares); the plain function with one process. K agents'
    (K, B) batches (:mod:`pgrl.seeds`, never data-parallel) are standardised row by row over their ``valid``
    samples."""
    if x.dim() > 1 or valid is not None:
        return standardize_rows(x, valid, eps)
    if not active():
        return local_standardize(x, eps)
    xd = x.detach().to(torch.float64)
    n, s, s2 = sum_array([xd.numel(), float(xd.sum()), float((xd * xd).sum())])
    if n < 2:
        return x - (s / n if n else 0.0)
    mean = s / n
    std = max(s2 / n - mean * mean, 0.0) ** 0.5
    return (x - mean) / (std + eps)


def batch_mean(x: torch.Tensor, global_n: int) -> torch.Tensor:
    """This process's term of the mean over the global batch of ``global_n`` samples, scaled so that
    :func:`sync_gradients` (which averages over processes) yields the gradient of the full mean even
    when the processes hold different numbers of samples (or none)."""
    if not active():
        return x.mean()
    return x.sum() * (world_size() / max(global_n, 1))


def sync_running_stats(rms: Any, before: tuple[np.ndarray, np.ndarray, float]) -> None:
    """Merge the observations every process folded into its :class:`pgrl.normalize.RunningMeanStd`
    since ``before`` (its (mean, var, count) then, the same on every process), so that all processes
    normalise alike."""
    if not active():
        return
    mean0, var0, count0 = before
    n = rms.count - count0
    s1 = rms.mean * rms.count - mean0 * count0  # the new observations' sum
    s2 = (rms.var + rms.mean**2) * rms.count - (var0 + mean0**2) * count0  # and sum of squares
    total = sum_array(np.concatenate([[n], s1.reshape(-1), s2.reshape(-1)]))
    n_all = total[0]
    d = rms.mean.size
    count = count0 + n_all
    mean = (mean0 * count0 + total[1 : 1 + d].reshape(rms.mean.shape)) / count
    ex2 = ((var0 + mean0**2) * count0 + total[1 + d :].reshape(rms.mean.shape)) / count
    rms.mean, rms.var, rms.count = mean, np.maximum(ex2 - mean**2, 0.0), count


def broadcast_running_stats(rms: Any) -> None:
    """Make every process's :class:`pgrl.normalize.RunningMeanStd` (or None) that of rank 0."""
    if rms is None or not active():
        return
    stats = broadcast_tensor(torch.from_numpy(np.concatenate([rms.mean, rms.var, [rms.count]])))
    d = rms.mean.size
    rms.mean = stats[:d].numpy().reshape(rms.mean.shape)
    rms.var = stats[d : 2 * d].numpy().reshape(rms.var.shape)
    rms.count = float(stats[-1])


def running_stats_snapshot(rms: Any) -> tuple[np.ndarray, np.ndarray, float] | None:
    if rms is None or not active():
        return None
    return rms.mean.copy(), rms.var.copy(), float(rms.count)
