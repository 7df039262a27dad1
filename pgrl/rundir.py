"""The run directory: every file a run writes is named here, and a directory never mixes two runs.

A run directory holds:

- ``progress.txt``: one tab-separated row per epoch (Spinning Up's format; :mod:`pgrl.logger`);
- ``config.json``: every hyperparameter, the network, the spaces (:func:`pgrl.checkpoint.load_config`);
- ``checkpoint.pt``: network, optimizers, statistics, RNG and env state (:mod:`pgrl.checkpoint`);
- ``best.pt``: the same for the best policy an in-training evaluation found (with its ``eval_return``);
- ``eval.json``: the final deterministic evaluation;
- ``events.out.tfevents.*``: TensorBoard scalars, with ``--tensorboard``.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pgrl.errors import PgrlError

PROGRESS = "progress.txt"
CONFIG = "config.json"
CHECKPOINT = "checkpoint.pt"
BEST = "best.pt"
EVAL = "eval.json"
TENSORBOARD = "events.out.tfevents.*"  # a glob: TensorBoard names its files itself
OLD_CHECKPOINTS = "checkpoints"  # a folder of numbered checkpoints that early versions of pgrl wrote


def runs_inside(directory: str | os.PathLike[str]) -> list[str]:
    """The names of ``directory``'s subdirectories that hold a run (a config.json), in natural order (s2
    before s10): a group of seeds' --out, a grid's variant. [] when there are none or it cannot be read."""
    try:
        names = [p.name for p in Path(directory).iterdir() if (p / CONFIG).is_file()]
    except OSError:
        return []
    return sorted(names, key=lambda n: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", n)])


def holds_run(run_dir: Path) -> bool:
    """Whether a run has written into ``run_dir`` (its progress or a checkpoint)."""
    return (run_dir / PROGRESS).exists() or (run_dir / CHECKPOINT).exists()


def default_run_dir(exp_name: str, seed: int) -> Path:
    """``runs/<exp_name>/<date>_<time>_s<seed>``."""
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
    return Path("runs") / exp_name / f"{stamp}_s{seed}"


def exp_name(logger_kwargs: Mapping[str, Any] | None, algo: str, env_id: str) -> str:
    """The experiment name: Spinning Up's ``logger_kwargs["exp_name"]``, else ``<algo>-<env_id>``."""
    return (logger_kwargs or {}).get("exp_name") or f"{algo}-{env_id}"


def refuse_used(run_dir: Path) -> None:
    """The one-line refusal to write a run into a directory that holds one."""
    raise PgrlError(
        f"{str(run_dir)!r} already holds a run; choose another output directory, or replace it with "
        "overwrite=True (the command line's --overwrite)"
    )


def prepare_run_dir(
    logger_kwargs: Mapping[str, Any] | None, algo: str, env_id: str, seed: int, overwrite: bool
) -> Path:
    """The run directory from Spinning Up's logger_kwargs (output_dir, exp_name); refuses to mix two runs.

    With ``overwrite``, the files of the run already there are removed first (other files are left).
    """
    output_dir = (logger_kwargs or {}).get("output_dir")
    run_dir = Path(output_dir) if output_dir else default_run_dir(exp_name(logger_kwargs, algo, env_id), seed)
    if holds_run(run_dir):
        if not overwrite:
            refuse_used(run_dir)
        for name in (PROGRESS, CHECKPOINT, BEST, CONFIG, EVAL):
            (run_dir / name).unlink(missing_ok=True)
        shutil.rmtree(run_dir / OLD_CHECKPOINTS, ignore_errors=True)
        for events in run_dir.glob(TENSORBOARD):
            events.unlink(missing_ok=True)
    return run_dir
