"""`deidc conformance`: what a profile leaves identifiable, held against PS3.15 Table E.1-1."""

from __future__ import annotations

from typing import List, Optional

import typer

from .typer_app import app

CONFORMANCE_HELP = """Judge what a profile (or compiled plan) does to every attribute of DICOM
PS3.15 Annex E Table E.1-1, the Basic Application Level Confidentiality Profile, under the
options named with --option (retain-uids, retain-device-identity,
retain-institution-identity, retain-patient-characteristics, retain-longitudinal-full-dates,
retain-longitudinal-modified-dates, clean-descriptors, clean-structured-content,
clean-graphics).

Each row gets a verdict: meets; stricter (nothing identifying survives, but more is lost than
the table asks); gap (identifying content survives, or the action is weaker than required).

Exit codes: 0 no gap; 1 gaps; 2 usage problems, an unreadable profile, or a profile that does
not compile (its lint errors are printed).
"""


@app.command(help=CONFORMANCE_HELP)
def conformance(
    policy: str = typer.Argument(..., metavar="PROFILE|PLAN"),
    option: Optional[List[str]] = typer.Option(
        None, "--option", metavar="NAME", help="A Table E.1-1 option. Repeatable."),
    output_format: str = typer.Option("text", "--format", "-f",
                                      help="text, json or markdown."),
) -> None:
    from .. import api
    from ..errors import DeidcError
    from ..render.conformance import FORMATS, render

    if output_format not in FORMATS:
        _usage(f"unknown --format {output_format!r}; choose one of {', '.join(FORMATS)}")
    try:
        report = api.conformance(policy, option or ())
    except DeidcError as exc:
        diagnostics = getattr(exc, "diagnostics", ())
        if diagnostics:  # the linter is loaded only to show why a profile does not compile
            from ..render.lint import render_refusal

            render_refusal(diagnostics)
        _usage(str(exc))
    render(report, output_format)
    raise typer.Exit(1 if report.gaps else 0)


def _usage(message: str) -> None:
    typer.echo(f"deidc conformance: {message}", err=True)
    raise typer.Exit(2)
