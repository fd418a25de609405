"""C: configuration mistakes: options that are missing, contradict each other, or that Flywheel
ignores or trips over."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from functools import cache

from ...profile.meaning import renaming_templates
from ...profile.model import FILE_TYPE_SECTIONS
from ...profile.source import escape
from ..diagnostic import Finding, LintContext, Severity, rule

DATE_ACTIONS = ("increment-date", "increment-datetime")
FLYWHEEL_ROOT = "2.16.840.1.114570"
FLYWHEEL_TOOLKIT_ROOT = "2.16.840.1.114570.2.2"
_CODE = re.compile(r"%(.)")
# Flywheel's placeholder pattern for regex-sub outputs.
_PLACEHOLDER = re.compile(r"\{([^}]+)\}")
# A moment with every field set, to see whether a format can read what it writes.
_PROBE = datetime(2004, 1, 19, 7, 27, 30, 123456)


@cache
def strptime_codes() -> frozenset[str]:
    """The directives Python's strptime understands: Flywheel accepts exactly these."""
    from _strptime import TimeRE

    return frozenset(f"%{key}" for key in TimeRE())


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _groups(field_rule) -> list[tuple[str, dict]]:
    """(pointer, rule) of the dry rules under a regex-sub's ``groups``: they run with the
    profile's options."""
    items = field_rule.raw.get("regex-sub")
    found = []
    for i, item in enumerate(items if isinstance(items, list) else []):
        groups = item.get("groups") if isinstance(item, dict) else None
        found.extend((f"{field_rule.pointer}/regex-sub/{i}/groups/{j}", group)
                     for j, group in enumerate(groups if isinstance(groups, list) else [])
                     if isinstance(group, dict))
    return found


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

    Flywheel loads the profile, then fails every file that has a value to shift: it adds
    `None` days (a TypeError).  `jitter-date` does not help: the jitter is added to that
    `None`.  A regex-sub group that shifts dates needs it as much.
    """
    if ctx.option("date-increment") is not None:
        return
    for field_rule in ctx.fields:
        if field_rule.action in DATE_ACTIONS and \
                field_rule.options.get("date-increment-override") is None:
            yield Finding(field_rule.action_pointer(),
                          f"{field_rule.selector}: {field_rule.action} needs dicom "
                          "`date-increment`, which is not set: Flywheel fails every file "
                          "with a value to shift", "set date-increment (days) under dicom:, "
                          "or date-increment-override on this rule")
        if field_rule.action != "regex-sub":
            continue
        for pointer, group in _groups(field_rule):
            action = next((a for a in DATE_ACTIONS if a in group), None)
            if action and group.get("date-increment-override") is None:
                yield Finding(f"{pointer}/{action}",
                              f"{field_rule.selector}: regex-sub group `{group.get('name')}` "
                              f"uses {action}, which needs dicom `date-increment` (not set): "
                              "Flywheel fails every file it matches",
                              "set date-increment (days) under dicom:")


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
    """A jitter range that cannot give a non-zero offset (0, or below 1 for whole numbers).

    Negative ranges count too where the offset is a whole number: the random range is empty.
    The offset is drawn again until it is not zero.  Flywheel refuses 0, and below 1 with
    `jitter-type: int`, on a rule.  It does not check the `dicom` section's range (0 then fails
    every file; below 1 with an int rule that uses it draws zero forever: the run hangs), nor
    `jitter-date` ranges (below 1: hangs; negative: every file fails, an empty random range).
    """
    users = [r for r in ctx.fields if r.action == "jitter" and "jitter-range" not in r.options]
    file_range = ctx.option("jitter-range")
    if ctx.profile.dicom and "jitter-range" in ctx.profile.dicom.options and \
            _number(file_range):
        pointer = ctx.option_pointer("jitter-range")
        whole = [str(r.selector) for r in users if r.options.get("jitter-type") == "int"]
        if file_range == 0:
            yield Finding(pointer, "dicom jitter-range is 0: Flywheel does not check it here, "
                          "and fails every file for the jitter rules that use it"
                          + (f" ({', '.join(str(r.selector) for r in users)})" if users else ""),
                          "use a positive range", severity=None if users else Severity.WARNING)
        elif whole and file_range < 1:
            consequence = "draws a zero offset forever (the run hangs)" if file_range > 0 \
                else "fails every file (empty random range)"
            yield Finding(pointer, f"dicom jitter-range {file_range} is used by int jitter "
                          f"rules ({', '.join(whole)}): Flywheel {consequence}",
                          "use a range of at least 1")
    for field_rule in ctx.fields:
        value = field_rule.options.get("jitter-range")
        pointer = f"{field_rule.pointer}/jitter-range"
        label = field_rule.selector
        if field_rule.action == "jitter" and _number(value):
            integer = field_rule.options.get("jitter-type") == "int"
            if value == 0:
                yield Finding(pointer, f"{label}: jitter-range 0 gives no offset: Flywheel "
                              "refuses the profile", "use a positive range")
            elif integer and value < 1:
                yield Finding(pointer, f"{label}: jitter-range {value} with jitter-type int "
                              "gives no whole-number offset: Flywheel refuses the profile",
                              "use a range of at least 1")
        elif field_rule.action in DATE_ACTIONS and field_rule.options.get("jitter-date"):
            if not _number(value):
                continue  # the default, 10 units
            if value == 0:
                yield Finding(pointer, f"{label}: jitter-range 0 gives no date jitter: "
                              "Flywheel refuses the profile", "use a range of at least 1")
            elif 0 < value < 1:
                yield Finding(pointer, f"{label}: jitter-range {value} for jitter-date gives no "
                              "whole-unit offset: Flywheel draws zero forever and the run hangs",
                              "use a range of at least 1 (jitter-unit sets the unit)")
            elif value < 0:
                yield Finding(pointer, f"{label}: jitter-range {value} for jitter-date is "
                              "negative: Flywheel fails every file (empty random range)",
                              f"use {abs(value)}: the range already goes both ways")


def format_problem(value: str) -> tuple[Severity, str] | None:
    """What is wrong with a date or datetime format, as Flywheel would find out."""
    refused = sorted({f"%{c}" for c in _CODE.findall(value) if re.fullmatch(r"\w", c)}
                     - strptime_codes())
    if refused:
        return Severity.ERROR, (f"uses {', '.join(refused)}, which Flywheel does not support: "
                                "it refuses the profile")
    try:
        written = _PROBE.strftime(value)
        read = datetime.strptime(written, value)
    except (ValueError, re.error) as exc:
        return Severity.ERROR, (f"cannot read the values it writes ({exc}): Flywheel accepts "
                                "the profile and then fails every file it shifts")
    if read.strftime(value) != written or \
            (read + timedelta(days=1)).strftime(value) != (_PROBE + timedelta(days=1)).strftime(
                value):
        return Severity.WARNING, (f"does not round-trip: {written!r} reads back as "
                                  f"{read.strftime(value)!r}, so shifted values are wrong")
    return None


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
    """A date or datetime format Flywheel does not support, or that cannot read what it writes.

    Flywheel refuses `%x` codes that strptime does not know.  Other mistakes load fine and fail
    every file: `%-d` (a bad directive), a code used twice, `%Z` (it writes nothing for a naive
    time and then cannot read it).  A format that drops what it cannot read (`%a %Y`: a
    weekday and a year) writes the wrong date.
    """
    places = [(ctx.option_pointer(key), key, ctx.option(key))
              for key in ("date-format", "datetime-format")
              if ctx.profile.dicom and key in ctx.profile.dicom.options]
    for field_rule in ctx.fields:
        for key in ("date-format", "datetime-format"):
            if key in field_rule.options:
                places.append((f"{field_rule.pointer}/{key}", key, field_rule.options[key]))
    for pointer, key, value in places:
        if not isinstance(value, str) or not value:
            continue
        found = format_problem(value)
        if found:
            severity, problem = found
            yield Finding(pointer, f"{key} `{value}` {problem}",
                          "DICOM dates are '%Y%m%d'; date-times '%Y%m%d%H%M%S.%f'",
                          severity=severity)


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
        yield Finding(pointer, f"uid-numeric-name {text} is under Flywheel's root "
                      f"{FLYWHEEL_ROOT} but is not {FLYWHEEL_TOOLKIT_ROOT}: Flywheel refuses "
                      "the profile", f"use {FLYWHEEL_TOOLKIT_ROOT} or your organisation's own "
                      "OID")
    nodes = len(text.split("."))
    if isinstance(prefix, int) and not isinstance(prefix, bool) and nodes != prefix:
        where = "" if ctx.profile.dicom and "uid-prefix-fields" in ctx.profile.dicom.options \
            else " (the default)"
        yield Finding(pointer, f"uid-numeric-name {text} has {nodes} nodes but "
                      f"uid-prefix-fields is {prefix}{where}: Flywheel refuses the profile",
                      f"set uid-prefix-fields: {nodes}")


@rule("C007", "hash-digits-full", Severity.INFO,
      fail="""
      dicom:
        hash-digits: 0
        fields: []
      """,
      passes="""
      dicom:
        hash-digits: 32
        fields: []
      """)
def hash_digits_full(ctx: LintContext):
    """`hash-digits` 0 or above 64: `hash` writes the full 64-character digest.

    Probably not what was meant by 0, and 64 characters is longer than most text VRs allow
    (SH 16, LO 64: V003 names the attributes).  A salt that is not text is a schema error
    (S002).
    """
    digits = ctx.option("hash-digits")
    if ctx.profile.dicom and "hash-digits" in ctx.profile.dicom.options and \
            isinstance(digits, int) and not isinstance(digits, bool) and \
            (digits == 0 or digits > 64):
        yield Finding(ctx.option_pointer("hash-digits"),
                      f"hash-digits {digits}: Flywheel (and deidc) write the full "
                      "64-character digest", "set 1-64 if you want a shorter hash")


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

    deidc lints these for Flywheel, but `deidc compile` and `deidc apply` refuse a profile that
    encrypts or scrubs pixels, and apply only de-identifies DICOM (other sections are skipped).
    In Flywheel, `encrypt`/`decrypt` need `secret-key`, `retain` and the asymmetric keys need
    the `openssl` program, and `alter_pixels` needs the optional `deid` package (without it
    Flywheel refuses the profile).
    """
    refuse = "`deidc compile`/`apply` refuse this profile"
    for field_rule in ctx.fields:
        for key in ("encrypt", "decrypt"):
            if key in field_rule.raw:
                yield Finding(field_rule.action_pointer(key),
                              f"{field_rule.selector}: `{key}` is not executed by deidc: "
                              f"{refuse} (Flywheel needs `secret-key` for it)",
                              "run this profile in Flywheel")
        if "force-nonce" in field_rule.raw:
            yield Finding(f"{field_rule.pointer}/force-nonce", f"{field_rule.selector}: "
                          f"`force-nonce` (encryption) is not executed by deidc: {refuse}",
                          "run this profile in Flywheel", on_key=True)
    needs = {"alter_pixels": "the optional `deid` package",
             "retain": "the `openssl` program and a key",
             "asymmetric-encryption": "the `openssl` program",
             "public-key": "the `openssl` program", "private-key": "the `openssl` program"}
    if ctx.profile.dicom:
        for key, need in needs.items():
            if key in ctx.profile.dicom.options:
                yield Finding(ctx.option_pointer(key), f"dicom `{key}` is not executed by "
                              f"deidc: {refuse} (Flywheel needs {need})",
                              "run this profile in Flywheel", on_key=True)
    for section in FILE_TYPE_SECTIONS:
        if section != "dicom" and section in ctx.profile.data:
            yield Finding(f"{ctx.profile.pointer}/{escape(section)}",
                          f"the `{section}` section is checked, but `deidc apply` only "
                          "de-identifies DICOM: it skips these files",
                          "use Flywheel for non-DICOM files", on_key=True)


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
            for placeholder in dict.fromkeys(_PLACEHOLDER.findall(item["output"])):
                if placeholder not in names:
                    yield Finding(f"{field_rule.pointer}/regex-sub/{index}/output",
                                  f"{field_rule.selector}: regex-sub output placeholder "
                                  f"{{{placeholder}}} is neither a named group of input-regex "
                                  "nor defined in groups: Flywheel refuses the profile",
                                  f"add (?P<{placeholder}>...) to input-regex, or a group named "
                                  f"{placeholder}")


