"""The run's files: progress.txt (one row per epoch), config.json, eval.json and TensorBoard scalars.

What a person sees on the screen is :mod:`pgrl.progress`.

progress.txt is Spinning Up's format (tab-separated, one header line, one row per epoch), so tools
that read Spinning Up runs read pgrl runs and the other way round.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pgrl.errors import PgrlError
from pgrl.files import atomic_write
from pgrl.rundir import CONFIG, EVAL, PROGRESS


def episode_stats(returns: Sequence[float], lengths: Sequence[int]) -> dict[str, float]:
    """Spinning Up's episode columns; NaN when no episode finished this epoch (rather than crashing)."""
    if len(returns) == 0:
        nan = float("nan")
        return {"AverageEpRet": nan, "StdEpRet": nan, "MaxEpRet": nan, "MinEpRet": nan, "EpLen": nan}
    r = np.asarray(returns, dtype=np.float64)
    return {
        "AverageEpRet": float(r.mean()),
        "StdEpRet": float(r.std()),
        "MaxEpRet": float(r.max()),
        "MinEpRet": float(r.min()),
        "EpLen": float(np.mean(lengths)),
    }


def array_stats(prefix: str, x: np.ndarray) -> dict[str, float]:
    """Average/Std/Max/Min of an array under Spinning Up's names, e.g. AverageVVals."""
    return {
        f"Average{prefix}": float(x.mean()),
        f"Std{prefix}": float(x.std()),
        f"Max{prefix}": float(x.max()),
        f"Min{prefix}": float(x.min()),
    }


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        return f"{v:.6g}"
    return str(v)


class EpochLogger:
    """Writes one row per epoch to ``progress.txt`` (NaN where a value is missing), and TensorBoard scalars.

    Args:
        output_dir: the run directory (created).
        tensorboard: also write the rows as TensorBoard scalars into it.
    """

    def __init__(self, output_dir: str | os.PathLike[str], tensorboard: bool = False) -> None:
        self.output_dir = Path(output_dir)
        try:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            probe = self.output_dir / ".pgrl-write-test"
            probe.write_text("")
            probe.unlink()
        except OSError as e:
            raise PgrlError(f"cannot write to output directory {str(self.output_dir)!r}: {e.strerror}") from e
        self.progress_path = self.output_dir / PROGRESS
        self.columns: list[str] | None = None
        self._text: str | None = None  # progress.txt as written so far (rewritten whole, atomically)
        self._tb: Any = open_tensorboard(self.output_dir) if tensorboard else None

    def save_config(self, config: dict[str, Any]) -> None:
        """Write config.json (atomically: a crash leaves the old file or the new one, never half)."""
        atomic_write_text(self.output_dir / CONFIG, json.dumps(config, indent=2, sort_keys=False, default=str) + "\n")

    def save_eval(self, result: dict[str, Any]) -> None:
        """Write eval.json with the final deterministic evaluation."""
        atomic_write_text(self.output_dir / EVAL, json.dumps(result, indent=2) + "\n")

    def log_epoch(self, row: dict[str, Any]) -> None:
        """Add a row to progress.txt (header on first write)."""
        if self.columns is None:
            self.columns = list(row)
            if not self._read_progress():
                self._append("\t".join(self.columns) + "\n")
        missing = [c for c in self.columns if c not in row]
        if missing:
            raise ValueError(f"epoch row lacks columns {missing}")
        self._append("\t".join(_fmt(row[c]) for c in self.columns) + "\n")
        if self._tb is not None:
            write_scalars(self._tb, row)

    def resume(self, epoch: int) -> list[dict[str, Any]]:
        """Continue progress.txt after ``epoch`` (the checkpoint's): rows beyond it (logged before a
        crash, after the last checkpoint) are dropped, so no epoch appears twice. Returns the kept rows."""
        text = self._read_progress()
        lines = text.split("\n")[:-1]  # whole lines only
        if not lines:
            self._text = ""
            return []
        self.columns = lines[0].split("\t")
        kept, rows = [lines[0]], []
        for line in lines[1:]:
            fields = line.split("\t")
            if len(fields) != len(self.columns):
                break
            row = {c: _parse(v) for c, v in zip(self.columns, fields, strict=True)}
            if not isinstance(row.get("Epoch"), int) or row["Epoch"] > epoch:
                break
            kept.append(line)
            rows.append(row)
        new_text = "\n".join(kept) + "\n"
        self._text = text
        if new_text != text:
            self._text = ""
            self._append(new_text)
        return rows

    def close(self) -> None:
        """Flush and close the TensorBoard writer (when there is one)."""
        if self._tb is not None:
            self._tb.close()
            self._tb = None

    def _read_progress(self) -> str:
        if self._text is None:
            try:
                self._text = self.progress_path.read_text(encoding="utf-8")
            except FileNotFoundError:
                self._text = ""
            except (OSError, UnicodeDecodeError) as e:
                raise PgrlError(f"cannot read {str(self.progress_path)!r}: {e}") from e
        return self._text

    def _append(self, text: str) -> None:
        # The whole file is rewritten through a temporary file and a rename, so a process killed at any
        # moment leaves the previous rows or the new ones, never a torn row.
        self._text = self._read_progress() + text
        atomic_write_text(self.progress_path, self._text)


class SilentLogger:
    """The logger of a data-parallel run's processes other than rank 0: they write nothing."""

    columns: list[str] | None = None

    def __init__(self, run_dir: Path) -> None:
        self.output_dir = run_dir

    def save_config(self, config: dict[str, Any]) -> None: ...

    def save_eval(self, result: dict[str, Any]) -> None: ...

    def log_epoch(self, row: dict[str, Any]) -> None: ...

    def resume(self, epoch: int) -> list[dict[str, Any]]:
        return []

    def close(self) -> None: ...


def _parse(field: str) -> Any:
    """A progress.txt field back as an int or float (strings stay strings)."""
    try:
        return int(field)
    except ValueError:
        pass
    try:
        return float(field)
    except ValueError:
        return field


def open_tensorboard(log_dir: Path) -> Any:
    """A TensorBoard SummaryWriter writing event files into ``log_dir`` (needs the tensorboard package)."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as e:
        raise PgrlError('TensorBoard logging needs the tensorboard package: pip install "pgrl[tensorboard]"') from e
    return SummaryWriter(log_dir=str(log_dir))


def write_scalars(writer: Any, row: dict[str, Any]) -> None:
    """Every numeric column of an epoch row as a scalar at step TotalEnvInteracts (Epoch when absent);
    NaN values (no episode finished, no evaluation this epoch) are skipped. Flushed every epoch."""
    step = int(row.get("TotalEnvInteracts", row.get("Epoch", 0)))
    for key, value in row.items():
        if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
            continue
        if math.isfinite(float(value)):
            writer.add_scalar(key, float(value), global_step=step)
    writer.flush()


def atomic_write_text(path: Path, text: str) -> None:
    """Write a text file atomically (see :func:`pgrl.files.atomic_write`), so readers never see half of it."""
    data = text.encode("utf-8")
    atomic_write(path, lambda f: f.write(data))


class Stopwatch:
    """Seconds since creation (plus ``offset``, the time of a resumed run so far), for the Time column."""

    def __init__(self, offset: float = 0.0) -> None:
        self.start = time.perf_counter() - offset

    def __call__(self) -> float:
        return time.perf_counter() - self.start
