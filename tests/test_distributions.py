"""The action distributions against slow, obvious computations with torch.distributions, masks included,
and the actors built on them (every action space, every way of acting)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch.distributions import Bernoulli, Categorical

from pgrl.actions import ActionLayout
from pgrl.agent import Agent
from pgrl.distributions import (
    Bernoullis,
    MultiCategorical,
    Segments,
    bernoulli_log_prob_entropy,
    masked,
    multi_categorical_log_prob_entropy,
)
from pgrl.errors import PgrlError
from pgrl.networks import MLPActorCritic, log_prob_entropy


def _case(seed: int, nvec: list[int], batch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(batch, sum(nvec), generator=g) * 3
    mask = torch.rand(batch, sum(nvec), generator=g) < 0.7
    offset = 0
    for n in nvec:  # every entry keeps at least one allowed choice
        mask[:, offset] = True
        offset += n
    act = torch.stack([torch.randint(0, n, (batch,), generator=g) for n in nvec], dim=1)
    return logits, mask, act


@given(seed=st.integers(0, 10_000), nvec=st.lists(st.integers(1, 5), min_size=1, max_size=4), batch=st.integers(1, 4))
def test_multi_categorical_is_the_sum_of_independent_categoricals(seed: int, nvec: list[int], batch: int) -> None:
    logits, mask, act = _case(seed, nvec, batch)
    segments = Segments(nvec)
    for m in (None, mask):
        logp, entropy = multi_categorical_log_prob_entropy(segments, logits, act, m)
        slow_logp, slow_entropy = torch.zeros(batch), torch.zeros(batch)
        offset = 0
        for i, n in enumerate(nvec):  # one torch Categorical per entry, masked by -inf
            part = logits[:, offset : offset + n]
            if m is not None:
                part = part.masked_fill(~m[:, offset : offset + n], float("-inf"))
            dist = Categorical(logits=part)
            slow_logp += dist.log_prob(act[:, i].clamp(max=n - 1))
            probs = dist.probs
            slow_entropy -= torch.where(probs > 0, probs * probs.clamp(min=1e-30).log(), 0).sum(-1)
            offset += n
        allowed = torch.ones(batch, dtype=torch.bool) if m is None else _allowed(m, act, nvec)
        torch.testing.assert_close(logp[allowed], slow_logp[allowed], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(entropy, slow_entropy, rtol=1e-5, atol=1e-5)
        dist = MultiCategorical(segments, logits, m)
        torch.testing.assert_close(dist.log_prob(act)[allowed], slow_logp[allowed], rtol=1e-5, atol=1e-5)
        assert dist.mode.shape == (batch, len(nvec))
        if m is not None:
            assert _allowed(m, dist.mode, nvec).all()


def _allowed(mask: torch.Tensor, act: torch.Tensor, nvec: list[int]) -> torch.Tensor:
    offsets = torch.tensor([0, *np.cumsum(nvec)[:-1].tolist()])
    return mask.gather(1, offsets + act).all(1)


def test_masked_actions_are_never_sampled_and_have_zero_probability() -> None:
    logits = torch.tensor([[5.0, 0.0, -1.0, 2.0]]).repeat(4000, 1)
    mask = torch.tensor([[False, True, False, True]]).repeat(4000, 1)
    segments = Segments([4])
    samples = MultiCategorical(segments, logits, mask).sample()
    assert set(samples.reshape(-1).tolist()) <= {1, 3}
    dist = Categorical(logits=masked(logits, mask))
    assert dist.probs[0, 0].item() == 0.0 and dist.probs[0, 2].item() == 0.0
    assert dist.mode[0].item() == 3  # not 0, the largest logit, which is masked
    assert torch.isfinite(dist.entropy()).all()


@given(seed=st.integers(0, 10_000), n=st.integers(1, 6))
def test_bernoullis_against_torch(seed: int, n: int) -> None:
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(3, n, generator=g) * 4
    act = (torch.rand(3, n, generator=g) < 0.5).float()
    logp, entropy = bernoulli_log_prob_entropy(logits, act)
    slow = Bernoulli(logits=logits)
    torch.testing.assert_close(logp, slow.log_prob(act).sum(-1), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(entropy, slow.entropy().sum(-1), rtol=1e-5, atol=1e-5)
    assert torch.equal(Bernoullis(logits).mode, (logits > 0).float())


SPACES = {
    "discrete": gym.spaces.Discrete(3, start=1),
    "box-2d": gym.spaces.Box(-1.0, 1.0, (2, 2), np.float32),
    "multidiscrete": gym.spaces.MultiDiscrete([3, 2, 4]),
    "multibinary": gym.spaces.MultiBinary(3),
}


@pytest.mark.parametrize("name", list(SPACES))
def test_every_action_space_acts_in_its_space(name: str) -> None:
    space = SPACES[name]
    obs_space = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
    torch.manual_seed(0)
    ac = MLPActorCritic(obs_space, space, hidden_sizes=(8,))
    agent = Agent(ac, obs_space, space)
    obs = np.zeros((5, 3), np.float32)
    for deterministic in (False, True):
        actions = agent.act(obs, deterministic=deterministic)
        assert all(space.contains(np.asarray(a, dtype=space.dtype) if name != "discrete" else int(a)) for a in actions)
        assert space.contains(agent.act(obs[0], deterministic=deterministic))
    x = agent.obs_tensor(obs)
    a, v, logp = ac.step(x)
    assert a.shape == (5, *ActionLayout.of(space).shape) and v.shape == (5,) and logp.shape == (5,)
    fast_logp, entropy = log_prob_entropy(ac.pi, x, torch.as_tensor(a))
    _dist, slow_logp = ac.pi(x, torch.as_tensor(a))
    torch.testing.assert_close(fast_logp, slow_logp)
    torch.testing.assert_close(fast_logp, torch.as_tensor(logp))  # the sampled log-prob is the update's
    assert entropy.shape == (5,)


def test_a_mask_of_the_wrong_shape_is_one_line() -> None:
    obs_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    agent = Agent(MLPActorCritic(obs_space, gym.spaces.Discrete(4)), obs_space, gym.spaces.Discrete(4))
    with pytest.raises(PgrlError, match=r"the action mask has shape \(5,\); Discrete\(4\) needs \(4,\)"):
        agent.act(np.zeros(2, np.float32), mask=np.ones(5, bool))
    with pytest.raises(PgrlError, match="allows no action"):
        agent.act(np.zeros(2, np.float32), mask=np.zeros(4, bool))
    box = gym.spaces.Box(-1.0, 1.0, (1,))
    with pytest.raises(PgrlError, match=r"Box.* actions take none"):
        Agent(MLPActorCritic(obs_space, box), obs_space, box).act(np.zeros(2, np.float32), mask=np.ones(1, bool))
    for _ in range(50):
        assert agent.act(np.zeros(2, np.float32), mask=np.array([0, 0, 1, 0], bool)) == 2
