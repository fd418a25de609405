"""`deidc diff`'s result (:class:`deidc.plandiff.compare.Diff`) for people and tools.

* ``text``: a rich table, then what the changes mean for data already released;
* ``markdown``: the same as a table for a pull-request comment;
* ``json``: ``{"old", "new", "counts", "changes": [{"tag", "keyword", "old", "new", "kind",
  "old_line", "new_line", ...}], "conformance": {"edition", "options", "turned_to_gap",
  "turned_to_met", "rows": [...]}}``, one row per attribute (policy and option changes in the
  same list, named by ``name`` and ``subject``), the rows of Table E.1-1 apart;
* ``github``: workflow commands that annotate the new profile's lines.

Every format ends with the rows of PS3.15 Table E.1-1 the change turns to gap (or to met),
when there are any.

People read changes grouped: a deleted regex rule changes hundreds of attributes the same way,
which is one row naming a few of them.  JSON keeps one row per attribute for tools.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, TextIO

from .lint import escape_data, escape_property

if TYPE_CHECKING:
    from ..plandiff.compare import Change, Diff

FORMATS = ("text", "json", "markdown", "github")
NAMES_SHOWN = 6
MARKDOWN_ROWS = 100  # a pull-request comment is for reading; the JSON has every row


def render(diff: "Diff", output_format: str, stream: TextIO | None = None) -> None:
    stream = stream or sys.stdout
    {"text": render_text, "json": render_json, "markdown": render_markdown,
     "github": render_github}[output_format](diff, stream)


def summary(diff: "Diff") -> str:
    if not diff.changes:
        return "no change in effect"
    return ", ".join(f"{count} {kind}" for kind, count in diff.counts.items() if count)


def turned(diff: "Diff") -> list:
    """The rows of Table E.1-1 the change turns to gap or to met (none: an empty list)."""
    return list(diff.conformance.rows) if diff.conformance else []


def turn_text(row) -> str:
    return "turns to gap" if row.kind == "weaker" else "turns to met"


def row_lines(row) -> str:
    return f"{row.old_line} → {row.new_line}"


def grouped(diff: "Diff") -> list[tuple["Change", list[str]]]:
    """Changes that differ only in the attribute they touch, as one (change, names)."""
    groups: dict[tuple, tuple] = {}
    for change in diff.changes:
        key = (change.subject, change.kind, change.old, change.new, change.why,
               change.released, change.old_line, change.new_line, change.affects)
        groups.setdefault(key, (change, []))[1].append(change.name)
    return list(groups.values())


def names_text(names: list[str]) -> str:
    shown = ", ".join(names[:NAMES_SHOWN])
    return shown + (f" and {len(names) - NAMES_SHOWN} more" if len(names) > NAMES_SHOWN else "")


def lines_text(change: "Change") -> str:
    return f"{change.old_line or '–'} → {change.new_line or '–'}"


def consequences(diff: "Diff") -> list[str]:
    """What the changes mean for data released under the old profile, each said once."""
    said: dict[str, list[str]] = {}
    for change in diff.changes:
        if change.released:
            said.setdefault(change.released, []).append(change.name)
    return [f"{names_text(names)}: {released}" for released, names in said.items()]


def _what(change: "Change", names: list[str]) -> str:
    text = names_text(names)
    if change.affects:
        text += f" (used by {names_text(list(change.affects))})"
    return text


def render_json(diff: "Diff", stream: TextIO) -> None:
    document = {"old": diff.old, "new": diff.new, "counts": diff.counts,
                "changes": [change.as_json() for change in diff.changes]}
    if diff.conformance is not None:
        document["conformance"] = diff.conformance.as_json()
    json.dump(document, stream, indent=2, ensure_ascii=False)
    stream.write("\n")


def render_text(diff: "Diff", stream: TextIO) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    title = f"{diff.old} → {diff.new}: {summary(diff)}"
    rows = turned(diff)
    if not diff.changes and not rows:
        stream.write(title + "\n")
        return
    console = Console(file=stream)
    style = {"weaker": "bold red", "stronger": "green", "changed": "yellow"}
    if diff.changes:
        table = Table(title=escape(title), show_lines=False)
        for column in ("kind", "what", "before", "after", "why", "lines"):
            table.add_column(column, overflow="fold")
        for change, names in grouped(diff):
            table.add_row(f"[{style[change.kind]}]{change.kind}[/]",
                          escape(_what(change, names)), escape(change.old),
                          escape(change.new), escape(change.why), lines_text(change))
        console.print(table)
        for line in consequences(diff):
            console.print(escape(f"released data: {line}"))
    if rows:
        table = Table(title=escape(f"{diff.conformance.title}: {diff.conformance.summary()}"))
        for column in ("row", "attribute", "required", "before", "after", "lines"):
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(f"[{style[row.kind]}]{turn_text(row)}[/]",
                          escape(f"{row.keyword or row.name} ({row.tag})"), row.required,
                          escape(f"{row.old}: {row.old_action}"),
                          escape(f"{row.new}: {row.new_action}"), escape(row_lines(row)))
        console.print(table)


def render_markdown(diff: "Diff", stream: TextIO) -> None:
    out = [f"### deidc diff: `{diff.old}` → `{diff.new}`", ""]
    if not diff.changes:
        out.append("No change in effect.")
        stream.write("\n".join(out + _markdown_rows(diff)) + "\n")
        return
    counts = [f"**{count} {kind}**" if kind == "weaker" else f"{count} {kind}"
              for kind, count in diff.counts.items() if count]
    out += [", ".join(counts), "", "| kind | what | before | after | why | lines |",
            "|---|---|---|---|---|---|"]
    rows = grouped(diff)
    for change, names in rows[:MARKDOWN_ROWS]:
        kind = f"**{change.kind}**" if change.kind == "weaker" else change.kind
        cells = [kind, _what(change, names), change.old, change.new, change.why,
                 lines_text(change)]
        out.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    if len(rows) > MARKDOWN_ROWS:
        out += ["", f"… and {len(rows) - MARKDOWN_ROWS} more rows (`deidc diff --format json` "
                    "lists every one)."]
    released = consequences(diff)
    if released:
        out += ["", "**For data already released:**", ""] + [f"- {_cell(line)}"
                                                              for line in released]
    stream.write("\n".join(out + _markdown_rows(diff)) + "\n")


def _markdown_rows(diff: "Diff") -> list[str]:
    """The rows of Table E.1-1 turned, as a section of their own (none: nothing)."""
    rows = turned(diff)
    if not rows:
        return []
    gaps = diff.conformance.count("weaker")
    said = diff.conformance.summary()
    out = ["", f"**{diff.conformance.title}:** " + (f"**{said}**" if gaps else said), "",
           "| row | attribute | required | before | after | lines |", "|---|---|---|---|---|---|"]
    for row in rows:
        turn = f"**{turn_text(row)}**" if row.kind == "weaker" else turn_text(row)
        cells = [turn, f"{row.keyword or row.name} ({row.tag})", row.required,
                 f"{row.old}: {row.old_action}", f"{row.new}: {row.new_action}",
                 row_lines(row)]
        out.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    return out


def _cell(text: str) -> str:
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def render_github(diff: "Diff", stream: TextIO) -> None:
    """One annotation per change on the new profile's line (a deleted rule's change on the
    file, naming the old line), then one per row of Table E.1-1 the change turns."""
    for change in diff.changes:
        where = "" if change.new_line else (f" (was line {change.old_line})"
                                            if change.old_line else "")
        message = f"{change.name}: {change.old} → {change.new}{where}: {change.why}"
        if change.released:
            message += f". Released data: {change.released}"
        _annotate(stream, diff, change.kind, change.new_line or None,
                  f"deidc diff: {change.kind}", message)
    for row in turned(diff):
        message = (f"{row.keyword or row.name} ({row.tag}) {turn_text(row)} in "
                   f"{diff.conformance.title}: {row.required} required; was {row.old} "
                   f"({row.old_action}), now {row.new} ({row.new_action}); lines "
                   f"{row_lines(row)}")
        _annotate(stream, diff, row.kind,
                  row.new_line if isinstance(row.new_line, int) else None,
                  f"deidc diff: Table E.1-1 row {turn_text(row)}", message)


def _annotate(stream: TextIO, diff: "Diff", kind: str, line: int | None, title: str,
              message: str) -> None:
    """A workflow command on the new profile's ``line`` (or on the file, without one): a
    warning for what is weaker, a notice for the rest."""
    properties = {}
    if diff.new_file:
        properties["file"] = diff.new_file
        if line:
            properties["line"] = line
    properties["title"] = title
    joined = ",".join(f"{key}={escape_property(str(value))}"
                      for key, value in properties.items())
    level = "warning" if kind == "weaker" else "notice"
    stream.write(f"::{level} {joined}::{escape_data(message)}\n")
