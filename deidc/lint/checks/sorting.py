"""T: the tags a platform sorts uploads by (PatientID, StudyInstanceUID, StudyDescription,
SeriesInstanceUID, SeriesDescription by default; ``--sorting-tags`` per site).  Flywheel
derives subject, session and acquisition from them; a profile that drops them loses the
grouping of every upload."""

from __future__ import annotations

from ... import dictionary
from ...precedence import effective_order, rule_targets
from ...profile import parse_selector
from ..diagnostic import Finding, LintContext, Severity, rule

DERIVED = {
    "PatientID": "the subject label",
    "StudyInstanceUID": "the session",
    "StudyDescription": "the session label",
    "SeriesInstanceUID": "the acquisition",
    "SeriesDescription": "the acquisition label",
}


def sorting_targets(ctx: LintContext) -> dict[str, str]:
    """8-hex tag → keyword of each configured sorting tag."""
    found = {}
    for name in ctx.sorting_tags:
        attribute = dictionary.resolve(parse_selector(name))
        if attribute is not None:
            found[attribute.hex] = attribute.keyword
    return found


def final_rule(ctx: LintContext, key: str):
    """The last rule acting on the tag, in the order Flywheel applies them (keeps skipped)."""
    last = None
    for field_rule in effective_order(ctx.fields):
        if field_rule.action in (None, "keep", "identity"):
            continue
        if any(target.key == key for target in rule_targets(field_rule)):
            last = field_rule
    return last


def _uses(keyword: str) -> str:
    return DERIVED.get(keyword, "this site's sorting")


@rule("T001", "sorting-tag-removed", Severity.WARNING,
      fail="""
      dicom:
        fields:
          - name: PatientID
            remove: true
      """,
      passes="""
      dicom:
        fields:
          - name: PatientID
            replace-with: SUBJECT-001
      """)
def sorting_tag_removed(ctx: LintContext):
    """A sorting tag is removed, by name or by a regex.

    Flywheel files uploads by these tags: without PatientID every file lands in an unnamed
    subject, without the UIDs series and studies fall apart.  Pseudonymise them instead.
    """
    for key, keyword in sorting_targets(ctx).items():
        last = final_rule(ctx, key)
        if last is None or last.action != "remove":
            continue
        how = f"by regex `{last.selector.pattern}`" if last.selector.kind == "regex" else ""
        hint = "hashuid it to keep the grouping without the original UID" \
            if keyword.endswith("UID") else "replace it with a pseudonym (replace-with or hash)"
        yield Finding(last.selector_pointer,
                      f"{keyword} is removed {how}".rstrip() + f": Flywheel derives "
                      f"{_uses(keyword)} from it, so uploads lose their grouping", hint)


@rule("T002", "sorting-tag-blanked", Severity.WARNING,
      fail="""
      dicom:
        fields:
          - name: StudyDescription
            replace-with: ''
      """,
      passes="""
      dicom:
        fields:
          - name: StudyDescription
            replace-with: RESEARCH STUDY
      """)
def sorting_tag_blanked(ctx: LintContext):
    """A sorting tag is replaced with an empty value.

    An empty StudyDescription or SeriesDescription leaves sessions and acquisitions with
    fallback labels (timestamps, UIDs); an empty PatientID merges every subject into one.
    """
    for key, keyword in sorting_targets(ctx).items():
        last = final_rule(ctx, key)
        if last is not None and last.action == "replace-with" and \
                last.action_value in ("", None):
            yield Finding(last.action_pointer(),
                          f"{keyword} is blanked: Flywheel derives {_uses(keyword)} from it",
                          "replace it with a meaningful placeholder, or hash it")


@rule("T003", "sorting-uid-constant", Severity.ERROR,
      fail="""
      dicom:
        fields:
          - name: SeriesInstanceUID
            replace-with: 1.2.3.4
      """,
      passes="""
      dicom:
        fields:
          - name: SeriesInstanceUID
            hashuid: true
      """)
def sorting_uid_constant(ctx: LintContext):
    """A StudyInstanceUID or SeriesInstanceUID replaced by one constant.

    Every study (or series) of every patient then has the same UID: Flywheel merges them all
    into one session (or acquisition), and DICOM viewers do the same.  This destroys the data
    set's structure, which is why it is an error.
    """
    for key, keyword in sorting_targets(ctx).items():
        if keyword not in dictionary.UID_SORTING_TAGS:
            continue
        last = final_rule(ctx, key)
        if last is not None and last.action == "replace-with" and \
                last.action_value not in ("", None):
            yield Finding(last.action_pointer(),
                          f"{keyword} is replaced by the constant {last.action_value!r}: every "
                          f"{'study' if 'Study' in keyword else 'series'} becomes one",
                          "use hashuid: true, which keeps distinct UIDs distinct")


@rule("T004", "sorting-tag-undefined", Severity.WARNING,
      fail="""
      dicom:
        remove-undefined: true
        fields:
          - name: PatientID
            replace-with: SUBJECT
          - name: PixelData
      """,
      passes="""
      dicom:
        remove-undefined: true
        fields:
          - name: PatientID
            replace-with: SUBJECT
          - name: StudyInstanceUID
          - name: SeriesInstanceUID
          - name: StudyDescription
          - name: SeriesDescription
          - name: PixelData
      """)
def sorting_tag_undefined(ctx: LintContext):
    """`remove-undefined` drops sorting tags that no rule names.

    A keeplist removes every attribute it does not list, sorting tags included.
    """
    if not ctx.option("remove-undefined") or not ctx.fields:
        return
    named = {target.key for field_rule in ctx.fields for target in rule_targets(field_rule)}
    missing = [keyword for key, keyword in sorting_targets(ctx).items() if key not in named]
    if missing:
        yield Finding(ctx.option_pointer("remove-undefined"),
                      f"remove-undefined removes {', '.join(missing)}: no rule names "
                      f"{'it' if len(missing) == 1 else 'them'}, and Flywheel sorts uploads by "
                      f"{'it' if len(missing) == 1 else 'them'}",
                      "list them under fields (with keep: true, hashuid or a pseudonym)")
