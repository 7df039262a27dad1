"""Learning curves of pgrl and Spinning Up runs: per experiment, the mean over seeds with a 95%
bootstrap confidence band (the numbers come from :mod:`pgrl.analysis`).

Drawing uses matplotlib's Agg canvas on a standalone ``Figure`` (no display, no pyplot state), so it
works on headless machines and leaves a notebook's backend alone; a returned Figure still shows
inline in Jupyter.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pgrl.analysis import (
    X_COLUMNS,
    Curve,
    default_y_column,
    group_curve,
    group_runs,
    load_runs,
)
from pgrl.errors import PgrlError

FORMATS = (".png", ".svg", ".pdf")

Y_LABELS = {
    "AverageEpRet": "training episode return",
    "EvalAverageEpRet": "evaluation return, deterministic",
    "AverageTestEpRet": "test episode return",
    "EpLen": "episode length, steps",
    "EvalEpLen": "evaluation episode length, steps",
    "StepsPerSecond": "environment steps per second",
    "Time": "seconds",
}


def require_matplotlib() -> Any:
    try:
        import matplotlib
    except ImportError as e:
        raise PgrlError('plotting needs matplotlib: pip install "pgrl[viz]"') from e
    return matplotlib


def curves(
    run_dirs: Sequence[str | os.PathLike[str]],
    x: str = "steps",
    y: str | None = None,
    smooth: int = 1,
    group_by: str = "exp",
    confidence: float = 0.95,
    reps: int = 2000,
    seed: int = 0,
) -> tuple[list[Curve], str, str]:
    """The curves :func:`plot` draws: (curves, x column, y column). See :mod:`pgrl.analysis`."""
    if x not in X_COLUMNS:
        raise PgrlError(f"x must be one of {', '.join(X_COLUMNS)}, got {x!r}")
    if smooth < 1:
        raise PgrlError(f"smooth must be >= 1, got {smooth}")
    runs = load_runs(run_dirs)
    x_column = X_COLUMNS[x][0]
    y_column = y or default_y_column(runs)
    groups = group_runs(runs, group_by)
    out = [
        group_curve(label, members, x_column, y_column, smooth, confidence, reps, seed)
        for label, members in groups.items()
    ]
    return out, x_column, y_column


def _title(found: Sequence[Curve]) -> str:
    envs = sorted({r.env_id for c in found for r in c.runs if r.env_id})
    return ", ".join(envs) if envs else "learning curves"


def plot(
    run_dirs: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str] | None = None,
    x: str = "steps",
    y: str | None = None,
    smooth: int = 1,
    group_by: str = "exp",
    title: str | None = None,
    confidence: float = 0.95,
    reps: int = 2000,
    seed: int = 0,
) -> Any:
    """Plot learning curves and return the matplotlib Figure (saved to ``out`` when given).

    Args:
        run_dirs: run directories, or directories holding runs (searched recursively).
        out: a .png, .svg or .pdf file (the format follows the extension).
        x: "steps" (TotalEnvInteracts), "time" (Time, seconds) or "epoch".
        y: the progress column; default the evaluation column when every run has one
            (EvalAverageEpRet, or Spinning Up's AverageTestEpRet), else AverageEpRet.
        smooth: moving-average window over epochs, per run, before averaging (Spinning Up's).
        group_by: how runs become experiments: "exp" (config.json's exp_name, else algo-env, else
            the parent directory), "parent" (the parent directory's name) or "run" (no grouping).
        title: the figure title (default: the env ids).
        confidence, reps, seed: the bootstrap band over runs (a percentile bootstrap of the mean).

    Each experiment is one line, the mean over its runs on a common x grid, with a shaded band: the
    ``confidence`` bootstrap interval of that mean. The legend gives each experiment's number of runs.
    """
    check_format(out)
    found, _, y_column = curves(run_dirs, x, y, smooth, group_by, confidence, reps, seed)
    show_figures_in_ipython()
    return draw(found, x, y_column, out, title, smooth, confidence)


def show_figures_in_ipython() -> None:
    """In a running IPython kernel (Jupyter, Colab), have Figures display as PNG when they are a cell's
    value, as ``%matplotlib inline`` would set up: pgrl's figures are standalone (no pyplot), so a fresh
    kernel would otherwise show only ``<Figure size 750x450 with 1 Axes>``. Outside IPython: nothing."""
    ipython_module = sys.modules.get("IPython")  # imported only where IPython is running
    shell = ipython_module.get_ipython() if ipython_module is not None else None
    if shell is None or not hasattr(shell, "display_formatter"):
        return
    from IPython.core.pylabtools import select_figure_formats

    select_figure_formats(shell, {"png"})


def check_format(out: str | os.PathLike[str] | None) -> None:
    if out is not None and (Path(out).suffix.lower() not in FORMATS or not Path(out).stem):
        raise PgrlError(f"the image file must end in {', '.join(FORMATS)}, got {str(out)!r}")


def draw(
    found: Sequence[Curve],
    x: str,
    y_column: str,
    out: str | os.PathLike[str] | None = None,
    title: str | None = None,
    smooth: int = 1,
    confidence: float = 0.95,
) -> Any:
    """Draw curves (from :func:`curves`) on a new Figure: per curve, ``ax.plot(x, mean)`` then
    ``ax.fill_between(x, low, high)``; save it to ``out`` when given; return the Figure."""
    check_format(out)
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 4.5), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for curve in found:
        n = len(curve.runs)
        (line,) = ax.plot(curve.x, curve.mean, label=f"{curve.label} ({n} run{'s' if n != 1 else ''})", linewidth=1.8)
        ax.fill_between(curve.x, curve.low, curve.high, color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_xlabel(X_COLUMNS[x][1])
    y_label = Y_LABELS.get(y_column, y_column)
    ax.set_ylabel(y_label if y_label == y_column else f"{y_label} ({y_column})")
    band = f"mean over runs, {confidence:.0%} bootstrap CI" + (f", smoothed over {smooth} epochs" if smooth > 1 else "")
    ax.set_title(f"{title or _title(found)}\n{band}", fontsize=11)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize=9)
    if out is not None:
        try:
            Path(out).parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(out)
        except OSError as e:
            raise PgrlError(f"cannot write {str(out)!r}: {e.strerror or e}") from e
    return fig
