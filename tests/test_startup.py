"""Start-up: ``import pgrl`` and ``pgrl --help`` load neither torch nor the algorithms, the public names
load on first use, and a training run never imports torch._dynamo (torch.optim's first use would: ~1.4 s).
The seconds themselves are a benchmark (benchmarks/startup.py), not a test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_python(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    return out.stdout.strip()


def test_import_pgrl_and_help_load_no_torch() -> None:
    code = (
        "import sys, io, contextlib\n"
        "import pgrl\n"
        "import gymnasium as gym; gym.spec('pgrl/ContinuousCartPole-v0')  # registered on import\n"
        "from pgrl.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    try:\n"
        "        main(['--help'])\n"
        "    except SystemExit:\n"
        "        pass\n"
        "assert 'train' in out.getvalue() and 'compare' in out.getvalue()\n"
        "print(sorted(m for m in ('torch', 'pgrl.algos', 'pgrl.training', 'scipy') if m in sys.modules))"
    )
    assert run_python(code) == "[]"


def test_public_names_load_on_first_use() -> None:
    code = (
        "import sys, pgrl\n"
        "assert 'torch' not in sys.modules\n"
        "from pgrl import ppo, Agent, load\n"
        "assert ppo.__module__ == 'pgrl.algos.ppo' and Agent.__module__ == 'pgrl.agent'\n"
        "assert set(pgrl.__all__) <= set(dir(pgrl))\n"
        "try:\n"
        "    pgrl.nope\n"
        "except AttributeError as e:\n"
        "    print(e)"
    )
    assert run_python(code) == "module 'pgrl' has no attribute 'nope'"


def test_a_submodule_import_does_not_shadow_its_function() -> None:
    # the CLI imports pgrl.evaluate (the module); pgrl.evaluate stays the function a notebook calls
    code = (
        "import pgrl.evaluate, pgrl.load, pgrl.plot, pgrl.watch, pgrl\n"
        "print(all(callable(getattr(pgrl, n)) for n in ('evaluate', 'load', 'plot', 'watch')))"
    )
    assert run_python(code) == "True"


def test_a_training_run_does_not_import_torch_dynamo(tmp_path: Path) -> None:
    code = (
        "import sys, pgrl\n"
        f"pgrl.ppo('CartPole-v1', epochs=1, steps_per_epoch=256, num_envs=4, minibatch_size=128, eval_episodes=2,\n"
        f"         verbose=False, logger_kwargs=dict(output_dir={str(tmp_path / 'run')!r}))\n"
        "print('torch._dynamo' in sys.modules)"
    )
    assert run_python(code) == "False"
