"""Diagnostics as plain values, and the registry of lint rules that produce them.

A rule is a small function decorated with :func:`rule`: it gets a :class:`LintContext`, yields
:class:`Finding` values (a JSON pointer, a message, a hint) and never knows about positions or
terminals.  The decorator carries the rule's code, name, severity and its examples; the function's
docstring is the documentation ``deidc rule CODE`` prints (first paragraph: what it checks; the
rest: why it matters).
"""

from __future__ import annotations

import enum
import inspect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterable, Iterator

if TYPE_CHECKING:
    from ..profile.model import FieldRule, Profile
    from ..profile.source import Source, Span


class Severity(str, enum.Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        return {"error": 2, "warning": 1, "info": 0}[self.value]


@dataclass(frozen=True)
class Finding:
    """What a rule found, located by JSON pointer.  ``on_key`` points at the key, not its value.
    ``severity`` overrides the rule's default when one rule has graded cases; ``span`` places
    findings that have no pointer (syntax errors)."""

    pointer: str
    message: str
    hint: str
    on_key: bool = False
    severity: Severity | None = None
    span: "Span | None" = None
    subject: str = ""  # what the message opens with, when many findings share the rest


@dataclass(frozen=True)
class Diagnostic:
    """A finding placed in a file: what every renderer prints."""

    path: str
    line: int
    column: int
    end_line: int
    end_column: int
    code: str
    name: str
    severity: Severity
    message: str
    hint: str
    # The message's opening ("PatientName (00100010)") when it reads "<subject>: <rest>", so
    # the text renderer can list many findings that share a line and a rest as one.
    subject: str = ""

    def to_dict(self) -> dict:
        return {"path": self.path, "line": self.line, "column": self.column,
                "end_line": self.end_line, "end_column": self.end_column, "code": self.code,
                "name": self.name, "severity": self.severity.value, "message": self.message,
                "hint": self.hint}


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    severity: Severity
    family: str
    check: Callable[["LintContext"], Iterable[Finding]]
    fail: str  # a profile that triggers the rule
    passes: str  # a similar profile that does not
    needs_profile: bool = True
    conformance: bool = False  # runs only on a judgement the API hands in (--conformance)

    @property
    def summary(self) -> str:
        """The docstring's first paragraph, on one line."""
        return " ".join(self._paragraphs()[0].split())

    @property
    def explanation(self) -> str:
        return self._paragraphs()[1].strip()

    def _paragraphs(self) -> tuple[str, str]:
        first, _, rest = (inspect.getdoc(self.check) or "").partition("\n\n")
        return first, rest


REGISTRY: dict[str, Rule] = {}

FAMILIES = {
    "Y": "structure",
    "S": "schema",
    "D": "dictionary",
    "R": "regex",
    "T": "sorting tags",
    "X": "safety",
    "P": "precedence",
    "V": "VR fit",
    "C": "configuration",
    "E": "Annex E conformance",
}


def rule(code: str, name: str, severity: Severity, *, fail: str, passes: str,
         needs_profile: bool = True, conformance: bool = False):
    """Register a lint rule.  ``fail`` and ``passes`` are full profiles (YAML text); the test
    suite checks that the first triggers ``code`` and the second does not (linted with
    ``--conformance`` for a ``conformance`` rule)."""

    def register(function: Callable[["LintContext"], Iterable[Finding]]):
        if code in REGISTRY:
            raise ValueError(f"duplicate lint code {code}")
        REGISTRY[code] = Rule(code, name, severity, FAMILIES[code[0]], function,
                              inspect.cleandoc(fail) + "\n", inspect.cleandoc(passes) + "\n",
                              needs_profile, conformance)
        return function

    return register


@dataclass
class LintConfig:
    """What a run checks: selected/ignored codes or prefixes, the site's sorting tags."""

    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    sorting_tags: tuple[str, ...] = ()
    strict: bool = False
    conformance: tuple[str, ...] | None = None  # Table E.1-1 options; None: not judged

    def enabled(self, code: str) -> bool:
        if self.select and not any(code.startswith(prefix) for prefix in self.select):
            return False
        return not any(code.startswith(prefix) for prefix in self.ignore)


@dataclass(frozen=True)
class Gap:
    """A row of PS3.15 Table E.1-1 that a profile falls short of, as :mod:`deidc.conformance`
    judged it: ``line`` is the profile line responsible, ``"dicom:<option>"`` when a default
    policy decides, ``"dicom:"`` when nothing names the attribute; ``nested_only`` when the
    top level is treated and only copies inside sequences survive."""

    line: int | str
    tag: str
    keyword: str
    required: str
    action: str
    nested_only: bool = False


@dataclass(frozen=True)
class Judged:
    """What the conformance judge said of one profile, or why it could not judge it
    (``refused``).  The linter may not import the judge (it needs the compiler, a later
    stage): the API judges and hands this in, and only when ``--conformance`` asks."""

    gaps: tuple[Gap, ...] = ()
    refused: str = ""


@dataclass
class LintContext:
    """What a rule may look at: the source, one profile of it (or ``None`` when the file did not
    load), the run's configuration and, for the conformance rules, the judgement."""

    source: "Source"
    profile: "Profile | None"
    config: LintConfig = field(default_factory=LintConfig)
    judged: Judged | None = None

    @property
    def fields(self) -> tuple["FieldRule", ...]:
        return self.profile.fields if self.profile else ()

    @property
    def sorting_tags(self) -> tuple[str, ...]:
        from ..profile.dictionary import DEFAULT_SORTING_TAGS

        return self.config.sorting_tags or DEFAULT_SORTING_TAGS

    def option(self, key: str) -> object:
        """A dicom option as the profile sets it, or Flywheel's default."""
        from ..profile.model import DICOM_DEFAULTS

        if self.profile and self.profile.dicom:
            return self.profile.dicom.option(key)
        return DICOM_DEFAULTS.get(key)

    def option_pointer(self, key: str) -> str:
        from ..profile.source import escape

        base = self.profile.dicom.pointer if self.profile and self.profile.dicom else ""
        return f"{base}/{escape(key)}"


def place(source: "Source", rule_: Rule, finding: Finding) -> Diagnostic:
    span = finding.span or source.span(finding.pointer, key=finding.on_key)
    return Diagnostic(source.path, span.line, span.column, span.end_line, span.end_column,
                      rule_.code, rule_.name, finding.severity or rule_.severity,
                      finding.message, finding.hint, finding.subject)


def run_rules(context: LintContext, *, conformance: bool = False) -> Iterator[Diagnostic]:
    """File-level rules run with ``profile=None``; the others once per profile; the
    ``conformance`` ones, with ``conformance=True``, wherever a judgement was handed in."""
    for code in sorted(REGISTRY):
        rule_ = REGISTRY[code]
        if rule_.conformance != conformance or not context.config.enabled(code):
            continue
        if conformance and context.judged is None:
            continue
        if not conformance and rule_.needs_profile != (context.profile is not None):
            continue
        for finding in rule_.check(context):
            yield place(context.source, rule_, finding)
