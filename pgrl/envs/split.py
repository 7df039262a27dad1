"""A vector env split between this process and a worker process, both stepping at once (``--vec split``).

For envs whose step is mostly simulation (MuJoCo: ~100-200 us a copy), a sync vector env leaves the second
core idle while the learner waits on the first. Here the first half of the copies steps in this process
and the second half in one worker process, at the same time: each step sends the worker its actions,
steps this process's copies, then takes the worker's results. Both halves are gymnasium ``SyncVectorEnv``
s in SAME_STEP autoreset mode, seeded as one sync vector env of all the copies would be (copy i with
seed + i), so the steps are the same as ``--vec sync``'s, copy for copy.

One worker, not one per copy (gymnasium's ``AsyncVectorEnv``, ``--vec async``): a round trip through a
pipe costs tens of microseconds on this kind of machine, paid once a step for all the worker's copies.
A process that may not start one (a daemonic process, such as a ``multiprocessing.Pool`` worker) steps
every copy itself: the same steps, on one core.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import traceback
from collections.abc import Callable, Collection, Sequence
from multiprocessing.connection import Connection
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import CloudpickleWrapper

from pgrl.envs.concat import ConcatVectorEnv
from pgrl.envs.gym_vectors import SyncVectorEnv, keys
from pgrl.errors import PgrlError

_CLOSE_TIMEOUT_S = 5.0


def _serve(fns: CloudpickleWrapper, pipe: Connection, parent: Connection, info_keys: frozenset[str] | None) -> None:
    """The worker: a SyncVectorEnv of its copies, answering ("ok", result) or ("error", exception)."""
    parent.close()
    leave_signals_to_the_main_process()
    envs = None
    try:
        envs = SyncVectorEnv(fns.fn, info_keys)  # type: ignore[arg-type]
        pipe.send(("ok", None))
        while True:
            command, payload = pipe.recv()
            if command == "close":
                break
            try:
                result = envs.step(payload) if command == "step" else envs.reset(**payload)
                pipe.send(("ok", result))
            except Exception as e:  # the env's own error, raised again in the main process
                pipe.send(("error", _portable(e)))
    except (EOFError, KeyboardInterrupt):  # the main process went away (before the env errors: EOFError is one)
        pass
    except Exception as e:  # e.g. the env could not be made
        pipe.send(("error", _portable(e)))
    finally:
        if envs is not None:
            envs.close()
        pipe.close()


def leave_signals_to_the_main_process() -> None:
    """In an env worker: Ctrl-C and a SIGTERM sent to the run's process group (a terminal, ``kill -TERM -PGID``)
    are the main process's to handle: it finishes its epoch and writes its checkpoint, then closes us. A
    worker that took them itself died mid-epoch and failed the run. Its own process group keeps them away;
    a SIGTERM sent to the worker itself (multiprocessing's at exit, :meth:`Process.terminate`) still ends it."""
    os.setpgrp()
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _portable(e: Exception) -> Exception:
    """The exception itself when it pickles (so the caller sees the env's error type), else its text."""
    import pickle

    try:
        pickle.loads(pickle.dumps(e))
        return e
    except Exception:
        return RuntimeError(f"{type(e).__name__}: {e}\n{traceback.format_exc()}")


class WorkerVectorEnv(gym.vector.VectorEnv):
    """A SyncVectorEnv of ``fns`` in one worker process; :meth:`step_async` / :meth:`step_wait` let the
    caller work while it steps. Its spaces come from ``probe`` (a made copy, closed by the caller); its info
    has the keys ``info_keys`` (None: all; :mod:`pgrl.envs.gym_vectors`), which also keeps the pipe's load small."""

    def __init__(
        self, fns: Sequence[Callable[[], gym.Env]], probe: gym.Env, info_keys: Collection[str] | None = None
    ) -> None:
        self.num_envs = len(fns)
        self.single_observation_space, self.single_action_space = probe.observation_space, probe.action_space
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, self.num_envs)
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, self.num_envs)
        self.metadata = {**probe.metadata, "autoreset_mode": AutoresetMode.SAME_STEP}
        self.closed, self._waiting = False, False
        context = mp.get_context()
        self._pipe, child = context.Pipe()
        payload = CloudpickleWrapper(list(fns))  # type: ignore[arg-type]  # it pickles any object
        self.process = context.Process(
            target=_serve, args=(payload, child, self._pipe, keys(info_keys)), daemon=True, name="pgrl-env"
        )
        self.process.start()
        child.close()
        self._receive()  # the worker made its envs (or says why not)

    def _receive(self) -> Any:
        try:
            status, payload = self._pipe.recv()
        except (EOFError, ConnectionError, OSError) as e:  # it died: the caller says so (EnvError)
            self.process.join(timeout=_CLOSE_TIMEOUT_S)
            self.closed = True
            raise EOFError(f"the env worker process ended (exit code {self.process.exitcode})") from e
        finally:
            self._waiting = False
        if status == "error":
            raise payload
        return payload

    def _send(self, command: str, payload: Any) -> None:
        if self.closed:
            raise PgrlError("the env worker process is closed")
        try:
            self._pipe.send((command, payload))
        except (BrokenPipeError, ConnectionError, OSError):
            self._receive()  # says how the worker ended
        self._waiting = True

    def step_async(self, actions: Any) -> None:
        self._send("step", actions)

    def step_wait(self) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        return self._receive()  # type: ignore[no-any-return]

    def reset_async(self, *, seed: Any = None, options: dict[str, Any] | None = None) -> None:
        self._send("reset", {"seed": seed, "options": options})

    def reset_wait(self) -> tuple[Any, dict[str, Any]]:
        return self._receive()  # type: ignore[no-any-return]

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        self.step_async(actions)
        return self.step_wait()

    def reset(self, *, seed: Any = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        self.reset_async(seed=seed, options=options)
        return self.reset_wait()

    def close(self, **kwargs: Any) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            if self._waiting:  # an answer still in the pipe (a step interrupted by an error elsewhere)
                self._pipe.poll(_CLOSE_TIMEOUT_S) and self._pipe.recv()
            self._pipe.send(("close", None))
        except (EOFError, BrokenPipeError, ConnectionError, OSError):
            pass
        self.process.join(timeout=_CLOSE_TIMEOUT_S)
        self.terminate()  # an env stuck in its close

    def terminate(self) -> None:
        """End the worker without asking (after a failure: it may not answer); nothing when it has ended."""
        self.closed = True
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=_CLOSE_TIMEOUT_S)
        self._pipe.close()


