"""C: configuration mistakes: options that are missing, contradict each other, or that Flywheel
ignores or trips over."""

from __future__ import annotations

import re
from functools import cache

from ...profile import FILE_TYPE_SECTIONS
from ..diagnostic import Finding, LintContext, Severity, rule

DATE_ACTIONS = ("increment-date", "increment-datetime")
FLYWHEEL_ROOT = "2.16.840.1.114570"
FLYWHEEL_TOOLKIT_ROOT = "2.16.840.1.114570.2.2"
_CODE = re.compile(r"%(.)")


@cache
def strptime_codes() -> frozenset[str]:
    """The directives Python's strptime understands (Flywheel validates against the same)."""
    from _strptime import TimeRE

    return frozenset(f"%{key}" for key in TimeRE()) | {"%%"}


@rule("C001", "date-increment-missing", Severity.ERROR,
      fail="""
      dicom:
        fields:
          - name: StudyDate
            increment-date: true
      """,
      passes="""
      dicom:
        date-increment: -14
        fields:
          - name: StudyDate
            increment-date: true
      """)
def date_increment_missing(ctx: LintContext):
    """`increment-date` / `increment-datetime` with no `date-increment` to add.

    Flywheel loads the profile, then fails every file (it adds None days).
    """
    if ctx.option("date-increment") is not None:
        return
    for field_rule in ctx.fields:
        if field_rule.action in DATE_ACTIONS and \
                field_rule.options.get("date-increment-override") is None:
            yield Finding(field_rule.action_pointer(),
                          f"{field_rule.selector}: {field_rule.action} needs dicom "
                          "`date-increment`, which is not set: every file would fail",
                          "set date-increment (days) under dicom:, or "
                          "date-increment-override on this rule")


@rule("C002", "jitter-range-invalid", Severity.ERROR,
      fail="""
      dicom:
        fields:
          - name: PatientWeight
            jitter: true
            jitter-range: 0
      """,
      passes="""
      dicom:
        fields:
          - name: PatientWeight
            jitter: true
            jitter-range: 2
      """)
def jitter_range_invalid(ctx: LintContext):
    """A jitter range that cannot give a non-zero offset: 0, or below 1 for integer jitter.

    The offset is drawn again until it is not zero: with such a range it never is.
    """
    file_range = ctx.option("jitter-range")
    if isinstance(file_range, (int, float)) and not isinstance(file_range, bool) and \
            file_range == 0:
        yield Finding(ctx.option_pointer("jitter-range"), "dicom jitter-range is 0",
                      "use a positive range")
    for field_rule in ctx.fields:
        if field_rule.action != "jitter" and not field_rule.options.get("jitter-date"):
            continue
        value = field_rule.options.get("jitter-range")
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        integer = field_rule.options.get("jitter-type") == "int" or \
            field_rule.options.get("jitter-date")
        if value == 0 or (integer and abs(value) < 1):
            yield Finding(f"{field_rule.pointer}/jitter-range",
                          f"{field_rule.selector}: jitter-range {value} gives no non-zero "
                          f"{'integer ' if integer else ''}offset",
                          "use a range of at least 1")


@rule("C003", "bad-date-format", Severity.ERROR,
      fail="""
      dicom:
        date-format: '%Y%m%Q'
      """,
      passes="""
      dicom:
        date-format: '%Y%m%d'
      """)
def bad_date_format(ctx: LintContext):
    """A date or datetime format with a code strptime does not know.

    Flywheel refuses such a profile ("is not a supported datetime format code").
    """
    places = [(ctx.option_pointer(key), ctx.option(key))
              for key in ("date-format", "datetime-format")
              if ctx.profile.dicom and key in ctx.profile.dicom.options]
    for field_rule in ctx.fields:
        for key in ("date-format", "datetime-format"):
            if key in field_rule.options:
                places.append((f"{field_rule.pointer}/{key}", field_rule.options[key]))
    for pointer, value in places:
        if not isinstance(value, str):
            continue
        unknown = sorted({f"%{c}" for c in _CODE.findall(value)} - strptime_codes())
        if unknown:
            yield Finding(pointer, f"format `{value}` uses {', '.join(unknown)}, which "
                          "strptime does not know", "DICOM dates are '%Y%m%d'; date-times "
                          "'%Y%m%d%H%M%S.%f'")


