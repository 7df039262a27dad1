"""Collecting experience: T steps in each of N envs into preallocated (T, N) arrays.

The hot loop does, per step, one batched forward pass for all N envs, one vector-env step, and a few
numpy slice assignments. There is no per-env Python loop; the only extra work happens on steps where
an episode was truncated, to evaluate V(true final observation) for the bootstrap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from pgrl.agent import Agent
from pgrl.errors import EnvError, PgrlError
from pgrl.snapshot import decode, encode, set_vector_env_state, vector_env_state


@dataclass
class Rollout:
    """One epoch of experience, time-major (T, N).

    ``obs`` are the network inputs (normalised when the agent normalises). ``next_values[t]`` is V of the
    observation that followed step t: the true final observation on a truncation, and V of the
    observation where collection stopped on the last row. Actions are stored as sampled (unclipped).
    """

    obs: np.ndarray  # (T, N, obs_dim) float32
    actions: np.ndarray  # (T, N) int64 or (T, N, act_dim) float32
    logp: np.ndarray  # (T, N) float32
    values: np.ndarray  # (T, N) float32
    next_values: np.ndarray  # (T, N) float32
    rewards: np.ndarray  # (T, N) float32
    terminated: np.ndarray  # (T, N) bool
    truncated: np.ndarray  # (T, N) bool
    episode_returns: list[float] = field(default_factory=list)  # episodes that finished this epoch
    episode_lengths: list[int] = field(default_factory=list)

    @property
    def num_steps(self) -> int:
        return int(self.rewards.size)


class Collector:
    """Steps a vector env with an agent, keeping the current observations and episode tallies between epochs.

    Args:
        envs: a gymnasium vector env in SAME_STEP autoreset mode (see :func:`pgrl.envs.make_vec_env`).
        agent: the agent whose ``ac.step`` picks actions.
        steps_per_env: T, the steps collected in each env per call to :meth:`collect`.
        seed: seeds the first reset (env i gets seed + i).
    """

    def __init__(self, envs: gym.vector.VectorEnv, agent: Agent, steps_per_env: int, seed: int | None = None) -> None:
        self.envs = envs
        self.agent = agent
        self.T = steps_per_env
        self.N = envs.num_envs
        self.obs, _ = envs.reset(seed=seed)
        check_finite(self.obs, "observation", "reset()")
        self.ep_return = np.zeros(self.N, dtype=np.float64)
        self.ep_length = np.zeros(self.N, dtype=np.int64)
        obs_dim = int(np.prod(envs.single_observation_space.shape or ()))
        act_space = envs.single_action_space
        discrete = isinstance(act_space, gym.spaces.Discrete)
        act_shape = () if discrete else tuple(act_space.shape or ())
        T, N = self.T, self.N
        try:
            self._buffers = self._allocate(T, N, obs_dim, act_shape, discrete)
        except MemoryError as e:
            raise PgrlError(
                f"cannot allocate the rollout buffers for {T} steps x {N} envs ({e}); lower steps_per_epoch or num_envs"
            ) from e

    @staticmethod
    def _allocate(T: int, N: int, obs_dim: int, act_shape: tuple[int, ...], discrete: bool) -> Rollout:
        return Rollout(
            obs=np.zeros((T, N, obs_dim), dtype=np.float32),
            actions=np.zeros((T, N, *act_shape), dtype=np.int64 if discrete else np.float32),
            logp=np.zeros((T, N), dtype=np.float32),
            values=np.zeros((T, N), dtype=np.float32),
            next_values=np.zeros((T, N), dtype=np.float32),
            rewards=np.zeros((T, N), dtype=np.float32),
            terminated=np.zeros((T, N), dtype=bool),
            truncated=np.zeros((T, N), dtype=bool),
        )

    def collect(self) -> Rollout:
        """Run T steps in every env; the arrays are reused between calls (copy what you keep)."""
        buf = self._buffers
        agent, envs = self.agent, self.envs
        ep_returns: list[float] = []
        ep_lengths: list[int] = []
        step = agent.ac.step
        for t in range(self.T):
            x = agent.obs_tensor(self.obs, update_stats=agent.obs_rms is not None)
            a, v, logp = step(x)
            buf.obs[t] = x.numpy()
            buf.actions[t] = a
            buf.values[t] = v
            buf.logp[t] = logp
            try:
                self.obs, r, term, trunc, info = envs.step(agent.to_env_action(a))
            except PgrlError:
                raise
            except Exception as e:  # the env's own error, or a subprocess worker that died
                raise EnvError.from_exception(e, "step()") from e
            if not (np.isfinite(self.obs).all() and np.isfinite(r).all()):
                check_finite(self.obs, "observation", "step()")
                check_finite(r, "reward", "step()")
            buf.rewards[t] = r
            buf.terminated[t] = term
            buf.truncated[t] = trunc
            self.ep_return += r
            self.ep_length += 1
            done = term | trunc
            if done.any():
                buf.next_values[t, term] = 0.0  # a true terminal state has no future
                # Bootstrap a truncated episode from V(true final obs); the reset obs is in self.obs.
                cut = trunc & ~term
                if cut.any():
                    final = np.stack(info["final_obs"][cut])
                    check_finite(final, "final observation", "step()", np.flatnonzero(cut))
                    buf.next_values[t, cut] = agent.value(final)
                ep_returns.extend(self.ep_return[done].tolist())
                ep_lengths.extend(self.ep_length[done].tolist())
                self.ep_return[done] = 0.0
                self.ep_length[done] = 0
        # next_values[t] = values[t+1] except where an episode ended at t (set above); the last row bootstraps from the obs where collection stopped.
        ended = buf.terminated | buf.truncated
        buf.next_values[:-1] = np.where(ended[:-1], buf.next_values[:-1], buf.values[1:])
        last_v = agent.value(self.obs)
        buf.next_values[-1] = np.where(ended[-1], buf.next_values[-1], last_v)
        buf.episode_returns = ep_returns
        buf.episode_lengths = ep_lengths
        return buf

    def state_dict(self) -> dict[str, Any]:
        """The current observations, episode tallies and, where they allow it, the envs' own state
        (see :mod:`pgrl.snapshot`), as plain data for a checkpoint."""
        return {
            "obs": encode(np.asarray(self.obs)),
            "ep_return": encode(self.ep_return),
            "ep_length": encode(self.ep_length),
            "envs": vector_env_state(self.envs),
        }

    def load_state_dict(self, state: dict[str, Any] | None, reseed: int | None = None) -> bool:
        """Continue where :meth:`state_dict` left off. Envs whose state cannot be restored (or a missing
        ``state``) start new episodes instead, reset with ``reseed``; returns whether the envs were restored."""
        obs = decode(state["obs"]) if state is not None else None
        if (
            state is not None
            and isinstance(obs, np.ndarray)
            and obs.shape == np.shape(self.obs)
            and set_vector_env_state(self.envs, state.get("envs"))
        ):
            self.obs = obs
            self.ep_return = decode(state["ep_return"])
            self.ep_length = decode(state["ep_length"])
            return True
        self.obs, _ = self.envs.reset(seed=reseed)
        check_finite(self.obs, "observation", "reset()")
        self.ep_return = np.zeros(self.N, dtype=np.float64)
        self.ep_length = np.zeros(self.N, dtype=np.int64)
        return False


def rollout_bytes(steps_per_env: int, num_envs: int, observation_space: gym.Space, action_space: gym.Space) -> int:
    """Bytes of a :class:`Collector`'s (T, N) buffers for these spaces, and of the flat batch an update
    copies from them (about as much again)."""
    obs = 4 * int(gym.spaces.flatdim(observation_space))
    act = 8 if isinstance(action_space, gym.spaces.Discrete) else 4 * int(gym.spaces.flatdim(action_space))
    per_step = obs + act + 5 * 4 + 2  # + logp, values, next_values, rewards and a spare float; two flags
    return 2 * steps_per_env * num_envs * per_step


def available_memory() -> int | None:
    """Bytes of memory the system can give without swapping (MemAvailable), or None where unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_fits_in_memory(
    steps_per_env: int, num_envs: int, observation_space: gym.Space, action_space: gym.Space
) -> None:
    """Refuse, before anything is allocated or written, an epoch whose rollout cannot fit in memory."""
    need, have = rollout_bytes(steps_per_env, num_envs, observation_space, action_space), available_memory()
    if have is not None and need > 0.8 * have:
        raise PgrlError(
            f"an epoch of {steps_per_env} steps x {num_envs} envs needs about {need / 2**30:.1f} GiB for its "
            f"rollout and batch, more than the {have / 2**30:.1f} GiB of memory available; lower steps_per_epoch "
            "or num_envs"
        )


