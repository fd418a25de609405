"""One input and its output: read both, check integrity, search the residual identifiers,
collect the UIDs that linkage checks across the release, and (with a plan) check the plan.

A check of a pair never raises for a bad file: what cannot be read is a finding.
"""

from __future__ import annotations

from collections import Counter, namedtuple

from ..execute.dicom import MEDIA_STORAGE_SOP_INSTANCE_UID, SOP_INSTANCE_UID
from .findings import Finding, finding
from .identifiers import category, identifiers
from .search import residuals
from .walk import PIXEL_TAGS, Value, read, walk


class Checked(namedtuple("Checked", "findings links ignored")):
    """What one pair gives: its findings; its UID links, ``(input UID, output UID, file, tag,
    location)`` for each UID element both files hold at one place; the counts of identifier
    pieces not searched for."""

    __slots__ = ()
    findings: list[Finding]
    links: list[tuple]
    ignored: Counter


def check_pair(source: str, target: str, relative: str, plan=None,
               plan_values: frozenset[str] = frozenset()) -> Checked:
    try:
        original = read(source)
        before = walk(original)
    except Exception as exc:
        return Checked([finding(relative, "unreadable-input", f"the input {source} does not "
                                f"parse as DICOM ({_reason(exc)}): its output cannot be "
                                "checked against it")], [], Counter())
    try:
        released = read(target, strict=True)
        integrity = pixel_findings(relative, original, released)
        after = walk(released)
    except Exception as exc:
        return Checked([finding(relative, "unreadable-output",
                                f"does not parse as DICOM: {_reason(exc)}")], [], Counter())
    found, ignored = identifiers(before, plan_values)
    findings = integrity + residuals(relative, after, found)
    findings += media_storage(relative, released)
    if plan is not None:
        from .plancheck import plan_findings

        findings += plan_findings(plan, relative, original, released)
    return Checked(findings, links(relative, before, after), ignored)


def pixel_findings(relative: str, original, released) -> list[Finding]:
    """Pixel data (and float or double pixel data) byte for byte as in the input."""
    found = []
    for tag in sorted(PIXEL_TAGS):
        mine, theirs = original.get_item(tag), released.get_item(tag)
        if mine is None and theirs is None:
            continue
        if mine is None or theirs is None or mine.value != theirs.value:
            how = "are missing from the output" if theirs is None else \
                "are not in the input" if mine is None else "differ from the input's"
            found.append(finding(relative, "pixel-data-changed", f"the pixel data {how}",
                                 tag=f"{tag:08X}", location=f"{tag:08X}"))
    return found


def media_storage(relative: str, released) -> list[Finding]:
    """The file meta must name the instance the file holds."""
    meta = getattr(released, "file_meta", None)
    media = meta.get(MEDIA_STORAGE_SOP_INSTANCE_UID) if meta is not None else None
    sop = released.get(SOP_INSTANCE_UID)
    media_uid = str(media.value).strip(" \0") if media is not None else ""
    sop_uid = str(sop.value).strip(" \0") if sop is not None else ""
    if media_uid == sop_uid:
        return []
    what = "is missing" if not media_uid else "is not the file's SOPInstanceUID" if sop_uid \
        else "names an instance, but the file has no SOPInstanceUID"
    return [finding(relative, "media-storage-mismatch",
                    f"the file meta's MediaStorageSOPInstanceUID {what}",
                    tag=f"{MEDIA_STORAGE_SOP_INSTANCE_UID:08X}",
                    location=f"{MEDIA_STORAGE_SOP_INSTANCE_UID:08X}")]


def links(relative: str, before: list[Value], after: list[Value]) -> list[tuple]:
    """(input UID, output UID, file, tag, location) for every instance UID at one place in
    both files."""
    output = {value.steps: value.text for value in after if value.text}
    found = []
    for value in before:
        if value.text and category(value.tag) == "UID":
            released = output.get(value.steps)
            if released is not None:
                found.append((value.text.strip(" \0"), released.strip(" \0"), relative,
                              f"{value.tag:08X}", value.location))
    return found


def _reason(exc: Exception) -> str:
    """pydicom folds tracebacks into some messages: the first line is the reason."""
    text = str(exc).strip().splitlines()
    return text[0] if text else exc.__class__.__name__
