"""What `deidc apply` does once its arguments are read, for both readers of them: the typer
command (:mod:`deidc.cli.apply_cmd`) and the quick path (:mod:`deidc.cli.quick`).  No typer here.

Start-up matters (a run over a few hundred small files takes less time than importing
pydicom), so this imports only the plan and the runner at first; the compiler is loaded only
when a profile, not a plan, is given, and rich only when the output is a terminal.
"""

from __future__ import annotations

import os
import signal
import sys
import time


def apply_command(policy: str, inputs: list[str], *, output: str | None = None,
                  in_place: bool = False, overwrite: bool = False, jobs: int = 0,
                  log: str | None = None, dry_run: bool = False, seed: int | None = None,
                  compat: str | None = None, verbose: bool = False,
                  fast_path: bool = True, cluster: str | None = None,
                  verify: bool = False) -> int:
    """Run `deidc apply`; returns its exit code (0 all went through, 1 some files failed, 2
    usage or profile errors, 3 with ``verify``: no file failed but the release has findings,
    128 + the signal's number when stopped by one: 130 for Ctrl-C, 143 for SIGTERM, 129 for
    SIGHUP).  ``cluster``: the address of a Dask scheduler, or ``local:N``, whose workers do
    the files (:mod:`deidc.run.cluster`).  ``verify``: then check the release against its
    originals and the plan (:func:`verified`)."""
    from ..run.runner import RunError, RunOptions, expand_user, run

    if compat not in (None, "flywheel"):
        return _usage(f"--compat takes only 'flywheel', not {compat!r}")
    if in_place and output:
        return _usage("give either -o OUTDIR or --in-place, not both")
    if cluster is not None and jobs:
        return _usage("give either --jobs or --cluster, not both (a cluster's workers are its "
                      "processes)")
    if verify and (in_place or dry_run):
        return _usage("--verify compares each output with its original and --in-place "
                      "replaces the originals: write the release with -o OUTDIR --verify, and "
                      "replace the originals once it is clean" if in_place else
                      "--verify checks the outputs a run writes, and --dry-run writes none")
    try:
        plan = _load_policy(policy)
    except _Refused as refused:
        return refused.code
    options = RunOptions(output=output, in_place=in_place, overwrite=overwrite,
                         jobs=jobs or os.cpu_count() or 1, dry_run=dry_run, seed=seed,
                         compat_flywheel=compat == "flywheel",
                         log_path=expand_user(log) or expand_user(plan.log_path),
                         fast_path=fast_path)
    progress = _Progress(verbose, inputs)
    started = time.perf_counter()
    try:
        if cluster is None:
            summary = run(plan, inputs, options, on_result=progress.update)
        else:
            from ..run.cluster import connect

            with connect(cluster) as client:
                summary = run(plan, inputs, options, on_result=progress.update, client=client)
    except RunError as exc:
        progress.close()
        if getattr(exc, "under_way", False):  # it stopped a run under way (a full disk)
            print(f"deidc apply: {exc}", file=sys.stderr, flush=True)
            return 1
        return _usage(str(exc))
    except KeyboardInterrupt as stop:
        progress.close()
        signum = getattr(stop, "signum", signal.SIGINT)
        by = "" if signum == signal.SIGINT else f" by {signal.Signals(signum).name}"
        print(f"deidc apply: interrupted{by} after {progress.count} files; every output written "
              "is whole (no partial files). Run the same command again to finish: its journal "
              "says which files are done, and they are not done again.", file=sys.stderr,
              flush=True)
        return 128 + signum
    progress.close()
    elapsed = time.perf_counter() - started
    verb = "would write" if dry_run else "written"
    line = (f"{summary.written} {verb}, {summary.unchanged} unchanged, {summary.skipped} skipped, "
            f"{summary.failed} failed in {elapsed:.1f} s")
    if summary.fallbacks:
        line += f" ({summary.fallbacks} through the Dataset path)"
    print(line, file=sys.stderr, flush=True)
    if verbose and summary.fallbacks:
        print("Dataset path, by reason:", file=sys.stderr)
        for reason, count in sorted(summary.fallback_reasons.items(),
                                    key=lambda pair: (-pair[1], pair[0])):
            print(f"  {count:>7}  {reason}", file=sys.stderr)
        sys.stderr.flush()
    if verify:
        return verified(plan, inputs, output, options.jobs, summary.exit_code)
    return summary.exit_code


