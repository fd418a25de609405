"""X: profiles that leak data, lose files or destroy images while looking fine."""

from __future__ import annotations

from ...profile import dictionary
from ...profile.meaning import compile_regex, rule_targets
from ...profile.model import BOOLEAN_ACTIONS, FieldRule
from ..diagnostic import Finding, LintContext, Severity, rule
from .sorting import fate, templated

SOP_INSTANCE_UID = "00080018"
MEDIA_STORAGE_SOP_INSTANCE_UID = "00020003"


def changes(field_rule: FieldRule) -> bool:
    """Whether the rule alters what it reaches (``replace-with: null`` writes nothing)."""
    if field_rule.action in (None, "keep", "identity"):
        return False
    return not (field_rule.action == "replace-with" and field_rule.action_value is None)


def reaches(field_rule: FieldRule, key: str) -> bool:
    return any(target.key == key for target in rule_targets(field_rule))


def named_keys(ctx: LintContext) -> set[str]:
    """Every target key some rule names, with the parent sequences Flywheel's remove-undefined
    keeps for a nested path with item indexes (not for a `*` path)."""
    named = set()
    for field_rule in ctx.fields:
        for target in rule_targets(field_rule):
            named.add(target.key)
            if target.kind == "path" and "*" not in target.key:
                steps = target.key.split(".")
                named.update(".".join(steps[:end]) for end in range(1, len(steps), 2))
    return named


@rule("X001", "keeplist-drops-image", Severity.WARNING,
      fail="""
      dicom:
        remove-undefined: true
        fields:
          - name: PatientID
            replace-with: SUBJECT
      """,
      passes="""
      dicom:
        remove-undefined: true
        fields:
          - name: PatientID
            replace-with: SUBJECT
          - name: SOPClassUID
          - name: SOPInstanceUID
          - name: Rows
          - name: Columns
          - name: BitsAllocated
          - name: BitsStored
          - name: HighBit
          - name: PixelRepresentation
          - name: SamplesPerPixel
          - name: PhotometricInterpretation
          - name: PixelData
      """)
def keeplist_drops_image(ctx: LintContext):
    """A `remove-undefined` keeplist that does not list what an image needs.

    remove-undefined deletes every attribute no rule names, the pixel data and the attributes
    that describe it included: the output is no longer an image a viewer can open.  A warning,
    not an error: a keeplist for non-image objects (reports, metadata exports) may mean it.
    """
    if not ctx.option("remove-undefined") or not ctx.fields:
        return
    named = named_keys(ctx)
    missing = [keyword for keyword in dictionary.IMAGE_ESSENTIALS
               if dictionary.by_keyword(keyword).hex not in named]
    if missing:
        pixels = " (the pixels themselves)" if "PixelData" in missing else ""
        yield Finding(ctx.option_pointer("remove-undefined"),
                      f"remove-undefined deletes {', '.join(missing)}{pixels}: the output is "
                      "no longer an image a viewer can open",
                      "list them under fields (a bare `- name: Rows` keeps it), or ignore this "
                      "finding for non-image objects")


@rule("X002", "keeplist-without-fields", Severity.ERROR,
      fail="""
      dicom:
        remove-undefined: true
      """,
      passes="""
      dicom:
        remove-undefined: true
        fields:
          - name: PatientSex
      """)
def keeplist_without_fields(ctx: LintContext):
    """`remove-undefined: true` with no fields.

    Flywheel then does nothing at all: every element is kept, the file copied byte for byte, a
    silent leak.  deidc removes every element (the file meta stays).  Neither is what a keeplist
    author wants.
    """
    if ctx.option("remove-undefined") and not ctx.fields and ctx.profile.dicom is not None:
        yield Finding(ctx.option_pointer("remove-undefined"),
                      "remove-undefined with no fields: Flywheel keeps every element (nothing "
                      "is de-identified), deidc removes every element but the file meta",
                      "list the attributes to keep under fields")


@rule("X003", "media-storage-uid-leak", Severity.WARNING,
      fail="""
      dicom:
        fields:
          - name: SOPInstanceUID
            hashuid: true
      """,
      passes="""
      dicom:
        fields:
          - name: SOPInstanceUID
            hashuid: true
          - name: MediaStorageSOPInstanceUID
            hashuid: true
      """)
