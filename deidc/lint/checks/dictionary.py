"""D: every keyword and tag checked against pydicom's data dictionary."""

from __future__ import annotations

import re

from ...profile import dictionary
from ...profile.meaning import compile_regex
from ...profile.model import Selector
from ..diagnostic import Finding, LintContext, Severity, rule


# A repeating-group mask in hex or tuple form (`7FXX0010`, `(0028,04x0)`); Flywheel knows only
# 50xx and 60xx.
_OTHER_REPEATER = re.compile(r"\(?\s*([0-9A-Fa-fXx]{4})\s*,?\s*([0-9A-Fa-fXx]{4})\s*\)?")


def _other_repeater(selector: Selector) -> re.Match | None:
    match = _OTHER_REPEATER.fullmatch(selector.text.strip())
    if selector.kind == "invalid" and match and "x" in "".join(match.groups()).lower():
        return match
    return None


def _named(ctx: LintContext):
    """(rule, selector) for every `name:` selector."""
    for field_rule in ctx.fields:
        selector = field_rule.selector
        if selector is None or selector.kind == "regex":
            continue
        yield field_rule, selector


def _keywords(selector: Selector):
    if selector.kind == "keyword":
        yield selector
    elif selector.kind == "nested":
        for step in selector.steps:
            if isinstance(step, Selector) and step.kind == "keyword":
                yield step


@rule("D001", "unknown-keyword", Severity.ERROR,
      fail="""
      dicom:
        fields:
          - name: PatientsName
            remove: true
      """,
      passes="""
      dicom:
        fields:
          - name: PatientName
            remove: true
      """)
def unknown_keyword(ctx: LintContext):
    """A keyword that is not in the DICOM data dictionary, or a wrongly capitalised one inside a
    nested path.

    Flywheel refuses the whole profile ("Not in DICOM keyword list"), so nothing is uploaded;
    often it is an old spelling (`PatientsName` before 2008) or a typo.  In a nested path
    (`Sequence.0.Keyword`) Flywheel does not correct capitals as it does for a plain keyword:
    `SeriesInstanceUid` there is refused too.
    """
    for field_rule, selector in _named(ctx):
        for step in _keywords(selector):
            right = dictionary.case_insensitive(step.keyword)
            if right == step.keyword or step.keyword in dictionary.repeater_keywords():
                continue
            if right is None:
                close = dictionary.suggestions(step.keyword)
                hint = f"did you mean {', '.join(close)}?" if close else \
                    "look the attribute up in PS3.6 and use its keyword or its (gggg,eeee) tag"
                yield Finding(field_rule.selector_pointer,
                              f"`{step.keyword}` is not a DICOM keyword", hint)
            elif selector.kind == "nested":
                yield Finding(field_rule.selector_pointer,
                              f"`{step.keyword}` is spelt `{right}`; Flywheel corrects the case "
                              "of plain keywords but refuses it in a nested path",
                              f"write `{right}`")


@rule("D002", "keyword-case", Severity.WARNING,
      fail="""
      dicom:
        fields:
          - name: PatientBirthdate
            remove: true
      """,
      passes="""
      dicom:
        fields:
          - name: PatientBirthDate
            remove: true
      """)
def keyword_case(ctx: LintContext):
    """A plain keyword spelt with the wrong capitals (in a nested path this is D001).

    Flywheel silently corrects the case; other tools (and the deid log's column names) do not,
    so the profile says one thing and does another.
    """
    for field_rule, selector in _named(ctx):
        right = dictionary.case_insensitive(selector.keyword or "")
        if selector.kind == "keyword" and right and right != selector.keyword:
            yield Finding(field_rule.selector_pointer,
                          f"`{selector.keyword}` is spelt `{right}` in the DICOM dictionary "
                          "(Flywheel corrects it silently)", f"write `{right}`")


@rule("D003", "retired-keyword", Severity.WARNING,
      fail="""
      dicom:
        fields:
          - name: OtherPatientIDs
            remove: true
      """,
      passes="""
      dicom:
        fields:
          - name: OtherPatientIDs
            remove: true
          - name: OtherPatientIDsSequence
            remove: true
      """)
def retired_keyword(ctx: LintContext):
    """A rule on a retired attribute whose replacement no rule handles, or a transform on a
    retired attribute.

    Removing retired attributes is right (PS3.15 lists many of them) but only covers old files:
    current files carry the attribute that replaced it (`OtherPatientIDs` became
    `OtherPatientIDsSequence`), which then passes through untouched.  And a transform that keeps
    a pseudonymised value in a retired attribute usually means the author wanted the current one.
    """
    handled = _handled_tags(ctx)
    for field_rule, selector in _named(ctx):
        attribute = dictionary.resolve(selector)
        if attribute is None or not attribute.retired or selector.kind == "repeater":
            continue
        current = dictionary.successor(attribute)
        if current is not None and current.tag not in handled:
            yield Finding(field_rule.selector_pointer,
                          f"{attribute.keyword} {attribute.hex} is retired; the attribute that "
                          f"replaced it, {current.keyword} {current.hex}, has no rule",
                          f"add a rule for {current.keyword} too, or files written since the "
                          "change keep it")
        elif current is None and field_rule.action not in ("remove", "replace-with"):
            yield Finding(field_rule.selector_pointer,
                          f"{attribute.keyword} {attribute.hex} is retired in the DICOM standard",
                          "keep the rule for old files, and check that the attribute that "
                          "replaced it is handled too")


