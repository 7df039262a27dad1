"""Augmented Random Search, ARS V2-t (Mania, Guy and Recht 2018): derivative-free search over policies.

Pseudocode, as the loop below runs it:

    theta: the policy's parameters (a linear map of the normalised observation by default)
    for epoch in 1..epochs:
        draw n_directions directions delta_i ~ N(0, I)
        run one episode with each of the 2 * n_directions policies theta +/- noise_std * delta_i,
            all at once, in 2 * n_directions env copies         # r+_i, r-_i: their returns
        (less reward_shift per step of each episode: the paper's shift, 0 by default)
        keep the top_b directions by max(r+_i, r-_i)
        theta += step_size / (top_b * sigma_R) * sum_kept (r+_i - r-_i) delta_i
            with sigma_R the standard deviation of the 2 * top_b kept returns
        fold the observations of the epoch into the running mean / std           # V2
    policies act deterministically, on (s - mean) / std: the argmax of the outputs for discrete
    actions, the output clipped to the bounds for continuous ones

The policy is the actor of an :class:`pgrl.networks.MLPActorCritic` (hidden_sizes=() by default:
linear, with a bias; any hidden_sizes for a small MLP), so the saved run loads with :func:`pgrl.load`
and evaluates like the other algorithms' (the critic and the Gaussian log-std are carried along unused).
An antithetic pair starts from the same initial state (common random numbers), so r+_i - r-_i measures
the direction, not the luck of the start.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Unpack

import numpy as np
import torch
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from pgrl import distributed
from pgrl.agent import Agent
from pgrl.algos.signature import algorithm
from pgrl.config import Config, finite, hyperparameter, positive, positive_int
from pgrl.envs import EnvSpec
from pgrl.errors import PgrlError
from pgrl.nan_guard import a_non_finite_value
from pgrl.networks import batched_forward, mode_net
from pgrl.options import RunOptions
from pgrl.rollout import ARS_MASKS
from pgrl.training import Run, Trained


@dataclass(frozen=True)
class ARSConfig(Config):
    """ARS V2-t's hyperparameters, with a linear policy (Mania et al. 2018)."""

    algo: ClassVar[str] = "ars"
    per_copy_seeds: ClassVar[bool] = True  # an antithetic pair starts from the same seed

    n_directions: int = hyperparameter(8, "N, directions per iteration (2N episodes in 2N env copies)", positive_int)
    top_b: int = hyperparameter(4, "b <= N, the best directions kept for the update", positive_int)
    step_size: float = hyperparameter(0.02, "alpha, the step size", positive)
    noise_std: float = hyperparameter(0.03, "nu, the scale of the perturbations", positive)
    # The paper's "shift": MuJoCo's locomotion envs pay a bonus for every step alive, so a policy that stands
    # still out-ranks one that tries to move and falls; the search ranks the returns with it taken off
    # (Mania et al. 2018: 1 for Hopper, Walker2d and Ant, 5 for Humanoid).
    reward_shift: float = hyperparameter(
        0.0, "subtracted from every reward of the returns the search ranks (the logged returns stay the env's)",
        finite,
    )  # fmt: skip
    epochs: int = 100
    norm_obs: bool = True
    hidden_sizes: tuple[int, ...] = ()
    num_envs: int = field(default=0, init=False)  # one env copy per perturbed policy: 2 * n_directions

    def __post_init__(self) -> None:
        object.__setattr__(self, "num_envs", 2 * self.n_directions if isinstance(self.n_directions, int) else 0)
        super().__post_init__()

    def check(self) -> None:
        super().check()
        if self.top_b > self.n_directions:
            raise PgrlError(
                f"top_b {self.top_b} is larger than n_directions {self.n_directions}; keep top_b <= n_directions"
            )

    def budget(self) -> str:
        return f"{self.epochs} iterations of {self.num_envs} episodes"

    def envs_per_process(self, processes: int, rank: int) -> int:
        """Data-parallel, process r runs the pairs of directions r, r + W, r + 2W, ... (W processes)."""
        if self.n_directions < processes:
            raise PgrlError(f"n_directions={self.n_directions} is fewer than the {processes} processes; give each one")
        return 2 * len(range(rank, self.n_directions, processes))


def ars_step(
    theta: torch.Tensor,
    deltas: torch.Tensor,
    returns_pos: torch.Tensor,
    returns_neg: torch.Tensor,
    step_size: float,
    top_b: int,
) -> tuple[torch.Tensor, dict[str, float]]:
    """One ARS update (Mania et al. 2018, Algorithm 2, line 7).

        keep the top_b directions by max(r+_i, r-_i)
        theta' = theta + step_size / (top_b * sigma_R) * sum_kept (r+_i - r-_i) delta_i

    Args:
        theta: (D,) current parameters.
        deltas: (N, D) the directions, drawn from N(0, I) (the perturbations were theta +/- nu * delta_i).
        returns_pos, returns_neg: (N,) returns of theta + nu * delta_i and theta - nu * delta_i.
        step_size: alpha.
        top_b: b <= N, the number of best directions kept.

    Returns:
        (theta', info): the new parameters (D,), and ``info`` with ``sigma_R`` (the standard deviation
        of the 2b kept returns; when it is 0, so are all the differences, and theta is unchanged) and
        ``step_norm`` (the norm of theta' - theta).
    """
    best = torch.topk(torch.maximum(returns_pos, returns_neg), top_b).indices
    r_pos, r_neg = returns_pos[best], returns_neg[best]
    sigma_r = torch.cat([r_pos, r_neg]).std(unbiased=False)
    scale = step_size / (top_b * (sigma_r if sigma_r > 0 else torch.ones_like(sigma_r)))
    step = (scale * (r_pos - r_neg)).to(deltas.dtype) @ deltas[best]
    return theta + step, {"sigma_R": float(sigma_r), "step_norm": float(step.norm())}


