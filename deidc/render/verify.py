"""`deidc verify`'s report (:class:`deidc.verify.findings.Report`) as text or JSON.

Text is a summary by kind, in the order of the layers, each kind with its count, what it
means, and its first findings; then the input values left out of the search, by attribute
and reason.  Values (the PHI found) are printed only with ``show_values``.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, TextIO

from ..verify.findings import KINDS

if TYPE_CHECKING:
    from ..verify.findings import Report

FORMATS = ("text", "json")
FIRST = 5  # findings shown per kind in text


def render(report: "Report", output_format: str, stream: TextIO | None = None,
           show_values: bool = False) -> None:
    stream = stream or sys.stdout
    if output_format == "json":
        render_json(report, stream, show_values)
    else:
        render_text(report, stream, show_values)


def render_json(report: "Report", stream: TextIO, show_values: bool = False) -> None:
    findings = []
    for found in report.findings:
        item = {"file": found.file, "tag": found.tag, "location": found.location,
                "kind": found.kind, "message": found.message}
        if show_values and found.value is not None:
            item["value"] = found.value
        findings.append(item)
    json.dump({"findings": findings, "summary": report.summary()}, stream, indent=2)
    stream.write("\n")


def render_text(report: "Report", stream: TextIO, show_values: bool = False) -> None:
    from rich.console import Console
    from rich.text import Text

    console = Console(file=stream, highlight=False, soft_wrap=True)
    numbers = report.summary()
    grouped = report.by_kind()
    for kind, found in grouped.items():
        layer, meaning = KINDS[kind]
        heading = Text()
        heading.append(f"{kind}", style="bold red")
        heading.append(f" ({len(found)}, {layer}): {meaning}")
        console.print(heading)
        for item in found[:FIRST]:
            where = f" {item.location}" if item.location else ""  # it ends with the tag
            line = Text(f"  {item.file}{where}: ", style="bold")
            line.append(item.message, style="")
            if show_values and item.value is not None:
                line.append(f"  [value: {item.value}]", style="yellow")
            console.print(line)
        if len(found) > FIRST:
            console.print(f"  ... and {len(found) - FIRST} more ({kind})", style="dim")
    if report.ignored:
        console.print("Input values not searched for:", style="dim")
        for (attribute, part, reason), count in sorted(report.ignored.items()):
            from ..verify.identifiers import IGNORED_BECAUSE

            named = f"{attribute} ({part})" if part else attribute
            console.print(f"  {named}: {count} value(s), {IGNORED_BECAUSE[reason]}",
                          style="dim")
    plan = "the plan checked" if numbers["plan_checked"] else "no plan given (--plan)"
    total = numbers["findings"]
    if total:
        console.print(Text(f"{total} finding(s) in {numbers['files_with_findings']} of "
                           f"{numbers['pairs']} file pair(s); {plan}.", style="bold red"))
    else:
        console.print(Text(f"No findings in {numbers['pairs']} file pair(s); {plan}.",
                           style="bold green"))