def _handled_tags(ctx: LintContext) -> set[int]:
    """Tags some rule names directly or reaches through a (safe) regex."""
    tags = set()
    for field_rule in ctx.fields:
        selector = field_rule.selector
        if selector is not None and selector.kind == "regex":
            compiled = compile_regex(selector.pattern)
            if compiled is not None:
                tags.update(a.tag for a in dictionary.regex_matches(compiled))
        else:
            attribute = dictionary.resolve(selector)
            if attribute is not None:
                tags.add(attribute.tag)
    return tags


@rule("D004", "repeater-keyword", Severity.ERROR,
      fail="""
      dicom:
        fields:
          - name: OverlayData
            remove: true
      """,
      passes="""
      dicom:
        fields:
          - name: 60XX3000
            remove: true
      """)
def repeater_keyword(ctx: LintContext):
    """The keyword of a repeating group (overlays 60xx, curves 50xx).

    Such a keyword names 128 possible tags; Flywheel rejects it.  The `60XXeeee` form matches
    every group the file has.
    """
    repeaters = dictionary.repeater_keywords()
    for field_rule, selector in _named(ctx):
        for step in _keywords(selector):
            mask = repeaters.get(step.keyword)
            if mask and not dictionary.case_insensitive(step.keyword):
                yield Finding(field_rule.selector_pointer,
                              f"`{step.keyword}` is a repeating-group keyword ({mask}): "
                              "Flywheel rejects it",
                              f"write name: '{mask.upper()}' to match every group"
                              if selector.kind == "keyword" else
                              "name the group's tag in the path, e.g. "
                              f"{mask.upper().replace('XX', '00')}")


@rule("D005", "malformed-private-tag", Severity.ERROR,
      fail="""
      dicom:
        fields:
          - name: (0009, "GEMS_IDEN_01", 1004)
            keep: true
      """,
      passes="""
      dicom:
        fields:
          - name: (0009, "GEMS_IDEN_01", 04)
            keep: true
      """)
def malformed_private_tag(ctx: LintContext):
    """A private selector Flywheel cannot read: offset not two hex digits, even group, bad
    creator.

    Flywheel's private form is `(gggg, "CREATOR", ee)` with `ee` the element's offset in the
    creator's block.  Anything else is refused, and the whole profile with it.
    """
    for field_rule, selector in _named(ctx):
        if selector.kind == "invalid" and selector.group is not None and \
                selector.problem and "offset" in selector.problem:
            offset = int(selector.text.rsplit(",", 1)[1].strip(" )"), 16) & 0xFF
            fixed = f'({selector.group:04X}, "{selector.creator}", {offset:02X})'
            yield Finding(field_rule.selector_pointer,
                          f"`{selector.text}`: the element must be its 2-digit offset in the "
                          "creator's block",
                          f"write name: '{fixed}'")
        elif selector.kind == "private":
            if not selector.group & 1:
                yield Finding(field_rule.selector_pointer,
                              f"`{selector.text}`: group {selector.group:04X} is even, so it "
                              "is not a private group (Flywheel: \"Not a private tag\")",
                              "private groups are odd (0009, 0019...)")
            creator = selector.creator or ""
            if not creator.strip():
                yield Finding(field_rule.selector_pointer,
                              f"`{selector.text}`: the private creator is empty",
                              "write the creator as the files have it in (gggg,0010-00FF)")
            elif len(creator) > 64 or any(c in creator for c in '\\"()'):
                yield Finding(field_rule.selector_pointer,
                              f"`{selector.text}`: private creator `{creator}` is not valid",
                              "a creator is 1-64 characters without \\ \" ( )")


@rule("D006", "bad-nested-path", Severity.ERROR,
      fail="""
      dicom:
        fields:
          - name: PatientName.0.FamilyName
            remove: true
      """,
      passes="""
      dicom:
        fields:
          - name: ReferencedSeriesSequence.0.SeriesInstanceUID
            hashuid: true
      """)
def bad_nested_path(ctx: LintContext):
    """A nested path that goes through an attribute that is not a sequence, or is malformed.

    Flywheel loads it and then fails every file that has the attribute (a TypeError on the
    non-sequence), or refuses the profile for a malformed step.
    """
    for field_rule, selector in _named(ctx):
        if selector.kind == "invalid" and selector.group is None and "." in selector.text:
            yield Finding(field_rule.selector_pointer, f"`{selector.text}`: {selector.problem}",
                          "write Sequence.<item index or *>.Attribute")
        if selector.kind != "nested":
            continue
        for position in range(0, len(selector.steps) - 1, 2):
            step = selector.steps[position]
            attribute = dictionary.resolve(step)
            if attribute is not None and not attribute.is_sequence:
                yield Finding(field_rule.selector_pointer,
                              f"`{selector.text}`: {attribute.keyword} is a {attribute.vr}, not "
                              "a sequence, so nothing can be nested in it",
                              "name the attribute directly, or the sequence that contains it")
                break


