"""SIGINT (Ctrl-C) and SIGTERM while a run's loop runs: finish the epoch, checkpoint it, then stop.

The first signal only records itself (and says so on stderr); the run checks :attr:`Interrupts.signal`
after logging the epoch, writes a checkpoint and raises :class:`pgrl.errors.TrainingInterrupted`. A
second signal stops at once (``on_second``), the checkpoint on disk being consistent.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any


class Interrupts:
    """The run's signal handlers, held only while its loop runs.

    Args:
        owner: the object whose loop this is (a :class:`pgrl.training.Run`): a handler left installed by a
            loop that died (no frame on the stack holds ``owner``) steps aside for the previous handler.
        doing: what the first signal lets finish, for the message (e.g. "finishing epoch 3, then writing a
            checkpoint").
        on_second: called by the second signal; raises to stop at once.
        on_stale: called when a handler finds its loop gone, before stepping aside (default: :meth:`release`).
    """

    def __init__(
        self,
        owner: object,
        doing: Callable[[], str],
        on_second: Callable[[int], None],
        on_stale: Callable[[], None] | None = None,
    ) -> None:
        self.owner = owner
        self.doing = doing
        self.on_second = on_second
        self.on_stale = on_stale or self.release
        self.signal: int | None = None
        self._handlers: dict[int, Any] | None = None

    def install(self) -> None:
        """Take over SIGINT and SIGTERM (in the main thread; a signal ignored on purpose stays ignored)."""
        if self._handlers is not None or threading.current_thread() is not threading.main_thread():
            return
        self._handlers = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            if signal.getsignal(sig) == signal.SIG_IGN:  # ignored on purpose (a background job, a supervisor)
                continue
            with contextlib.suppress(ValueError, OSError):  # not the main interpreter, or an odd platform
                self._handlers[sig] = signal.signal(sig, self._on_signal)

    def release(self) -> None:
        """Give the previous handlers back."""
        handlers, self._handlers = self._handlers, None
        for sig, previous in (handlers or {}).items():
            with contextlib.suppress(ValueError, OSError):
                signal.signal(sig, previous if previous is not None else signal.SIG_DFL)

    def _on_signal(self, signum: int, frame: Any) -> None:
        if not self._loop_on_stack(frame):  # left behind by a loop that died: act as before
            self.on_stale()
            previous = signal.getsignal(signum)
            if callable(previous):
                previous(signum, frame)
            elif previous == signal.SIG_DFL:
                signal.raise_signal(signum)
            return
        if self.signal is not None:  # the second signal: stop now
            self.on_second(signum)
            return
        self.signal = signum
        name = signal.Signals(signum).name
        with contextlib.suppress(OSError, ValueError, AttributeError):  # stderr may be closed or replaced
            os.write(
                sys.stderr.fileno(),
                f"\npgrl: {name} received: {self.doing()} (send it again to stop at once)\n".encode(),
            )

    def _loop_on_stack(self, frame: Any) -> bool:
        """Whether the owner's loop is executing (a frame holds the owner): an algorithm function that
        raised leaves the handlers installed, and they must not swallow a later Ctrl-C."""
        while frame is not None:
            if any(value is self.owner for value in frame.f_locals.values()):
                return True
            frame = frame.f_back
        return False
