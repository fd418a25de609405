"""The run journal: which files a run finished, so that running the same command again after
an interruption finishes the job without touching finished work twice.

Why a journal: an output folder alone cannot tell a finished output from a foreign file, and
an ``--in-place`` folder cannot tell a de-identified file from an original at all (a second
pass shifts dates again and hashes UIDs again: the originals are gone, nothing undoes it).

Where: a hidden file :data:`JOURNAL_NAME` in the output folder, or, for ``--in-place``, in
each input folder given (beside the files it describes, so a copy of the folder keeps it),
mode 0600 (it names the files).  A folder of an earlier in-place run above an input is used
instead of a new one, so running over a subfolder of it finds the finished files too.

What: one JSON line per finished file, keyed by its path under the journal's folder, with

* the input's identity: size, mtime_ns and the SHA-256 of its bytes (for ``--in-place``,
  of the original, the only record left of what the file was);
* the output's identity: size, mtime_ns, inode and SHA-256, which is what recognises a
  finished in-place file (its bytes are the de-identified ones) even in a copied folder;
* the temporary file it was written to and where its deid-log rows went (offset, length).

A file is committed in this order, by the main process only: its journal line, its log rows
(the line records where they go, written under the log's lock), then the rename of its
temporary file over the target.  Whatever instant a run is killed at, the re-run can tell:
the target already has the recorded output identity (done); or the temporary file is whole
and its rows are in the log (the rename is all that is missing: it is done now); or neither
(nothing of the file was committed: it is done again from the input, which is untouched).
Lines are appended with one ``write`` each and flushed to disk (``fsync``) once per group of
files, before that group's renames: an original replaced in place is always journaled first.

The journal's first line is the run's identity (the plan's content, ``--seed`` and
``--compat``); each run then adds a ``begin`` line when it starts and an ``end`` line when it
ends with no temporary file left, so a journal whose last run has no ``end`` tells the re-run
to finish that run's commits and remove its temporary files.  A different plan on the same
journal is refused, since mixing two plans' outputs in one folder (or a second plan over
in-place outputs) is never what a re-run means.
"""

from __future__ import annotations

import hashlib
import json
import os
import time

from .runner import RunError, is_temporary

JOURNAL_NAME = ".deidc.journal"
FORMAT = 1
LOCK_WAIT = 10.0  # seconds a run waits for the journal lock (workers of a killed run ending)


class JournalError(RunError):
    """The journal cannot be used (another plan's, locked, unwritable): the run stops."""


