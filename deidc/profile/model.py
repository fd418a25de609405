"""The typed profile model: what a Flywheel de-id profile says, with where it says it.

Building the model is lenient on purpose: a profile with schema errors still yields every rule
that can be understood, so lint can report all problems in one run.  Values keep the JSON pointer
they came from; :class:`deidc.profile.source.Source` turns pointers into line:column.

The model is syntax only.  Whether a keyword exists, which tag it is, what VR it has: that is the
data dictionary's business (:mod:`deidc.profile.dictionary`), asked by lint and the compiler.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from .source import Source, escape

# The order in which Flywheel picks the one action a rule applies when it has several keys.
ACTION_ORDER = ("identity", "keep", "remove", "replace-with", "hash", "hashuid",
                "increment-date", "jitter", "increment-datetime", "regex-sub",
                "encrypt", "decrypt")
BOOLEAN_ACTIONS = frozenset({"identity", "keep", "remove", "hash", "hashuid", "jitter",
                             "increment-date", "increment-datetime", "encrypt", "decrypt"})
FIELD_OPTIONS = ("replace-with-insert", "date-format", "datetime-format",
                 "date-increment-override", "jitter-date", "jitter-range", "jitter-unit",
                 "jitter-type", "jitter-min", "jitter-max", "datetime-min", "datetime-max",
                 "force-nonce")
FILE_TYPE_SECTIONS = ("dicom", "filename", "json", "key-value-text-file", "nifti", "zip", "jpg",
                      "png", "csv", "tsv", "table", "tiff", "xml")

# The DICOM section options with Flywheel's defaults.
DICOM_DEFAULTS: dict[str, object] = {
    "date-increment": None,
    "date-format": "%Y%m%d",
    "datetime-format": "%Y%m%d%H%M%S.%f",
    "salt": None,
    "hash-digits": 16,
    "uid-prefix-fields": 4,
    "uid-suffix-fields": 1,
    "uid-numeric-name": None,
    "jitter-range": 2,
    "jitter-type": "float",
    "replace-with-insert": True,
    "remove-private-tags": False,
    "remove-undefined": False,
    "recurse-sequence": False,
    "patient-age-from-birthdate": False,
    "patient-age-units": None,
    "decode": True,
    "file-filter": None,
    "enforce-file-filter": None,
    "secret-key": None,
}

SelectorKind = Literal["keyword", "tag", "private", "repeater", "nested", "regex", "invalid"]

_KEYWORD = re.compile(r"[A-Za-z][A-Za-z0-9]*\Z")
_HEX = re.compile(r"(0x)?([0-9A-Fa-f]{8})\Z")
_TUPLE = re.compile(r"\(\s*([0-9A-Fa-f]{4})\s*,\s*([0-9A-Fa-f]{4})\s*\)")
_PRIVATE = re.compile(r"\(\s*([0-9A-Fa-f]{4})\s*,\s*(\"?)([^\"]*?)\2\s*,\s*([0-9A-Fa-f]+)\s*\)\s*\Z")
_REPEATER = re.compile(r"(?:\(\s*)?(50|60)[xX]{2}\s*,?\s*([0-9A-Fa-f]{4})(?:\s*\))?\Z")


@dataclass(frozen=True)
class Selector:
    """What a rule's ``name`` (or ``regex``) points at, parsed but not yet resolved.

    ``kind`` says which notation was used.  ``keyword`` is set for keyword selectors, ``tag`` for
    hex and ``(gggg,eeee)`` forms, ``group``/``creator``/``offset`` for the private form,
    ``steps`` for nested paths (each step a Selector or an index: an int or ``"*"``), ``pattern``
    for regexes.  ``problem`` says why a selector is ``invalid``.
    """

    kind: SelectorKind
    text: str
    keyword: str | None = None
    tag: int | None = None
    group: int | None = None
    creator: str | None = None
    offset: int | None = None
    steps: tuple = ()
    pattern: str | None = None
    problem: str | None = None

    def __str__(self) -> str:
        return self.text


def parse_selector(text: str) -> Selector:
    """Parse a ``name:`` value the way Flywheel's notations are defined."""
    stripped = text.strip()
    if (match := _PRIVATE.fullmatch(stripped)) is not None:
        group, _, creator, offset = match.groups()
        if len(offset) != 2:
            return Selector("invalid", text, group=int(group, 16), creator=creator,
                            problem="private element offset must be exactly 2 hex digits")
        return Selector("private", text, group=int(group, 16), creator=creator,
                        offset=int(offset, 16))
    if (match := _REPEATER.fullmatch(stripped)) is not None:
        base = int(match.group(1) + "00" + match.group(2), 16)
        return Selector("repeater", text, tag=base)
    if (match := _HEX.fullmatch(stripped)) is not None and not stripped.startswith("0X"):
        return Selector("tag", text, tag=int(match.group(2), 16))
    if (match := _TUPLE.match(stripped)) is not None:
        return Selector("tag", text, tag=int(match.group(1) + match.group(2), 16))
    if "." in stripped:
        return _parse_nested(text, stripped)
    if _KEYWORD.fullmatch(stripped):
        return Selector("keyword", text, keyword=stripped)
    return Selector("invalid", text, problem="not a keyword, tag, private tag or nested path")


