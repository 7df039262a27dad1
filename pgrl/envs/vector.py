"""N seeded copies of a gymnasium env as one vector env.

pgrl runs gymnasium's sync and async vector envs in SAME_STEP autoreset mode: the step that ends an
episode returns the first observation of the next one, and the true final observation arrives in
``info["final_obs"]``. An env's own vectorised implementation (its ``vector_entry_point``, e.g.
CartPole-v1's numpy ``CartPoleVectorEnv``, ~10x the sync vector env) autoresets in NEXT_STEP mode
instead; :class:`pgrl.rollout.Collector` handles both, so that no transition crosses a reset and a
time-limit truncation bootstraps from V(true final observation).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Collection
from typing import Any, Literal

import gymnasium as gym
from gymnasium.envs.registration import load_env_creator
from gymnasium.vector.async_vector_env import _async_worker as gym_async_worker

from pgrl.actions import ActionLayout
from pgrl.envs.envpool_env import EnvpoolVectorEnv
from pgrl.envs.gym_vectors import AsyncVectorEnv, SyncVectorEnv
from pgrl.envs.limits import capped
from pgrl.envs.mujoco_warnings import is_mujoco
from pgrl.envs.named import NamedEnv, make_by_id, register
from pgrl.envs.split import SplitVectorEnv, leave_signals_to_the_main_process
from pgrl.errors import PgrlError
from pgrl.options import VECTORIZATIONS
from pgrl.spaces import ObsLayout

EnvSpec = str | Callable[[], gym.Env]
"""An env id registered with gymnasium ("CartPole-v1", or "module:EnvId"), a factory returning a new env
(Spinning Up's env_fn), or a :class:`pgrl.envs.named.NamedEnv` (an id with env_kwargs and wrappers)."""


def make_env_fn(env: EnvSpec, max_ep_len: int | None = None, **make_kwargs: Any) -> Callable[[], gym.Env]:
    """A factory for one env, with an optional extra time limit (Spinning Up's ``max_ep_len``).

    ``env``: an id (``module:EnvId`` too, see :mod:`pgrl.envs.named`), a factory, or a
    :class:`pgrl.envs.named.NamedEnv`; ``make_kwargs`` go to ``gymnasium.make`` (an id or a NamedEnv of an id).
    """
    if isinstance(env, str):
        register(env)  # an unknown id is refused now, not in the first env's constructor

        def base() -> gym.Env:
            return make_by_id(env, make_kwargs)
    elif isinstance(env, NamedEnv):
        named = env

        def base() -> gym.Env:
            return named(**make_kwargs)
    elif callable(env):
        base = env
    else:
        raise PgrlError(f"env must be a gymnasium id or a function returning an env, got {type(env).__name__}")

    if max_ep_len is None:
        return base

    def limited() -> gym.Env:
        return gym.wrappers.TimeLimit(base(), max_episode_steps=max_ep_len)

    return limited


def check_spaces(observation_space: gym.Space, action_space: gym.Space) -> None:
    """Refuse spaces that pgrl's policies cannot handle, naming the space (:mod:`pgrl.spaces`, :mod:`pgrl.actions`)."""
    ObsLayout.of(observation_space)
    ActionLayout.of(action_space)


@functools.cache
def _native_loads(env_id: str) -> bool:
    """Whether the id's ``vector_entry_point`` exists and imports (phys2d's need jax)."""
    entry = gym.spec(env_id).vector_entry_point
    if entry is None:
        return False
    try:
        load_env_creator(entry) if isinstance(entry, str) else entry
    except (ImportError, gym.error.DependencyNotInstalled):
        return False
    return True


def has_native_vectorization(env: EnvSpec) -> bool:
    """Whether the env is a plain id (no env_kwargs or wrappers, which the vectorised implementation would
    bypass) whose registration has its own vectorised implementation that imports here."""
    return isinstance(env, str) and _native_loads(register(env))


def resolve_vectorization(
    env: EnvSpec, vectorization: str, per_copy_seeds: bool = False, num_envs: int | None = None
) -> str:
    """``"auto"``: the env's own vectorisation where it has one; ``"split"`` for ``num_envs`` >= 2 copies of
    a simulator whose step is slow enough to pay for a worker process (:func:`split_pays`); else ``"sync"``.
    Any other value as it is. The choice depends on the env and the copies only, not on the machine, so a
    run's config.json (which records it) is the same everywhere; sync and split step alike, copy for copy.

    ``per_copy_seeds``: the algorithm resets each copy from its own seed (ARS's antithetic pairs share start
    states), which a native vector env, seeded as a whole, cannot do; "auto" is then not "native".
    """
    if vectorization != "auto":
        if vectorization == "native" and per_copy_seeds:
            raise PgrlError(
                "this algorithm resets each env copy from its own seed, which a native vector env cannot; "
                "use vectorization 'sync' (or 'auto')"
            )
        return vectorization
    if has_native_vectorization(env) and not per_copy_seeds:
        return "native"
    return "split" if num_envs is not None and num_envs >= 2 and split_pays(env) else "sync"


# gymnasium's MuJoCo envs whose step is mostly simulation, ~120-400 us a copy on a 2-core machine: their
# 16 copies stepped with random actions went 1.2x (Hopper), 1.3x (Walker2d), 1.2x (Ant) and 1.4x (Humanoid)
# as fast split across two processes (medians of three rounds); HalfCheetah (~60 us a step) and
# InvertedPendulum (~35 us) went slower (0.8x, 0.9x): the pipe's round trip costs more than their half of
# the step saves. benchmarks/README.md has the measurements.
SPLIT_PAYS = ("Hopper", "Walker2d", "Ant", "Humanoid", "HumanoidStandup")


def split_pays(env: EnvSpec) -> bool:
    """Whether ``env`` (an id, or a NamedEnv of one) is one of :data:`SPLIT_PAYS`, any version."""
    env_id = env if isinstance(env, str) else env.id if isinstance(env, NamedEnv) else None
    if env_id is None or env_id.split("-v")[0] not in SPLIT_PAYS:
        return False
    try:
        return is_mujoco(env_id)
    except gym.error.Error:  # not registered (yet): make_vec_env says so
        return False


def make_native_vec_env(env: EnvSpec, num_envs: int, max_ep_len: int | None) -> gym.vector.VectorEnv:
    """The env's own vectorised implementation (NEXT_STEP autoreset: :class:`pgrl.rollout.Collector` takes
    the step after an episode's end, which only resets that copy, as no transition)."""
    if not has_native_vectorization(env):
        raise PgrlError(
            f"{env!r} has no native vectorised implementation (a vector_entry_point); use vectorization 'sync'"
        )
    assert isinstance(env, str)
    spec = gym.spec(register(env))
    kwargs: dict[str, Any] = {}
    if max_ep_len is not None:
        default = spec.max_episode_steps
        kwargs["max_episode_steps"] = min(int(max_ep_len), int(default)) if default is not None else int(max_ep_len)
    vec = gym.make_vec(spec.id, num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs)
    check_spaces(vec.single_observation_space, vec.single_action_space)
    return vec


def make_vec_env(
    env: EnvSpec,
    num_envs: int,
    seed: int | None = None,
    vectorization: Literal["auto", "native", "sync", "async", "split", "envpool"] = "sync",
    max_ep_len: int | None = None,
    episode_cap: int | None = None,
    info_keys: Collection[str] | None = None,
) -> gym.vector.VectorEnv:
    """``num_envs`` copies of ``env`` as a gymnasium vector env, reset with seeds seed, seed+1, ...

    Args:
        env: env id or factory.
        num_envs: number of copies (>= 1).
        seed: seeds the action space (random actions); reset with ``reset(seed=seed)`` to seed copy i
            with seed + i.
        vectorization: "sync" steps the copies in this process (fast for cheap envs); "async" runs
            each copy in a subprocess (worth it when one env step costs much more than the IPC); "split"
            steps half the copies here and half in one worker process at the same time
            (:mod:`pgrl.envs.split`; for simulators such as MuJoCo on 2 or more cores);
            "native" the env's own vectorised implementation (:func:`make_native_vec_env`); "auto" native
            where the env has one, else sync; "envpool" steps envpool's C++ copies of the env (an env id
            envpool has, envpool installed; see :mod:`pgrl.envs.envpool_env`).
        max_ep_len: optional extra time limit per episode (a truncation).
        episode_cap: a time limit for an env that has none of its own (evaluations: see
            :mod:`pgrl.envs.limits`).
        info_keys: the keys of the step's info a sync, async or split env gathers (None: all, as gymnasium;
            pgrl's runs and evaluations pass :data:`pgrl.envs.gym_vectors.LEARNER_INFO`, the keys they read).

    The env is not reset yet: call ``envs.reset(seed=seed)`` (the rollout collector does).
    """
    if num_envs < 1:
        raise PgrlError(f"num_envs must be >= 1, got {num_envs}")
    vectorization = resolve_vectorization(env, vectorization, num_envs=num_envs)  # type: ignore[assignment]
    if vectorization == "native":
        native = make_native_vec_env(env, num_envs, max_ep_len)
        if seed is not None:
            native.action_space.seed(seed)
        return native
    if vectorization == "envpool":
        if isinstance(env, NamedEnv):
            raise PgrlError("envpool makes its envs itself: it takes no env_kwargs or wrappers (use --vec sync)")
        if isinstance(env, str):
            register(env)
        envpool_vec = EnvpoolVectorEnv(env, num_envs, seed, max_ep_len)  # type: ignore[arg-type]
        check_spaces(envpool_vec.single_observation_space, envpool_vec.single_action_space)
        return envpool_vec
    fn = make_env_fn(env, max_ep_len)
    if episode_cap is not None:
        fn = capped(fn, episode_cap)
    try:
        probe = fn()
    except gym.error.Error as e:  # e.g. a missing optional dependency or a deprecated version
        raise PgrlError(f"could not make environment {env!r}: {e}") from e
    check_spaces(probe.observation_space, probe.action_space)
    probe.close()  # (its spaces and metadata stay readable)
    if vectorization == "sync":
        vec: gym.vector.VectorEnv = SyncVectorEnv([fn] * num_envs, info_keys)
    elif vectorization == "async":
        vec = AsyncVectorEnv([fn] * num_envs, info_keys, worker=_async_worker)
    elif vectorization == "split":
        vec = SplitVectorEnv(fn, num_envs, probe, info_keys=info_keys)
    else:
        raise PgrlError(f"vectorization must be one of {', '.join(VECTORIZATIONS)}, got {vectorization!r}")
    if seed is not None:
        vec.action_space.seed(seed)
    return vec


def _async_worker(*args: Any) -> None:
    """gymnasium's async env worker, leaving the signals sent to the run's process group to the main process
    (:func:`pgrl.envs.split.leave_signals_to_the_main_process`)."""
    leave_signals_to_the_main_process()
    gym_async_worker(*args)


def close_after_failure(envs: gym.vector.VectorEnv) -> None:
    """Close envs one of which failed: a subprocess vector env's workers are ended (a dead or failed
    worker cannot answer the usual close), so that none is left behind."""
    if isinstance(envs, gym.vector.AsyncVectorEnv):
        for process in envs.processes:
            if process.is_alive():
                process.kill()
        for process in envs.processes:
            process.join(timeout=5)
        envs.closed = True  # nothing left to close (and no error from its __del__)
        return
    if isinstance(envs, SplitVectorEnv):
        envs.terminate()
        return
    with contextlib.suppress(Exception):
        envs.close()


def reward_threshold(env: EnvSpec) -> float | None:
    """The return at which the env counts as solved (its spec's ``reward_threshold``), or None."""
    env_id = env if isinstance(env, str) else env.id if isinstance(env, NamedEnv) else None
    spec: gym.envs.registration.EnvSpec | None
    if env_id is not None:
        spec = gym.spec(register(env_id))
    else:
        probe = env()  # type: ignore[operator]  # a factory
        spec = probe.spec
        probe.close()
    threshold = spec.reward_threshold if spec is not None else None
    return float(threshold) if threshold is not None else None


def env_name(env: EnvSpec) -> str:
    """A readable name for logs and config.json: the id (as given, ``module:EnvId`` too), or the id of the
    env that the factory makes."""
    if isinstance(env, str):
        return env
    if isinstance(env, NamedEnv) and env.id is not None:
        return env.id
    probe = env()
    try:
        spec = probe.spec
        return spec.id if spec is not None else type(probe.unwrapped).__name__
    finally:
        probe.close()
