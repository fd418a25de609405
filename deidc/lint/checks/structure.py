"""Y: the file's structure, before any meaning: YAML syntax, duplicate keys, YAML's number
coercions, sections that ended up in the wrong place, and templates that were never rendered."""

from __future__ import annotations

import re
from bisect import bisect_right

from ...profile.source import Span
from ..diagnostic import Finding, LintContext, Severity, rule
from .vr import replacement_refused

# Jinja's expression delimiters.  Flywheel's own `{group}` placeholders use single braces.
_PLACEHOLDER = re.compile(r"\{\{.*?\}\}", re.DOTALL)
_STRING_TAG = "tag:yaml.org,2002:str"

NAME_KEYS = ("name",)


@rule("Y001", "syntax-error", Severity.ERROR, needs_profile=False,
      fail="""
      dicom:
      remove-private-tags: true
        fields:
          - name: PatientName
            remove: true
      """,
      passes="""
      dicom:
        remove-private-tags: true
        fields:
          - name: PatientName
            remove: true
      """)
def syntax_error(ctx: LintContext):
    """The file is not valid YAML (or JSON), or cannot be read safely.

    Nothing else can be checked until it parses.  The most common cause in de-id profiles is
    indentation: Flywheel's own published examples put the options of `dicom:` at column 0, which
    YAML then reads as a broken mapping.  Files that are not UTF-8, larger than 1 MiB, nested
    absurdly deep or that multiply through aliases are refused here too, so that hostile input
    ends quickly.
    """
    error = ctx.source.error
    if error is not None:
        yield Finding("", error.message, error.hint, span=error.span)


@rule("Y002", "duplicate-key", Severity.ERROR, needs_profile=False,
      fail="""
      dicom:
        fields:
          - name: PatientName
            remove: true
            name: PatientID
      """,
      passes="""
      dicom:
        fields:
          - name: PatientName
            remove: true
          - name: PatientID
            remove: true
      """)
def duplicate_key(ctx: LintContext):
    """A mapping has the same key twice.

    YAML loaders keep the last value silently, so the first one is simply ignored: half a rule,
    or a whole `dicom:` section, disappears without a word.
    """
    for duplicate in ctx.source.duplicates:
        yield Finding(duplicate.pointer,
                      f"duplicate key `{duplicate.key}`: the value at line "
                      f"{duplicate.first.line} is ignored, this one wins",
                      "merge the two or delete one; if they belong to two rules, start a new "
                      "list item with `- `", on_key=True)


@rule("Y003", "yaml-number", Severity.ERROR,
      fail="""
      dicom:
        fields:
          - name: 00100020
            remove: true
      """,
      passes="""
      dicom:
        fields:
          - name: '00100020'
            remove: true
      """)
def yaml_number(ctx: LintContext):
    """YAML turned a tag or value into a number.

    Unquoted `00100020` is an octal integer in YAML 1.1 (32784, the tag (0000,8010)), so the rule
    silently targets the wrong attribute; `replace-with: 070` on a number (PatientWeight, a DS)
    writes `56`.  Quote them.  A number where the attribute takes text (`replace-with: 001` on
    PatientID) is not written at all: V005 reports it.
    """
    for field_rule in ctx.fields:
        for key in ("name", "replace-with"):
            pointer = f"{field_rule.pointer}/{key}"
            scalar = ctx.source.scalars.get(pointer)
            if scalar is None or scalar.style is not None:
                continue
            if scalar.tag.endswith((":int", ":float")):
                value = field_rule.raw.get(key)
                if key == "name":
                    yield Finding(pointer,
                                  f"name `{scalar.raw}` is read by YAML as the number {value!r},"
                                  " not as a tag",
                                  f"quote it: name: '{scalar.raw}'")
                elif str(value) != scalar.raw and not replacement_refused(ctx, field_rule):
                    yield Finding(pointer,
                                  f"replace-with `{scalar.raw}` is read by YAML as the number "
                                  f"{value!r}: the value written will be `{value}`",
                                  f"quote it to keep it as written: replace-with: '{scalar.raw}'",
                                  severity=Severity.WARNING)


@rule("Y004", "fields-outside-dicom", Severity.ERROR,
      fail="""
      dicom:
      fields:
        - name: PatientName
          remove: true
      """,
      passes="""
      dicom:
        fields:
          - name: PatientName
            remove: true
      """)
