"""K seeds of one algorithm call trained in lockstep in one process: ``ppo(..., seed=[0, 1, 2])``,
``pgrl train ppo --seeds 0 1 2``.

Each seed is an ordinary :class:`pgrl.training.Run` (a *member*): its own envs, network initialisation,
observation statistics, reward scaler, NaN guard, schedule, evaluations, callback and run directory in
the usual format, so plot, compare, eval, watch and resume work per seed unchanged. The group runs the
algorithm's loop once for all of them: one collection steps every seed's envs as one vector env with one
batched network (:mod:`pgrl.seeds.collect`), and the update computes the K agents' losses as one batched
computation, each agent's loss a row of the (K,) loss that :class:`pgrl.seeds.optim.StackedOptimizer`
steps. A seed that solves the env or whose callback says stop, stops (its envs idle); a seed whose update
is not finite stops with its last good checkpoint, and the others go on.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pgrl.config import Config, RolloutConfig
from pgrl.errors import EnvError, NonFiniteError, PgrlError, TrainingInterrupted
from pgrl.normalize import RewardScaler
from pgrl.optim import Optimizer
from pgrl.progress import Progress, Quiet
from pgrl.rollout import Collector, Rollout
from pgrl.seeds.collect import RewardScalers, StackedAgent, StackedCollector
from pgrl.seeds.evaluate import evaluate_together
from pgrl.seeds.joined import side_by_side
from pgrl.seeds.networks import StackedActorCritic, why_not_stackable
from pgrl.seeds.optim import MemberOptimizer, StackedAdam, StackedOptimizer
from pgrl.training.build import build
from pgrl.training.interrupts import Interrupts
from pgrl.training.run import Run, Trained


class _SeedLines(Quiet):
    """A member's screen output: its lines (solved, final evaluation) on the group's, named by its seed."""

    def __init__(self, group: Progress, seed: int) -> None:
        super().__init__()
        self.group, self.seed = group, seed

    def line(self, text: str) -> None:
        self.group.line(f"[seed {self.seed}] {text}")


class SeedRuns(Run):
    """The run an algorithm's loop sees for K seeds (see the module docstring): :class:`Run`'s interface,
    with ``agent`` the K agents' :class:`StackedAgent` and batches that have an agent axis."""

    def __init__(self, members: list[Run]) -> None:  # a Run of its own kind: its members are the Runs
        first = members[0]
        self.members, self.algo, self.cfg, self.env_id = members, first.algo, first.cfg, first.env_id
        self.seeds = [m.seed for m in members]
        why = why_not_stackable(first.agent.ac)
        if why is not None:  # train() checked the call; a network that is not stackable after all
            raise PgrlError(f"seeds {self.seeds} cannot train as one: {why}")
        # Each agent's own generator draws its actions' noise and its minibatches (seeded by its seed), so
        # what it learns does not depend on the seeds beside it.
        generators = [_generator(m) for m in members]
        self.generators = list(generators)  # by member (the stacked network keeps them by slot)
        self.stacked = StackedActorCritic([m.agent.ac for m in members], generators)
        self.agents = StackedAgent([m.agent for m in members], self.stacked)
        self.agent = self.agents  # what the algorithm's loop trains: ``run.agent.ac`` is the stacked network
        self.training = torch.ones(len(members), dtype=torch.bool)  # by member
        self.order = list(range(len(members)))  # the member whose agent is slot s of the stacked arrays
        self.failed: dict[int, str] = {}
        self.optimizers: dict[str, StackedOptimizer] = {}  # type: ignore[assignment]
        self.epoch = _common_epoch(members)  # a resumed group goes on from its seeds' epoch
        self.resumed = None
        verbose = first.verbose
        self.progress = (
            Progress(first.progress.table if verbose else "compact", self.cfg.epochs) if verbose else Quiet()
        )
        for m in members:  # their lines named by seed; the group prints one line per epoch for all
            m.progress = _SeedLines(self.progress, m.seed) if verbose else Quiet()
        self.all_envs = side_by_side([m.envs for m in members])
        self.envs = self.all_envs
        self.collector: StackedCollector | None = None  # type: ignore[assignment]
        self.interrupts = Interrupts(self, self._doing, self._stop_now, on_stale=self._stop)
        # The update's batched products over K agents are large enough to share out over the cores; the
        # collection's per-step passes are not (their thread wake-ups would cost more than they save). At
        # most the caller's torch threads (a grid worker's one: several processes already share the cores).
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
        self.update_threads = max(1, min(cores, first.threads.previous, 4))
        self.progress.line(f"Training seeds {' '.join(map(str, self.seeds))} together in one process")

    # ----------------------------------------------------------------------------------------- the parts

    def optimizer(
        self, name: str, params: Iterable[torch.nn.Parameter], lr: float, max_grad_norm: float | None, eps: float = 1e-8
    ) -> Optimizer:
        """One :class:`StackedOptimizer` for the K agents; each member checkpoints its own slice under ``name``."""
        params = list(params)
        adam = StackedAdam(params, len(self.members), lr, eps)
        opt = StackedOptimizer(adam, max_grad_norm, [m.nan_guard for m in self.members],
                               lambda: self.training[self.order], self._failed)  # fmt: skip
        positions = {id(p): i for i, p in enumerate(self.stacked.parameters())}
        for k, m in enumerate(self.members):
            own = list(m.agent.ac.parameters())
            m.checkpoints.optimizers[name] = MemberOptimizer(opt, k, [own[positions[id(p)]] for p in params])
        opt.name = name
        self.optimizers[name] = opt
        for k, m in enumerate(self.members):  # a resumed seed's Adam state from its checkpoint
            if m.resumed is not None:
                saved = m.resumed.state.get("optimizers") or {}
                if name not in saved:
                    raise PgrlError(f"the checkpoint in {str(m.run_dir)!r} holds optimizers {sorted(saved)}, not "
                                    f"{name!r}; resume with the same settings")  # fmt: skip
                adam.load_member(k, saved[name])
        return opt

    def scale_lr(self, fraction: float) -> None:
        for opt in self.optimizers.values():
            opt.scale_lr(fraction)

    def epochs(self) -> Iterator[int]:
        while self.epoch < self.cfg.epochs and bool(self.training.any()):
            epoch = self.epoch
            self.interrupts.install()
            yield epoch
            if self.epoch == epoch:
                raise RuntimeError(f"{self.algo}'s loop ended epoch {epoch + 1} without run.log(stats)")

    def collect(self) -> Rollout:
        """One segment of steps in every seed's envs: a rollout of (T, K * N), agent k's copies side by side."""
        torch.set_num_threads(1)
        collector = self.collector or self._stacked_collector()
        for k in self.order:
            self.members[k].epoch_log.begin_collection()
        try:
            rollout = collector.collect()
        except EnvError as e:
            self._stop()
            raise PgrlError(f"the env {self.env_id} failed: {e}") from e
        rollout.generators = self.stacked.pi.generators  # the agents' own, in their slots' order
        n = collector.copies
        for slot, k in enumerate(self.order):
            m, mine = self.members[k], slice(slot * n, (slot + 1) * n)
            returns, lengths = collector.episodes[slot]
            m.record_episodes(returns, lengths, collector.T * n)
            values = (
                rollout.values[:, mine] if rollout.valid is None else rollout.values[:, mine][rollout.valid[:, mine]]
            )
            m.epoch_log.values.append(values.copy())
        torch.set_num_threads(self.update_threads)  # for the update that follows
        return rollout

    def _stacked_collector(self) -> StackedCollector:
        if not isinstance(self.cfg, RolloutConfig):
            raise PgrlError(f"{self.algo} collects no rollouts: it steps run.envs itself")
        cfg = self.cfg
        scalers = (
            [RewardScaler(m.envs.num_envs, cfg.gamma, cfg.reward_clip) for m in self.members]
            if cfg.norm_reward
            else None
        )
        self.collector = StackedCollector(self.all_envs, self.agents, cfg.segment_steps(), [m.rank_seed for m in self.members],
                                          RewardScalers(scalers) if scalers else None)  # fmt: skip
        for k, m in enumerate(self.members):  # what its checkpoints save of the collection
            m.collector = _MemberState(scalers[k] if scalers else None, self, k)  # type: ignore[assignment]
        if any(m.resumed is not None for m in self.members):
            self._restore_collection(scalers)
        return self.collector

    def _restore_collection(self, scalers: list[RewardScaler] | None) -> None:
        """Each resumed seed's copies where its checkpoint left them (its envs' state, observations, episode
        tallies, reward statistics; :meth:`pgrl.training.resume.Resumed.restore_collector`, through a
        one-seed collector of its envs), then written into its rows of the group's collector."""
        collector, cfg = self.collector, self.cfg
        assert collector is not None and isinstance(cfg, RolloutConfig)
        n = collector.copies
        for k, m in enumerate(self.members):
            if m.resumed is None:
                continue
            own = Collector(m.envs, m.agent, cfg.segment_steps(), m.rank_seed, scalers[k] if scalers else None)
            m.resumed.restore_collector(own, m.rank_seed)
            rows = slice(k * n, (k + 1) * n)
            collector.obs = _with_rows(collector.obs, rows, own.obs)
            collector.ep_return[rows], collector.ep_length[rows] = own.ep_return, own.ep_length
            collector.resetting[rows] = own.resetting
            if collector.mask is not None and own.mask is not None:
                collector.mask[rows] = own.mask
        # the seeds' envs now stand where their checkpoints left them: a joined env takes their state anew
        self.all_envs = self.envs = collector.envs = side_by_side([m.envs for m in self.members])

    # ------------------------------------------------------------------------------------------ the epoch

    def log(self, stats: dict[str, Any], state: dict[str, Any] | None = None) -> None:
        """Each seed still training logs its row (its column of each (K,) statistic), checkpoints on
        schedule, is evaluated and may stop; the group prints one line; a signal stops them all."""
        torch.set_num_threads(1)
        rows = []
        training = [(slot, k) for slot, k in enumerate(self.order) if bool(self.training[k])]
        for slot, _ in training:
            self.agents.sync(slot)
        lead = self.members[training[0][1]]
        if lead.main and lead.evaluations.due(lead.total_steps, lead.epoch_log.steps) and lead.evaluations.episodes:
            self._evaluate_together([k for _, k in training])  # each member's row then takes its result
        for slot, k in training:
            m = self.members[k]
            own = {**(state or {}), "generator": self.generators[k].get_state()}  # for the group's resume
            m.log({name: _column(value, slot) for name, value in stats.items()}, own)
            rows.append(m.history[-1])
            if m._stopped:
                self.training[k] = False
        self.epoch += 1
        self.progress.line(_summary(rows, self.epoch, self.cfg.epochs, len(self.members)))
        if self.interrupts.signal is not None:
            self._interrupt()
        if not bool(self.training[self.order].all()) and bool(self.training.any()):
            self._compact()

    def finish(self) -> Trained:
        """Every seed's last checkpoint and final evaluation; the first seed's (agent, history), all of them in
        :attr:`results`."""
        self.interrupts.release()
        self.results: list[Trained] = []
        finishing = [k for k in range(len(self.members)) if k not in self.failed]
        for slot, k in enumerate(self.order):
            if k not in self.failed:
                self.agents.sync(slot)
        # a seed that stopped right after an evaluation (solved) keeps its result: nothing trained since
        stale = [k for k in finishing if not self.members[k].evaluations.current(self.members[k].total_steps)]
        if stale and self.members[0].evaluations.episodes > 0:
            self._evaluate_together(stale)
        for k, m in enumerate(self.members):
            if k in self.failed:
                m.envs.close()
                m.logger.close()
            else:
                self.results.append(m.finish())
        self.members[0].threads.restore()  # the caller's torch threads (each member saved the previous one's)
        self.progress.close()
        if len(self.failed) == len(self.members):
            raise NonFiniteError(" ".join(self.failed.values()))
        return self.results[0]

    def _evaluate_together(self, members: list[int]) -> None:
        """These members' due evaluations in one batched loop; each one's next evaluation returns its own."""
        chosen = [self.members[k] for k in members]
        for m, result in zip(chosen, evaluate_together([m.agent for m in chosen], [m.evaluations for m in chosen]),
                             strict=True):  # fmt: skip
            m.evaluations.ready = result

    def _compact(self) -> None:
        """Drop the agents that stopped (solved, stopped by the callback, failed) from the stacked computation:
        the others' parameters, optimizer states, statistics, generators and envs move up; the collection
        continues where it was."""
        keep = [slot for slot, k in enumerate(self.order) if bool(self.training[k])]
        for slot, k in enumerate(self.order):
            if slot not in keep:
                for opt in self.optimizers.values():  # a stopped seed's checkpoints keep its last optimizer state
                    self.members[k].checkpoints.optimizers[opt.name].freeze()  # type: ignore[attr-defined]
                state: Any = self.members[k].collector
                if isinstance(state, _MemberState):  # and its envs' state
                    state.freeze()
        index = torch.tensor(keep)
        self.order = [self.order[slot] for slot in keep]
        self.agents.narrow(keep)
        for opt in self.optimizers.values():
            opt.narrow(index, [self.members[k].nan_guard for k in self.order])
        for slot, k in enumerate(self.order):
            for opt in self.optimizers.values():
                self.members[k].checkpoints.optimizers[opt.name].k = slot  # type: ignore[attr-defined]
        if self.collector is not None:
            self.collector.narrow(keep, side_by_side([self.members[k].envs for k in self.order]))

    # ------------------------------------------------------------------------------------- stopping early

    def _failed(self, slot: int, quantity: str, value: float) -> None:
        """Slot ``slot``'s update was not finite (policy "stop"): that seed stops with its last good checkpoint."""
        k = self.order[slot]
        m = self.members[k]
        self.training[k] = False
        self.stacked.copy_from(slot, m.agent.ac)  # its slice finite again: the last logged parameters
        kept = f"epoch {m.checkpoints.saved_epoch}" if m.checkpoints.saved_epoch is not None else "no checkpoint"
        self.failed[k] = (
            f"seed {m.seed}: non-finite {quantity} ({value}) in epoch {self.epoch + 1}; its run {str(m.run_dir)!r} "
            f"keeps {kept}."
        )
        self.progress.line(f"pgrl: {self.failed[k]} The other seeds go on")

    def _stop(self) -> None:
        self.interrupts.release()
        self.members[0].threads.restore()
        self.progress.close()

    def _doing(self) -> str:
        return f"finishing epoch {self.epoch + 1} of every seed, then writing their checkpoints"

    def _stop_now(self, signum: int) -> None:
        self._stop()
        raise TrainingInterrupted(self._where(), signum, self.members[0].checkpoints.saved_epoch, self.algo,
                                  immediate=True)  # fmt: skip

    def _interrupt(self) -> None:
        for slot in range(len(self.order)):
            self.agents.sync(slot)
        for k, m in enumerate(self.members):  # a seed that stopped earlier was synced when it logged last
            if k not in self.failed and m.checkpoints.saved_epoch != m.epoch:
                m.save()
        self._stop()
        self.envs.close()
        for m in self.members:
            m.logger.close()
        assert self.interrupts.signal is not None
        raise TrainingInterrupted(self._where(), self.interrupts.signal, self.epoch, self.algo,
                                  complete=self.epoch >= self.cfg.epochs)  # fmt: skip

    def _where(self) -> str:
        """The seeds' run directories, for the message (their group's directory resumes them together)."""
        return str(self.members[0].run_dir) if len(self.members) == 1 else str(self.members[0].run_dir.parent)


