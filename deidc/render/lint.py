"""Renderers: a lint report → text for people, JSON, SARIF and GitHub annotations for machines.

The rules never know how their findings are shown; everything about terminals, colours and
output formats lives here.  Each renderer writes to a stream and returns nothing:

* ``text``: grouped by file, each diagnostic with its source line and a marker under the span,
  then a summary.  Colour only when the stream is a terminal (rich decides; ``NO_COLOR`` wins).
* ``json``: one object, ``{"diagnostics": [...], "summary": {...}}``; every diagnostic has
  path, line, column, end_line, end_column, code, name, severity, message and hint.
* ``sarif``: SARIF 2.1.0, one run, the rule catalogue built from the registry.
* ``github``: GitHub Actions workflow commands (``::error file=...::message``), one per line.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from typing import TYPE_CHECKING, TextIO

from .. import __version__
from ..lint.diagnostic import REGISTRY, Diagnostic, Severity

if TYPE_CHECKING:
    from ..lint import LintReport

FORMATS = ("text", "json", "sarif", "github")

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://pypi.org/project/deidc/"
SARIF_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
GITHUB_COMMAND = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}
STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "bold yellow", Severity.INFO: "bold cyan"}

# Source lines longer than this are cut around the marked column (minified JSON is one line).
SNIPPET_WIDTH = 120
# This many findings or more that share a line, a code, a hint and all of their message but
# its subject are shown as one block listing the subjects (a profile that never names most of
# Table E.1-1 has hundreds of E001 findings on its `dicom:` line).
GROUP_AT = 3


def render(report: "LintReport", output_format: str, stream: TextIO | None = None) -> None:
    """Write ``report`` to ``stream`` (stdout by default) in one of :data:`FORMATS`."""
    stream = stream or sys.stdout
    renderers = {"text": render_text, "json": render_json, "sarif": render_sarif,
                 "github": render_github}
    if output_format not in renderers:
        raise ValueError(f"unknown format {output_format!r}; choose one of {', '.join(FORMATS)}")
    renderers[output_format](report, stream)


def render_refusal(diagnostics, stream: TextIO | None = None) -> None:
    """The lint findings behind a refused profile (a :class:`deidc.errors.DeidcError`'s
    ``diagnostics``), as text on ``stream`` (stderr by default)."""
    from ..lint import LintReport

    if diagnostics:
        render(LintReport(diagnostics=list(diagnostics)), "text", stream or sys.stderr)


def summary(report: "LintReport") -> dict:
    """Counts by severity and the number of files looked at."""
    counts = Counter(d.severity for d in report.diagnostics)
    files = len(report.sources) or len({d.path for d in report.diagnostics})
    return {"files": files, "errors": counts[Severity.ERROR],
            "warnings": counts[Severity.WARNING], "infos": counts[Severity.INFO]}


def summary_line(report: "LintReport") -> str:
    numbers = summary(report)
    files = _plural(numbers["files"], "file")
    if not report.diagnostics:
        return f"No problems found in {files}."
    return (f"{_plural(numbers['errors'], 'error')}, {_plural(numbers['warnings'], 'warning')}, "
            f"{_plural(numbers['infos'], 'info')} in {files}.")


def reflow(text: str) -> str:
    """Docstring paragraphs as single lines, so that terminals and viewers wrap them."""
    paragraphs = [" ".join(part.split()) for part in text.split("\n\n")]
    return "\n\n".join(p for p in paragraphs if p)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


# --- text -------------------------------------------------------------------------------------

def render_text(report: "LintReport", stream: TextIO) -> None:
    from rich.console import Console
    from rich.text import Text

    console = Console(file=stream, highlight=False, soft_wrap=True, emoji=False)
    by_path: dict[str, list[Diagnostic]] = {}
    for path in report.sources:
        by_path[path] = []
    for diagnostic in report.diagnostics:
        by_path.setdefault(diagnostic.path, []).append(diagnostic)
    for path, diagnostics in by_path.items():
        if not diagnostics:
            continue
        console.print(Text(path, style="bold underline"))
        lines = _source_lines(report, path)
        ordered = sorted(diagnostics, key=lambda d: (d.line, d.column, d.code))
        for group in _groups(ordered):
            for line in _text_block(group[0], lines, group[1:]):
                console.print(line)
            console.print()
    console.print(Text(summary_line(report), style="bold"))


def _rest(d: Diagnostic) -> str | None:
    """The message without its subject, or ``None`` for a message that has none."""
    opening = f"{d.subject}: "
    return d.message[len(opening):] if d.subject and d.message.startswith(opening) else None


def _groups(diagnostics: list[Diagnostic]) -> list[list[Diagnostic]]:
    """Each diagnostic alone, except :data:`GROUP_AT` or more that differ only in their
    subject: one list each, in the place of the first."""
    shared: dict[tuple, list[Diagnostic]] = {}
    for d in diagnostics:
        rest = _rest(d)
        key = (d.line, d.column, d.code, d.severity, d.hint, rest) if rest is not None else d
        shared.setdefault(key, []).append(d)
    groups = []
    for members in shared.values():
        if len(members) >= GROUP_AT:
            groups.append(members)
        else:
            groups.extend([d] for d in members)
    return sorted(groups, key=lambda g: (g[0].line, g[0].column, g[0].code))


def _text_block(d: Diagnostic, lines: list[str], others: list[Diagnostic] = ()) -> list:
    """One diagnostic: its headline, the source line with a marker under the span, the hint.
    With ``others`` (findings that differ from ``d`` only in their subject), the headline
    counts them all and a line lists their subjects."""
    from rich.text import Text

    headline = Text()
    headline.append(f"{d.path}:{d.line}:{d.column}: ", style="bold")
    headline.append(f"{d.severity.value} ", style=STYLE[d.severity])
    headline.append(f"{d.code} ", style=STYLE[d.severity])
    headline.append(f"[{d.name}] ", style="dim")
    headline.append(f"{len(others) + 1} × {_rest(d)}" if others else d.message)
    block = [headline]
    number = str(d.line)
    gutter = " " * len(number)
    if 0 < d.line <= len(lines):
        shown, start, width = _snippet(lines[d.line - 1], d)
        block.append(Text(f" {gutter} |", style="blue"))
        source = Text(f" {number} | ", style="blue")
        source.append(shown)
        block.append(source)
        marker = Text(f" {gutter} | ", style="blue")
        marker.append(" " * start + "^" * width, style=STYLE[d.severity])
        block.append(marker)
    if others:
        listed = Text(f" {gutter} = ", style="bold cyan")
        listed.append(", ".join(o.subject for o in (d, *others)))
        block.append(listed)
    if d.hint:
        hint = Text(f" {gutter} = hint: ", style="bold cyan")
        hint.append(d.hint)
        block.append(hint)
    return block


def _snippet(line: str, d: Diagnostic) -> tuple[str, int, int]:
    """The line as shown (tabs as one space, long lines cut), where the marker starts, and how
    wide it is.  A span that runs onto later lines is marked to the end of this line."""
    line = line.replace("\t", " ").rstrip("\r\n")
    start = max(min(d.column - 1, len(line)), 0)
    end = d.end_column - 1 if d.end_line == d.line else len(line)
    width = max(min(end, len(line)) - start, 1)
    if len(line) > SNIPPET_WIDTH:
        left = max(start - SNIPPET_WIDTH // 3, 0)
        cut = line[left:left + SNIPPET_WIDTH]
        prefix = "…" if left else ""
        suffix = "…" if left + SNIPPET_WIDTH < len(line) else ""
        return (prefix + cut + suffix, start - left + len(prefix),
                max(min(width, len(cut) - (start - left)), 1))
    return line, start, width


def _source_lines(report: "LintReport", path: str) -> list[str]:
    """The file's lines from the report's sources, or read from disk when the report was built
    without them (``deidc apply`` renders compile errors that way)."""
    source = report.sources.get(path)
    if source is not None:
        return source.text.splitlines()
    from ..profile.source import MAX_BYTES

    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError:
        return []
    if len(data) > MAX_BYTES:
        return []
    return data.decode("utf-8", errors="replace").splitlines()


# --- json -------------------------------------------------------------------------------------

def render_json(report: "LintReport", stream: TextIO) -> None:
    document = {"diagnostics": [d.to_dict() for d in report.diagnostics],
                "summary": summary(report)}
    json.dump(document, stream, indent=2, ensure_ascii=False)
    stream.write("\n")


# --- sarif ------------------------------------------------------------------------------------

def render_sarif(report: "LintReport", stream: TextIO) -> None:
    json.dump(sarif_log(report), stream, indent=2, ensure_ascii=False)
    stream.write("\n")


def sarif_log(report: "LintReport") -> dict:
    """The report as a SARIF 2.1.0 log; paths are relative to the working directory, which is
    what GitHub code scanning resolves against the checkout."""
    codes = sorted(REGISTRY)
    index = {code: position for position, code in enumerate(codes)}
    rules = [_sarif_rule(REGISTRY[code]) for code in codes]
    results = []
    for d in report.diagnostics:
        result = {
            "ruleId": d.code,
            "level": SARIF_LEVEL[d.severity],
            "message": {"text": f"{d.message} (hint: {d.hint})" if d.hint else d.message},
            "locations": [{"physicalLocation": {
                "artifactLocation": _artifact(d.path),
                "region": {"startLine": d.line, "startColumn": d.column,
                           "endLine": max(d.end_line, d.line),
                           "endColumn": _sarif_end_column(d)},
            }}],
        }
        if d.code in index:
            result["ruleIndex"] = index[d.code]
        results.append(result)
    return {
        "version": "2.1.0",
        "$schema": SARIF_SCHEMA,
        "runs": [{
            "tool": {"driver": {"name": "deidc", "version": __version__,
                                "semanticVersion": __version__,
                                "informationUri": INFORMATION_URI, "rules": rules}},
            "columnKind": "unicodeCodePoints",
            "originalUriBaseIds": {"%SRCROOT%": {"uri": _directory_uri(os.getcwd())}},
            "results": results,
        }],
    }


def _sarif_rule(rule) -> dict:
    explanation = reflow(rule.explanation)
    help_text = (f"{rule.summary}\n\n{explanation}\n\nFails:\n{rule.fail}\n"
                 f"Passes:\n{rule.passes}")
    help_markdown = (f"{rule.summary}\n\n{explanation}\n\n**Fails:**\n```yaml\n{rule.fail}"
                     f"```\n\n**Passes:**\n```yaml\n{rule.passes}```\n")
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": explanation or rule.summary},
        "help": {"text": help_text, "markdown": help_markdown},
        "defaultConfiguration": {"level": SARIF_LEVEL[rule.severity]},
        "properties": {"tags": [rule.family]},
    }


def _sarif_end_column(d: Diagnostic) -> int:
    """SARIF's endColumn is exclusive and must not precede startColumn on one line."""
    if d.end_line <= d.line:
        return max(d.end_column, d.column + 1)
    return max(d.end_column, 1)


