"""A small facade over pydicom's data dictionary, so the rest of deidc speaks in tags and keywords.

Lookups, case-insensitive matching (Flywheel silently corrects ``PatientBirthdate``), "did you
mean" suggestions, repeater groups, private dictionaries and the sorting tags a platform groups
uploads by.  pydicom's ``datadict`` stays the single source of truth: nothing here is a copy of it.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from functools import cache

from pydicom import datadict

# Flywheel derives subject, session and acquisition from these (profile-semantics.md).
DEFAULT_SORTING_TAGS = ("PatientID", "StudyInstanceUID", "StudyDescription",
                        "SeriesInstanceUID", "SeriesDescription")
UID_SORTING_TAGS = frozenset({"StudyInstanceUID", "SeriesInstanceUID"})

# What an image cannot lose and still be displayed or identified.
IMAGE_ESSENTIALS = ("SOPClassUID", "SOPInstanceUID", "Rows", "Columns", "BitsAllocated",
                    "BitsStored", "HighBit", "PixelRepresentation", "SamplesPerPixel",
                    "PhotometricInterpretation", "PixelData")


@dataclass(frozen=True)
class Attribute:
    """One data dictionary entry."""

    tag: int
    keyword: str
    name: str
    vr: str
    vm: str
    retired: bool

    @property
    def hex(self) -> str:
        return f"{self.tag:08X}"

    @property
    def is_sequence(self) -> bool:
        return self.vr == "SQ"


def tag_text(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def is_private(tag: int) -> bool:
    return bool((tag >> 16) & 1)


def attribute(tag: int) -> Attribute | None:
    """The public dictionary entry for ``tag``; repeater groups (50xx, 60xx, ...) included."""
    entry = datadict.DicomDictionary.get(tag)
    if entry is None:
        mask = datadict.mask_match(tag)
        if mask is None:
            return None
        entry = datadict.RepeatersDictionary[mask]
    vr, vm, name, retired, keyword = entry
    return Attribute(tag, keyword, name, vr, vm, bool(retired))


def by_keyword(keyword: str) -> Attribute | None:
    """Exact, case-sensitive keyword lookup, as DICOM defines keywords."""
    tag = datadict.tag_for_keyword(keyword)
    return attribute(tag) if tag is not None else None


@cache
def _lower_keywords() -> dict[str, str]:
    return {keyword.lower(): keyword for keyword in datadict.keyword_dict}


@cache
def repeater_keywords() -> dict[str, str]:
    """Repeater keywords (``OverlayRows``) → their mask (``60xx0010``)."""
    return {entry[4]: mask for mask, entry in datadict.RepeatersDictionary.items() if entry[4]}


def case_insensitive(keyword: str) -> str | None:
    """The correctly spelt keyword that differs from ``keyword`` only in case, if any."""
    return _lower_keywords().get(keyword.lower())


def suggestions(word: str, limit: int = 3) -> list[str]:
    """Keywords close to ``word``, best first."""
    lowered = _lower_keywords()
    matches = difflib.get_close_matches(word.lower(), lowered.keys(), n=limit, cutoff=0.75)
    return [lowered[m] for m in matches]


def private_vr(group: int, creator: str, offset: int) -> str | None:
    """The VR pydicom's private dictionaries give for ``(group, creator, offset)``, if known."""
    try:
        return datadict.private_dictionary_VR((group << 16) | 0x1000 | offset, creator)
    except KeyError:
        return None


def sequence_tags() -> tuple[str, ...]:
    """Every public tag whose dictionary VR is SQ, as 8-hex text, in tag order."""
    return tuple(f"{tag:08X}" for tag, entry in sorted(datadict.DicomDictionary.items())
                 if entry[0] == "SQ")


def walk_keywords() -> dict[str, list[str]]:
    """Every public tag with the keyword Flywheel's keyword walk gives it, and its VR, as
    8-hex text → [keyword, VR], in tag order.  The keyword names this tag alone (repeater,
    private and unknown elements have none, so a regex sees only their hex path); the
    executor's Dataset path asks pydicom the same per element
    (``execute.dataset.flywheel_keyword``)."""
    return {f"{tag:08X}": [entry[4], entry[0]]
            for tag, entry in sorted(datadict.DicomDictionary.items())
            if entry[4] and datadict.tag_for_keyword(entry[4]) == tag}


def pydicom_version() -> str:
    import pydicom

    return pydicom.__version__


def resolve(selector) -> Attribute | None:
    """The dictionary attribute a parsed selector finally names (the last step of a nested path,
    the base tag of a repeater), or ``None`` for private, regex, invalid or unknown selectors.
    Keywords resolve case-insensitively, as Flywheel does."""
    if selector is None:
        return None
    if selector.kind == "nested":
        return resolve(selector.steps[-1])
    if selector.kind == "keyword":
        exact = by_keyword(selector.keyword)
        if exact is not None:
            return exact
        corrected = case_insensitive(selector.keyword)
        return by_keyword(corrected) if corrected else None
    if selector.kind in ("tag", "repeater") and selector.tag is not None:
        return attribute(selector.tag)
    return None


def regex_matches(pattern: "re.Pattern[str]") -> list[Attribute]:
    """Top-level dictionary attributes a Flywheel ``regex:`` rule hits: ``re.match`` (anchored at
    the start only) against the keyword or the lower-case 8-digit hex tag.  File meta (group 0002)
    is out of a regex's reach in Flywheel, and repeater masks are not concrete tags."""
    found = []
    for tag, entry in datadict.DicomDictionary.items():
        if tag >> 16 == 0x0002:
            continue
        keyword = entry[4]
        if (keyword and pattern.match(keyword)) or pattern.match(f"{tag:08x}"):
            found.append(attribute(tag))
    return found


def successor(retired: Attribute) -> Attribute | None:
    """The current attribute that plainly replaced a retired one, where the dictionary shows it:
    the same keyword as a sequence (``OtherPatientIDs`` → ``OtherPatientIDsSequence``) or in its
    ``Long`` form (``VertexPointIndexList`` → ``LongVertexPointIndexList``)."""
    for keyword in (f"{retired.keyword}Sequence", f"Long{retired.keyword}"):
        current = by_keyword(keyword)
        if current is not None and not current.retired:
            return current
    return None


@cache
def private_hex_paths() -> tuple[str, ...]:
    """The lower-case hex tag of every element pydicom's private dictionaries know, each in the
    first private block (``0009xx04`` → ``00091004``): what a ``regex:`` sees of private data."""
    return tuple(sorted({mask.lower().replace("xx", "10", 1)
                         for entries in datadict.private_dictionaries.values()
                         for mask in entries if mask[4:6].lower() == "xx"}))
