"""What every algorithm's epoch loop shares: seeding, envs, the agent, the run directory, the epoch
log, checkpoints, resuming, signals, the NaN guard, the callback and the final evaluation.

An algorithm file resolves its hyperparameters with :func:`resolve_hyperparameters`, builds a
:class:`Run`, creates its optimizers and hands them to ``run.attach``, then loops
``collect -> its own update (step_optimizer) -> end_epoch`` and returns ``run.finish()``::

    env_fn, env_id, hp = resolve_hyperparameters("vpg", env_fn, given, resume)
    validate(hp)
    run = Run("vpg", env_fn, hp, ..., env_id=env_id, resume=resume, nan_policy=nan_policy)
    optimizers = run.attach({"pi": Adam(...), "v": Adam(...)})   # restored when resuming
    while True:
        rollout = run.collect()
        ...  # the update, through pgrl.update.step_optimizer
        if not run.end_epoch(rollout, stats):
            break
    return run.finish()
"""

from __future__ import annotations

import contextlib
import functools
import os
import random
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import gymnasium as gym
import numpy as np
import torch
from torch import nn

import pgrl
from pgrl import distributed
from pgrl.agent import Agent
from pgrl.checkpoint import CHECKPOINT_FILE, load_checkpoint, load_config, save_checkpoint, space_to_json
from pgrl.envs import EnvSpec, env_name, make_vec_env
from pgrl.errors import NonFiniteError, PgrlError, TrainingInterrupted
from pgrl.evaluate import evaluate
from pgrl.hyperparams import resolve, steps_per_env, validate
from pgrl.logger import EpochLogger, Stopwatch, array_stats, episode_stats
from pgrl.networks import MLPActorCritic, activation_name
from pgrl.normalize import RunningMeanStd
from pgrl.rollout import Collector, Rollout
from pgrl.snapshot import rng_state, set_rng_state
from pgrl.update import NanGuard

_M = TypeVar("_M", bound=Callable[..., Any])

Callback = Callable[[int, dict[str, Any], Agent], bool | None]
"""``callback(epoch, stats, agent)`` after every epoch; returning False stops training."""


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build_actor_critic(
    actor_critic: Callable[..., nn.Module],
    observation_space: gym.Space,
    action_space: gym.Space,
    ac_kwargs: dict[str, Any],
) -> nn.Module:
    """``actor_critic(observation_space, action_space, **ac_kwargs)``, checked against the protocol."""
    ac = actor_critic(observation_space, action_space, **ac_kwargs)
    missing = [name for name in ("pi", "v", "step", "act") if not hasattr(ac, name)]
    if missing:
        raise PgrlError(
            f"actor_critic {getattr(actor_critic, '__name__', actor_critic)} lacks {', '.join(missing)}; "
            "see pgrl.networks for the protocol (pi, v, step, act)"
        )
    return ac


def class_path(obj: Any) -> str:
    return f"{obj.__module__}.{obj.__qualname__}"


def json_ac_kwargs(ac_kwargs: dict[str, Any]) -> dict[str, Any]:
    """ac_kwargs as plain JSON: activations by table name, tuples as lists."""
    out: dict[str, Any] = {}
    for k, v in ac_kwargs.items():
        if k == "activation" or (isinstance(v, type) and issubclass(v, nn.Module)):
            out[k] = activation_name(v)
        elif isinstance(v, tuple):
            out[k] = list(v)
        else:
            out[k] = v
    return out


def default_run_dir(exp_name: str, seed: int) -> Path:
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
    return Path("runs") / exp_name / f"{stamp}_s{seed}"


def prepare_run_dir(logger_kwargs: dict[str, Any] | None, algo: str, env_id: str, seed: int, overwrite: bool) -> Path:
    """The run directory from Spinning Up's logger_kwargs (output_dir, exp_name); refuses to mix two runs."""
    logger_kwargs = dict(logger_kwargs or {})
    exp_name = logger_kwargs.get("exp_name") or f"{algo}-{env_id}"
    output_dir = logger_kwargs.get("output_dir")
    run_dir = Path(output_dir) if output_dir else default_run_dir(exp_name, seed)
    holds_run = (run_dir / "progress.txt").exists() or (run_dir / CHECKPOINT_FILE).exists()
    if holds_run:
        if not overwrite:
            raise PgrlError(
                f"{str(run_dir)!r} already holds a run; choose another output directory or pass overwrite "
                "(--overwrite) to replace it"
            )
        for name in ("progress.txt", CHECKPOINT_FILE, "config.json", "eval.json"):
            (run_dir / name).unlink(missing_ok=True)
        shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)
        for events in run_dir.glob("events.out.tfevents.*"):  # TensorBoard files of the old run
            events.unlink(missing_ok=True)
    return run_dir


