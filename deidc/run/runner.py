"""Many files → many files: discovery, workers, atomic writes, the deid log, the summary.

The runner knows nothing about DICOM beyond recognising a file: it hands each file to the
executor (:func:`deidc.execute.dataset.deidentify_file`) in a worker and writes what comes back.
Guarantees, whatever happens to one file or to the process:

* an output appears whole or not at all: it is written to a temporary file in the target folder
  and renamed over the target; a failure deletes the temporary file;
* inputs are never modified unless ``in_place`` is asked for; existing outputs are never
  overwritten unless ``overwrite`` is;
* a corrupt file fails alone, with one line naming it and the reason; the others go on;
* the disk is flushed once, at the end (``os.sync``), not per file: an fsync per file costs
  more than the de-identification itself.

Memory stays bounded: files are discovered lazily, and with ``--jobs N`` at most ``2N`` batches
wait in the workers' queue (:mod:`deidc.run.workers`).
"""

from __future__ import annotations

import fnmatch
import functools
import io
import itertools
import os
import re
import stat
from collections import namedtuple
from collections.abc import Callable, Iterator

from ..errors import DeidcError
from ..plan.ir import Plan

DEFAULT_FILE_FILTER = ("*.dcm", "*.DCM", "*.ima", "*.IMA")


class Job(namedtuple("Job", "source relative target earlier journal key",
                     defaults=["", None, ""])):
    """One input file and where its output goes (``None`` in a dry run).  ``earlier``: what
    the run journal says of it, ``"done"`` (finished by an earlier run: nothing to do) or
    ``"ours"`` (its target is an earlier run's output, of an input that changed since: it is
    replaced); ``journal``: the :class:`deidc.run.journal.Journal` it is recorded in, under
    ``key`` (its target's path under the journal's folder)."""

    __slots__ = ()
    source: str
    relative: str
    target: str | None
    earlier: str
    journal: object
    key: str


class FileResult(namedtuple("FileResult", "job status reason size log_rows fallback "
                                          "temporary identity",
                            defaults=["", 0, (), "", "", ()])):
    __slots__ = ()
    job: Job
    status: str  # "written", "unchanged", "skipped", "failed"
    reason: str
    size: int
    log_rows: tuple[dict, ...]
    fallback: str  # why the fast path declined and the Dataset path did the work
    # The output, written whole but not yet renamed over its target: the main process commits
    # it (journal, log, rename; :func:`_commit`), so that a worker never replaces a file.
    temporary: str
    identity: tuple  # (input [size, mtime_ns, sha256], output [size, mtime_ns, inode, sha256])


class Summary:
    """The counts of a run, and one line per failed file."""

    def __init__(self) -> None:
        self.written = self.unchanged = self.skipped = self.failed = 0
        self.bytes = self.fallbacks = 0
        self.failures: list[str] = []
        # why the fast path declined → how many files (so a user can see why a run was slow)
        self.fallback_reasons: dict[str, int] = {}

    def add(self, result: FileResult) -> None:
        setattr(self, result.status, getattr(self, result.status) + 1)
        self.bytes += result.size
        if result.fallback:
            self.fallbacks += 1
            self.fallback_reasons[result.fallback] = \
                self.fallback_reasons.get(result.fallback, 0) + 1
        if result.status == "failed":
            self.failures.append(f"{result.job.source}: {result.reason}")

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


class RunOptions(namedtuple("RunOptions", "output in_place overwrite jobs dry_run seed "
                                          "compat_flywheel log_path fast_path memory_limit "
                                          "temporary_owner",
                            defaults=[None, False, False, 1, False, None, False, None, True,
                                      None, None])):
    __slots__ = ()
    output: str | None
    in_place: bool
    overwrite: bool
    jobs: int
    dry_run: bool
    seed: int | None
    compat_flywheel: bool
    log_path: str | None
    fast_path: bool
    memory_limit: int | None  # bytes one file may take in memory (deidc.execute.inputs)
    # What names a temporary output, in place of the writing process's pid: a cluster run's
    # token (:mod:`deidc.run.cluster`), the same for every attempt at a file on any worker.
    temporary_owner: str | None