def fields_outside_dicom(ctx: LintContext):
    """`fields:` (or another dicom option) sits at the top level instead of under `dicom:`.

    This is valid YAML, so Flywheel loads it, finds an empty `dicom` section and de-identifies
    nothing at all.
    """
    from ...profile.model import DICOM_DEFAULTS

    data = ctx.profile.data
    misplaced = [key for key in data if key == "fields" or key in DICOM_DEFAULTS
                 and key not in ("secret-key",)]
    for key in misplaced:
        yield Finding(f"{ctx.profile.pointer}/{key}",
                      f"`{key}` is at the top level, so Flywheel ignores it: it belongs under "
                      "`dicom:`",
                      "indent it (and everything below it) under `dicom:`", on_key=True)


@rule("Y005", "not-a-profile", Severity.ERROR, needs_profile=False,
      fail="""
      - PatientName
      - PatientID
      """,
      passes="""
      name: empty but valid
      dicom: {}
      """)
def not_a_profile(ctx: LintContext):
    """The file holds no profile: it is empty, a scalar, or a list of things that are not
    profiles; or a list of profiles (or an ingest config's `deid-profiles:`) holds an item that
    is not one.

    Flywheel fails to load such a file (or, for an empty one, refuses it), so the upload it was
    meant for would go out with no de-identification configured.  An item that is not a
    mapping is no profile deidc could compile either: it is reported, not skipped.
    """
    from ...profile.model import profiles_in

    if ctx.source.error is not None:
        return
    data = ctx.source.data
    if not profiles_in(ctx.source):
        yield Finding("", f"the file is {_kind(data)}, not a de-id profile",
                      "a profile is a mapping with a `dicom:` section (or an ingest config with "
                      "a `deid-profiles:` list)")
        return
    listed, pointer = data, ""
    if isinstance(data, dict):
        listed, pointer = data.get("deid-profiles"), "/deid-profiles"
    if not isinstance(listed, list):
        return
    for index, item in enumerate(listed):
        if not isinstance(item, dict):
            yield Finding(f"{pointer}/{index}", f"item {index} of the list of profiles is "
                          f"{_kind(item)}, not a de-id profile",
                          "remove it, or make it a mapping with a `dicom:` section")


def _kind(value) -> str:
    """What a YAML value is, in the words of the file's author."""
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "a boolean"
    return {int: "a number", float: "a number", str: "a string", list: "a list"}.get(
        type(value), f"a {type(value).__name__}")


@rule("Y006", "unrendered-template", Severity.ERROR, needs_profile=False,
      fail="""
      dicom:
        fields:
          - name: PatientID
            replace-with: '{{ SUBJECT_ID }}'
      """,
      passes="""
      dicom:
        fields:
          - name: PatientID
            replace-with: SUBJECT-001
      """)
def unrendered_template(ctx: LintContext):
    """A `{{ ... }}` template placeholder: the file is a template (e.g. for the GRP-13 export
    gear), not a profile yet.

    Flywheel does not render templates.  It refuses a profile with a placeholder in a `name`, in
    a filename `output` or as an action's value, and YAML reads an unquoted one as a mapping,
    which Flywheel cannot load.  Elsewhere it takes the placeholder as it is: `replace-with`
    writes `{{ SUBJECT_ID }}` into every file, a templated `date-increment` fails every file it
    shifts, a templated option is non-empty text, so true.  Other rules leave quoted
    placeholders alone, so lint and apply the rendered profile.  Flywheel's own `{group}`
    placeholders (single braces) are not templates.
    """
    source = ctx.source
    if source.error is not None:
        return
    line_starts = [0] + [match.end() for match in re.finditer(r"\n", source.text)]

    def offset(line: int, column: int) -> int:
        return line_starts[line - 1] + column - 1

    def span(start: int, end: int) -> Span:
        first, last = bisect_right(line_starts, start), bisect_right(line_starts, end)
        return Span(first, start - line_starts[first - 1] + 1,
                    last, end - line_starts[last - 1] + 1)

    reported: set[int] = set()
    for pointer, written in source.values.items():
        scalar = source.scalars.get(pointer)
        if scalar is not None and (scalar.tag != _STRING_TAG or "{{" not in scalar.raw):
            continue
        start = offset(written.line, written.column)
        text = source.text[start:offset(written.end_line, written.end_column)]
        if scalar is None and not text.startswith("{{"):
            continue
        for placeholder in _PLACEHOLDER.finditer(text):
            if start + placeholder.start() in reported:
                continue
            reported.add(start + placeholder.start())
            unquoted = (" (unquoted, so YAML reads it as a mapping and Flywheel cannot load "
                        "the file)" if scalar is None else "")
            yield Finding(pointer,
                          f"unrendered template placeholder `{placeholder.group()}`{unquoted}: "
                          "Flywheel does not fill it in, it refuses the profile or uses the "
                          "text as it is",
                          "render the template (e.g. with jinja2) before linting/applying, or "
                          "lint the rendered profile",
                          span=span(start + placeholder.start(), start + placeholder.end()))
