"""`deidc diff`: what a change to a profile changes in effect, for code review."""

from __future__ import annotations

from typing import List, Optional

import typer

from .typer_app import app

DIFF_HELP = """Show what changes in effect from OLD to NEW: per attribute, the action chain
before and after; the default policy; the options that change values.  Reordering rules,
writing a tag for a keyword, comments, name and description are no change.

OLD and NEW are profiles, compiled plans, or REV:PATH (the file at a git revision, read with
`git show`), e.g. `deidc diff origin/main:profiles/site.yaml profiles/site.yaml`.

Each change is weaker (more of the original reaches the release), stronger, or changed
(another pseudonym, another shift).  The rows of DICOM PS3.15 Table E.1-1 that the change
turns from met to gap (or back) are listed too, judged under the table's options named with
--option, as `deidc conformance` judges them.

Exit codes: 0 (whatever changed, unless --fail-on says otherwise); 1 with --fail-on weaker when
a change is weaker or a row of Table E.1-1 turns to gap, with --fail-on any when anything
changed; 2 usage problems (an unknown --option too), a side that cannot be read, or a profile
that does not compile.
"""

FAIL_ON = ("weaker", "any")


@app.command("diff", help=DIFF_HELP)
def diff_command(
    old: str = typer.Argument(..., metavar="OLD", help="Profile, plan or REV:PATH before."),
    new: str = typer.Argument(..., metavar="NEW", help="Profile, plan or REV:PATH after."),
    output_format: str = typer.Option("text", "--format", "-f",
                                      help="text, json, markdown or github."),
    fail_on: Optional[str] = typer.Option(None, "--fail-on", metavar="weaker|any",
                                          help="Exit 1 when a change is weaker, or on any "
                                               "change."),
    option: Optional[List[str]] = typer.Option(
        None, "--option", metavar="NAME",
        help="A PS3.15 Table E.1-1 option to judge both sides under (retain-uids, ...). "
             "Repeatable."),
) -> None:
    from .. import api
    from ..errors import DeidcError
    from ..render.diff import FORMATS, render
    from ..render.lint import render_refusal

    if output_format not in FORMATS:
        _usage(f"unknown --format {output_format!r}; choose one of {', '.join(FORMATS)}")
    if fail_on is not None and fail_on not in FAIL_ON:
        _usage(f"unknown --fail-on {fail_on!r}; choose one of {', '.join(FAIL_ON)}")
    try:
        result = api.diff(old, new, options=option or ())
    except DeidcError as exc:
        render_refusal(exc.diagnostics)
        typer.echo(f"deidc diff: {exc}", err=True)
        raise typer.Exit(2)
    render(result, output_format)
    if (fail_on == "weaker" and result.has("weaker")) or (fail_on == "any" and result.changes):
        raise typer.Exit(1)


def _usage(message: str) -> None:
    typer.echo(f"deidc diff: {message}", err=True)
    raise typer.Exit(2)