VERIFY_FINDINGS = 3  # the exit code of a run whose files all went through and whose release
# has findings: told apart from 1 (some files failed, which running again may mend)


def verified(plan, inputs: list[str], output: str, jobs: int, code: int) -> int:
    """`apply --verify`: `deidc verify INPUT... OUTPUT --plan PLAN` on the release as the run
    left it, its report on stdout; returns the run's exit ``code``, or
    :data:`VERIFY_FINDINGS` when that is 0 and verify finds anything.  The files of the
    output folder no input explains are not reported (the folder may hold other runs' files);
    an input that failed has no output and is reported as unpaired; one skipped because its
    output existed is checked as it stands; non-DICOM files skipped are not inputs to verify.
    Imports pydicom, which a plain run of a plan does not."""
    from ..api import verify
    from ..errors import DeidcError
    from ..render.verify import render

    try:
        report = verify(inputs, output, plan, jobs=jobs, strays=False)
    except DeidcError as exc:
        print(f"deidc apply --verify: {exc}", file=sys.stderr, flush=True)
        return code or 2
    render(report, "text", sys.stdout)
    sys.stdout.flush()
    return code or (VERIFY_FINDINGS if report.findings else 0)


def _usage(message: str) -> int:
    print(f"deidc apply: {message}", file=sys.stderr, flush=True)
    return 2


class _Refused(Exception):
    """The plan or profile cannot be run; the reason is printed, ``code`` is the exit code."""

    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


def _load_policy(path: str):
    """The plan for ``path`` (:func:`deidc.api.load_policy`: a profile must lint clean)."""
    from ..api import load_policy
    from ..errors import DeidcError

    try:
        return load_policy(path)
    except DeidcError as exc:
        if exc.diagnostics:
            from ..render.lint import render_refusal

            render_refusal(exc.diagnostics)
        raise _Refused(_usage(str(exc))) from None


class _Progress:
    """A rich progress bar (files, MB/s, ETA) on a terminal; plain lines otherwise.  Failures
    are always printed, one line each.

    The bar is redrawn from :meth:`update`, at most ten times a second, not by rich's refresh
    thread: ``--jobs`` forks its workers, and a process that forks should hold no threads."""

    REDRAW = 0.1  # seconds between redraws

    def __init__(self, verbose: bool, inputs: list[str]):
        self.verbose = verbose
        self.bar = None
        self.count = 0
        if sys.stderr.isatty():
            from rich.progress import (BarColumn, Progress, TextColumn, TimeRemainingColumn,
                                       TransferSpeedColumn)

            from ..run.runner import file_size, measure_inputs

            self.file_size = file_size  # for results that carry no size (skipped, failed)
            self.files, total_bytes = measure_inputs(inputs)
            self.bar = Progress(TextColumn("{task.fields[done]}/{task.fields[files]} files"),
                                BarColumn(), TransferSpeedColumn(), TimeRemainingColumn(),
                                auto_refresh=False, transient=True)
            self.redrawn = 0.0
            self.bar.start()
            self.task = self.bar.add_task("apply", total=total_bytes or None, files=self.files,
                                         done=0)

    def update(self, result) -> None:
        self.count += 1
        if result.status == "failed":
            self._line(f"FAILED {result.job.source}: {result.reason}")
        elif self.verbose:
            extra = f" (Dataset path: {result.fallback})" if result.fallback else ""
            reason = f": {result.reason}" if result.reason else ""
            self._line(f"{result.status} {result.job.source}{reason}{extra}")
        elif self.bar is None and self.count % 1000 == 0:
            self._line(f"{self.count} files done")
        if self.bar is not None:
            self.bar.update(self.task, advance=result.size or self.file_size(result.job.source),
                            done=self.count)
            now = time.monotonic()
            if now - self.redrawn >= self.REDRAW:
                self.redrawn = now
                self.bar.refresh()

    def _line(self, text: str) -> None:
        try:
            if self.bar is not None:
                self.bar.console.print(text, markup=False, highlight=False)
            else:
                print(text, file=sys.stderr, flush=True)
        except BrokenPipeError:  # `| head` has read enough: the work goes on, unreported
            _discard(sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None


def _discard(stream) -> None:
    """Point a closed pipe's descriptor at the null device, so that what is still written to
    it (later lines, the summary, the interpreter's last flush) goes nowhere instead of
    raising and stopping the run (a run piped into `head` stopped after a few files)."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, stream.fileno())
        os.close(null)
    except (OSError, ValueError):
        pass
