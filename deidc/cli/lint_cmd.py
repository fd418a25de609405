"""`deidc lint`: check profiles, print diagnostics, exit with a code CI can act on."""

from __future__ import annotations

import difflib
import sys
from typing import List, Optional

import typer

from .typer_app import app

LINT_HELP = """Check de-id profiles for mistakes and risks before any data moves.

PATHS are profile files, folders (searched for .yaml, .yml and .json) or globs.

Settings come from [tool.deidc] in the nearest pyproject.toml (keys: select, ignore,
sorting-tags, strict); options given here override them.

Exit codes: 0 no errors; 1 errors found (or warnings, with --strict), including files that
were read but do not parse (reported as Y001); 2 usage problems: a path that does not exist or
cannot be read, an unknown --format, an unknown code in --select/--ignore, an unknown sorting
tag, or an unusable [tool.deidc].
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
    output: Optional[str] = typer.Option(None, "--output", "-o", metavar="FILE",
                                         help="Write the report to FILE instead of stdout."),
) -> None:
    from ..api import expand_paths
    from ..lint.settings import ConfigError, load_settings, split_names
    from ..lint import LintConfig, LintReport, lint_files
    from ..render.lint import FORMATS

    if output_format not in FORMATS:
        _usage(f"unknown --format {output_format!r}; choose one of {', '.join(FORMATS)}")
    try:
        settings = load_settings()
    except ConfigError as exc:
        _usage(str(exc))
    where = f" (from {settings.path})" if settings.path else ""
    chosen_select = split_names(select) if select else settings.select or ()
    chosen_ignore = split_names(ignore) if ignore else settings.ignore or ()
    chosen_tags = (split_names([sorting_tags]) if sorting_tags is not None
                   else settings.sorting_tags or ())
    config = LintConfig(
        select=_codes(chosen_select, "--select" if select else f"select{where}"),
        ignore=_codes(chosen_ignore, "--ignore" if ignore else f"ignore{where}"),
        sorting_tags=_keywords(chosen_tags, "--sorting-tags" if sorting_tags is not None
                               else f"sorting-tags{where}"),
        strict=strict if strict is not None else bool(settings.strict))

    from ..plan.ir import is_plan_file

    files, missing = expand_paths(paths)
    for argument in missing:
        typer.echo(f"deidc lint: {argument}: no such file, folder or matching glob", err=True)
    plans = [path for path in files if is_plan_file(path)]
    for path in plans:
        typer.echo(f"deidc lint: {path}: a compiled deidc plan, not a profile; lint the profile "
                   "it was compiled from (the plan names it under \"profile\")", err=True)
    if missing or plans:
        raise typer.Exit(2)
    if not files:
        _usage(f"no .yaml, .yml or .json files in {', '.join(paths)}")

    report = lint_files(files, config)
    unreadable = {path: source.error for path, source in report.sources.items()
                  if source.error is not None and source.error.kind == "unreadable"}
    if unreadable:
        report = LintReport(
            diagnostics=[d for d in report.diagnostics if d.path not in unreadable],
            sources={p: s for p, s in report.sources.items() if p not in unreadable},
            config=config)
    _write(report, output_format, output)
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


def _codes(entries: tuple[str, ...], origin: str) -> tuple[str, ...]:
    """Codes or prefixes, upper-cased; each must name at least one registered rule."""
    from ..lint import REGISTRY

    codes = tuple(entry.upper() for entry in entries)
    for code in codes:
        if not any(known.startswith(code) for known in REGISTRY):
            close = difflib.get_close_matches(code, sorted(REGISTRY), n=3)
            suggestion = f" Did you mean {', '.join(close)}?" if close else ""
            _usage(f"{origin}: no rule has the code or prefix {code!r}.{suggestion} "
                   "`deidc rules` lists them all.")
    return codes


def _keywords(entries: tuple[str, ...], origin: str) -> tuple[str, ...]:
    """Sorting tags as keywords, whichever way they were written (keyword in any case,
    ``(gggg,eeee)``, ``ggggeeee``, ``0xggggeeee``)."""
    from ..profile.dictionary import resolve, suggestions
    from ..profile.model import parse_selector

    keywords = []
    for entry in entries:
        selector = parse_selector(entry)
        found = resolve(selector) if selector.kind in ("keyword", "tag") else None
        if found is None or not found.keyword:
            close = suggestions(entry) if selector.kind == "keyword" else []
            suggestion = f" Did you mean {', '.join(close)}?" if close else ""
            _usage(f"{origin}: {entry!r} is not a DICOM keyword or tag.{suggestion}")
        keywords.append(found.keyword)
    return tuple(dict.fromkeys(keywords))


def _usage(message: str) -> None:
    typer.echo(f"deidc lint: {message}", err=True)
    raise typer.Exit(2)
