"""The pgrl command: train, eval, and one-line errors with exit status 2 for bad input."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import pgrl
from pgrl.cli import main

REPO_ROOT = Path(__file__).resolve().parents[1]


class _BoxObsEnv(gym.Env):
    """A do-nothing env whose action space the test chooses."""

    def __init__(self, action_space: gym.Space, observation_space: gym.Space | None = None) -> None:
        self.action_space = action_space
        self.observation_space = observation_space or gym.spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 0.0, True, False, {}


def _dict_action_env():
    return _BoxObsEnv(gym.spaces.Dict({"a": gym.spaces.Discrete(2), "b": gym.spaces.Discrete(3)}))


def _tuple_action_env():
    return _BoxObsEnv(gym.spaces.Tuple([gym.spaces.Discrete(2), gym.spaces.Discrete(3)]))


def _sequence_obs_env():
    return _BoxObsEnv(gym.spaces.Discrete(2), observation_space=gym.spaces.Sequence(gym.spaces.Discrete(5)))


TEST_ENVS = {
    "PgrlTest/DictAction-v0": (_dict_action_env, "Dict"),
    "PgrlTest/TupleAction-v0": (_tuple_action_env, "Tuple"),
    "PgrlTest/SequenceObs-v0": (_sequence_obs_env, "Sequence"),
}
for _env_id, (_entry, _) in TEST_ENVS.items():
    if _env_id not in gym.registry:
        gym.register(id=_env_id, entry_point=_entry)


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(err: str) -> str:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("pgrl: error:")
    return lines[0]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    code = main(["train", "ppo", "--env", "CartPole-v1", "--epochs", "2", "--out", str(out), "--quiet"])
    assert code == 0
    return out


# ------------------------------------------------------------------ train


def test_train_writes_progress_config_and_checkpoint(trained_run):
    lines = (trained_run / "progress.txt").read_text().splitlines()
    header = lines[0].split("\t")
    assert header[0] == "Epoch" and "AverageEpRet" in header and "TotalEnvInteracts" in header
    assert len(lines) == 3  # header once, one row per epoch
    assert sum(line.startswith("Epoch\t") for line in lines) == 1
    rows = [line.split("\t") for line in lines[1:]]
    assert all(len(r) == len(header) for r in rows)
    assert [r[0] for r in rows] == ["1", "2"]
    config = json.loads((trained_run / "config.json").read_text())
    assert config["algo"] == "ppo" and config["env_id"] == "CartPole-v1"
    assert config["hyperparameters"]["epochs"] == 2
    assert (trained_run / "checkpoint.pt").is_file()
    assert pgrl.load(trained_run).config["env_id"] == "CartPole-v1"


def test_quiet_run_and_second_run_refused_unless_overwrite(tmp_path, capsys):
    out = tmp_path / "q"
    code, stdout, err = run_cli(
        capsys, "train", "ppo", "--env", "CartPole-v1", "--epochs", "1", "--out", str(out), "--quiet",
        "--eval-episodes", "2", "--update-epochs", "1",
    )  # fmt: skip
    assert code == 0, err
    assert "AverageEpRet" not in stdout
    # a second run into the same --out is refused ...
    before = (out / "progress.txt").read_text()
    code, _, err = run_cli(
        capsys, "train", "ppo", "--env", "CartPole-v1", "--epochs", "1", "--out", str(out), "--quiet"
    )
    assert code == 2
    line = assert_one_line_error(err)
    assert "overwrite" in line
    assert (out / "progress.txt").read_text() == before
    # ... unless --overwrite, which replaces it (header once, this run's rows only)
    code, _, err = run_cli(
        capsys, "train", "ppo", "--env", "CartPole-v1", "--epochs", "2", "--out", str(out), "--quiet",
        "--overwrite", "--eval-episodes", "2", "--update-epochs", "1",
    )  # fmt: skip
    assert code == 0, err
    lines = (out / "progress.txt").read_text().splitlines()
    assert len(lines) == 3 and lines[0].startswith("Epoch\t")
    assert json.loads((out / "config.json").read_text())["hyperparameters"]["epochs"] == 2


def test_train_prints_a_line_per_epoch_and_the_evaluation_without_quiet(tmp_path, capsys):
    code, stdout, err = run_cli(
        capsys, "train", "ppo", "--env", "CartPole-v1", "--epochs", "2", "--out", str(tmp_path / "v"),
        "--eval-episodes", "2", "--update-epochs", "1",
    )  # fmt: skip
    assert code == 0, err
    lines = stdout.splitlines()
    assert lines[0].startswith("Training ppo on CartPole-v1 (seed 0): 2 epochs of 2,048 steps (4,096 steps)")
    assert lines[0].endswith(f"run directory {tmp_path / 'v'}")
    assert lines[1].startswith("epoch 1/2  steps     2,048  return") and lines[2].startswith("epoch 2/2")
    assert "Deterministic evaluation" in lines[3] and "threshold 475" in lines[3]
    assert "nan" not in stdout and "AverageEpRet" not in stdout
    # Spinning Up's table, for course users
    code, stdout, err = run_cli(
        capsys, "train", "ppo", "--env", "CartPole-v1", "--epochs", "1", "--out", str(tmp_path / "t"),
        "--eval-episodes", "2", "--update-epochs", "1", "--table", "full",
    )  # fmt: skip
    assert code == 0, err
    assert "AverageEpRet" in stdout and "TotalEnvInteracts" in stdout
    assert "Deterministic evaluation" in stdout


# ------------------------------------------------------------------ bad input


def test_unknown_env_id_suggests_close_match_and_leaves_no_run_dir(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "never"
    code, _, err = run_cli(capsys, "train", "ppo", "--env", "CartPol-v1", "--out", str(out))
    assert code == 2
    line = assert_one_line_error(err)
    assert "CartPol-v1" in line and "CartPole-v1" in line
    assert not out.exists()
    # without --out neither: no default runs/ directory
    code, _, err = run_cli(capsys, "train", "ppo", "--env", "CartPol-v1")
    assert code == 2
    assert not (tmp_path / "runs").exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("env_id", list(TEST_ENVS))
def test_unsupported_space_names_the_space(env_id, tmp_path, capsys):
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", "ppo", "--env", env_id, "--out", str(out))
    assert code == 2
    line = assert_one_line_error(err)
    assert TEST_ENVS[env_id][1] in line
    assert "unsupported" in line
    assert not out.exists()


@pytest.mark.parametrize(
    ("flags", "name"),
    [
        (["--gamma", "2"], "gamma"),
        (["--pi-lr", "-1"], "pi_lr"),
        (["--minibatch-size", "100000"], "minibatch_size"),
        (["--epochs", "0"], "epochs"),
        (["--lam", "-0.5"], "lam"),
        (["--num-envs", "0"], "num_envs"),
    ],
)
def test_bad_values_exit_2(flags, name, tmp_path, capsys):
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", "ppo", "--env", "CartPole-v1", "--out", str(out), *flags)
    assert code == 2
    line = assert_one_line_error(err)
    assert name in line
    assert not out.exists()


def test_unknown_activation_exits_2(tmp_path, capsys):
    code, _, err = run_cli(
        capsys, "train", "ppo", "--env", "CartPole-v1", "--out", str(tmp_path / "r"), "--activation", "swishy"
    )
    assert code == 2
    assert "swishy" in assert_one_line_error(err)


def test_argparse_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "nosuchalgo", "--env", "CartPole-v1"])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        main(["train", "ppo", "--env", "CartPole-v1", "--gamma", "abc"])
    assert e.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


# ------------------------------------------------------------------ eval


def test_eval_prints_mean_and_std(trained_run, capsys):
    code, stdout, err = run_cli(capsys, "eval", str(trained_run), "--episodes", "4", "--seed", "3")
    assert code == 0, err
    m = re.search(r"return (-?[\d.]+) \+/- ([\d.]+)", stdout)
    assert m, stdout
    returns, _ = pgrl.evaluate(pgrl.load(trained_run), "CartPole-v1", episodes=4, seed=3)
    assert float(m.group(1)) == pytest.approx(returns.mean(), abs=0.01)
    assert float(m.group(2)) == pytest.approx(returns.std(), abs=0.01)
    assert "CartPole-v1" in stdout


def test_eval_missing_or_bad_dir_exits_2(tmp_path, capsys):
    code, _, err = run_cli(capsys, "eval", str(tmp_path / "missing"))
    assert code == 2
    assert_one_line_error(err)
    code, _, err = run_cli(capsys, "eval", str(tmp_path))  # exists, but holds no run
    assert code == 2
    assert_one_line_error(err)


def test_eval_bad_episodes_exits_2(trained_run, capsys):
    code, _, err = run_cli(capsys, "eval", str(trained_run), "--episodes", "0")
    assert code == 2
    assert "episodes" in assert_one_line_error(err)


def test_algos_lists_ppo(capsys):
    code, stdout, _ = run_cli(capsys, "algos")
    assert code == 0
    assert re.search(r"^ppo\b", stdout, re.M)
    assert "CartPole-v1" in stdout


# ------------------------------------------------------------------ the real command


def test_python_m_pgrl_bad_env_exit_code_and_no_traceback(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "pgrl", "train", "ppo", "--env", "CartPol-v1", "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "CartPole-v1" in lines[0]
    assert proc.stdout == ""
    assert not out.exists()
