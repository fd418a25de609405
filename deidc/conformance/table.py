"""DICOM PS3.15 Table E.1-1, shipped as package data, and the action it requires under options.

Stdlib only: the table is read by plan consumers (conformance, diff, verify) that must not pay
for pydicom.  ``data/table-e1-1.json`` names its edition and sources; it is built by
``scripts/build_conformance_table.py`` and checked against the shared copies by a test.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from types import MappingProxyType

from ..errors import DeidcError

PRIVATE_PATTERN = "ggggeeee"

# The codes an option column can hold, most protective first: when two options in use give one
# attribute different codes, the more protective is required (see required_action).
_OPTION_CODE_STRENGTH = ("X", "Z", "D", "U", "C", "K")

# PS3.15 E.3.6 offers Full Dates and Modified Dates as alternatives: a dataset cannot keep its
# dates and modify them.
EXCLUSIVE_OPTIONS = (("retain-longitudinal-full-dates", "retain-longitudinal-modified-dates"),)


# CID 7050 "De-identification Method" (scheme DCM), the codes PS3.15 E.1.1 asks a de-identifier to
# record in DeidentificationMethodCodeSequence: the Basic Profile's, then each option's (as the
# value set dicom-cid-7050 lists them; Clean Pixel Data 113101 and Clean Recognizable Visual
# Features 113102 have no column in Table E.1-1, since they clean pixels, not attributes).
BASIC_METHOD = ("113100", "Basic Application Confidentiality Profile")
OPTION_METHODS = {
    "retain-safe-private": ("113111", "Retain Safe Private Option"),
    "retain-uids": ("113110", "Retain UIDs Option"),
    "retain-device-identity": ("113109", "Retain Device Identity Option"),
    "retain-institution-identity": ("113112", "Retain Institution Identity Option"),
    "retain-patient-characteristics": ("113108", "Retain Patient Characteristics Option"),
    "retain-longitudinal-full-dates": (
        "113106", "Retain Longitudinal Temporal Information Full Dates Option"),
    "retain-longitudinal-modified-dates": (
        "113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
    "clean-descriptors": ("113105", "Clean Descriptors Option"),
    "clean-structured-content": ("113104", "Clean Structured Content Option"),
    "clean-graphics": ("113103", "Clean Graphics Option"),
}


def methods(options) -> list[tuple[str, str]]:
    """The CID 7050 (code, meaning) pairs of the Basic Profile and ``options``, in table order."""
    return [BASIC_METHOD] + [OPTION_METHODS[name] for name in check_options(options)]


class OptionError(DeidcError, ValueError):
    """Options that name no column of the table, or that cannot be used together."""


@dataclass(frozen=True)
class Row:
    """One row of Table E.1-1.

    ``tag`` is eight upper-case hex digits, or a pattern: lower-case ``x`` for repeating groups
    (``50xxxxxx`` curve data, ``60xx3000``/``60xx4000`` overlays) and ``ggggeeee`` for the row
    that covers every private attribute (odd group).  ``keyword`` is pydicom's, or derived from
    the name for the newest tags pydicom's dictionary lacks (``keyword_source == "name"``).
    ``options`` maps the command-line option name to its code; options without a code for this
    row are absent (the Basic code applies)."""

    tag: str
    keyword: str
    name: str
    basic: str
    options: MappingProxyType = field(compare=False)
    vr: str = ""
    keyword_source: str = "pydicom"
    retired: bool = False
    in_std_comp_iod: bool = False
    since: str = ""

    @property
    def is_private(self) -> bool:
        return self.tag == PRIVATE_PATTERN

    @property
    def is_repeating(self) -> bool:
        return "x" in self.tag

    @property
    def is_sequence(self) -> bool:
        return self.vr == "SQ"

    def matches(self, tag: int) -> bool:
        """Whether the concrete element ``tag`` falls under this row (repeating groups are the
        even groups 5000-501E / 6000-601E, as PS3.5 7.6 defines them)."""
        if self.is_private:
            return bool((tag >> 16) & 1)
        if not self.is_repeating:
            return tag == int(self.tag, 16)
        group, element = tag >> 16, tag & 0xFFFF
        base = int(self.tag[:2], 16) << 8
        if not (base <= group <= base + 0x1E and group % 2 == 0):
            return False
        return self.tag[4:] == "xxxx" or element == int(self.tag[4:], 16)


@cache
def _table() -> dict:
    text = resources.files(__package__).joinpath("data", "table-e1-1.json").read_text("utf-8")
    return json.loads(text)


@cache
def rows() -> tuple[Row, ...]:
    """Every row of the shipped table, in tag order, the private row last."""
    return tuple(Row(tag=r["tag"], keyword=r["keyword"], name=r["name"], basic=r["basic"],
                     options=MappingProxyType(dict(r["options"])), vr=r["vr"],
                     keyword_source=r["keyword_source"], retired=r["retired"],
                     in_std_comp_iod=r["in_std_comp_iod"], since=r["since"])
                 for r in _table()["rows"])


@cache
def by_tag() -> dict[str, Row]:
    """Rows by their ``tag`` string (concrete tags and patterns alike)."""
    return {row.tag: row for row in rows()}


def row_for(tag: int) -> Row | None:
    """The row an element falls under: its own row, else a repeating-group row, else the
    private row for an odd group."""
    exact = by_tag().get(f"{tag:08X}")
    if exact is not None:
        return exact
    for row in rows():
        if (row.is_repeating or row.is_private) and row.matches(tag):
            return row
    return None


def check_options(options) -> tuple[str, ...]:
    """The options in table order; raises :class:`OptionError` for an unknown name or for
    options that exclude each other."""
    chosen = set(options)
    unknown = sorted(chosen - set(OPTIONS))
    if unknown:
        raise OptionError(f"unknown option {', '.join(unknown)}; the options of PS3.15 "
                          f"Table E.1-1 are: {', '.join(OPTIONS)}")
    for first, second in EXCLUSIVE_OPTIONS:
        if first in chosen and second in chosen:
            raise OptionError(f"{first} and {second} are alternatives (PS3.15 E.3.6): choose one")
    return tuple(name for name in OPTIONS if name in chosen)


def required_action(row: Row, options=()) -> str:
    """The code the table requires for ``row`` when ``options`` are in use.

    An option's code replaces the Basic code.  Where two options in use give the row different
    codes (in this table only Retain Device Identity ``K`` against Modified Dates ``C``, on the
    device calibration dates and times), the more protective code is required: keeping a real
    date would break the promise of Modified Dates, while cleaning it keeps the device usable.
    Raises :class:`OptionError` for unknown or exclusive options."""
    codes = {row.options[name] for name in check_options(options) if name in row.options}
    if not codes:
        return row.basic
    return min(codes, key=_OPTION_CODE_STRENGTH.index)


EDITION: str = _table()["edition"]
OPTIONS: tuple[str, ...] = tuple(_table()["options"])
SOURCES: tuple[dict, ...] = tuple(_table()["sources"])
