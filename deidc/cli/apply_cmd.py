"""`deidc apply`: its options and help for typer; the work is in :mod:`deidc.cli.applying`
(which :mod:`deidc.cli.quick` also runs, without typer)."""

from __future__ import annotations

from typing import List, Optional

import typer

from .typer_app import app


@app.command()
def apply(
    policy: str = typer.Argument(..., metavar="PROFILE|PLAN",
                                 help="A profile (compiled on the fly) or a compiled .json plan."),
    inputs: List[str] = typer.Argument(..., metavar="INPUT...", help="DICOM files and folders."),
    output: Optional[str] = typer.Option(None, "-o", "--output", help="Output folder."),
    in_place: bool = typer.Option(False, "--in-place", help="Replace the inputs themselves."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing outputs."),
    jobs: int = typer.Option(0, "--jobs", "-j", min=0, help="Worker processes (0: all cores)."),
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
    cluster: Optional[str] = typer.Option(None, "--cluster", metavar="ADDRESS", help="Run on a "
                                          "Dask cluster: a scheduler (tcp://host:8786) or "
                                          "local:N for N local worker processes; inputs and "
                                          "output on a filesystem every worker sees. Needs "
                                          "pip install 'deidc[dask]'."),
    verify: bool = typer.Option(False, "--verify", help="Then check the release as deidc "
                                "verify INPUT... OUTDIR --plan PLAN does (output files no "
                                "input explains aside); exit 3 on findings. Not with "
                                "--in-place or --dry-run."),
) -> None:
    """De-identify DICOM files and folders with a profile or a compiled plan.

    Exit codes: 0 every file written (or unchanged/skipped), 1 some files failed, 2 usage or
    profile errors, 3 (with --verify) no file failed but the release has findings, 128 + the
    signal's number when stopped by one (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP; no partial
    outputs are left, and the same command again finishes the job).
    """
    from .applying import apply_command

    raise typer.Exit(apply_command(policy, inputs, output=output, in_place=in_place,
                                   overwrite=overwrite, jobs=jobs, log=log, dry_run=dry_run,
                                   seed=seed, compat=compat, verbose=verbose,
                                   fast_path=fast_path, cluster=cluster,
                                   verify=verify))
