"""Layer 2: the input's identifiers searched in every element of its output.

All of an output's text values are joined, lower-cased, into one string, and all of its
undecoded values into one byte string; each identifier is then one ``find`` loop over each, and
a hit is mapped back to its element by bisection.  That is a few dozen searches per file,
whatever the number of elements, instead of one per identifier and element.

A hit counts only as a whole word: the characters around it must not be letters or digits
(for UIDs, not digits or dots either: ``1.2.3`` is not a leak of ``1.2.3.4``, nor ``1.2.3.4``
of ``1.2.3``).  So a surname ``ROSS`` is not found in ``ROSSI``, nor an ID ``12345`` in
``123456``.
"""

from __future__ import annotations

from bisect import bisect_right

from .findings import Finding, finding
from .identifiers import MIN_BYTES_LENGTH, Identifier, attribute_name
from .walk import Value

SEPARATOR = "\0"
_UID_CHARACTERS = frozenset("0123456789.")
_WHOLE_VALUE_SPLIT = str.maketrans({"^": "\\", "=": "\\"})


def residuals(file: str, values: list[Value], found: list[Identifier]) -> list[Finding]:
    """Findings for every output element that holds one of the input's identifiers (one per
    element and input attribute, naming the parts found)."""
    if not found:
        return []
    texts = [value for value in values if value.text]
    binaries = [value for value in values if value.raw]
    # element → [element, kind, identifiers found]; one finding per element
    hits: dict[tuple, list] = {}

    def hit(value: Value, kind: str, identifier: Identifier) -> None:
        earlier = hits.setdefault(value.steps, [value, kind, []])
        if identifier not in earlier[2]:
            earlier[2].append(identifier)
        if kind == "residual-value":
            earlier[1] = kind

    if texts:
        starts, haystack = _joined([value.text.lower() for value in texts], SEPARATOR)
        for identifier in found:
            for index in _occurrences(haystack, identifier.text, identifier.is_uid, str):
                value = texts[bisect_right(starts, index) - 1]
                hit(value, _text_kind(value.text, identifier.text), identifier)
    if binaries:
        starts, haystack = _joined([value.raw.lower() for value in binaries], b"\0")
        for identifier in found:
            if len(identifier.text) < MIN_BYTES_LENGTH:
                continue
            for needle in {identifier.text.encode("utf-8"),
                           identifier.text.encode("latin-1", errors="ignore")}:
                for index in _occurrences(haystack, needle, identifier.is_uid, bytes):
                    hit(binaries[bisect_right(starts, index) - 1], "residual-in-bytes",
                        identifier)
    return [_finding(file, *found) for found in hits.values()]


def _joined(pieces: list, separator):
    starts, offset = [], 0
    for piece in pieces:
        starts.append(offset)
        offset += len(piece) + 1
    return starts, separator.join(pieces)


def _occurrences(haystack, needle, uid: bool, kind):
    """Where ``needle`` occurs in ``haystack`` as a whole word."""
    size = len(needle)
    if not size:
        return
    index = haystack.find(needle)
    while index >= 0:
        before = haystack[index - 1:index] if index else kind()
        after = haystack[index + size:index + size + 1]
        if not (_joins(before, uid) or _joins(after, uid)):
            yield index
        index = haystack.find(needle, index + 1)


def _joins(neighbour, uid: bool) -> bool:
    """Does this character continue the word (so the hit is part of a longer one)?"""
    if not neighbour:
        return False
    if isinstance(neighbour, bytes):
        neighbour = chr(neighbour[0])
    return neighbour.isalnum() or (uid and neighbour in _UID_CHARACTERS)


def _text_kind(text: str, needle: str) -> str:
    """The whole value (or one of its values, or one of a name's components) is the
    identifier, or the identifier is inside a longer text."""
    values = text.lower().translate(_WHOLE_VALUE_SPLIT).split("\\")
    return "residual-value" if any(v.strip(" \0") == needle for v in values) else \
        "residual-in-text"


HOW = {"residual-value": "as its whole value", "residual-in-text": "inside its text",
       "residual-in-bytes": "in its undecoded bytes"}


def _finding(file: str, value: Value, kind: str, found: list[Identifier]) -> Finding:
    """The message names the input attributes and the parts found; ``value`` holds the
    pieces found (lower-case), for ``--show-values``."""
    categories = list(dict.fromkeys(identifier.category for identifier in found))
    sources = list(dict.fromkeys(source for identifier in found
                                 for source in identifier.sources))
    named = ", ".join(f"{attribute} ({part})" if part else attribute
                      for attribute, part in sources)
    return finding(file, kind, f"{attribute_name(value.steps[-1:])} holds the input's "
                               f"{' and '.join(categories)} from {named} {HOW[kind]}",
                   tag=f"{value.tag:08X}", location=value.location,
                   value=", ".join(sorted(identifier.text for identifier in found)))
