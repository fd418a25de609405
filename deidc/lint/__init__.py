"""Lint: every rule over every profile of every file, as a list of diagnostics.

The rules live in :mod:`deidc.lint.checks`, one module per family; importing that package
registers them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..profile.model import profiles_in
from ..profile.source import Source, load_source
from . import checks  # noqa: F401  (registers the rules)
from .diagnostic import REGISTRY, Diagnostic, LintConfig, LintContext, Rule, Severity, run_rules

__all__ = ["LintConfig", "LintReport", "Diagnostic", "Severity", "Rule", "REGISTRY",
           "lint_source", "lint_files"]


@dataclass
class LintReport:
    """The diagnostics of one run, and the sources they point into (renderers show lines)."""

    diagnostics: list[Diagnostic] = field(default_factory=list)
    sources: dict[str, Source] = field(default_factory=dict)
    config: LintConfig = field(default_factory=LintConfig)

    @property
    def errors(self) -> int:
        return sum(d.severity is Severity.ERROR for d in self.diagnostics)

    @property
    def warnings(self) -> int:
        return sum(d.severity is Severity.WARNING for d in self.diagnostics)

    @property
    def exit_code(self) -> int:
        """0 clean, 1 errors (or warnings with ``strict``)."""
        failing = self.errors + (self.warnings if self.config.strict else 0)
        return 1 if failing else 0

    def without(self, paths) -> LintReport:
        """This report with nothing about ``paths`` (files reported otherwise, as unreadable)."""
        return LintReport([d for d in self.diagnostics if d.path not in paths],
                          {p: s for p, s in self.sources.items() if p not in paths}, self.config)


def lint_source(source: Source, config: LintConfig | None = None) -> list[Diagnostic]:
    config = config or LintConfig()
    found = list(run_rules(LintContext(source, None, config)))
    if source.error is None:
        for profile in profiles_in(source):
            found.extend(run_rules(LintContext(source, profile, config)))
    unique = dict.fromkeys(found)
    return sorted(unique, key=lambda d: (d.line, d.column, d.code, d.message))


def lint_files(paths: list[str], config: LintConfig | None = None) -> LintReport:
    config = config or LintConfig()
    report = LintReport(config=config)
    for path in paths:
        source = load_source(path)
        report.sources[path] = source
        report.diagnostics.extend(lint_source(source, config))
    return report