@rule("C004", "deid-log-bare-name", Severity.ERROR,
      fail="""
      deid-log: deid_log.csv
      dicom:
        fields: []
      """,
      passes="""
      deid-log: logs/deid_log.csv
      dicom:
        fields: []
      """)
def deid_log_bare_name(ctx: LintContext):
    """`deid-log` given as a bare file name.

    Flywheel creates the log's folder first, and a bare name has none: it crashes on load
    (os.makedirs('')).
    """
    value = ctx.profile.data.get("deid-log")
    if isinstance(value, str) and value and "/" not in value and "\\" not in value:
        yield Finding(f"{ctx.profile.pointer}/deid-log",
                      f"deid-log `{value}` has no folder: Flywheel fails to create it",
                      f"write ./{value} (or a full path)")


@rule("C005", "recurse-sequence-conflict", Severity.ERROR,
      fail="""
      dicom:
        recurse-sequence: true
        fields:
          - regex: '.*Date'
            remove: true
      """,
      passes="""
      dicom:
        recurse-sequence: true
        fields:
          - name: StudyDate
            remove: true
      """)
def recurse_sequence_conflict(ctx: LintContext):
    """`recurse-sequence: true` together with nested names or regex rules.

    Flywheel refuses the combination: recursion already reaches inside sequences, and the two
    mechanisms would apply rules twice.
    """
    if not ctx.option("recurse-sequence"):
        return
    for field_rule in ctx.fields:
        if field_rule.selector is not None and field_rule.selector.kind in ("regex", "nested"):
            kind = "regex" if field_rule.selector.kind == "regex" else "nested name"
            yield Finding(field_rule.selector_pointer,
                          f"{kind} `{field_rule.selector}` with recurse-sequence: Flywheel "
                          "refuses this combination",
                          "name the attribute plainly (recursion reaches inside sequences), or "
                          "turn recurse-sequence off")


@rule("C006", "uid-numeric-name", Severity.ERROR,
      fail="""
      dicom:
        uid-numeric-name: 1.2.840.99.1
        fields: []
      """,
      passes="""
      dicom:
        uid-numeric-name: 1.2.840.99.1
        uid-prefix-fields: 5
        fields: []
      """)
def uid_numeric_name(ctx: LintContext):
    """`uid-numeric-name` that does not fit `uid-prefix-fields`, or misuses Flywheel's root.

    The name replaces the kept prefix nodes, so it must have exactly `uid-prefix-fields` nodes;
    names under Flywheel's root 2.16.840.1.114570 must be exactly 2.16.840.1.114570.2.2.
    Flywheel refuses the profile otherwise.
    """
    name = ctx.option("uid-numeric-name")
    if name is None:
        return
    text = str(name)
    pointer = ctx.option_pointer("uid-numeric-name")
    prefix = ctx.option("uid-prefix-fields")
    if text.startswith(FLYWHEEL_ROOT) and text != FLYWHEEL_TOOLKIT_ROOT:
        yield Finding(pointer, f"uid-numeric-name {text} is under Flywheel's root but is not "
                      f"{FLYWHEEL_TOOLKIT_ROOT}", "use your organisation's own OID")
    elif isinstance(prefix, int) and len(text.split(".")) != prefix:
        yield Finding(pointer, f"uid-numeric-name {text} has {len(text.split('.'))} nodes, "
                      f"uid-prefix-fields is {prefix}",
                      f"set uid-prefix-fields: {len(text.split('.'))}")


@rule("C007", "hash-settings", Severity.WARNING,
      fail="""
      dicom:
        salt: 12345
        fields: []
      """,
      passes="""
      dicom:
        salt: '12345'
        fields: []
      """)
def hash_settings(ctx: LintContext):
    """A salt that is not text, or hash-digits outside 1-64.

    Flywheel prepends the salt as text: a number fails every hashed file.  hash-digits 0 or
    above 64 gives the full 64-character digest.
    """
    salt = ctx.option("salt")
    if salt is not None and not isinstance(salt, str):
        yield Finding(ctx.option_pointer("salt"), f"salt {salt!r} is not text: Flywheel fails "
                      "on every hash", f"quote it: salt: '{salt}'")
    digits = ctx.option("hash-digits")
    if isinstance(digits, int) and not isinstance(digits, bool) and \
            (digits <= 0 or digits > 64):
        yield Finding(ctx.option_pointer("hash-digits"),
                      f"hash-digits {digits}: the full 64-character digest is written",
                      "use 1-64", severity=Severity.INFO)