class RunError(DeidcError):
    """A problem with the run as asked (paths, options), as opposed to with one file."""


def discover(inputs: list[str], options: RunOptions) -> Iterator[Job]:
    """Every file under the inputs, lazily, with its output path: an input file goes to
    OUTDIR/name, a folder's files to OUTDIR/<path relative to the folder>.  deidc's own
    files (run journals, temporary outputs) are not inputs."""
    from .journal import JOURNAL_NAME

    for argument in inputs:
        if os.path.isfile(argument):
            yield _job(argument, os.path.basename(argument), options)
        elif os.path.isdir(argument):
            unreadable: list[OSError] = []
            for folder, subfolders, files in os.walk(argument, onerror=unreadable.append):
                yield from _unreadable(unreadable, argument)
                subfolders.sort()
                inside = os.path.relpath(folder, argument)  # once per folder, not per file
                for name in sorted(files):
                    if name == JOURNAL_NAME or is_temporary(name):
                        continue
                    yield _job(os.path.join(folder, name),
                               name if inside == "." else os.path.join(inside, name), options)
            yield from _unreadable(unreadable, argument)
        else:
            _check_input(argument)


def _check_input(argument: str) -> None:
    if not os.path.exists(argument):
        raise RunError(f"{argument}: no such file or folder")
    if not os.path.isfile(argument) and not os.path.isdir(argument):
        raise RunError(f"{argument} is neither a regular file nor a folder (a FIFO, a socket or "
                       "a device): give DICOM files or folders")


def _unreadable(errors: list[OSError], argument: str) -> Iterator[Job]:
    """A job for each folder the walk could not read, which fails with the reason: skipped
    without a word, its files would be missing from the outputs unseen."""
    while errors:
        folder = errors.pop(0).filename
        yield Job(folder, os.path.relpath(folder, argument), None, "unreadable")


def measure_inputs(inputs: list[str]) -> tuple[int, int]:
    """How many files and bytes a run will see, for a progress bar's ETA (a walk and a stat per
    file, no reads)."""
    files = size = 0
    for argument in inputs:
        paths = [argument] if os.path.isfile(argument) else (
            os.path.join(folder, name) for folder, _, names in os.walk(argument) for name in names)
        for path in paths:
            try:
                size += os.path.getsize(path)
                files += 1
            except OSError:
                pass
    return files, size


def _job(source: str, relative: str, options: RunOptions) -> Job:
    if options.dry_run:
        return Job(source, relative, None)
    if options.in_place:
        return Job(source, relative, source)
    return Job(source, relative, os.path.join(options.output, relative))


def accepts(path: str, file_filter: object, head: bytes | None = None) -> bool:
    """Is this a file to de-identify?  DICOM by content (``DICM`` after the 128-byte preamble),
    or by the profile's file-filter (globs, or ``r!regex`` full matches, as Flywheel has them).
    ``head``: the file's first bytes, when the caller has read them already."""
    if head is None:
        try:
            with open(path, "rb") as handle:
                head = handle.read(132)
        except OSError:
            return True  # let the worker report why it cannot be read
    if head[128:132] == b"DICM":
        return True
    filters = file_filter if file_filter else DEFAULT_FILE_FILTER
    if isinstance(filters, str):
        filters = (filters,)
    name = os.path.basename(path)
    return any(re.fullmatch(f[2:], name) if f.startswith("r!") else fnmatch.fnmatch(name, f)
               for f in filters)


# --- one file, in a worker -------------------------------------------------------------------

def file_rng(seed: int | None, job: Job) -> _LazyRandom:
    """A seeded run draws the same numbers for a file whatever the worker or order."""
    return _LazyRandom(f"{seed}:{job.relative}" if seed is not None else None)


