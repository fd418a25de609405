"""`deidc lint`: check profiles, print diagnostics, exit with a code CI can act on."""

from __future__ import annotations

import sys
from typing import List, Optional

import typer

from .typer_app import app

LINT_HELP = """Check de-id profiles for mistakes and risks before any data moves.

PATHS are profile files, folders (searched for .yaml, .yml and .json) or globs.

Settings come from [tool.deidc] in the nearest pyproject.toml (keys: select, ignore,
sorting-tags, strict, conformance, conformance-options); options given here override them.

With --conformance, each profile that lints without errors is also judged against DICOM
PS3.15 Table E.1-1 (under the options named with --option, as for `deidc conformance`): one
E001 warning per attribute left short of what the table requires, at the line responsible;
E002 when a profile cannot be judged.

Exit codes: 0 no errors; 1 errors found (or warnings, with --strict), including files that
were read but do not parse (reported as Y001); 2 usage problems: a path that does not exist or
cannot be read, an unknown --format, an unknown code in --select/--ignore, an unknown sorting
tag or Table E.1-1 option, or an unusable [tool.deidc].
"""


@app.command(help=LINT_HELP)
def lint(
    paths: List[str] = typer.Argument(..., metavar="PATH...",
                                      help="Profile files, folders or globs."),
    output_format: str = typer.Option("text", "--format", "-f",
                                      help="text, json, sarif or github."),
    select: Optional[List[str]] = typer.Option(
        None, "--select", help="Only these codes or prefixes (e.g. Y,S or X001). Repeatable."),
    ignore: Optional[List[str]] = typer.Option(
        None, "--ignore", help="Skip these codes or prefixes. Repeatable."),
    sorting_tags: Optional[str] = typer.Option(
        None, "--sorting-tags", metavar="TAGS",
        help="Your site's sorting tags, keywords or tags, comma-separated "
             "(default: PatientID, StudyInstanceUID, StudyDescription, SeriesInstanceUID, "
             "SeriesDescription)."),
    strict: Optional[bool] = typer.Option(None, "--strict/--no-strict",
                                          help="Warnings fail too (exit 1)."),
    conformance: Optional[bool] = typer.Option(
        None, "--conformance/--no-conformance",
        help="Also report the gaps against PS3.15 Table E.1-1 (E001)."),
    option: Optional[List[str]] = typer.Option(
        None, "--option", metavar="NAME",
        help="A Table E.1-1 option for --conformance (retain-uids, ...). Repeatable."),
    output: Optional[str] = typer.Option(None, "--output", "-o", metavar="FILE",
                                         help="Write the report to FILE instead of stdout."),
) -> None:
    from .. import api
    from ..errors import DeidcError
    from ..render.lint import FORMATS

    if output_format not in FORMATS:
        _usage(f"unknown --format {output_format!r}; choose one of {', '.join(FORMATS)}")
    try:
        config = api.lint_config(select=select, ignore=ignore, sorting_tags=sorting_tags,
                                 strict=strict, conformance=conformance, options=option)
    except DeidcError as exc:
        _usage(str(exc))

    files, missing = api.expand_paths(paths)
    for argument in missing:
        typer.echo(f"deidc lint: {argument}: no such file, folder or matching glob", err=True)
    plans = [path for path in files if api.is_plan(path)]
    for path in plans:
        typer.echo(f"deidc lint: {path}: a compiled deidc plan, not a profile; lint the profile "
                   "it was compiled from (the plan names it under \"profile\")", err=True)
    if missing or plans:
        raise typer.Exit(2)
    if not files:
        _usage(f"no .yaml, .yml or .json files in {', '.join(paths)}")

    report = api.lint(files, config)
    unreadable = {path: source.error for path, source in report.sources.items()
                  if source.error is not None and source.error.kind == "unreadable"}
    _write(report.without(unreadable), output_format, output)
    for path, error in unreadable.items():
        typer.echo(f"deidc lint: {path}: {error.message}", err=True)
    raise typer.Exit(2 if unreadable else report.exit_code)


def _write(report, output_format: str, output: str | None) -> None:
    from ..render.lint import render

    if output is None:
        render(report, output_format, sys.stdout)
        return
    try:
        with open(output, "w", encoding="utf-8") as stream:
            render(report, output_format, stream)
    except OSError as exc:
        _usage(f"cannot write {output}: {exc.strerror or exc}")


def _usage(message: str) -> None:
    typer.echo(f"deidc lint: {message}", err=True)
    raise typer.Exit(2)
