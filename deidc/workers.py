"""Helper processes for ``--jobs N``: forked workers fed batches of files through pipes.

Why not :mod:`concurrent.futures`: importing it costs 13 ms, a quarter of a run's start-up,
and every batch travels through two helper threads of the main process, which must win the GIL
from the main thread while it de-identifies its own share.  On 1000 small files that made a
``--jobs 2`` run phase 1.45x faster than ``--jobs 1``, where two forked processes splitting the
same files reach 1.9x.  A forked worker also inherits what the main process has loaded (the
plan, imported modules), so it starts working within a millisecond.

The protocol is one length-prefixed message per batch: its work items down a worker's task
pipe, the list of its results back up its result pipe.  Messages are :mod:`marshal` data (built
into the interpreter, where importing :mod:`pickle` costs 6 ms of start-up), or a pickle when
they hold more than plain values (``str``, numbers, tuples, lists, dicts).  The main process never blocks on a
task pipe (its writes are non-blocking, the rest is kept until the worker reads), so a worker
blocked writing large results can never wait on a main process blocked writing tasks.
A worker that dies (killed, crashed) fails its outstanding batches and the run goes on.

POSIX only (``os.fork``): :func:`available` says whether this platform has it.
"""

from __future__ import annotations

import gc
import marshal
import os
import select
from collections import deque
from collections.abc import Callable, Iterator

_LENGTH = 8  # bytes of the little-endian length before each message
_MARSHAL, _PICKLE = b"M", b"P"  # a message's first byte: how the rest is encoded


def available() -> bool:
    return hasattr(os, "fork")


class Worker:
    """One forked process and the main process's ends of its two pipes."""

    def __init__(self, pid: int, tasks: int, results: int):
        self.pid = pid
        self.tasks = tasks  # write end, non-blocking
        self.results = results  # read end
        self.outbox = bytearray()  # task bytes the pipe could not take yet
        self.outstanding: deque[list] = deque()  # batches sent, results not yet back


class Workers:
    """``count`` forked workers, each running ``work(batch) -> list`` on the batches sent to it.

    ``depth`` batches may wait for a worker at once: enough that it never idles between
    batches, few enough that the main process is not left waiting at the end of a run."""

    def __init__(self, count: int, work: Callable[[list], list], depth: int = 2):
        self.depth = depth
        self.workers: list[Worker] = []
        # What exists now lives as long as the run: the garbage collector need not look at it
        # again, and not touching it keeps the pages the workers share with this process shared.
        gc.freeze()
        try:
            for _ in range(count):
                self.workers.append(self._fork(work))
        except BaseException:
            self.close()
            raise

    def _fork(self, work: Callable[[list], list]) -> Worker:
        tasks_in, tasks_out = os.pipe()
        results_in, results_out = os.pipe()
        pid = os.fork()
        if pid == 0:  # the worker: never returns into the caller's code
            status = 1
            try:
                os.close(tasks_out)
                os.close(results_in)
                for sibling in self.workers:  # else a sibling's task pipe never reaches EOF
                    os.close(sibling.tasks)
                    os.close(sibling.results)
                _serve(tasks_in, results_out, work)
                status = 0
            except KeyboardInterrupt:
                status = 130
            except BrokenPipeError:  # the main process is gone
                status = 1
            except BaseException:
                import traceback

                traceback.print_exc()
            finally:
                os._exit(status)
        os.close(tasks_in)
        os.close(results_out)
        os.set_blocking(tasks_out, False)
        return Worker(pid, tasks_out, results_in)

    def idle(self) -> Worker | None:
        """A worker with room for another batch, if any."""
        for worker in self.workers:
            if len(worker.outstanding) < self.depth:
                return worker
        return None

    def send(self, worker: Worker, batch: list) -> None:
        worker.outbox += _encode(batch)
        worker.outstanding.append(batch)
        _flush(worker)

    def collect(self, wait: bool = False) -> Iterator[tuple[int, list, list | None]]:
        """(worker's pid, batch, results) for each batch that has come back; ``results`` is
        ``None`` when the worker died before returning it.  ``wait``: until every outstanding
        batch is back."""
        while True:
            busy = [w for w in self.workers if w.outstanding]
            if not busy:
                return
            writing = [w.tasks for w in busy if w.outbox]
            readable, writable, _ = select.select([w.results for w in busy], writing, [],
                                                  None if wait else 0)
            for worker in busy:
                if worker.tasks in writable:
                    _flush(worker)
                if worker.results in readable:
                    yield from self._receive(worker)
            if not wait and not readable:
                return

    def _receive(self, worker: Worker) -> Iterator[tuple[int, list, list | None]]:
        try:
            results = _decode(worker.results)
        except (EOFError, OSError, ValueError):
            self.workers.remove(worker)
            self._reap(worker)
            while worker.outstanding:
                yield worker.pid, worker.outstanding.popleft(), None
            return
        yield worker.pid, worker.outstanding.popleft(), results

    def close(self, abort: bool = False) -> None:
        """End every worker: at the end of its batches, or, with ``abort`` (the run stopped
        early), at once, as Ctrl-C would (it removes the output it was writing)."""
        for worker in self.workers:
            self._reap(worker, abort)
        self.workers = []

    @staticmethod
    def _reap(worker: Worker, abort: bool = False) -> None:
        if abort:
            import signal

            try:
                os.kill(worker.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
        for descriptor in (worker.tasks, worker.results):
            try:
                os.close(descriptor)
            except OSError:
                pass
        try:
            os.waitpid(worker.pid, 0)
        except ChildProcessError:
            pass


def _serve(tasks: int, results: int, work: Callable[[list], list]) -> None:
    """The worker's loop: a batch in, its results out, until the task pipe ends."""
    while True:
        try:
            batch = _decode(tasks)
        except EOFError:
            return
        view = memoryview(_encode(work(batch)))
        while view:
            view = view[os.write(results, view):]


def _encode(message) -> bytes:
    """Length, kind, data."""
    try:
        payload = _MARSHAL + marshal.dumps(message)
    except ValueError:  # not plain values
        import pickle

        payload = _PICKLE + pickle.dumps(message, pickle.HIGHEST_PROTOCOL)
    return len(payload).to_bytes(_LENGTH, "little") + payload


def _decode(descriptor: int):
    """The next message from a pipe (:class:`EOFError` at its end, :class:`ValueError` if it
    is not one)."""
    header = _read_exactly(descriptor, _LENGTH)
    payload = _read_exactly(descriptor, int.from_bytes(header, "little"))
    if payload[:1] == _MARSHAL:
        return marshal.loads(payload[1:])
    if payload[:1] == _PICKLE:
        import pickle

        try:
            return pickle.loads(payload[1:])
        except pickle.UnpicklingError as exc:
            raise ValueError(str(exc)) from None
    raise ValueError("not a worker message")


def _flush(worker: Worker) -> None:
    try:
        written = os.write(worker.tasks, worker.outbox)
    except BlockingIOError:
        return
    except BrokenPipeError:  # the worker died; its result pipe says so next
        worker.outbox.clear()
        return
    del worker.outbox[:written]


def _read_exactly(descriptor: int, size: int) -> bytes:
    chunks = []
    while size:
        chunk = os.read(descriptor, min(size, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)