@rule("C011", "filenames-rename", Severity.ERROR,
      fail="""
      dicom:
        filenames:
          - output: '{subject}.dcm'
            input-regex: '^(?P<notused>\\w+)-(?P<subject>\\d{4}-\\d{2}-\\d{2}).dcm$'
      """,
      passes="""
      dicom:
        filenames:
          - output: '{file_name}'
            input-regex: '^(?P<file_name>.*)$'
      """)
def filenames_rename(ctx: LintContext):
    """A `filenames` template that renames outputs, which `deidc apply` does not do.

    Flywheel names each output from the first template whose `input-regex` matches the input's
    name (placeholders take the de-identified values and the transformed groups) and skips
    files no template matches.  deidc writes every output under its input's name, so where a
    template exists to take a date or a name out of file names, that PHI would stay: deidc
    compile refuses the profile rather than release it.  The template that keeps the whole
    name (`output: '{name}'` from `input-regex: '^(?P<name>.*)$'`) is what deidc does anyway,
    and passes.
    """
    templates = ctx.option("filenames") if ctx.profile.dicom else None
    for index in renaming_templates(templates):  # each a mapping: others are S-findings
        yield Finding(f"{ctx.profile.dicom.pointer}/filenames/{index}",
                      f"this filenames template renames outputs "
                      f"({templates[index].get('output')!r}): deidc apply keeps each input's "
                      "name, so any PHI in it stays; `deidc compile`/`apply` refuse this "
                      "profile",
                      "run this profile in Flywheel, or delete the template and rename the "
                      "files yourself")
