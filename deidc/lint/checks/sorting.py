"""T: the tags a platform sorts uploads by (PatientID, StudyInstanceUID, StudyDescription,
SeriesInstanceUID, SeriesDescription by default; ``--sorting-tags`` per site).  Flywheel
derives subject, session and acquisition from them; a profile that drops them loses the
grouping of every upload.

A tag's fate is decided by the rules that reach it, in the order Flywheel applies them: a
remove, then a ``replace-with`` that inserts, puts the tag back; a hash of a removed or blank
tag leaves it removed or blank (Flywheel skips absent and empty values)."""

from __future__ import annotations

from dataclasses import dataclass

from ...profile import dictionary
from ...profile.meaning import effective_order, rule_targets
from ...profile.model import FieldRule, parse_selector
from ..diagnostic import Finding, LintContext, Severity, rule

# What Flywheel's ingest derives from each default sorting tag (flywheel-reference.md §7).
DERIVED = {
    "PatientID": "subject label",
    "StudyInstanceUID": "session UID",
    "StudyDescription": "session label",
    "SeriesInstanceUID": "acquisition UID",
    "SeriesDescription": "acquisition label",
}


@dataclass(frozen=True)
class Fate:
    """How a tag leaves the profile when it does not survive as a usable value: ``state`` is
    ``"removed"``, ``"blank"`` or ``"constant"``; ``rule`` is the rule that decided it."""

    state: str
    rule: FieldRule


def templated(value: object) -> bool:
    """A whole-value `{{ ... }}` placeholder, filled in per upload by a templating step before
    Flywheel reads the profile (as the GRP-13 export gear does): not a constant."""
    return isinstance(value, str) and value.strip().startswith("{{") and \
        value.strip().endswith("}}")


def blank(value: object) -> bool:
    """A replacement that leaves the element empty (measured in Flywheel: ``''``, spaces and
    ``[]`` all read back as empty; ``null`` changes nothing)."""
    return value == [] or (isinstance(value, str) and not value.strip())


def inserts(ctx: LintContext, field_rule: FieldRule) -> bool:
    """Whether this ``replace-with`` writes an element that is absent.  Flywheel's regex rules
    act only on elements a file has."""
    if field_rule.selector is not None and field_rule.selector.kind == "regex":
        return False
    return bool(field_rule.options.get("replace-with-insert", ctx.option("replace-with-insert")))


def fate(ctx: LintContext, key: str) -> Fate | None:
    """What the profile's rules finally do to the top-level tag ``key`` (8 hex digits), or
    ``None`` when it survives with a usable value (kept, transformed, pseudonymised)."""
    state, decided_by = None, None
    for field_rule in effective_order(ctx.fields):
        if not any(target.key == key for target in rule_targets(field_rule)):
            continue
        action, value = field_rule.action, field_rule.action_value
        if action in ("remove", "encrypt"):  # encrypt moves the element out of the dataset
            state, decided_by = "removed", field_rule
        elif action == "replace-with" and value is not None:
            if state == "removed" and not inserts(ctx, field_rule):
                continue
            state = None if templated(value) else "blank" if blank(value) else "constant"
            decided_by = field_rule
    return Fate(state, decided_by) if state else None


def sorting_targets(ctx: LintContext) -> dict[str, str]:
    """8-hex tag → keyword of each configured sorting tag (keywords or tags)."""
    found = {}
    for name in ctx.sorting_tags:
        attribute = dictionary.resolve(parse_selector(name))
        if attribute is not None:
            found[attribute.hex] = attribute.keyword
    return found


def derived(keyword: str) -> str:
    """What Flywheel loses with this tag, for messages."""
    if keyword in DERIVED:
        return f"Flywheel derives the {DERIVED[keyword]} from it"
    return "it is one of this site's sorting tags"


