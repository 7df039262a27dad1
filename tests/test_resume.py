"""Resuming a run: bit-identical to an uninterrupted one on CartPole, progress.txt without duplicated or
missing epochs, env state captured where the env allows it, and a plain restart where it does not."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch

from pgrl import ppo
from pgrl.checkpoint import load_checkpoint, save_checkpoint
from pgrl.errors import PgrlError, TrainingInterrupted
from pgrl.snapshot import decode, encode, env_state, rng_state, set_env_state, set_rng_state, vector_env_state

REPO_ROOT = Path(__file__).resolve().parents[1]

CLI_BASE = ["--env", "CartPole-v1", "--steps-per-epoch", "64", "--num-envs", "2", "--minibatch-size", "32",
            "--update-epochs", "2", "--hidden-sizes", "16", "--eval-episodes", "0", "--quiet"]  # fmt: skip
TINY = dict(steps_per_epoch=64, num_envs=2, minibatch_size=32, update_epochs=2, ac_kwargs=dict(hidden_sizes=(16,)),
            eval_episodes=0, verbose=False)  # fmt: skip


def assert_same(a: Any, b: Any, path: str = "checkpoint") -> None:
    """Recursively equal; tensors bit for bit."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b), path
    elif isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), f"{path}: keys {sorted(a)} != {sorted(b)}"
        for k in a:
            assert_same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list | tuple):
        assert type(a) is type(b) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{path}[{i}]")
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


def progress_rows(run_dir: Path) -> tuple[list[str], list[list[str]]]:
    lines = (run_dir / "progress.txt").read_text().splitlines()
    header = lines[0].split("\t")
    return header, [line.split("\t") for line in lines[1:]]


def deterministic_columns(run_dir: Path) -> list[list[str]]:
    """progress.txt without the wall-clock columns."""
    header, rows = progress_rows(run_dir)
    keep = [i for i, c in enumerate(header) if c not in ("Time", "StepsPerSecond")]
    return [[row[i] for i in keep] for row in rows]


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "pgrl", "train", "ppo", *args]


