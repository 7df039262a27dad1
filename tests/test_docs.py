"""The documentation site builds without warnings, and the API it documents has docstrings."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import pgrl

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
# Modules whose public functions are documented in the API reference; the maths ones must give shapes.
API_MODULES = [
    "pgrl.advantages",
    "pgrl.losses",
    "pgrl.networks",
    "pgrl.evaluate",
    "pgrl.analysis",
    "pgrl.spaces",
    "pgrl.actions",
    "pgrl.encoders",
    "pgrl.distributions",
    "pgrl.envs.named",
    "pgrl.envs.limits",
]
MATHS_MODULES = {"pgrl.advantages", "pgrl.losses"}
SHAPE = re.compile(r"\((?:[A-Za-z]\w*|\d+)(?:,\s*[*\w]+)*,?\)|shape")


def _public_functions(module: ModuleType) -> list[tuple[str, object]]:
    return [
        (name, obj)
        for name, obj in vars(module).items()
        if not name.startswith("_") and inspect.isfunction(obj) and obj.__module__ == module.__name__
    ]


def _hooks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pgrl_hooks", DOCS / "_hooks" / "pgrl_hooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", [n for n in pgrl.__all__ if n != "__version__"])
def test_public_api_has_docstrings(name: str) -> None:
    obj = getattr(pgrl, name)
    doc = inspect.getdoc(obj)
    assert doc and len(doc) > 20, f"pgrl.{name} has no docstring"


@pytest.mark.parametrize("module_name", API_MODULES)
def test_module_functions_have_docstrings(module_name: str) -> None:
    module = importlib.import_module(module_name)
    functions = _public_functions(module)
    assert functions, module_name
    missing = [name for name, f in functions if not (inspect.getdoc(f) or "").strip()]
    assert not missing, f"{module_name}: public functions without a docstring: {missing}"
    if module_name in MATHS_MODULES:
        shapeless = [name for name, f in functions if not SHAPE.search(inspect.getdoc(f) or "")]
        assert not shapeless, f"{module_name}: docstrings that do not give the shapes: {shapeless}"


def test_defaults_tables_cover_every_algorithm_and_hyperparameter() -> None:
    from pgrl.algos.registry import ALGORITHMS
    from pgrl.config import hyperparameters
    from pgrl.presets import PRESETS

    hooks = _hooks()
    page = (DOCS / "algorithms.md").read_text()
    for algo, info in ALGORITHMS.items():
        assert f"<!-- pgrl:defaults {algo} -->" in page, f"algorithms.md has no defaults table for {algo}"
        table = hooks.defaults_table(algo)
        for hp in hyperparameters(info.config):
            assert f"`{hp.name}`" in table and hp.help.split(" (")[0] in table
        for env in PRESETS.get(algo, {}):
            assert f"`{env}`" in table


def test_cli_help_is_generated() -> None:
    hooks = _hooks()
    text = hooks.cli_help("train ppo")
    assert "usage: pgrl train ppo" in text and "--env" in text
    every = hooks.cli_all()
    for command in ("train", "eval", "watch", "plot", "compare", "algos"):
        assert f"## pgrl {command}" in every


def test_include_of_a_missing_file_still_builds() -> None:
    assert "not in this checkout yet" in _hooks().include("benchmarks/no-such-file.md")


@pytest.mark.slow
def test_mkdocs_build_strict(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    site = tmp_path / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "WARNING" not in proc.stderr, proc.stderr
    assert (site / "index.html").is_file()
    assert (site / "api" / "index.html").is_file()
    algorithms = (site / "algorithms" / "index.html").read_text()
    assert "minibatch_size" in algorithms  # the generated defaults tables are in the page
