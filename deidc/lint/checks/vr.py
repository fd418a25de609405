"""V: actions that do not fit the attribute's value representation (VR).

Flywheel checks almost none of this (it refuses `hash` on some VRs and replace-with values of
the wrong Python type, for keyword names only): a value it cannot read fails the file, and a
value it writes is not checked, so invalid DICOM reaches the output silently.

Each rule judges one (action, attribute) pair.  A ``name:`` rule names one attribute; a
``regex:`` rule is judged on every data dictionary attribute it reaches, and reported once:
as an error when every attribute it reaches is wrong for the action, as a warning when only
some are (whether they matter depends on what the files hold).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Callable, Iterator

from ...profile import dictionary
from ...profile.meaning import compile_regex
from ..diagnostic import Finding, LintContext, Severity, rule

NUMERIC = frozenset({"DS", "IS", "US", "UL", "SS", "SL", "FL", "FD", "SV", "UV"})
BINARY_NUMBERS = frozenset({"US", "UL", "SS", "SL", "FL", "FD", "SV", "UV", "AT"})
BINARY = frozenset({"OB", "OW", "OF", "OD", "OL", "OV", "UN"})
TEXT = frozenset({"AE", "AS", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UT", "UR"})
DATES = frozenset({"DA", "DT", "TM"})
# Flywheel's own check on `hash` (keyword names only): it refuses the profile for these.
FLYWHEEL_UNHASHABLE = frozenset({"AT", "FL", "FD", "OB", "OW", "OF", "SL", "SQ", "SS", "UL",
                                 "UN", "US", "UI"})
# Values in the form each date VR has in files, to try a rule's format on.
DATE_SAMPLES = {"DA": ("20040119",),
                "DT": ("20040119072730.123456", "20040119072730"),
                "TM": ("072730.123456", "072730")}
DATE_ONLY_DT = "20040119"
_TIMEZONE = re.compile(r"(.*)([+-]\d{2}:?\d{2})\Z")
# What hashuid writes with the default settings: four kept nodes, six hash nodes, one suffix.
HASHUID_SAMPLE = "1.2.840.113619.286223.317324.624994.196193.161209.620378.12322"
REGEX_EXAMPLES = 3


@dataclass(frozen=True)
class TypedAttribute:
    """One attribute a rule acts on, as the data dictionary describes it."""

    label: str
    vr: str  # the first VR when the dictionary allows several ("US or SS")
    vm: str | None
    private: bool = False


@dataclass(frozen=True)
class Verdict:
    """Why an action does not fit a target."""

    severity: Severity
    message: str
    hint: str


Judge = Callable[[LintContext, "object", TypedAttribute], "Verdict | None"]


def _typed(attribute: dictionary.Attribute) -> TypedAttribute:
    return TypedAttribute(attribute.keyword or dictionary.tag_text(attribute.tag),
                  attribute.vr.split(" or ")[0], attribute.vm)


def named_attribute(selector) -> TypedAttribute | None:
    """The attribute a ``name:`` selector names, if the dictionaries know its VR."""
    if selector.kind == "private":
        vr = dictionary.private_vr(selector.group, selector.creator, selector.offset)
        return TypedAttribute(selector.text, vr.split(" or ")[0], None, private=True) if vr else None
    attribute = dictionary.resolve(selector)
    return _typed(attribute) if attribute is not None and attribute.vr else None


@lru_cache(maxsize=256)
def regex_attributes(pattern: str) -> tuple[TypedAttribute, ...]:
    """The dictionary attributes a ``regex:`` rule reaches (none for a pattern that does not
    compile or could backtrack catastrophically: the R family reports those)."""
    compiled = compile_regex(pattern)
    if compiled is None:
        return ()
    return tuple(_typed(a) for a in dictionary.regex_matches(compiled) if a.vr)


def _findings(ctx: LintContext, actions: tuple[str, ...], judge: Judge) -> Iterator[Finding]:
    """Judge every rule whose applied action is one of ``actions``: named rules one finding
    each, regex rules one finding that lists the attributes that do not fit."""
    for field_rule in ctx.fields:
        selector = field_rule.selector
        if field_rule.action not in actions or selector is None:
            continue
        if selector.kind == "regex":
            yield from _regex_finding(ctx, field_rule, judge)
            continue
        target = named_attribute(selector)
        verdict = judge(ctx, field_rule, target) if target is not None else None
        if verdict is not None:
            yield Finding(field_rule.action_pointer(), verdict.message, verdict.hint,
                          severity=verdict.severity)


def _regex_finding(ctx: LintContext, field_rule, judge: Judge) -> Iterator[Finding]:
    reached = regex_attributes(field_rule.selector.pattern)
    bad = [(t, v) for t in reached if (v := judge(ctx, field_rule, t)) is not None]
    if not bad:
        return
    _, first = bad[0]
    names = ", ".join(f"{t.label} ({t.vr})" for t, _ in bad[:REGEX_EXAMPLES])
    more = f" and {len(bad) - REGEX_EXAMPLES} more" if len(bad) > REGEX_EXAMPLES else ""
    every = len(bad) == len(reached)
    severity = first.severity if every else min(first.severity, Severity.WARNING,
                                                 key=lambda s: s.rank)
    scope = "every attribute it reaches" if every else f"{len(bad)} of the {len(reached)} " \
        "attributes it reaches"
    yield Finding(field_rule.action_pointer(),
                  f"regex `{field_rule.selector.pattern}` with {field_rule.action}: wrong for "
                  f"{scope}: {names}{more}. For example {first.message}",
                  f"narrow the regex, or {first.hint}", severity=severity)


def _vm_bounds(vm: str | None) -> tuple[int, int | None]:
    """(fewest, most) values an attribute holds; most is None for "n"."""
    if not vm:
        return 1, 1
    low, _, high = vm.partition("-")
    fewest = int(low) if low.isdigit() else 1
    if not high:
        return fewest, fewest
    return fewest, int(high) if high.isdigit() else None


def _date_format(ctx: LintContext, field_rule) -> tuple[str, str]:
    key = "date-format" if field_rule.action == "increment-date" else "datetime-format"
    return key, field_rule.options.get(key, ctx.option(key))


def parses(value: str, fmt: str, datetime_action: bool) -> bool:
    """Whether Flywheel's date shift can read ``value`` with ``fmt``: a trailing time zone is
    set aside (datetime only) and ``.0`` appended when the format ends with ``.%f``."""
    if datetime_action and (match := _TIMEZONE.match(value)):
        value = match.group(1)
    if fmt.endswith(".%f") and "." not in value:
        value += ".0"
    try:
        datetime.strptime(value, fmt)
    except (ValueError, re.error):
        return False
    return True


def _judge_date_shift(ctx: LintContext, field_rule, target: TypedAttribute) -> Verdict | None:
    action = field_rule.action
    meant = "DA" if action == "increment-date" else "DT"
    key, fmt = _date_format(ctx, field_rule)
    if not isinstance(fmt, str):
        return None
    better = {"DA": "use increment-date", "DT": "use increment-datetime"}
    if target.vr in DATES:
        samples = DATE_SAMPLES[target.vr]
        read = [s for s in samples if parses(s, fmt, action == "increment-datetime")]
        if not read and target.vr == "DT" and parses(DATE_ONLY_DT, fmt, False):
            return Verdict(Severity.ERROR,
                           f"{target.label} is a DT: {action} reads it with {key} '{fmt}', so "
                           f"only date-only values like {DATE_ONLY_DT} shift; a value with a "
                           f"time part ({samples[0]}) fails the file in Flywheel",
                           better["DT"])
        if len(read) < len(samples):
            hint = better.get(target.vr, "a time has no date to shift: remove it or blank it")
            if target.vr == meant:
                hint = f"set {key} to a format that reads every {target.vr} value"
            unread = next(s for s in samples if s not in read)
            return Verdict(Severity.ERROR,
                           f"{target.label} is a {target.vr}: {action} reads it with {key} "
                           f"'{fmt}', which cannot parse a {target.vr} such as {unread}: "
                           "Flywheel fails every file with such a value", hint)
        if target.vr == "TM":
            return Verdict(Severity.WARNING,
                           f"{target.label} is a TM: {key} '{fmt}' reads it, but a shift by "
                           "whole days leaves a time unchanged: the rule does nothing",
                           "remove or blank times that identify; shift the dates")
        return None
    if target.vr in TEXT:
        severity = Severity.WARNING if target.private else Severity.ERROR
        return Verdict(severity, f"{target.label} is a {target.vr} (text), not a "
                       f"{'date' if meant == 'DA' else 'date-time'}: {action} works only on "
                       f"values written as '{fmt}'; anything else fails the file in Flywheel",
                       f"{better[meant]} on {meant} attributes only")
    return Verdict(Severity.ERROR, f"{target.label} is a {target.vr}, not a "
                   f"{'date' if meant == 'DA' else 'date-time'}: {action} cannot parse it and "
                   "Flywheel fails every file that has it", f"{better[meant]} on {meant} "
                   "attributes only")


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
    """A date shift on an attribute of the wrong VR, or with a format that cannot read it.

    `increment-date` is meant for dates (DA), `increment-datetime` for date-times (DT).
    Flywheel parses the value with `date-format` (`increment-date`) or `datetime-format`
    (`increment-datetime`).  A TM, a DT with a time part under `increment-date`, a DA under
    `increment-datetime`, a number or a name does not parse, and Flywheel then writes nothing
    for the whole file ("NO ACTION WAS TAKEN! Unable to parse date field").  A time read with a
    time-only format parses, but a shift by days leaves it unchanged.
    """
    yield from _findings(ctx, ("increment-date", "increment-datetime"), _judge_date_shift)


def _judge_jitter(ctx: LintContext, field_rule, target: TypedAttribute) -> Verdict | None:
    vr = target.vr
    if vr in ("DA", "DT"):
        shift = "increment-date" if vr == "DA" else "increment-datetime"
        return Verdict(Severity.ERROR, f"{target.label} is a {vr}: jitter reads it as a number "
                       f"and adds a random fraction; Flywheel fails the file when it writes the "
                       "result", f"use {shift} with jitter-date: true")
    if vr not in NUMERIC:
        return Verdict(Severity.ERROR, f"{target.label} is a {vr}, not a number: jitter casts "
                       "the value to a number and Flywheel fails the file",
                       "jitter only numeric attributes (DS, IS, US, FL, ...)")
    fewest, most = _vm_bounds(target.vm)
    if fewest > 1:
        return Verdict(Severity.ERROR, f"{target.label} ({vr}, VM {target.vm}) holds several values: "
                       "Flywheel reads them as one text ('1.5,2.5') that is not a number, and "
                       "fails the file", "remove it or replace it; jitter single numbers only")
    if most is None or most > 1:
        return Verdict(Severity.WARNING, f"{target.label} ({vr}, VM {target.vm}) may hold "
                       "several values: jitter cannot cast them and Flywheel fails such files",
                       "make sure it holds one value in your data, or remove it")
    if field_rule.options.get("jitter-type") == "int" and vr in ("DS", "FL", "FD"):
        return Verdict(Severity.ERROR, f"{target.label} is a {vr} (decimal) and jitter-type is "
                       "int: Flywheel casts the value with int(), which fails on a decimal "
                       "point ('70.5', '80.0') and loses the file",
                       "drop jitter-type: int (float jitter is the default)")
    return None


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
    """`jitter` on an attribute that is not a single number, or integer jitter on a decimal.

    jitter casts the value with float() (int() with `jitter-type: int`) and adds a random
    offset.  Text and multi-valued numbers ('1.5,2.5') fail to cast; a date casts, but the
    fractional result cannot be written back.  Either way Flywheel loses the file.  Dates have
    their own jitter: `increment-date` with `jitter-date: true`.
    """
    yield from _findings(ctx, ("jitter",), _judge_jitter)


def _hash_sample(ctx: LintContext) -> str:
    digits = ctx.option("hash-digits")
    digest = hashlib.sha256(b"").hexdigest()
    return digest[:digits] if isinstance(digits, int) and 0 < digits <= 64 else digest


def _invalid(vr: str, value: object) -> str | None:
    """Why pydicom finds ``value`` invalid for ``vr``, or None if it is valid."""
    from pydicom import config
    from pydicom.valuerep import validate_value

    try:
        validate_value(vr, value, config.RAISE)
    except (ValueError, TypeError, KeyError) as exc:
        return str(exc).split(" Please see")[0]
    return None


def _judge_hash(ctx: LintContext, field_rule, target: TypedAttribute) -> Verdict | None:
    vr = target.vr
    if vr in TEXT:
        sample = _hash_sample(ctx)
        problem = _invalid(vr, sample)
        if problem is None:
            return None
        return Verdict(Severity.ERROR, f"{target.label} is a {vr}: a {len(sample)}-digit "
                       f"lower-case hex hash is not a valid {vr} ({problem}); Flywheel writes "
                       "it anyway", "remove it, or replace it with a valid value")
    refused = field_rule.selector.kind == "keyword" and vr in FLYWHEEL_UNHASHABLE
    if vr == "UI":
        consequence = "Flywheel refuses the profile" if refused else \
            "Flywheel writes hex letters into the UID: an invalid UID, silently"
        return Verdict(Severity.ERROR, f"{target.label} is a UI: {consequence}",
                       "use hashuid: true, which keeps UIDs valid")
    if vr in ("DA", "DT", "TM"):
        return Verdict(Severity.ERROR, f"{target.label} is a {vr}: Flywheel writes a hex hash "
                       f"into it, an invalid {vr} value, silently",
                       "shift dates with increment-date / increment-datetime, or remove it")
    consequence = "Flywheel refuses the profile" if refused else \
        "Flywheel fails the file when it writes the hash"
    return Verdict(Severity.ERROR, f"{target.label} is a {vr}: a hex hash cannot be stored "
                   f"in it; {consequence}", "remove it, or replace it with a valid value")


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
    """`hash` on an attribute whose VR cannot hold a lower-case hex digest.

    Flywheel writes `hash-digits` hex characters whatever the VR.  It refuses the profile for
    UIDs, sequences and binary numbers named by keyword; otherwise a date or a UID gets an
    invalid value silently, a number or a sequence fails the file at save, and short or
    upper-case text VRs (SH with more than 16 digits, CS, AS) get an invalid value.  UIDs have
    `hashuid`; dates have `increment-date`.
    """
    yield from _findings(ctx, ("hash",), _judge_hash)


def _judge_hashuid(ctx: LintContext, field_rule, target: TypedAttribute) -> Verdict | None:
    vr = target.vr
    if vr == "UI":
        return None
    if vr in TEXT:
        problem = _invalid(vr, HASHUID_SAMPLE)
        if problem is not None:
            return Verdict(Severity.ERROR, f"{target.label} is a {vr}: hashuid writes a "
                           f"UID-shaped value of up to 64 characters, invalid here ({problem})",
                           "use hash: true (set hash-digits to fit)")
        return Verdict(Severity.WARNING, f"{target.label} is a {vr}, not a UID: hashuid works "
                       "on it but writes a UID-shaped pseudonym (digits and dots)",
                       "use hash: true for text, unless a UID-shaped value is what you want")
    if vr in DATES:
        return Verdict(Severity.ERROR, f"{target.label} is a {vr}: hashuid writes a UID-shaped "
                       f"value into it, an invalid {vr}, silently",
                       "shift dates with increment-date / increment-datetime, or remove it")
    return Verdict(Severity.ERROR, f"{target.label} is a {vr}: a UID-shaped value cannot be "
                   "stored in it; Flywheel fails the file at save",
                   "remove it, or replace it with a valid value")


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

    Flywheel does not check the VR.  On an ID (LO) it works and writes a UID-shaped pseudonym:
    odd, but valid.  On a short string (SH) or a date the value written is invalid; on a number
    or a sequence the file fails at save.
    """
    yield from _findings(ctx, ("hashuid",), _judge_hashuid)


