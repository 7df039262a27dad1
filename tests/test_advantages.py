"""discount_cumsum and GAE against slow, obvious loops (hypothesis over shapes, terminations, truncations)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from pgrl.advantages import discount_cumsum, gae

finite = st.floats(min_value=-10.0, max_value=10.0, allow_nan=False, allow_infinity=False)
unit = st.floats(min_value=0.0, max_value=1.0)


# ---------------------------------------------------------------- slow references


def slow_discount_cumsum(x: list[float], discount: float) -> list[float]:
    """out[t] = sum_k discount**k * x[t+k], as a double loop."""
    return [sum(discount ** (k - t) * x[k] for k in range(t, len(x))) for t in range(len(x))]


def slow_gae(rewards, values, next_values, terminated, truncated, gamma, lam):
    """GAE by its definition, per env and per step, with a forward sum (not the backward recursion):

    A_t = sum_{l >= 0} (gamma * lam)**l * delta_{t+l}, summing until (and including) the first step
    at or after t where the episode ends, or the last row of the segment.
    """
    T, N = rewards.shape
    adv = np.zeros((T, N), dtype=np.float64)
    for i in range(N):
        for t in range(T):
            total = 0.0
            for k in range(t, T):
                bootstrap = 0.0 if terminated[k, i] else gamma * next_values[k, i]
                delta = rewards[k, i] + bootstrap - values[k, i]
                total += (gamma * lam) ** (k - t) * delta
                if terminated[k, i] or truncated[k, i]:
                    break
            adv[t, i] = total
    return adv, adv + values


@st.composite
def segments(draw, max_t: int = 8, max_n: int = 4):
    """A (T, N) batch: rewards, values, next_values, terminated, truncated, gamma, lam."""
    T = draw(st.integers(1, max_t))
    N = draw(st.integers(1, max_n))
    shape = (T, N)
    floats = arrays(np.float64, shape, elements=finite)
    bools = arrays(np.bool_, shape)
    return (
        draw(floats),
        draw(floats),
        draw(floats),
        draw(bools),
        draw(bools),
        draw(unit),
        draw(unit),
    )


# ---------------------------------------------------------------- discount_cumsum


def test_discount_cumsum_reference_value():
    out = discount_cumsum(np.array([1.0, 2.0, 3.0, 4.0]), 0.99)
    np.testing.assert_allclose(out, [9.801496, 8.8904, 6.96, 4.0], rtol=1e-6)


def test_discount_cumsum_integer_input_is_not_truncated():
    # Integer rewards must give the real discounted sum, not one rounded down at every step.
    out = discount_cumsum(np.array([1, 2, 3, 4]), 0.99)
    np.testing.assert_allclose(out, [9.801496, 8.8904, 6.96, 4.0], rtol=1e-6)
    out_t = discount_cumsum(torch.tensor([1, 2, 3, 4]), 0.99)
    np.testing.assert_allclose(out_t.numpy(), [9.801496, 8.8904, 6.96, 4.0], rtol=1e-6)


@given(x=st.lists(finite, min_size=1, max_size=20), discount=unit)
def test_discount_cumsum_matches_double_loop_numpy_and_torch(x, discount):
    expected = slow_discount_cumsum(x, discount)
    out_np = discount_cumsum(np.array(x, dtype=np.float64), discount)
    assert isinstance(out_np, np.ndarray)
    assert out_np.dtype == np.float64
    np.testing.assert_allclose(out_np, expected, rtol=1e-9, atol=1e-9)
    out_t = discount_cumsum(torch.tensor(x, dtype=torch.float64), discount)
    assert isinstance(out_t, torch.Tensor)
    assert out_t.dtype == torch.float64
    np.testing.assert_allclose(out_t.numpy(), expected, rtol=1e-9, atol=1e-9)


def test_discount_cumsum_keeps_kind_and_dtype_and_does_not_modify_input():
    x = np.array([1.0, 2.0, 3.0], dtype=np.float32)
    out = discount_cumsum(x, 0.5)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    np.testing.assert_array_equal(x, [1.0, 2.0, 3.0])
    xt = torch.tensor([1.0, 2.0, 3.0])
    out_t = discount_cumsum(xt, 0.5)
    assert isinstance(out_t, torch.Tensor) and out_t.dtype == torch.float32
    assert xt.tolist() == [1.0, 2.0, 3.0]
    np.testing.assert_allclose(out_t.numpy(), [2.75, 3.5, 3.0])


def test_discount_cumsum_rejects_2d():
    with pytest.raises(ValueError):
        discount_cumsum(np.zeros((2, 3)), 0.9)


# ---------------------------------------------------------------- gae


@given(segments())
def test_gae_matches_slow_loop_numpy(seg):
    r, v, nv, term, trunc, gamma, lam = seg
    adv, ret = gae(r, v, nv, term, trunc, gamma, lam)
    exp_adv, exp_ret = slow_gae(r, v, nv, term, trunc, gamma, lam)
    assert isinstance(adv, np.ndarray) and isinstance(ret, np.ndarray)
    assert adv.shape == r.shape and ret.shape == r.shape
    np.testing.assert_allclose(adv, exp_adv, rtol=1e-9, atol=1e-8)
    np.testing.assert_allclose(ret, exp_ret, rtol=1e-9, atol=1e-8)


@given(segments())
def test_gae_matches_slow_loop_torch(seg):
    r, v, nv, term, trunc, gamma, lam = seg
    tt = torch.from_numpy
    adv, ret = gae(tt(r), tt(v), tt(nv), tt(term), tt(trunc), gamma, lam)
    exp_adv, exp_ret = slow_gae(r, v, nv, term, trunc, gamma, lam)
    assert isinstance(adv, torch.Tensor) and isinstance(ret, torch.Tensor)
    assert adv.dtype == torch.float64
    np.testing.assert_allclose(adv.numpy(), exp_adv, rtol=1e-9, atol=1e-8)
    np.testing.assert_allclose(ret.numpy(), exp_ret, rtol=1e-9, atol=1e-8)


def test_gae_float32_and_01_flags():
    r = np.array([[1.0], [1.0], [1.0]], dtype=np.float32)
    v = np.zeros_like(r)
    nv = np.full_like(r, 10.0)
    term = np.array([[0], [1], [0]])  # 0/1 ints are accepted as flags
    trunc = np.zeros((3, 1), dtype=bool)
    adv, ret = gae(r, v, nv, term, trunc, 0.5, 1.0)
    assert adv.dtype == np.float32
    # row 2: 1 + 0.5*10 = 6 (last row bootstraps); row 1 terminates: 1; row 0: 1 + 0.5*10 + 0.5*(1 - 10) ... by definition:
    # delta0 = 1 + 5 - 0 = 6, A0 = 6 + 0.5 * A1 = 6.5
    np.testing.assert_allclose(adv[:, 0], [6.5, 1.0, 6.0])
    np.testing.assert_allclose(ret, adv + v)


@given(segments())
def test_gae_lambda_zero_is_one_step_td_error(seg):
    r, v, nv, term, trunc, gamma, _ = seg
    adv, _ = gae(r, v, nv, term, trunc, gamma, 0.0)
    delta = r + gamma * (1.0 - term) * nv - v
    np.testing.assert_allclose(adv, delta, rtol=1e-9, atol=1e-9)


@given(segments())
def test_gae_lambda_one_gamma_one_no_bootstrap_is_reward_to_go_within_episode(seg):
    r, _, _, term, trunc, _, _ = seg
    zeros = np.zeros_like(r)
    adv, ret = gae(r, zeros, zeros, term, trunc, 1.0, 1.0)
    T, N = r.shape
    for i in range(N):
        for t in range(T):
            end = t
            while end < T - 1 and not (term[end, i] or trunc[end, i]):
                end += 1
            assert adv[t, i] == pytest.approx(r[t : end + 1, i].sum(), abs=1e-9)
    np.testing.assert_allclose(ret, adv)


@given(seg=segments(), j=st.integers(0, 3), data=st.data())
def test_gae_columns_are_independent(seg, j, data):
    r, v, nv, term, trunc, gamma, lam = seg
    N = r.shape[1]
    j = j % N
    adv, ret = gae(r, v, nv, term, trunc, gamma, lam)
    col = st.lists(finite, min_size=r.shape[0], max_size=r.shape[0])
    flags = st.lists(st.booleans(), min_size=r.shape[0], max_size=r.shape[0])
    r2, v2, nv2, term2, trunc2 = r.copy(), v.copy(), nv.copy(), term.copy(), trunc.copy()
    r2[:, j] = data.draw(col)
    v2[:, j] = data.draw(col)
    nv2[:, j] = data.draw(col)
    term2[:, j] = data.draw(flags)
    trunc2[:, j] = data.draw(flags)
    adv2, ret2 = gae(r2, v2, nv2, term2, trunc2, gamma, lam)
    others = [i for i in range(N) if i != j]
    np.testing.assert_array_equal(adv2[:, others], adv[:, others])
    np.testing.assert_array_equal(ret2[:, others], ret[:, others])


def test_gae_nothing_carries_past_an_episode_end_or_the_last_row():
    # One env, 4 steps; the episode is truncated at t=1. Huge rewards after t=1 must not leak into t<=1.
    r = np.array([[1.0], [1.0], [1000.0], [1000.0]])
    v = np.zeros_like(r)
    nv = np.array([[0.0], [2.0], [0.0], [3.0]])
    term = np.zeros_like(r, dtype=bool)
    trunc = np.array([[False], [True], [False], [False]])
    adv, _ = gae(r, v, nv, term, trunc, 0.9, 0.8)
    # t=1: truncation bootstraps from next_values (V of the true final obs): 1 + 0.9 * 2
    assert adv[1, 0] == pytest.approx(1.0 + 0.9 * 2.0)
    # t=0: delta0 = 1 + 0.9 * 0 - 0 = 1; A0 = 1 + 0.72 * A1
    assert adv[0, 0] == pytest.approx(1.0 + 0.72 * (1.0 + 1.8))
    # last row: bootstraps from next_values, nothing beyond
    assert adv[3, 0] == pytest.approx(1000.0 + 0.9 * 3.0)
    # a termination cuts the bootstrap: next_values is ignored there
    term[1, 0] = True
    adv_t, _ = gae(r, v, nv, term, trunc, 0.9, 0.8)
    assert adv_t[1, 0] == pytest.approx(1.0)