def check_finite(x: np.ndarray, what: str, where: str, env_ids: np.ndarray | None = None) -> None:
    """Refuse NaN or infinite observations or rewards from an env: nothing can be learned from them.

    ``x`` is batched over env copies (first axis); ``env_ids`` names the copies when ``x`` holds a subset.
    """
    x = np.asarray(x)
    if x.dtype.kind in "fc" and not np.isfinite(x).all():
        bad = np.argwhere(~np.isfinite(x))[0]
        value = x[tuple(bad)]
        env_idx = int(env_ids[bad[0]]) if env_ids is not None else int(bad[0])
        raise PgrlError(
            f"the environment returned a non-finite {what} ({value}) in env copy {env_idx} from {where}; "
            "pgrl cannot learn from NaN or infinite values: fix or wrap the env"
        )


@dataclass
class Episodes:
    """One complete episode from each env copy of a vector env (see :func:`run_episodes`)."""

    returns: np.ndarray  # (N,) float64, undiscounted
    lengths: np.ndarray  # (N,) int64
    observations: np.ndarray  # (S, obs_dim) float: every raw observation acted on, S = lengths.sum()

    @property
    def num_steps(self) -> int:
        return int(self.lengths.sum())


def run_episodes(
    envs: gym.vector.VectorEnv, policy: Callable[[np.ndarray], np.ndarray], seed: int | list[int] | None = None
) -> Episodes:
    """Run exactly one episode in every env copy, all copies stepping together.

    ``policy`` maps the batch of raw observations (N, *obs_shape) to the batch of env actions, row i
    for copy i, so each copy may follow its own policy (ARS's perturbations). A copy whose episode
    has ended keeps stepping (a vector env steps all copies) but its rewards and observations no
    longer count; the loop stops when every copy has finished one episode, so the envs need a time
    limit. Used for policies without a critic, where no (T, N) rollout is needed.

    Args:
        envs: a vector env (SAME_STEP autoreset, as :func:`pgrl.envs.make_vec_env` makes).
        policy: (N, *obs_shape) numpy -> (N, ...) actions the env takes.
        seed: passed to ``envs.reset``: an int (copy i gets seed + i), one seed per copy, or None to
            continue the envs' random streams.
    """
    obs, _ = envs.reset(seed=seed)  # type: ignore[arg-type]  # sync and async vector envs take a list
    N = envs.num_envs
    returns = np.zeros(N, dtype=np.float64)
    lengths = np.zeros(N, dtype=np.int64)
    running = np.ones(N, dtype=bool)
    seen: list[np.ndarray] = []
    while running.any():
        check_finite(obs, "observation", "reset()" if not seen else "step()")
        seen.append(np.asarray(obs)[running].reshape(int(running.sum()), -1))
        try:
            obs, r, term, trunc, _ = envs.step(policy(obs))
        except PgrlError:
            raise
        except Exception as e:  # the env's own error, or a subprocess worker that died
            raise EnvError.from_exception(e, "step()") from e
        returns += np.where(running, r, 0.0)
        lengths += running
        running &= ~(term | trunc)
    return Episodes(returns, lengths, np.concatenate(seen))
