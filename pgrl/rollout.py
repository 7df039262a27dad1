"""Collecting experience: T steps in each of N envs into preallocated (T, N) arrays.

The hot loop does, per step, one batched forward pass for all N envs, one vector-env step, and a few
numpy slice assignments. There is no per-env Python loop; the only extra work happens on steps where
an episode was truncated, to evaluate V(true final observation) for the bootstrap.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode

from pgrl.actions import mask_of
from pgrl.agent import Agent
from pgrl.envs.limits import DEFAULT_EPISODE_CAP
from pgrl.errors import EnvError, PgrlError
from pgrl.networks import MLPActorCritic
from pgrl.normalize import RewardScaler
from pgrl.snapshot import Unencodable, decode, encode, set_vector_env_state, vector_env_state
from pgrl.spaces import MASK_KEY, VECTOR_KEY, ObsLayout

Obs = np.ndarray | dict[str, np.ndarray]
"""Stored network inputs: (T, N, obs_dim) float32, or a dict of such arrays for an observation with images
(``"vector"`` float32, each image uint8 (T, N, *shape); see :mod:`pgrl.spaces`)."""


@dataclass
class Rollout:
    """One epoch of experience, time-major (T, N).

    ``obs`` are the network inputs (normalised when the agent normalises). ``next_values[t]`` is V of the
    observation that followed step t: the true final observation on a truncation, and V of the
    observation where collection stopped on the last row. Actions are stored as sampled (unclipped).
    ``masks`` are the action masks the actions were sampled under (None when the env gives none), so
    the update's log-probs use the same ones.
    """

    obs: Obs  # (T, N, obs_dim) float32, or a dict (see Obs)
    actions: np.ndarray  # (T, N) int64 or (T, N, act_dim) float32 / int64 (see pgrl.actions)
    logp: np.ndarray  # (T, N) float32
    values: np.ndarray  # (T, N) float32
    next_values: np.ndarray  # (T, N) float32
    rewards: np.ndarray  # (T, N) float32
    terminated: np.ndarray  # (T, N) bool
    truncated: np.ndarray  # (T, N) bool
    episode_returns: list[float] = field(default_factory=list)  # episodes that finished this epoch
    episode_lengths: list[int] = field(default_factory=list)
    masks: np.ndarray | None = None  # (T, N, mask_size) bool
    valid: np.ndarray | None = None  # (T, N) bool; NEXT_STEP envs only: False on a step that only reset the env
    agents: int | None = None  # K agents' (pgrl.seeds): agent k's copies are columns k * N/K ... (K >= 1)
    generators: list[torch.Generator] | None = None  # K agents': each one's own, for its minibatches

    @property
    def num_steps(self) -> int:
        """The env steps taken, T * N: what TotalEnvInteracts counts, as the peers count a vector env's steps
        (a NEXT_STEP env's reset steps among them, so that an epoch is steps_per_epoch steps on every env)."""
        return int(self.rewards.size)

    @property
    def num_transitions(self) -> int:
        """The steps that are transitions the learner sees (a NEXT_STEP env's reset steps are none)."""
        return int(self.valid.sum()) if self.valid is not None else int(self.rewards.size)


def _obs_buffers(T: int, N: int, layout: ObsLayout) -> Obs:
    if not layout.images:
        return np.zeros((T, N, layout.vector_dim), dtype=np.float32)
    out = {VECTOR_KEY: np.zeros((T, N, layout.vector_dim), dtype=np.float32)} if layout.vector_dim else {}
    for key, part in layout.keys().items():
        out[key] = np.zeros((T, N, *(part.space.shape or ())), dtype=np.uint8)
    return out


class Collector:
    """Steps a vector env with an agent, keeping the current observations and episode tallies between epochs.

    A vector env in SAME_STEP autoreset mode (gymnasium's sync and async envs as pgrl makes them) returns the
    next episode's first observation on the step that ends an episode, and the true final one in
    ``info["final_obs"]``. One in NEXT_STEP mode (an env's own vectorised implementation, e.g. CartPole-v1's)
    returns the final observation itself and resets the copy on its next step, which ignores the action and
    gives reward 0: that step is no transition, so it is marked invalid (``Rollout.valid``) and left out of
    every batch (TotalEnvInteracts still counts it: the env was stepped), and a truncation bootstraps from
    the observation returned.

    Args:
        envs: a gymnasium vector env in SAME_STEP or NEXT_STEP autoreset mode (see :func:`pgrl.envs.make_vec_env`).
        agent: the agent whose ``ac.step`` picks actions.
        steps_per_env: T, the steps collected in each env per call to :meth:`collect`.
        seed: seeds the first reset (env i gets seed + i).
        reward_scaler: when given, the rollout's ``rewards`` are the env's rewards scaled by it (what the
            learner sees); the episode returns stay the env's own.
    """

    def __init__(
        self,
        envs: gym.vector.VectorEnv,
        agent: Agent,
        steps_per_env: int,
        seed: int | None = None,
        reward_scaler: RewardScaler | None = None,
    ) -> None:
        self.envs = envs
        self.agent = agent
        self.reward_scaler = reward_scaler
        self.T = steps_per_env
        self.N = envs.num_envs
        self.layout = agent.layout
        self.obs, info = envs.reset(seed=seed)
        self._check_obs(self.obs, "reset()")
        self.masked = self.layout.mask_in_obs or MASK_KEY in info
        if self.masked:
            check_takes_masks(agent.ac)
        self.mask = self._mask(self.obs, info)
        self.ep_return = np.zeros(self.N, dtype=np.float64)
        self.ep_length = np.zeros(self.N, dtype=np.int64)
        self.next_step = envs.metadata.get("autoreset_mode") == AutoresetMode.NEXT_STEP
        self.resetting = np.zeros(self.N, dtype=bool)  # NEXT_STEP: copies whose next step only resets them
        try:
            self._buffers = self._allocate(self.T, self.N)
        except MemoryError as e:
            raise PgrlError(
                f"cannot allocate the rollout buffers for {self.T} steps x {self.N} envs ({e}); lower "
                "steps_per_epoch or num_envs"
            ) from e

    def _allocate(self, T: int, N: int) -> Rollout:
        actions = self.agent.actions
        return Rollout(
            obs=_obs_buffers(T, N, self.layout),
            actions=np.zeros((T, N, *actions.shape), dtype=actions.dtype),
            logp=np.zeros((T, N), dtype=np.float32),
            values=np.zeros((T, N), dtype=np.float32),
            next_values=np.zeros((T, N), dtype=np.float32),
            rewards=np.zeros((T, N), dtype=np.float32),
            terminated=np.zeros((T, N), dtype=bool),
            truncated=np.zeros((T, N), dtype=bool),
            masks=np.zeros((T, N, actions.mask_size or 0), dtype=bool) if self.masked else None,
            valid=np.ones((T, N), dtype=bool) if self.next_step else None,
        )

    def _mask(self, obs: Any, info: dict[str, Any]) -> torch.Tensor | None:
        """The action mask of the current observations (None when the env gives none)."""
        if not self.masked:
            return None
        mask = mask_of(obs, info, self.layout.mask_in_obs)
        if mask is None:
            raise PgrlError(
                "the env gave an action mask at reset but not after a step; give one with every observation"
            )
        return self.agent.mask_tensor(mask, self.N)

    def _check_obs(self, obs: Any, where: str) -> None:
        if not self.layout.finite(obs):
            for part in self.layout.float_parts(obs):
                check_finite(part, "observation", where)

    def collect(self) -> Rollout:
        """Run T steps in every env; the arrays are reused between calls (copy what you keep)."""
        buf = self._buffers
        agent, envs = self.agent, self.envs
        ep_returns: list[float] = []
        ep_lengths: list[int] = []
        box = self.layout.single_box
        flat = isinstance(buf.obs, np.ndarray)  # one (T, N, obs_dim) array: no image
        step, scale = self._policy_step(flat), self.reward_scaler
        for t in range(self.T):
            x = agent.obs_tensor(self.obs, update_stats=agent.obs_rms is not None)
            if self.mask is None:
                a, v, logp = step(x)
            else:
                a, v, logp = step(x, mask=self.mask)
                buf.masks[t] = self.mask.numpy()  # type: ignore[index]
            if flat:
                buf.obs[t] = x.numpy()  # type: ignore[index]
            else:
                self._store(buf.obs, t, x)
            buf.actions[t] = a
            buf.values[t] = v
            buf.logp[t] = logp
            try:
                self.obs, r, term, trunc, info = envs.step(agent.to_env_action(a))
            except PgrlError:
                raise
            except Exception as e:  # the env's own error, or a subprocess worker that died
                raise EnvError.from_exception(e, "step()") from e
            if not (
                (self.layout.finite(self.obs) if not box else np.isfinite(self.obs).all()) and np.isfinite(r).all()
            ):
                self._check_obs(self.obs, "step()")
                check_finite(r, "reward", "step()")
            if self.masked:
                self.mask = self._mask(self.obs, info)
            done = term | trunc
            buf.rewards[t] = r if scale is None else scale(r, done, ~self.resetting if self.next_step else None)
            buf.terminated[t] = term
            buf.truncated[t] = trunc
            self.ep_return += r  # the env's own reward, scaled or not for the learner
            if self.next_step:
                buf.valid[t] = ~self.resetting  # type: ignore[index]
                self.ep_length += ~self.resetting  # a reset step is not a step of the new episode
                self.resetting = done
            else:
                self.ep_length += 1
            if done.any():
                self._episodes_ended(t, term, trunc, info, ep_returns, ep_lengths)
        # next_values[t] = values[t+1] except where an episode ended at t (set above); the last row bootstraps from the obs where collection stopped.
        ended = buf.terminated | buf.truncated
        buf.next_values[:-1] = np.where(ended[:-1], buf.next_values[:-1], buf.values[1:])
        last_v = agent.value(self.obs)
        buf.next_values[-1] = np.where(ended[-1], buf.next_values[-1], last_v)
        buf.episode_returns = ep_returns
        buf.episode_lengths = ep_lengths
        return buf

    def _policy_step(self, flat: bool) -> Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """``ac.step`` for this collection: pgrl's own MLPs as numpy with the current weights (they stay the
        same until the update; :mod:`pgrl.inference`), any other network as it is."""
        ac = self.agent.ac
        fast = ac.numpy_step(self.N) if flat and isinstance(ac, MLPActorCritic) else None
        return fast if fast is not None else ac.step  # type: ignore[no-any-return]

    def _values_of(self, obs: Any, which: np.ndarray) -> np.ndarray:
        """V of ``obs``, the observations of the copies ``which`` (a bool (N,) mask)."""
        return self.agent.value(obs)

    def _rows(self, which: np.ndarray) -> Any:
        """The current observations of the copies ``which`` (a bool (N,) mask, or indices)."""
        if isinstance(self.obs, dict):
            return {k: v[which] for k, v in self.obs.items()}
        if isinstance(self.obs, tuple):
            return tuple(v[which] for v in self.obs)
        return np.asarray(self.obs)[which]

    @staticmethod
    def _store(obs: Obs, t: int, x: Any) -> None:
        assert isinstance(obs, dict)
        for key, b in obs.items():
            b[t] = x[key].numpy()

    def _episodes_ended(
        self,
        t: int,
        term: np.ndarray,
        trunc: np.ndarray,
        info: dict[str, Any],
        ep_returns: list[float],
        ep_lengths: list[int],
    ) -> None:
        """Step t ended episodes: no future after a termination, V(true final obs) after a truncation."""
        buf, done = self._buffers, term | trunc
        buf.next_values[t, term] = 0.0  # a true terminal state has no future
        # Bootstrap a truncated episode from V(true final obs): in info (SAME_STEP: self.obs holds the reset
        # obs), or self.obs itself (NEXT_STEP: the reset comes with the next step).
        cut = trunc & ~term
        if cut.any():
            final = self.layout.stack(list(info["final_obs"][cut])) if not self.next_step else self._rows(cut)
            if self.layout.single_box:
                check_finite(final, "final observation", "step()", np.flatnonzero(cut))
            else:
                for part in self.layout.float_parts(final):
                    check_finite(part, "final observation", "step()", np.flatnonzero(cut))
            buf.next_values[t, cut] = self._values_of(final, cut)
        ep_returns.extend(self.ep_return[done].tolist())
        ep_lengths.extend(self.ep_length[done].tolist())
        self.ep_return[done] = 0.0
        self.ep_length[done] = 0

    def state_dict(self, which: np.ndarray | None = None, envs: gym.vector.VectorEnv | None = None) -> dict[str, Any]:
        """The current observations, episode tallies and, where they allow it, the envs' own state
        (see :mod:`pgrl.snapshot`), as plain data for a checkpoint. ``which`` (a bool (N,) mask) and
        ``envs``: the state of those copies only, which ``envs`` steps (one agent's, :mod:`pgrl.seeds`)."""
        which = np.ones(self.N, dtype=bool) if which is None else which
        env_state = vector_env_state(self.envs if envs is None else envs)
        obs = None
        if env_state is not None:  # the observations matter only to envs that continue (images are large lists)
            try:
                obs = encode(self._rows(which))
            except Unencodable:  # e.g. a Text part: the envs start afresh when resumed
                env_state = None
        state = {"obs": obs, "ep_return": encode(self.ep_return[which]), "ep_length": encode(self.ep_length[which]),
                 "envs": env_state}  # fmt: skip
        if self.next_step:
            state["resetting"] = encode(self.resetting[which])
        if self.mask is not None and env_state is not None:  # an info mask comes with no observation: kept here
            state["mask"] = encode(self.mask[torch.from_numpy(which)].numpy())
        return state

    def load_state_dict(self, state: dict[str, Any] | None, reseed: int | None = None) -> bool:
        """Continue where :meth:`state_dict` left off. Envs whose state cannot be restored (or a missing
        ``state``) start new episodes instead, reset with ``reseed``; returns whether the envs were restored."""
        obs = decode(state["obs"]) if state is not None and state.get("obs") is not None else None
        if obs is not None and _same_shapes(obs, self.obs) and set_vector_env_state(self.envs, state.get("envs")):  # type: ignore[union-attr]
            self.obs = obs
            self.ep_return = decode(state["ep_return"])  # type: ignore[index]
            self.ep_length = decode(state["ep_length"])  # type: ignore[index]
            if self.next_step:
                self.resetting = decode(state.get("resetting", encode(np.zeros(self.N, dtype=bool))))  # type: ignore[union-attr]
            saved_mask = state.get("mask")  # type: ignore[union-attr]
            if self.masked and not self.layout.mask_in_obs and saved_mask is None:
                return self._restart(reseed)
            self.mask = self._mask(self.obs, {MASK_KEY: decode(saved_mask)} if saved_mask is not None else {})
            return True
        return self._restart(reseed)

    def _restart(self, reseed: int | None) -> bool:
        self.obs, info = self.envs.reset(seed=reseed)
        self._check_obs(self.obs, "reset()")
        self.mask = self._mask(self.obs, info)
        self.ep_return = np.zeros(self.N, dtype=np.float64)
        self.ep_length = np.zeros(self.N, dtype=np.int64)
        self.resetting = np.zeros(self.N, dtype=bool)
        if self.reward_scaler is not None:  # new episodes: their discounted returns start at 0 (the spread stays)
            self.reward_scaler.returns[:] = 0.0
        return False


def rollout_bytes(steps_per_env: int, num_envs: int, observation_space: gym.Space, action_space: gym.Space) -> int:
    """Bytes of a :class:`Collector`'s (T, N) buffers for these spaces, and of the flat batch an update
    copies from them (about as much again)."""
    layout = ObsLayout.of(observation_space)  # the vector as float32, images as uint8
    obs = 4 * layout.vector_dim + sum(int(np.prod(part.space.shape or ())) for part in layout.keys().values())
    act = 8 * int(gym.spaces.flatdim(action_space))  # at most int64 / float32 per action entry
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


def _same_shapes(a: Any, b: Any) -> bool:
    """Whether two (possibly Dict / Tuple) batches of observations have the same structure and shapes."""
    if isinstance(b, dict):
        return isinstance(a, dict) and set(a) == set(b) and all(_same_shapes(a[k], b[k]) for k in b)
    if isinstance(b, tuple):
        return isinstance(a, tuple | list) and len(a) == len(b) and all(map(_same_shapes, a, b))
    return isinstance(a, np.ndarray) and a.shape == np.shape(b)


ARS_MASKS = "ars does not use action masks (its policies act by argmax); use ppo, a2c, vpg or reinforce"


def check_takes_masks(ac: Any) -> None:
    """Refuse a network that cannot take the env's action masks (``step(obs, mask=...)``, see :mod:`pgrl.networks`)."""
    params = inspect.signature(ac.step).parameters
    if "mask" not in params and not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        raise PgrlError(
            f"the env gives action masks, but {type(ac).__name__}.step takes no mask; add mask=None to its pi, step "
            "and act (docs/custom-networks.md), or use pgrl's MLPActorCritic"
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
    envs: gym.vector.VectorEnv,
    policy: Callable[[Any], np.ndarray],
    seed: int | list[int] | None = None,
    layout: ObsLayout | None = None,
    max_steps: int = DEFAULT_EPISODE_CAP,
) -> Episodes:
    """Run exactly one episode in every env copy, all copies stepping together.

    ``policy`` maps the batch of raw observations (N, *obs_shape) to the batch of env actions, row i
    for copy i, so each copy may follow its own policy (ARS's perturbations). A copy whose episode
    has ended keeps stepping (a vector env steps all copies) but its rewards and observations no
    longer count; the loop stops when every copy has finished one episode, or after ``max_steps``
    steps (an env without a time limit: the episodes still running are cut there). Used for policies
    without a critic, where no (T, N) rollout is needed.

    Args:
        envs: a vector env (SAME_STEP autoreset, as :func:`pgrl.envs.make_vec_env` makes).
        policy: (N, *obs_shape) numpy -> (N, ...) actions the env takes.
        seed: passed to ``envs.reset``: an int (copy i gets seed + i), one seed per copy, or None to
            continue the envs' random streams.
        layout: the observation space's layout, for observations other than one Box (the statistics take
            their Box columns, :meth:`pgrl.spaces.ObsLayout.box_values`).
        max_steps: the cap on an episode's length.
    """
    obs, info = envs.reset(seed=seed)  # type: ignore[arg-type]  # sync and async vector envs take a list
    if MASK_KEY in info:  # these policies would take masked actions unknowingly
        raise PgrlError(ARS_MASKS)
    N = envs.num_envs
    returns = np.zeros(N, dtype=np.float64)
    lengths = np.zeros(N, dtype=np.int64)
    running = np.ones(N, dtype=bool)
    seen: list[np.ndarray] = []
    box = layout is None or layout.single_box
    while running.any() and len(seen) < max_steps:
        where = "reset()" if not seen else "step()"
        if box:
            check_finite(obs, "observation", where)
            seen.append(np.asarray(obs)[running].reshape(int(running.sum()), -1))
        else:
            assert layout is not None
            for part in layout.float_parts(obs):
                check_finite(part, "observation", where)
            seen.append(layout.box_values(obs)[running])
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