@rule("D007", "unknown-tag", Severity.INFO,
      fail="""
      dicom:
        fields:
          - name: (0010,0016)
            remove: true
      """,
      passes="""
      dicom:
        fields:
          - name: (0010,0020)
            remove: true
      """)
def unknown_tag(ctx: LintContext):
    """A public tag pydicom's data dictionary does not know.

    Fine for attributes newer than the dictionary (a real profile lists PS3.15 2025 additions by
    tag for exactly that reason), but a typo otherwise; and Flywheel cannot insert such a tag
    with `replace-with`, since it does not know its VR.
    """
    for field_rule, selector in _named(ctx):
        if selector.kind == "tag" and not (selector.tag >> 16) & 1 and \
                dictionary.attribute(selector.tag) is None:
            yield Finding(field_rule.selector_pointer,
                          f"{dictionary.tag_text(selector.tag)} is not in pydicom "
                          f"{dictionary.pydicom_version()}'s data dictionary",
                          "check the tag against PS3.6; if it is newer than the dictionary, "
                          "this rule still works on files that have it")


@rule("D008", "private-by-hex", Severity.WARNING,
      fail="""
      dicom:
        fields:
          - name: '00091004'
            replace-with: X
      """,
      passes="""
      dicom:
        fields:
          - name: (0009, "GEMS_IDEN_01", 04)
            replace-with: X
      """)
def private_by_hex(ctx: LintContext):
    """A private element named by its hex tag instead of by creator.

    The block a private creator gets (the `10` in `00091004`) depends on the order creators were
    written in each file, so the same tag holds different data in different files; only the
    `(gggg, "CREATOR", ee)` form names the same element everywhere.
    """
    for field_rule, selector in _named(ctx):
        if selector.kind == "tag" and (selector.tag >> 16) & 1 and \
                (selector.tag & 0xFFFF) >= 0x1000:
            group, element = selector.tag >> 16, selector.tag & 0xFFFF
            yield Finding(field_rule.selector_pointer,
                          f"`{selector.text}` names a private element by its position, "
                          f"which depends on the creator block ({element >> 8:02X}) in each file",
                          f'write name: \'({group:04X}, "CREATOR", {element & 0xFF:02X})\' with '
                          "the block's private creator")


@rule("D009", "bad-selector", Severity.ERROR,
      fail="""
      dicom:
        fields:
          - name: 0X00100020
            remove: true
      """,
      passes="""
      dicom:
        fields:
          - name: '0x00100020'
            remove: true
      """)
def bad_selector(ctx: LintContext):
    """A `name:` that is no keyword, tag, private tag, repeater or nested path.

    Flywheel treats anything it cannot parse as a keyword and refuses the profile (`0X` in upper
    case, for example, is not read as hex).
    """
    for field_rule, selector in _named(ctx):
        if selector.kind != "invalid" or selector.group is not None or "." in selector.text \
                or _other_repeater(selector):
            continue
        text = selector.text.strip()
        message = f"`{text}`: {selector.problem}"
        hint = "write a keyword (PatientID), a tag ('00100020' or '(0010,0020)') or a private " \
               "tag ((0009, \"CREATOR\", 04))"
        if text.startswith("0X"):
            message = f"`{text}`: Flywheel reads an upper-case `0X` prefix as part of a keyword " \
                      "and refuses it"
            hint = f"write the prefix in lower case: '0x{text[2:]}'"
        if isinstance(field_rule.raw.get("name"), str):
            yield Finding(field_rule.selector_pointer, message, hint)


@rule("D010", "unsupported-repeater", Severity.ERROR,
      fail="""
      dicom:
        fields:
          - name: 7FXX0010
            remove: true
      """,
      passes="""
      dicom:
        fields:
          - name: 60XX3000
            remove: true
      """)
def unsupported_repeater(ctx: LintContext):
    """A repeating-group mask other than 50xx (curves) and 60xx (overlays).

    Flywheel expands only those two; any other mask (`7FXX0010`, `(0028,04x0)`) is read as a
    keyword and the profile is refused ("Not in DICOM keyword list").
    """
    for field_rule, selector in _named(ctx):
        match = _other_repeater(selector)
        if match is None:
            continue
        example = "".join(match.groups()).upper().replace("X", "0")
        yield Finding(field_rule.selector_pointer,
                      f"`{selector.text}`: Flywheel expands only the 50xx and 60xx repeating "
                      "groups", f"name each tag you mean, e.g. {example}")
