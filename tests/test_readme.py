"""The README's two commands are the project's promise; CI must run the test command verbatim."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section)


def test_readme_has_the_two_commands():
    train, test = readme_commands()
    assert train.endswith("pgrl train ppo --env CartPole-v1 --until-solved")
    assert "pip install -e ." in train
    assert 'pip install -e ".[test]"' in test and "pytest" in test


def test_ci_runs_the_readme_test_command_verbatim():
    _, test = readme_commands()
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test in ci_lines


def test_torch_is_pinned_everywhere_it_is_installed():
    pyproject = (ROOT / "pyproject.toml").read_text()
    torch_reqs = re.findall(r'"torch[^"]*"', pyproject)
    assert torch_reqs and all(r == '"torch==2.13.0"' for r in torch_reqs)
