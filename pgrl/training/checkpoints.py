"""What a run saves and restores: its optimizers (made here, so that each is checkpointed under its name
and restored when resuming), the last checkpoint (every save_freq epochs, at the end, on a signal) and the
best policy an in-training evaluation found (:data:`pgrl.rundir.BEST`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch

from pgrl.agent import Agent
from pgrl.checkpoint import save_checkpoint, training_state
from pgrl.nan_guard import NanGuard, check_parameters
from pgrl.optim import Optimizer, adam
from pgrl.rollout import Collector
from pgrl.rundir import BEST, CHECKPOINT
from pgrl.training.resume import Resumed


class Checkpoints:
    """A run's optimizers and checkpoints.

    Args:
        run_dir: where the checkpoints go; only the process that writes (``writes``, rank 0) writes them.
        guard: the NaN guard of the run's optimizers.
        where: where training stands, for the message when the network is not finite (never saved).
        resumed: the checkpoint a resumed run continues from (its optimizers' states are restored).
    """

    def __init__(
        self, run_dir: Path, writes: bool, guard: NanGuard, where: Callable[[], str], resumed: Resumed | None
    ) -> None:
        self.run_dir, self.writes, self.guard, self.where, self.resumed = run_dir, writes, guard, where, resumed
        self.optimizers: dict[str, Optimizer] = {}
        self.saved_epoch: int | None = resumed.epoch if resumed is not None else None  # the last one on disk
        self.extra: dict[str, Any] = {}  # the algorithm's own state (tensors and plain data)

    def optimizer(
        self, name: str, params: Iterable[torch.nn.Parameter], lr: float, max_grad_norm: float | None, eps: float
    ) -> Optimizer:
        """Adam on ``params`` with the run's NaN guard, restored from the checkpoint when resuming."""
        opt = Optimizer(adam(params, lr=lr, eps=eps), max_grad_norm, self.guard)
        if self.resumed is not None:
            self.resumed.restore_optimizer(name, opt)
        self.optimizers[name] = opt
        return opt

    def check_resumed(self) -> None:
        """Refuse a resumed run whose algorithm made other optimizers than the checkpoint holds."""
        if self.resumed is not None:
            self.resumed.check_optimizers(self.optimizers)

    def save(
        self, agent: Agent, epoch: int, total_steps: int, collector: Collector | None, best: float | None = None
    ) -> None:
        """Checkpoint the completed ``epoch`` atomically (:func:`pgrl.checkpoint.training_state`); with ``best``
        (its evaluation's mean return) as the best policy so far instead. A network that is not finite is
        refused, so a good checkpoint is never replaced by NaNs."""
        check_parameters(agent.ac, self.where)
        if self.writes:  # only rank 0 writes (the parameters are the same on every process)
            state = {**training_state(agent, epoch, total_steps, self.optimizers, collector), **self.extra}
            if best is not None:
                state["eval_return"] = best
            save_checkpoint(self.run_dir, state, name=CHECKPOINT if best is None else BEST)
        if best is None:
            self.saved_epoch = epoch
