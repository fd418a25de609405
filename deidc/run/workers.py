"""Helper processes for ``--jobs N``: forked workers and the main process share one queue.

Why not :mod:`concurrent.futures`: importing it is a large share of a run's start-up, and
every batch travels through two helper threads of the main process, which must win the GIL
from the main thread while it de-identifies its own share, so ``--jobs 2`` gained much less
than two forked processes splitting the same files.  A forked worker also inherits what the
main process has loaded (the plan, imported modules, the fast path's tables), so it starts
working at once.

Why one shared queue: with a queue per worker, the main process must decide up front who does
a batch, and at the end of a run it sits idle while a worker finishes the batches queued for it
(on large files, a large share of a run).  Here every process, the main one included, takes the
next batch when it is free, so no process waits while another has work not yet started.

The queue is a pipe whose messages are all exactly :data:`MESSAGE` (``PIPE_BUF``) bytes: POSIX
makes such a write atomic, so every read of that size, by whichever process gets it first,
takes exactly one whole batch.  A message holds a key and the batch's items (:mod:`marshal`
data: built into the interpreter, where :mod:`pickle` must be imported); a batch too big
for one is the caller's to split.  Results come back on one pipe per worker, length-prefixed,
as marshal data or, when they hold more than plain values, a pickle.

A worker that dies (killed, crashed) loses only the batches it had taken: they are reported as
lost when the run ends, and the rest of the run goes on.  POSIX only (``os.fork``):
:func:`available` says whether this platform has it.
"""

from __future__ import annotations

import gc
import marshal
import os
import select
import signal
import sys
import time
from collections.abc import Callable, Iterator

MESSAGE = select.PIPE_BUF  # bytes in every queue message
_KEY = 8  # bytes of the key (and of the payload's length) in a message
_LENGTH = 8  # bytes of the little-endian length before each result message
GRACE = 5.0  # seconds an aborted worker has to stop by itself
_MARSHAL, _PICKLE = b"M", b"P"  # a result message's first byte: how the rest is encoded


def available() -> bool:
    return hasattr(os, "fork")