def media_storage_uid_leak(ctx: LintContext):
    """SOPInstanceUID is changed but the file meta's MediaStorageSOPInstanceUID is not.

    Flywheel leaves the original SOP Instance UID in the file meta, where it links the output
    back to the source, and the file disagrees with itself.  A regex cannot reach the file
    meta, and a rule that names MediaStorageSOPInstanceUID but leaves it as it is (`keep`,
    `identity`, a bare `name:`, `replace-with:` with no value) does not help.  deidc apply keeps
    the two in step, but in Flywheel the profile must change both.
    """
    changed = [r for r in ctx.fields if changes(r) and reaches(r, SOP_INSTANCE_UID)]
    synced = any(changes(r) and reaches(r, MEDIA_STORAGE_SOP_INSTANCE_UID) for r in ctx.fields)
    if changed and not synced:
        first = changed[0]
        how = f" through the regex `{first.selector.pattern}`" \
            if first.selector.kind == "regex" else ""
        yield Finding(first.selector_pointer,
                      f"SOPInstanceUID is changed ({first.action}{how}) but "
                      "MediaStorageSOPInstanceUID is not: Flywheel keeps the original UID in "
                      "the file meta (deidc apply updates it)",
                      "add a rule for MediaStorageSOPInstanceUID with the same action")


def boolean_action_maps(ctx: LintContext):
    """(pointer, field map) of every rule Flywheel validates: the fields, and the dry rules of
    filename and regex-sub groups."""
    dicom = ctx.profile.dicom
    if dicom is None:
        return
    for field_rule in ctx.fields:
        yield field_rule.pointer, field_rule.raw
        substitutions = field_rule.raw.get("regex-sub")
        for i, item in enumerate(substitutions if isinstance(substitutions, list) else []):
            yield from _groups(item, f"{field_rule.pointer}/regex-sub/{i}")
    filenames = dicom.options.get("filenames")
    for i, item in enumerate(filenames if isinstance(filenames, list) else []):
        yield from _groups(item, f"{dicom.pointer}/filenames/{i}")


def _groups(item: object, pointer: str):
    groups = item.get("groups") if isinstance(item, dict) else None
    for j, group in enumerate(groups if isinstance(groups, list) else []):
        if isinstance(group, dict):
            yield f"{pointer}/groups/{j}", group


@rule("X004", "action-not-true", Severity.ERROR,
      fail="""
      dicom:
        fields:
          - name: PatientName
            remove: false
      """,
      passes="""
      dicom:
        fields:
          - name: PatientName
            keep: true
      """)
def action_not_true(ctx: LintContext):
    """A boolean action set to something other than `true` (`remove: false`).

    Flywheel's validation rejects it, yet wherever a profile is used without that validation
    the action is applied anyway: `remove: false` removes, `increment-date: false` in a filename
    group shifts the date.  deidc refuses to compile it; say what you mean by deleting the rule
    or the key.  A `{{ ... }}` template placeholder is left to Y006.
    """
    for pointer, raw in boolean_action_maps(ctx):
        for key, value in raw.items():
            if key in BOOLEAN_ACTIONS and value is not True and not templated(value):
                label = raw.get("name") or raw.get("regex") or "this rule"
                yield Finding(f"{pointer}/{key}",
                              f"`{key}: {value!r}` on {label}: Flywheel rejects the profile, "
                              f"or applies `{key}` anyway where it skips validation",
                              f"write `{key}: true`, or delete the key to not {key}")


@rule("X005", "sop-uid-constant", Severity.ERROR,
      fail="""
      dicom:
        fields:
          - name: SOPInstanceUID
            replace-with: 1.2.3.4
      """,
      passes="""
      dicom:
        fields:
          - name: SOPInstanceUID
            hashuid: true
          - name: MediaStorageSOPInstanceUID
            hashuid: true
      """)
def sop_uid_constant(ctx: LintContext):
    """SOPInstanceUID replaced by one constant (or blanked).

    Flywheel names each output `<SOPInstanceUID>.<Modality>.dcm`: with one constant UID every
    file of a modality is written to the same name, each overwriting the last (measured: three
    MR files in, one out).  With `filenames` set, or with deidc apply, every file survives but
    all share one instance UID, which archives treat as one image.  Blank, the UID is missing
    from a Type 1 attribute.  Use `hashuid`.
    """
    found = fate(ctx, SOP_INSTANCE_UID)
    if found is None or found.state not in ("blank", "constant"):
        return
    if found.state == "blank":
        what = "blanked: every file gets the same empty (invalid) UID"
    elif ctx.option("filenames"):
        what = (f"replaced by the constant {found.rule.action_value!r}: every file gets the "
                "same instance UID")
    else:
        what = (f"replaced by the constant {found.rule.action_value!r}: Flywheel names outputs "
                "<SOPInstanceUID>.<Modality>.dcm, so each file overwrites the last and one "
                "per modality survives")
    yield Finding(found.rule.action_pointer(), f"SOPInstanceUID is {what}",
                  "use hashuid: true (and the same for MediaStorageSOPInstanceUID)")


