"""PPO clip loss, value loss and the vanilla policy-gradient loss against per-sample loops."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st

from pgrl.losses import policy_gradient_loss, ppo_clip_loss, value_loss

logps = st.floats(min_value=-5.0, max_value=0.0, allow_nan=False)
advs = st.floats(min_value=-10.0, max_value=10.0, allow_nan=False)
clip_ratios = st.floats(min_value=0.05, max_value=0.5)


@st.composite
def ppo_batch(draw):
    n = draw(st.integers(1, 16))
    logp = draw(st.lists(logps, min_size=n, max_size=n))
    logp_old = draw(st.lists(logps, min_size=n, max_size=n))
    adv = draw(st.lists(advs, min_size=n, max_size=n))
    return logp, logp_old, adv, draw(clip_ratios)


def slow_ppo(logp, logp_old, adv, eps):
    terms, kls, clipped = [], [], 0
    for lp, lpo, a in zip(logp, logp_old, adv, strict=True):
        r = math.exp(lp - lpo)
        terms.append(min(r * a, min(max(r, 1 - eps), 1 + eps) * a))
        kls.append(lpo - lp)
        clipped += (r > 1 + eps) or (r < 1 - eps)
    n = len(terms)
    return -sum(terms) / n, sum(kls) / n, clipped / n


@given(ppo_batch())
def test_ppo_clip_loss_matches_per_sample_loop(batch):
    logp, logp_old, adv, eps = batch
    t = lambda x: torch.tensor(x, dtype=torch.float64)  # noqa: E731
    loss, info = ppo_clip_loss(t(logp), t(logp_old), t(adv), eps)
    exp_loss, exp_kl, exp_clip = slow_ppo(logp, logp_old, adv, eps)
    assert loss.shape == ()
    assert loss.item() == pytest.approx(exp_loss, rel=1e-9, abs=1e-9)
    assert info["approx_kl"] == pytest.approx(exp_kl, rel=1e-9, abs=1e-9)
    assert info["clip_frac"] == pytest.approx(exp_clip)
    assert isinstance(info["approx_kl"], float) and isinstance(info["clip_frac"], float)


@given(ppo_batch())
def test_ppo_clip_loss_gradient_matches_analytic_and_direct_formula(batch):
    logp, logp_old, adv, eps = batch
    ratios = [math.exp(a - b) for a, b in zip(logp, logp_old, strict=True)]
    # keep away from the kinks of min/clip, where the gradient is a matter of convention
    assume(all(abs(r - (1 + eps)) > 1e-6 and abs(r - (1 - eps)) > 1e-6 for r in ratios))
    lp = torch.tensor(logp, dtype=torch.float64, requires_grad=True)
    lpo, a = torch.tensor(logp_old, dtype=torch.float64), torch.tensor(adv, dtype=torch.float64)
    loss, _ = ppo_clip_loss(lp, lpo, a, eps)
    (grad,) = torch.autograd.grad(loss, lp)

    # the direct formula, sample by sample, differentiated by autograd
    lp2 = torch.tensor(logp, dtype=torch.float64, requires_grad=True)
    terms = []
    for i in range(len(logp)):
        r = torch.exp(lp2[i] - lpo[i])
        terms.append(torch.minimum(r * a[i], torch.clamp(r, 1 - eps, 1 + eps) * a[i]))
    direct = -torch.stack(terms).mean()
    (grad_direct,) = torch.autograd.grad(direct, lp2)
    np.testing.assert_allclose(grad.numpy(), grad_direct.numpy(), rtol=1e-9, atol=1e-12)

    # analytic: -r A / n where the unclipped branch is the active one, else 0
    n = len(logp)
    expected = []
    for r, adv_i in zip(ratios, adv, strict=True):
        active = (adv_i >= 0 and r < 1 + eps) or (adv_i < 0 and r > 1 - eps)
        expected.append(-r * adv_i / n if active else 0.0)
    np.testing.assert_allclose(grad.numpy(), expected, rtol=1e-9, atol=1e-12)


def test_ppo_clip_loss_clips_and_reports():
    logp_old = torch.zeros(4)
    logp = torch.log(torch.tensor([1.5, 0.5, 1.1, 1.0]))
    adv = torch.tensor([1.0, -1.0, 1.0, 2.0])
    loss, info = ppo_clip_loss(logp, logp_old, adv, 0.2)
    # min(1.5, 1.2) = 1.2; min(-0.5, -0.8) = -0.8; 1.1; 2.0
    assert loss.item() == pytest.approx(-(1.2 - 0.8 + 1.1 + 2.0) / 4, rel=1e-6)
    assert info["clip_frac"] == pytest.approx(0.5)
    assert info["approx_kl"] == pytest.approx(-float(logp.mean()), rel=1e-6)


def test_ppo_clip_loss_gradient_flows_to_network_parameters():
    # The loss drives a real parameter (as in training) and one gradient step lowers it.
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 2)
    obs = torch.randn(8, 3)
    act = torch.randint(0, 2, (8,))
    with torch.no_grad():
        logp_old = torch.log_softmax(net(obs), -1).gather(1, act[:, None]).squeeze(1)
    adv = torch.randn(8)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    logp = torch.log_softmax(net(obs), -1).gather(1, act[:, None]).squeeze(1)
    loss, info = ppo_clip_loss(logp, logp_old, adv, 0.2)
    assert info["approx_kl"] == pytest.approx(0.0, abs=1e-7) and info["clip_frac"] == 0.0
    loss.backward()
    assert net.weight.grad is not None and net.weight.grad.abs().sum() > 0
    opt.step()
    logp_new = torch.log_softmax(net(obs), -1).gather(1, act[:, None]).squeeze(1)
    assert ppo_clip_loss(logp_new, logp_old, adv, 0.2)[0].item() < loss.item()


@given(
    st.integers(1, 16).flatmap(
        lambda n: st.tuples(
            st.lists(advs, min_size=n, max_size=n),
            st.lists(advs, min_size=n, max_size=n),
        )
    )
)
def test_value_loss_is_mse_with_right_gradient(pair):
    values, targets = pair
    v = torch.tensor(values, dtype=torch.float64, requires_grad=True)
    tg = torch.tensor(targets, dtype=torch.float64)
    loss = value_loss(v, tg)
    n = len(values)
    expected = sum((a - b) ** 2 for a, b in zip(values, targets, strict=True)) / n
    assert loss.item() == pytest.approx(expected, rel=1e-9, abs=1e-12)
    loss.backward()
    exp_grad = [2 * (a - b) / n for a, b in zip(values, targets, strict=True)]
    np.testing.assert_allclose(v.grad.numpy(), exp_grad, rtol=1e-9, atol=1e-12)


@given(
    st.integers(1, 16).flatmap(
        lambda n: st.tuples(
            st.lists(logps, min_size=n, max_size=n),
            st.lists(advs, min_size=n, max_size=n),
        )
    )
)
def test_policy_gradient_loss_matches_loop_and_gradient(pair):
    logp, weights = pair
    lp = torch.tensor(logp, dtype=torch.float64, requires_grad=True)
    loss = policy_gradient_loss(lp, torch.tensor(weights, dtype=torch.float64))
    n = len(logp)
    assert loss.item() == pytest.approx(-sum(a * w for a, w in zip(logp, weights, strict=True)) / n, abs=1e-9)
    loss.backward()
    np.testing.assert_allclose(lp.grad.numpy(), [-w / n for w in weights], rtol=1e-9, atol=1e-12)


def test_reference_values_reinforce():
    # REINFORCE loss -log softmax([1, 2])[1] * 10
    logits = torch.tensor([[1.0, 2.0]])
    logp = torch.log_softmax(logits, dim=-1)[:, 1]
    assert policy_gradient_loss(logp, torch.tensor([10.0])).item() == pytest.approx(3.1326165, rel=1e-6)
    # the REINFORCE term log pi(a|s) * G for pi = 0.8, G = 100 is minus the loss
    term = -policy_gradient_loss(torch.log(torch.tensor([0.8])), torch.tensor([100.0]))
    assert term.item() == pytest.approx(-22.314354, rel=1e-6)
