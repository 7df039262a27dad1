"""An env's own vectorised implementation (``--vec native``, gymnasium's NEXT_STEP autoreset): the collector
sees the same transitions as with a SAME_STEP env, its reset steps are left out of every batch, "auto"
picks it only where it is right, and a native run learns and resumes.

The counting env (tests/conftest.py) runs under gymnasium's SyncVectorEnv in both autoreset modes, so the
two collections can be compared step for step.
"""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode

import pgrl
from pgrl.advantages import gae
from pgrl.agent import Agent
from pgrl.batch import make_batch
from pgrl.envs.vector import has_native_vectorization, make_vec_env, resolve_vectorization
from pgrl.errors import PgrlError
from pgrl.normalize import RewardScaler
from pgrl.rollout import Collector
from tests.test_rollout import KnownValueAC

GAMMA, LAM = 0.9, 0.8


def collect(counting_env, mode: AutoresetMode, T: int, max_ep_len: int | None, reward_scaler=None, **env_kwargs):
    def fn() -> gym.Env:
        env: gym.Env = counting_env(**env_kwargs)
        return gym.wrappers.TimeLimit(env, max_ep_len) if max_ep_len else env

    envs = gym.vector.SyncVectorEnv([fn, fn], autoreset_mode=mode)
    ac = KnownValueAC(envs.single_observation_space, envs.single_action_space)
    agent = Agent(ac, envs.single_observation_space, envs.single_action_space)
    collector = Collector(envs, agent, T, seed=0, reward_scaler=reward_scaler)
    torch.manual_seed(0)
    ro = collector.collect()
    envs.close()
    return ro


def transitions(ro) -> list[list[tuple[float, float, bool, bool, float]]]:
    """Per env, the valid steps as (obs, reward, terminated, truncated, next value)."""
    valid = np.ones_like(ro.rewards, dtype=bool) if ro.valid is None else ro.valid
    columns = (ro.obs[..., 0], ro.rewards, ro.terminated, ro.truncated, ro.next_values)
    kinds = (float, float, bool, bool, float)
    return [
        [tuple(kind(c[t, i]) for kind, c in zip(kinds, columns, strict=True)) for t in range(len(valid)) if valid[t, i]]
        for i in range(valid.shape[1])
    ]


@pytest.mark.parametrize("max_ep_len", [None, 3])  # terminations after 4 steps; truncations after 3
def test_next_step_collection_sees_the_same_transitions_as_same_step(counting_env, max_ep_len):
    same = collect(counting_env, AutoresetMode.SAME_STEP, 12, max_ep_len, episode_len=4)
    nxt = collect(counting_env, AutoresetMode.NEXT_STEP, 15, max_ep_len, episode_len=4)
    assert same.valid is None and nxt.valid is not None
    # the step after each episode's end only resets the copy: it is no transition
    ends = (nxt.terminated | nxt.truncated)[:-1]
    np.testing.assert_array_equal(~nxt.valid[1:], ends)
    assert nxt.valid[0].all()
    n = 12  # transitions per env in both (15 steps, 3 of them resets)
    assert [row[:n] for row in transitions(nxt)] == [row[:n] for row in transitions(same)]
    # the episodes, their lengths and returns are the same; the env steps counted include the resets
    assert nxt.episode_lengths == same.episode_lengths == [max_ep_len or 4] * len(same.episode_lengths)
    assert nxt.episode_returns == same.episode_returns
    assert nxt.num_steps == 30 and nxt.num_transitions == 24 == same.num_transitions
    if max_ep_len:  # a truncation bootstraps from V(true final obs) = V([3]) = 103, in both modes
        assert (nxt.next_values[nxt.truncated] == 103.0).all() and nxt.truncated.any()


def test_reward_scaling_counts_no_reset_step(counting_env):
    scalers = {mode: RewardScaler(2, GAMMA) for mode in AutoresetMode if mode != AutoresetMode.DISABLED}
    same = collect(counting_env, AutoresetMode.SAME_STEP, 12, 3, scalers[AutoresetMode.SAME_STEP], episode_len=4)
    nxt = collect(counting_env, AutoresetMode.NEXT_STEP, 16, 3, scalers[AutoresetMode.NEXT_STEP], episode_len=4)
    # the same episodes' returns in the statistics (the reset steps' zeros left out), the same scaled rewards
    same_rms, next_rms = scalers[AutoresetMode.SAME_STEP].rms, scalers[AutoresetMode.NEXT_STEP].rms
    assert next_rms.count == same_rms.count == pytest.approx(24 + 1e-4)
    np.testing.assert_allclose([next_rms.mean, next_rms.var], [same_rms.mean, same_rms.var], rtol=1e-12)
    assert [row[:12] for row in transitions(nxt)] == [row[:12] for row in transitions(same)]
    assert not np.allclose(same.rewards, 1.0)  # scaled


