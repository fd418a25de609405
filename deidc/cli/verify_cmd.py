"""`deidc verify`."""

from __future__ import annotations

import os
from typing import Optional

import typer

from .typer_app import app


@app.command()
def verify(
    input_path: str = typer.Argument(..., metavar="INPUT", help="The originals (file or "
                                     "folder), as given to deidc apply."),
    output: str = typer.Argument(..., metavar="OUTPUT", help="The de-identified release (the "
                                 "-o folder of deidc apply)."),
    plan: Optional[str] = typer.Option(None, "--plan", metavar="PROFILE|PLAN", help="Also check "
                                       "that every action of this plan took effect."),
    output_format: str = typer.Option("text", "--format", help="text or json."),
    jobs: int = typer.Option(0, "--jobs", "-j", min=0, help="Worker processes (0: all cores)."),
    show_values: bool = typer.Option(False, "--show-values", help="Print the values found "
                                     "(PHI): only for a person who may see them."),
) -> None:
    """Check a de-identified release against its originals: pairing, the plan held (with
    --plan), no residual identifier, UID linkage, integrity.

    Exit codes: 0 no finding, 1 findings, 2 usage error or unreadable folders.
    """
    from .. import api
    from ..errors import DeidcError
    from ..render.verify import FORMATS, render

    if output_format not in FORMATS:
        typer.echo(f"deidc verify: --format takes {' or '.join(FORMATS)}", err=True)
        raise typer.Exit(2)
    try:
        report = api.verify(input_path, output, plan, jobs=jobs or os.cpu_count() or 1)
    except DeidcError as exc:
        if getattr(exc, "diagnostics", None):
            from ..render.lint import render_refusal

            render_refusal(exc.diagnostics)
        typer.echo(f"deidc verify: {exc}", err=True)
        raise typer.Exit(2)
    render(report, output_format, show_values=show_values)
    raise typer.Exit(report.exit_code)
