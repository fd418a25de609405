"""Lint: every rule over every profile of every file, as a list of diagnostics.

The rules live in :mod:`deidc.lint.checks`, one module per family; importing that package
registers them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from ..profile.model import profiles_in
from ..profile.source import Source, load_source
from . import checks  # noqa: F401  (registers the rules)
from .diagnostic import (
    REGISTRY,
    Diagnostic,
    Judged,
    LintConfig,
    LintContext,
    Rule,
    Severity,
    run_rules,
)

if TYPE_CHECKING:
    from ..profile.model import Profile

    # Compiles one profile that linted without errors and judges it against Table E.1-1.
    Judge = Callable[[Source, Profile], Judged]

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


def lint_source(source: Source, config: LintConfig | None = None,
                judge: "Judge | None" = None) -> list[Diagnostic]:
    """Every enabled rule over ``source``.  With ``judge`` (``--conformance``), each profile
    that lints without errors is also judged against PS3.15 Table E.1-1, and the conformance
    rules report on the judgement (or on why there is none)."""
    config = config or LintConfig()
    judging = judge is not None and config.conformance is not None and any(
        rule_.conformance and config.enabled(code) for code, rule_ in REGISTRY.items())
    file_context = LintContext(source, None, config)
    file_level = list(run_rules(file_context))
    found = list(file_level)
    if source.error is not None and judging:
        file_context.judged = Judged(refused="the file does not parse")
        found.extend(run_rules(file_context, conformance=True))
    if source.error is None:
        for profile in profiles_in(source):
            context = LintContext(source, profile, config)
            own = list(run_rules(context))
            found.extend(own)
            if judging:  # errors of the file itself, or of this profile, forbid compiling
                errors = sum(d.severity is Severity.ERROR for d in (*file_level, *own))
                context.judged = (judge(source, profile) if not errors else
                                  Judged(refused=f"the file has {errors} lint error(s)"))
                found.extend(run_rules(context, conformance=True))
    unique = dict.fromkeys(found)
    return sorted(unique, key=lambda d: (d.line, d.column, d.code, d.message))


def lint_files(paths: list[str], config: LintConfig | None = None,
               judge: "Judge | None" = None) -> LintReport:
    config = config or LintConfig()
    report = LintReport(config=config)
    for path in paths:
        source = load_source(path)
        report.sources[path] = source
        report.diagnostics.extend(lint_source(source, config, judge))
    return report
