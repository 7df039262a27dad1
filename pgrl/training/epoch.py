"""An epoch's row of progress.txt: what the epoch's collections gathered, the algorithm's statistics, the
in-training evaluation when one is due, and the clock; gathered over processes when data-parallel.

The columns, in order: Epoch, Spinning Up's episode columns (AverageEpRet, StdEpRet, MaxEpRet, MinEpRet,
EpLen; NaN when no episode finished), the critic's values (AverageVVals, ... when values were
collected), TotalEnvInteracts, the algorithm's statistics (LossPi, LossV, ...), the evaluation columns
(EvalAverageEpRet, ... with ``eval_every``), Time, StepsPerSecond, and SkippedUpdates (with
``nan_policy="skip"``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from pgrl import distributed
from pgrl.agent import Agent
from pgrl.envs import EnvSpec
from pgrl.evaluate import evaluate
from pgrl.logger import Stopwatch, array_stats, episode_stats
from pgrl.training.goal import Goal


class EpochLog:
    """What the collections of the epoch in progress gathered: finished episodes, values and env steps.

    ``start`` is when the epoch's work began: its first collection (or the end of the previous epoch,
    for an algorithm that steps the envs itself), for StepsPerSecond.
    """

    def __init__(self, clock: Stopwatch) -> None:
        self.clock = clock
        self.start = clock()
        self.clear()

    def clear(self) -> None:
        self.returns: list[float] = []
        self.lengths: list[int] = []
        self.values: list[np.ndarray] = []
        self.steps = 0

    def begin_collection(self) -> None:
        if self.steps == 0:
            self.start = self.clock()

    def add(self, returns: Sequence[float], lengths: Sequence[int], steps: int) -> None:
        self.returns.extend(returns)
        self.lengths.extend(lengths)
        self.steps += steps

    def gather(self) -> int:
        """Data-parallel: every process's episodes, values and steps; returns the steps the other
        processes added (the rows of all processes agree)."""
        values = np.concatenate([v.reshape(-1) for v in self.values]) if self.values else None
        parts = distributed.gather_objects((self.returns, self.lengths, values, self.steps))
        self.returns = [r for p in parts for r in p[0]]
        self.lengths = [n for p in parts for n in p[1]]
        self.values = [p[2] for p in parts if p[2] is not None]
        steps = sum(int(p[3]) for p in parts)
        added, self.steps = steps - self.steps, steps
        return added

    def row(
        self, epoch: int, total_steps: int, stats: Mapping[str, Any], evaluation: Mapping[str, float], now: float
    ) -> dict[str, Any]:
        """The epoch's row (see the module docstring), then a clear log for the next epoch.

        ``now`` is when the epoch's work ended; Time includes the evaluation (when the run evaluates),
        StepsPerSecond does not.
        """
        row: dict[str, Any] = {"Epoch": epoch}
        row.update(episode_stats(self.returns, self.lengths))
        if self.values:
            row.update(array_stats("VVals", np.concatenate([v.reshape(-1) for v in self.values])))
        row["TotalEnvInteracts"] = total_steps
        row.update(stats)
        row.update(evaluation)
        row["Time"] = self.clock() if evaluation else now
        row["StepsPerSecond"] = self.steps / max(now - self.start, 1e-9)
        self.clear()
        return row


def mean_over_processes(stats: Mapping[str, Any]) -> dict[str, Any]:
    """The algorithm's numeric statistics averaged over the data-parallel processes (ints stay ints)."""
    numeric = [k for k, v in stats.items() if isinstance(v, int | float | np.number) and not isinstance(v, bool)]
    means = distributed.sum_array([float(stats[k]) for k in numeric]) / distributed.world_size()
    return {
        **stats,
        **{
            k: type(stats[k])(m) if isinstance(stats[k], int) else float(m) for k, m in zip(numeric, means, strict=True)
        },
    }