def _judge_replacement(ctx: LintContext, field_rule, target: TypedAttribute) -> Verdict | None:
    vr, value = target.vr, field_rule.action_value
    if value in (None, "") or vr in ("SQ",) or vr in BINARY:
        return None
    if isinstance(value, bool) and vr in NUMERIC | BINARY_NUMBERS:
        return None  # Flywheel writes 1 or 0; S002 says so
    values = value if isinstance(value, list) else \
        str(value).split("\\") if isinstance(value, str) else [value]
    for item in values:
        if vr in ("DS", "IS") and isinstance(item, (int, float)) and \
                not isinstance(item, bool):
            item = str(item)  # pydicom converts numbers for these string VRs
        if vr in BINARY_NUMBERS and isinstance(item, str):
            problem = "text where a number is needed"
        elif isinstance(item, bool):  # pydicom lets an empty PN be False
            problem = f"A value of type 'bool' cannot be assigned to a tag with VR {vr}"
        else:
            problem = _invalid(vr, item)
        if problem is None:
            continue
        wrong_type = problem.startswith("A value of type") or vr in BINARY_NUMBERS
        if not wrong_type:
            consequence = "Flywheel writes it as it is: invalid DICOM, silently"
        elif field_rule.selector.kind == "keyword":
            consequence = ("Flywheel refuses the profile ('Incorrect value type for Dicom "
                           f"element {target.label} (VR={vr}): {type(value).__name__}')")
        else:
            consequence = "Flywheel fails the file when it writes it"
        raw = yaml_non_text(ctx, field_rule) if vr not in NUMERIC | BINARY_NUMBERS else None
        if raw is not None:
            read_as = (f"true/false ({value!r})" if isinstance(value, bool)
                       else f"the number {value!r}")
            return Verdict(Severity.ERROR, f"{target.label} is a {vr}: YAML reads `replace-with: "
                           f"{raw}` as {read_as}, not text; {consequence}",
                           f"quote it: replace-with: '{raw}'")
        return Verdict(Severity.ERROR, f"{target.label} is a {vr}: replace-with {value!r} "
                       f"is not a valid {vr} value ({problem.rstrip('.')}); {consequence}",
                       f"write a valid {vr} value (DICOM PS3.5 table 6.2-1)")
    return None


