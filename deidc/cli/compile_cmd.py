"""`deidc compile` and `deidc explain`."""

from __future__ import annotations

import sys
from typing import List, Optional

import typer

from .typer_app import app


def _compile_or_exit(profile: str):
    from ..api import compile_with_stats
    from ..errors import DeidcError
    from ..render.lint import render_refusal

    try:
        return compile_with_stats(profile)
    except DeidcError as exc:
        render_refusal(exc.diagnostics)
        typer.echo(f"deidc: {exc}", err=True)
        raise typer.Exit(1)


@app.command("compile")
def compile_command(
    profile: str = typer.Argument(..., help="The profile to compile."),
    output: Optional[str] = typer.Option(None, "-o", "--output", help="Plan file (default: "
                                         "standard output)."),
    stats: bool = typer.Option(False, "--stats", help="Say what the compiler did."),
) -> None:
    """Compile a profile into a versioned rule plan (JSON).  Exit 1 if the profile has lint
    errors or asks for what deidc cannot execute."""

    plan, numbers = _compile_or_exit(profile)
    text = plan.to_json()
    if output:
        from ..run.runner import write_text_atomically  # the runner's atomic write, reused

        write_text_atomically(output, text)
    else:
        sys.stdout.write(text)
    if stats:
        out = sys.stderr if not output else sys.stdout
        print(f"rules in: {numbers.rules}; entries out: {numbers.entries}; "
              f"patterns kept for per-file matching: {len(plan.patterns)}", file=out)
        for pattern, count in numbers.regexes.items():
            print(f"  regex {pattern!r} expanded to {count} dictionary tag(s)", file=out)
        print(f"actions dropped (they could never have an effect): {len(numbers.dropped)}",
              file=out)
        for origin, reason in numbers.dropped:
            print(f"  {origin.describe()}: {reason}", file=out)
        for note in plan.notes:
            print(f"note: {note}", file=out)
    elif plan.notes:
        for note in plan.notes:
            typer.echo(f"note: {note}", err=True)


@app.command()
def explain(
    policy: str = typer.Argument(..., metavar="PROFILE|PLAN"),
    tag: Optional[str] = typer.Option(None, "--tag", help="Explain one attribute (keyword or "
                                      "tag)."),
    file: Optional[str] = typer.Option(None, "--file", help="Preview what happens to a real "
                                       "DICOM file (nothing is written)."),
    output_format: str = typer.Option("text", "--format", help="text or json."),
    option: Optional[List[str]] = typer.Option(
        None, "--option", metavar="NAME",
        help="With --tag: judge the attribute against PS3.15 Table E.1-1 under this option "
             "of the table (retain-uids, ...). Repeatable."),
) -> None:
    """Show which rule wins for each attribute, and why; with --tag, also what PS3.15 Table
    E.1-1 requires of the attribute and whether the plan meets it."""
    from .. import api
    from ..errors import DeidcError
    from ..render.explain import render
    from ..render.lint import render_refusal

    if output_format not in ("text", "json"):
        typer.echo("deidc explain: --format takes text or json", err=True)
        raise typer.Exit(2)
    try:
        plan = api.load_policy(policy)
    except DeidcError as exc:  # a plan it cannot run: 2; a profile that does not compile: 1
        render_refusal(exc.diagnostics)
        typer.echo(f"deidc explain: {exc}", err=True)
        raise typer.Exit(2 if api.is_plan(policy) else 1)
    try:
        report = api.explain(plan, tag=tag, file=file, options=option or ())
    except DeidcError as exc:
        typer.echo(f"deidc explain: {exc}", err=True)
        raise typer.Exit(2)
    render(report, output_format)
