"""Each input is opened once; everything deidc reads of it comes from that one descriptor.

Why: a value read later by the file's *name* (pydicom's deferred reads reopen the file) comes
from whatever file has that name by then: an input replaced meanwhile gave patient A's header
with patient B's pixels.  And a memory map of a file that shrinks ends the whole process with
SIGBUS at the first page past the new end.

How:

* a file up to :data:`READ_WHOLE` bytes is read whole, from the descriptor;
* a larger one is mapped, under a read lease (``F_SETLEASE``, Linux): while deidc holds it,
  another process that opens the file to write it, or truncates it, waits (up to the kernel's
  ``lease-break-time``, 45 s by default) and deidc is told (``SIGIO``).  The file being read
  then fails, :class:`InputChanged` raised wherever the work is, and the lease is released at
  once: the map never sees the file shrink.  A file cannot be leased when another process has
  it open for writing (a file still being received), when this user does not own it (nor is
  root), outside the main thread, or on a filesystem without leases: it is then read whole if
  it fits in the memory bound, and fails with a line saying why otherwise;
* after the output is written, :meth:`Input.check_unchanged` compares the file's status with
  what it was when opened (size, mtime) and its name with the file opened (device, inode): a
  file changed or replaced meanwhile fails alone, and its output is not committed.
"""

from __future__ import annotations

import os
import stat

READ_WHOLE = 8 * 2**20  # files up to this size are read in one call, larger ones mapped
MEMORY_LIMIT = 2**31  # bytes one file may take in memory unless the run says otherwise

_F_SETLEASE = 1024  # fcntl.F_SETLEASE and F_GETLEASE, on Linux (constants, not imported)
_F_RDLCK, _F_UNLCK = 0, 2


class InputChanged(BaseException):
    """The input was modified, truncated or replaced while deidc read it.  A BaseException,
    as a signal is: raised from the SIGIO handler wherever the work is, it must not be taken
    for a malformed value by the ``except Exception`` of a reader."""


class InputError(Exception):
    """The input cannot be read as it is (not a regular file, too large to hold)."""


_lease = {"held": False}  # at most one input is leased at a time per process


def _lease_broken(signum, frame) -> None:
    if _lease["held"]:
        _lease["held"] = False
        raise InputChanged("another process opened it to write it or truncated it while it "
                           "was read")


def _leases_available() -> bool:
    """Whether this process can be told of a lease break: the SIGIO handler is ours (installed
    here if SIGIO had its default action, which would end the process)."""
    import signal

    sigio = getattr(signal, "SIGIO", None)
    if sigio is None:
        return False
    try:
        current = signal.getsignal(sigio)
        if current is _lease_broken:
            return True
        if current is signal.SIG_DFL:
            signal.signal(sigio, _lease_broken)
            return True
    except ValueError:  # not the main thread: the handler could not run
        pass
    return False


class Input:
    """One opened input: its descriptor, its status when opened, and its bytes (``data``: a
    ``bytes`` or a leased read-only map)."""

    def __init__(self, path: str, memory_limit: int | None = None):
        self.path = path
        memory_limit = self.memory_limit = memory_limit or MEMORY_LIMIT
        self.data = b""
        self._map = None
        # O_NONBLOCK: a FIFO put in place of a file since it was looked at must not block
        # the run (a regular file ignores the flag)
        self.descriptor = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        try:
            self.info = os.fstat(self.descriptor)
            if not stat.S_ISREG(self.info.st_mode):
                raise InputError("not a regular file")
            size = self.info.st_size
            if size <= READ_WHOLE:
                self.data = self._read(size)
                return
            refused = self._map_leased()
            if refused:
                if size > memory_limit:
                    raise InputError(f"{size} bytes, more than the memory bound of "
                                     f"{memory_limit} bytes, and it cannot be mapped safely "
                                     f"({refused})")
                self.data = self._read(size)
        except BaseException:
            self.close()
            raise

    def _read(self, size: int) -> bytes:
        """The whole file, from the descriptor; a file that grew since the fstat is changing."""
        chunks = []
        left = size + 1
        while left > 0:
            chunk = os.read(self.descriptor, min(left, 1 << 30))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        if len(data) != size:
            raise InputChanged(f"it is {len(data)} bytes where it was {size} a moment before: "
                               "it is being written")
        return data

    def _map_leased(self) -> str:
        """Map the file under a read lease; returns why it could not ('' when mapped)."""
        import fcntl
        import mmap

        if not _leases_available():
            return "no read lease outside the main thread or on this system"
        try:
            fcntl.fcntl(self.descriptor, _F_SETLEASE, _F_RDLCK)
        except OSError as exc:
            import errno

            if exc.errno == errno.EAGAIN:
                return "another process has it open for writing"
            return f"no read lease: {exc.strerror or exc}"
        _lease["held"] = True
        self._map = self.data = mmap.mmap(self.descriptor, 0, access=mmap.ACCESS_READ)
        if len(self._map) != self.info.st_size:
            raise InputChanged("its size changed as it was opened")
        return ""

    @property
    def mapped(self) -> bool:
        return self._map is not None

    def check_unchanged(self) -> None:
        """Raise :class:`InputChanged` if the file was modified since it was opened, or its
        name now names another file."""
        now = os.fstat(self.descriptor)
        if (now.st_size, now.st_mtime_ns) != (self.info.st_size, self.info.st_mtime_ns):
            raise InputChanged("it was modified while it was read")
        try:
            named = os.stat(self.path)
        except OSError:
            raise InputChanged("it was removed or renamed while it was read") from None
        if (named.st_dev, named.st_ino) != (self.info.st_dev, self.info.st_ino):
            raise InputChanged("it was replaced by another file while it was read")

    def close(self) -> None:
        if self._map is not None:
            try:
                self._map.close()
            except BufferError:  # a view of it lives on in an interrupted frame: unmapped
                pass             # with it (nothing reads it any more)
            self._map = None
        self.data = b""
        if self.descriptor >= 0:
            if _lease["held"]:
                _lease["held"] = False
            os.close(self.descriptor)  # releases the lease
            self.descriptor = -1

    def __enter__(self) -> "Input":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
