"""Stopping when solved and keeping the best: the in-training evaluations measured against a target.

With ``target_return`` (or ``until_solved``: the env spec's ``reward_threshold``) training stops after the
first in-training evaluation whose mean return reaches it. Whenever a run evaluates during training, the
best evaluated policy so far is kept beside the last one (:data:`pgrl.rundir.BEST`), for
``pgrl.load(run, best=True)`` and ``pgrl eval --best``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from pgrl.checkpoint import load_checkpoint
from pgrl.envs import EnvSpec, reward_threshold
from pgrl.errors import PgrlError
from pgrl.options import RunOptions
from pgrl.rundir import BEST


@dataclass
class Goal:
    """The run's target (None: none), the env's reward threshold (None: the env has none), the best
    evaluation so far, and when the target was first reached (env steps, seconds of training)."""

    target: float | None
    threshold: float | None
    best: float = -math.inf
    solved_at: tuple[int, float] | None = None

    @classmethod
    def of(cls, options: RunOptions, env_fn: EnvSpec, env_id: str, run_dir: Path | None) -> Goal:
        """The goal the options ask for; a resumed run (``run_dir``) continues from its best so far."""
        threshold = reward_threshold(env_fn)
        target = options["target_return"]
        if options["until_solved"]:
            if threshold is None:
                raise PgrlError(
                    f"{env_id} has no reward_threshold in its spec, so until_solved cannot tell when it is solved; "
                    "pass target_return (--target-return R) instead"
                )
            target = threshold
        goal = cls(None if target is None else float(target), threshold)
        if run_dir is not None and (run_dir / BEST).exists():
            goal.best = float(load_checkpoint(run_dir / BEST).get("eval_return", -math.inf))
        return goal

    def evaluated(self, mean_return: float, steps: int, seconds: float) -> bool:
        """Count an in-training evaluation; True when it is the best so far (keep this policy)."""
        if self.target is not None and self.solved_at is None and mean_return >= self.target:
            self.solved_at = (steps, seconds)
        if mean_return > self.best:
            self.best = mean_return
            return True
        return False

    def verdict(self, mean_return: float) -> str:
        """How a final evaluation compares with the env's threshold ("" when it has none)."""
        if self.threshold is None:
            return ""
        reached = "solved" if mean_return >= self.threshold else "not solved"
        return f"{reached} (threshold {self.threshold:g})"
