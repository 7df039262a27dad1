"""Reward scaling by the running std of the discounted return, and PPO's clipped value loss, against slow
obvious computations."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from pgrl.losses import clipped_value_loss
from pgrl.normalize import RewardScaler

PRIOR_COUNT = 1e-4  # RunningMeanStd's prior: mean 0, variance 1, this count


def slow_scaled(rewards: np.ndarray, dones: np.ndarray, gamma: float, clip: float) -> tuple[np.ndarray, float]:
    """Step by step, env by env: the discounted return of each episode so far, every one of them seen so far
    (with the prior), and each reward over the std of all of them; (scaled (T, N), final variance)."""
    T, N = rewards.shape
    g = [0.0] * N
    seen: list[float] = []
    out = np.zeros((T, N))
    for t in range(T):
        for i in range(N):
            g[i] = gamma * g[i] + float(rewards[t, i])
        seen.extend(g)
        n = PRIOR_COUNT + len(seen)
        mean = sum(seen) / n  # the prior's mean is 0
        var = (PRIOR_COUNT * (1.0 + mean**2) + sum((x - mean) ** 2 for x in seen)) / n
        for i in range(N):
            out[t, i] = min(max(rewards[t, i] / np.sqrt(var + 1e-8), -clip), clip)
            if dones[t, i]:
                g[i] = 0.0
    return out, var


@given(
    rewards=arrays(np.float64, st.tuples(st.integers(1, 12), st.integers(1, 4)), elements=st.floats(-50, 50)),
    data=st.data(),
    gamma=st.floats(0.0, 1.0),
)
def test_reward_scaler_matches_a_slow_loop_over_episodes_with_resets(rewards, data, gamma) -> None:
    dones = data.draw(arrays(np.bool_, rewards.shape))
    scaler = RewardScaler(rewards.shape[1], gamma, clip=5.0)
    fast = np.stack([scaler(rewards[t], dones[t]) for t in range(len(rewards))])
    slow, var = slow_scaled(rewards, dones, gamma, clip=5.0)
    np.testing.assert_allclose(fast, slow, rtol=1e-4, atol=1e-5)
    assert fast.dtype == np.float32 and np.abs(fast).max() <= 5.0
    np.testing.assert_allclose(scaler.rms.var, var, rtol=1e-7, atol=1e-9)


def test_reward_scaler_state_round_trips() -> None:
    rng = np.random.default_rng(0)
    a = RewardScaler(3, 0.99)
    for _ in range(20):
        a(rng.normal(size=3), rng.random(3) < 0.2)
    b = RewardScaler(3, 0.99)
    b.load_state_dict(a.state_dict())
    r, d = rng.normal(size=3), np.array([False, True, False])
    np.testing.assert_array_equal(a(r, d), b(r, d))
    np.testing.assert_array_equal(a.returns, b.returns)


@given(
    values=arrays(np.float32, st.integers(1, 20), elements=st.floats(-10, 10, width=32)),
    data=st.data(),
    clip=st.floats(0.01, 5.0),
)
def test_clipped_value_loss_matches_an_elementwise_loop(values, data, clip) -> None:
    n = len(values)
    old = data.draw(arrays(np.float32, n, elements=st.floats(-10, 10, width=32)))
    targets = data.draw(arrays(np.float32, n, elements=st.floats(-10, 10, width=32)))
    slow = np.mean(
        [
            max((v - r) ** 2, (o + min(max(v - o, -clip), clip) - r) ** 2)
            for v, o, r in zip(
                values.astype(np.float64), old.astype(np.float64), targets.astype(np.float64), strict=True
            )
        ]
    )
    fast = clipped_value_loss(torch.from_numpy(values), torch.from_numpy(old), torch.from_numpy(targets), clip)
    assert float(fast) == np.float32(slow) or abs(float(fast) - slow) <= 1e-4 * max(1.0, slow)


def test_clipped_value_loss_stops_the_gradient_beyond_the_clip() -> None:
    v = torch.tensor([2.0], requires_grad=True)  # moved from 0 towards the target 3 by more than the clip
    clipped_value_loss(v, torch.tensor([0.0]), torch.tensor([3.0]), clip=0.5).backward()
    assert v.grad is not None and float(v.grad) == 0.0  # the clipped term is the larger: no further pull
    w = torch.tensor([2.0], requires_grad=True)  # moved away from the target -1: still pulled back
    clipped_value_loss(w, torch.tensor([0.0]), torch.tensor([-1.0]), clip=0.5).backward()
    assert w.grad is not None and float(w.grad) == 6.0  # d/dw (w + 1)^2 at w = 2
