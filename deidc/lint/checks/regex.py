"""R: `regex:` rules, which Flywheel matches with `re.match` (anchored at the start only)
against every element's keyword path and hex path.  Patterns are compiled once, and a pattern
that could backtrack without bound (:mod:`deidc.profile.regex_safety`) is never run against anything."""

from __future__ import annotations

import re

try:
    import re._parser as _parser
except ImportError:  # pragma: no cover  (Python < 3.11)
    import sre_parse as _parser  # type: ignore[no-redef]

from ...profile import dictionary
from ...profile.meaning import compile_regex
from ...profile.regex_safety import backtracking_risk
from ..diagnostic import Finding, LintContext, Severity, rule

_SHOWN = 5


def _regex_rules(ctx: LintContext):
    for field_rule in ctx.fields:
        if field_rule.selector is not None and field_rule.selector.kind == "regex":
            yield field_rule, field_rule.selector.pattern


def _compile_error(pattern: str) -> str | None:
    try:
        re.compile(pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        return str(exc) or type(exc).__name__
    return None


def _runnable(ctx: LintContext):
    """(rule, compiled) for the patterns that compile and are safe to run."""
    for field_rule, pattern in _regex_rules(ctx):
        compiled = compile_regex(pattern)
        if compiled is not None:
            yield field_rule, compiled


def _few(names: list[str]) -> str:
    more = len(names) - _SHOWN
    return ", ".join(names[:_SHOWN]) + (f" and {more} more" if more > 0 else "")


def _needs_dot(pattern: str) -> bool:
    """Whether the pattern has a literal dot (`\\.` or `[.]`): it is written for nested paths
    (`Seq.0.Keyword`), which a dictionary of top-level attributes can neither confirm nor refute."""
    def walk(items) -> bool:
        for op, value in items:
            if op is _parser.LITERAL and value == ord("."):
                return True
            if op is _parser.IN and (_parser.LITERAL, ord(".")) in value:
                return True
            if op is _parser.SUBPATTERN and walk(value[-1]):
                return True
            if op is _parser.BRANCH and any(walk(branch) for branch in value[1]):
                return True
            if op in (_parser.MAX_REPEAT, _parser.MIN_REPEAT) and walk(value[2]):
                return True
        return False

    return walk(_parser.parse(pattern))


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
        error = _compile_error(pattern)
        if error is not None:
            yield Finding(field_rule.selector_pointer,
                          f"regex `{pattern}` does not compile: {error}",
                          "fix the pattern (Python `re` syntax)")


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
    """A regex shaped for catastrophic backtracking: a `regex:` selector, or a `regex-sub`
    `input-regex`.

    Patterns like `(a+)+`, `(\\w|\\w)*` or `.*.*.*x` can take exponential or high-polynomial
    time on a long element path, and Flywheel runs them against every path of every file: the job
    hangs.  A `regex-sub` `input-regex` runs against a value an outside party wrote (a name
    split with `(\\w+\\s?)+` took a second on a 24-letter name, twice as long per letter
    more).  deidc judges the pattern from its structure, never runs it, and refuses to compile
    it.
    """
    for field_rule, pattern in _regex_rules(ctx):
        if _compile_error(pattern) is not None:
            continue
        risk = backtracking_risk(pattern)
        if risk is not None:
            yield Finding(field_rule.selector_pointer,
                          f"regex `{pattern}` is not safe to run: {risk}",
                          "remove the inner or the outer repeat, or use `[^.]*` instead of `.*` "
                          "between the words you look for")
    for field_rule, pointer, pattern in _input_regexes(ctx):
        if _compile_error(pattern) is not None:
            continue
        risk = backtracking_risk(pattern)
        if risk is not None:
            yield Finding(pointer, f"{field_rule.selector}: regex-sub input-regex `{pattern}` is "
                                   f"not safe to run on a value: {risk}",
                          "remove the inner or the outer repeat (`\\w+( \\w+)*` rather than "
                          "`(\\w+\\s?)+`)")


def _input_regexes(ctx: LintContext):
    """(rule, pointer, pattern) of every `regex-sub` item's `input-regex`."""
    for field_rule in ctx.fields:
        items = field_rule.raw.get("regex-sub")
        if field_rule.action != "regex-sub" or not isinstance(items, list):
            continue
        for index, item in enumerate(items):
            if isinstance(item, dict) and isinstance(item.get("input-regex"), str):
                yield (field_rule, f"{field_rule.pointer}/regex-sub/{index}/input-regex",
                       item["input-regex"])


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

    Most often it is a typo, and the rule silently does nothing.  A pattern that needs a dot is
    written for nested paths (`Seq.0.Keyword`), which only files can confirm: those pass.  When the
    pattern can match a private element's hex path (`00091004`), the finding says so, since that
    may be the intent.
    """
    for field_rule, compiled in _runnable(ctx):
        if dictionary.regex_matches(compiled) or _needs_dot(compiled.pattern):
            continue
        private = next((path for path in dictionary.private_hex_paths() if compiled.match(path)),
                       None)
        if private is None:
            yield Finding(field_rule.selector_pointer,
                          f"regex `{compiled.pattern}` matches no attribute of the DICOM "
                          "dictionary, and no private element's hex path",
                          "check the spelling; Flywheel matches from the start of the keyword "
                          "(re.match), so start with `.*` to match inside one")
        else:
            yield Finding(field_rule.selector_pointer,
                          f"regex `{compiled.pattern}` matches no public attribute; it can only "
                          f"match private elements by their hex path (such as {private})",
                          "fine if private elements are what you mean (a creator's elements sit "
                          "in different blocks in different files); otherwise check the spelling")


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
    also hits `OtherPatientIDsSequence`, `PatientIdentityRemoved` and more.  A `remove` that hits
    a sequence takes everything inside it too, which a pattern that never says `Sequence` rarely
    means.
    """
    for field_rule, compiled in _runnable(ctx):
        removes_sequences = field_rule.action == "remove" and \
            "sequence" not in compiled.pattern.lower()
        surprising = [a for a in dictionary.regex_matches(compiled)
                      if a.keyword and compiled.match(a.keyword)
                      and (not compiled.fullmatch(a.keyword)
                           or (removes_sequences and a.is_sequence))]
        if not surprising:
            continue
        sequences = [a.keyword for a in surprising if removes_sequences and a.is_sequence]
        others = [a.keyword for a in surprising if a.keyword not in sequences]
        parts = ([_few(others)] if others else []) + (
            [f"the sequences {_few(sequences)}, which go with everything inside them"]
            if sequences else [])
        prefix_only = any(not compiled.fullmatch(a.keyword) for a in surprising)
        hint = f"end the pattern with `$` if you meant whole keywords: '{compiled.pattern}$'" \
            if prefix_only else "exclude sequences (start with `(?!.*Sequence)`) or name the " \
            "ones you mean in rules of their own"
        yield Finding(field_rule.selector_pointer,
                      f"regex `{compiled.pattern}` also matches {'; and '.join(parts)}"
                      + (" (Flywheel's re.match anchors only the start)" if prefix_only else ""),
                      hint)


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
    for field_rule, compiled in _runnable(ctx):
        if field_rule.action in ("remove", "keep", "identity", "replace-with"):
            continue  # doing these twice gives the same result
        both = [a.keyword for a in dictionary.regex_matches(compiled)
                if a.keyword and compiled.match(a.keyword) and compiled.match(f"{a.tag:08x}")]
        if both:
            yield Finding(field_rule.selector_pointer,
                          f"regex `{compiled.pattern}` matches both the keyword and the hex tag "
                          f"of {_few(both)}: Flywheel applies `{field_rule.action}` twice to "
                          "them, deidc once",
                          "make the pattern match either keywords (start it with a letter) or "
                          "hex tags, not both")