class _LazyRandom:
    """A per-file generator created at its first draw: seeding one from the OS costs more than
    de-identifying a small file, and most plans never draw (no jitter)."""

    def __init__(self, seed: str | None):
        self._seed = seed

    def __getattr__(self, name: str):
        generator = self.__dict__.get("_generator")
        if generator is None:
            import random

            generator = self.__dict__["_generator"] = random.Random(self._seed)
        return getattr(generator, name)


def process_file(plan: Plan, job: Job, options: RunOptions) -> FileResult:
    """De-identify one file into its target, atomically; never raises for a bad file.  The
    input is opened once and read only from that descriptor (:mod:`deidc.execute.inputs`); a
    file modified or replaced before its output is written fails alone."""
    from ..execute.inputs import Input, InputChanged, InputError
    from ..execute.outcome import ExecutionError

    if job.earlier == "done":
        return FileResult(job, "skipped", "finished by an earlier run (its journal says so)")
    if job.earlier == "unreadable":
        try:
            os.listdir(job.source)
        except OSError as exc:
            return FileResult(job, "failed", f"this folder cannot be read ({exc.strerror or exc}"
                                             "): the files in it were not de-identified")
        return FileResult(job, "failed", "this folder could not be read during the run: the "
                                         "files in it were not de-identified")
    if options.in_place and os.path.islink(job.source):
        return FileResult(job, "failed", "a symbolic link: --in-place replaces files, not links "
                                         "(the link would go and the file it points to keep its "
                                         "PHI); give the file itself")
    try:
        info = os.stat(job.source)
    except OSError as exc:
        return FileResult(job, "failed", f"{exc.strerror or exc}")
    if not stat.S_ISREG(info.st_mode):
        # a FIFO or device would block the run (or never end): never opened
        return FileResult(job, "skipped", "not a regular file")
    temporary = ""
    try:
        with Input(job.source, options.memory_limit) as opened:
            if not accepts(job.source, plan.options.get("file-filter"), opened.data[:132]):
                return FileResult(job, "skipped", "not DICOM (no DICM preamble, not matched by "
                                                  "file-filter)")
            if job.target and not options.in_place and not options.overwrite \
                    and job.earlier != "ours" and os.path.lexists(job.target):
                return FileResult(job, "skipped", "output exists (use --overwrite)")
            try:
                outcome, temporary, identity = _deidentify(plan, job, options, opened)
            except ExecutionError:  # a file cut because it is being written: say that
                opened.check_unchanged()
                raise
            opened.check_unchanged()
    except InputChanged as exc:
        _remove(temporary)
        return FileResult(job, "failed", f"changed while deidc read it: {exc}; its output was "
                                         "not written (run the same command again once the "
                                         "file is complete)")
    except InputError as exc:
        return FileResult(job, "failed", str(exc))
    except ExecutionError as exc:
        return FileResult(job, "failed", str(exc))
    except OSError as exc:
        _remove(temporary)
        return FileResult(job, "failed", f"{exc.strerror or exc}")
    except Exception as exc:  # a bug or a file pydicom cannot handle: fail this file alone
        _remove(temporary)
        return FileResult(job, "failed", f"unexpected {exc.__class__.__name__}: {exc}")
    except BaseException:
        _remove(temporary)
        raise
    rows = (({"path": job.relative, "type": "before", **outcome.log_before},
             {"path": job.relative, "type": "after", **outcome.log_after})
            if options.log_path else ())
    return FileResult(job, "written" if outcome.changed else "unchanged",
                      size=opened.info.st_size, log_rows=rows, fallback=outcome.fallback,
                      temporary=temporary, identity=identity)


