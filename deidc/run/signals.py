"""SIGINT, SIGTERM and SIGHUP end a run the same way: as Ctrl-C does.

SIGTERM is what ``kill``, docker and systemd send, SIGHUP what a closed terminal or ssh
session sends; by default either would end the process at once, leaving temporary files
and an unfinished journal group behind.  During a run each raises :class:`Interrupted` (a
:class:`KeyboardInterrupt`, so every cleanup written for Ctrl-C runs), except inside a
commit (:meth:`Stopping.deferred`: a file's journal line, log rows and rename), which a
signal never cuts: it is raised as soon as the commit is done.  A signal the run was started
with ignored (``nohup``, a background job's SIGINT) stays ignored.

A handler's exception can be lost: raised while Python runs a finaliser (a file or generator
collected in the middle of a batch, logging's lock release after a worker is forked), it is
"ignored" and the code goes on.  So the signal is also kept, and the run asks
:meth:`Stopping.check` after each file; and while the handlers are installed, such a lost
:class:`Interrupted` is not printed as a traceback (the run still ends with its own message).
"""

from __future__ import annotations

import signal
import sys

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(KeyboardInterrupt):
    """The run was stopped by ``signum``; the command exits with 128 + signum (130 for
    Ctrl-C, 143 for SIGTERM, 129 for SIGHUP), as a shell reports a process a signal ended."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name


class Stopping:
    """The handlers of a run, installed while it is under way (from the main thread only:
    a run in another thread keeps the process's handlers)."""

    def __init__(self) -> None:
        self._previous: dict[int, object] = {}
        self._deferring = 0
        self._pending: int | None = None
        self.signalled: int | None = None
        self._unraisable_hook = None

    def __enter__(self) -> "Stopping":
        self._unraisable_hook = sys.unraisablehook
        sys.unraisablehook = self._unraisable
        for signum in STOP_SIGNALS:
            try:
                if signal.getsignal(signum) is not signal.SIG_IGN:
                    self._previous[signum] = signal.signal(signum, self._handle)
            except ValueError:  # not the main thread
                break
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()
        sys.unraisablehook = self._unraisable_hook

    def _unraisable(self, unraisable) -> None:
        if unraisable.exc_type is not None and issubclass(unraisable.exc_type, Interrupted):
            return  # kept in self.signalled: check() raises it again where it can be caught
        self._unraisable_hook(unraisable)

    def _handle(self, signum: int, frame) -> None:
        self.signalled = signum
        if self._deferring:
            self._pending = signum
            return
        raise Interrupted(signum)

    def check(self) -> None:
        """Raise :class:`Interrupted` if a stop signal came, even one whose first raise was
        lost."""
        if self.signalled is not None:
            raise Interrupted(self.signalled)

    def deferred(self, function, *args):
        """``function(*args)``, with the stop signals held until it returns."""
        self._deferring += 1
        try:
            return function(*args)
        finally:
            self._deferring -= 1
            if not self._deferring and self._pending is not None:
                signum, self._pending = self._pending, None
                raise Interrupted(signum)
