"""MLPActorCritic.step's numpy path (pgrl.inference) against the torch modules it copies."""

from __future__ import annotations

import copy

import gymnasium as gym
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pgrl import inference
from pgrl.networks import MLPActorCritic
from pgrl.optim import adam

BOX = gym.spaces.Box(-1.0, 1.0, (11,))


def both(ac: MLPActorCritic, x: torch.Tensor, mask: torch.Tensor | None = None, seed: int = 0):
    """(the numpy step's outputs, the torch modules'), each from the same torch random state."""
    fast_step = ac.numpy_step(len(x))
    assert fast_step is not None  # the numpy path serves this batch
    torch.manual_seed(seed)
    fast = fast_step(x) if mask is None else fast_step(x, mask=mask)
    torch.manual_seed(seed)
    slow = ac.step(x, mask)
    return fast, slow


def assert_same(fast, slow, exact_actions: bool) -> None:
    for f, s in zip(fast, slow, strict=True):
        assert f.shape == s.shape and f.dtype == s.dtype
    if exact_actions:
        np.testing.assert_array_equal(fast[0], slow[0])
    else:
        np.testing.assert_allclose(fast[0], slow[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fast[1], slow[1], rtol=1e-5, atol=1e-6)  # values
    np.testing.assert_allclose(fast[2], slow[2], rtol=1e-5, atol=1e-5)  # log-probs


# pgrl's MLPs of every shape the numpy path takes, on batches of one vector step's size
NETWORKS = dict(
    batch=st.integers(1, 64),
    hidden=st.lists(st.integers(1, 48), min_size=0, max_size=3),
    activation=st.sampled_from(["tanh", "relu", "identity"]),
    discrete=st.booleans(),
    seed=st.integers(0, 2**16),
)


@settings(max_examples=25, deadline=None)
@given(**NETWORKS, bias=st.booleans())
def test_numpy_step_matches_the_modules(batch, hidden, activation, discrete, bias, seed):
    torch.manual_seed(seed)
    action_space = gym.spaces.Discrete(4) if discrete else gym.spaces.Box(-1.0, 1.0, (3,))
    ac = MLPActorCritic(BOX, action_space, hidden_sizes=hidden, activation=activation, log_std_init=0.3, bias=bias)
    x = 3 * torch.randn(batch, 11)
    assert_same(*both(ac, x, seed=seed), exact_actions=discrete)


def test_masked_actions_match_and_stay_allowed():
    torch.manual_seed(0)
    ac = MLPActorCritic(BOX, gym.spaces.Discrete(6))
    x = torch.randn(40, 11)
    mask = torch.rand(40, 6) > 0.6
    mask[:, 2] = True
    fast, slow = both(ac, x, mask)
    assert_same(fast, slow, exact_actions=True)
    assert mask.numpy()[np.arange(40), fast[0]].all()


def test_each_copy_has_the_weights_it_was_made_with():
    """A numpy step copies the weights of its moment (the collector makes one per collection): an update
    after it leaves it as it was, and the next copy has the new weights."""
    torch.manual_seed(0)
    ac = MLPActorCritic(BOX, gym.spaces.Box(-1.0, 1.0, (3,)))
    x = torch.randn(8, 11)
    old_step = ac.numpy_step(8)
    torch.manual_seed(1)
    before = ac.step(x)
    opt = adam(ac.parameters(), lr=0.1)
    (ac.v(x).sum() + ac.pi.mu_net(x).sum() + ac.pi.log_std.sum()).backward()
    opt.step()
    torch.manual_seed(1)
    kept = old_step(x)
    for a, b in zip(kept, before, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    fast, slow = both(ac, x)
    assert_same(fast, slow, exact_actions=False)
    assert not np.allclose(fast[1], before[1]) and not np.allclose(fast[2], before[2])


def test_the_collector_acts_with_the_numpy_step_and_each_update_s_weights(tmp_path):
    """A PPO run collects through the numpy step (a wrapper sees every vector step), with the weights of
    that epoch: a second epoch's first step equals the torch modules' after the first update."""
    from pgrl import ppo

    calls: list[tuple[np.ndarray, ...]] = []
    made = MLPActorCritic.numpy_step

    def spy(self: MLPActorCritic, batch: int):
        inner = made(self, batch)
        assert inner is not None
        snapshot = copy.deepcopy(self)

        def step(obs: torch.Tensor, **kwargs):
            state = torch.get_rng_state()
            out = inner(obs, **kwargs)
            torch.set_rng_state(state)
            expected = snapshot.step(obs, kwargs.get("mask"))
            for a, b in zip(out, expected, strict=True):
                np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
            calls.append(out)
            return out

        return step

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(MLPActorCritic, "numpy_step", spy)
        ppo("CartPole-v1", seed=0, steps_per_epoch=256, epochs=2, num_envs=4, verbose=False,
            logger_kwargs={"output_dir": str(tmp_path)}, eval_episodes=0)  # fmt: skip
    assert len(calls) == 2 * 64


class OwnStep(MLPActorCritic):
    def step(self, obs, mask=None):
        return super().step(obs, mask)


class OwnCritic(torch.nn.Module):
    def __init__(self, critic):
        super().__init__()
        self.v_net, self.encoder = critic.v_net, None

    def forward(self, obs):
        return 2 * self.v_net(obs).squeeze(-1)


@pytest.mark.parametrize("why", ["activation", "batch", "float64", "encoder", "head", "subclass", "instance", "critic"])
def test_what_the_numpy_path_leaves_to_the_modules(why):
    torch.manual_seed(0)
    space, action_space = BOX, gym.spaces.Box(-1.0, 1.0, (3,))
    kwargs: dict = {"activation": "elu"} if why == "activation" else {}
    if why == "encoder":
        space = gym.spaces.Box(0, 255, (3, 16, 16), dtype=np.uint8)
    if why == "head":
        action_space = gym.spaces.MultiDiscrete([2, 3])
    ac = (OwnStep if why == "subclass" else MLPActorCritic)(space, action_space, **kwargs)
    if why == "float64":
        ac.double()
    if why == "critic":  # a critic of the user's own, though it has a v_net like pgrl's
        ac.v = OwnCritic(ac.v)
    if why == "instance":
        ac.step = lambda obs, mask=None: MLPActorCritic.step(ac, obs, mask)  # e.g. a profiler's wrapper
    assert ac.numpy_step(inference.MAX_PRODUCT // (64 * 64) + 1 if why == "batch" else 8) is None
    assert MLPActorCritic(BOX, gym.spaces.Discrete(2)).numpy_step(8) is not None  # the control


@settings(max_examples=25, deadline=None)
@given(**NETWORKS, masked=st.booleans())
def test_numpy_mode_matches_the_modules(batch, hidden, activation, discrete, masked, seed):
    """The evaluation's deterministic action: the argmax of the (masked) logits, or the Gaussian's mean."""
    torch.manual_seed(seed)
    action_space = gym.spaces.Discrete(5) if discrete else gym.spaces.Box(-1.0, 1.0, (3,))
    ac = MLPActorCritic(BOX, action_space, hidden_sizes=hidden, activation=activation)
    x = 3 * torch.randn(batch, 11)
    mask = None
    if discrete and masked:
        mask = torch.rand(batch, 5) > 0.5
        mask[:, 4] = True
    mode = ac.numpy_mode(batch)
    assert mode is not None
    with torch.no_grad():
        expected = ac.pi(x, mask=mask)[0].mode.numpy() if discrete else ac.pi(x)[0].mode.numpy()
    got = mode(x, mask)
    assert got.shape == expected.shape and got.dtype == expected.dtype
    if discrete:
        np.testing.assert_array_equal(got, expected)
    else:
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_an_evaluation_acts_as_the_agent_does(tmp_path):
    """``Agent.batch_policy`` (what pgrl.evaluate steps with) takes the actions ``Agent.act`` takes, raw
    observations normalised and Box actions clipped as there; an evaluation's returns are the torch path's."""
    import pgrl
    from pgrl.agent import Agent

    agent, _ = pgrl.ppo("pgrl/ContinuousCartPole-v0", seed=1, steps_per_epoch=256, epochs=2, num_envs=4,
                        norm_obs=True, verbose=False, eval_episodes=0,
                        logger_kwargs={"output_dir": str(tmp_path / "box")})  # fmt: skip
    obs = np.random.default_rng(0).normal(size=(16, 4)).astype(np.float32) * 3
    fast = agent.batch_policy(16)(obs)
    np.testing.assert_allclose(fast, agent.act(obs, deterministic=True), rtol=1e-5, atol=1e-6)
    assert np.abs(fast).max() <= 1.0  # clipped to the action space
    cartpole, _ = pgrl.ppo("CartPole-v1", seed=1, steps_per_epoch=2048, epochs=3, verbose=False, eval_episodes=0,
                           logger_kwargs={"output_dir": str(tmp_path / "cp")})  # fmt: skip
    assert cartpole.ac.numpy_mode(10) is not None  # the numpy path serves this evaluation
    returns, lengths = pgrl.evaluate(cartpole, "CartPole-v1", episodes=10, seed=3)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Agent, "batch_policy", lambda self, n, det=True: lambda o, m=None: self.act(o, det, m))
        slow_returns, slow_lengths = pgrl.evaluate(cartpole, "CartPole-v1", episodes=10, seed=3)
    np.testing.assert_array_equal(returns, slow_returns)
    np.testing.assert_array_equal(lengths, slow_lengths)


@pytest.mark.parametrize("discrete", [True, False])
def test_stacked_modes_act_as_each_agent_alone(discrete):
    """K seeds' evaluation (pgrl.seeds.evaluate): their modes stacked give each agent's own actions."""
    torch.manual_seed(0)
    action_space = gym.spaces.Discrete(3) if discrete else gym.spaces.Box(-1.0, 1.0, (2,))
    acs = [MLPActorCritic(BOX, action_space, bias=not discrete) for _ in range(3)]  # with and without biases
    x = torch.randn(3, 10, 11)
    mask = (torch.rand(3, 10, 3) > 0.5) | (torch.arange(3) == 0) if discrete else None
    both = inference.stacked([ac.numpy_mode(10) for ac in acs])(x, mask)
    for k, ac in enumerate(acs):
        alone = ac.numpy_mode(10)(x[k], None if mask is None else mask[k])
        np.testing.assert_allclose(both[k], alone, rtol=1e-6, atol=1e-7)