def _deidentify(plan: Plan, job: Job, options: RunOptions, opened) -> tuple:
    """(outcome, temporary file, journal identity) of one opened input: the fast path when it
    can, else the Dataset path (told apart in the outcome)."""
    log = bool(options.log_path)

    def deidentify(out):
        if options.fast_path:
            from ..execute.fast import deidentify_fast, fast_plan
            from ..execute.stream import Unsupported

            try:
                return deidentify_fast(fast_plan(plan, log), job.source, out,
                                       rng=file_rng(options.seed, job),
                                       compat_flywheel=options.compat_flywheel, opened=opened)
            except Unsupported as declined:
                out.seek(0)
                out.truncate()
                reason = str(declined)
        else:
            reason = "fast path off"
        from ..execute.dataset import deidentify_file

        outcome = deidentify_file(plan, job.source, out, rng=file_rng(options.seed, job),
                                  compat_flywheel=options.compat_flywheel, log=log,
                                  opened=opened)
        outcome.fallback = reason
        return outcome

    if job.target is None:
        return deidentify(io.BytesIO()), "", ()
    from .journal import DigestingWriter

    writers = []

    def digested(out):  # the journal's digest of the output, taken as it is written
        writers.append(DigestingWriter(out))
        return deidentify(writers[-1])

    outcome, temporary, written = _write_temporary(job.target, digested,
                                                   options.temporary_owner)
    if options.in_place:
        _keep_mode_and_owner(temporary, opened.info)
    return outcome, temporary, _identity(opened, temporary, written, options.in_place,
                                         writers[-1])


def _keep_mode_and_owner(temporary: str, original: os.stat_result) -> None:
    """A file replaced in place keeps its permissions (a 0600 file came back 0644) and, where
    this process may give them (root, or the owner already), its owner and group."""
    try:
        os.chmod(temporary, stat.S_IMODE(original.st_mode))
        if (original.st_uid, original.st_gid) != (os.getuid(), os.getgid()):
            try:
                os.chown(temporary, original.st_uid, original.st_gid)
            except PermissionError:
                pass
    except BaseException:
        _remove(temporary)
        raise


def _identity(opened, temporary: str, written: list, original: bool, writer) -> tuple:
    """What the run journal records of a file (see :mod:`deidc.run.journal`): its input as
    it was opened, with a digest of the bytes read when it is an ``original`` about to be
    replaced in place, and its output (digested by ``writer`` as it was written)."""
    from .journal import digest

    try:
        sha = digest(opened.data) if original else None
        info = opened.info
        return ([info.st_size, info.st_mtime_ns, sha],
                [*written, writer.digest(temporary, written[0])])
    except BaseException:
        _remove(temporary)
        raise


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


_made_folders: set[str] = set()
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC


def _temporary_name(target: str, owner: int | str) -> str:
    """Where ``owner`` (a process id, or a cluster run's token) writes ``target`` before it is
    renamed into place."""
    folder, name = os.path.split(target)
    return os.path.join(folder, f".deidc-{owner}-{name}.part")


def is_temporary(name: str) -> bool:
    """A temporary file deidc writes an output to before renaming it into place."""
    return name.startswith(".deidc-") and name.endswith(".part")


def _create_unique(folder: str, name: str) -> tuple[int, str]:
    """A new temporary file under a random name.  Created with mode 0o666, like the usual
    name, so the process umask gives the output ordinary permissions as cp's would (mkstemp's
    0o600 would need the umask, which can only be read by changing it)."""
    while True:
        temporary = os.path.join(folder, f".deidc-{os.urandom(6).hex()}-{name}.part")
        try:
            return os.open(temporary, _CREATE, 0o666), temporary
        except FileExistsError:
            continue


def _write_atomically(target: str, write: Callable[[io.BufferedWriter], object]) -> object:
    result, temporary, _ = _write_temporary(target, write)
    try:
        os.replace(temporary, target)
    except BaseException:
        _remove(temporary)
        raise
    return result