def run_identity(plan, seed: int | None, compat_flywheel: bool) -> str:
    """What makes two runs' outputs the same: the plan's rules and options, not where its
    profile lives or where in it each rule is (the origins), its notes, or which deidc
    version compiled it.  Tuples are encoded as JSON arrays as they stand (a plan read
    from its file and the same plan compiled give the same text)."""
    def chain(actions):
        return [(action.op, action.args, action.order) for action in actions]

    essential = plan._replace(
        deidc_version=None, pydicom_version=None, profile=None, notes=None,
        entries=[(entry.target, entry.kind, entry.keyword, entry.vr, chain(entry.actions))
                 for entry in plan.entries],
        patterns=[(rule.pattern, chain(rule.actions)) for rule in plan.patterns])
    text = json.dumps([essential, seed, compat_flywheel], sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


HEAD = 1 << 20  # bytes of a file its digest covers


def digest(data: bytes) -> str:
    """The SHA-256 of a file's first :data:`HEAD` bytes, given ``data``, its first bytes."""
    return hashlib.sha256(memoryview(data)[:HEAD]).hexdigest()


def file_digest(path: str, size: int = HEAD) -> str | None:
    """:func:`digest` of the file at ``path``, ``None`` if it cannot be read.  ``size``: the
    file's size if known (reading no more than that spares allocating :data:`HEAD` bytes)."""
    try:
        with open(path, "rb", buffering=0) as handle:
            return digest(handle.read(min(size, HEAD)))
    except OSError:
        return None


class DigestingWriter:
    """A binary file object whose writes are digested as they pass (:func:`digest` of what
    it holds), so that journaling an output needs no second open and read of it (the
    SHA-256 itself, not the read, is most of the digest's cost).  Writes that bypass it
    (the fast path's kernel copies, through ``fileno()``) or a seek elsewhere than the start
    make the digest unknown, and :meth:`digest` then reads the file back
    (:func:`file_digest`)."""

    def __init__(self, raw):
        self._raw = raw
        self._sha = hashlib.sha256()
        self._count = 0  # bytes written through this object since the start of the file
        self._known = True

    def write(self, data) -> int:
        view = memoryview(data)
        if self._count < HEAD:
            self._sha.update(view.cast("B")[:HEAD - self._count])
        written = self._raw.write(data)
        self._count += view.nbytes
        return written

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if (offset, whence) == (0, os.SEEK_SET):  # written afresh (after the fast path)
            self._sha, self._count, self._known = hashlib.sha256(), 0, True
        else:
            self._known = False
        return self._raw.seek(offset, whence)

    def __getattr__(self, name: str):
        return getattr(self._raw, name)

    def digest(self, path: str, size: int) -> str | None:
        """The digest of the file at ``path``, whose size is ``size`` now it is written."""
        if self._known and self._count == size:
            return self._sha.hexdigest()
        return file_digest(path, size)


class Journal:
    """The journal of one folder, locked for this run, its records read."""

    def __init__(self, folder: str, identity: str, what: str):
        self.folder = folder
        self.path = os.path.join(folder, JOURNAL_NAME)
        #: key -> its records, oldest first (a file redone after its input changed has several)
        self.records: dict[str, list[dict]] = {}
        self._synced = True
        try:
            os.makedirs(folder, exist_ok=True)
            self.descriptor = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT
                                      | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise JournalError(f"the run journal {self.path} cannot be opened: "
                               f"{exc.strerror or exc}") from None
        try:
            self._lock()
            self.clean = self._read(identity, what)
            if os.fstat(self.descriptor).st_size == 0:
                self._append({"deidc-journal": FORMAT, "run": identity})
            # Until this run's end line, the journal says a run is under way: one killed
            # before its first commit has written temporary files but no file line, and its
            # re-run must still look for them.
            self._append({"begin": time.time_ns()})
        except BaseException:
            os.close(self.descriptor)
            raise

    def _lock(self) -> None:
        """Exclusive for the run.  Workers inherit the lock: a re-run right after a killed
        one waits the moment its orphaned workers take to notice and end."""
        import fcntl

        deadline = time.monotonic() + LOCK_WAIT
        while True:
            try:
                fcntl.flock(self.descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise JournalError(f"another deidc run is writing to {self.folder} (its "
                                       f"journal {JOURNAL_NAME} is locked): wait for it to end, "
                                       "then run this command again") from None
                time.sleep(0.05)

    def _read(self, identity: str, what: str) -> bool:
        """Load the records; returns whether the last run on this journal ended cleanly."""
        with open(self.path, "rb") as existing:
            lines = existing.read().split(b"\n")
        clean = True
        for number, line in enumerate(lines):
            if not line:
                continue
            try:
                record = json.loads(line)
            except ValueError:
                if number == len(lines) - 1:  # a line cut by a full disk: that file was not
                    clean = False           # committed, the re-run does it again
                    continue
                raise JournalError(f"{self.path}:{number + 1}: not a deidc run journal line; "
                                   "move the file away to start this folder afresh") from None
            if number == 0:
                if record.get("deidc-journal") != FORMAT:
                    raise JournalError(f"{self.path} is not a deidc run journal (format "
                                       f"{FORMAT}): move it away") from None
                if record.get("run") != identity:
                    raise JournalError(
                        f"{what} was de-identified with another plan (or another --seed or "
                        f"--compat), recorded in {self.path}: running this one over it would "
                        "mix two plans' outputs (or, in place, de-identify finished files a "
                        "second time). Use the same plan, or a new output folder; to apply a "
                        "second plan on purpose, remove that journal first")
                continue
            if "end" in record:
                clean = True
            elif "begin" in record:
                clean = False
            elif "f" in record:
                self.records.setdefault(record["f"], []).append(record)
                clean = False
        return clean

    def append(self, record: dict) -> None:
        self._append(record)
        self.records.setdefault(record["f"], []).append(record)
        self._synced = False

    def _append(self, record: dict) -> None:
        line = (json.dumps(record, separators=(",", ":")) + "\n").encode("utf-8",
                                                                         "surrogatepass")
        try:
            written = os.write(self.descriptor, line)
            if written != len(line):
                raise OSError(28, "No space left on device (a line cut short)")
        except OSError as exc:
            raise JournalError(f"the run journal {self.path} cannot be written "
                               f"({exc.strerror or exc}); the run stopped with every file "
                               "whole: free space, then run the same command again") from None

    def sync(self) -> None:
        """To disk, before the renames its last lines announce."""
        if not self._synced:
            try:
                os.fsync(self.descriptor)
            except OSError as exc:
                raise JournalError(f"the run journal {self.path} cannot be flushed to disk "
                                   f"({exc.strerror or exc}): free space, then run the same "
                                   "command again") from None
            self._synced = True

    def close(self, clean: bool) -> None:
        """``clean``: every file of the run is committed or gone, no temporary file left."""
        if self.descriptor < 0:
            return
        try:
            if clean:
                self._append({"end": time.time_ns()})
            os.fsync(self.descriptor)
        except (OSError, JournalError):
            pass
        os.close(self.descriptor)
        self.descriptor = -1

    # --- what a file's records say about it now ---------------------------------------------

    def finished(self, target: str, key: str) -> dict | None:
        """The record of ``key`` whose output ``target`` is now (ours, and finished)."""
        records = self.records.get(key)
        if not records:
            return None
        try:
            now = os.lstat(target)
        except OSError:
            return None
        now_digest = None
        for record in reversed(records):
            size, mtime, inode, sha = record["out"]
            if now.st_size != size:
                continue
            if (now.st_mtime_ns, now.st_ino) == (mtime, inode):
                return record
            # a copied folder: new inodes and times, the same bytes
            now_digest = now_digest or file_digest(target, size)
            if now_digest == sha:
                return record
        return None


def same_input(record: dict, path: str) -> bool:
    """Is the file at ``path`` still the input ``record`` was made from?  Any change of size
    or mtime says no: the file is done again, which never harms (the input is there), where
    a wrong yes would keep the output of a half-received input for good."""
    size, mtime, _ = record["in"]
    try:
        now = os.stat(path)
    except OSError:
        return False
    return (now.st_size, now.st_mtime_ns) == (size, mtime)


def identity_of(info: os.stat_result, digest: str) -> list:
    return [info.st_size, info.st_mtime_ns, digest]


# --- the journals of a run ---------------------------------------------------------------------

class Journals:
    """The journals a run reads and writes: the output folder's, or one per input folder for
    ``--in-place``; each opened (locked, read, and repaired if its last run was killed)
    before any file is done."""

    def __init__(self, plan, inputs: list[str], options, log):
        self.options = options
        self.log = log
        self.identity = run_identity(plan, options.seed, options.compat_flywheel)
        self.by_folder: dict[str, Journal] = {}
        #: argument -> its journal, and the argument's path under the journal's folder
        self.of_argument: dict[str, tuple[Journal, str]] = {}
        #: (folder, recursive): where this run's temporary files can be
        self.scopes: set[tuple[str, bool]] = set()
        self.repaired = False
        try:
            for argument in inputs:
                self.of_argument[argument] = self._journal(argument)
        except BaseException:
            self.close(sweep=False)
            raise

    def _journal(self, argument: str) -> Journal:
        if self.options.in_place:
            base = os.path.abspath(argument)
            recursive = os.path.isdir(base)
            if not recursive:
                base = os.path.dirname(base)
            self.scopes.add((base, recursive))
            folder, what = _journaled_ancestor(base) or base, f"{argument} (in place)"
            under = os.path.relpath(base, folder)
        else:
            folder = os.path.abspath(self.options.output)
            self.scopes.add((folder, True))
            what, under = f"the output folder {self.options.output}", "."
        journal = self.by_folder.get(folder)
        if journal is None:
            journal = self.by_folder[folder] = Journal(folder, self.identity, what)
            if not journal.clean:  # the last run was killed: finish its commits first
                self.repaired = True
                _repair(journal, self.log, self.options.in_place)
                self.sweep()
        return journal, under

    def jobs(self, inputs: list[str], discover):
        """The run's jobs, each with its journal and what the journal says of it."""
        for argument in inputs:
            journal, under = self.of_argument[argument]
            for job in discover([argument], self.options):
                key = job.relative if under == "." else os.path.join(under, job.relative)
                job = job._replace(journal=journal, key=key)
                record = journal.finished(job.target, key) if journal.records else None
                if record is not None:
                    done = self.options.in_place or same_input(record, job.source)
                    job = job._replace(earlier="done" if done else "ours")
                yield job

    def sweep(self) -> None:
        """Remove the temporary files of this run or of a killed one (the journals' locks say
        no other run is writing here)."""
        for folder, recursive in self.scopes:
            walk = os.walk(folder) if recursive else [(folder, (), _names(folder))]
            for place, _, names in walk:
                for name in names:
                    if is_temporary(name):
                        try:
                            os.unlink(os.path.join(place, name))
                        except OSError:
                            pass

    def close(self, sweep: bool) -> None:
        """``sweep``: the run did not end normally (or the last one was killed), so temporary
        files may be left: they are looked for and removed."""
        clean = True
        if sweep or self.repaired:
            try:
                self.sweep()
            except OSError:
                clean = False
        for journal in self.by_folder.values():
            journal.close(clean)


def _names(folder: str) -> list[str]:
    try:
        return os.listdir(folder)
    except OSError:
        return []


def _journaled_ancestor(folder: str) -> str | None:
    """The highest folder above ``folder`` holding a journal: an in-place run over part of
    an earlier one's folder must see what that run finished."""
    found = None
    parent = os.path.dirname(folder)
    while parent != folder:
        if os.path.isfile(os.path.join(parent, JOURNAL_NAME)):
            found = parent
        folder, parent = parent, os.path.dirname(parent)
    return found


def _repair(journal: Journal, log, in_place: bool) -> None:
    """Finish the commits a killed run left half done: a file whose journal line is written,
    whose temporary file is whole and whose rows are in the log lacks only its rename."""
    for key, records in journal.records.items():
        record = records[-1]
        target = os.path.join(journal.folder, key)
        if journal.finished(target, key) is not None:
            continue
        temporary = os.path.join(os.path.dirname(target), record["part"])
        if not _whole(temporary, record["out"]):
            continue
        logged = record.get("log")
        if logged and not (log is not None and os.path.realpath(log.path) == logged[0]
                           and log.holds(logged[1], logged[2], record.get("p", key))):
            continue  # its rows never reached the log: the file is done again
        if in_place and not same_input(record, target):
            continue  # the original was replaced since: the new file is a new input
        try:
            os.replace(temporary, target)
        except OSError:
            pass



def _whole(path: str, out: list) -> bool:
    size, mtime, inode, sha = out
    try:
        now = os.lstat(path)
    except OSError:
        return False
    return (now.st_size, now.st_mtime_ns, now.st_ino) == (size, mtime, inode) \
        and file_digest(path, size) == sha


# --- committing a group of finished files -------------------------------------------------------

def commit(group: list, log, in_place: bool) -> list:
    """Journal lines and log rows for each file of ``group`` (results whose output waits in a
    temporary file), both flushed to disk, then the renames; returns the results as they end
    (a file whose rename failed, failed).  On an error, the files announced before it are
    still finished and the others' temporary files removed."""
    announced: list = []
    try:
        for result in group:
            journal = result.job.journal
            key = result.job.key
            record = {"f": key, "in": result.identity[0], "out": result.identity[1],
                      "part": os.path.basename(result.temporary)}
            if result.job.relative != key:  # the path its log rows name
                record["p"] = result.job.relative
            if log is not None and result.log_rows:
                from .deidlog import LogError  # loaded with the log: a run without one,
                                               # the usual, does without csv
                where = os.path.realpath(log.path)
                try:
                    log.write(result.log_rows, result.job.source,
                              announce=lambda offset, length: journal.append(
                                  {**record, "log": [where, offset, length]}))
                except LogError as exc:
                    raise LogError(f"{exc}; that file's output was not written (its input is "
                                   "untouched)") from None
            else:
                journal.append(record)
            announced.append(result)
    except BaseException:
        for result in group[len(announced):]:
            _unlink(result.temporary)
        _finish(announced, log, in_place)
        raise
    return _finish(announced, log, in_place)


def _finish(announced: list, log, in_place: bool) -> list:
    if in_place:  # on disk before the originals they describe are replaced
        for journal in {id(result.job.journal): result.job.journal
                        for result in announced}.values():
            journal.sync()
        if log is not None and any(result.log_rows for result in announced):
            log.sync()
    finished = []
    for result in announced:
        try:
            os.replace(result.temporary, result.job.target)
        except OSError as exc:
            _unlink(result.temporary)
            finished.append(result._replace(status="failed", temporary="",
                                            reason=f"{exc.strerror or exc} (replacing the "
                                                   "output)"))
            continue
        finished.append(result)
    return finished


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
