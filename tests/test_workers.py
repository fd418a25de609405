"""The fork pool behind ``--jobs``: one shared queue, every batch done exactly once, a dead
worker's batches reported, never lost silently."""

from __future__ import annotations

import os

import pytest

from deidc.run import workers

pytestmark = pytest.mark.skipif(not workers.available(), reason="no os.fork here")


def squares(items):
    return [(os.getpid(), item * item) for item in items]


def drain(pool, keys):
    """Take batches here while any wait, then finish: every key's results, by key."""
    done = {}
    while (key := pool.take()) is not None:
        done[key] = "here"
    for key, results in pool.finish():
        assert key not in done
        done[key] = results
    pool.close()
    assert set(done) == set(keys)
    return done


def test_every_batch_is_done_once_by_someone():
    pool = workers.Workers(2, squares)
    keys = {pool.put(list(range(start, start + 5))): start for start in range(0, 200, 5)}
    assert None not in keys and pool.queued() <= 40
    done = drain(pool, keys)
    for key, results in done.items():
        if results != "here":
            assert [value for _, value in results] == \
                [n * n for n in range(keys[key], keys[key] + 5)]
            assert {pid for pid, _ in results} != {os.getpid()}
    assert any(results != "here" for results in done.values())  # the workers took some


def test_a_batch_too_big_for_one_message_is_refused():
    pool = workers.Workers(1, squares)
    try:
        assert pool.put(["x" * workers.MESSAGE]) is None
        assert pool.put(["x" * (workers.MESSAGE // 2)]) is not None
    finally:
        list(pool.finish())
        pool.close()


def test_the_batches_a_dead_worker_took_are_reported_lost():
    def dies(items):
        os._exit(9)

    pool = workers.Workers(1, dies)
    key = pool.put([1, 2, 3])
    while pool.queued():  # let the worker take it
        pass
    results = dict(pool.finish())
    pool.close()
    assert results == {key: None} and len(pool.ended) == 1


def _busy(items):
    """Work as a worker does it: Python code, which sees a signal at its next instruction."""
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pass
    return items


def _deaf(ready, items):
    """A worker that cannot hear SIGTERM (as one in a blocking call would not, for a while)."""
    import signal
    import time

    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    (ready / str(os.getpid())).touch()
    time.sleep(60)
    return items


def _abort_two_busy(work, blocked=False, ready=None):
    import signal
    import time

    if blocked:  # as a CI harness started this process once: the workers inherit the mask
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    try:
        pool = workers.Workers(2, work)
    finally:
        if blocked:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    pool.put([1])
    pool.put([2])
    while pool.queued() or (ready is not None and len(list(ready.iterdir())) < 2):
        pass
    started = time.monotonic()
    pool.close(abort=True)
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)
    return pool, time.monotonic() - started


@pytest.mark.parametrize("blocked", [False, True], ids=["", "with-SIGTERM-blocked-by-the-parent"])
def test_close_with_abort_stops_busy_workers(blocked):
    pool, took = _abort_two_busy(_busy, blocked)
    assert took < workers.GRACE and pool.killed == []


def test_close_with_abort_kills_a_worker_that_does_not_stop(tmp_path):
    import functools

    pool, took = _abort_two_busy(functools.partial(_deaf, tmp_path), ready=tmp_path)
    assert workers.GRACE <= took < workers.GRACE + 5
    assert sorted(pool.killed) == sorted(pool.ended) and len(pool.killed) == 2


def test_the_queue_holds_all_the_batches_the_caller_may_keep_queued():
    """Putting ``room`` batches never waits, even with no process taking them: a full queue
    could otherwise wait on workers blocked on their results."""
    pool = workers.Workers(0, squares, ahead=100)
    try:
        assert 1 <= pool.room <= 100
        for number in range(pool.room):
            pool.put([number])
        assert pool.queued() == pool.room
        assert [pool.take() is not None for _ in range(pool.room)] == [True] * pool.room
        assert pool.take() is None
    finally:
        list(pool.finish())
        pool.close()


def test_closing_after_finishing_leaves_other_files_open(tmp_path):
    """finish() closes the queue; close() must not close that number again, which the next
    file opened (an output, the log) may have taken by then."""
    pool = workers.Workers(1, squares)
    pool.put([1])
    list(pool.finish())
    with open(tmp_path / "next", "wb") as other:  # likely given the queue's old number
        pool.close()
        os.fstat(other.fileno())  # still open
        other.write(b"fine")