@rule("X006", "replace-with-null", Severity.ERROR,
      fail="""
      dicom:
        fields:
          - name: PatientName
            replace-with:
      """,
      passes="""
      dicom:
        fields:
          - name: PatientName
            replace-with: ''
      """)
def replace_with_null(ctx: LintContext):
    """`replace-with` with no value (`replace-with:` or `null`).

    YAML reads an empty value as null, and Flywheel (like deidc) then leaves the element as it
    is: the value the rule was written to scrub goes out unchanged.  Write `''` to blank it,
    `remove: true` to delete it, or `keep: true` if keeping it is the point.
    """
    for field_rule in ctx.fields:
        if field_rule.action == "replace-with" and field_rule.action_value is None:
            yield Finding(field_rule.action_pointer(),
                          f"`replace-with` on {field_rule.selector or 'this rule'} has no value: "
                          "Flywheel leaves the element unchanged",
                          "write replace-with: '' to blank it, or remove: true to delete it")


@rule("X007", "keeplist-wildcard-drops-sequence", Severity.WARNING,
      fail="""
      dicom:
        remove-undefined: true
        fields:
          - name: BeamSequence.*.BeamName
      """,
      passes="""
      dicom:
        remove-undefined: true
        fields:
          - name: BeamSequence
          - name: BeamSequence.*.BeamName
      """)
def keeplist_wildcard_drops_sequence(ctx: LintContext):
    """A `Sequence.*.Keyword` rule in a `remove-undefined` keeplist, its sequence not named.

    Flywheel's remove-undefined keeps the parent sequences of a nested path with item numbers,
    but not of a `*` path one sequence deep: the whole sequence is deleted, the element the
    rule names with it (measured).  deidc keeps the sequence and the named elements, so the two
    outputs differ.  Naming the sequence itself keeps it in both.  A path two or more
    sequences deep (`BeamSequence.*.ControlPointSequence.*.GantryAngle`) keeps its parents in
    both (measured): Flywheel's test for a path it need not expand matches one level only.
    """
    if not ctx.option("remove-undefined"):
        return
    named = named_keys(ctx)
    for field_rule in ctx.fields:
        selector = field_rule.selector
        if selector is None or selector.kind != "nested" or "*" not in selector.steps:
            continue
        for target in rule_targets(field_rule):
            steps = target.key.split(".")
            if len(steps) != 3 or steps[0] in named:
                continue  # deeper paths keep their parents in Flywheel too
            shown = selector.text.strip().split(".")[0]
            yield Finding(field_rule.selector_pointer,
                          f"{selector}: Flywheel's remove-undefined does not keep the parent "
                          f"sequence of a `*` path, so it deletes {shown} whole, {target.label} "
                          "included (deidc keeps it)",
                          f"also name the sequence: - name: {shown}")


def _creator_kept(ctx: LintContext, group: int) -> bool:
    """Whether some rule names a private creator slot of ``group`` (by hex, or by a regex over
    Flywheel's hex paths)."""
    for field_rule in ctx.fields:
        selector = field_rule.selector
        if selector is None:
            continue
        if selector.kind == "tag" and selector.tag >> 16 == group and \
                0x10 <= (selector.tag & 0xFFFF) <= 0xFF:
            return True
        if selector.kind == "regex":
            compiled = compile_regex(selector.pattern)
            if compiled is not None and any(compiled.match(f"{group:04x}00{block:02x}")
                                            for block in range(0x10, 0x100)):
                return True
    return False


@rule("X008", "keeplist-orphans-private", Severity.WARNING,
      fail="""
      dicom:
        remove-undefined: true
        fields:
          - name: (0009, "GEMS_IDEN_01", 04)
      """,
      passes="""
      dicom:
        remove-undefined: true
        fields:
          - name: (0009, "GEMS_IDEN_01", 04)
          - name: '00090010'
      """)
def keeplist_orphans_private(ctx: LintContext):
    """A private element kept by creator in a `remove-undefined` keeplist, its creator not named.

    Flywheel's remove-undefined keeps the private element but deletes the private creator
    element that says whose it is (measured): the output holds a value nobody can interpret.
    deidc keeps the creator.  In Flywheel the creator's slot must be named too, by hex.
    """
    if not ctx.option("remove-undefined"):
        return
    for field_rule in ctx.fields:
        selector = field_rule.selector
        if selector is None or selector.kind != "private" or not selector.creator.strip() \
                or _creator_kept(ctx, selector.group):
            continue  # a blank creator is D005's
        yield Finding(field_rule.selector_pointer,
                      f"{selector}: Flywheel's remove-undefined keeps this element but deletes "
                      f"its private creator ({selector.group:04X},00xx) `{selector.creator}`, "
                      "so nothing says what the value is (deidc keeps the creator)",
                      f"also name the creator's slot, e.g. - name: '{selector.group:04X}0010' "
                      "(check which block the creator holds in your files)")


