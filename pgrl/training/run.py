"""One training run: what every algorithm's loop shares, composed of the small parts beside this module.

An algorithm function starts a run from its own arguments, creates its optimizers through it, and loops::

    run, cfg = Run.start(PPOConfig, locals())        # the config, the envs, the agent, the run directory
    opt = run.optimizer("ac", ac.parameters(), lr=cfg.pi_lr, max_grad_norm=cfg.max_grad_norm)
    for epoch in run.epochs():
        rollout = run.collect()
        ...                                           # the algorithm's own update, through opt.step(loss)
        run.log(stats)                                # the epoch's row, checkpoint, callback, signals
    return run.finish()                               # (agent, history)

The parts: :mod:`pgrl.training.build` (the call's arguments, seeding, network, config.json),
:mod:`pgrl.training.resume`, :mod:`pgrl.training.interrupts` (signals), :mod:`pgrl.training.epoch`
(the epoch's row and the evaluation schedule), :mod:`pgrl.rundir` and :mod:`pgrl.checkpoint`.

While the loop runs, SIGINT (Ctrl-C) and SIGTERM let the epoch in progress finish, log it and write a
checkpoint, then raise :class:`pgrl.errors.TrainingInterrupted`; a second signal stops at once.

Data-parallel (launched by torchrun, see :mod:`pgrl.distributed` and docs/scaling.md): each process
collects steps_per_epoch / world_size steps with seed + 10000 * rank, starts from rank 0's parameters, and
the epoch row gathers every process's episodes, values, steps and statistics; only rank 0 writes the run
directory and evaluates.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import math
import signal
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
import torch

from pgrl import distributed
from pgrl.agent import Agent
from pgrl.config import Config, RolloutConfig
from pgrl.envs.vector import close_after_failure
from pgrl.errors import EnvError, PgrlError, TrainingInterrupted
from pgrl.logger import EpochLogger, SilentLogger, Stopwatch
from pgrl.nan_guard import NanGuard, check_parameters
from pgrl.optim import Optimizer
from pgrl.progress import Progress, Quiet
from pgrl.rollout import Collector, Episodes, Rollout, run_episodes
from pgrl.snapshot import set_rng_state
from pgrl.training.build import Parts, build, seed_everything
from pgrl.training.checkpoints import Checkpoints
from pgrl.training.collection import make_collector, merged_statistics
from pgrl.training.epoch import EpochLog, Evaluations, final_evaluation, mean_over_processes
from pgrl.training.interrupts import Interrupts
from pgrl.training.resume import Resumed

C = TypeVar("C", bound=Config)
_M = TypeVar("_M", bound=Callable[..., Any])

Trained = tuple[Agent, list[dict[str, Any]]]
"""What an algorithm returns: the trained agent and one dict per epoch (the logged row)."""

GROUP_START: contextvars.ContextVar[Callable[[type[Config], Mapping[str, Any], list[int]], Run] | None] = (
    contextvars.ContextVar("pgrl_group_start", default=None)
)
"""How :meth:`Run.start` makes the run of a list of seeds: set by :func:`pgrl.seeds.train` for its call."""


def _stops_on_error(method: _M) -> _M:
    """A Run method whose exceptions end training: the signal handlers and thread count are given back."""

    @functools.wraps(method)
    def wrapper(self: Run, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except BaseException:
            self._stop()
            raise

    return wrapper  # type: ignore[return-value]


def _start_group(config_class: type[Config], arguments: Mapping[str, Any], seeds: list[int]) -> Run:
    """The run of a list of seeds, made by the starter :func:`pgrl.seeds.train` set for this call."""
    start_group = GROUP_START.get()
    if start_group is None:
        raise PgrlError("a list of seeds trains through an algorithm function, e.g. pgrl.ppo(seed=[0, 1])")
    group = start_group(config_class, arguments, seeds)
    assert isinstance(group.cfg, config_class)
    return group


class Run:
    """A training run (see the module docstring); made by :meth:`start`."""

    @classmethod
    def start(cls, config_class: type[C], arguments: Mapping[str, Any]) -> tuple[Run, C]:
        """The run of an algorithm call, from the algorithm function's ``locals()``, and its configuration
        (a list of seeds: the run of them all, :class:`pgrl.seeds.run.SeedRuns`).

        Bad input (an env id, a space, a value out of range, a run directory in use) is refused before
        anything is written to disk.
        """
        seeds = arguments.get("seed")
        if isinstance(seeds, list):  # K seeds as one: the group pgrl.seeds set up for this call makes the run
            group = _start_group(config_class, arguments, seeds)
            return group, group.cfg  # type: ignore[return-value]
        parts = build(config_class, arguments)
        cfg = parts.cfg
        assert isinstance(cfg, config_class)
        return cls(parts), cfg

    def __init__(self, parts: Parts) -> None:
        call, cfg, resumed = parts.call, parts.cfg, parts.resumed
        self.algo, self.cfg, self.env_fn, self.env_id, self.seed = call.algo, cfg, parts.env_fn, parts.env_id, call.seed
        self.envs, self.agent, self.threads, self.run_dir = parts.envs, parts.agent, parts.threads, parts.run_dir
        self.main = distributed.is_main()
        self.rank_seed = distributed.rank_seed(call.seed)
        options = call.options
        self.verbose = options["verbose"] and self.main
        self.callback = options["callback"]
        self.logger = EpochLogger(self.run_dir, options["tensorboard"]) if self.main else SilentLogger(self.run_dir)
        done = resumed.epoch if resumed is not None else 0
        self.progress = Progress(options["table"], cfg.epochs, done) if self.verbose else Quiet()
        self.goal = parts.goal
        self.nan_guard = NanGuard(options["nan_policy"], context=self._nan_context)
        self.interrupts = Interrupts(self, self._doing, self._stop_now, on_stale=self._stop)
        self.evaluations = Evaluations(options["eval_every"] or 0, options["eval_episodes"], parts.env_fn, self.seed,
                                       cfg.max_ep_len)  # fmt: skip
        self.history: list[dict[str, Any]] = []
        self.epoch = self.total_steps = 0
        self.checkpoints = Checkpoints(self.run_dir, self.main, self.nan_guard, self._nan_context, resumed)
        self.collector: Collector | None = None
        self.resumed = resumed
        self._stopped = False
        self._epoch_ended = False  # between an epoch's count and the end of its log (the callback, say)
        if resumed is not None:
            self._continue(resumed)
            self.progress.line(
                f"Resuming {self.algo} on {self.env_id} (seed {self.seed}) at epoch {self.epoch} from "
                f"{str(self.run_dir)!r}"
            )
        else:
            self.progress.line(parts.start_line())
        self.logger.save_config(self.agent.config)
        last_time = self.history[-1].get("Time") if self.history else None
        self.clock = Stopwatch(offset=float(last_time) if isinstance(last_time, int | float) else 0.0)
        self.epoch_log = EpochLog(self.clock)
        if resumed is not None:
            set_rng_state(resumed.state["rng"])  # last: building the network drew from torch's RNG
            if not self.main:  # the checkpoint holds rank 0's RNGs
                seed_everything(resumed.reseed(self.rank_seed))
        distributed.broadcast_parameters(self.agent.ac)  # every process starts from rank 0's network
        distributed.broadcast_running_stats(self.agent.obs_rms)

    def _continue(self, resumed: Resumed) -> None:
        """The checkpoint's network, statistics, counters and progress rows (the RNGs come last)."""
        resumed.restore_agent(self.agent)
        self.epoch = resumed.epoch
        self.total_steps = int(resumed.state["total_steps"])
        self.history = self.logger.resume(self.epoch)

    # ----------------------------------------------------------------------------------------- the parts

    def optimizer(
        self, name: str, params: Iterable[torch.nn.Parameter], lr: float, max_grad_norm: float | None, eps: float = 1e-8
    ) -> Optimizer:
        """Adam on ``params`` with the run's NaN guard, saved in every checkpoint under ``name`` and
        restored from the checkpoint when resuming."""
        return self.checkpoints.optimizer(name, params, lr, max_grad_norm, eps)

    def scale_lr(self, fraction: float) -> None:
        """Every optimizer's learning rate at ``fraction`` of its initial value (linear annealing)."""
        for opt in self.checkpoints.optimizers.values():
            opt.scale_lr(fraction)

    def epochs(self) -> Iterator[int]:
        """The epochs still to run (0-based), until the last one or until the callback says stop.

        Each epoch ends with :meth:`log`.
        """
        self.checkpoints.check_resumed()
        while self.epoch < self.cfg.epochs and not self._stopped:
            epoch = self.epoch
            self.interrupts.install()
            yield epoch
            if self.epoch == epoch:
                raise RuntimeError(f"{self.algo}'s loop ended epoch {epoch + 1} without run.log(stats)")

    @_stops_on_error
    def collect(self) -> Rollout:
        """One segment of steps in every env (the config's ``segment_steps``: the epoch's, A2C's n_steps),
        counted into the epoch's row."""
        collector = self.collector or self._collector()
        self.epoch_log.begin_collection()
        self.progress.status(f"epoch {self.epoch + 1}: collecting {collector.T * collector.N} steps")
        with merged_statistics(self.agent, collector), self._env_failures():
            rollout = collector.collect()
        self.record_episodes(rollout.episode_returns, rollout.episode_lengths, rollout.num_steps)
        values = rollout.values if rollout.valid is None else rollout.values[rollout.valid]
        self.epoch_log.values.append(values.copy())
        self.progress.status(f"epoch {self.epoch + 1}: updating")
        return rollout

    def _collector(self) -> Collector:
        """The collector, made on the first :meth:`collect`, continuing the checkpoint's envs when resuming."""
        if not isinstance(self.cfg, RolloutConfig):
            raise PgrlError(f"{self.algo} collects no rollouts: it steps run.envs itself")
        self.collector, restored = make_collector(self.cfg, self.envs, self.agent, self.rank_seed, self.resumed)
        if not restored:
            self.progress.line(
                f"The envs' state of {self.env_id} cannot be restored, so their episodes start afresh "
                "(results differ from an uninterrupted run)"
            )
        return self.collector

    @_stops_on_error
    def run_episodes(self, policy: Callable[[np.ndarray], np.ndarray], seed: list[int]) -> Episodes:
        """One episode in each env copy (:func:`pgrl.rollout.run_episodes`), for an algorithm that steps
        ``run.envs`` itself (ARS); record them with :meth:`record_episodes`."""
        with self._env_failures():
            return run_episodes(self.envs, policy, seed, self.agent.layout)

    @contextlib.contextmanager
    def _env_failures(self) -> Iterator[None]:
        """An env that fails (raises, or its worker process dies) ends training in one line naming the env
        and the checkpoint kept, never a hang."""
        try:
            yield
        except EnvError as e:
            self._stop()
            close_after_failure(self.envs)
            raise PgrlError(f"the env {self.env_id} failed: {e}{self._nan_context()}") from e

    def record_episodes(self, returns: Sequence[float], lengths: Sequence[int], steps: int) -> None:
        """Count ``steps`` env steps and the episodes that finished in them into the epoch's row
        (:meth:`collect` does; an algorithm that steps ``run.envs`` itself calls it)."""
        self.epoch_log.add(returns, lengths, steps)
        self.total_steps += steps

    # ------------------------------------------------------------------------------------------ the epoch

    @_stops_on_error
    def log(self, stats: dict[str, Any], state: dict[str, Any] | None = None) -> None:
        """End the epoch: log its row, checkpoint on schedule, call the callback, obey a signal.

        Args:
            stats: the algorithm's update statistics (LossPi, LossV, ...), in column order.
            state: the algorithm's own extra state to checkpoint (tensors and plain data), read back from
                ``run.resumed.state`` when resuming.
        """
        check_parameters(self.agent.ac, self._nan_context)
        row = self._row(stats)
        if self.nan_guard.skipped:
            self.progress.line(
                f"pgrl: skipped {self.nan_guard.skipped} update(s) with non-finite values in epoch {row['Epoch']}"
            )
        self.nan_guard.skipped = 0
        self.logger.log_epoch(row)
        self.progress.epoch(row)
        self.history.append(row)
        self.epoch += 1
        self._epoch_ended = True
        self.checkpoints.extra = state or {}
        if self.epoch % self.cfg.save_freq == 0 or self.epoch == self.cfg.epochs:
            self.save()
        self._after_evaluation(row)
        if self.callback is not None and self.callback(row["Epoch"], row, self.agent) is False:
            self._stopped = True
        if distributed.active():  # every process stops (or is interrupted) together
            stopped, signalled = distributed.sum_array([self._stopped, self.interrupts.signal is not None]) > 0
            self._stopped = bool(stopped)
            if signalled and self.interrupts.signal is None:
                self.interrupts.signal = signal.SIGTERM
        if self.interrupts.signal is not None:
            self._interrupt()
        self._epoch_ended = False
        self.epoch_log.start = self.clock()  # the next epoch's clock (collect restarts it; ARS does not collect)

    def _row(self, stats: dict[str, Any]) -> dict[str, Any]:
        now = self.clock()
        if distributed.active():
            self.total_steps += self.epoch_log.gather()
            stats = mean_over_processes(stats)
        due = self.main and self.evaluations.due(self.total_steps, self.epoch_log.steps)
        if due:
            self.progress.status(f"epoch {self.epoch + 1}: evaluating")
        evaluation = self.evaluations.columns(self.agent if due else None, self.total_steps)
        row = self.epoch_log.row(self.epoch + 1, self.total_steps, stats, evaluation, now)
        columns = self.logger.columns
        if (columns is None and self.nan_guard.policy == "skip") or (columns and "SkippedUpdates" in columns):
            row["SkippedUpdates"] = self.nan_guard.skipped
        return row

    def _after_evaluation(self, row: dict[str, Any]) -> None:
        """An in-training evaluation (rank 0's) keeps the best policy so far and may have solved the env."""
        evaluation = row.get("EvalAverageEpRet")
        if not (isinstance(evaluation, float) and math.isfinite(evaluation)):
            return
        solved_before = self.goal.solved_at is not None
        if self.goal.evaluated(evaluation, self.total_steps, float(row["Time"])):
            self.save(best=evaluation)
        if self.goal.solved_at is not None and not solved_before:
            steps, seconds = self.goal.solved_at
            self.progress.line(
                f"Solved at {steps} steps after {seconds:.1f} s: evaluation {evaluation:.1f} >= {self.goal.target:g}"
            )
            self._stopped = True

    def save(self, best: float | None = None) -> None:
        """Checkpoint the completed epoch (with ``best``: as the best policy so far, see :mod:`.checkpoints`)."""
        self.checkpoints.save(self.agent, self.epoch, self.total_steps, self.collector, best)

    def finish(self) -> Trained:
        """The last checkpoint, the final deterministic evaluation (eval.json), and (agent, history)."""
        self.interrupts.release()  # from here on Ctrl-C stops at once: the checkpoint below is the last one
        if self.checkpoints.saved_epoch != self.epoch:
            self.save()
        self.envs.close()
        self.threads.restore()
        self.logger.close()
        distributed.shutdown()  # the last collective is behind us; rank 0 evaluates alone
        if self.evaluations.episodes > 0 and self.main:
            self.progress.status("final evaluation")
            train_seconds = self.history[-1]["Time"] if self.history else 0.0
            result, line = final_evaluation(self.evaluations, self.agent, self.goal, self.total_steps, train_seconds)
            self.logger.save_eval(result)
            self.progress.close()
            self.progress.line(line)
            self.progress.line(f"Run saved in {self.run_dir}")
        self.progress.close()
        return self.agent, self.history

    # ------------------------------------------------------------------------------------- stopping early

    def _stop(self) -> None:
        """Training ends early (signal, NaN, an error): give back the signal handlers and torch's threads."""
        self.interrupts.release()
        self.threads.restore()
        self.progress.close()

    def _doing(self) -> str:
        if self._epoch_ended:  # e.g. a signal sent from the callback: no further epoch runs
            return f"writing a checkpoint of epoch {self.epoch}"
        return f"finishing epoch {self.epoch + 1}, then writing a checkpoint"

    def _stop_now(self, signum: int) -> None:
        """The second signal: stop at once; the checkpoint on disk is consistent."""
        self._stop()
        raise TrainingInterrupted(str(self.run_dir), signum, self.checkpoints.saved_epoch, self.algo, immediate=True)

    def _interrupt(self) -> None:
        """After a signal: the epoch is logged; checkpoint it (unless just done), then raise."""
        if self.checkpoints.saved_epoch != self.epoch:
            self.save()
        self._stop()
        self.envs.close()
        self.logger.close()
        assert self.interrupts.signal is not None
        raise TrainingInterrupted(
            str(self.run_dir), self.interrupts.signal, self.epoch, self.algo, complete=self.epoch >= self.cfg.epochs
        )

    def _nan_context(self) -> str:
        """Where training stopped, for the NaN guard's message (which ends training)."""
        self._stop()
        kept = (
            f"the last good checkpoint (epoch {self.checkpoints.saved_epoch}) in {str(self.run_dir)!r} is kept"
            if self.checkpoints.saved_epoch is not None
            else "no checkpoint was written"
        )
        return f" in epoch {self.epoch + 1}: training stopped; {kept}"
