"""Bad input gets one line on stderr and exit status 2, no traceback (``--debug`` shows it); checkpoints
load tensors and plain data only, so a planted pickle payload is refused without running."""

from __future__ import annotations

import io
import os
import pickle
import shutil
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch

import pgrl
from pgrl.cli import main
from pgrl.errors import PgrlError

TINY = ["--steps-per-epoch", "64", "--num-envs", "2", "--minibatch-size", "32", "--update-epochs", "2",
        "--hidden-sizes", "16", "--eval-episodes", "0", "--quiet"]  # fmt: skip


class SpaceEnv(gym.Env):
    """Observations and actions in the spaces a test asks for; NaN observations on request."""

    def __init__(self, obs: gym.Space | None = None, act: gym.Space | None = None, nan_at: int | None = None) -> None:
        self.observation_space = obs or gym.spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        self.action_space = act or gym.spaces.Discrete(2)
        self.nan_at, self.t = nan_at, 0

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict]:
        super().reset(seed=seed)
        self.t = 0
        return self.observation_space.sample(), {}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        self.t += 1
        obs = self.observation_space.sample()
        if self.nan_at is not None and self.t >= self.nan_at:
            obs = np.full_like(obs, np.nan)
        return obs, 1.0, self.t >= 10, False, {}


ENVS = {
    "PgrlRobust/TextObs-v0": dict(obs=gym.spaces.Text(5)),
    "PgrlRobust/GraphObs-v0": dict(obs=gym.spaces.Graph(gym.spaces.Box(0, 1, (2,)), gym.spaces.Discrete(2))),
    "PgrlRobust/SequenceInDictObs-v0": dict(obs=gym.spaces.Dict({"seq": gym.spaces.Sequence(gym.spaces.Discrete(3))})),
    "PgrlRobust/DictAct-v0": dict(act=gym.spaces.Dict({"a": gym.spaces.Discrete(2)})),
    "PgrlRobust/NaNObs-v0": dict(nan_at=5),
}
for _id, _kwargs in ENVS.items():
    if _id not in gym.registry:
        gym.register(id=_id, entry_point=SpaceEnv, kwargs=_kwargs)


def cli(*argv: str) -> tuple[int, str]:
    err = io.StringIO()
    with redirect_stdout(io.StringIO()), redirect_stderr(err):
        status = main(list(argv))
    return status, err.getvalue()


def one_line_error(*argv: str) -> str:
    status, err = cli(*argv)
    lines = err.strip().splitlines()
    assert status == 2, err
    assert len(lines) == 1 and lines[0].startswith("pgrl: error: "), err
    assert "Traceback" not in err
    return lines[0].removeprefix("pgrl: error: ")


def train(tmp_path: Path, *extra: str) -> str:
    return one_line_error("train", "ppo", "--env", "CartPole-v1", "--epochs", "2", "--out", str(tmp_path / "run"),
                          *TINY, *extra)  # fmt: skip


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--gamma", "1.5"], "gamma must be in [0, 1], got 1.5"),
        (["--gamma", "-0.01"], "gamma must be in [0, 1], got -0.01"),
        (["--lam", "2"], "lam must be in [0, 1], got 2.0"),
        (["--gamma", "nan"], "gamma must be a finite number, got nan"),
        (["--pi-lr", "0"], "pi_lr must be > 0, got 0.0"),
        (["--pi-lr=-3e-4"], "pi_lr must be > 0, got -0.0003"),
        (["--pi-lr", "inf"], "pi_lr must be a finite number, got inf"),
        (["--vf-lr", "0"], "vf_lr must be > 0, got 0.0"),
        (["--clip-ratio", "0"], "clip_ratio must be > 0, got 0.0"),
        (["--target-kl", "-1"], "target_kl must be > 0, got -1.0"),
        (["--max-grad-norm", "0"], "max_grad_norm must be > 0, got 0.0"),
        (["--ent-coef", "-0.1"], "ent_coef must be >= 0, got -0.1"),
        (["--vf-coef", "-1"], "vf_coef must be >= 0, got -1.0"),
        (["--steps-per-epoch", "0"], "steps_per_epoch must be a positive integer, got 0"),
        (["--epochs", "0"], "epochs must be a positive integer, got 0"),
        (["--epochs", "-5"], "epochs must be a positive integer, got -5"),
        (["--num-envs", "0"], "num_envs must be a positive integer, got 0"),
        (["--update-epochs", "0"], "update_epochs must be a positive integer, got 0"),
        (["--minibatch-size", "0"], "minibatch_size must be a positive integer, got 0"),
        (["--save-freq", "0"], "save_freq must be a positive integer, got 0"),
        (["--max-ep-len", "0"], "max_ep_len must be a positive integer, got 0"),
        (["--minibatch-size", "65"], "minibatch_size 65 is larger than the batch of 64 steps per epoch"),
        (["--hidden-sizes", "0"], "hidden_sizes must be a list of positive integers, got (0,)"),
        (["--hidden-sizes", "16", "-3"], "hidden_sizes must be a list of positive integers, got (16, -3)"),
        (["--activation", "eval"], "unknown activation 'eval'; choose one of tanh, relu"),
        (["--eval-episodes", "-1"], "eval_episodes must be an integer >= 0 (0: no evaluation), got -1"),
        (["--vf-lr", "1e-3", "--shared-optimizer"], "vf_lr and train_v_iters need shared_optimizer=False"),
    ],
)
def test_invalid_hyperparameters(tmp_path: Path, flags: list[str], message: str) -> None:
    assert message in train(tmp_path, *flags)
    assert not (tmp_path / "run").exists()  # refused before anything is written


