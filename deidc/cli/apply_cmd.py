"""`deidc apply`: the command people run on data.

Start-up matters here (a run over a few hundred small files takes less time than importing
pydicom), so this module imports only the plan and the runner at first; the compiler is loaded
only when a profile, not a plan, is given, and rich only when the output is a terminal.
"""

from __future__ import annotations

import os
import sys
import time
from typing import List, Optional

import typer

from . import app


@app.command()
def apply(
    policy: str = typer.Argument(..., metavar="PROFILE|PLAN",
                                 help="A profile (compiled on the fly) or a compiled .json plan."),
    inputs: List[str] = typer.Argument(..., metavar="INPUT...", help="DICOM files and folders."),
    output: Optional[str] = typer.Option(None, "-o", "--output", help="Output folder."),
    in_place: bool = typer.Option(False, "--in-place", help="Replace the inputs themselves."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing outputs."),
    jobs: int = typer.Option(0, "--jobs", "-j", help="Worker processes (0: all cores)."),
    log: Optional[str] = typer.Option(None, "--log", help="deid-log CSV path (overrides the "
                                      "profile's deid-log)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Write nothing; report what would "
                                 "change."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed for jitter draws, so a run "
                                       "can be reproduced."),
    compat: Optional[str] = typer.Option(None, "--compat", help="'flywheel': Flywheel's exact "
                                         "value formats (DS length, UID suffix)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="A line for every file, saying "
                                 "which went through the Dataset path and why."),
    fast_path: bool = typer.Option(True, "--fast-path/--no-fast-path", help="Stream files "
                                   "through the fast path where it applies."),
) -> None:
    """De-identify DICOM files and folders with a profile or a compiled plan.

    Exit codes: 0 every file written (or unchanged/skipped), 1 some files failed, 2 usage or
    profile errors.
    """
    from ..runner import RunError, RunOptions, expand_user, run

    if compat not in (None, "flywheel"):
        _usage(f"--compat takes only 'flywheel', not {compat!r}")
    if in_place and output:
        _usage("give either -o OUTDIR or --in-place, not both")
    plan = _load_policy(policy)
    options = RunOptions(output=output, in_place=in_place, overwrite=overwrite,
                         jobs=jobs or os.cpu_count() or 1, dry_run=dry_run, seed=seed,
                         compat_flywheel=compat == "flywheel",
                         log_path=expand_user(log) or expand_user(plan.log_path),
                         fast_path=fast_path)
    progress = _Progress(verbose, inputs)
    started = time.perf_counter()
    try:
        summary = run(plan, inputs, options, on_result=progress.update)
    except RunError as exc:
        progress.close()
        _usage(str(exc))
    progress.close()
    elapsed = time.perf_counter() - started
    verb = "would write" if dry_run else "written"
    line = (f"{summary.written} {verb}, {summary.unchanged} unchanged, {summary.skipped} skipped, "
            f"{summary.failed} failed in {elapsed:.1f} s")
    if summary.fallbacks:
        line += f" ({summary.fallbacks} through the Dataset path)"
    typer.echo(line, err=True)
    raise typer.Exit(summary.exit_code)


def _usage(message: str) -> None:
    typer.echo(f"deidc apply: {message}", err=True)
    raise typer.Exit(2)


def _load_policy(path: str):
    """A compiled plan is used as it is; anything else is compiled first (and must lint clean)."""
    from ..plan import PlanError, is_plan_file, load_plan

    if is_plan_file(path):
        try:
            return load_plan(path)
        except PlanError as exc:
            _usage(str(exc))
    if not os.path.isfile(path):
        _usage(f"{path}: no such profile or plan")
    from ..compiler import CompileError, compile_profile
    from ..lint.render import render

    try:
        return compile_profile(path)
    except CompileError as exc:
        from ..lint import LintReport

        render(LintReport(diagnostics=list(exc.diagnostics)), "text", stream=sys.stderr)
        typer.echo(f"deidc apply: {exc}", err=True)
        raise typer.Exit(2)


class _Progress:
    """A rich progress bar (files, MB/s, ETA) on a terminal; plain lines otherwise.  Failures
    are always printed, one line each."""

    def __init__(self, verbose: bool, inputs: list[str]):
        self.verbose = verbose
        self.bar = None
        self.count = 0
        if sys.stderr.isatty():
            from rich.progress import (BarColumn, Progress, TextColumn, TimeRemainingColumn,
                                       TransferSpeedColumn)

            from ..runner import measure_inputs

            self.files, total_bytes = measure_inputs(inputs)
            self.bar = Progress(TextColumn("{task.fields[done]}/{task.fields[files]} files"),
                                BarColumn(), TransferSpeedColumn(), TimeRemainingColumn(),
                                transient=True)
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
            self.bar.update(self.task, advance=result.size or self._size(result), done=self.count)

    @staticmethod
    def _size(result) -> int:
        try:
            return os.path.getsize(result.job.source)
        except OSError:
            return 0

    def _line(self, text: str) -> None:
        if self.bar is not None:
            self.bar.console.print(text, markup=False, highlight=False)
        else:
            print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
