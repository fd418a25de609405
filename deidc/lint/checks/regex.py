"""R: `regex:` rules, which Flywheel matches with `re.match` (anchored at the start only)
against every element's keyword path and hex path.  Patterns are compiled once, and a pattern
shaped for catastrophic backtracking is never run against anything."""

from __future__ import annotations

import re

from ... import dictionary
from ...precedence import compile_regex, nested_quantifier
from ..diagnostic import Finding, LintContext, Severity, rule



def _regex_rules(ctx: LintContext):
    for field_rule in ctx.fields:
        if field_rule.selector is not None and field_rule.selector.kind == "regex":
            yield field_rule, field_rule.selector.pattern


def _compiles(pattern: str) -> bool:
    try:
        re.compile(pattern)
    except (re.error, RecursionError, OverflowError):
        return False
    return True


@rule("R001", "regex-invalid", Severity.ERROR,
      fail="""
      dicom:
        fields:
          - regex: '(Patient'
            remove: true
      """,
      passes="""
      dicom:
        fields:
          - regex: '(Patient).*Name'
            remove: true
      """)
def regex_invalid(ctx: LintContext):
    """A `regex:` that does not compile.

    Flywheel does not compile regexes when it loads a profile: it accepts this one, then fails
    on every file.
    """
    for field_rule, pattern in _regex_rules(ctx):
        try:
            re.compile(pattern)
        except (re.error, RecursionError, OverflowError) as exc:
            yield Finding(field_rule.selector_pointer, f"regex `{pattern}` does not compile: "
                          f"{exc}", "fix the pattern (Python `re` syntax)")


@rule("R002", "regex-backtracking", Severity.ERROR,
      fail="""
      dicom:
        fields:
          - regex: '(.*Name)*x'
            remove: true
      """,
      passes="""
      dicom:
        fields:
          - regex: '.*Name'
            remove: true
      """)
def regex_backtracking(ctx: LintContext):
    """A `regex:` with a repeat inside a repeat, the shape of catastrophic backtracking.

    Patterns like `(a+)+` or `(.*)*` can take exponential time on a long path; Flywheel runs
    them against every element of every file.  deidc refuses to run them.
    """
    for field_rule, pattern in _regex_rules(ctx):
        if _compiles(pattern) and nested_quantifier(pattern):
            yield Finding(field_rule.selector_pointer,
                          f"regex `{pattern}` repeats a group that itself repeats: matching "
                          "can take exponential time", "remove the inner or the outer repeat")


@rule("R003", "regex-matches-nothing", Severity.WARNING,
      fail="""
      dicom:
        fields:
          - regex: 'PatientNme.*'
            remove: true
      """,
      passes="""
      dicom:
        fields:
          - regex: 'Patient.*Name'
            remove: true
      """)
def regex_matches_nothing(ctx: LintContext):
    """A `regex:` that matches no keyword and no tag of the data dictionary.

    It may still match private elements by their hex path, but most often it is a typo, and the
    rule silently does nothing.
    """
    for field_rule, pattern in _regex_rules(ctx):
        compiled = compile_regex(pattern)
        if compiled is None or dictionary.regex_matches(compiled):
            continue
        extra = " (it can match private elements' hex paths, such as 00091004)" \
            if compiled.match("00091004") or compiled.match("00291010") else ""
        yield Finding(field_rule.selector_pointer,
                      f"regex `{pattern}` matches no attribute of the DICOM dictionary{extra}",
                      "check the spelling; Flywheel matches from the start of the keyword "
                      "(re.match), so start with `.*` to match inside one")


@rule("R004", "regex-overmatch", Severity.WARNING,
      fail="""
      dicom:
        fields:
          - regex: '.*PatientID'
            remove: true
      """,
      passes="""
      dicom:
        fields:
          - regex: '.*PatientID$'
            remove: true
      """)
def regex_overmatch(ctx: LintContext):
    """A `regex:` that matches more than it seems, because Flywheel only anchors its start.

    `re.match` needs the pattern to match a prefix of the keyword, not all of it: `.*PatientID`
    also hits `OtherPatientIDsSequence`, `PatientIdentityRemoved` and more, and a sequence hit
    takes its whole content with it.
    """
    for field_rule, pattern in _regex_rules(ctx):
        compiled = compile_regex(pattern)
        if compiled is None:
            continue
        surprising = [a.keyword for a in dictionary.regex_matches(compiled)
                      if a.keyword and compiled.match(a.keyword)
                      and not compiled.fullmatch(a.keyword)]
        if surprising:
            shown = ", ".join(surprising[:5]) + (f" and {len(surprising) - 5} more"
                                                 if len(surprising) > 5 else "")
            yield Finding(field_rule.selector_pointer,
                          f"regex `{pattern}` also matches {shown} (Flywheel's re.match "
                          "anchors only the start)",
                          f"end the pattern with `$` if you meant whole keywords: "
                          f"'{pattern}$'")


@rule("R005", "regex-double-match", Severity.WARNING,
      fail="""
      dicom:
        fields:
          - regex: '.*'
            hash: true
      """,
      passes="""
      dicom:
        fields:
          - regex: 'Accession.*'
            hash: true
      """)
def regex_double_match(ctx: LintContext):
    """A `regex:` that matches both an element's keyword path and its hex path.

    Flywheel then applies the rule twice to that element: a hash of the hash, a date shifted
    twice.  deidc applies it once, so the two tools give different output.
    """
    for field_rule, pattern in _regex_rules(ctx):
        compiled = compile_regex(pattern)
        if compiled is None or field_rule.action in ("remove", "keep", "identity",
                                                     "replace-with"):
            continue
        both = [a.keyword for a in dictionary.regex_matches(compiled)
                if a.keyword and compiled.match(a.keyword) and compiled.match(f"{a.tag:08x}")]
        if both:
            yield Finding(field_rule.selector_pointer,
                          f"regex `{pattern}` matches both the keyword and the hex tag of "
                          f"{', '.join(both[:3])}{'...' if len(both) > 3 else ''}: Flywheel "
                          f"applies `{field_rule.action}` twice to them, deidc once",
                          "make the pattern match keywords only (start it with a letter)")
