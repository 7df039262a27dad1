"""REINFORCE: returns-to-go and their mask, the weights and loss against the formulas, learning, options."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import pgrl
from pgrl.advantages import returns_to_go, standardize
from pgrl.algos.reinforce import reinforce_weights
from pgrl.errors import PgrlError
from pgrl.losses import policy_gradient_loss

SOLVED = 475.0


def test_returns_to_go_reference_values():
    rewards = np.array([[1.0], [2.0], [3.0], [4.0]], dtype=np.float32)
    ended = np.array([[False], [False], [False], [True]])
    G, complete = returns_to_go(rewards, ended, np.zeros_like(ended), 0.99)
    assert np.allclose(G[:, 0], [9.801496, 8.8904, 6.96, 4.0])
    assert complete.all()


def test_returns_to_go_restart_at_episode_ends_and_mask_incomplete_tails():
    # Two envs, T = 5. Env 0: an episode ends at t=1 (terminated), another at t=3 (time-limit truncation),
    # a third is still running at t=4. Env 1: no episode ends at all.
    r = np.array([[1, 10], [2, 20], [3, 30], [4, 40], [5, 50]], dtype=np.float64)
    term = np.zeros((5, 2), dtype=bool)
    trunc = np.zeros((5, 2), dtype=bool)
    term[1, 0] = True
    trunc[3, 0] = True
    g = 0.9
    G, complete = returns_to_go(r, term, trunc, g)
    assert np.allclose(G[:, 0], [1 + g * 2, 2, 3 + g * 4, 4, 5])
    assert complete[:, 0].tolist() == [True, True, True, True, False]
    assert not complete[:, 1].any()
    # torch in, torch out, same numbers
    Gt, ct = returns_to_go(torch.from_numpy(r), torch.from_numpy(term), torch.from_numpy(trunc), g)
    assert torch.allclose(Gt, torch.from_numpy(G)) and ct.tolist() == complete.tolist()


def test_returns_to_go_match_a_slow_per_episode_loop():
    rng = np.random.default_rng(0)
    T, N, gamma = 40, 3, 0.95
    r = rng.normal(size=(T, N))
    term, trunc = rng.random((T, N)) < 0.1, rng.random((T, N)) < 0.05
    G, complete = returns_to_go(r, term, trunc, gamma)
    for n in range(N):
        for t in range(T):
            total, k = 0.0, t
            while True:
                total += gamma ** (k - t) * r[k, n]
                if term[k, n] or trunc[k, n] or k == T - 1:
                    break
                k += 1
            assert G[t, n] == pytest.approx(total)
            assert complete[t, n] == bool((term[t:, n] | trunc[t:, n]).any())


def test_reinforce_weights_are_the_returns_normalised_if_asked():
    G = torch.tensor([9.801496, 8.8904, 6.96, 4.0])
    assert torch.equal(reinforce_weights(G, None, normalize=False), G)
    w = reinforce_weights(G, None, normalize=True)
    expected = (G.numpy() - G.numpy().mean()) / (G.numpy().std() + 1e-8)
    assert np.allclose(w.numpy(), expected, atol=1e-6)
    V = torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert torch.allclose(reinforce_weights(G, V, normalize=False), G - V)
    assert torch.allclose(reinforce_weights(G, V, normalize=True), standardize(G - V))


def test_reinforce_loss_reference_values():
    # 100 * log(0.8): the term log pi(a|s) * G for pi = 0.8, G = 100 (the loss is its negative mean).
    assert policy_gradient_loss(torch.log(torch.tensor([0.8])), torch.tensor([100.0])).item() == pytest.approx(
        -100 * math.log(0.8)
    )
    assert 100 * math.log(0.8) == pytest.approx(-22.314354)
    logp = torch.log_softmax(torch.tensor([1.0, 2.0]), -1)[1:]
    assert policy_gradient_loss(logp, torch.tensor([10.0])).item() == pytest.approx(3.1326165)


def test_reinforce_gradient_is_the_score_function_weighted_by_the_masked_returns():
    """The update the algorithm makes, on a hand-made batch: -mean over complete steps of grad log pi * G."""
    torch.manual_seed(0)
    logits = nn.Linear(3, 2)
    obs, act = torch.randn(5, 3), torch.tensor([0, 1, 1, 0, 1])
    G, complete = returns_to_go(
        np.array([1.0, 1.0, 1.0, 1.0, 1.0]), np.array([0, 0, 1, 0, 0], bool), np.zeros(5, bool), 0.5
    )
    mask = torch.from_numpy(complete)
    assert mask.tolist() == [True, True, True, False, False]
    logp = torch.distributions.Categorical(logits=logits(obs)).log_prob(act)
    policy_gradient_loss(logp[mask], torch.from_numpy(G)[mask].float()).backward()
    expected = torch.zeros_like(logits.weight)
    for t in range(3):
        p = torch.softmax(logits(obs[t]), -1).detach()
        score = (torch.nn.functional.one_hot(act[t], 2).float() - p)[:, None] * obs[t][None, :]  # d log pi / dW
        expected -= score * float(G[t]) / 3
    assert np.allclose(logits.weight.grad.numpy(), expected.numpy(), atol=1e-6)
    assert G[:3].tolist() == [1.75, 1.5, 1.0]


def test_linear_option_builds_a_linear_policy(tmp_path):
    agent, _ = pgrl.reinforce(
        "pgrl/ContinuousCartPole-v0", linear=True, epochs=1, steps_per_epoch=200, eval_episodes=0, verbose=False,
        logger_kwargs={"output_dir": str(tmp_path / "lin")},
    )  # fmt: skip
    linears = [m for m in agent.ac.pi.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == 1 and linears[0].in_features == 4 and linears[0].out_features == 1
    assert pgrl.load(tmp_path / "lin").ac.pi.mu_net[0].weight.shape == (1, 4)
    with pytest.raises(PgrlError, match="linear"):
        pgrl.reinforce("CartPole-v1", linear=True, ac_kwargs={"hidden_sizes": (8,)}, verbose=False,
                       logger_kwargs={"output_dir": str(tmp_path / "bad")})  # fmt: skip


def test_epochs_without_a_finished_episode_and_the_baseline_option(tmp_path):
    # 1 env x 5 steps per epoch: the first epochs end no CartPole episode, so nothing has a return yet.
    _, history = pgrl.reinforce(
        "CartPole-v1", num_envs=1, steps_per_epoch=5, epochs=6, baseline=True, train_v_iters=2, eval_episodes=0,
        verbose=False, logger_kwargs={"output_dir": str(tmp_path)},
    )  # fmt: skip
    assert math.isnan(history[0]["LossPi"]) and math.isnan(history[0]["AverageEpRet"])
    assert any(not math.isnan(h["LossPi"]) and not math.isnan(h["LossV"]) for h in history)


def _solve(env_id: str, seed: int, tmp_path):
    """Train with the env's preset, evaluating deterministically (20 episodes, pgrl.evaluate) every
    8000 steps; stop at the first evaluation >= 475."""
    return pgrl.reinforce(
        env_id,
        seed=seed,
        verbose=False,
        eval_every=8000,
        callback=lambda epoch, row, agent: not row["EvalAverageEpRet"] >= SOLVED,
        logger_kwargs={"output_dir": str(tmp_path / f"s{seed}")},
    )


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_reinforce_solves_cartpole_within_100k_steps(seed, tmp_path):
    """Budget: the CartPole-v1 preset, 50 epochs x 2000 steps (measured: solved in 32k-48k, seeds 0-4)."""
    agent, history = _solve("CartPole-v1", seed, tmp_path)
    assert history[-1]["TotalEnvInteracts"] <= 100_000
    returns, _ = pgrl.evaluate(agent, "CartPole-v1", 20, seed=seed)
    assert returns.mean() >= SOLVED


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gaussian_reinforce_solves_continuous_cartpole_within_100k_steps(seed, tmp_path):
    """Budget: the pgrl/ContinuousCartPole-v0 preset, 50 epochs x 2000 steps (measured: 32k-64k, seeds 0-4)."""
    env_id = "pgrl/ContinuousCartPole-v0"
    agent, history = _solve(env_id, seed, tmp_path)
    assert history[-1]["TotalEnvInteracts"] <= 100_000
    returns, _ = pgrl.evaluate(agent, env_id, 20, seed=seed)
    assert returns.mean() >= SOLVED