class Evaluations:
    """Deterministic evaluations of the agent on separate env copies (:func:`pgrl.evaluate.evaluate`,
    the run's seed each time; the training envs and their episodes are untouched).

    In training, with ``every`` > 0: at the end of the first epoch that reaches each multiple of ``every``
    env steps, logged as EvalAverageEpRet, EvalStdEpRet, EvalMaxEpRet, EvalMinEpRet, EvalEpLen (NaN in the
    epochs without an evaluation: progress.txt has one header, so every row has the columns).
    """

    def __init__(self, every: int, episodes: int, env: EnvSpec, seed: int, max_ep_len: int | None) -> None:
        self.every, self.episodes, self.env, self.seed, self.max_ep_len = every, episodes, env, seed, max_ep_len
        self.ready: tuple[np.ndarray, np.ndarray] | None = None
        """The next evaluation's result when it was already run (with other seeds', :mod:`pgrl.seeds`)."""
        self.last: tuple[int, tuple[np.ndarray, np.ndarray]] | None = None
        """The run's env steps at the last evaluation, and its result."""

    def run(self, agent: Agent, steps: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(returns, lengths) of ``episodes`` deterministic episodes. ``steps``: the run's env steps now; at
        the steps of the last evaluation nothing has trained since (a run that stops right after evaluating,
        ``--until-solved``), so the same policy on the same episodes is not run again: its result is."""
        if self.ready is not None:
            result, self.ready = self.ready, None
        elif steps is not None and self.current(steps):
            return self.last[1]  # type: ignore[index]
        else:
            result = evaluate(agent, self.env, self.episodes, seed=self.seed, max_ep_len=self.max_ep_len)
        if steps is not None:
            self.last = (steps, result)
        return result

    def current(self, steps: int) -> bool:
        """Whether the last evaluation was at ``steps`` env steps (its result stands for the agent now)."""
        return self.last is not None and self.last[0] == steps

    def due(self, total_steps: int, epoch_steps: int) -> bool:
        """Whether this epoch's ``epoch_steps`` reached a multiple of ``every``."""
        every = self.every
        return bool(every) and total_steps // every > (total_steps - epoch_steps) // every

    def columns(self, agent: Agent | None, steps: int | None = None) -> dict[str, float]:
        """The Eval* columns: an evaluation of ``agent`` at the run's ``steps``, or NaN without one; none at all
        in a run that does not evaluate during training (``every`` 0)."""
        if not self.every:
            return {}
        if agent is None:
            return {f"Eval{k}": v for k, v in episode_stats([], []).items()}
        returns, lengths = self.run(agent, steps)
        return {f"Eval{k}": v for k, v in episode_stats(returns.tolist(), lengths.tolist()).items()}


def final_evaluation(
    evaluations: Evaluations, agent: Agent, goal: Goal, total_steps: int, train_seconds: float
) -> tuple[dict[str, Any], str]:
    """The final deterministic evaluation: eval.json's contents (the episodes summarised, the training
    they followed; ``solved`` against the env's threshold, ``solved_at`` when a target stopped training)
    and the line that reports it."""
    returns, lengths = evaluations.run(agent, total_steps)
    result: dict[str, Any] = {
        "episodes": len(returns),
        "mean_return": float(returns.mean()),
        "std_return": float(returns.std()),
        "mean_length": float(lengths.mean()),
        "total_steps": total_steps,
        "train_seconds": train_seconds,
    }
    verdict = goal.verdict(result["mean_return"])
    if goal.threshold is not None:
        result["solved"] = result["mean_return"] >= goal.threshold
    if goal.solved_at is not None:
        result["solved_at"] = {"steps": goal.solved_at[0], "seconds": goal.solved_at[1], "target": goal.target}
    line = (
        f"Deterministic evaluation of {agent.config.get('env_id')} over {len(returns)} episodes: "
        f"return {result['mean_return']:.1f} +/- {result['std_return']:.1f} "
        f"(after {total_steps} steps, {train_seconds:.1f} s of training){': ' + verdict if verdict else ''}"
    )
    return result, line