def yaml_non_text(ctx: LintContext, field_rule) -> str | None:
    """How an unquoted `replace-with` that YAML read as a number or true/false was written, else
    None."""
    scalar = ctx.source.scalars.get(field_rule.action_pointer())
    if scalar is None or scalar.style is not None or \
            not scalar.tag.endswith((":int", ":float", ":bool")):
        return None
    return scalar.raw


def replacement_refused(ctx: LintContext, field_rule) -> bool:
    """Whether V005 reports this rule's replacement for some attribute it reaches (Y003 then
    leaves a YAML number to it: the value is refused, not written)."""
    selector = field_rule.selector
    if field_rule.action != "replace-with" or selector is None:
        return False
    if selector.kind == "regex":
        targets = regex_attributes(selector.pattern)
    else:
        target = named_attribute(selector)
        targets = (target,) if target is not None else ()
    return any(_judge_replacement(ctx, field_rule, target) for target in targets)


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

    Flywheel only checks the Python type, and only for keyword names: a date written
    `2024-01-17`, a UID with letters or an over-long string go into the file as they are;
    text in a binary number makes the file fail.  A number where text belongs (often an
    unquoted `replace-with: 001`, which YAML reads as the number 1) makes Flywheel refuse the
    profile for a keyword name, and fail the file for any other name.  pydicom's own
    validation decides what is valid.  An unquoted `true`, `false`, `yes` or `no` is read as
    true/false and treated the same way where the attribute takes text.
    """
    yield from _findings(ctx, ("replace-with",), _judge_replacement)


def _judge_sequence_replacement(ctx: LintContext, field_rule, target: TypedAttribute) -> Verdict | None:
    if target.vr != "SQ":
        return None
    value = field_rule.action_value
    if value in ("", None):
        inserts = field_rule.options.get("replace-with-insert",
                                         ctx.option("replace-with-insert"))
        return Verdict(Severity.INFO, f"{target.label} is a sequence: replace-with '' empties "
                       "it (it stays, with no items)" + (
                           "; a file without it gets an empty one inserted" if inserts else ""),
                       "use remove: true to delete it instead")
    return Verdict(Severity.ERROR, f"{target.label} is a sequence: it cannot be replaced by "
                   f"{value!r} (Flywheel refuses the profile for keyword names and fails the "
                   "file otherwise)", "remove it (remove: true), empty it (replace-with: ''), "
                   "or name the attributes inside it")


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

    A sequence holds items, not a value.  `replace-with: ''` empties it, in Flywheel as in
    deidc (zero items, PS3.15's "Z" for a sequence; with `replace-with-insert` a file without
    it gets an empty one): reported as info.  Any other value is refused or fails the file.
    """
    yield from _findings(ctx, ("replace-with",), _judge_sequence_replacement)


