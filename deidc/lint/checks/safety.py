"""X: profiles that leak data or destroy images while looking fine."""

from __future__ import annotations

from ... import dictionary
from ...precedence import rule_targets
from ...profile import BOOLEAN_ACTIONS
from ..diagnostic import Finding, LintContext, Severity, rule


def _template(value: object) -> bool:
    """A whole-value `{{ ... }}` placeholder, filled in by a templating step before Flywheel
    reads the profile (as the GRP-13 export gear does)."""
    return isinstance(value, str) and value.strip().startswith("{{") and \
        value.strip().endswith("}}")


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
    that describe it included: the output is no longer an image a viewer can open.
    """
    if not ctx.option("remove-undefined") or not ctx.fields:
        return
    named = {target.key for field_rule in ctx.fields for target in rule_targets(field_rule)}
    missing = [keyword for keyword in dictionary.IMAGE_ESSENTIALS
               if dictionary.by_keyword(keyword).hex not in named]
    if missing:
        yield Finding(ctx.option_pointer("remove-undefined"),
                      f"remove-undefined deletes {', '.join(missing)}: the output will not "
                      "display as an image", "list them under fields with keep: true (or "
                      "ignore this finding for non-image objects)")


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
                      "is de-identified), deidc removes every element",
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
    """SOPInstanceUID is changed but the file meta's MediaStorageSOPInstanceUID is not named.

    Flywheel leaves the original SOP Instance UID in the file meta, where it links the output
    back to the source, and the file disagrees with itself.  deidc apply keeps the two in step,
    but in Flywheel the profile must name both.
    """
    changed = None
    for field_rule in ctx.fields:
        keys = {t.key for t in rule_targets(field_rule)}
        if "00080018" in keys and field_rule.action not in (None, "keep", "identity") and \
                field_rule.selector.kind != "regex":
            changed = field_rule
        if "00020003" in keys:
            return
    if changed is not None:
        yield Finding(changed.selector_pointer,
                      f"SOPInstanceUID is changed ({changed.action}) but "
                      "MediaStorageSOPInstanceUID is not: Flywheel keeps the original UID in "
                      "the file meta", "add the same rule for MediaStorageSOPInstanceUID")


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

    Flywheel reports it, then applies the action anyway: `remove: false` removes.  deidc refuses
    to compile it; say what you mean by deleting the rule or the key.
    """
    for field_rule in ctx.fields:
        for key, value in field_rule.actions:
            if key in BOOLEAN_ACTIONS and value is not True and not _template(value):
                yield Finding(field_rule.action_pointer(key),
                              f"`{key}: {value!r}` on {field_rule.selector or 'this rule'}: "
                              f"Flywheel applies `{key}` anyway",
                              f"write `{key}: true`, or delete the key to not {key}")