def test_unknown_env_suggests_close_ids(tmp_path: Path) -> None:
    message = one_line_error("train", "ppo", "--env", "CartPol-v1", "--out", str(tmp_path), *TINY)
    assert message.startswith("unknown environment id 'CartPol-v1'; did you mean CartPole-v1")


def test_env_is_required_unless_resuming() -> None:
    assert one_line_error("train", "ppo", *TINY) == "pgrl train needs --env ID (or --resume RUN_DIR to continue a run)"


@pytest.mark.parametrize(
    "env_id, message",
    [
        ("PgrlRobust/TextObs-v0", "unsupported observation space Text("),
        ("PgrlRobust/GraphObs-v0", "unsupported observation space Graph("),
        ("PgrlRobust/SequenceInDictObs-v0", "unsupported observation space Sequence("),
        ("PgrlRobust/DictAct-v0", "unsupported action space Dict("),
    ],
)
def test_unsupported_spaces(tmp_path: Path, env_id: str, message: str) -> None:
    line = one_line_error("train", "ppo", "--env", env_id, "--out", str(tmp_path), *TINY)
    assert line.startswith(message)
    assert "pgrl takes " in line and ("wrap the env" in line or "leave that part out" in line)  # and what to do
    assert not (tmp_path / "progress.txt").exists()


def test_non_finite_observations(tmp_path: Path) -> None:
    message = one_line_error("train", "ppo", "--env", "PgrlRobust/NaNObs-v0", "--out", str(tmp_path), *TINY)
    assert message.startswith("the environment returned a non-finite observation (nan) in env copy 0 from step()")


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    with pytest.raises(PgrlError, match="gamma must be in"), redirect_stdout(io.StringIO()):
        main(["--debug", "train", "ppo", "--env", "CartPole-v1", "--gamma", "2", *TINY])


def test_output_directory_holding_a_run(tmp_path: Path) -> None:
    args = ["train", "ppo", "--env", "CartPole-v1", "--epochs", "1", "--out", str(tmp_path), *TINY]
    assert cli(*args)[0] == 0
    assert one_line_error(*args) == (
        f"{str(tmp_path)!r} already holds a run; choose another output directory, or replace it with "
        "overwrite=True (the command line's --overwrite)"
    )
    assert cli(*args, "--overwrite")[0] == 0


