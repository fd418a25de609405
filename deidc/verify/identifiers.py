"""The identifying values of an input file: what verify searches for in its output.

Which attributes identify comes from PS3.15 Table E.1-1 (:mod:`deidc.conformance.table`): of
the attributes the table says to remove, blank or replace, those that hold a person's name, an
ID or number, a birth date, an address, a phone number, an institution, or an instance UID.
Descriptions and comments (code ``X`` too) are not searched for: they hold words such as
"CHEST" that rightly appear elsewhere; an identifier written inside them is found by the
search for the identifier itself.

Each value is cut into the pieces a leak would show: a person's name into its components and
their words (a surname alone inside a description is a leak), an address into its lines, a
birth date into the ways people write dates, a phone number also as bare digits.  Pieces that
would match everywhere are not searched for, and verify says how many it left out and why
(:data:`IGNORED_BECAUSE`): shorter than :data:`MIN_LENGTH` characters, bare numbers of fewer
than :data:`MIN_DIGITS` digits, words such as ``DR`` or ``VAN`` (:data:`COMMON_WORDS`), and
values the plan itself writes.
"""

from __future__ import annotations

import re
from collections import Counter, namedtuple
from functools import cache

from ..conformance import table
from ..profile import dictionary

MIN_LENGTH = 3  # characters
MIN_BYTES_LENGTH = 4  # in undecoded bytes, where 3 letters occur by chance in a few KB
MIN_DIGITS = 5  # a bare number shorter than this is a count, a size, an instance number
COMMON_WORDS = frozenset("""
    mr mrs ms miss mx dr prof sir jr sr ii iii iv md phd rn van von der den de del della di
    da du la le el al bin ben ter the and of anonymous anon unknown none null patient test
    removed deidentified redacted""".split())
IGNORED_BECAUSE = {
    "short": f"shorter than {MIN_LENGTH} characters",
    "number": f"a bare number of fewer than {MIN_DIGITS} digits",
    "common": "a common word or placeholder",
    "plan": "a value the plan itself writes",
}
PN_PARTS = ("family name", "given name", "middle name", "name prefix", "name suffix")
_ID_KEYWORD = re.compile(r"(ID|IDs|Number|Numbers)$")
_TEXT_VRS = ("LO", "SH", "UC", "CS", "LT", "ST", "UT")
_ADDRESS_LINES = re.compile(r"[\^\\\r\n,;]+")
_DIGITS = re.compile(r"\D+")
_NAME_WORDS = re.compile(r"[\s^=\\]+")


class Identifier(namedtuple("Identifier", "text category sources")):
    """A piece of the input's values to search for: ``text`` lower-case; ``category`` what
    kind of identifier; ``sources`` the input attributes that hold it, nearest the top first,
    each as (keywords through sequences, which piece: ``family name``, or ``""`` for the whole
    value)."""

    __slots__ = ()
    text: str
    category: str
    sources: tuple[tuple[str, str], ...]

    @property
    def is_uid(self) -> bool:
        return self.category == "UID"


@cache
def category(tag: int) -> str | None:
    """What kind of identifier the attribute ``tag`` holds, or ``None``."""
    row = table.by_tag().get(f"{tag:08X}")
    if row is None or row.vr == "SQ" or not set(row.basic) & set("XZDU"):
        return None
    keyword, vr = row.keyword, row.vr
    if vr == "PN":
        return "person name"
    if keyword == "PatientBirthDate":
        return "birth date"
    if vr == "UI":
        return "UID" if "U" in row.basic else None
    if "Address" in keyword or keyword.endswith("Residence"):
        return "address"
    if "Telephone" in keyword or "Phone" in keyword:
        return "phone number"
    if keyword.startswith("IssuerOf") or "Institution" in keyword:
        return "institution"
    if vr in _TEXT_VRS and _ID_KEYWORD.search(keyword):
        return "ID"
    return None


def pieces(kind: str, text: str) -> list[tuple[str, str]]:
    """(part, piece) of one value of an attribute of category ``kind``."""
    found: list[tuple[str, str]] = []
    for value in text.split("\\"):
        value = value.strip(" \0")
        if not value:
            continue
        if kind == "person name":
            for group in value.split("="):
                for part, component in zip(PN_PARTS, group.split("^")):
                    found += [(part, word) for word in component.split()]
        elif kind == "birth date":
            found += [("", date) for date in date_spellings(value)]
        elif kind == "address":
            found += [("", line.strip()) for line in _ADDRESS_LINES.split(value) if line.strip()]
        elif kind == "phone number":
            found.append(("", value))
            digits = _DIGITS.sub("", value)
            if digits != value and len(digits) >= 7:
                found.append(("digits", digits))
        else:
            found.append(("", value))
    return found


def date_spellings(value: str) -> list[str]:
    """A DA value as people write it: ``19800131``, ``1980-01-31``, ``31/01/1980``, ..."""
    if not (len(value) == 8 and value.isdigit()):
        return [value]
    year, month, day = value[:4], value[4:6], value[6:]
    return [value, *(f"{year}{s}{month}{s}{day}" for s in "-/."),
            *(f"{day}{s}{month}{s}{year}" for s in "/.-"), f"{month}/{day}/{year}"]


def why_ignored(piece: str, kind: str, plan_values: frozenset[str]) -> str | None:
    """The key of :data:`IGNORED_BECAUSE` that leaves ``piece`` out, or ``None``."""
    lowered = piece.lower()
    if lowered in plan_values:
        return "plan"
    if len(piece) < MIN_LENGTH:
        return "short"
    if kind not in ("UID", "birth date") and piece.isdigit() and len(piece) < MIN_DIGITS:
        return "number"
    if lowered in COMMON_WORDS:
        return "common"
    return None


def attribute_name(steps) -> str:
    """``OtherPatientIDsSequence > PatientID``: keywords (or tags) of the element's path."""
    names = []
    for tag in steps[::2]:
        known = dictionary.attribute(tag)
        names.append(known.keyword if known and known.keyword else dictionary.tag_text(tag))
    return " > ".join(names)


def identifiers(values, plan_values: frozenset[str] = frozenset()
                ) -> tuple[list[Identifier], Counter]:
    """The identifiers among an input's walked values (:func:`deidc.verify.walk.walk`), one
    per distinct piece, and a count of the pieces left out by (attribute, part, reason)."""
    found: dict[str, list] = {}  # piece → [category, {source: depth}]
    ignored: Counter = Counter()
    for value in values:
        kind = category(value.tag)
        if kind is None or not value.text:
            continue
        attribute = None
        for part, piece in pieces(kind, value.text):
            if attribute is None:
                attribute = attribute_name(value.steps)
            reason = why_ignored(piece, kind, plan_values)
            if reason is not None:
                ignored[(attribute, part, reason)] += 1
                continue
            entry = found.setdefault(piece.lower(), [kind, {}])
            entry[1].setdefault((attribute, part), len(value.steps))
    return [Identifier(text, kind, tuple(sorted(sources, key=sources.get)))
            for text, (kind, sources) in found.items()], ignored


def plan_written_values(plan) -> frozenset[str]:
    """The values (and their words) the plan's replace actions write, lower-case: an input
    that already held one is not a leak when the output holds it."""
    written = set()
    for entry in plan.entries:
        for action in entry.actions:
            if action.op == "replace" and action.args.get("value") is not None:
                value = action.args["value"]
                for item in value if isinstance(value, list) else [value]:
                    text = str(item).strip().lower()
                    written.add(text)
                    written.update(_NAME_WORDS.split(text))
    written.discard("")
    return frozenset(written)
