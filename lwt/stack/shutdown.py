"""SIGINT/SIGTERM at any moment: the first one becomes `Interrupted` in the main thread.

A module of its own, importing only the standard library's lightest parts, because the
`lwt` console script arms it before anything else (`lwt.entry`): every millisecond of
imports before `install()` is a window in which a signal gets the default action.
`shutdown.deferred()` holds a signal while a child is being spawned or stopped, so a
process is always registered for cleanup before the signal is seen and a stop is never cut
short. Later signals are ignored: we are already stopping.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived; raised once, in the main thread (a BaseException so that
    `except Exception` in the code it interrupts does not swallow it)."""

    def __init__(self, signal_name: str) -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name


class Shutdown:
    """Turns the first SIGINT/SIGTERM into `Interrupted`, deferred inside critical sections."""

    def __init__(self) -> None:
        self.requested: str | None = None
        self._depth = 0
        self._raised = False

    def install(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, _frame: object) -> None:
        if self.requested is not None:
            return  # already stopping: the first signal decides
        self.requested = signal.Signals(signum).name
        if self._depth == 0 and threading.current_thread() is threading.main_thread():
            self._raise()

    def _raise(self) -> None:
        self._raised = True
        raise Interrupted(self.requested or "SIGTERM")

    @contextmanager
    def deferred(self, raise_after: bool = True) -> Iterator[None]:
        """Hold a signal until the block ends (then raise it, unless `raise_after` is
        False: a stop in progress finishes, and the caller is already leaving)."""
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0 and self.requested and not self._raised and raise_after:
                self._raise()

    def check(self) -> None:
        """Raise a held signal now (for loops that run inside a deferred block)."""
        if self.requested and not self._raised:
            self._raise()


shutdown = Shutdown()