def test_unwritable_output_directory(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    message = train(tmp_path, "--out", str(tmp_path / "file" / "run"))
    assert message.startswith(f"cannot write to output directory {str(tmp_path / 'file' / 'run')!r}")
    if os.geteuid() != 0:  # root writes anywhere
        (tmp_path / "ro").mkdir(mode=0o500)
        assert train(tmp_path, "--out", str(tmp_path / "ro" / "run")).startswith("cannot write to output directory")


# --------------------------------------------------------------------------------------------- checkpoints


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("finished") / "run"
    assert cli("train", "ppo", "--env", "CartPole-v1", "--epochs", "1", "--out", str(run), *TINY)[0] == 0
    return run


def copy_run(run: Path, to: Path) -> Path:
    to.mkdir()
    for f in run.iterdir():
        (to / f.name).write_bytes(f.read_bytes())
    return to


class Payload:
    """Runs a command when unpickled: what a malicious checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return os.system, (f"touch {self.marker}",)


def plant(run: Path, how: str, marker: Path) -> None:
    ckpt = run / "checkpoint.pt"
    if how == "missing":
        ckpt.unlink()
    elif how == "corrupt":
        ckpt.write_bytes(ckpt.read_bytes()[:300])
    elif how == "garbage":
        ckpt.write_bytes(b"\x00not a checkpoint\xff" * 10)
    elif how == "foreign":
        torch.save({"model": torch.zeros(3)}, ckpt)
    elif how == "pickle":  # a torch zip checkpoint hiding an object whose unpickling runs a command
        state = torch.load(ckpt, weights_only=True)
        state["extra"] = Payload(marker)
        torch.save(state, ckpt)
    elif how == "raw-pickle":  # a bare pickle stream (the legacy torch format)
        ckpt.write_bytes(pickle.dumps({"format": "pgrl-checkpoint", "ac": Payload(marker)}, protocol=2))


CHECKPOINT_MESSAGES = {
    "missing": "no checkpoint at ",
    "corrupt": "corrupt checkpoint ",
    "garbage": "corrupt checkpoint ",
    "foreign": "is not a pgrl checkpoint",
    "pickle": "it holds objects other than tensors and plain data (pgrl never unpickles code)",
    "raw-pickle": "it holds objects other than tensors and plain data (pgrl never unpickles code)",
}


@pytest.mark.parametrize("how", list(CHECKPOINT_MESSAGES))
def test_bad_checkpoints_are_refused(finished_run: Path, tmp_path: Path, how: str) -> None:
    run = copy_run(finished_run, tmp_path / "run")
    marker = tmp_path / "PAYLOAD_RAN"
    plant(run, how, marker)
    expected = CHECKPOINT_MESSAGES[how]
    with pytest.raises(PgrlError) as info:
        pgrl.load(run)
    assert expected in str(info.value)
    assert expected in one_line_error("train", "ppo", "--resume", str(run), "--epochs", "3", "--quiet")
    assert expected in one_line_error("eval", str(run), "--episodes", "1")
    with pytest.raises(PgrlError):
        pgrl.ppo(resume=str(run), epochs=3, verbose=False)
    assert not marker.exists(), "the pickle payload ran"


@pytest.mark.parametrize(
    "extra, message",
    [
        ([], "already finished its 1 epochs; pass a larger epochs (--epochs) to train it further"),
        (["--epochs", "3", "--gamma", "0.5"], "gamma=0.5 differs from the resumed run's gamma=0.98"),
        (["--epochs", "3", "--seed", "4"], "--seed 4 differs from the resumed run's seed 0; drop --seed"),
        (["--epochs", "3", "--overwrite"], "overwrite and resume exclude each other"),
        (["--epochs", "3", "--out", "elsewhere"], "a resumed run stays in its directory"),
        (["--epochs", "3", "--hidden-sizes", "32"], "differ from the resumed run's"),
        (["--epochs", "3", "--env", "Acrobot-v1"], "trained on 'CartPole-v1', not 'Acrobot-v1'"),
    ],
)
def test_resume_refusals(finished_run: Path, extra: list[str], message: str) -> None:
    assert message in one_line_error("train", "ppo", "--resume", str(finished_run), "--quiet", *extra)


def test_resume_of_a_directory_without_a_run(tmp_path: Path, finished_run: Path) -> None:
    assert one_line_error("train", "ppo", "--resume", str(tmp_path)).startswith(
        f"no config.json in {str(tmp_path)!r}; pass the directory of a pgrl run"
    )
    # a group of seeds' --out (or a grid's variant) holds runs one level down: the message names them
    for seed in (10, 2):
        shutil.copytree(finished_run, tmp_path / "group" / f"s{seed}")
    error = one_line_error("eval", str(tmp_path / "group"))
    assert error.endswith(f"e.g. {str(tmp_path / 'group' / 's2')!r} (it holds 2 runs: s2, s10)"), error


def test_resume_with_the_same_flags_again(finished_run: Path, tmp_path: Path) -> None:
    """Re-running the original command with --resume added is fine (same values), --epochs raised."""
    run = copy_run(finished_run, tmp_path / "run")
    status, err = cli("train", "ppo", "--env", "CartPole-v1", "--resume", str(run), "--seed", "0", *TINY,
                      "--epochs", "2")  # fmt: skip
    assert status == 0, err