def wait_for_rows(proc: subprocess.Popen, progress: Path, rows: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if progress.exists() and len(progress.read_text().splitlines()) - 1 >= rows:
            return
        if proc.poll() is not None:
            raise AssertionError(f"training ended (rc {proc.returncode}) before {rows} rows: {proc.stderr.read()}")
        time.sleep(0.01)
    raise AssertionError(f"no {rows} rows in {progress} after {timeout} s")


def test_cli_sigint_then_resume_is_bit_identical(tmp_path: Path) -> None:
    """The real CLI: SIGINT once progress.txt shows k rows, --resume, same parameters as a straight run."""
    epochs = 14
    k = random.randint(1, 5)
    args = [*CLI_BASE, "--epochs", str(epochs), "--seed", "5", "--save-freq", "100"]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    straight = subprocess.Popen(cli(*args, "--out", str(tmp_path / "a")), env=env, cwd=tmp_path,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    interrupted = subprocess.Popen(cli(*args, "--out", str(tmp_path / "b")), env=env, cwd=tmp_path,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    wait_for_rows(interrupted, tmp_path / "b" / "progress.txt", k)
    interrupted.send_signal(signal.SIGINT)
    _, err = interrupted.communicate(timeout=120)
    assert interrupted.returncode == 130, err
    assert f"--resume {tmp_path / 'b'}" in err and "checkpoint of epoch" in err
    stopped_at = load_checkpoint(tmp_path / "b")["epoch"]
    assert k <= stopped_at < epochs, f"k={k}"
    assert [int(r[0]) for r in progress_rows(tmp_path / "b")[1]] == list(range(1, stopped_at + 1))

    resumed = subprocess.run(cli("--resume", str(tmp_path / "b"), "--quiet", "--eval-episodes", "0"), env=env,
                             cwd=tmp_path, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert straight.wait(timeout=120) == 0, straight.stderr.read() if straight.stderr else ""

    a, b = load_checkpoint(tmp_path / "a"), load_checkpoint(tmp_path / "b")
    for name in a["ac"]:
        assert torch.equal(a["ac"][name], b["ac"][name]), f"{name} differs after resuming at epoch {stopped_at}"
    assert_same(a, b)  # optimizers, RNG states, env state and counters too
    assert deterministic_columns(tmp_path / "a") == deterministic_columns(tmp_path / "b")


@pytest.mark.parametrize(
    "options",
    [
        dict(norm_obs=True, max_ep_len=20),  # observation statistics and two time limits
        dict(vf_lr=1e-3, target_kl=0.01, anneal_lr=True),  # Spinning Up's two optimizers, early stopping
    ],
)
def test_python_resume_after_interrupt_is_bit_identical(tmp_path: Path, options: dict[str, Any]) -> None:
    kw = dict(env_fn="CartPole-v1", epochs=5, seed=11, **TINY, **options)
    _, straight_history = ppo(**kw, logger_kwargs={"output_dir": str(tmp_path / "a")})

    def interrupt_at_epoch_2(epoch: int, stats: dict, agent: Any) -> None:
        if epoch == 2:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(TrainingInterrupted) as info:
        ppo(**kw, logger_kwargs={"output_dir": str(tmp_path / "b")}, callback=interrupt_at_epoch_2)
    assert isinstance(info.value, KeyboardInterrupt) and info.value.epoch == 2 and not info.value.complete
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handlers given back

    _, history = ppo(resume=str(tmp_path / "b"), eval_episodes=0, verbose=False)
    assert [row["Epoch"] for row in history] == [1, 2, 3, 4, 5]
    assert_same(load_checkpoint(tmp_path / "a"), load_checkpoint(tmp_path / "b"))
    assert deterministic_columns(tmp_path / "a") == deterministic_columns(tmp_path / "b")
    assert history[-1]["TotalEnvInteracts"] == straight_history[-1]["TotalEnvInteracts"]


def test_resume_drops_rows_logged_after_the_checkpoint(tmp_path: Path) -> None:
    """Killed between logging and checkpointing: the rows past the checkpoint's epoch go, none is repeated."""
    run = tmp_path / "run"
    ppo("CartPole-v1", epochs=3, **TINY, logger_kwargs={"output_dir": str(run)})
    progress = run / "progress.txt"
    header = progress.read_text().splitlines()[0]
    fake = "\t".join(["4"] + ["-1"] * (len(header.split("\t")) - 1))
    progress.write_text(progress.read_text() + fake + "\n" + "5\t1.5\t2")  # a stale row and a torn one

    _, history = ppo(resume=str(run), epochs=5, eval_episodes=0, verbose=False)
    epochs = [int(r[0]) for r in progress_rows(run)[1]]
    assert epochs == [1, 2, 3, 4, 5] == [row["Epoch"] for row in history]
    assert progress_rows(run)[1][3][1:] != fake.split("\t")[1:]
    assert load_checkpoint(run)["epoch"] == 5


def test_resume_continues_the_time_column(tmp_path: Path) -> None:
    run = tmp_path / "run"
    ppo("CartPole-v1", epochs=2, **TINY, logger_kwargs={"output_dir": str(run)})
    _, history = ppo(resume=str(run), epochs=3, eval_episodes=0, verbose=False)
    assert history[2]["Time"] >= history[1]["Time"]


class SimulatorEnv(gym.Env):
    """An env holding a simulator object that cannot be captured as plain data (like Box2D's world)."""

    def __init__(self) -> None:
        self.observation_space = gym.spaces.Box(-10.0, 10.0, shape=(2,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.world = object()
        self.t = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.t = 0
        return self.np_random.uniform(-1, 1, size=2).astype(np.float32), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        self.t += 1
        return self.np_random.uniform(-1, 1, size=2).astype(np.float32), 1.0, self.t >= 7, False, {}


def test_envs_that_cannot_be_captured_restart_their_episodes(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = tmp_path / "run"
    ppo(SimulatorEnv, epochs=2, **{**TINY, "verbose": False}, logger_kwargs={"output_dir": str(run)})
    assert load_checkpoint(run)["collector"]["envs"] is None
    capsys.readouterr()
    _, history = ppo(SimulatorEnv, resume=str(run), epochs=3, eval_episodes=0, verbose=True)
    assert "episodes start afresh" in capsys.readouterr().out
    assert [row["Epoch"] for row in history] == [1, 2, 3]
    with pytest.raises(PgrlError, match=r"made by the function .*SimulatorEnv; pass the same env_fn"):  # pass it again
        ppo(resume=str(run), epochs=4, eval_episodes=0, verbose=False)


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Acrobot-v1", "MountainCarContinuous-v0", "Pendulum-v1"])
def test_classic_control_state_round_trips(env_id: str) -> None:
    """Capture mid-episode, restore into a fresh env: the same actions give the same transitions."""
    a = gym.make(env_id, max_episode_steps=30)
    a.reset(seed=1)
    a.action_space.seed(2)
    for _ in range(7):
        a.step(a.action_space.sample())
    saved = env_state(a)
    assert saved is not None
    b = gym.make(env_id, max_episode_steps=30)
    b.reset(seed=99)
    assert set_env_state(b, decode(encode(saved)))
    for _ in range(40):  # past the time limit and through resets, which draw from the env's np_random
        action = a.action_space.sample()
        out_a, out_b = a.step(action), b.step(action)
        np.testing.assert_array_equal(out_a[0], out_b[0])
        assert out_a[1:4] == out_b[1:4]
        if out_a[2] or out_a[3]:
            np.testing.assert_array_equal(a.reset()[0], b.reset()[0])


@pytest.mark.parametrize(
    ("env_id", "kwargs"),
    [("FrozenLake-v1", {}), ("Taxi-v4", {}), ("CliffWalking-v1", {"is_slippery": True}), ("Blackjack-v1", {})],
)
def test_toy_text_state_round_trips(env_id: str, kwargs: dict[str, Any]) -> None:
    """Their position, last action and cards are saved (a map's letters and the cards' str scalars included);
    the transition table is not: the constructor makes it again from the same arguments."""
    a = gym.make(env_id, **kwargs)
    a.reset(seed=1)
    a.action_space.seed(2)
    for _ in range(3):
        if any(a.step(a.action_space.sample())[2:4]):
            a.reset()
    saved = env_state(a)
    assert saved is not None and "P" not in saved["attrs"]
    b = gym.make(env_id, **kwargs)
    b.reset(seed=99)
    assert set_env_state(b, decode(encode(saved)))
    for _ in range(60):  # through ends and resets, which draw from the env's np_random
        action = a.action_space.sample()
        out_a, out_b = a.step(action), b.step(action)
        assert out_a[:4] == out_b[:4]
        np.testing.assert_equal(out_a[4], out_b[4])  # the info (Taxi's action mask, probabilities)
        if out_a[2] or out_a[3]:
            np.testing.assert_equal(a.reset(), b.reset())


def test_a_toy_text_run_resumes_bit_identically(tmp_path: Path) -> None:
    kw = dict(env_fn="Taxi-v4", epochs=4, seed=3, **TINY)
    ppo(**kw, logger_kwargs={"output_dir": str(tmp_path / "a")})
    ppo(**kw, logger_kwargs={"output_dir": str(tmp_path / "b")}, callback=lambda epoch, stats, agent: epoch < 2)
    ppo(resume=str(tmp_path / "b"), eval_episodes=0, verbose=False)
    a, b = load_checkpoint(tmp_path / "a"), load_checkpoint(tmp_path / "b")
    assert a["collector"]["envs"] is not None  # the envs' state was saved, so the resumed run continued them
    assert_same(a, b)
    assert deterministic_columns(tmp_path / "a") == deterministic_columns(tmp_path / "b")


def test_box2d_envs_are_not_captured() -> None:
    envs = gym.vector.SyncVectorEnv([lambda: gym.make("LunarLander-v3")])
    envs.reset(seed=0)
    assert vector_env_state(envs) is None
    envs.close()


def test_rng_state_round_trips() -> None:
    state = rng_state()
    first = (random.random(), np.random.rand(), torch.rand(3))
    set_rng_state(state)
    second = (random.random(), np.random.rand(), torch.rand(3))
    assert first[:2] == second[:2] and torch.equal(first[2], second[2])


@pytest.mark.parametrize(
    "value",
    [np.arange(6, dtype=np.float32).reshape(2, 3) / 7, np.array([1, -2], dtype=np.int8), np.float64(1 / 3),
     np.array(True), (1, [2.5, None], {"k": "v"}), 2**127 + 1, np.array([[b"S", b"F"], [b"H", b"G"]]),
     np.str_("7"), np.array(["a", "bc"])],
)  # fmt: skip
def test_encode_decode_round_trip(value: Any) -> None:
    out = decode(encode(value))
    if isinstance(value, np.ndarray | np.generic):
        assert type(out) is type(value) and out.dtype == value.dtype
        np.testing.assert_array_equal(out, value)
    else:
        assert out == value


ALGO_OPTIONS: dict[str, dict[str, Any]] = {
    "ppo": TINY,
    "vpg": dict(steps_per_epoch=64, num_envs=2, train_v_iters=2, ac_kwargs=dict(hidden_sizes=(16,))),
    "reinforce": dict(steps_per_epoch=64, num_envs=2, ac_kwargs=dict(hidden_sizes=(16,))),
    "a2c": dict(steps_per_epoch=64, num_envs=2, ac_kwargs=dict(hidden_sizes=(16,))),
    "ars": dict(n_directions=2, top_b=1, max_ep_len=40),
}


@pytest.mark.parametrize("algo", sorted(ALGO_OPTIONS))
def test_every_algorithm_resumes_bit_identically(tmp_path: Path, algo: str) -> None:
    """The Run API (resolve_hyperparameters, Run(resume=...), run.attach) as each algorithm file wires it."""
    from pgrl.algos.registry import ALGORITHMS

    if algo not in ALGORITHMS:
        pytest.skip(f"{algo} is not registered")
    fn = ALGORITHMS[algo].fn
    kw = dict(env_fn="CartPole-v1", epochs=4, seed=2, **{"eval_episodes": 0, "verbose": False, **ALGO_OPTIONS[algo]})
    fn(**kw, logger_kwargs={"output_dir": str(tmp_path / "a")})

    def interrupt(epoch: int, stats: dict, agent: Any) -> None:
        if epoch == 2:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(TrainingInterrupted):
        fn(**kw, logger_kwargs={"output_dir": str(tmp_path / "b")}, callback=interrupt)
    fn(resume=str(tmp_path / "b"), eval_episodes=0, verbose=False)
    assert_same(load_checkpoint(tmp_path / "a"), load_checkpoint(tmp_path / "b"))
    assert deterministic_columns(tmp_path / "a") == deterministic_columns(tmp_path / "b")


def test_numpy_scalars_in_env_state_survive_the_safe_loader(tmp_path: Path) -> None:
    # numpy's float64 is a Python float subclass; saved as such it made torch's weights_only loader refuse the
    # checkpoint (Blackjack-v1 keeps one in its state)
    state = encode({"x": np.float64(0.5), "n": np.int64(3), "plain": 1.5})
    save_checkpoint(tmp_path, {"env": state})
    back = decode(load_checkpoint(tmp_path)["env"])
    assert back == {"x": 0.5, "n": 3, "plain": 1.5} and type(back["x"]) is np.float64


class MaskedSteps(gym.Env):
    """Plain-data state (its state can be saved), a random info["action_mask"] every step, 6-step episodes."""

    def __init__(self) -> None:
        self.observation_space = gym.spaces.Box(0.0, 10.0, (1,), np.float32)
        self.action_space = gym.spaces.Discrete(3)
        self.t = 0

    def _mask(self) -> dict:
        mask = self.np_random.integers(0, 2, 3).astype(np.int8)
        mask[self.t % 3] = 1
        return {"action_mask": mask}

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.t = 0
        return np.array([0.0], np.float32), self._mask()

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        self.t += 1
        return np.array([self.t], np.float32), float(action), self.t >= 6, False, self._mask()


def test_a_masked_env_resumes_bit_identically(tmp_path: Path) -> None:
    # the info["action_mask"] of the current observations is kept in the checkpoint with the envs' state
    kwargs = dict(TINY, epochs=4, save_freq=1)
    _, full = ppo(MaskedSteps, **kwargs, logger_kwargs={"output_dir": str(tmp_path / "full")})
    ppo(MaskedSteps, **kwargs, logger_kwargs={"output_dir": str(tmp_path / "cut")}, callback=lambda e, s, a: e < 1)
    assert load_checkpoint(tmp_path / "cut")["collector"]["mask"] is not None
    _, resumed = ppo(MaskedSteps, resume=str(tmp_path / "cut"), epochs=4, verbose=False, eval_episodes=0)
    wall = ("Time", "StepsPerSecond")
    assert [{k: v for k, v in r.items() if k not in wall} for r in resumed[2:]] == [
        {k: v for k, v in r.items() if k not in wall} for r in full[2:]
    ]
