"""A stop signal ends a run even when the exception its handler raised was lost."""

from __future__ import annotations

import os
import signal
import sys

import pytest

from deidc.run.signals import Interrupted, Stopping


class SignalledWhileCollected:
    """An object whose finaliser receives SIGTERM: the handler runs inside ``__del__``,
    where Python prints its exception as "ignored" and goes on."""

    def __del__(self):
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(10_000):  # the handler runs between these bytecodes
            pass


def test_a_signal_raised_inside_a_finaliser_still_stops_the_run(capfd):
    with Stopping() as stopping:
        SignalledWhileCollected()  # collected at once: its raise is swallowed
        assert stopping.signalled == signal.SIGTERM
        with pytest.raises(Interrupted) as stopped:
            stopping.check()
    assert stopped.value.signum == signal.SIGTERM
    assert "Traceback" not in capfd.readouterr().err  # the lost raise is not printed


def test_other_lost_exceptions_are_still_reported():
    seen = []
    previous = sys.unraisablehook
    sys.unraisablehook = seen.append
    try:
        with Stopping():

            class Failing:
                def __del__(self):
                    raise ValueError("a real bug")

            Failing()
    finally:
        sys.unraisablehook = previous
    assert [u.exc_type for u in seen] == [ValueError]


def test_a_signal_inside_a_commit_waits_for_it_to_end():
    done = []

    def commit():
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(10_000):
            pass
        done.append(True)

    with Stopping() as stopping, pytest.raises(Interrupted):
        stopping.deferred(commit)
    assert done == [True]


def test_without_a_signal_check_lets_the_run_go_on():
    with Stopping() as stopping:
        stopping.check()
    assert signal.getsignal(signal.SIGTERM) is not stopping._handle
