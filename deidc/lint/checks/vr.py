"""V: actions that do not fit the attribute's value representation (VR).  Flywheel checks
almost none of this: the file fails at save time, or an invalid value is written silently."""

from __future__ import annotations

from ...precedence import selector_target
from ..diagnostic import Finding, LintContext, Severity, rule

NUMERIC = frozenset({"DS", "IS", "US", "UL", "SS", "SL", "FL", "FD", "SV", "UV"})
BINARY_NUMBERS = frozenset({"US", "UL", "SS", "SL", "FL", "FD", "SV", "UV", "AT"})
TEXT = frozenset({"AE", "AS", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UT", "UR"})


def _targets(ctx: LintContext, actions: tuple[str, ...]):
    """(rule, keyword, VR) for every named rule whose applied action is one of ``actions``."""
    for field_rule in ctx.fields:
        if field_rule.action not in actions or field_rule.selector is None or \
                field_rule.selector.kind == "regex":
            continue
        target = selector_target(field_rule.selector)
        if target is None or not target.vr:
            continue
        yield field_rule, target.label, target.vr.split(" or ")[0]


@rule("V001", "date-shift-wrong-vr", Severity.ERROR,
      fail="""
      dicom:
        date-increment: 7
        fields:
          - name: StudyTime
            increment-date: true
      """,
      passes="""
      dicom:
        date-increment: 7
        fields:
          - name: StudyDate
            increment-date: true
      """)
def date_shift_wrong_vr(ctx: LintContext):
    """`increment-date` on something that is not a date, or `increment-datetime` on something
    that is not a date-time.

    The value is parsed with the date (or datetime) format: a TM, a DT with the date format, a
    number or a name fails to parse, and Flywheel then loses the whole file.
    """
    expected = {"increment-date": ("DA",), "increment-datetime": ("DT",)}
    for field_rule, label, vr in _targets(ctx, tuple(expected)):
        if vr in expected[field_rule.action]:
            continue
        if field_rule.action == "increment-date" and vr == "DT":
            message = (f"{label} is a DT (date and time): increment-date parses it with the "
                       "date format, which fails on a time part")
            hint = "use increment-datetime"
        else:
            message = (f"{label} is a {vr}, not a "
                       f"{'date' if field_rule.action == 'increment-date' else 'date-time'}: "
                       f"{field_rule.action} cannot parse it and the file fails")
            hint = "use increment-date on DA attributes, increment-datetime on DT attributes"
        yield Finding(field_rule.action_pointer(), message, hint)


@rule("V002", "jitter-not-numeric", Severity.ERROR,
      fail="""
      dicom:
        fields:
          - name: PatientBirthDate
            jitter: true
      """,
      passes="""
      dicom:
        fields:
          - name: PatientWeight
            jitter: true
      """)
def jitter_not_numeric(ctx: LintContext):
    """`jitter` on an attribute that is not a number.

    jitter reads the value as a number and adds a random offset: text fails the file; a date
    read as a number (20240117 + 1.3) is nonsense.  Dates have their own jitter.
    """
    for field_rule, label, vr in _targets(ctx, ("jitter",)):
        if vr in NUMERIC:
            continue
        hint = "use increment-date with jitter-date: true" if vr in ("DA", "DT") else \
            "jitter only numeric attributes (DS, IS, US, ...)"
        yield Finding(field_rule.action_pointer(), f"{label} is a {vr}: jitter needs a number",
                      hint)


@rule("V003", "hash-wrong-vr", Severity.ERROR,
      fail="""
      dicom:
        fields:
          - name: StudyDate
            hash: true
      """,
      passes="""
      dicom:
        fields:
          - name: AccessionNumber
            hash: true
      """)
def hash_wrong_vr(ctx: LintContext):
    """`hash` on an attribute whose VR cannot hold a hex digest.

    A 16-character hex string is written whatever the VR: into a DA, TM or DT it is an invalid
    value written silently; into a number, UID or sequence the file fails at save.  UIDs have
    `hashuid`; dates have `increment-date`.
    """
    for field_rule, label, vr in _targets(ctx, ("hash",)):
        if vr in TEXT:
            continue
        if vr == "UI":
            hint = "use hashuid: true"
        elif vr in ("DA", "DT", "TM"):
            hint = "shift dates with increment-date, or remove the attribute"
        else:
            hint = "remove the attribute, or replace it with a valid value"
        yield Finding(field_rule.action_pointer(),
                      f"{label} is a {vr}: a hex hash is not a valid {vr} value", hint)


@rule("V004", "hashuid-not-uid", Severity.WARNING,
      fail="""
      dicom:
        fields:
          - name: PatientID
            hashuid: true
      """,
      passes="""
      dicom:
        fields:
          - name: StudyInstanceUID
            hashuid: true
      """)
def hashuid_not_uid(ctx: LintContext):
    """`hashuid` on an attribute that is not a UID.

    On text (an ID) it works but writes a UID-shaped pseudonym; on a date it writes an invalid
    value; on a number the file fails.  `hash` is meant for text.
    """
    for field_rule, label, vr in _targets(ctx, ("hashuid",)):
        if vr == "UI":
            continue
        severity = None if vr in TEXT else Severity.ERROR
        yield Finding(field_rule.action_pointer(), f"{label} is a {vr}, not a UID",
                      "use hash: true for text" if vr in TEXT else
                      "remove it or replace it with a valid value", severity=severity)


@rule("V005", "replace-invalid-for-vr", Severity.ERROR,
      fail="""
      dicom:
        fields:
          - name: StudyDate
            replace-with: '2024-01-17'
      """,
      passes="""
      dicom:
        fields:
          - name: StudyDate
            replace-with: '20240117'
      """)
def replace_invalid_for_vr(ctx: LintContext):
    """A `replace-with` value that is not valid for the attribute's VR.

    Flywheel only checks the Python type: a date written `2024-01-17`, text in a number, a
    UID with letters or an over-long string go into the file as they are, or make it fail.
    """
    from pydicom import config
    from pydicom.valuerep import validate_value

    for field_rule, label, vr in _targets(ctx, ("replace-with",)):
        value = field_rule.action_value
        if value in (None, "") or vr == "SQ" or vr in ("OB", "OW", "UN"):
            continue
        scalar = ctx.source.scalars.get(field_rule.action_pointer())
        if scalar is not None and scalar.style is None and vr in TEXT and \
                isinstance(value, (int, float)):
            continue  # an unquoted number YAML converted: Y003 reports it
        values = value if isinstance(value, list) else \
            str(value).split("\\") if isinstance(value, str) else [value]
        for item in values:
            if vr in ("DS", "IS") and isinstance(item, (int, float)) and \
                    not isinstance(item, bool):
                item = str(item)  # pydicom converts numbers for these string VRs
            if vr in BINARY_NUMBERS and isinstance(item, str):
                problem = "text where a number is needed"
            else:
                try:
                    validate_value(vr, item, config.RAISE)
                    continue
                except (ValueError, TypeError, KeyError) as exc:
                    problem = str(exc).split(" Please see")[0]
            yield Finding(field_rule.action_pointer(),
                          f"{label} ({vr}): {value!r} is not a valid value: {problem}",
                          f"write a valid {vr} value (see PS3.5 6.2)")
            break


@rule("V006", "replace-sequence", Severity.ERROR,
      fail="""
      dicom:
        fields:
          - name: OtherPatientIDsSequence
            replace-with: REMOVED
      """,
      passes="""
      dicom:
        fields:
          - name: OtherPatientIDsSequence
            remove: true
      """)
def replace_sequence(ctx: LintContext):
    """`replace-with` on a sequence.

    A sequence holds items, not a value.  `replace-with: ''` empties it (zero items, which is
    PS3.15's "Z" for a sequence: reported as info, so you know the attribute stays, empty);
    any other value makes the file fail.
    """
    for field_rule, label, vr in _targets(ctx, ("replace-with",)):
        if vr != "SQ":
            continue
        if field_rule.action_value in ("", None):
            yield Finding(field_rule.action_pointer(),
                          f"{label} is a sequence: replace-with '' empties it (it stays, with "
                          "no items)", "use remove: true to delete it instead",
                          severity=Severity.INFO)
        else:
            yield Finding(field_rule.action_pointer(),
                          f"{label} is a sequence: it cannot be replaced by "
                          f"{field_rule.action_value!r}",
                          "remove it (remove: true), empty it (replace-with: ''), or name the "
                          "attributes inside it")


@rule("V007", "replace-unknown-vr", Severity.WARNING,
      fail="""
      dicom:
        fields:
          - name: (0010,0016)
            replace-with: X
      """,
      passes="""
      dicom:
        fields:
          - name: (0010,0016)
            remove: true
      """)
def replace_unknown_vr(ctx: LintContext):
    """`replace-with` on a tag whose VR the data dictionary does not know.

    When the attribute is absent, Flywheel must insert it and needs its VR: it logs an error
    and ends the whole process (sys.exit).  deidc fails that one file.
    """
    for field_rule in ctx.fields:
        if field_rule.action != "replace-with" or field_rule.selector is None or \
                field_rule.selector.kind not in ("tag", "private"):
            continue
        target = selector_target(field_rule.selector)
        if target is not None and not target.vr and \
                field_rule.options.get("replace-with-insert", ctx.option("replace-with-insert")):
            yield Finding(field_rule.action_pointer(),
                          f"{field_rule.selector}: VR unknown, so a file without it cannot get "
                          "it inserted (Flywheel exits)",
                          "set replace-with-insert: false on this rule, or name a known tag")

