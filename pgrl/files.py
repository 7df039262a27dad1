"""Atomic file replacement: what checkpoints, progress.txt, config.json and eval.json are written with."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from pgrl.errors import write_error


def atomic_write(path: Path, write: Callable[[BinaryIO], object], kept: str | None = None) -> None:
    """Replace ``path`` with what ``write(file)`` writes: temp file, fsync, rename, fsync of the directory.

    A crash at any moment leaves the previous file or the new one, never a torn one. A failed write
    (e.g. a full disk) raises :class:`pgrl.PgrlError` saying so, removes the temp file and leaves the
    previous file in place; ``kept`` says what survived (default: "the previous version is intact").
    """
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        survived = kept or "the previous version is intact"
        raise write_error(e, path, survived if path.exists() else "") from e
    fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (best effort: not every platform can open a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