class SplitVectorEnv(ConcatVectorEnv):
    """``num_envs`` copies: the first ``local`` in this process (a SyncVectorEnv), the rest in one
    :class:`WorkerVectorEnv`, stepping at the same time. Seeded as one SyncVectorEnv of all the copies; the
    info has the keys ``info_keys`` (None: all; :mod:`pgrl.envs.gym_vectors`)."""

    def __init__(
        self,
        fn: Callable[[], gym.Env],
        num_envs: int,
        probe: gym.Env,
        local: int | None = None,
        info_keys: Collection[str] | None = None,
    ) -> None:
        if num_envs < 2:
            raise PgrlError(f"--vec split needs at least 2 env copies (one here, one in the worker), got {num_envs}")
        local = num_envs // 2 if local is None else local
        if mp.current_process().daemon:  # e.g. a multiprocessing.Pool worker, which may start no process:
            local = num_envs  # every copy steps here, as sync (the same steps, on one core)
        here = SyncVectorEnv([fn] * local, info_keys)
        parts: list[gym.vector.VectorEnv] = [here]
        if local < num_envs:
            try:
                parts.append(WorkerVectorEnv([fn] * (num_envs - local), probe, info_keys))
            except BaseException:
                here.close()
                raise
        super().__init__(parts)
        self.local = local

    def reset(self, *, seed: Any = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        """``seed``: an int seeds copy i with seed + i (as a SyncVectorEnv does), a list one seed per copy."""
        if isinstance(seed, int):
            seed = [seed + i for i in range(self.num_envs)]
        cuts = [(0, self.local), (self.local, self.num_envs)][: len(self.envs)]
        seeds = [None] * len(self.envs) if seed is None else [list(seed[a:b]) for a, b in cuts]
        return super().reset(seed=seeds, options=options)

    def terminate(self) -> None:
        """After a failure: the worker ended without asking, this process's copies closed."""
        for part in self.envs[1:]:
            part.terminate()  # type: ignore[attr-defined]
        self.envs[0].close()
