"""Run directories and the epoch log: a table on the terminal, progress.txt and config.json on disk.

progress.txt is Spinning Up's format (tab-separated, one header line, one row per epoch), so tools
that read Spinning Up runs read pgrl runs and the other way round.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from pgrl.errors import PgrlError


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
    """Writes one row per epoch to ``progress.txt`` and prints it as a key/value table.

    Args:
        output_dir: the run directory (created).
        verbose: print the table each epoch (and live progress on a terminal).
        stream: where the table goes (stdout by default).
    """

    def __init__(self, output_dir: str | os.PathLike[str], verbose: bool = True, stream: TextIO | None = None) -> None:
        self.output_dir = Path(output_dir)
        try:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            probe = self.output_dir / ".pgrl-write-test"
            probe.write_text("")
            probe.unlink()
        except OSError as e:
            raise PgrlError(f"cannot write to output directory {str(self.output_dir)!r}: {e.strerror}") from e
        self.progress_path = self.output_dir / "progress.txt"
        self.verbose = verbose
        self.stream = stream if stream is not None else sys.stdout
        self.columns: list[str] | None = None
        self._live = verbose and hasattr(sys.stderr, "isatty") and sys.stderr.isatty()

    def save_config(self, config: dict[str, Any]) -> None:
        """Write config.json (atomically: a crash leaves the old file or the new one, never half)."""
        atomic_write_text(
            self.output_dir / "config.json", json.dumps(config, indent=2, sort_keys=False, default=str) + "\n"
        )

    def save_eval(self, result: dict[str, Any]) -> None:
        """Write eval.json with the final deterministic evaluation."""
        atomic_write_text(self.output_dir / "eval.json", json.dumps(result, indent=2) + "\n")

    def live(self, message: str) -> None:
        """A transient progress line on a terminal (overwritten by the next one); nothing when piped."""
        if self._live:
            sys.stderr.write("\r\033[K" + message)
            sys.stderr.flush()

    def log_epoch(self, row: dict[str, Any]) -> None:
        """Append a row to progress.txt (header on first write) and print it."""
        if self.columns is None:
            self.columns = list(row)
            new_file = not self.progress_path.exists() or self.progress_path.stat().st_size == 0
            if new_file:
                self._append("\t".join(self.columns) + "\n")
        missing = [c for c in self.columns if c not in row]
        if missing:
            raise ValueError(f"epoch row lacks columns {missing}")
        self._append("\t".join(_fmt(row[c]) for c in self.columns) + "\n")
        if self.verbose:
            if self._live:
                sys.stderr.write("\r\033[K")
            self.stream.write(format_table(row))
            self.stream.flush()

    def _append(self, text: str) -> None:
        # One write of whole lines, flushed and synced, so a killed process leaves whole rows behind.
        with open(self.progress_path, "a", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())


def format_table(row: dict[str, Any]) -> str:
    """Spinning Up's per-epoch key/value table."""
    width = max(len(k) for k in row)
    line = "-" * (width + 19)
    body = "\n".join(f"| {k:>{width}} | {_fmt(v):>13} |" for k, v in row.items())
    return f"{line}\n{body}\n{line}\n"


def atomic_write_text(path: Path, text: str) -> None:
    """Write a text file via a temporary file and rename, so readers never see half of it."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class Stopwatch:
    """Seconds since creation, for the Time column."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def __call__(self) -> float:
        return time.perf_counter() - self.start
