"""Save, load and act: a reloaded agent acts like the trained one; unsafe or broken checkpoints are refused."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

import pgrl
from pgrl import PgrlError
from pgrl.checkpoint import load_checkpoint, save_checkpoint
from pgrl.rundir import CHECKPOINT as CHECKPOINT_FILE


def _write_marker(path: str) -> None:
    Path(path).write_text("code ran")


class Evil:
    """Unpickling this object would call _write_marker: the kind of payload weights_only must refuse."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (_write_marker, (self.marker,))


@pytest.fixture(scope="module")
def cartpole_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("cartpole") / "run"
    agent, history = pgrl.ppo(
        "CartPole-v1", epochs=2, seed=0, verbose=False, eval_episodes=0, logger_kwargs={"output_dir": str(run_dir)}
    )
    return run_dir, agent, history


@pytest.fixture
def run_copy(cartpole_run, tmp_path):
    """A copy of the trained run that a test may damage."""
    dst = tmp_path / "copy"
    shutil.copytree(cartpole_run[0], dst)
    return dst


def _obs_batch(n: int = 256) -> np.ndarray:
    rng = np.random.default_rng(0)
    return (rng.normal(size=(n, 4)) * np.array([1.0, 1.0, 0.1, 1.0])).astype(np.float32)


def test_run_dir_contents(cartpole_run):
    run_dir, _, history = cartpole_run
    assert {"config.json", "progress.txt", CHECKPOINT_FILE} <= {p.name for p in run_dir.iterdir()}
    assert not list(run_dir.glob("*.tmp"))
    state = load_checkpoint(run_dir)
    assert state["epoch"] == len(history) == 2
    assert state["total_steps"] == history[-1]["TotalEnvInteracts"]


def test_load_gives_the_same_actions_and_values(cartpole_run):
    run_dir, agent, _ = cartpole_run
    loaded = pgrl.load(run_dir)
    obs = _obs_batch()
    expected = agent.act(obs, deterministic=True)
    assert set(np.unique(expected)) == {0, 1}, "the comparison needs a policy whose action depends on obs"
    np.testing.assert_array_equal(loaded.act(obs, deterministic=True), expected)
    np.testing.assert_allclose(loaded.value(obs), agent.value(obs), rtol=1e-6)
    for (k1, v1), (k2, v2) in zip(agent.ac.state_dict().items(), loaded.ac.state_dict().items(), strict=True):
        assert k1 == k2
        assert torch.equal(v1, v2)
    assert loaded.config["env_id"] == "CartPole-v1"
    # evaluation of both agents gives the same returns
    r1, _ = pgrl.evaluate(agent, "CartPole-v1", episodes=3, seed=5)
    r2, _ = pgrl.evaluate(loaded, "CartPole-v1", episodes=3, seed=5)
    np.testing.assert_array_equal(r1, r2)


def test_plain_gymnasium_loop_with_single_obs(cartpole_run):
    run_dir, trained, _ = cartpole_run
    agent = pgrl.load(run_dir)
    env = gym.make("CartPole-v1")
    obs, _ = env.reset(seed=0)
    steps = 0
    while True:
        action = agent.act(obs, deterministic=True)
        assert type(action) is int
        assert action == trained.act(obs, deterministic=True)
        obs, _, terminated, truncated, _ = env.step(action)
        steps += 1
        if terminated or truncated:
            break
    assert steps >= 1
    assert type(agent.act(obs)) is int  # stochastic too
    env.close()


def test_box_run_round_trip(tmp_path):
    run_dir = tmp_path / "pendulum"
    agent, _ = pgrl.ppo(
        "Pendulum-v1",
        epochs=1,
        steps_per_epoch=64,
        num_envs=2,
        minibatch_size=64,
        update_epochs=2,
        verbose=False,
        eval_episodes=0,
        logger_kwargs={"output_dir": str(run_dir)},
    )
    loaded = pgrl.load(run_dir)
    rng = np.random.default_rng(1)
    obs = rng.uniform(-1, 1, size=(32, 3)).astype(np.float32)
    np.testing.assert_allclose(loaded.act(obs, deterministic=True), agent.act(obs, deterministic=True), rtol=1e-6)
    single = loaded.act(obs[0], deterministic=True)
    assert isinstance(single, np.ndarray) and single.shape == (1,)
    assert -2.0 <= float(single[0]) <= 2.0
    assert isinstance(loaded.action_space, gym.spaces.Box)
    np.testing.assert_array_equal(loaded.action_space.high, [2.0])