def _parse_nested(text: str, stripped: str) -> Selector:
    parts = stripped.split(".")
    steps: list = []
    for position, part in enumerate(parts):
        if position % 2 == 1:
            if part == "*":
                steps.append("*")
            elif part.isdigit():
                steps.append(int(part))
            else:
                return Selector("invalid", text, problem=(
                    f"nested path step {part!r} must be an item index or '*' "
                    "(write Sequence.0.Keyword)"))
        else:
            step = parse_selector(part)
            if step.kind not in ("keyword", "tag"):
                return Selector("invalid", text, problem=f"{part!r} is not a keyword or tag")
            steps.append(step)
    if len(steps) % 2 == 0:
        return Selector("invalid", text, problem="a nested path must end with an element")
    return Selector("nested", text, steps=tuple(steps))


@dataclass(frozen=True)
class FieldRule:
    """One entry of ``dicom.fields``."""

    index: int
    pointer: str
    selector: Selector | None
    actions: tuple[tuple[str, object], ...]  # every action key present, in profile order
    options: dict = field(default_factory=dict, compare=False, hash=False)
    raw: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def action(self) -> str | None:
        """The one action Flywheel applies: the first present in its fixed order."""
        present = {key for key, _ in self.actions}
        return next((key for key in ACTION_ORDER if key in present), None if self.actions
                    else ("keep" if self.selector and self.selector.kind != "regex" else None))

    @property
    def action_value(self) -> object:
        return dict(self.actions).get(self.action, True)

    @property
    def selector_pointer(self) -> str:
        return f"{self.pointer}/{'regex' if 'regex' in self.raw else 'name'}"

    def action_pointer(self, key: str | None = None) -> str:
        key = key or self.action
        return f"{self.pointer}/{escape(key)}" if key in self.raw else self.pointer


@dataclass(frozen=True)
class DicomSection:
    pointer: str
    options: dict  # only the options written in the profile
    fields: tuple[FieldRule, ...]

    def option(self, key: str) -> object:
        return self.options.get(key, DICOM_DEFAULTS.get(key))


@dataclass(frozen=True)
class Profile:
    """One de-id profile.  ``pointer`` is where it sits in its file ('' unless the file holds
    several, as an ingest config's ``deid-profiles`` list does)."""

    source: Source
    pointer: str
    data: dict
    dicom: DicomSection | None

    @property
    def name(self) -> str | None:
        value = self.data.get("name")
        return value if isinstance(value, str) else None

    @property
    def path(self) -> str:
        return self.source.path

    @property
    def fields(self) -> tuple[FieldRule, ...]:
        return self.dicom.fields if self.dicom else ()


def profiles_in(source: Source) -> list[Profile]:
    """The profiles a loaded file holds: one mapping, a YAML list of profiles, or the
    ``deid-profiles:`` list of an ingest config."""
    data = source.data
    if isinstance(data, dict) and isinstance(data.get("deid-profiles"), list):
        return [build_profile(source, item, f"/deid-profiles/{i}")
                for i, item in enumerate(data["deid-profiles"]) if isinstance(item, dict)]
    if isinstance(data, list):
        return [build_profile(source, item, f"/{i}")
                for i, item in enumerate(data) if isinstance(item, dict)]
    if isinstance(data, dict):
        return [build_profile(source, data, "")]
    return []


def build_profile(source: Source, data: dict, pointer: str) -> Profile:
    section = data.get("dicom")
    dicom = None
    if isinstance(section, dict):
        section_pointer = f"{pointer}/dicom"
        raw_fields = section.get("fields")
        rules = []
        if isinstance(raw_fields, list):
            for index, raw in enumerate(raw_fields):
                if isinstance(raw, dict):
                    rules.append(_build_rule(index, f"{section_pointer}/fields/{index}", raw))
        options = {key: value for key, value in section.items() if key != "fields"}
        dicom = DicomSection(section_pointer, options, tuple(rules))
    return Profile(source, pointer, data, dicom)


def _build_rule(index: int, pointer: str, raw: dict) -> FieldRule:
    selector = None
    if "regex" in raw and isinstance(raw["regex"], str):
        selector = Selector("regex", raw["regex"], pattern=raw["regex"])
    elif "name" in raw:
        name = raw["name"]
        if isinstance(name, str):
            selector = parse_selector(name)
        else:
            selector = Selector("invalid", str(name), problem=f"name is a {type(name).__name__}, "
                                "not a string")
    actions = tuple((key, value) for key, value in raw.items() if key in ACTION_ORDER)
    options = {key: value for key, value in raw.items() if key in FIELD_OPTIONS}
    return FieldRule(index, pointer, selector, actions, options, dict(raw))