RESUME_MAY_CHANGE = ("epochs", "save_freq")
"""Hyperparameters a resumed run may change (e.g. raise epochs to train further); the rest stay the run's."""


def _same(a: Any, b: Any) -> bool:
    norm = lambda v: list(v) if isinstance(v, tuple | list) else v  # noqa: E731
    return bool(norm(a) == norm(b))


def resolve_hyperparameters(
    algo: str, env_fn: EnvSpec | None, given: dict[str, Any], resume: str | os.PathLike[str] | None = None
) -> tuple[EnvSpec, str, dict[str, Any]]:
    """The run's env and hyperparameters: ``(env_fn, env_id, hp)``.

    A new run takes the algorithm's defaults < the env's preset < ``given`` (non-None values). A resumed
    run (``resume`` = its directory) takes the values in its config.json; ``given`` may repeat them and
    may change only :data:`RESUME_MAY_CHANGE`, and ``env_fn`` defaults to the run's env id.
    """
    if resume is None:
        if env_fn is None:
            raise PgrlError(f"{algo} needs an environment: pass env_fn (a function returning an env) or an env id")
        env_id = env_name(env_fn)
        return env_fn, env_id, resolve(algo, env_id, given)
    config = load_config(resume)
    if config.get("algo") != algo:
        raise PgrlError(
            f"{str(resume)!r} holds a {config.get('algo')} run, not {algo}; resume it with "
            f"`pgrl train {config.get('algo')} --resume {resume}`"
        )
    saved_env = config.get("env_id")
    if env_fn is None:
        if not isinstance(saved_env, str) or saved_env not in gym.registry:
            raise PgrlError(
                f"the run in {str(resume)!r} trained on {saved_env!r}, which is not a registered env id; "
                "pass the same env_fn to resume it"
            )
        env_fn = saved_env
    env_id = env_name(env_fn)
    if env_id != saved_env:
        raise PgrlError(f"the run in {str(resume)!r} trained on {saved_env!r}, not {env_id!r}")
    saved = config.get("hyperparameters")
    if not isinstance(saved, dict):
        raise PgrlError(f"config.json in {str(resume)!r} lacks the run's hyperparameters")
    hp = resolve(algo, env_id, {})  # a run saved by an older pgrl may lack newer hyperparameters
    hp.update({k: tuple(v) if isinstance(v, list) else v for k, v in saved.items()})
    for name, value in given.items():
        if value is None or _same(hp.get(name), value):
            continue
        if name not in RESUME_MAY_CHANGE:
            raise PgrlError(
                f"{name}={value!r} differs from the resumed run's {name}={hp.get(name)!r}; a resumed run keeps "
                f"its hyperparameters (only {', '.join(RESUME_MAY_CHANGE)} may change)"
            )
        hp[name] = value
    return env_fn, env_id, hp


class _SilentLogger:
    """The logger of a data-parallel run's processes other than rank 0: they write nothing."""

    columns: list[str] | None = None

    def __init__(self, run_dir: Path) -> None:
        self.output_dir = run_dir

    def save_config(self, config: dict[str, Any]) -> None: ...

    def save_eval(self, result: dict[str, Any]) -> None: ...

    def live(self, message: str) -> None: ...

    def log_epoch(self, row: dict[str, Any]) -> None: ...

    def resume(self, epoch: int) -> list[dict[str, Any]]:
        return []

    def close(self) -> None: ...


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


