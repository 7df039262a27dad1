"""ARS: the update against its formula, batched policies, episode collection, learning, save/load/eval/CLI."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils import parameters_to_vector, vector_to_parameters

import pgrl
from pgrl.algos.ars import ars_step
from pgrl.cli import main
from pgrl.envs import make_vec_env
from pgrl.errors import PgrlError
from pgrl.networks import batched_forward, mlp
from pgrl.rollout import run_episodes

SOLVED = 475.0


def test_ars_step_equals_the_formula():
    theta = torch.tensor([0.5, -1.0, 2.0])
    deltas = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 1.0, 1.0]])
    r_pos = torch.tensor([10.0, 1.0, 7.0, 3.0])
    r_neg = torch.tensor([2.0, 9.0, 1.0, 4.0])
    alpha, b = 0.1, 2
    new, info = ars_step(theta, deltas, r_pos, r_neg, alpha, b)

    # By hand: max(r+, r-) = [10, 9, 7, 4] -> keep directions 0 and 1.
    kept = np.array([10.0, 2.0, 1.0, 9.0])  # r+_0, r-_0, r+_1, r-_1
    sigma = kept.std()
    step = alpha / (b * sigma) * ((10 - 2) * np.array([1, 0, 0]) + (1 - 9) * np.array([0, 1, 0]))
    assert np.allclose(new.numpy(), theta.numpy() + step, atol=1e-6)
    assert info["sigma_R"] == pytest.approx(sigma, rel=1e-6)
    assert info["step_norm"] == pytest.approx(np.linalg.norm(step), rel=1e-5)


def test_ars_step_random_batch_matches_numpy():
    g = torch.Generator().manual_seed(0)
    theta, deltas = torch.randn(7, generator=g), torch.randn(6, 7, generator=g)
    r_pos, r_neg = torch.randn(6, generator=g) * 50, torch.randn(6, generator=g) * 50
    new, _ = ars_step(theta, deltas, r_pos, r_neg, 0.02, 3)
    rp, rn, d = r_pos.numpy(), r_neg.numpy(), deltas.numpy()
    top = np.argsort(-np.maximum(rp, rn))[:3]
    sigma = np.concatenate([rp[top], rn[top]]).std()
    expected = theta.numpy() + 0.02 / (3 * sigma) * ((rp[top] - rn[top])[:, None] * d[top]).sum(0)
    assert np.allclose(new.numpy(), expected, atol=1e-5)


def test_ars_step_with_equal_returns_leaves_theta_unchanged():
    theta = torch.tensor([1.0, 2.0])
    new, info = ars_step(theta, torch.randn(4, 2), torch.full((4,), 500.0), torch.full((4,), 500.0), 0.02, 2)
    assert info["sigma_R"] == 0.0
    assert torch.equal(new, theta)


@pytest.mark.parametrize("hidden", [(), (8, 5)])
def test_batched_forward_equals_each_copy_on_its_own(hidden):
    net = mlp([4, *hidden, 3], nn.Tanh)
    params = torch.randn(5, parameters_to_vector(net.parameters()).numel())
    x = torch.randn(5, 4)
    out = batched_forward(net, params, x)
    for p in range(5):
        vector_to_parameters(params[p], net.parameters())
        assert torch.allclose(out[p], net(x[p : p + 1])[0], atol=1e-5)


def test_run_episodes_runs_one_episode_per_copy_with_its_own_policy():
    envs = make_vec_env("CartPole-v1", 4, seed=0)
    policy_calls = []

    def policy(obs: np.ndarray) -> np.ndarray:
        policy_calls.append(obs.shape)
        return np.array([0, 1, 0, 1])  # copies 0 and 2 always push left, 1 and 3 right

    episodes = run_episodes(envs, policy, seed=[5, 6, 5, 6])
    envs.close()
    # The same start state and the same constant policy give the same episode.
    for i in range(4):
        env = gym.make("CartPole-v1")
        env.reset(seed=[5, 6, 5, 6][i])
        ret, n = 0.0, 0
        while True:
            _, r, term, trunc, _ = env.step(i % 2)
            ret, n = ret + r, n + 1
            if term or trunc:
                break
        assert episodes.returns[i] == ret and episodes.lengths[i] == n
    assert episodes.observations.shape == (episodes.lengths.sum(), 4)
    assert len(policy_calls) == episodes.lengths.max()


def test_top_b_larger_than_n_directions_is_refused(tmp_path):
    with pytest.raises(PgrlError, match="top_b"):
        pgrl.ars("CartPole-v1", n_directions=4, top_b=5, logger_kwargs={"output_dir": str(tmp_path)}, verbose=False)


def _solve(env_id: str, seed: int, tmp_path, **kwargs):
    """Train with the env's preset, evaluating deterministically (20 episodes, pgrl.evaluate) every
    `eval_every` steps; stop at the first evaluation >= 475. Returns the agent, history and run dir."""
    out = tmp_path / f"s{seed}"
    agent, history = pgrl.ars(
        env_id,
        seed=seed,
        verbose=False,
        eval_every=2000,
        callback=lambda epoch, row, agent: not row["EvalAverageEpRet"] >= SOLVED,
        logger_kwargs={"output_dir": str(out)},
        **kwargs,
    )
    return agent, history, out


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ars_solves_cartpole_within_30_iterations(seed, tmp_path):
    """Budget: the CartPole-v1 preset, 30 iterations of 16 episodes (measured: solved in 3-6)."""
    agent, history, _ = _solve("CartPole-v1", seed, tmp_path)
    assert len(history) <= 30
    returns, _ = pgrl.evaluate(agent, "CartPole-v1", 20, seed=seed)
    assert returns.mean() >= SOLVED


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ars_solves_continuous_cartpole_within_40_iterations(seed, tmp_path):
    """Budget: the pgrl/ContinuousCartPole-v0 preset, 40 iterations of 16 episodes (measured: 11-18)."""
    env_id = "pgrl/ContinuousCartPole-v0"
    agent, history, run_dir = _solve(env_id, seed, tmp_path)
    assert len(history) <= 40
    returns, _ = pgrl.evaluate(agent, env_id, 20, seed=seed)
    assert returns.mean() >= SOLVED
    if seed == 0:  # the saved run: loadable, same deterministic policy, observation statistics included
        loaded = pgrl.load(run_dir)
        assert loaded.obs_rms is not None
        assert np.allclose(loaded.obs_rms.mean, agent.obs_rms.mean)
        again, _ = pgrl.evaluate(loaded, env_id, 20, seed=seed)
        assert np.array_equal(again, returns)
        assert json.loads((run_dir / "eval.json").read_text())["mean_return"] == pytest.approx(returns.mean())
        header = (run_dir / "progress.txt").read_text().splitlines()[0].split("\t")
        assert {"AverageEpRet", "TotalEnvInteracts", "SigmaR", "StepNorm", "Time"} <= set(header)
        assert "AverageVVals" not in header  # ARS has no critic


def test_cli_trains_evaluates_and_lists_ars(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "ars", "--env", "CartPole-v1", "--epochs", "2", "--n-directions", "4", "--top-b", "2",
                 "--out", str(out), "--quiet", "--eval-episodes", "2"]) == 0  # fmt: skip
    config = json.loads((out / "config.json").read_text())
    assert config["algo"] == "ars" and config["hyperparameters"]["num_envs"] == 8
    assert main(["eval", str(out), "--episodes", "3"]) == 0
    assert "over 3 deterministic episodes" in capsys.readouterr().out
    assert main(["train", "ars", "--env", "pgrl/ContinuousCartPole-v0", "--epochs", "1", "--hidden-sizes", "4",
                 "--out", str(tmp_path / "mlp"), "--quiet", "--eval-episodes", "1"]) == 0  # fmt: skip
    assert pgrl.load(tmp_path / "mlp").ac.pi.mu_net[0].out_features == 4
    capsys.readouterr()
    assert main(["algos"]) == 0
    listing = capsys.readouterr().out
    assert all(f"{name} " in listing for name in ("reinforce", "vpg", "a2c", "ppo", "ars"))


class AnglePaid(gym.Wrapper):
    """CartPole paying 1 + |pole angle| per step: returns that are not a multiple of the episode length."""

    def step(self, action):
        obs, r, term, trunc, info = self.env.step(action)
        return obs, float(r) + abs(float(obs[2])), term, trunc, info


def test_reward_shift_changes_what_the_search_ranks_not_what_is_logged(tmp_path):
    """A shift of 0.75 per step leaves the search a different ranking to learn from: the first iteration runs
    the same episodes and logs the same (raw) returns, and its update differs."""
    runs = {}
    for shift in (0.0, 0.75):
        _, runs[shift] = pgrl.ars(lambda: AnglePaid(gym.make("CartPole-v1")), epochs=1, n_directions=4, top_b=2,
                                  reward_shift=shift, seed=3, verbose=False, eval_episodes=0,
                                  logger_kwargs={"output_dir": str(tmp_path / str(shift))})  # fmt: skip
    plain, shifted = runs[0.0][0], runs[0.75][0]
    assert plain["AverageEpRet"] == shifted["AverageEpRet"] > plain["EpLen"]  # the env's own returns
    assert plain["SigmaR"] != shifted["SigmaR"] and plain["ParamNorm"] != shifted["ParamNorm"]