@rule("X009", "media-storage-uid-set", Severity.WARNING,
      fail="""
      dicom:
        fields:
          - name: SOPInstanceUID
            hashuid: true
          - name: MediaStorageSOPInstanceUID
            remove: true
      """,
      passes="""
      dicom:
        fields:
          - name: SOPInstanceUID
            hashuid: true
          - name: MediaStorageSOPInstanceUID
            hashuid: true
      """)
def media_storage_uid_removed(ctx: LintContext):
    """The file meta's MediaStorageSOPInstanceUID removed (`remove: true`), blanked
    (`replace-with: ''`) or set to a constant while SOPInstanceUID stays.

    Flywheel does what the rule says: it writes a DICOM file whose file meta has no
    MediaStorageSOPInstanceUID, an empty one or the constant, though the standard requires it
    to name the instance the file holds (Type 1).  deidc apply writes SOPInstanceUID there
    instead (the file meta follows SOPInstanceUID), so the two outputs differ.  Removing it
    hides nothing: SOPInstanceUID holds the same UID.  To de-identify it, give it
    SOPInstanceUID's action.
    """
    sop_removed = any(r.action == "remove" and reaches(r, SOP_INSTANCE_UID) for r in ctx.fields)
    if sop_removed:
        return  # both tools then write a file meta without it
    for field_rule in ctx.fields:
        if not reaches(field_rule, MEDIA_STORAGE_SOP_INSTANCE_UID):
            continue
        if field_rule.action == "remove":
            action, flywheel = "remove: true", "a file meta without MediaStorageSOPInstanceUID"
        elif field_rule.action == "replace-with" and field_rule.action_value == "":
            action, flywheel = "replace-with: ''", "an empty MediaStorageSOPInstanceUID"
        elif field_rule.action == "replace-with" and isinstance(field_rule.action_value, str):
            action = f"replace-with: {field_rule.action_value}"
            flywheel = "that value as MediaStorageSOPInstanceUID"
        else:
            continue
        yield Finding(field_rule.action_pointer(),
                      f"`{action}` on MediaStorageSOPInstanceUID: Flywheel writes {flywheel}, "
                      "though DICOM requires its value in every file (Type 1); deidc apply "
                      "writes SOPInstanceUID there instead, so the outputs differ",
                      "delete the rule, or give it SOPInstanceUID's action (e.g. hashuid: true "
                      "on both) to de-identify it")


@rule("X010", "keeplist-drops-sop-uid", Severity.WARNING,
      fail="""
      dicom:
        remove-undefined: true
        fields:
          - name: SOPClassUID
          - name: PixelData
      """,
      passes="""
      dicom:
        remove-undefined: true
        fields:
          - name: SOPClassUID
          - name: SOPInstanceUID
            hashuid: true
          - name: PixelData
      """)
def keeplist_drops_sop_uid(ctx: LintContext):
    """A `remove-undefined` keeplist that does not name SOPInstanceUID.

    The keeplist deletes SOPInstanceUID, a Type 1 attribute of every instance.  deidc apply's
    file meta follows SOPInstanceUID, so it drops MediaStorageSOPInstanceUID from the file meta
    too (Type 1 there as well): the output names no instance at all, and archives refuse it.
    Flywheel's remove-undefined does not reach the file meta: it keeps the original UID there,
    which links the output back to its source.  Name SOPInstanceUID (with `hashuid: true`, and
    the same for MediaStorageSOPInstanceUID, to de-identify it).
    """
    if not ctx.option("remove-undefined") or not ctx.fields:
        return
    if SOP_INSTANCE_UID in named_keys(ctx):
        return
    yield Finding(ctx.option_pointer("remove-undefined"),
                  "remove-undefined deletes SOPInstanceUID (no rule names it): deidc apply then "
                  "drops MediaStorageSOPInstanceUID from the file meta (both Type 1), and "
                  "Flywheel keeps the original UID there",
                  "name it under fields: - name: SOPInstanceUID, with hashuid: true (and the "
                  "same rule for MediaStorageSOPInstanceUID) to de-identify it")
