"""`deidc conformance`'s report (:class:`deidc.conformance.judge.Report`) as a rich table, JSON
or Markdown for a pull-request comment."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from ..conformance.judge import Report

FORMATS = ("text", "json", "markdown")
KEYWORD_WIDTH = 28
VERDICT_STYLE = {"gap": "bold red", "stricter": "yellow", "meets": "green"}


def render(report: "Report", output_format: str, stream: TextIO | None = None) -> None:
    stream = stream or sys.stdout
    if output_format not in FORMATS:
        raise ValueError(f"unknown format {output_format!r}; choose one of {', '.join(FORMATS)}")
    {"text": render_text, "json": render_json, "markdown": render_markdown}[output_format](
        report, stream)


def render_json(report: "Report", stream: TextIO) -> None:
    json.dump(report.to_dict(), stream, indent=2, ensure_ascii=False)
    stream.write("\n")


def counts_line(report: "Report") -> str:
    counts = report.counts()
    return ", ".join(f"{counts[verdict]} {verdict}" for verdict in counts)


def render_text(report: "Report", stream: TextIO) -> None:
    """A table, gaps first.  Drawn by hand into one rich Text (colour only on a terminal):
    rich's Table takes most of a second over the table's 649 rows."""
    import textwrap

    from rich.console import Console
    from rich.text import Text

    console = Console(file=stream, highlight=False)
    options = ", ".join(report.options) or "Basic Profile, no option"
    findings = report.ordered()
    columns = [("verdict", [f.verdict for f in findings]),
               ("tag", [f.row.tag for f in findings]),
               ("keyword", [(f.row.keyword or f.row.name)[:KEYWORD_WIDTH] for f in findings]),
               ("required", [f.required for f in findings]),
               ("line", [str(f.line) for f in findings])]
    widths = [max(len(title), *(len(value) for value in values)) for title, values in columns]
    indent = sum(widths) + 2 * len(widths)
    action_width = max(24, console.width - indent - 1)
    out = Text()
    out.append(f"PS3.15 {report.edition} Table E.1-1 ({options}): {counts_line(report)}\n\n",
               style="bold")
    heading = "".join(title.ljust(width + 2) for (title, _), width in zip(columns, widths))
    out.append(heading + "what the profile does\n", style="bold")
    for index, finding in enumerate(findings):
        out.append(finding.verdict.ljust(widths[0] + 2), style=VERDICT_STYLE[finding.verdict])
        out.append("".join(values[index].ljust(width + 2)
                           for (_, values), width in zip(columns[1:], widths[1:])))
        lines = textwrap.wrap(finding.action, action_width) or [""]
        out.append(lines[0] + "\n")
        for line in lines[1:]:
            out.append(" " * indent + line + "\n")
    out.append("\n" + report.sentence(), style="bold")
    console.print(out, soft_wrap=True)


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(report: "Report", stream: TextIO) -> None:
    """Gaps in a table; stricter and met rows folded away, as a review comment wants."""
    options = ", ".join(f"`{name}`" for name in report.options) or "Basic Profile, no option"
    stream.write(f"### PS3.15 {report.edition} Table E.1-1 conformance ({options})\n\n")
    stream.write(f"{report.sentence()} ({counts_line(report)})\n\n")
    header = "| verdict | tag | keyword | required | what the profile does | line |\n" \
             "|---|---|---|---|---|---|\n"
    for verdict in ("gap", "stricter", "meets"):
        findings = [f for f in report.ordered() if f.verdict == verdict]
        if not findings:
            continue
        rows = "".join(f"| {f.verdict} | `{f.row.tag}` | {_cell(f.row.keyword or f.row.name)} | "
                       f"{f.required} | {_cell(f.action)} | {f.line} |\n" for f in findings)
        if verdict == "gap":
            stream.write(header + rows + "\n")
        else:
            stream.write(f"<details><summary>{len(findings)} {verdict}</summary>\n\n"
                         f"{header}{rows}\n</details>\n\n")