def _write_temporary(target: str, write: Callable[[io.BufferedWriter], object],
                     owner: str | None = None) -> tuple[object, str, list[int]]:
    """Write a temporary file beside ``target``, whole; returns what ``write`` returned, the
    temporary's name and its [size, mtime_ns, inode] (which the rename keeps).  A failure
    removes it.  ``owner`` names the file instead of this process's pid."""
    folder = os.path.dirname(target) or "."
    if folder not in _made_folders:
        os.makedirs(folder, exist_ok=True)
        _made_folders.add(folder)
    # A name of our own (this process or cluster run, this target) is one open; random names
    # are the fallback when a crashed process, or a dead worker's attempt, left it behind.
    temporary = _temporary_name(target, owner or os.getpid())
    # One try from the open on: Ctrl-C can land just after the file is created, before its
    # descriptor is even assigned, and the file must still go.
    try:
        try:
            try:
                handle = os.open(temporary, _CREATE, 0o666)
            except FileNotFoundError:  # the folder went away since this process made it
                os.makedirs(folder, exist_ok=True)
                handle = os.open(temporary, _CREATE, 0o666)
        except FileExistsError:  # left by a crashed process that had this one's pid or owner
            handle, temporary = _create_unique(folder, os.path.basename(target))
        with os.fdopen(handle, "wb") as out:
            result = write(out)
            out.flush()
            written = os.fstat(out.fileno())
    except BaseException:
        _remove(temporary)
        raise
    return result, temporary, [written.st_size, written.st_mtime_ns, written.st_ino]


# --- the run -----------------------------------------------------------------------------------

def run(plan: Plan, inputs: list[str], options: RunOptions,
        on_result: Callable[[FileResult], None] | None = None, client=None) -> Summary:
    """De-identify every file under ``inputs``; returns the counts.  ``on_result`` sees each
    file's result as it completes (the CLI uses it for progress and failure lines).
    ``client``: a :class:`distributed.Client` whose workers do the files instead of this
    machine's processes (:mod:`deidc.run.cluster`); this process still commits every file."""
    if not options.dry_run and not options.in_place and not options.output:
        raise RunError("give an output folder with -o OUTDIR (or --in-place, or --dry-run)")
    for argument in inputs:
        _check_input(argument)
    if options.output and not options.in_place:
        _check_output(inputs, options.output)
    if not options.dry_run and len(inputs) > 1:
        _check_one_output_each(inputs, options)

    from .signals import Stopping

    summary = Summary()
    log = _open_log(plan, options)
    journals = cluster = None
    ended = False
    try:
        if not options.dry_run:
            from .journal import Journals

            journals = Journals(plan, inputs, options, log)
        with Stopping() as stopping:
            jobs = journals.jobs(inputs, discover) if journals else discover(inputs, options)
            if client is None:
                results = _results(plan, jobs, options)
            else:
                from .cluster import ClusterRun

                cluster = ClusterRun(client, plan, options)
                results = cluster.results(jobs)
            _run_jobs(results, options, log, stopping, summary, on_result)
        ended = True
    finally:
        if journals:
            # a worker that died mid-batch left its temporary files where no result names them
            journals.close(sweep=not ended or (cluster is not None and cluster.attempts_lost))
        if log:
            log.close()
        if not options.dry_run:
            os.sync()
    return summary


GROUP = 16  # files committed together: one flush of the journal and the log for them all
GROUP_WAIT = 0.2  # seconds a finished file waits at most for its group to fill


