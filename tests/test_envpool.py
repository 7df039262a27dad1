"""The optional envpool backend: SAME_STEP semantics on top of envpool's next-step autoreset, and clear errors."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from pgrl.envs import envpool_env, make_vec_env
from pgrl.errors import PgrlError


def test_clear_error_without_envpool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(envpool_env, "envpool_available", lambda: False)
    with pytest.raises(PgrlError, match="pip install envpool"):
        make_vec_env("CartPole-v1", 2, seed=0, vectorization="envpool")


def test_envpool_refuses_a_factory() -> None:
    with pytest.raises(PgrlError, match="registered env id"):
        make_vec_env(lambda: gym.make("CartPole-v1"), 2, vectorization="envpool")  # type: ignore[arg-type]


def test_unknown_env_for_envpool() -> None:
    pytest.importorskip("envpool")
    with pytest.raises(PgrlError, match="envpool has no env"):
        make_vec_env("pgrl/ContinuousCartPole-v0", 2, vectorization="envpool")


def test_same_step_autoreset() -> None:
    """The step that ends an episode returns the next episode's first obs and the true final obs in
    info; the step after it is a real step (reward 1 in CartPole, episode length restarting)."""
    pytest.importorskip("envpool")
    envs = make_vec_env("CartPole-v1", 3, seed=0, vectorization="envpool", max_ep_len=20)
    assert envs.metadata["autoreset_mode"] == gym.vector.AutoresetMode.SAME_STEP
    obs, _ = envs.reset(seed=0)
    assert obs.shape == (3, 4)
    lengths = np.zeros(3, dtype=int)
    ends = 0
    for _ in range(60):
        obs, r, term, trunc, info = envs.step(np.zeros(3, dtype=np.int64))  # always left: falls in ~10 steps
        assert np.all(r == 1.0)  # no fake reset transition with reward 0
        lengths += 1
        done = term | trunc
        assert np.all(lengths <= 20)
        if done.any():
            ends += int(done.sum())
            for i in np.flatnonzero(done):
                final = info["final_obs"][i]
                assert final.shape == (4,) and not np.allclose(final, obs[i])
                assert np.all(np.abs(obs[i]) <= 0.05)  # a fresh start state
            assert all(info["final_obs"][i] is None for i in np.flatnonzero(~done))
            lengths[done] = 0
    assert ends >= 6
    envs.close()


def test_ppo_trains_on_envpool(tmp_path: object) -> None:
    pytest.importorskip("envpool")
    from pgrl import ppo

    _, history = ppo(
        env="CartPole-v1", vectorization="envpool", epochs=2, steps_per_epoch=512, eval_episodes=2,
        verbose=False, logger_kwargs=dict(output_dir=str(tmp_path)), overwrite=True,
    )  # fmt: skip
    assert history[-1]["TotalEnvInteracts"] == 1024