def test_reset_steps_are_left_out_of_the_batch_and_advantages_do_not_cross_them(counting_env):
    same = collect(counting_env, AutoresetMode.SAME_STEP, 12, None, episode_len=4)
    nxt = collect(counting_env, AutoresetMode.NEXT_STEP, 15, None, episode_len=4)
    args = (GAMMA, LAM)
    adv_s, _ = gae(same.rewards, same.values, same.next_values, same.terminated, same.truncated, *args)
    adv_n, ret_n = gae(nxt.rewards, nxt.values, nxt.next_values, nxt.terminated, nxt.truncated, *args)
    batch = make_batch(nxt, adv_n, ret_n, keep=nxt.valid)
    assert len(batch) == 24
    # the valid rows, time-major, hold the same advantages as the SAME_STEP rollout's first 12 steps
    per_env = [adv_n[:, i][nxt.valid[:, i]][:12] for i in range(2)]
    np.testing.assert_allclose(np.stack(per_env, 1), adv_s, rtol=1e-6)
    assert np.isin(batch.adv.numpy(), adv_n[nxt.valid]).all()
    assert not np.isin(batch.obs.numpy()[:, 0], [4.0]).any()  # a reset step's input is the final obs [4]


def test_auto_picks_the_native_env_only_where_it_is_right() -> None:
    assert has_native_vectorization("CartPole-v1")
    assert not has_native_vectorization("LunarLander-v3")
    assert resolve_vectorization("CartPole-v1", "auto") == "native"
    assert resolve_vectorization("LunarLander-v3", "auto") == "sync"
    assert resolve_vectorization(lambda: gym.make("CartPole-v1"), "auto") == "sync"  # a factory: its own env
    assert resolve_vectorization("CartPole-v1", "auto", per_copy_seeds=True) == "sync"
    assert resolve_vectorization("CartPole-v1", "async") == "async"
    with pytest.raises(PgrlError, match="no native vectorised implementation"):
        make_vec_env("LunarLander-v3", 2, vectorization="native")
    with pytest.raises(PgrlError, match="native"):
        resolve_vectorization("CartPole-v1", "native", per_copy_seeds=True)


def test_ars_refuses_a_native_env_and_auto_gives_it_sync(tmp_path: Path) -> None:
    with pytest.raises(PgrlError, match="native"):
        pgrl.ars("CartPole-v1", vectorization="native", epochs=1, verbose=False,
                 logger_kwargs={"output_dir": str(tmp_path / "a")})  # fmt: skip
    pgrl.ars("CartPole-v1", epochs=1, verbose=False, logger_kwargs={"output_dir": str(tmp_path / "b")})
    assert json.loads((tmp_path / "b" / "config.json").read_text())["vectorization"] == "sync"


def test_a_native_run_learns_records_native_and_resumes_bit_identically(tmp_path: Path) -> None:
    kwargs = dict(steps_per_epoch=2000, num_envs=4, seed=3, anneal_lr=False, verbose=False, eval_episodes=0)
    _, full = pgrl.ppo("CartPole-v1", epochs=4, logger_kwargs={"output_dir": str(tmp_path / "full")}, **kwargs)
    config = json.loads((tmp_path / "full" / "config.json").read_text())
    assert config["vectorization"] == "native"  # "auto" resolved and recorded
    assert [h["TotalEnvInteracts"] for h in full] == [2000, 4000, 6000, 8000]
    assert full[-1]["AverageEpRet"] > 2 * full[0]["AverageEpRet"]
    part = tmp_path / "part"
    pgrl.ppo("CartPole-v1", epochs=2, logger_kwargs={"output_dir": str(part)}, **kwargs)
    _, resumed = pgrl.ppo("CartPole-v1", epochs=4, resume=str(part), **kwargs)
    for a, b in zip(full[2:], resumed[-2:], strict=True):
        assert a["AverageEpRet"] == b["AverageEpRet"] and a["LossPi"] == b["LossPi"]


def test_evaluation_steps_the_native_env_and_counts_no_reset_step(tmp_path):
    from pgrl.evaluate import eval_envs, evaluate

    assert eval_envs("CartPole-v1", 4, 0, None).metadata["autoreset_mode"] == gym.vector.AutoresetMode.NEXT_STEP
    agent, _ = pgrl.ppo(env_fn="CartPole-v1", seed=0, steps_per_epoch=256, epochs=1, num_envs=4, verbose=False,
                        eval_episodes=0, logger_kwargs=dict(output_dir=str(tmp_path)))  # fmt: skip
    torch.set_num_threads(2)
    returns, lengths = evaluate(agent, "CartPole-v1", episodes=7, seed=3)
    assert torch.get_num_threads() == 2  # the caller's threads come back (evaluate runs on one)
    assert len(returns) == 7
    np.testing.assert_array_equal(returns, lengths)  # CartPole pays 1 per step: a counted reset step would show
    again, _ = evaluate(agent, "CartPole-v1", episodes=7, seed=3)
    np.testing.assert_array_equal(returns, again)
