"""`deidc rules`, `deidc rule CODE` and `deidc create PATH`: the linter's documentation and a
profile to start from, both reachable without leaving the terminal."""

from __future__ import annotations

import difflib
import json
import sys
from pathlib import Path
from typing import List, Optional

import typer

from .typer_app import app


@app.command()
def rules(
    output_format: str = typer.Option("text", "--format", "-f", help="text or json."),
) -> None:
    """List every lint rule: code, name, severity, family and what it checks."""
    from ..api import rules as registered

    registry = registered()
    if output_format not in ("text", "json"):
        _usage("rules", f"unknown --format {output_format!r}; choose text or json")
    ordered = [registry[code] for code in sorted(registry)]
    if output_format == "json":
        json.dump([{"code": r.code, "name": r.name, "severity": r.severity.value,
                    "family": r.family, "summary": r.summary} for r in ordered],
                  sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from ..render.lint import STYLE

    table = Table(title=f"{len(ordered)} lint rules", title_justify="left", show_lines=False)
    for column in ("code", "name", "severity", "family"):
        table.add_column(column, no_wrap=True)
    table.add_column("what it checks")
    for r in ordered:
        table.add_row(r.code, r.name, Text(r.severity.value, style=STYLE[r.severity]), r.family,
                      Text(r.summary))
    Console(highlight=False).print(table)


@app.command()
def rule(code: str = typer.Argument(..., metavar="CODE",
                                    help="A rule's code (Y001) or name (syntax-error).")) -> None:
    """Explain one lint rule: what it checks, why it matters, a failing and a passing example."""
    from ..api import rules as registered

    registry = registered()
    found = _find_rule(code, registry)
    if found is None:
        names = {r.name: r.code for r in registry.values()}
        close = difflib.get_close_matches(code.upper(), sorted(registry), n=3)
        close += [names[n] for n in difflib.get_close_matches(code.lower(), sorted(names), n=3)]
        suggestion = f" Did you mean {', '.join(dict.fromkeys(close))}?" if close else ""
        _usage("rule", f"no rule {code!r}.{suggestion} `deidc rules` lists them all.")
    _print_rule(found)


def _find_rule(code: str, registry):
    wanted = code.strip()
    if wanted.upper() in registry:
        return registry[wanted.upper()]
    return next((r for r in registry.values() if r.name == wanted.lower()), None)


def _print_rule(found) -> None:
    from rich.console import Console
    from rich.syntax import Syntax
    from rich.text import Text

    from ..api import rule_example_findings
    from ..render.lint import STYLE, reflow

    console = Console(highlight=False)
    title = Text()
    title.append(f"{found.code} {found.name}", style="bold")
    title.append(f"  ({found.severity.value}, {found.family})", style=STYLE[found.severity])
    console.print(title)
    console.print()
    console.print(Text("What it checks", style="bold underline"))
    console.print(reflow(found.summary), markup=False)
    console.print()
    console.print(Text("Why it matters", style="bold underline"))
    console.print(reflow(found.explanation), markup=False)
    console.print()
    reported = rule_example_findings(found)
    console.print(Text("Fails", style="bold underline"))
    console.print(Syntax(found.fail.rstrip("\n"), "yaml", line_numbers=True,
                         background_color="default"))
    for d in reported:
        console.print(Text(f"  line {d.line}:{d.column}: {d.message}", style=STYLE[d.severity]))
        console.print(Text(f"  hint: {d.hint}", style="cyan"))
    console.print()
    console.print(Text("Passes", style="bold underline"))
    console.print(Syntax(found.passes.rstrip("\n"), "yaml", line_numbers=True,
                         background_color="default"))


@app.command()
def create(
    path: Path = typer.Argument(..., metavar="PATH", help="Where to write the profile."),
    force: bool = typer.Option(False, "--force", help="Overwrite PATH if it exists."),
    conformance: bool = typer.Option(
        False, "--conformance",
        help="Generate the profile from PS3.15 Table E.1-1, meeting it under the --option's."),
    option: Optional[List[str]] = typer.Option(
        None, "--option", metavar="NAME",
        help="A Table E.1-1 option (with --conformance). Repeatable."),
) -> None:
    """Write a commented starter profile that lints clean and keeps Flywheel's sorting tags
    usable (PatientID pseudonymised, UIDs hashed, dates shifted, private tags and the PS3.15
    basic-profile identifying attributes removed or blanked).  Review it before use.  Its
    header says whether it meets PS3.15 Table E.1-1 (it does not: it leaves attributes inside
    sequences); with --conformance the profile is generated from the table and meets it."""
    from ..api import starter_profile
    from ..errors import DeidcError

    if option and not conformance:
        _usage("create", "--option needs --conformance")
    try:
        text = starter_profile(conformance, option or ())
    except DeidcError as exc:
        _usage("create", str(exc))
    if path.exists() and not force:
        _usage("create", f"{path} exists; use --force to overwrite it")
    if path.is_dir():
        _usage("create", f"{path} is a folder; give a file name such as {path / 'deid.yaml'}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        _usage("create", f"cannot write {path}: {exc.strerror or exc}")
    typer.echo(f"wrote {path}; check it with: deidc lint {path}", err=True)


def _usage(command: str, message: str) -> None:
    typer.echo(f"deidc {command}: {message}", err=True)
    raise typer.Exit(2)