@algorithm(ARSConfig)
def ars(
    env_fn: EnvSpec | None = None,
    ac_kwargs: dict[str, Any] | None = None,
    seed: int = 0,
    epochs: int | None = None,
    n_directions: int | None = None,
    top_b: int | None = None,
    step_size: float | None = None,
    noise_std: float | None = None,
    max_ep_len: int | None = None,
    logger_kwargs: dict[str, Any] | None = None,
    save_freq: int | None = None,
    *,
    norm_obs: bool | None = None,
    obs_clip: float | None = None,
    reward_shift: float | None = None,
    **options: Unpack[RunOptions],
) -> Trained:
    """Train a deterministic policy with Augmented Random Search (V2-t: observation normalisation, top-b).

    Hyperparameters left as ``None`` come from the env's preset or the defaults (``pgrl algos``). The
    env needs a time limit: every iteration runs one complete episode per perturbed policy. An update
    whose parameters are not finite stops training (``nan_policy="skip"``: is skipped).

    Args:
        env_fn: a function returning a gymnasium env, or an env id.
        ac_kwargs: ``hidden_sizes`` (default ``()``: a linear policy) and ``activation`` of the policy.
        seed, logger_kwargs: as for :func:`pgrl.ppo` (the seed also draws the directions).

    Returns:
        (agent, history): the trained agent and one dict per iteration (the logged row: the episode
        columns describe the 2N perturbed policies' episodes; SigmaR, StepNorm, ParamNorm the update).
    """
    run, cfg = Run.start(ARSConfig, locals())
    agent = run.agent
    check_ars_spaces(agent)
    actor = agent.ac.pi
    net = mode_net(actor)  # the layers that map an observation to the deterministic action (actor.mode_of)
    theta = parameters_to_vector(net.parameters()).detach()
    N, nu, world = cfg.n_directions, cfg.noise_std, distributed.world_size()
    mine = torch.arange(distributed.rank(), N, world)  # data-parallel: the directions this process runs

    def perturbed_policies(params: torch.Tensor) -> Callable[[np.ndarray], np.ndarray]:
        """Env actions for a batch of raw observations, row i acting with the parameters params[i]."""

        def act(obs: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                out = batched_forward(net, params, agent.obs_tensor(obs))  # normalised with frozen statistics
            return agent.to_env_action(actor.mode_of(out).numpy())

        return act

    for _ in run.epochs():
        deltas = torch.randn(N, theta.numel())
        starts = np.random.randint(2**31, size=N).tolist()  # seeded by the run (and restored on resume)
        if world > 1:  # every process uses rank 0's directions and start states, and runs its share
            deltas = distributed.broadcast_tensor(deltas)
            starts = distributed.broadcast_tensor(torch.tensor(starts, dtype=torch.int64)).tolist()
            starts = [starts[i] for i in mine.tolist()]
        candidates = torch.cat([theta + nu * deltas[mine], theta - nu * deltas[mine]])  # (2N, D) in one process
        rms_before = distributed.running_stats_snapshot(agent.obs_rms)
        episodes = run.run_episodes(perturbed_policies(candidates), seed=starts + starts)
        ranked = torch.from_numpy(episodes.returns - cfg.reward_shift * episodes.lengths)  # the paper's shift
        returns = all_returns(ranked.float(), mine, N)
        new_theta, info = ars_step(theta, deltas, returns[:N], returns[N:], cfg.step_size, cfg.top_b)
        if bool(torch.isfinite(new_theta).all()):
            theta = new_theta
            vector_to_parameters(theta, net.parameters())
        else:  # stop (raises), or skip this update
            run.nan_guard.fail("parameters", a_non_finite_value(new_theta))
        fold_observations(agent, episodes.observations, rms_before)  # V2, used from the next iteration

        run.record_episodes(episodes.returns.tolist(), episodes.lengths.tolist(), episodes.num_steps)
        run.log({"SigmaR": info["sigma_R"], "StepNorm": info["step_norm"], "ParamNorm": float(theta.norm())})
    return run.finish()


def fold_observations(agent: Agent, observations: np.ndarray, rms_before: Any) -> None:
    """V2: the states the iteration visited into the observation statistics (every process's, data-parallel)."""
    if agent.obs_rms is not None:
        agent.obs_rms.update(observations)
        if rms_before is not None:
            distributed.sync_running_stats(agent.obs_rms, rms_before)


def check_ars_spaces(agent: Agent) -> None:
    """ARS searches over the MLP that maps the flat observation to an action: refuse what it cannot train
    (an image's CNN, which the search does not reach) or act on (action masks)."""
    if agent.layout.images:
        raise PgrlError(
            "ars takes observations without images (its linear search does not train a CNN); use ppo, a2c, vpg "
            "or reinforce for image observations"
        )
    if agent.layout.mask_in_obs:
        raise PgrlError(ARS_MASKS)


def all_returns(returns: torch.Tensor, mine: torch.Tensor, n_directions: int) -> torch.Tensor:
    """The returns of all 2N policies (+ directions first, then -), in direction order, on every process;
    ``returns`` holds this process's: its directions ``mine`` with +, then with -."""
    world = distributed.world_size()
    if world == 1:
        return returns
    k = len(mine)
    pairs = distributed.gather_rows(torch.stack([returns[:k], returns[k:]], dim=1))  # in rank order
    full = torch.empty(n_directions, 2)
    full[torch.cat([torch.arange(r, n_directions, world) for r in range(world)])] = pairs
    return torch.cat([full[:, 0], full[:, 1]])