class _MemberState:
    """What a member's checkpoint holds of the group's collection (as a single-seed run's collector state):
    its reward scaler, its copies' observations and episode tallies and its envs' own state, so that the
    seed resumed on its own continues its episodes."""

    def __init__(self, reward_scaler: RewardScaler | None, group: SeedRuns, k: int) -> None:
        self.reward_scaler, self.group, self.k = reward_scaler, group, k
        self.frozen: dict[str, Any] | None = None

    def state_dict(self) -> dict[str, Any] | None:
        if self.frozen is not None:
            return self.frozen
        collector, order = self.group.collector, self.group.order
        if collector is None or self.k not in order:
            return None
        which = np.zeros(collector.N, dtype=bool)
        slot = order.index(self.k)
        which[slot * collector.copies : (slot + 1) * collector.copies] = True
        return collector.state_dict(which, self.group.members[self.k].envs)

    def freeze(self) -> None:
        """Keep the current state: the seed leaves the group and its envs stop."""
        self.frozen = self.state_dict()


def _with_rows(batch: Any, rows: slice, part: Any) -> Any:
    """A batch of observations (array, or Dict / Tuple of arrays) with ``rows`` set to ``part``'s."""
    if isinstance(batch, dict):
        return {key: _with_rows(batch[key], rows, part[key]) for key in batch}
    if isinstance(batch, tuple):
        return tuple(_with_rows(b, rows, p) for b, p in zip(batch, part, strict=True))
    batch = np.array(batch, copy=True)
    batch[rows] = part
    return batch