@rule("V007", "replace-unknown-vr", Severity.ERROR,
      fail="""
      dicom:
        fields:
          - name: (0011,0016)
            replace-with: X
      """,
      passes="""
      dicom:
        fields:
          - name: (0011,0016)
            remove: true
      """)
def replace_unknown_vr(ctx: LintContext):
    """`replace-with` on a tag whose VR the data dictionaries do not know.

    When a file lacks the attribute, Flywheel must insert it and needs its VR: it logs an
    error and ends the whole process (sys.exit(1)), losing every file after it.  deidc fails
    that one file.  Only `replace-with-insert: false` makes such a rule safe.
    """
    for field_rule in ctx.fields:
        selector = field_rule.selector
        if field_rule.action != "replace-with" or selector is None or \
                selector.kind not in ("tag", "private") or field_rule.action_value is None:
            continue
        if named_attribute(selector) is None and \
                field_rule.options.get("replace-with-insert", ctx.option("replace-with-insert")):
            yield Finding(field_rule.action_pointer(),
                          f"{selector}: the dictionaries do not know its VR, so it cannot be "
                          "inserted into a file that lacks it: Flywheel exits the whole run "
                          "(sys.exit(1)), deidc fails that file",
                          "set replace-with-insert: false on this rule, or name a known tag")
