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
        json.dump({"title": report.title, "rows": report.rows, "policy": report.policy},
                  stream, indent=2)
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