@rule("C008", "ignored-option", Severity.WARNING,
      fail="""
      dicom:
        date-increment: 3
        fields:
          - name: StudyDate
            increment-date: true
            datetime-max: '20240101'
      """,
      passes="""
      dicom:
        date-increment: 3
        fields:
          - name: AcquisitionDateTime
            increment-datetime: true
            datetime-max: '20240101'
      """)
def ignored_option(ctx: LintContext):
    """An option Flywheel reads but ignores.

    `datetime-min`/`datetime-max` only work with `increment-datetime`; a file-level
    `jitter-type` is ignored (each rule's own default, float, wins).
    """
    for field_rule in ctx.fields:
        if field_rule.action == "increment-date":
            for key in ("datetime-min", "datetime-max"):
                if key in field_rule.options:
                    yield Finding(f"{field_rule.pointer}/{key}",
                                  f"{field_rule.selector}: {key} is ignored with increment-date",
                                  "use increment-datetime on DT attributes, or drop it")
    if ctx.profile.dicom and "jitter-type" in ctx.profile.dicom.options:
        yield Finding(ctx.option_pointer("jitter-type"),
                      "dicom jitter-type is ignored by Flywheel (and deidc): rules jitter as "
                      "float unless they set jitter-type themselves",
                      "set jitter-type on each jitter rule", severity=Severity.INFO)


@rule("C009", "not-executed", Severity.INFO,
      fail="""
      dicom:
        fields:
          - name: PatientName
            encrypt: true
      """,
      passes="""
      dicom:
        fields:
          - name: PatientName
            remove: true
      """)
def not_executed(ctx: LintContext):
    """Something `deidc apply` does not execute: encryption, pixel scrubbing, other file types.

    deidc lints these for Flywheel, but `deidc compile` refuses encryption and pixel scrubbing
    and `deidc apply` only de-identifies DICOM.
    """
    for field_rule in ctx.fields:
        for key in ("encrypt", "decrypt"):
            if key in field_rule.raw:
                yield Finding(field_rule.action_pointer(key),
                              f"{field_rule.selector}: `{key}` is not executed by deidc apply "
                              "(Flywheel needs openssl for it)", "run this profile in Flywheel")
    if ctx.profile.dicom:
        for key in ("alter_pixels", "retain"):
            if key in ctx.profile.dicom.options:
                yield Finding(ctx.option_pointer(key), f"`{key}` is not executed by deidc apply",
                              "run this profile in Flywheel")
    for section in FILE_TYPE_SECTIONS:
        if section != "dicom" and section in ctx.profile.data:
            yield Finding(f"{ctx.profile.pointer}/{section}",
                          f"the `{section}` section is checked, but deidc apply only "
                          "de-identifies DICOM", "use Flywheel for non-DICOM files",
                          on_key=True)


@rule("C010", "regex-sub-placeholder", Severity.ERROR,
      fail="""
      dicom:
        fields:
          - name: PatientID
            regex-sub:
              - input-regex: '(?P<site>[A-Z]+)-\\d+'
                output: '{site}-{number}'
      """,
      passes="""
      dicom:
        fields:
          - name: PatientID
            regex-sub:
              - input-regex: '(?P<site>[A-Z]+)-(?P<number>\\d+)'
                output: '{site}-{number}'
      """)
def regex_sub_placeholder(ctx: LintContext):
    """A `regex-sub` output placeholder that is neither a named group nor defined in `groups`.

    Flywheel refuses the profile: it would not know what to put there.
    """
    for field_rule in ctx.fields:
        items = field_rule.raw.get("regex-sub")
        if field_rule.action != "regex-sub" or not isinstance(items, list):
            continue
        for index, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("output"), str):
                continue
            try:
                names = set(re.compile(str(item.get("input-regex", ""))).groupindex)
            except re.error:
                continue
            names |= {g.get("name") for g in item.get("groups") or [] if isinstance(g, dict)}
            for placeholder in re.findall(r"\{(\w+)\}", item["output"]):
                if placeholder not in names:
                    yield Finding(f"{field_rule.pointer}/regex-sub/{index}/output",
                                  f"placeholder {{{placeholder}}} is not a named group of "
                                  "input-regex nor defined in groups",
                                  f"add (?P<{placeholder}>...) to input-regex, or a group named "
                                  f"{placeholder}")
