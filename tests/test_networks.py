"""MLPActorCritic: shapes, the fast sampling path against torch.distributions, activations, Box clipping."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

from pgrl import Agent, PgrlError
from pgrl.envs import make_vec_env
from pgrl.networks import MLPActorCritic, activation_name, entropy_of, log_prob_entropy, resolve_activation
from pgrl.optim import Adam, adam
from pgrl.rollout import Collector

REPO_ROOT = Path(__file__).resolve().parents[1]
OBS = gym.spaces.Box(-np.inf, np.inf, shape=(4,), dtype=np.float32)
DISCRETE = gym.spaces.Discrete(3)
BOX = gym.spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)


@pytest.mark.parametrize("act_space", [DISCRETE, BOX])
def test_direct_log_prob_and_entropy_match_the_distributions_values_and_gradients(act_space):
    """The update's hot path (no distribution object) gives torch.distributions' numbers and gradients."""
    torch.manual_seed(0)
    ac = MLPActorCritic(OBS, act_space, hidden_sizes=(16, 16))
    with torch.no_grad():  # a policy far from its near-uniform initialisation
        for p in ac.pi.parameters():
            p.add_(torch.randn_like(p))
    obs = torch.randn(9, 4)
    act = torch.as_tensor(ac.step(obs)[0])

    def grads(loss: torch.Tensor) -> list[torch.Tensor]:
        return [g.clone() for g in torch.autograd.grad(loss, list(ac.pi.parameters()))]

    logp, ent = log_prob_entropy(ac.pi, obs, act)
    dist, logp_ref = ac.pi(obs, act)
    ent_ref = entropy_of(dist)
    assert logp.shape == ent.shape == (9,)
    torch.testing.assert_close(logp, logp_ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(ent, ent_ref, rtol=1e-5, atol=1e-6)
    weights = torch.randn(9)
    for got, want in zip(
        grads((logp * weights).sum() + ent.sum()), grads((logp_ref * weights).sum() + ent_ref.sum()), strict=True
    ):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)


def test_log_prob_entropy_falls_back_to_the_protocol_for_other_actors():
    class Actor(nn.Module):  # a user's actor: only the protocol's pi(obs, act) -> (dist, logp)
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Linear(4, 3)

        def forward(self, obs, act=None):
            dist = torch.distributions.Categorical(logits=self.net(obs))
            return dist, None if act is None else dist.log_prob(act)

    actor, obs, act = Actor(), torch.randn(5, 4), torch.tensor([0, 1, 2, 1, 0])
    logp, ent = log_prob_entropy(actor, obs, act)
    dist, logp_ref = actor(obs, act)
    torch.testing.assert_close(logp, logp_ref)
    torch.testing.assert_close(ent, dist.entropy())


def test_adam_is_torchs_fused_adam_bit_for_bit_and_its_checkpoints_load_either_way():
    torch.manual_seed(0)
    a, b, c = nn.Linear(4, 3), nn.Linear(4, 3), nn.Linear(4, 3)
    b.load_state_dict(a.state_dict())
    c.load_state_dict(a.state_dict())
    ours = adam(a.parameters(), lr=1e-2, eps=1e-5)
    fused = torch.optim.Adam(b.parameters(), lr=1e-2, eps=1e-5, fused=True)
    plain = torch.optim.Adam(c.parameters(), lr=1e-2, eps=1e-5)
    assert isinstance(ours, Adam)
    x = torch.randn(8, 4)
    for _ in range(5):
        for net, opt in ((a, ours), (b, fused), (c, plain)):
            opt.zero_grad()
            net(x).pow(2).sum().backward()
            opt.step()
    for p, q, r in zip(a.parameters(), b.parameters(), c.parameters(), strict=True):
        assert torch.equal(p, q)  # the same kernel, the same arithmetic
        torch.testing.assert_close(p, r, rtol=1e-5, atol=1e-6)
    # a checkpoint of either loads into the other, and stepping on gives the same parameters
    mine = ours.state_dict()
    assert mine["param_groups"] == fused.state_dict()["param_groups"]
    fused.load_state_dict(mine)
    ours.load_state_dict(fused.state_dict())
    for net, opt in ((a, ours), (b, fused)):
        opt.zero_grad()
        net(x).pow(2).sum().backward()
        opt.step()
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)
    with pytest.raises(ValueError, match="doesn't match the size"):
        ours.load_state_dict({"state": {}, "param_groups": [{**mine["param_groups"][0], "params": [0]}]})


def test_adam_does_not_import_torch_dynamo():
    """torch.optim's wrapper imports torch._dynamo on first use: ~1.4 s of every run's start."""
    code = (
        "import sys, torch, torch.nn as nn\n"
        "from pgrl.optim import Adam, adam\n"
        "net = nn.Linear(3, 2); opt = adam(net.parameters(), lr=0.1)\n"
        "net(torch.ones(2, 3)).sum().backward(); opt.step(); opt.zero_grad(); opt.load_state_dict(opt.state_dict())\n"
        "print('torch._dynamo' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_ROOT)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(("act_space", "act_shape"), [(DISCRETE, ()), (BOX, (2,))])
def test_step_shapes_and_logp_agree_with_distribution(act_space, act_shape):
    torch.manual_seed(0)
    ac = MLPActorCritic(OBS, act_space, hidden_sizes=(16, 16))
    obs = torch.randn(7, 4)
    a, v, logp = ac.step(obs)
    assert isinstance(a, np.ndarray) and isinstance(v, np.ndarray) and isinstance(logp, np.ndarray)
    assert a.shape == (7, *act_shape)
    assert v.shape == (7,) and logp.shape == (7,)
    if act_shape == ():
        assert np.issubdtype(a.dtype, np.integer) and a.min() >= 0 and a.max() < 3
    # the fast path's log-prob is the torch.distributions log-prob of the same action
    dist, logp_pi = ac.pi(obs, torch.as_tensor(a))
    assert logp_pi.shape == (7,)
    np.testing.assert_allclose(logp, logp_pi.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(v, ac.v(obs).detach().numpy(), rtol=1e-6)
    # pi without an action gives no log-prob; the entropy is per sample
    dist2, none = ac.pi(obs)
    assert none is None
    assert entropy_of(dist2).shape == (7,)
    # deterministic actions are the mode of the distribution
    np.testing.assert_allclose(ac.act(obs, deterministic=True), dist.mode.detach().numpy(), rtol=1e-6)
    assert ac.act(obs).shape == (7, *act_shape)


def test_categorical_fast_sampling_matches_distribution_frequencies():
    torch.manual_seed(0)
    ac = MLPActorCritic(OBS, DISCRETE, hidden_sizes=(8,))
    with torch.no_grad():  # make the policy clearly non-uniform
        ac.pi.logits_net[-2].bias.copy_(torch.tensor([1.0, 0.0, -1.0]))
    obs = torch.zeros(20000, 4)
    a, _, _ = ac.step(obs)
    freq = np.bincount(a, minlength=3) / len(a)
    probs = torch.softmax(ac.pi.logits_net(obs[:1]), -1)[0].detach().numpy()
    np.testing.assert_allclose(freq, probs, atol=0.015)


def test_gaussian_fast_sampling_matches_distribution_moments():
    torch.manual_seed(0)
    ac = MLPActorCritic(OBS, BOX, hidden_sizes=(8,), log_std_init=0.3)
    obs = torch.zeros(20000, 4)
    a, _, _ = ac.step(obs)
    dist, _ = ac.pi(obs[:1])
    np.testing.assert_allclose(a.mean(0), dist.mean[0].detach().numpy(), atol=0.04)
    np.testing.assert_allclose(a.std(0), dist.stddev[0].detach().numpy(), rtol=0.03)
    np.testing.assert_allclose(dist.stddev[0].detach().numpy(), np.exp(0.3), rtol=1e-6)


def _activations(ac: MLPActorCritic) -> set[type]:
    return {type(m) for m in ac.modules() if not isinstance(m, nn.Linear | nn.Sequential | MLPActorCritic)}


@pytest.mark.parametrize("activation", ["relu", "ReLU", nn.ReLU])
def test_activation_by_name_and_class(activation):
    ac = MLPActorCritic(OBS, DISCRETE, hidden_sizes=(5, 6), activation=activation)
    layers = list(ac.pi.logits_net)
    assert [type(m) for m in layers] == [nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear, nn.Identity]
    assert [layers[i].out_features for i in (0, 2, 4)] == [5, 6, 3]
    assert [type(m) for m in ac.v.v_net] == [nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear, nn.Identity]
    assert nn.Tanh not in _activations(ac)
    assert activation_name(activation) == "relu"


def test_default_activation_is_tanh_and_other_names_resolve():
    ac = MLPActorCritic(OBS, BOX, hidden_sizes=(4,))
    assert nn.Tanh in _activations(ac) and nn.ReLU not in _activations(ac)
    assert resolve_activation("elu") is nn.ELU
    assert resolve_activation("leaky-relu") is nn.LeakyReLU

    class MyAct(nn.Module):
        def forward(self, x):
            return x

    assert resolve_activation(MyAct) is MyAct
    assert activation_name(MyAct) == "MyAct"


@pytest.mark.parametrize("bad", ["swishy", "os.system", "__import__('os')", 3, nn.ReLU()])
def test_unknown_activation_is_refused(bad):
    with pytest.raises(PgrlError):
        MLPActorCritic(OBS, DISCRETE, activation=bad)


def test_unsupported_spaces_are_refused():
    with pytest.raises(PgrlError, match="unsupported action space Tuple"):
        MLPActorCritic(OBS, gym.spaces.Tuple([DISCRETE, DISCRETE]))
    with pytest.raises(PgrlError, match="unsupported observation space Sequence"):
        MLPActorCritic(gym.spaces.Sequence(gym.spaces.Discrete(4)), DISCRETE)
    with pytest.raises(PgrlError, match="encoder 'cnn' needs an image observation"):
        MLPActorCritic(OBS, DISCRETE, encoder="cnn")


def test_a_plain_mlp_has_no_encoder_module():
    # the Box path keeps its parameters' names (old checkpoints load) and its RNG draws (golden runs)
    names = set(MLPActorCritic(OBS, DISCRETE).state_dict())
    assert names == {
        f"{net}.{i}.{p}" for net in ("pi.logits_net", "v.v_net") for i in (0, 2, 4) for p in ("weight", "bias")
    }


def test_images_get_a_cnn_or_flattened_pixels():
    image = gym.spaces.Box(0, 255, (3, 64, 64), np.uint8)
    ac = MLPActorCritic(image, DISCRETE)
    convs = [m for m in ac.pi.encoder.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.kernel_size for c in convs] == [(8, 8), (4, 4), (3, 3)]  # Nature-DQN's for 64x64
    small = MLPActorCritic(gym.spaces.Box(0, 1, (10, 10, 4), bool), DISCRETE)
    assert [m.kernel_size for m in small.pi.encoder.modules() if isinstance(m, torch.nn.Conv2d)] == [(3, 3), (3, 3)]
    flat = MLPActorCritic(image, DISCRETE, encoder="mlp")
    assert not [m for m in flat.modules() if isinstance(m, torch.nn.Conv2d)]
    x = {"image": torch.full((2, 3, 64, 64), 255, dtype=torch.uint8)}
    assert flat.pi.encoder(x).max().item() == 1.0  # pixels scaled to [0, 1]
    assert ac.step(x)[0].shape == (2,) and flat.step(x)[0].shape == (2,)


def test_gaussian_log_std_init():
    ac = MLPActorCritic(OBS, BOX)
    np.testing.assert_allclose(ac.pi.log_std.detach().numpy(), [-0.5, -0.5])


# ------------------------------------------------------------------ Box actions: clipped to the env, stored unclipped


def test_agent_to_env_action_clips_box_and_passes_discrete():
    box = gym.spaces.Box(np.array([-1.0, 0.0], dtype=np.float32), np.array([1.0, 2.0], dtype=np.float32))
    agent = Agent(MLPActorCritic(OBS, box), OBS, box)
    raw = np.array([[-3.0, 5.0], [0.5, -1.0], [0.2, 1.0]], dtype=np.float32)
    np.testing.assert_array_equal(
        agent.to_env_action(raw), np.array([[-1.0, 2.0], [0.5, 0.0], [0.2, 1.0]], dtype=np.float32)
    )
    np.testing.assert_array_equal(raw[0], [-3.0, 5.0])  # not modified in place
    disc = Agent(MLPActorCritic(OBS, DISCRETE), OBS, DISCRETE)
    np.testing.assert_array_equal(disc.to_env_action(np.array([0, 2, 1])), [0, 2, 1])


class RecordActions(gym.Wrapper):
    """Remembers every action the env receives (in a list shared by all copies of a sync vector env)."""

    def __init__(self, env: gym.Env, log: list) -> None:
        super().__init__(env)
        self.log = log

    def step(self, action):
        self.log.append(np.array(action, copy=True))
        return self.env.step(action)


def test_collector_sends_clipped_actions_and_stores_unclipped():
    torch.manual_seed(0)
    received: list[np.ndarray] = []
    envs = make_vec_env(lambda: RecordActions(gym.make("Pendulum-v1"), received), 2, seed=0)
    space = envs.single_action_space
    assert float(space.high[0]) == 2.0
    # a wide Gaussian (std e^1.5 ~ 4.5) samples far outside [-2, 2]
    ac = MLPActorCritic(envs.single_observation_space, space, hidden_sizes=(8,), log_std_init=1.5)
    agent = Agent(ac, envs.single_observation_space, space)
    ro = Collector(envs, agent, steps_per_env=20, seed=0).collect()
    stored = ro.actions  # (T, N, 1)
    assert stored.shape == (20, 2, 1)
    assert (np.abs(stored) > 2.0).mean() > 0.3, "stored actions must keep the samples outside the bounds"
    sent = np.stack(received).reshape(20, 2, 1)  # env 0 then env 1 at every step
    np.testing.assert_allclose(sent, np.clip(stored, -2.0, 2.0), rtol=1e-6)
    assert np.abs(sent).max() <= 2.0
    # the stored log-prob is that of the unclipped action
    obs = torch.from_numpy(ro.obs.reshape(40, -1))
    _, logp = ac.pi(obs, torch.from_numpy(stored.reshape(40, 1)))
    np.testing.assert_allclose(ro.logp.reshape(40), logp.detach().numpy(), rtol=1e-5, atol=1e-5)
    envs.close()


def test_agent_act_single_obs_box_is_clipped_1d_array():
    env = gym.make("MountainCarContinuous-v0")
    ac = MLPActorCritic(env.observation_space, env.action_space, hidden_sizes=(8,), log_std_init=3.0)
    agent = Agent(ac, env.observation_space, env.action_space)
    obs, _ = env.reset(seed=0)
    torch.manual_seed(0)
    actions = np.array([agent.act(obs) for _ in range(50)])
    assert actions.shape == (50, 1)
    assert np.abs(actions).max() <= 1.0 and (np.abs(actions) == 1.0).any()
    det = agent.act(obs, deterministic=True)
    assert isinstance(det, np.ndarray) and det.shape == (1,)
    env.close()


def test_mlp_forward_is_sequentials_bit_for_bit():
    from pgrl.networks import MLP, mlp

    for activation in (torch.nn.Tanh, torch.nn.ReLU, torch.nn.ELU, torch.nn.Sigmoid):
        torch.manual_seed(0)
        net = mlp([5, 16, 16, 3], activation)
        assert isinstance(net, MLP)
        x = torch.randn(7, 5)
        torch.testing.assert_close(net(x), torch.nn.Sequential(*net)(x), rtol=0, atol=0)
