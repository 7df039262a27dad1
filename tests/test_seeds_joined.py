"""K seeds' CartPole-v1 vector envs stepped as one (pgrl.seeds.joined): what each seed's copies see, and each
seed's env state, are those of its own env stepped beside the others (ConcatVectorEnv)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.envs.classic_control.cartpole import CartPoleVectorEnv

import pgrl
import pgrl.seeds.evaluate
import pgrl.seeds.run
from pgrl.envs.concat import ConcatVectorEnv
from pgrl.seeds.joined import JoinedCartPoles, side_by_side
from pgrl.snapshot import encode, env_state


def cartpoles(*counts, **kwargs):
    return [gym.make_vec("CartPole-v1", n, vectorization_mode="vector_entry_point", **kwargs) for n in counts]


def step_alike(a, b, steps, rng):
    for t in range(steps):
        actions = rng.integers(0, 2, a.num_envs)
        for x, y in zip(a.step(actions)[:4], b.step(actions)[:4], strict=True):
            np.testing.assert_array_equal(x, y, err_msg=f"step {t}")


def same_states(envs_a, envs_b):
    for a, b in zip(envs_a, envs_b, strict=True):
        assert encode(env_state(a)) == encode(env_state(b))  # arrays, tallies and the random stream


def test_joined_cartpoles_step_as_the_seeds_own_envs_side_by_side():
    apart, joined = ConcatVectorEnv(cartpoles(3, 5, 2)), side_by_side(cartpoles(3, 5, 2))
    assert isinstance(joined, JoinedCartPoles)
    obs_a, _ = apart.reset(seed=[1, 2, 3])
    obs_b, _ = joined.reset(seed=[1, 2, 3])
    np.testing.assert_array_equal(obs_a, obs_b)
    rng = np.random.default_rng(0)
    step_alike(apart, joined, 3000, rng)  # random actions: hundreds of episodes end and restart
    same_states(apart.envs, joined.envs)
    # a seed leaves: the others' envs, joined anew, go on from where they stand
    step_alike(
        ConcatVectorEnv([apart.envs[0], apart.envs[2]]), side_by_side([joined.envs[0], joined.envs[2]]), 500, rng
    )
    same_states(apart.envs, joined.envs)


def test_only_alike_unwrapped_cartpoles_are_joined():
    class Heavier(CartPoleVectorEnv):
        pass

    assert isinstance(side_by_side(cartpoles(2, 2)), JoinedCartPoles)
    unlike = [cartpoles(2)[0], cartpoles(2, max_episode_steps=100)[0]]
    wrapped = [cartpoles(2)[0], gym.wrappers.vector.RecordEpisodeStatistics(cartpoles(2)[0])]
    for envs in (unlike, wrapped, [Heavier(2), Heavier(2)]):
        assert type(side_by_side(envs)) is ConcatVectorEnv
    gravity = cartpoles(2, 2)
    gravity[1].gravity = 20.0
    assert type(side_by_side(gravity)) is ConcatVectorEnv


@pytest.mark.parametrize("eval_episodes", [0, 3])
def test_a_group_of_cartpole_seeds_learns_as_with_its_envs_apart(tmp_path, monkeypatch, eval_episodes):
    kw = dict(env_fn="CartPole-v1", seed=[0, 7], steps_per_epoch=256, epochs=2, num_envs=4, minibatch_size=64,
              update_epochs=2, eval_episodes=eval_episodes, verbose=False)  # fmt: skip
    joined = pgrl.ppo(**kw, logger_kwargs=dict(output_dir=str(tmp_path / "joined")))
    for module in (pgrl.seeds.run, pgrl.seeds.evaluate):
        monkeypatch.setattr(module, "side_by_side", ConcatVectorEnv)
    apart = pgrl.ppo(**kw, logger_kwargs=dict(output_dir=str(tmp_path / "apart")))
    for (a, ha), (b, hb) in zip(joined, apart, strict=True):
        for x, y in zip(a.ac.parameters(), b.ac.parameters(), strict=True):
            assert (x == y).all()
        assert [r["AverageEpRet"] for r in ha] == [r["AverageEpRet"] for r in hb]
        assert [r.get("EvalAverageEpRet") for r in ha] == [r.get("EvalAverageEpRet") for r in hb]