def _column(value: Any, k: int) -> Any:
    """Agent k's value of an update statistic: its entry of a (K,) array, else the value itself."""
    return value[k].item() if isinstance(value, np.ndarray) and value.ndim == 1 else value


def _summary(rows: Sequence[Mapping[str, Any]], epoch: int, epochs: int, seeds: int) -> str:
    """One line for the group's epoch: the seeds' mean return (their range) and steps."""
    rets = [float(r["AverageEpRet"]) for r in rows if np.isfinite(float(r.get("AverageEpRet", np.nan)))]
    head = f"epoch {epoch}/{epochs}: {len(rows)} of {seeds} seeds training"
    if not rows:
        return head
    ret = f", AverageEpRet {np.mean(rets):.1f} (seeds {min(rets):.1f} .. {max(rets):.1f})" if rets else ""
    evals = [float(r["EvalAverageEpRet"]) for r in rows if isinstance(r.get("EvalAverageEpRet"), float)]
    ev = f", EvalAverageEpRet {np.mean(evals):.1f}" if evals else ""
    return f"{head}{ret}{ev}, {int(rows[0]['TotalEnvInteracts'])} steps each, {float(rows[0]['Time']):.1f} s"


def _common_epoch(members: Sequence[Run]) -> int:
    """The epoch every member stands at (0, or a resumed group's); refused when they differ."""
    if len({m.epoch for m in members}) > 1:
        at = ", ".join(f"seed {m.seed} at epoch {m.epoch}" for m in members)
        raise PgrlError(f"the seeds' runs stopped at different epochs ({at}); resume each seed's directory alone")
    return members[0].epoch


