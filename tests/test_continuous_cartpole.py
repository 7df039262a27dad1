"""pgrl/ContinuousCartPole-v0: gymnasium's checker, seeding, CartPole physics, thresholds, time limit, rendering."""

from __future__ import annotations

import math
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.envs.classic_control.cartpole import CartPoleEnv
from gymnasium.utils.env_checker import check_env

import pgrl  # importing pgrl registers the env
from pgrl.envs.continuous_cartpole import ENV_ID, ContinuousCartPoleEnv


def test_registered_with_a_500_step_time_limit():
    spec = gym.spec(ENV_ID)
    assert spec.max_episode_steps == 500
    env = gym.make(ENV_ID)
    assert env.action_space == gym.spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
    assert env.observation_space.shape == (4,)


def test_passes_gymnasium_env_checker():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the infinite velocity bounds draw warnings, as for CartPole-v1
        check_env(ContinuousCartPoleEnv(render_mode="rgb_array"))
        check_env(gym.make(ENV_ID, render_mode="rgb_array").unwrapped)


def _trajectory(seed: int) -> list[tuple[np.ndarray, float, bool]]:
    env = gym.make(ENV_ID)
    obs, _ = env.reset(seed=seed)
    out = [(obs, 0.0, False)]
    actions = np.random.default_rng(0).uniform(-1, 1, size=(60, 1)).astype(np.float32)
    for a in actions:
        obs, r, term, trunc, _ = env.step(a)
        out.append((obs, float(r), term))
        if term or trunc:
            obs, _ = env.reset()
    return out


def test_deterministic_under_reset_seed():
    a, b, c = _trajectory(3), _trajectory(3), _trajectory(4)
    assert all(np.array_equal(x[0], y[0]) and x[1:] == y[1:] for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0][0], c[0][0])
    assert np.all(np.abs(a[0][0]) <= 0.05)  # start state uniform in [-0.05, 0.05]^4


@pytest.mark.parametrize(("a", "force"), [(1.0, 10.0), (-1.0, -10.0), (0.5, 5.0), (-0.25, -2.5), (3.0, 10.0)])
def test_physics_are_cartpoles_with_force_10a(a, force):
    """force = 10 * clip(a, -1, 1), through gymnasium's CartPole equations of motion (euler, dt 0.02)."""
    ours, ref = ContinuousCartPoleEnv(), CartPoleEnv()
    ours.reset(seed=0)
    ref.reset(seed=0)
    ref.force_mag = abs(force)
    ref.theta_threshold_radians = math.inf  # compare the dynamics, not CartPole-v1's 12 degree limit
    for _ in range(20):
        obs, _, term, _, _ = ours.step(np.array([a], dtype=np.float32))
        ref_obs, *_ = ref.step(1 if force > 0 else 0)
        assert np.allclose(obs, ref_obs, atol=1e-6)
        if term:
            break


def _step_from(state: tuple[float, float, float, float], a: float = 0.0) -> tuple[float, bool]:
    env = ContinuousCartPoleEnv()
    env.reset(seed=0)
    env.state = np.array(state, dtype=np.float64)
    _, r, term, trunc, _ = env.step(np.array([a], dtype=np.float32))
    assert not trunc
    return float(r), term


def test_failure_thresholds_and_zero_reward_on_the_failing_step():
    deg = math.pi / 180
    assert _step_from((0.0, 0.0, 0.0, 0.0)) == (1.0, False)
    assert _step_from((2.39, 1.0, 0.0, 0.0)) == (0.0, True)  # x crosses 2.4
    assert _step_from((-2.39, -1.0, 0.0, 0.0)) == (0.0, True)
    assert _step_from((0.0, 0.0, 19.9 * deg, 1.0)) == (0.0, True)  # theta crosses 20 degrees
    assert _step_from((0.0, 0.0, -19.9 * deg, -1.0)) == (0.0, True)
    assert _step_from((0.0, 0.0, 15 * deg, 0.0)) == (1.0, False)  # past CartPole-v1's 12 degrees: still up
    assert _step_from((2.3, 0.0, 0.0, 0.0)) == (1.0, False)


def test_truncates_at_500_steps():
    env = gym.make(ENV_ID)
    env.reset(seed=0)
    # Remove the failure thresholds so that only the time limit ends the episode.
    env.unwrapped.x_threshold = math.inf  # type: ignore[attr-defined]
    env.unwrapped.theta_threshold_radians = math.inf  # type: ignore[attr-defined]
    for t in range(1, 501):
        _, r, term, trunc, _ = env.step(np.zeros(1, dtype=np.float32))
        assert r == 1.0 and not term
        assert trunc == (t == 500)


def test_renders_rgb_array_frames():
    env = gym.make(ENV_ID, render_mode="rgb_array")
    env.reset(seed=0)
    first = env.render()
    env.step(np.ones(1, dtype=np.float32))
    for _ in range(10):
        env.step(np.ones(1, dtype=np.float32))
    frame = env.render()
    env.close()
    assert isinstance(frame, np.ndarray) and frame.shape == (400, 600, 3) and frame.dtype == np.uint8
    assert not np.array_equal(first, frame)  # the cart moved


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ppo_solves_continuous_cartpole_within_51k_steps(seed, tmp_path):
    """Budget: ppo's pgrl/ContinuousCartPole-v0 preset, stopped at the first pass (measured: 8k-33k on seeds 100-119);
    deterministic evaluation (20 episodes, pgrl.evaluate) every 2048 steps, stopping at the first >= 475."""
    agent, history = pgrl.ppo(
        ENV_ID,
        seed=seed,
        verbose=False,
        eval_every=2048,
        callback=lambda epoch, row, agent: not row["EvalAverageEpRet"] >= 475.0,
        logger_kwargs={"output_dir": str(tmp_path)},
    )
    assert history[-1]["TotalEnvInteracts"] <= 51_200
    returns, _ = pgrl.evaluate(agent, ENV_ID, 20, seed=seed)
    assert returns.mean() >= 475.0