# ------------------------------------------------------------------ refusing unsafe and broken files


def test_pickled_object_is_refused_and_never_executed(run_copy, tmp_path):
    marker = tmp_path / "marker.txt"
    payload = {"format": "pgrl-checkpoint", "version": 1, "ac": Evil(str(marker))}
    torch.save(payload, run_copy / CHECKPOINT_FILE)
    with pytest.raises(PgrlError, match="refused"):
        load_checkpoint(run_copy)
    with pytest.raises(PgrlError):
        pgrl.load(run_copy)
    assert not marker.exists(), "loading a checkpoint executed code"

    # the payload is real: an unsafe torch.load would have run it
    probe_marker = tmp_path / "probe.txt"
    probe = tmp_path / "probe.pt"
    torch.save({"x": Evil(str(probe_marker))}, probe)
    torch.load(probe, weights_only=False)
    assert probe_marker.exists()


def test_missing_checkpoint_config_or_dir(tmp_path, run_copy):
    with pytest.raises(PgrlError, match="no checkpoint"):
        load_checkpoint(tmp_path / "empty")
    with pytest.raises(PgrlError):
        pgrl.load(tmp_path / "does-not-exist")
    (run_copy / CHECKPOINT_FILE).unlink()
    with pytest.raises(PgrlError, match="no checkpoint"):
        pgrl.load(run_copy)


def test_missing_or_corrupt_config(run_copy):
    (run_copy / "config.json").write_text("{not json")
    with pytest.raises(PgrlError, match="config"):
        pgrl.load(run_copy)
    (run_copy / "config.json").unlink()
    with pytest.raises(PgrlError, match="config"):
        pgrl.load(run_copy)


def test_truncated_checkpoint(run_copy):
    path = run_copy / CHECKPOINT_FILE
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(PgrlError):
        load_checkpoint(run_copy)
    with pytest.raises(PgrlError):
        pgrl.load(run_copy)


@pytest.mark.parametrize("content", [b"", b"garbage" * 100, os.urandom(2048)])
def test_garbage_checkpoint(run_copy, content):
    (run_copy / CHECKPOINT_FILE).write_bytes(content)
    with pytest.raises(PgrlError):
        pgrl.load(run_copy)


def test_foreign_torch_file(run_copy):
    torch.save({"foo": torch.zeros(3)}, run_copy / CHECKPOINT_FILE)
    with pytest.raises(PgrlError, match="not a pgrl checkpoint"):
        pgrl.load(run_copy)
    torch.save(torch.zeros(3), run_copy / CHECKPOINT_FILE)
    with pytest.raises(PgrlError, match="not a pgrl checkpoint"):
        pgrl.load(run_copy)


def test_other_checkpoint_version(run_copy):
    state = torch.load(run_copy / CHECKPOINT_FILE, weights_only=True)
    state["version"] = 99
    torch.save(state, run_copy / CHECKPOINT_FILE)
    with pytest.raises(PgrlError, match="version"):
        pgrl.load(run_copy)


def test_checkpoint_that_does_not_fit_its_network(run_copy):
    config = json.loads((run_copy / "config.json").read_text())
    config["ac_kwargs"]["hidden_sizes"] = [7]
    (run_copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(PgrlError, match="does not fit"):
        pgrl.load(run_copy)


def test_save_checkpoint_round_trip_is_atomic(tmp_path):
    state = {"ac": {"w": torch.arange(6.0).reshape(2, 3)}, "epoch": 3, "obs_rms": None}
    path = save_checkpoint(tmp_path, state)
    assert path == tmp_path / CHECKPOINT_FILE
    assert sorted(p.name for p in tmp_path.iterdir()) == [CHECKPOINT_FILE]
    back = load_checkpoint(tmp_path)
    assert back["epoch"] == 3 and back["obs_rms"] is None
    assert torch.equal(back["ac"]["w"], state["ac"]["w"])
    # a file path works as well as the run directory
    assert load_checkpoint(path)["epoch"] == 3
