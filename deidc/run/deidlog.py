"""The deid log: Flywheel's before/after CSV, the only record a site keeps of which original
became which pseudonym.  So it is treated as the most precious file a run touches:

* each file's rows are appended to the log itself as soon as the file is done (one ``write``
  of whole rows on an ``O_APPEND`` descriptor), never gathered in a temporary file that
  replaces the log at the end: a run killed at any point keeps the rows of every file done;
* only the main process writes it (workers send their rows back), under an exclusive
  ``flock`` per file, so two runs sharing one log interleave whole files' rows, never bytes;
* a failed write (a full disk) is undone by cutting the log back to its length before that
  write, which removes only the partial row this process wrote under its lock; the log is
  never replaced or emptied, and the run stops with :class:`LogError`;
* a cell that a spreadsheet would read as a formula (it begins with ``=``, ``+``, ``-``,
  ``@``, a tab or a carriage return) gets a leading ``'``: PatientName, PatientID and file
  names come from outside and must not run in whoever opens the log.  ``exact_cells`` (the
  CLI's ``--compat flywheel``) writes Flywheel's cells unchanged.
"""

from __future__ import annotations

import csv
import io
import os

from .runner import RunError

FILE_COLUMNS = ("path", "type")
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


class LogError(RunError):
    """The deid log cannot be written: the run stops, the log stays as it was."""


def neutralise(cell: object) -> object:
    """A cell a spreadsheet shows as text, never evaluates (OWASP's CSV-injection advice)."""
    if isinstance(cell, str) and cell.startswith(FORMULA_LEADS):
        return "'" + cell
    return cell


class DeidLog:
    """The log at ``path`` with ``columns`` after path and type, open for appending."""

    def __init__(self, path: str, columns: list[str], exact_cells: bool = False):
        self.path = path
        self.fields = list(dict.fromkeys([*FILE_COLUMNS, *columns]))
        self.exact_cells = exact_cells
        if os.path.isdir(path):
            raise LogError(f"the deid log {path} is a folder: give a file name "
                           "(--log FOLDER/deid-log.csv)")
        if os.path.exists(path) and not os.path.isfile(path):
            raise LogError(f"the deid log {path} is not a regular file (a device or a pipe): "
                           "give a file name")
        folder = os.path.dirname(os.path.abspath(path))
        try:
            os.makedirs(folder, exist_ok=True)
            # 0o600 for a new log: it holds the original identifiers
            self.descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC,
                                      0o600)
        except OSError as exc:
            raise LogError(f"the deid log {path} cannot be opened: {exc.strerror or exc}") \
                from None
        try:
            self._check_existing()
            # under the lock: two runs starting on one new log must not both write a header
            self._append(self._encode([dict(zip(self.fields, self.fields))], header=True),
                         "its header", only_if_empty=True)
        except BaseException:
            os.close(self.descriptor)
            raise

    def _check_existing(self) -> None:
        """An existing log is appended to (as Flywheel does) only if it is a CSV log: a binary
        file or another CSV given as ``--log`` by mistake is refused, not appended to."""
        with open(self.path, "rb") as existing:
            head = existing.read(65536)
        if not head:
            return
        first = head.split(b"\n", 1)[0].rstrip(b"\r")
        try:
            header = next(csv.reader([first.decode("utf-8")]))
        except (UnicodeDecodeError, StopIteration, csv.Error):
            header = []
        if b"\0" in head or header[:2] != list(FILE_COLUMNS):
            raise LogError(f"{self.path} exists and is not a deid log (its first line is not "
                           "'path,type,...'): give another --log file")

    def _encode(self, rows, header: bool = False) -> bytes:
        text = io.StringIO()
        writer = csv.DictWriter(text, self.fields, extrasaction="ignore")
        for row in rows:
            writer.writerow(row if header or self.exact_cells
                            else {key: neutralise(value) for key, value in row.items()})
        # a file name that is not UTF-8 stays readable, as \x.. escapes, not a stopped run
        return text.getvalue().encode("utf-8", "backslashreplace")

    def write(self, rows, what: str, announce=None) -> None:
        """Append one file's rows, whole or not at all; ``what`` names the file in a message.
        ``announce(offset, length)`` is called under the lock, just before the write, with
        where the rows will be: the run journal records it, so that a re-run can tell whether
        they were written."""
        if rows:
            self._append(self._encode(rows), what, announce)

    def holds(self, offset: int, length: int, path: str) -> bool:
        """Are the ``length`` bytes at ``offset`` rows of the file logged as ``path``?"""
        try:
            with open(self.path, "rb") as log:
                log.seek(offset)
                data = log.read(length)
        except OSError:
            return False
        if len(data) != length or not data.endswith(b"\n"):
            return False
        expected = next(csv.reader([self._encode([{"path": path}]).decode("utf-8")]))[0]
        try:
            rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
        except (UnicodeDecodeError, csv.Error):
            return False
        return bool(rows) and all(row[:1] == [expected] and row[1:2] in (["before"], ["after"])
                                  for row in rows)

    def sync(self) -> None:
        """To disk: an in-place original is replaced only once its rows are safe."""
        try:
            os.fsync(self.descriptor)
        except OSError as exc:
            raise LogError(f"the deid log {self.path} cannot be flushed to disk "
                           f"({exc.strerror or exc}): free space, then run the same command "
                           "again") from None

    def _append(self, data: bytes, what: str, announce=None, only_if_empty: bool = False) -> None:
        import fcntl

        fcntl.flock(self.descriptor, fcntl.LOCK_EX)
        try:
            start = os.fstat(self.descriptor).st_size
            if only_if_empty and start:
                return
            if announce is not None:
                announce(start, len(data))
            view = memoryview(data)
            try:
                while view:
                    view = view[os.write(self.descriptor, view):]
            except OSError as exc:
                try:
                    os.ftruncate(self.descriptor, start)  # our partial row only: we hold the lock
                except OSError:
                    pass
                raise LogError(f"the deid log {self.path} could not take the rows of {what} "
                               f"({exc.strerror or exc}); the log is as it was before them and "
                               "the run stopped: free space, then run the same command "
                               "again") from None
        finally:
            fcntl.flock(self.descriptor, fcntl.LOCK_UN)

    def close(self) -> None:
        if self.descriptor >= 0:
            try:
                os.fsync(self.descriptor)
            except OSError:
                pass
            os.close(self.descriptor)
            self.descriptor = -1
