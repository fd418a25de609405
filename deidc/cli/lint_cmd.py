"""`deidc lint`."""

from __future__ import annotations

from typing import List, Optional

import typer

from . import app


@app.command()
def lint(
    paths: List[str] = typer.Argument(..., help="Profile files, folders or globs."),
    output_format: str = typer.Option("text", "--format", help="text, json, sarif or github."),
) -> None:
    """Check profiles for mistakes and risks before any data moves."""
    from ..api import expand_paths, lint_files
    from ..lint import LintConfig
    from ..lint.render import render

    files, missing = expand_paths(paths)
    if missing:
        for argument in missing:
            typer.echo(f"deidc: {argument}: no such file, folder or matching glob", err=True)
        raise typer.Exit(2)
    report = lint_files(files, LintConfig())
    render(report, output_format)
    raise typer.Exit(report.exit_code)