def _run_jobs(results, options, log, stopping, summary, on_result) -> None:
    """Each result, committed in groups (:func:`deidc.run.journal.commit`), counted and
    shown."""
    import time

    from .journal import commit

    def report(result: FileResult) -> None:
        summary.add(result)
        if on_result:
            on_result(result)

    group: list[FileResult] = []
    started = 0.0
    try:
        for result in results:
            stopping.check()
            if not result.temporary:
                report(result)
                continue
            if not group:
                started = time.monotonic()
            group.append(result)
            if len(group) >= GROUP or time.monotonic() - started > GROUP_WAIT:
                committing, group = group, []
                for finished in stopping.deferred(commit, committing, log, options.in_place):
                    report(finished)
        committing, group = group, []
        for finished in stopping.deferred(commit, committing, log, options.in_place):
            report(finished)
    except RunError as exc:  # a full disk, say: it stopped a run under way
        exc.under_way = True
        raise
    finally:
        for result in group:  # not committed: the run stopped
            _remove(result.temporary)
        results.close()


def _open_log(plan: Plan, options: RunOptions):
    path = options.log_path or plan.log_path
    if options.dry_run or not path or not plan.log_columns:
        return None
    from .deidlog import DeidLog

    return DeidLog(path, [column.title for column in plan.log_columns],
                   exact_cells=options.compat_flywheel)


def _check_output(inputs: list[str], output: str) -> None:
    """The output folder apart from the inputs, real paths compared (a symlink leads nowhere
    else): outputs written inside an input are de-identified again by the next run, and an
    input inside the output folder, or an input file that is its own output, would be replaced
    by its output, which only ``--in-place`` may do."""
    if os.path.lexists(output) and not os.path.isdir(output):
        raise RunError(f"the output {output} exists and is not a folder: give a folder with -o")
    out = os.path.realpath(output)
    for argument in inputs:
        real = os.path.realpath(argument)
        if os.path.isdir(real):
            if _inside(out, real):
                raise RunError(f"the output folder {output} is inside the input {argument}"
                               f"{_via(output, out)}: choose a folder outside it")
            if _inside(real, out):
                raise RunError(f"the input {argument} is inside the output folder {output}"
                               f"{_via(argument, real)}: its outputs would replace inputs; "
                               "choose an output folder apart (or --in-place)")
        elif os.path.realpath(os.path.join(out, os.path.basename(argument))) == real:
            raise RunError(f"the output of {argument} would be {argument} itself: use "
                           "--in-place to replace inputs, or another output folder")


def _via(given: str, real: str) -> str:
    return f" (it is {real})" if os.path.abspath(given) != real else ""


def _check_one_output_each(inputs: list[str], options: RunOptions) -> None:
    """Refuse, before anything is written, inputs that would share an output (two folders
    holding the same relative path: one patient's output would replace the other's), or a
    file given twice (in place, de-identified twice).  One walk of the inputs."""
    seen: dict[str, str] = {}
    for job in discover(inputs, options):
        key = os.path.realpath(job.source) if options.in_place else job.relative
        other = seen.get(key)
        if other is None:
            seen[key] = job.source
            continue
        if options.in_place or os.path.realpath(other) == os.path.realpath(job.source):
            raise RunError(f"{job.source} is given twice (also as {other}): give each input "
                           "once")
        raise RunError(f"{other} and {job.source} would both be written to {job.target}: "
                       "give inputs whose paths under their folders differ, or run them into "
                       "separate output folders")


def _inside(child: str, parent: str) -> bool:
    return child == parent or child.startswith(parent.rstrip(os.sep) + os.sep)


def _results(plan: Plan, jobs: Iterator[Job], options: RunOptions) -> Iterator[FileResult]:
    if options.jobs > 1:
        from . import workers

        if workers.available():
            batches = _batches(jobs)
            # A worker starts in a millisecond (forked, it inherits everything loaded here):
            # it pays as soon as there is a batch for every process.
            head = list(itertools.islice(batches, options.jobs))
            if len(head) == options.jobs:
                yield from _parallel_results(plan, itertools.chain(head, batches), options)
                return
            jobs = itertools.chain.from_iterable(head)
    for job in jobs:
        yield process_file(plan, job, options)


