"""`deidc explain`'s report (:class:`deidc.explanation.Report`) as a rich table or JSON."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..explanation import Report


def render(report: "Report", output_format: str, stream=None) -> None:
    stream = stream or sys.stdout
    if output_format == "json":
        document = {"title": report.title, "rows": report.rows, "policy": report.policy}
        if report.conformance is not None:
            document["conformance"] = report.conformance
        json.dump(document, stream, indent=2)
        stream.write("\n")
        return
    from rich.console import Console
    from rich.table import Table

    console = Console(file=stream)
    table = Table(title=report.title, show_lines=False)
    for column in report.columns:
        table.add_column(column, overflow="fold")
    for row in report.rows:
        table.add_row(*(str(row.get(column, "")) for column in report.columns))
    console.print(table)
    console.print(report.policy)
    if report.conformance is not None:
        console.print(conformance_sentence(report.conformance), highlight=False)


def conformance_sentence(found: dict) -> str:
    """What Table E.1-1 requires of the explained attribute, and the verdict, in one line."""
    options = ", ".join(found["options"]) or "Basic Profile, no option"
    where = f"{found['edition']} ({options})"
    if found["required"] is None:
        return f"{where}: this attribute is not in the table."
    line = found["line"]
    place = f" (line {line})" if isinstance(line, int) else f" ({line})" if line != "dicom:" \
        else ""
    return (f"{where}: {found['keyword'] or found['tag']} requires {found['required']}; "
            f"{found['verdict']}{place}: {found['action']}")
