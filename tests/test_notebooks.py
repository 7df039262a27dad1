"""The example notebooks run from top to bottom (quick budget) and show their figures and videos.

Each notebook in examples/ is executed with nbclient in a fresh ``python3`` kernel, in a temporary
directory (so its runs/ land there and the committed notebook with its outputs is left untouched),
with ``PGRL_QUICK=1``: the first cell of every notebook reads it and shrinks the training budgets
while keeping every step of the workflow. The committed outputs come from full-budget runs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")
pytest.importorskip("imageio")

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))
MAX_BYTES = 1_500_000


def _outputs(nb: Any) -> list[dict]:
    return [out for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", [])]


def _has_figure(outputs: list[dict]) -> bool:
    return any("image/png" in out.get("data", {}) for out in outputs)


def _has_video(outputs: list[dict]) -> bool:
    for out in outputs:
        data = out.get("data", {})
        html = data.get("text/html", "")
        if isinstance(html, list):
            html = "".join(html)
        if "image/gif" in data or "<video" in html or "data:image/gif" in html:
            return True
    return False


def test_examples_exist() -> None:
    names = [p.name for p in NOTEBOOKS]
    assert len(names) >= 6, names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_committed_notebook_is_small_and_has_outputs(path: Path) -> None:
    assert path.stat().st_size < MAX_BYTES, f"{path.name} is {path.stat().st_size} bytes"
    nb = nbformat.read(path, as_version=4)
    outputs = _outputs(nb)
    assert _has_figure(outputs), f"{path.name}: committed without a figure output"
    assert _has_video(outputs), f"{path.name}: committed without a video output"
    assert not any(out.get("output_type") == "error" for out in outputs), f"{path.name}: committed with an error"
    assert "RESULTS_PLACEHOLDER" not in path.read_text()


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_in_quick_mode(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGRL_QUICK", "1")
    monkeypatch.delenv("MPLBACKEND", raising=False)  # figures must show without any backend set up
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    # one torch thread per kernel: pytest -n 2 runs two notebooks side by side on CI's two cores
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    outputs = _outputs(nb)
    assert _has_figure(outputs), f"{path.name}: no image/png output"
    assert _has_video(outputs), f"{path.name}: no video output"
    assert not (tmp_path / path.name).exists()  # ran in tmp_path; the committed file is untouched
    assert os.path.getsize(path) > 0


@pytest.mark.slow
def test_plot_and_watch_display_in_a_fresh_kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No %matplotlib inline, no backend in the environment: a cell whose value is pgrl.plot(...) shows a
    PNG, and one whose value is pgrl.watch(...) a video."""
    monkeypatch.delenv("MPLBACKEND", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import pgrl\n"
            "agent, _ = pgrl.ppo('CartPole-v1', epochs=2, steps_per_epoch=256, num_envs=4, minibatch_size=128,\n"
            "                    eval_episodes=0, verbose=False, logger_kwargs=dict(output_dir='runs/a'))"
        ),
        nbformat.v4.new_code_cell("pgrl.plot(['runs'])"),
        nbformat.v4.new_code_cell("pgrl.watch(agent, episodes=1, max_ep_len=20)"),
    ]
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    plot_outputs, watch_outputs = nb.cells[1].get("outputs", []), nb.cells[2].get("outputs", [])
    assert _has_figure(plot_outputs), plot_outputs
    assert not any(
        "<Figure size" in str(o.get("data", {}).get("text/plain", "")) and "image/png" not in o.get("data", {})
        for o in plot_outputs
    )
    assert _has_video(watch_outputs), watch_outputs
