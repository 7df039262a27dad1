"""The one exception type for bad input that a user can fix; the CLI prints it as one line."""

from __future__ import annotations


class PgrlError(ValueError):
    """Bad input (env id, space, hyperparameter, run directory, checkpoint).

    The message says what was wrong and what to do; the CLI prints it and exits with status 2.
    """


class NonFiniteError(PgrlError):
    """Training produced a NaN or infinity (in a loss, the gradients or the parameters).

    Training stops and the last good checkpoint stays on disk; ``nan_policy="skip"`` skips such
    updates instead.
    """


class EnvError(PgrlError):
    """The environment failed while stepping: its own exception, or a subprocess env worker that died.

    The run that stepped it adds where training stood and which checkpoint is kept, and stops.
    """

    @classmethod
    def from_exception(cls, e: BaseException, where: str) -> EnvError:
        """The failure ``e`` of the envs' ``where`` (``"step()"``), in a line."""
        if isinstance(e, BrokenPipeError | EOFError | ConnectionError):
            return cls(f"an env worker process died during {where} ({type(e).__name__})")
        detail = " ".join(str(e).split()) or "no message"
        return cls(f"{where} raised {type(e).__name__}: {detail}")


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped on SIGINT (Ctrl-C) or SIGTERM, with a consistent checkpoint on disk.

    The first signal lets the epoch in progress finish, logs it and writes a checkpoint; a second one
    stops at once (the last checkpoint written stays valid). A ``KeyboardInterrupt``, so code that
    stops on Ctrl-C stops here too; the CLI exits with 128 + the signal number (130 for SIGINT, 143
    for SIGTERM).

    Attributes:
        run_dir: the run directory, to pass to ``resume=`` (or ``--resume``).
        signum: the signal received.
        epoch: the epoch of the checkpoint on disk (None: none was written yet).
        algo: the algorithm's name.
        complete: all epochs were done (nothing left to resume).
        immediate: stopped at once by a second signal (the epoch in progress was dropped).
    """

    def __init__(
        self,
        run_dir: str,
        signum: int,
        epoch: int | None,
        algo: str,
        complete: bool = False,
        immediate: bool = False,
    ) -> None:
        self.run_dir, self.signum, self.epoch, self.algo = run_dir, signum, epoch, algo
        self.complete, self.immediate = complete, immediate
        super().__init__(self.message())

    @property
    def signal_name(self) -> str:
        import signal

        try:
            return signal.Signals(self.signum).name
        except ValueError:
            return f"signal {self.signum}"

    def message(self, cli: bool = False) -> str:
        """One line: what was saved where, and how to continue (the CLI's or Python's way)."""
        import shlex

        head = f"interrupted by {self.signal_name}"
        if self.epoch is None:
            again = "--overwrite" if cli else "overwrite=True"
            return f"{head}: no checkpoint was written yet in {self.run_dir!r}; start the run again with {again}"
        if self.immediate:
            where = f"stopped at once; the last checkpoint (epoch {self.epoch}) in {self.run_dir!r} is intact"
        else:
            where = f"checkpoint of epoch {self.epoch} saved in {self.run_dir!r}"
        command = f"pgrl train {self.algo} --resume {shlex.quote(self.run_dir)}"
        if self.complete:
            how = f"training is complete; evaluate it with `pgrl eval {shlex.quote(self.run_dir)}`"
        elif cli:
            how = f"resume with `{command}`"
        else:
            how = f"resume with {self.algo}(resume={self.run_dir!r}) or `{command}`"
        return f"{head}: {where}; {how}"


def write_error(e: OSError, path: object, kept: str = "") -> PgrlError:
    """A one-line :class:`PgrlError` for a failed write; says so plainly when the disk is full.

    ``kept`` names what survived the failed write (e.g. "the previous checkpoint is intact").
    """
    import errno

    kept = f"; {kept}" if kept else ""
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return PgrlError(f"the disk is full: could not write {str(path)!r}{kept}; free some space and resume the run")
    return PgrlError(f"cannot write {str(path)!r}: {e.strerror or e}{kept}")
