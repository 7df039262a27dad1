"""What a person sees while a run trains (progress.txt, written by :mod:`pgrl.logger`, is the record for
programs):

- a start line: the algorithm, the env, the seed, the steps to come and the run directory;
- per epoch one compact line (``table="compact"``, the default) or Spinning Up's key/value table
  (``table="full"``, ``--table full``); a value that is NaN in progress.txt (no episode finished this
  epoch, no evaluation) shows as ``-``;
- on a terminal, a progress bar with the time left (tqdm) below the lines, saying what the epoch is
  doing (collecting, updating, evaluating). In a notebook or a pipe there is no bar, only the lines.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from typing import Any, TextIO

from tqdm import tqdm

TABLES = ("compact", "full")


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "-" if math.isnan(v) else f"{v:.6g}"
    return str(v)


def format_table(row: Mapping[str, Any]) -> str:
    """Spinning Up's per-epoch key/value table."""
    width = max(len(k) for k in row)
    line = "-" * (width + 19)
    body = "\n".join(f"| {k:>{width}} | {_fmt(v):>13} |" for k, v in row.items())
    return f"{line}\n{body}\n{line}\n"


def _finite(row: Mapping[str, Any], key: str) -> float | None:
    v = row.get(key)
    return float(v) if isinstance(v, int | float) and math.isfinite(v) else None


def compact_line(row: Mapping[str, Any], epochs: int) -> str:
    """One line for an epoch: ``epoch  5/64  steps 10,240  return 23.4 ± 12.1  eval 500  12,345 steps/s  1.2 s``."""
    width = len(str(epochs))
    parts = [f"epoch {row['Epoch']:>{width}}/{epochs}", f"steps {int(row.get('TotalEnvInteracts', 0)):>9,}"]
    ret, std = _finite(row, "AverageEpRet"), _finite(row, "StdEpRet")
    parts.append(f"return {ret:8.2f} ± {std or 0.0:<7.2f}" if ret is not None else f"return {'-':>8}{'':10}")
    evaluation = _finite(row, "EvalAverageEpRet")
    if evaluation is not None:
        parts.append(f"eval {evaluation:.2f}")
    if row.get("SkippedUpdates"):
        parts.append(f"skipped {row['SkippedUpdates']}")
    speed, seconds = _finite(row, "StepsPerSecond"), _finite(row, "Time")
    if speed is not None:
        parts.append(f"{speed:,.0f} steps/s")
    if seconds is not None:
        parts.append(f"{seconds:.1f} s")
    return "  ".join(parts)


class Progress:
    """A run's screen output (see the module docstring).

    Args:
        table: "compact" (one line per epoch) or "full" (Spinning Up's table).
        epochs: the run's epochs; ``done``: those already done (a resumed run).
        stream: where the lines go (default stdout).
        bar: a progress bar on stderr (default: when stderr is a terminal).
    """

    def __init__(
        self, table: str, epochs: int, done: int = 0, stream: TextIO | None = None, bar: bool | None = None
    ) -> None:
        self.table, self.epochs = table, epochs
        self.stream = stream if stream is not None else sys.stdout
        show_bar = bar if bar is not None else (hasattr(sys.stderr, "isatty") and sys.stderr.isatty())
        self.bar: Any = (
            tqdm(total=epochs, initial=done, unit="epoch", file=sys.stderr, dynamic_ncols=True, leave=False)
            if show_bar
            else None
        )

    def line(self, text: str) -> None:
        """A line of output, above the bar when there is one."""
        if self.bar is not None:
            self.bar.clear()
            print(text, file=self.stream, flush=True)
            self.bar.refresh()
        else:
            print(text, file=self.stream, flush=True)

    def status(self, text: str) -> None:
        """What the epoch in progress is doing, on the bar (nothing without one)."""
        if self.bar is not None:
            self.bar.set_postfix_str(text)

    def epoch(self, row: Mapping[str, Any]) -> None:
        """The epoch's row, compact or as a table; the bar moves on."""
        text = compact_line(row, self.epochs) if self.table == "compact" else format_table(row).rstrip("\n")
        self.line(text)
        if self.bar is not None:
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class Quiet(Progress):
    """No output at all (``verbose=False``, or a data-parallel process other than rank 0)."""

    def __init__(self) -> None:
        self.bar = None

    def line(self, text: str) -> None: ...

    def epoch(self, row: Mapping[str, Any]) -> None: ...
