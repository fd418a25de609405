"""``deidc apply --cluster``: the files of a run done by the workers of a Dask cluster.

Why Dask distributed: a site that releases a whole archive outgrows one machine, and Dask is
what the research world already runs its clusters with (SLURM and PBS through dask-jobqueue,
Kubernetes through dask-kubernetes, a laptop through :class:`distributed.LocalCluster`).  The
executor is a function of (plan, file) with a small plan, so it needs no engine of its own.

What is the same as a local run (:mod:`deidc.run.runner`), because it is the same code:

* tasks are the runner's batches (:func:`deidc.run.runner._batches`), done on a worker by the
  runner's own :func:`deidc.run.runner._work`, which writes each output to a temporary file
  beside its target and never renames it;
* this process, the client, commits every file (journal line, deid-log rows, rename:
  :func:`deidc.run.journal.commit`), shows the progress bar and prints the summary;
* the results are committed in the order the files were found, so the deid log has the rows
  of a ``--jobs 1`` run in the same order, whichever worker finished first.

What a cluster adds:

* the plan is sent to every worker once (``scatter(broadcast=True)``); each task carries only
  its files' paths;
* every attempt at a file, on whatever worker, writes the same temporary name (this run's
  token, not a process id, which another host may share).  A worker killed mid-batch leaves
  that name behind; Dask gives the batch to another worker, whose attempt finds the name taken
  and writes under a random one instead (it never trips over the dead one's file), and the
  result saying so (:attr:`ClusterRun.attempts_lost`) makes the run sweep its folders for
  temporary files when it ends;
* Ctrl-C cancels the batches not started and waits for the running ones to end before the
  run sweeps, so that no worker writes after the sweep.

Inputs and outputs must be on a filesystem every worker sees at the same paths: the workers
are given absolute paths, resolved here.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import deque
from collections.abc import Iterator

from ..plan.ir import Plan
from .runner import (FileResult, Job, RunError, RunOptions, _batches, _remove, _returned,
                     _temporary_name, _work)

EXTRA = "pip install 'deidc[dask]'"
HELD = 4096  # finished files at most waiting for an earlier one before new batches wait too
STOP_WAIT = 30.0  # seconds Ctrl-C waits at most for the batches already running to end


@contextlib.contextmanager
def connect(address: str):
    """A :class:`distributed.Client` for ``address``: a scheduler (``tcp://host:8786``), or
    ``local:N`` for a :class:`distributed.LocalCluster` of N worker processes, closed with
    the client.  Raises :class:`RunError` when Dask is not installed or the scheduler
    cannot be reached (within Dask's ``distributed.comm.timeouts.connect``)."""
    try:
        import dask
        import distributed
    except ImportError:
        raise RunError(f"--cluster needs Dask distributed, an optional extra: {EXTRA}") from None
    import logging

    tornado = logging.getLogger("tornado.application")
    race = CancelRace()
    tornado.addFilter(race)
    try:
        if address.startswith("local:"):
            count = address.removeprefix("local:")
            if not count.isdigit() or int(count) < 1:
                raise RunError(f"--cluster {address}: local:N takes a number of worker "
                               "processes, such as local:4")
            # One thread a worker: the work is CPU-bound Python, which threads would share.
            # The dashboard on a free port: 8787 may be another cluster's.
            with _deaf_to_the_terminal():
                cluster = distributed.LocalCluster(n_workers=int(count), threads_per_worker=1,
                                                   processes=True, dashboard_address=":0",
                                                   silence_logs=logging.ERROR)
            with cluster, distributed.Client(cluster) as client:
                yield client
            return
        try:
            client = distributed.Client(address, timeout=dask.config.get(
                "distributed.comm.timeouts.connect"))
        except (OSError, TimeoutError, ValueError) as exc:
            raise RunError(f"--cluster {address}: cannot reach a Dask scheduler there ({exc}); "
                           "start one (`dask scheduler`, then `dask worker ADDRESS` on each "
                           "machine) or check the address") from None
        with client:
            yield client
    finally:
        tornado.removeFilter(race)


class CancelRace:
    """A logging filter for one record: distributed's ``sync()`` (2026.8) answers a Ctrl-C by
    cancelling the call it waits for in a callback that reads a variable the call may not
    have set yet, and tornado then logs that NameError with its traceback.  The interruption
    itself is handled (the run stops as asked and says so), so that record is dropped;
    whatever else tornado logs still shows."""

    def filter(self, record) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if not isinstance(error, NameError) or error.__traceback__ is None:
            return True
        last = error.__traceback__
        while last.tb_next is not None:
            last = last.tb_next
        code = last.tb_frame.f_code
        return not (code.co_name == "cancel" and
                    code.co_filename.endswith(os.path.join("distributed", "utils.py")))


@contextlib.contextmanager
def _deaf_to_the_terminal():
    """SIGINT and SIGHUP ignored while the worker processes of a ``local:N`` cluster start, so
    that they inherit it: Ctrl-C in a terminal (or its closing) signals every process of the
    foreground group, and workers killed by it in mid-batch would leave temporary files
    behind after the run has swept them.  This process, the client, stops them itself."""
    import signal

    previous = {}
    try:
        for signum in (signal.SIGINT, signal.SIGHUP):
            previous[signum] = signal.signal(signum, signal.SIG_IGN)
    except ValueError:  # not the main thread: nothing to inherit from it
        pass
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


class ClusterRun:
    """One run's batches on ``client``'s workers."""

    def __init__(self, client, plan: Plan, options: RunOptions):
        self.client = client
        self.token = os.urandom(6).hex()
        self.prefix = f"deidc-{self.token}-"  # the keys of this run's tasks
        output = os.path.abspath(options.output) if options.output else None
        self.remote = options._replace(output=output, temporary_owner=f"c{self.token}")
        threads = sum(client.nthreads().values())
        # Two batches a thread keep every worker busy while the results travel.
        self.ahead = 2 * max(threads, 1) + 2
        #: an attempt at a batch died with its worker and may have left temporary files
        self.attempts_lost = False
        self.plan = client.scatter(plan, broadcast=True, hash=False)

    def results(self, jobs: Iterator[Job]) -> Iterator[FileResult]:
        """The result of every job, in the order of ``jobs``."""
        from distributed import as_completed

        found: deque[Job] = deque()  # jobs in the order found, not yet given back

        def recorded():
            for job in jobs:
                found.append(job)
                yield job

        batches = _batches(recorded())
        finished: dict[int, FileResult] = {}  # id(job) -> its result, waiting for its turn
        out: dict = {}  # future -> its batch
        completed = as_completed()
        exhausted = False
        number = 0
        try:
            while True:
                while not exhausted and (not out or (len(out) < self.ahead
                                                     and len(finished) < HELD)):
                    batch = next(batches, None)
                    if batch is None:
                        exhausted = True
                        break
                    number += 1
                    items = [(os.path.abspath(job.source), job.relative, job.earlier)
                             for job in batch]
                    future = self.client.submit(_work, self.plan, self.remote, items,
                                                key=f"{self.prefix}{number}", pure=False)
                    out[future] = batch
                    completed.add(future)
                if not out:
                    break
                future = next(completed)
                for result in self._returned(future, out.pop(future)):
                    finished[id(result.job)] = result
                while found and id(found[0]) in finished:
                    yield finished.pop(id(found.popleft()))
        except BaseException:  # Ctrl-C, or the commit failed: nothing more is written
            self._stop(list(out))
            for result in finished.values():
                _remove(result.temporary)
            raise

    def _returned(self, future, batch: list[Job]) -> list[FileResult]:
        from distributed.scheduler import KilledWorker

        if future.status == "finished":
            results = list(_returned(batch, future.result()))
            for result in results:
                if result.temporary and os.path.basename(result.temporary) != os.path.basename(
                        _temporary_name(result.job.target, self.remote.temporary_owner)):
                    self.attempts_lost = True  # its name was taken: by a dead attempt's file
            return results
        error = future.exception()
        self.attempts_lost = True
        if isinstance(error, KilledWorker):  # every worker that tried it died
            return list(_returned(batch, None))
        reason = (f"the Dask worker could not run this file's batch ({error.__class__.__name__}: "
                  f"{error}); is the same deidc installed on every worker?")
        return [FileResult(job, "failed", reason) for job in batch]

    def _stop(self, futures: list) -> None:
        """Cancel ``futures``, and wait (up to :data:`STOP_WAIT` s) until no worker runs a
        batch of this run: a batch already running cannot be stopped, and the temporary files
        it is writing must be there when the run sweeps them away."""
        try:
            self.client.cancel(futures)
            deadline = time.monotonic() + STOP_WAIT
            while time.monotonic() < deadline:
                running = self.client.run(running_tasks, self.prefix, on_error="ignore")
                if not any(running.values()):
                    return
                time.sleep(0.05)
        except Exception:  # the scheduler went away: nothing runs for this client any more
            pass


def running_tasks(prefix: str, dask_worker) -> list[str]:
    """On a worker (:meth:`distributed.Client.run`): the keys of the tasks starting with
    ``prefix`` that hold a thread, cancelled ones included."""
    return [str(task.key) for task in dask_worker.state.all_running_tasks
            if str(task.key).startswith(prefix)]