def _artifact(path: str) -> dict:
    absolute = os.path.abspath(path)
    relative = os.path.relpath(absolute)
    if relative.startswith(".."):
        return {"uri": _file_uri(absolute)}
    return {"uri": _uri_path(relative), "uriBaseId": "%SRCROOT%"}


def _uri_path(path: str) -> str:
    from urllib.parse import quote

    return quote(path.replace(os.sep, "/"))


def _file_uri(absolute: str) -> str:
    from pathlib import Path

    return Path(absolute).as_uri()


def _directory_uri(directory: str) -> str:
    uri = _file_uri(directory)
    return uri if uri.endswith("/") else uri + "/"


# --- github -----------------------------------------------------------------------------------

def render_github(report: "LintReport", stream: TextIO) -> None:
    for d in report.diagnostics:
        stream.write(github_line(d) + "\n")


def github_line(d: Diagnostic) -> str:
    """One workflow command; GitHub shows it as an annotation on the file and line."""
    properties = {
        "file": d.path.replace(os.sep, "/"),
        "line": d.line,
        "col": d.column,
        "endLine": max(d.end_line, d.line),
        "endColumn": _sarif_end_column(d),
        "title": f"{d.code} {d.name}",
    }
    joined = ",".join(f"{key}={escape_property(str(value))}"
                      for key, value in properties.items())
    message = f"{d.message} ({d.hint})" if d.hint else d.message
    return f"::{GITHUB_COMMAND[d.severity]} {joined}::{escape_data(message)}"


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")
