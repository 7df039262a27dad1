"""Shared test setup: import path, one torch thread per worker, hypothesis budget, tiny envs.

The tiny envs live here (not in a helper module) so that every test file can use them through
fixtures without importing conftest.
"""

from __future__ import annotations

import math
import platform
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, settings

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # the tests run from a checkout without installing pgrl
    sys.path.insert(0, str(REPO_ROOT))

# Two CPU cores and pytest-xdist workers: one intra-op thread per worker avoids oversubscription.
torch.set_num_threads(1)

settings.register_profile(
    "pgrl", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
settings.load_profile("pgrl")


@pytest.fixture
def loopback_ports():
    """Serialise the tests that open rendezvous ports on 127.0.0.1 across pytest-xdist workers.

    Each picks a free port and releases it before torchrun (or Ray) binds it; two such tests at once
    can meet each other's store, and gloo aborts the processes.
    """
    from filelock import FileLock

    with FileLock(Path(tempfile.gettempdir()) / "pgrl-loopback-tests.lock"):
        yield


@pytest.fixture(autouse=True)
def default_ctrl_c():
    """Each test starts with Python's own Ctrl-C handler, whatever the test runner inherited.

    CI may start pytest as a background job, where SIGINT arrives ignored; pgrl leaves an ignored
    signal ignored, so the signal tests set the usual disposition themselves (their subprocesses then
    start with the default one too: a Python handler, unlike an ignored disposition, is not inherited).
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


class CountingEnv(gym.Env):
    """obs = [number of steps taken in this episode]; reward = that number after the step.

    The episode terminates after ``episode_len`` steps, or, when ``random_len`` is set, after a length
    drawn from the env's seeded RNG in [2, 6] at every reset (so the N copies of a vector env end
    their episodes at different times). Wrap in a TimeLimit to get truncations.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}

    def __init__(self, episode_len: int | None = 3, random_len: bool = False) -> None:
        self.observation_space = gym.spaces.Box(low=0.0, high=np.inf, shape=(1,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.fixed_len = episode_len
        self.random_len = random_len
        self.t = 0
        self.len: int | None = episode_len

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self.t = 0
        self.len = int(self.np_random.integers(2, 7)) if self.random_len else self.fixed_len
        return np.array([0.0], dtype=np.float32), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        self.t += 1
        terminated = self.len is not None and self.t >= self.len
        return np.array([float(self.t)], dtype=np.float32), float(self.t), terminated, False, {}


@pytest.fixture
def counting_env() -> type[CountingEnv]:
    """The CountingEnv class (a fixture so that test files need not import conftest)."""
    return CountingEnv


@pytest.fixture(scope="session")
def fingerprint() -> dict[str, str]:
    """What decides the exact floating-point results: the CPU, its kernels and the library versions."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cpu_capability": str(torch.backends.cpu.get_cpu_capability()),
        "torch": torch.__version__,
        "numpy": np.__version__,
    }


def _same_numbers(a: Any, b: Any, exact: bool, path: str) -> None:
    """Recursively equal: numbers bit for bit when ``exact``, else to rtol 1e-4 (see tests/test_golden.py)."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), f"{path}: keys {sorted(a)} != {sorted(b)}"
        for k in a:
            _same_numbers(a[k], b[k], exact, f"{path}.{k}")
    elif isinstance(a, list) and a and all(isinstance(x, int | float) for x in a):
        x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        assert x.shape == y.shape, f"{path}: shape {x.shape} != {y.shape}"
        if exact:
            np.testing.assert_array_equal(x, y, err_msg=path)
        else:
            np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-6, err_msg=path)
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), f"{path}: {a!r} != {b!r}"
        for i, (u, v) in enumerate(zip(a, b, strict=True)):
            _same_numbers(u, v, exact, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, int | float):
        if math.isnan(a):
            assert math.isnan(b), f"{path}: {b} is not NaN"
        elif exact:
            assert a == b, f"{path}: {a!r} != {b!r}"
        else:
            assert b == pytest.approx(a, rel=1e-4, abs=1e-6), f"{path}: {a!r} != {b!r}"
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


@pytest.fixture
def same_numbers() -> Any:
    """``same_numbers(expected, actual, exact, path)``: recursive comparison of recorded runs."""
    return _same_numbers