def instead(keyword: str) -> str:
    """What to do instead of removing or blanking a sorting tag."""
    if keyword in dictionary.UID_SORTING_TAGS:
        return "use hashuid: true instead: new UIDs that keep studies and series apart"
    if keyword == "PatientID":
        return "replace it with a pseudonym instead (replace-with: SUBJECT-001, or hash: true)"
    if keyword.endswith("Description"):
        return "keep it (keep: true), or hash it or replace-with a neutral label if it can " \
               "hold PHI"
    return "replace it with a pseudonym, or keep it"


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
            remove: true
          - name: PatientID
            replace-with: SUBJECT-001
      """)
def sorting_tag_removed(ctx: LintContext):
    """A sorting tag is removed, by name or by a regex, and no later rule puts it back.

    Flywheel files uploads by these tags: without PatientID a file has no subject label,
    without the UIDs studies and series can no longer be told apart, without the descriptions
    sessions and acquisitions get timestamps for labels.  Pseudonymise them instead.
    """
    for key, keyword in sorting_targets(ctx).items():
        found = fate(ctx, key)
        if found is None or found.state != "removed":
            continue
        selector = found.rule.selector
        how = "encrypted (moved out of the dataset)" if found.rule.action == "encrypt" \
            else "removed"
        if selector.kind == "regex":
            yield Finding(found.rule.selector_pointer,
                          f"{keyword} is {how} by the regex `{selector.pattern}`: "
                          f"{derived(keyword)}",
                          f"narrow the regex so it no longer reaches {keyword}, or "
                          f"{instead(keyword)}")
        else:
            yield Finding(found.rule.selector_pointer, f"{keyword} is {how}: {derived(keyword)}",
                          instead(keyword))


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
    """A sorting tag (other than a UID) is replaced with an empty value.

    An empty StudyDescription or SeriesDescription leaves sessions and acquisitions with
    fallback labels (timestamps, UIDs); an empty PatientID leaves uploads without a subject
    label.  Blank UIDs are T003.
    """
    for key, keyword in sorting_targets(ctx).items():
        if keyword in dictionary.UID_SORTING_TAGS:
            continue
        found = fate(ctx, key)
        if found is not None and found.state == "blank":
            yield Finding(found.rule.action_pointer(),
                          f"{keyword} is blanked: {derived(keyword)}", instead(keyword))


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
    """A StudyInstanceUID or SeriesInstanceUID replaced by one constant (or blanked).

    Every study (or series) of every upload then has the same UID: Flywheel merges them all
    into one session (or acquisition), and archives and viewers do the same.  This destroys
    the data set's structure and cannot be undone from the output, which is why it is an
    error; `hashuid` gives new UIDs that keep distinct ones distinct.  A `{{ ... }}` template,
    filled in per upload, is not a constant.
    """
    for key, keyword in sorting_targets(ctx).items():
        if keyword not in dictionary.UID_SORTING_TAGS:
            continue
        found = fate(ctx, key)
        if found is None or found.state not in ("blank", "constant"):
            continue
        value = found.rule.action_value
        what = "blanked" if found.state == "blank" else f"replaced by the constant {value!r}"
        scope = "study" if keyword == "StudyInstanceUID" else "series"
        via = f" (through the regex `{found.rule.selector.pattern}`)" \
            if found.rule.selector.kind == "regex" else ""
        yield Finding(found.rule.action_pointer(),
                      f"{keyword} is {what}{via}: every {scope} gets the same UID, and "
                      f"{derived(keyword)}, so every upload merges into one",
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
            hashuid: true
          - name: SeriesInstanceUID
            hashuid: true
          - name: StudyDescription
          - name: SeriesDescription
          - name: PixelData
      """)
def sorting_tag_undefined(ctx: LintContext):
    """`remove-undefined` drops sorting tags that no rule names.

    A keeplist removes every attribute it does not list, sorting tags included, and Flywheel
    then cannot group the uploads.  Any rule naming a tag (a regex included) keeps it.
    """
    if not ctx.option("remove-undefined") or not ctx.fields:
        return
    named = {target.key for field_rule in ctx.fields for target in rule_targets(field_rule)}
    missing = [keyword for key, keyword in sorting_targets(ctx).items() if key not in named]
    if missing:
        listed = ", ".join(f"{k} ({DERIVED[k]})" if k in DERIVED else k for k in missing)
        them = "it" if len(missing) == 1 else "them"
        yield Finding(ctx.option_pointer("remove-undefined"),
                      f"remove-undefined removes {listed}: no rule names {them}, and Flywheel "
                      f"sorts uploads by {them}",
                      "name them under fields: keep: true, hashuid: true for UIDs, a pseudonym "
                      "for PatientID")
