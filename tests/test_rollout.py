"""The collector: truncation bootstrapping with known values, and no transition across an autoreset.

The env counts: obs = [steps taken in the episode], reward = that count. The actor-critic has the
known value V(obs) = 100 + obs[0], so every stored value and bootstrap can be checked exactly.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn
from torch.distributions import Categorical

from pgrl.advantages import gae
from pgrl.agent import Agent
from pgrl.batch import make_batch
from pgrl.envs import make_vec_env
from pgrl.errors import PgrlError
from pgrl.rollout import Collector

GAMMA, LAM = 0.9, 0.8


class KnownValueAC(nn.Module):
    """Uniform random policy over Discrete(n); V(obs) = 100 + obs[0]."""

    def __init__(self, observation_space: gym.Space, action_space: gym.Space) -> None:
        super().__init__()
        self.n = int(action_space.n)
        self.dummy = nn.Parameter(torch.zeros(1))

    def pi(self, obs: torch.Tensor, act: torch.Tensor | None = None):
        dist = Categorical(logits=torch.zeros(len(obs), self.n))
        return dist, None if act is None else dist.log_prob(act)

    def v(self, obs: torch.Tensor) -> torch.Tensor:
        return 100.0 + obs[:, 0]

    def step(self, obs: torch.Tensor):
        a = torch.randint(0, self.n, (len(obs),))
        return a.numpy(), self.v(obs).numpy(), np.full(len(obs), -np.log(self.n), dtype=np.float32)

    def act(self, obs: torch.Tensor):
        return self.step(obs)[0]


def make_collector(env_fn, num_envs: int, T: int, max_ep_len: int | None = None, vectorization: str = "sync"):
    envs = make_vec_env(env_fn, num_envs, seed=0, vectorization=vectorization, max_ep_len=max_ep_len)
    ac = KnownValueAC(envs.single_observation_space, envs.single_action_space)
    agent = Agent(ac, envs.single_observation_space, envs.single_action_space)
    return Collector(envs, agent, T, seed=0), envs


def V(x):
    return 100.0 + np.asarray(x, dtype=np.float64)


# ------------------------------------------------------------------ truncation bootstrapping


def test_truncation_bootstraps_from_true_final_obs(counting_env):
    # Episodes never terminate on their own; a TimeLimit truncates them after 3 steps.
    torch.manual_seed(0)
    collector, envs = make_collector(lambda: counting_env(episode_len=None), num_envs=2, T=8, max_ep_len=3)
    ro = collector.collect()
    obs = ro.obs[..., 0]
    np.testing.assert_array_equal(obs[:, 0], [0, 1, 2, 0, 1, 2, 0, 1])
    np.testing.assert_allclose(ro.values, V(obs))
    assert not ro.terminated.any()
    np.testing.assert_array_equal(ro.truncated[:, 0], [0, 0, 1, 0, 0, 1, 0, 0])
    # At a truncation the true final obs is [3]: V = 103; not V(reset obs) = 100, not 0.
    np.testing.assert_allclose(ro.next_values[ro.truncated], 103.0)
    # Elsewhere V of the next stored obs; the last row bootstraps from the obs where collection stopped ([2]).
    np.testing.assert_allclose(ro.next_values[:-1][~ro.truncated[:-1]], V(obs[1:][~ro.truncated[:-1]]))
    np.testing.assert_allclose(collector.obs[:, 0], [2.0, 2.0])
    np.testing.assert_allclose(ro.next_values[-1], [102.0, 102.0])
    adv, ret = gae(ro.rewards, ro.values, ro.next_values, ro.terminated, ro.truncated, GAMMA, LAM)
    # at t=2 (truncation): r = 3, V(s) = 102, V(final) = 103; no later step contributes
    np.testing.assert_allclose(adv[2], 3.0 + GAMMA * 103.0 - 102.0, rtol=1e-6)
    np.testing.assert_allclose(ret, adv + ro.values, rtol=1e-6)
    envs.close()


def test_termination_does_not_bootstrap_and_mixed_ends(counting_env):
    # Random episode lengths 2..6 terminate; a TimeLimit of 4 truncates the longer ones.
    torch.manual_seed(0)
    collector, envs = make_collector(lambda: counting_env(random_len=True), num_envs=4, T=40, max_ep_len=4)
    for _ in range(2):  # the second epoch reuses the buffers: nothing stale may survive in them
        check_termination_epoch(collector, collector.collect())
    envs.close()


def check_termination_epoch(collector, ro):
    obs = ro.obs[..., 0].astype(np.float64)
    term, trunc = ro.terminated, ro.truncated
    cut = trunc & ~term
    assert term.sum() > 5 and cut.sum() > 5, "the env should produce both terminations and truncations"
    np.testing.assert_allclose(ro.values, V(obs))
    # truncations: V(true final obs) = V(obs + 1), which is never V(reset obs) = 100 nor 0
    np.testing.assert_allclose(ro.next_values[cut], V(obs[cut] + 1))
    assert (ro.next_values[cut] > 100.0).all()
    # terminations: no future value is used; the advantage is r - V(s) exactly
    np.testing.assert_allclose(ro.next_values[term], 0.0)
    adv, _ = gae(ro.rewards, ro.values, ro.next_values, term, trunc, GAMMA, LAM)
    np.testing.assert_allclose(adv[term], ro.rewards[term] - ro.values[term], rtol=1e-6)
    # GAE with a different next_values at terminal steps gives the same advantages: they are irrelevant there
    nv2 = ro.next_values.copy()
    nv2[term] = 12345.0
    adv2, _ = gae(ro.rewards, ro.values, nv2, term, trunc, GAMMA, LAM)
    np.testing.assert_array_equal(adv2, adv)
    # last row: bootstraps from V(obs where collection stopped) for envs still running
    running = ~(term[-1] | trunc[-1])
    np.testing.assert_allclose(ro.next_values[-1][running], V(collector.obs[running, 0]))
    np.testing.assert_allclose(collector.obs[running, 0], obs[-1][running] + 1)


def test_rollout_shapes_and_dtypes(counting_env):
    collector, envs = make_collector(lambda: counting_env(episode_len=3), num_envs=3, T=5)
    ro = collector.collect()
    assert ro.obs.shape == (5, 3, 1) and ro.obs.dtype == np.float32
    assert ro.actions.shape == (5, 3) and ro.actions.dtype == np.int64
    for name in ("logp", "values", "next_values", "rewards"):
        assert getattr(ro, name).shape == (5, 3)
    assert ro.terminated.dtype == bool and ro.truncated.dtype == bool
    assert ro.num_steps == 15
    batch = make_batch(ro, ro.rewards, ro.values)  # the flat (T * N,) batch the updates learn from
    assert batch.obs.shape == (15, 1) and len(batch) == 15
    np.testing.assert_array_equal(batch.obs.numpy()[3:6], ro.obs[1])  # time-major: row t holds the N envs
    np.testing.assert_array_equal(batch.act.numpy()[3:6], ro.actions[1])
    envs.close()


# ------------------------------------------------------------------ autoreset


def slow_advantages(ro, gamma, lam):
    """Per env, per step: sum of (gamma*lam)^k delta over the rest of the episode inside the segment."""
    T, N = ro.rewards.shape
    adv = np.zeros((T, N))
    for i in range(N):
        for t in range(T):
            total = 0.0
            for k in range(t, T):
                nv = 0.0 if ro.terminated[k, i] else float(ro.next_values[k, i])
                total += (gamma * lam) ** (k - t) * (float(ro.rewards[k, i]) + gamma * nv - float(ro.values[k, i]))
                if ro.terminated[k, i] or ro.truncated[k, i]:
                    break
            adv[t, i] = total
    return adv


@pytest.mark.parametrize("vectorization", ["sync", "async", "split"])
def test_no_transition_crosses_an_autoreset(counting_env, vectorization):
    torch.manual_seed(1)
    N, T = 3, 30 if vectorization == "sync" else 12
    collector, envs = make_collector(
        lambda: counting_env(random_len=True), num_envs=N, T=T, max_ep_len=5, vectorization=vectorization
    )
    ro = collector.collect()
    obs = ro.obs[..., 0]
    done = ro.terminated | ro.truncated
    assert done.sum() >= N
    for i in range(N):
        assert obs[0, i] == 0  # the first reset
        for t in range(T - 1):
            if done[t, i]:
                assert obs[t + 1, i] == 0, f"env {i}: after a done at t={t} the next stored obs must be the reset obs"
            else:
                assert obs[t + 1, i] == obs[t, i] + 1, f"env {i}: transition {t}->{t + 1} is not a real step"
    # the reward of every stored step is the real one (SAME_STEP: no zero-reward reset step is stored)
    np.testing.assert_array_equal(ro.rewards, obs + 1)

    adv, _ = gae(ro.rewards, ro.values, ro.next_values, ro.terminated, ro.truncated, GAMMA, LAM)
    np.testing.assert_allclose(adv, slow_advantages(ro, GAMMA, LAM), rtol=1e-5, atol=1e-4)
    # no advantage at or before a done step depends on rewards after it
    for t, i in zip(*np.nonzero(done[:-1]), strict=True):
        r2 = ro.rewards.copy()
        r2[t + 1 :, i] += 1000.0
        adv2, _ = gae(r2, ro.values, ro.next_values, ro.terminated, ro.truncated, GAMMA, LAM)
        np.testing.assert_array_equal(adv2[: t + 1, i], adv[: t + 1, i])
    envs.close()


def test_episode_returns_and_lengths_across_epochs(counting_env):
    torch.manual_seed(2)
    N, T = 3, 11
    collector, envs = make_collector(lambda: counting_env(random_len=True), num_envs=N, T=T)
    running_ret = np.zeros(N)
    running_len = np.zeros(N, dtype=int)
    prev_last_obs = None
    prev_last_done = None
    total_episodes = 0
    for _ in range(3):
        ro = collector.collect()
        obs = ro.obs[..., 0]
        done = ro.terminated | ro.truncated
        if prev_last_obs is not None:  # the next epoch continues where the last one stopped
            np.testing.assert_array_equal(obs[0], np.where(prev_last_done, 0, prev_last_obs + 1))
        exp_returns, exp_lengths = [], []
        for t in range(T):
            for i in range(N):
                running_ret[i] += ro.rewards[t, i]
                running_len[i] += 1
                if done[t, i]:
                    exp_returns.append(running_ret[i])
                    exp_lengths.append(int(running_len[i]))
                    # obs is the step index within the episode, so the length is obs + 1
                    assert running_len[i] == obs[t, i] + 1
                    running_ret[i], running_len[i] = 0.0, 0
        assert ro.episode_returns == pytest.approx(exp_returns)
        assert ro.episode_lengths == exp_lengths
        for ret, length in zip(ro.episode_returns, ro.episode_lengths, strict=True):
            assert ret == length * (length + 1) / 2  # rewards 1 + 2 + ... + L
        total_episodes += len(exp_returns)
        prev_last_obs, prev_last_done = obs[-1].copy(), done[-1].copy()
    assert total_episodes >= 6
    envs.close()


def test_make_vec_env_refuses_bad_input(counting_env):
    with pytest.raises(PgrlError, match="num_envs"):
        make_vec_env(lambda: counting_env(), 0)
    with pytest.raises(PgrlError, match="vectorization"):
        make_vec_env(lambda: counting_env(), 1, vectorization="threads")  # type: ignore[arg-type]
    with pytest.raises(PgrlError, match="CartPole-v1"):
        make_vec_env("CartPol-v1", 1)