def _generator(m: Run) -> torch.Generator:
    """A member's generator: seeded by its seed; resumed, where its checkpoint left it (a checkpoint of
    before 2026-12-01's group resume has none: then seeded apart from its seed and epoch)."""
    g = torch.Generator()
    saved = m.resumed.state.get("generator") if m.resumed is not None else None
    if isinstance(saved, torch.Tensor):
        g.set_state(saved)
    else:
        g.manual_seed(m.rank_seed if m.resumed is None else m.resumed.reseed(m.rank_seed))
    return g


def member_arguments(arguments: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """The algorithm call of one seed of a group: ``seed``, and its own output_dir (``<output_dir>/s<seed>``,
    as :mod:`pgrl.grid` lays out seeds) when one was given."""
    logger_kwargs = dict(arguments.get("logger_kwargs") or {})
    if logger_kwargs.get("output_dir"):
        logger_kwargs["output_dir"] = f"{logger_kwargs['output_dir']}/s{seed}"
    options = dict(arguments.get("options") or {})
    if options.get("resume") is not None:  # a group's directory: the seed resumes its own run in it
        options["resume"] = str(Path(options["resume"]) / f"s{seed}")
    return {**arguments, "seed": seed, "logger_kwargs": logger_kwargs, "options": options}


def start(config_class: type[Config], arguments: Mapping[str, Any], seeds: Sequence[int]) -> SeedRuns:
    """The group of ``seeds`` for an algorithm function's ``locals()`` (``seed`` its list of seeds)."""
    return SeedRuns([Run(build(config_class, member_arguments(arguments, s))) for s in seeds])
