"""What every algorithm's loop shares, composed in :class:`pgrl.training.run.Run`: building a run from
the algorithm's call (build), resuming (resume), signals (interrupts), the epoch's row and evaluations
(epoch). The run directory and checkpoints live in :mod:`pgrl.rundir` and :mod:`pgrl.checkpoint`."""

from pgrl.training.run import Run, Trained

__all__ = ["Run", "Trained"]