def _parallel_results(plan: Plan, batches: Iterator[list[Job]],
                      options: RunOptions) -> Iterator[FileResult]:
    """``--jobs N``: N-1 forked workers and this process take batches from one queue, which
    this process keeps stocked a few batches ahead."""
    from .workers import Workers

    if options.fast_path:  # built here once, the workers inherit it rather than build their own
        from ..execute.fast import fast_plan

        fast_plan(plan, bool(options.log_path))
    pool = Workers(options.jobs - 1, functools.partial(_work, plan, options),
                   ahead=2 * options.jobs)
    try:
        yield from pool.share(batches, lambda batch: (process_file(plan, job, options)
                                                      for job in batch),
                              lambda batch, results: _returned(batch, results, pool.ended),
                              pack=lambda batch: [(job.source, job.relative, job.earlier)
                                                  for job in batch])
    except BaseException:
        # a killed worker's half-written file, and the files of batches done but not yet
        # returned, are among the batches still out
        for pid in pool.ended:
            for job in itertools.chain.from_iterable(pool.outstanding.values()):
                if job.target is not None:
                    _remove(_temporary_name(job.target, pid))
        raise


def _work(plan: Plan, options: RunOptions, items: list[tuple[str, str, str]]) -> list[tuple]:
    """A worker's part: the results of a batch, without the jobs (the main process has them).
    Stopped in the middle, it removes the outputs it wrote for the batch (none is committed)."""
    results = []
    try:
        for source, relative, earlier in items:
            job = _job(source, relative, options)._replace(earlier=earlier)
            results.append(process_file(plan, job, options))
    except BaseException:
        for result in results:
            if result.temporary:
                _remove(result.temporary)
        raise
    return [result[1:] for result in results]


def _returned(batch: list[Job], results: list[tuple] | None,
              ended: list[int] = ()) -> Iterator[FileResult]:
    if results is None:  # lost with a worker that died: its files fail, its written ones go
        for job in batch:
            for pid in ended if job.target is not None else ():
                _remove(_temporary_name(job.target, pid))
            yield FileResult(job, "failed", "the worker process de-identifying this file ended "
                                            "unexpectedly; run the command again to redo it")
        return
    for job, result in zip(batch, results):
        yield FileResult(job, *result)


BATCH = 16  # files to a batch: one round trip costs about what a small file takes
BATCH_BYTES = 8 << 20  # or fewer when they are large: a batch is a few milliseconds of work
WINDOW = 64  # files sized together: in each window, the largest go first


def _batches(jobs: Iterator[Job]) -> Iterator[list[Job]]:
    """The jobs in batches for the workers' queue.  Within each window of files, the largest
    come first: a run then ends on small files, so no process waits long for the last one
    (on 20 files of 20-50 MB, the end of a --jobs 2 run waited about a file's time)."""
    while window := list(itertools.islice(jobs, WINDOW)):
        batch: list[Job] = []
        size = 0
        for size_of_job, job in sorted(((file_size(job.source), job) for job in window),
                                       key=lambda sized: -sized[0]):
            batch.append(job)
            size += size_of_job
            if len(batch) == BATCH or size >= BATCH_BYTES:
                yield batch
                batch = []
                size = 0
        if batch:
            yield batch


def file_size(path: str) -> int:
    """The size of a file, 0 if it cannot be read (whoever opens it will say why)."""
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def write_text_atomically(path: str, text: str) -> None:
    """Write a small text file (a plan) whole or not at all.  A target that exists and is not a
    regular file (``/dev/stdout``, a pipe, ``/dev/null``) is written to as it is: renaming over
    it would replace the device or pipe itself (as root, ``-o /dev/null`` made it a file)."""
    data = text.encode("utf-8")
    if os.path.exists(path) and not os.path.isfile(path) and not os.path.isdir(path):
        with open(path, "wb") as out:
            out.write(data)
        return
    _write_atomically(path, lambda out: out.write(data))


def expand_user(path: str | None) -> str | None:
    return os.path.expanduser(path) if path else None