class Workers:
    """``count`` forked workers, each running ``work(items) -> results`` on the batches it
    takes from the queue; the main process puts batches in, and takes some itself."""

    def __init__(self, count: int, work: Callable[[list], list], ahead: int = 4):
        self.pending: set[int] = set()  # keys put and not yet taken here or returned
        self.results: dict[int, int] = {}  # a live worker's result pipe -> its pid
        self.ended: list[int] = []  # pids of workers gone
        self.killed: list[int] = []  # pids of workers close(abort=True) had to kill
        self.outstanding: dict[int, list] = {}  # share(): a queued batch's key -> the batch
        self._next_key = 0
        queue_out, queue_in = os.pipe()
        self.queue, self._queue_in = queue_out, queue_in
        #: How many batches the caller may keep queued: ``ahead``, or fewer if the pipe holds
        #: fewer.  Never more, or writing to a full queue could wait on workers that wait,
        #: with their results, on this process.
        self.room = min(ahead, _capacity(queue_in, ahead * MESSAGE) // MESSAGE)
        # What exists now lives as long as the run: the garbage collector need not look at it
        # again, and not touching it keeps the pages the workers share with this process shared.
        gc.freeze()
        try:
            for _ in range(count):
                self._fork(work)
        except BaseException:
            self.close(abort=True)
            raise
        # This process takes from the queue without waiting (the flag is the read end's, which
        # the workers share: they wait in select instead).
        os.set_blocking(self.queue, False)

    def _fork(self, work: Callable[[list], list]) -> None:
        results_out, results_in = os.pipe()
        pid = os.fork()
        if pid == 0:  # the worker: never returns into the caller's code
            status = 1
            try:
                # Stopped by close(abort=True) as by Ctrl-C: a KeyboardInterrupt, which
                # removes the output being written.  (SIGINT itself may be ignored: a run in
                # the background of a shell script inherits that.)
                signal.signal(signal.SIGTERM, signal.default_int_handler)
                # A blocked signal waits forever: the mask is inherited, and a CI harness or
                # a service manager may start this process with SIGTERM blocked.
                signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
                os.close(self._queue_in)  # else the queue never reaches its end
                os.close(results_out)
                for sibling in self.results:
                    os.close(sibling)
                _serve(self.queue, results_in, work)
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
        os.close(results_in)
        self.results[results_out] = pid
        # room for a few batches' results while this process is busy with its own
        _capacity(results_out, 1 << 20)

    def queued(self) -> int:
        """How many batches wait in the queue."""
        import fcntl
        import termios

        waiting = fcntl.ioctl(self.queue, termios.FIONREAD, b"\0\0\0\0")  # a C int
        return int.from_bytes(waiting, sys.byteorder) // MESSAGE

    def put(self, items: list) -> int | None:
        """Queue a batch; its key, or ``None`` if it does not fit in a message (split it)."""
        payload = marshal.dumps(items)
        if len(payload) > MESSAGE - 2 * _KEY:
            return None
        self._next_key += 1
        key = self._next_key
        message = key.to_bytes(_KEY, "little") + len(payload).to_bytes(_KEY, "little") + payload
        os.write(self._queue_in, message.ljust(MESSAGE, b"\0"))
        self.pending.add(key)
        return key

    def take(self) -> int | None:
        """The key of the next queued batch, taken for this process; ``None`` if none waits."""
        try:
            message = os.read(self.queue, MESSAGE)
        except BlockingIOError:
            return None
        key = _key(message)  # the items stay with the caller
        self.pending.discard(key)
        return key

    def collect(self, wait: bool = False) -> Iterator[tuple[int, list]]:
        """(key, results) of each batch a worker has finished.  ``wait``: until every worker
        has ended (see :meth:`finish`)."""
        while self.results:
            readable, _, _ = select.select(list(self.results), [], [], None if wait else 0)
            if not readable:
                return
            for pipe in readable:
                try:
                    key, results = _decode(pipe)
                except (EOFError, OSError, ValueError):  # the worker ended, or died
                    self.ended.append(self.results.pop(pipe))
                    os.close(pipe)
                    try:
                        os.waitpid(self.ended[-1], 0)
                    except ChildProcessError:
                        pass
                    continue
                self.pending.discard(key)
                yield key, results

    def finish(self) -> Iterator[tuple[int, list | None]]:
        """End the queue, then (key, results) for every batch still out, as the workers finish
        them; ``None`` results for those lost with a worker that died."""
        os.close(self._queue_in)
        self._queue_in = -1
        yield from self.collect(wait=True)
        for key in sorted(self.pending):
            yield key, None
        self.pending.clear()
        os.close(self.queue)
        self.queue = -1

    def share(self, batches: Iterator[list], here: Callable[[list], Iterator],
              returned: Callable[[list, list | None], Iterator],
              pack: Callable[[list], list] = list) -> Iterator:
        """Run ``batches`` on the workers and in this process, yielding what ``here`` and
        ``returned`` yield as each batch is done.  The queue is kept stocked; whenever no
        result waits, this process takes the next queued batch back and does it with
        ``here(batch)``.  A worker's results come back through ``returned(batch, results)``
        (``results`` is ``None`` for a batch lost with a worker that died).  ``pack`` turns a
        batch into the items a worker gets; a batch too big for one message is split, and an
        item that fits in none is done here.  Stopped early, the workers are stopped and
        :attr:`outstanding` keeps the batches still out, for the caller to clean up after."""
        exhausted = False
        try:
            while True:
                while not exhausted and self.queued() < self.room:
                    batch = next(batches, None)
                    if batch is None:
                        exhausted = True
                        break
                    left = self._put_split(batch, pack)
                    if left:  # too long a path for a message
                        yield from here(left)
                for key, results in self.collect():
                    yield from returned(self.outstanding.pop(key), results)
                key = self.take()
                if key is not None:
                    yield from here(self.outstanding.pop(key))
                elif exhausted:
                    break
            for key, results in self.finish():
                yield from returned(self.outstanding.pop(key), results)
        except BaseException:  # Ctrl-C, or the caller stopped: the workers stop too
            self.close(abort=True)
            raise
        self.close()

    def _put_split(self, batch: list, pack: Callable[[list], list]) -> list:
        """Queue ``batch`` in as many pieces as its messages need; returns the items that fit
        in none (a path of thousands of bytes)."""
        pieces, left = [batch], []
        while pieces:
            piece = pieces.pop()
            key = self.put(pack(piece))
            if key is not None:
                self.outstanding[key] = piece
            elif len(piece) > 1:
                pieces += [piece[len(piece) // 2:], piece[:len(piece) // 2]]
            else:
                left += piece
        return left

    def close(self, abort: bool = False) -> None:
        """Release the pipes and wait for the workers; ``abort`` (the run stopped early) stops
        them at once, as Ctrl-C would (each removes the output it was writing).  A worker
        still there after :data:`GRACE` seconds (a signal that landed just before a blocking
        call waits for that call) is killed and listed in :attr:`killed`: its half-written
        output is the caller's to remove."""
        if abort:
            for pid in self.results.values():
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        # Each descriptor once: one closed already (-1) may by now number another open file.
        for descriptor in (self._queue_in, self.queue, *self.results):
            if descriptor >= 0:
                os.close(descriptor)
        self._queue_in = self.queue = -1
        deadline = time.monotonic() + GRACE
        for pid in self.results.values():
            try:
                if abort:
                    while os.waitpid(pid, os.WNOHANG) == (0, 0):
                        if time.monotonic() > deadline:
                            os.kill(pid, signal.SIGKILL)
                            self.killed.append(pid)
                            os.waitpid(pid, 0)
                            break
                        time.sleep(0.01)
                else:
                    os.waitpid(pid, 0)
            except ChildProcessError:
                pass
            self.ended.append(pid)
        self.results = {}


def _capacity(pipe: int, wanted: int) -> int:
    """The bytes ``pipe`` holds, grown towards ``wanted`` where the system allows (Linux)."""
    import fcntl

    try:
        if fcntl.fcntl(pipe, fcntl.F_GETPIPE_SZ) < wanted:
            fcntl.fcntl(pipe, fcntl.F_SETPIPE_SZ, wanted)
        return fcntl.fcntl(pipe, fcntl.F_GETPIPE_SZ)
    except (AttributeError, OSError):  # not Linux, or over the system's limit
        return 4096  # assumed: a page, what pipes hold at the least on the systems we know


def _serve(queue: int, results: int, work: Callable[[list], list]) -> None:
    """The worker's loop: take a batch, send its results, until the queue ends."""
    while True:
        select.select([queue], [], [])
        try:
            message = os.read(queue, MESSAGE)
        except BlockingIOError:  # another process took it first
            continue
        if not message:
            return
        key, items = _unpack(message)
        view = memoryview(_encode((key, work(items))))
        while view:
            view = view[os.write(results, view):]


def _key(message: bytes) -> int:
    return int.from_bytes(message[:_KEY], "little")


def _unpack(message: bytes) -> tuple[int, list]:
    length = int.from_bytes(message[_KEY:2 * _KEY], "little")
    return _key(message), marshal.loads(message[2 * _KEY:2 * _KEY + length])


def _encode(message) -> bytes:
    """Length, kind, data."""
    try:
        payload = _MARSHAL + marshal.dumps(message)
    except ValueError:  # not plain values
        import pickle

        payload = _PICKLE + pickle.dumps(message, pickle.HIGHEST_PROTOCOL)
    return len(payload).to_bytes(_LENGTH, "little") + payload


def _decode(descriptor: int):
    """The next result message from a pipe (:class:`EOFError` at its end, :class:`ValueError`
    if it is not one)."""
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


def _read_exactly(descriptor: int, size: int) -> bytes:
    chunks = []
    while size:
        chunk = os.read(descriptor, min(size, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)