class Run:
    """One training run's shared machinery (see the module docstring).

    Args:
        algo: algorithm name, for config.json and run names.
        env_fn: env id or factory.
        hp: resolved hyperparameters (see :mod:`pgrl.hyperparams`); uses num_envs, steps_per_epoch,
            epochs, max_ep_len, save_freq, norm_obs, hidden_sizes, activation.
        actor_critic, ac_kwargs: the network class and its extra arguments (Spinning Up's).
        seed: seeds python, numpy, torch and the envs (env i gets seed + i).
        eval_episodes: deterministic episodes of the final evaluation (eval.json), and of each
            in-training evaluation.
        eval_every: evaluate during training every this many env steps (None or 0: never): at the
            end of the first epoch that reaches each multiple of eval_every, ``eval_episodes``
            deterministic episodes run on separate env copies (:func:`pgrl.evaluate.evaluate`, seed
            ``seed`` each time; the training envs and their episodes are untouched), logged as the
            columns EvalAverageEpRet, EvalStdEpRet, EvalMaxEpRet, EvalMinEpRet, EvalEpLen (NaN in the
            epochs without an evaluation). Time includes the evaluation; StepsPerSecond does not.
        tensorboard: also write the epoch rows as TensorBoard scalars (step = TotalEnvInteracts)
            into the run directory.
        resume: a run directory to continue from its checkpoint (hp from
            :func:`resolve_hyperparameters`): network, observation statistics, epoch and step counters,
            the RNG states of python, numpy and torch, and the envs' state where they allow it (see
            :mod:`pgrl.snapshot`); the optimizers are restored by :meth:`attach`. progress.txt continues
            after the checkpoint's epoch. The run's own seed is used (``seed`` is ignored).
        nan_policy: "stop" (default): a non-finite loss, gradient or parameter stops training with
            :class:`pgrl.errors.NonFiniteError`, keeping the last good checkpoint; "skip": such updates
            are skipped (counted in the SkippedUpdates column).

        rollouts: False for an algorithm that steps ``run.envs`` itself (ARS): no collector is built,
            hp needs no steps_per_epoch, and the algorithm reports its episodes with
            :meth:`record_episodes` before :meth:`end_epoch`.
        steps_per_collect: T of each :meth:`collect`, per env (A2C's n_steps); an epoch then holds
            :attr:`collects_per_epoch` collections. Default: the whole epoch, steps_per_epoch / num_envs.

    While the epoch loop runs, SIGINT (Ctrl-C) and SIGTERM let the epoch in progress finish, log it and
    write a checkpoint, then raise :class:`pgrl.errors.TrainingInterrupted`; a second signal stops at once.

    Data-parallel (launched by torchrun, see :mod:`pgrl.distributed` and docs/scaling.md): each process
    collects steps_per_epoch / world_size steps with seed + 10000 * rank, starts from rank 0's
    parameters, and the epoch row gathers every process's episodes, values, steps and statistics; only
    rank 0 writes the run directory and evaluates.
    """

    def __init__(
        self,
        algo: str,
        env_fn: EnvSpec,
        hp: dict[str, Any],
        actor_critic: Callable[..., nn.Module] = MLPActorCritic,
        ac_kwargs: dict[str, Any] | None = None,
        seed: int = 0,
        logger_kwargs: dict[str, Any] | None = None,
        callback: Callback | None = None,
        verbose: bool = True,
        vectorization: str = "sync",
        eval_episodes: int = 20,
        overwrite: bool = False,
        env_id: str | None = None,
        *,
        eval_every: int | None = None,
        tensorboard: bool = False,
        resume: str | os.PathLike[str] | None = None,
        nan_policy: str = "stop",
        rollouts: bool = True,
        steps_per_collect: int | None = None,
    ) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= seed < 2**32:
            raise PgrlError(f"seed must be an integer in [0, 2**32 - 1], got {seed!r}")
        if isinstance(eval_episodes, bool) or not isinstance(eval_episodes, int) or eval_episodes < 0:
            raise PgrlError(f"eval_episodes must be an integer >= 0 (0: no evaluation), got {eval_episodes!r}")
        self.nan_guard = NanGuard(nan_policy, context=self._nan_context)
        self.resumed_state: dict[str, Any] | None = None
        """The checkpoint this run resumed from (for an algorithm's own extra state), else None."""
        resumed_config: dict[str, Any] = {}
        if resume is not None:
            if overwrite:
                raise PgrlError("overwrite and resume exclude each other: resume continues the run in its directory")
            out = (logger_kwargs or {}).get("output_dir")
            if out and Path(out).resolve() != Path(resume).resolve():
                raise PgrlError(
                    f"a resumed run stays in its directory {str(resume)!r}; drop the output directory {out!r}"
                )
            resumed_config = load_config(resume)
            self.resumed_state = load_checkpoint(resume)
            missing = [k for k in ("ac", "epoch", "total_steps", "rng") if k not in self.resumed_state]
            if missing:
                raise PgrlError(f"the checkpoint in {str(resume)!r} cannot be resumed: it lacks {', '.join(missing)}")
            if self.resumed_state["epoch"] >= int(hp["epochs"]):
                raise PgrlError(
                    f"the run in {str(resume)!r} already finished its {self.resumed_state['epoch']} epochs; "
                    "pass a larger epochs (--epochs) to train it further"
                )
            seed = int(resumed_config.get("seed", seed))
            logger_kwargs = {
                "exp_name": resumed_config.get("exp_name"),
                **{k: v for k, v in (logger_kwargs or {}).items() if v is not None},
                "output_dir": str(resume),
            }
            if not eval_every:  # progress.txt of a run that evaluated has the Eval* columns to fill
                eval_every = resumed_config.get("eval_every") or eval_every
        if eval_every is not None and (
            isinstance(eval_every, bool) or not isinstance(eval_every, int) or eval_every < 0
        ):
            raise PgrlError(f"eval_every must be a positive number of env steps (or None), got {eval_every!r}")
        if eval_every and eval_episodes < 1:
            raise PgrlError("eval_every needs eval_episodes >= 1 (the episodes of each evaluation)")
        self.eval_every = eval_every or 0
        self.algo, self.env_fn, self.hp, self.seed = algo, env_fn, hp, seed
        distributed.init()  # torchrun's WORLD_SIZE/RANK/MASTER_ADDR; a no-op in a single process
        self.main = distributed.is_main()
        self.rank_seed = distributed.rank_seed(seed)  # seed + 10000 * rank
        verbose = verbose and self.main
        self.callback, self.verbose, self.eval_episodes = callback, verbose, eval_episodes
        self.env_id = env_id or env_name(env_fn)
        # The envs first: a bad env id or space is refused before anything is written to disk.
        self.envs = make_vec_env(env_fn, hp["num_envs"], self.rank_seed, vectorization, hp.get("max_ep_len"))  # type: ignore[arg-type]
        seed_everything(self.rank_seed)
        # The networks are small: one intra-op thread avoids the thread pool's wake-up cost, which
        # dominates a forward pass over N observations (measured ~35x slower with 2 threads on a busy
        # 2-core machine). Restored in finish().
        self._torch_threads = torch.get_num_threads()
        torch.set_num_threads(int(hp.get("torch_threads") or 1))
        obs_space, act_space = self.envs.single_observation_space, self.envs.single_action_space

        if resume is not None:
            if resumed_config.get("actor_critic", class_path(MLPActorCritic)) != class_path(actor_critic):
                raise PgrlError(
                    f"the run in {str(resume)!r} used the actor-critic {resumed_config.get('actor_critic')}; "
                    "pass the same actor_critic to resume it"
                )
            saved_kwargs = resumed_config.get("ac_kwargs", {})
            if ac_kwargs and json_ac_kwargs(ac_kwargs) != {k: saved_kwargs.get(k) for k in ac_kwargs}:
                raise PgrlError(
                    f"ac_kwargs {json_ac_kwargs(ac_kwargs)} differ from the resumed run's {saved_kwargs}; "
                    "a resumed run keeps its network"
                )
            ac_kwargs = {**saved_kwargs, **(ac_kwargs or {})}
        ac_kwargs = dict(ac_kwargs or {})
        if actor_critic is MLPActorCritic:
            ac_kwargs.setdefault("hidden_sizes", tuple(hp["hidden_sizes"]))
            ac_kwargs.setdefault("activation", hp["activation"])
            validate({"hidden_sizes": ac_kwargs["hidden_sizes"]})
        ac = build_actor_critic(actor_critic, obs_space, act_space, ac_kwargs)
        obs_rms = RunningMeanStd((int(np.prod(obs_space.shape or ())),)) if hp.get("norm_obs") else None
        self.config: dict[str, Any] = {
            "algo": algo,
            "env_id": self.env_id,
            "seed": seed,
            "hyperparameters": {k: list(v) if isinstance(v, tuple) else v for k, v in hp.items()},
            "actor_critic": class_path(actor_critic),
            "ac_kwargs": json_ac_kwargs(ac_kwargs),
            "observation_space": space_to_json(obs_space),
            "action_space": space_to_json(act_space),
            "vectorization": vectorization,
            "exp_name": (logger_kwargs or {}).get("exp_name") or f"{algo}-{self.env_id}",
            "eval_every": self.eval_every or None,
            "nan_policy": nan_policy,
            "pgrl_version": pgrl.__version__,
        }
        # The run directory once the input is known to be good: nothing is written for a refused run.
        if resume is not None:
            self.run_dir = Path(resume)
        elif self.main:
            self.run_dir = prepare_run_dir(logger_kwargs, algo, self.env_id, seed, overwrite)
        else:  # only rank 0 writes
            self.run_dir = Path((logger_kwargs or {}).get("output_dir") or default_run_dir("rank", seed))
        self.logger: EpochLogger | _SilentLogger = (
            EpochLogger(self.run_dir, verbose=verbose, tensorboard=tensorboard)
            if self.main
            else _SilentLogger(self.run_dir)
        )
        self.agent = Agent(ac, obs_space, act_space, obs_rms, self.config)
        self.agent.run_dir = self.run_dir
        self.collector: Collector | None = None
        self.T = self.collects_per_epoch = 0
        if rollouts:
            epoch_T = steps_per_env(distributed.share(hp["steps_per_epoch"]), hp["num_envs"])
            self.T = min(steps_per_collect or epoch_T, epoch_T)
            self.collects_per_epoch = -(-epoch_T // self.T)
            self.collector = Collector(self.envs, self.agent, self.T, self.rank_seed)
        # What the epoch's collections gathered, for its row: episodes, values, steps.
        self._epoch_returns: list[float] = []
        self._epoch_lengths: list[int] = []
        self._epoch_values: list[np.ndarray] = []
        self._epoch_steps = 0
        self.history: list[dict[str, Any]] = []
        self.total_steps = 0
        self.epoch = 0
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.envs_restored: bool | None = None  # resumed: whether the envs continued their episodes
        self._saved_epoch: int | None = None  # epoch of the checkpoint on disk
        self._signal: int | None = None
        self._handlers: dict[int, Any] | None = None
        if self.resumed_state is not None:
            self._restore(self.resumed_state)
        self.logger.save_config(self.config)
        last_time = self.history[-1].get("Time") if self.history else None
        self.clock = Stopwatch(offset=float(last_time) if isinstance(last_time, int | float) else 0.0)
        self._epoch_start = self.clock()
        self._stopped = False
        if self.resumed_state is not None:
            set_rng_state(self.resumed_state["rng"])  # last: building the network above drew from torch's RNG
            if not self.main:  # the checkpoint holds rank 0's RNGs
                seed_everything(int(np.random.SeedSequence([self.rank_seed, self.epoch]).generate_state(1)[0]))
        # Data-parallel: every process starts from rank 0's network and observation statistics.
        distributed.broadcast_parameters(self.agent.ac)
        if self.agent.obs_rms is not None and distributed.active():
            rms = self.agent.obs_rms
            stats = distributed.broadcast_tensor(torch.from_numpy(np.concatenate([rms.mean, rms.var, [rms.count]])))
            d = rms.mean.size
            rms.mean, rms.var = (
                stats[:d].numpy().reshape(rms.mean.shape),
                stats[d : 2 * d].numpy().reshape(rms.var.shape),
            )
            rms.count = float(stats[-1])

    def _restore(self, state: dict[str, Any]) -> None:
        """Load a checkpoint's network, statistics, counters and env state (RNGs: end of __init__)."""
        try:
            self.agent.ac.load_state_dict(state["ac"])
            if self.agent.obs_rms is not None and state.get("obs_rms") is not None:
                self.agent.obs_rms.load_state_dict(state["obs_rms"])
        except (RuntimeError, KeyError, ValueError, TypeError) as e:
            raise PgrlError(
                f"the checkpoint in {str(self.run_dir)!r} does not fit this run's network: {str(e).splitlines()[0]}"
            ) from e
        self.epoch = int(state["epoch"])
        self.total_steps = int(state["total_steps"])
        self._saved_epoch = self.epoch
        self.history = self.logger.resume(self.epoch)
        # Envs that cannot be restored start new episodes, seeded apart from the run's first reset.
        reseed = int(np.random.SeedSequence([self.rank_seed, self.epoch]).generate_state(1)[0])
        if self.collector is None:  # the algorithm resets its envs itself (ARS)
            self.envs_restored = True
        else:  # the checkpoint holds rank 0's envs; the other processes start new episodes
            collector_state = state.get("collector") if self.main else None
            self.envs_restored = self.collector.load_state_dict(collector_state, reseed=reseed)
        if not self.envs_restored:
            if self.verbose:
                print(
                    f"Resuming {self.algo} on {self.env_id} at epoch {self.epoch}: the envs' state cannot be "
                    "restored, so their episodes start afresh (results differ from an uninterrupted run)"
                )
        elif self.verbose:
            print(f"Resuming {self.algo} on {self.env_id} at epoch {self.epoch} from {str(self.run_dir)!r}")

    def attach(self, optimizers: Mapping[str, torch.optim.Optimizer]) -> None:
        """Hand the algorithm's optimizers to the run (by name).

        They are saved in every checkpoint, restored from the checkpoint when resuming, and guarded by
        the run's NaN policy in :func:`pgrl.update.step_optimizer`. Call once, right after creating them.
        """
        self.optimizers = dict(optimizers)
        for opt in self.optimizers.values():
            self.nan_guard.attach(opt)
        if self.resumed_state is not None:
            saved = self.resumed_state.get("optimizers") or {}
            if set(saved) != set(self.optimizers):
                raise PgrlError(
                    f"the checkpoint in {str(self.run_dir)!r} holds optimizers {sorted(saved)}, this run has "
                    f"{sorted(self.optimizers)}; resume with the same settings"
                )
            for name, opt in self.optimizers.items():
                try:
                    opt.load_state_dict(saved[name])
                except (ValueError, KeyError, RuntimeError, TypeError) as e:
                    raise PgrlError(
                        f"the checkpoint's optimizer {name!r} does not fit this run: {str(e).splitlines()[0]}"
                    ) from e

    # ------------------------------------------------------------------------------------------ signals

    def _install_signals(self) -> None:
        if self._handlers is not None or threading.current_thread() is not threading.main_thread():
            return
        self._handlers = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            if signal.getsignal(sig) == signal.SIG_IGN:  # ignored on purpose (a background job, a supervisor)
                continue
            with contextlib.suppress(ValueError, OSError):  # not the main interpreter, or an odd platform
                self._handlers[sig] = signal.signal(sig, self._on_signal)

    def _release_signals(self) -> None:
        handlers, self._handlers = self._handlers, None
        for sig, previous in (handlers or {}).items():
            with contextlib.suppress(ValueError, OSError):
                signal.signal(sig, previous if previous is not None else signal.SIG_DFL)

    def _stop(self) -> None:
        """Training ends early (signal, NaN): give back the signal handlers and torch's thread count."""
        self._release_signals()
        torch.set_num_threads(self._torch_threads)

    def _on_signal(self, signum: int, frame: Any) -> None:
        if not self._training_on_stack(frame):  # left behind by a loop that died: act as before
            self._stop()
            previous = signal.getsignal(signum)
            if callable(previous):
                previous(signum, frame)
            elif previous == signal.SIG_DFL:
                signal.raise_signal(signum)
            return
        if self._signal is not None:  # the second signal: stop now; the checkpoint on disk is consistent
            self._stop()
            raise TrainingInterrupted(str(self.run_dir), signum, self._saved_epoch, self.algo, immediate=True)
        self._signal = signum
        name = signal.Signals(signum).name
        with contextlib.suppress(OSError, ValueError, AttributeError):  # stderr may be closed or replaced
            os.write(
                sys.stderr.fileno(),
                f"\npgrl: {name} received: finishing epoch {self.epoch + 1}, then writing a checkpoint "
                "(send it again to stop at once)\n".encode(),
            )

    def _training_on_stack(self, frame: Any) -> bool:
        """Whether this run's loop is executing (a frame holds the Run): an algorithm function that
        raised leaves the handlers installed, and they must not swallow a later Ctrl-C."""
        while frame is not None:
            if any(value is self for value in frame.f_locals.values()):
                return True
            frame = frame.f_back
        return False

    def _interrupt(self) -> None:
        """After a signal: the epoch is logged; checkpoint it (unless just done), then raise."""
        if self._saved_epoch != self.epoch:
            self.save()
        self._stop()
        self.envs.close()
        self.logger.close()
        assert self._signal is not None
        raise TrainingInterrupted(
            str(self.run_dir), self._signal, self.epoch, self.algo, complete=self.epoch >= self.epochs
        )

    # ------------------------------------------------------------------------------------------ NaN guard

    def _nan_context(self) -> str:
        """Where training stopped, for the NaN guard's message (which ends training)."""
        self._stop()
        kept = (
            f"the last good checkpoint (epoch {self._saved_epoch}) in {str(self.run_dir)!r} is kept"
            if self._saved_epoch is not None
            else "no checkpoint was written"
        )
        return f" in epoch {self.epoch + 1}: training stopped; {kept}"

    def _check_parameters(self) -> None:
        for name, p in self.agent.ac.named_parameters():
            if not bool(torch.isfinite(p).all()):
                value = float(p.detach()[~torch.isfinite(p.detach())][0])
                raise NonFiniteError(f"non-finite parameter {name} ({value}){self._nan_context()}")

    @property
    def epochs(self) -> int:
        return int(self.hp["epochs"])

    @_stops_on_error
    def collect(self) -> Rollout:
        """One epoch of experience from every env."""
        self._install_signals()
        if self.collector is None:
            raise PgrlError(f"{self.algo} built its Run with rollouts=False; it cannot collect()")
        if self._epoch_steps == 0:
            self._epoch_start = self.clock()
        self.logger.live(f"epoch {self.epoch + 1}/{self.epochs}  collecting {self.T * self.collector.N} steps ...")
        before = distributed.running_stats_snapshot(self.agent.obs_rms)
        rollout = self.collector.collect()
        if before is not None:  # every process folds in every process's observations
            distributed.sync_running_stats(self.agent.obs_rms, before)
        self.record_episodes(rollout.episode_returns, rollout.episode_lengths, rollout.num_steps)
        self._epoch_values.append(rollout.values.copy())
        self.logger.live(f"epoch {self.epoch + 1}/{self.epochs}  updating ...")
        return rollout

    def record_episodes(self, returns: Sequence[float], lengths: Sequence[int], steps: int) -> None:
        """Count ``steps`` env steps and the episodes that finished in them into this epoch's row.

        :meth:`collect` does it; an algorithm that steps ``run.envs`` itself (``rollouts=False``) calls it.
        """
        self._install_signals()
        self._epoch_returns.extend(returns)
        self._epoch_lengths.extend(lengths)
        self._epoch_steps += steps
        self.total_steps += steps

    @_stops_on_error
    def end_epoch(self, rollout: Rollout | None, stats: dict[str, Any], state: dict[str, Any] | None = None) -> bool:
        """Log the epoch, checkpoint on schedule and call the callback; False means stop.

        After SIGINT/SIGTERM it checkpoints and raises :class:`pgrl.errors.TrainingInterrupted`.

        Args:
            rollout: this epoch's (last) rollout, or None. The episode and value columns cover
                everything :meth:`collect` and :meth:`record_episodes` gathered since the previous
                end_epoch (the VVals columns only when values were collected).
            stats: the algorithm's update statistics (LossPi, LossV, ...), in column order.
            state: the algorithm's own extra state to checkpoint (tensors and plain data), read back
                from ``run.resumed_state`` when resuming. Optimizers go through :meth:`attach`.
        """
        self._check_parameters()
        now = self.clock()
        if distributed.active():
            stats = self._gather_epoch(stats)
        row: dict[str, Any] = {"Epoch": self.epoch + 1}
        row.update(episode_stats(self._epoch_returns, self._epoch_lengths))
        if self._epoch_values:
            row.update(array_stats("VVals", np.concatenate([v.reshape(-1) for v in self._epoch_values])))
        row["TotalEnvInteracts"] = self.total_steps
        row.update(stats)
        if self.eval_every:
            row.update(self.evaluate_if_due(self._epoch_steps))
        row["Time"] = self.clock() if self.eval_every else now
        row["StepsPerSecond"] = self._epoch_steps / max(now - self._epoch_start, 1e-9)
        self._epoch_returns, self._epoch_lengths, self._epoch_values, self._epoch_steps = [], [], [], 0
        columns = self.logger.columns
        if (columns is None and self.nan_guard.policy == "skip") or (columns and "SkippedUpdates" in columns):
            row["SkippedUpdates"] = self.nan_guard.skipped
        if self.nan_guard.skipped and self.verbose:
            print(f"pgrl: skipped {self.nan_guard.skipped} update(s) with non-finite values in epoch {self.epoch + 1}")
        self.nan_guard.skipped = 0
        self.logger.log_epoch(row)
        self.history.append(row)
        self.epoch += 1
        self._state = state or {}
        if self.epoch % int(self.hp["save_freq"]) == 0 or self.epoch == self.epochs:
            self.save()
        if self.callback is not None and self.callback(self.epoch - 1, row, self.agent) is False:
            self._stopped = True
        if distributed.active():  # every process stops (or is interrupted) together
            stopped, signalled = distributed.sum_array([self._stopped, self._signal is not None]) > 0
            self._stopped = bool(stopped)
            if signalled and self._signal is None:
                self._signal = signal.SIGTERM
        if self._signal is not None:
            self._interrupt()
        self._epoch_start = self.clock()  # the next epoch's clock (collect restarts it; ARS does not collect)
        return not self._stopped and self.epoch < self.epochs

    def _gather_epoch(self, stats: dict[str, Any]) -> dict[str, Any]:
        """Data-parallel: this epoch's episodes, values and steps from every process, and the update
        statistics averaged over processes (the rows of all processes agree)."""
        values = np.concatenate([v.reshape(-1) for v in self._epoch_values]) if self._epoch_values else None
        parts = distributed.gather_objects((self._epoch_returns, self._epoch_lengths, values, self._epoch_steps))
        self._epoch_returns = [r for p in parts for r in p[0]]
        self._epoch_lengths = [n for p in parts for n in p[1]]
        self._epoch_values = [p[2] for p in parts if p[2] is not None]
        steps = sum(int(p[3]) for p in parts)
        self.total_steps += steps - self._epoch_steps
        self._epoch_steps = steps
        numeric = [k for k, v in stats.items() if isinstance(v, int | float | np.number) and not isinstance(v, bool)]
        means = distributed.sum_array([float(stats[k]) for k in numeric]) / distributed.world_size()
        return {
            **stats,
            **{
                k: type(stats[k])(m) if isinstance(stats[k], int) else float(m)
                for k, m in zip(numeric, means, strict=True)
            },
        }

    def evaluate_if_due(self, epoch_steps: int) -> dict[str, float]:
        """The Eval* columns of this epoch: an evaluation when this epoch's ``epoch_steps`` reached a
        multiple of eval_every, else NaN (progress.txt has one header, so every row has the columns)."""
        every = self.eval_every
        if self.total_steps // every <= (self.total_steps - epoch_steps) // every or not self.main:
            return {f"Eval{k}": v for k, v in episode_stats([], []).items()}
        self.logger.live(f"epoch {self.epoch + 1}/{self.epochs}  evaluating ...")
        returns, lengths = evaluate(
            self.agent, self.env_fn, self.eval_episodes, seed=self.seed, max_ep_len=self.hp.get("max_ep_len")
        )
        return {f"Eval{k}": v for k, v in episode_stats(returns.tolist(), lengths.tolist()).items()}

    def save(self) -> None:
        """Checkpoint the completed epoch: network, optimizers, observation statistics, counters, RNG
        states and the collector (current observations, episode tallies, env state), atomically."""
        self._check_parameters()  # never replace a good checkpoint with NaNs
        if not self.main:  # only rank 0 writes (the parameters are the same on every process)
            self._saved_epoch = self.epoch
            return
        state = {
            "ac": self.agent.ac.state_dict(),
            "obs_rms": self.agent.obs_rms.state_dict() if self.agent.obs_rms is not None else None,
            "epoch": self.epoch,
            "total_steps": self.total_steps,
            "optimizers": {name: opt.state_dict() for name, opt in self.optimizers.items()},
            "rng": rng_state(),
            "collector": self.collector.state_dict() if self.collector is not None else None,
            **getattr(self, "_state", {}),
        }
        save_checkpoint(self.run_dir, state)
        self._saved_epoch = self.epoch

    def finish(self) -> tuple[Agent, list[dict[str, Any]]]:
        """Final checkpoint, the deterministic evaluation, and the (agent, history) an algorithm returns."""
        self._release_signals()  # from here on Ctrl-C stops at once: the checkpoint below is the last one
        if self._saved_epoch != self.epoch:
            self.save()
        self.envs.close()
        torch.set_num_threads(self._torch_threads)
        self.logger.close()
        distributed.shutdown()  # the last collective is behind us; rank 0 evaluates alone
        if self.eval_episodes > 0 and self.main:
            self.logger.live("evaluating ...")
            returns, lengths = evaluate(
                self.agent, self.env_fn, self.eval_episodes, seed=self.seed, max_ep_len=self.hp.get("max_ep_len")
            )
            result = {
                "episodes": len(returns),
                "mean_return": float(returns.mean()),
                "std_return": float(returns.std()),
                "mean_length": float(lengths.mean()),
                "total_steps": self.total_steps,
                "train_seconds": self.history[-1]["Time"] if self.history else 0.0,
            }
            self.logger.save_eval(result)
            if self.verbose:
                print(
                    f"Deterministic evaluation of {self.env_id} over {len(returns)} episodes: "
                    f"return {result['mean_return']:.1f} +/- {result['std_return']:.1f} "
                    f"(after {self.total_steps} steps, {result['train_seconds']:.1f} s of training)"
                )
                print(f"Run saved in {self.run_dir}")
        return self.agent, self.history
