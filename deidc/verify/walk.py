"""Every element of a DICOM file, at every depth, with its value as text or as raw bytes.

Verify reads each file with pydicom once and walks it without converting its elements to
pydicom's value types (which costs more than reading the file): text values are decoded from
their raw bytes with the dataset's character set, everything else is kept as bytes.  Sequences
are the exception: their items must be parsed to be walked.  Pixel data are not walked (they
are compared byte for byte with the input's instead, see :mod:`deidc.verify.pair`).
"""

from __future__ import annotations

import warnings
from collections import namedtuple
from functools import cache

from ..execute.dataset import dictionary_vr, element_is_sequence
from ..execute.dicom import BINARY_NUMBERS, SPECIFIC_CHARACTER_SET, STRING_VRS
from ..plan import targets

PIXEL_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})  # float, double, pixel data
# Binary numbers cannot hold text; OB, OW, UN and unknown VRs can, and are searched as bytes.
BINARY_NUMBER_VRS = frozenset(BINARY_NUMBERS) | {"AT"}
ESCAPE = b"\x1b"  # ISO 2022 code extensions: left to pydicom's decoder


class Value(namedtuple("Value", "steps tag vr text raw")):
    """One element: ``steps`` are the tags and item indices from the top (the element's own
    tag last); ``text`` its decoded value (text VRs), else ``raw`` its bytes (None for binary
    numbers, which hold no text)."""

    __slots__ = ()
    steps: tuple
    tag: int
    vr: str
    text: str | None
    raw: bytes | None

    @property
    def location(self) -> str:
        return location(self.steps)


def location(steps) -> str:
    """The element's path in the plan's target grammar (``00081115.0.00081155``)."""
    return targets.path(targets.tag(step) if place % 2 == 0 else step
                        for place, step in enumerate(steps))


class Malformed(ValueError):
    """A file pydicom reads without complaint that is not whole DICOM (cut short, say)."""


def read(path: str, strict: bool = False):
    """The whole file as pydicom reads it (raises whatever pydicom raises: the caller says
    which file could not be read).  ``strict``: also raise :class:`Malformed` if the file's
    elements do not follow each other to its end, which pydicom does not check: it reads a
    file cut short as one with fewer elements, or a shorter last value."""
    import io

    import pydicom

    with open(path, "rb") as handle:
        data = handle.read()
    if strict:
        problem = structure_problem(data)
        if problem:
            raise Malformed(problem)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(io.BytesIO(data))


def structure_problem(data: bytes) -> str | None:
    """Why the top-level elements of ``data`` do not tile it to its end, or ``None`` (also
    for the transfer syntaxes the stream reader leaves to pydicom: big endian, deflated)."""
    from ..execute.stream import IMPLICIT_LITTLE, Unsupported, read_element, read_layout

    try:
        layout = read_layout(data, len(data))
    except Unsupported:
        return None
    sequences = _sequences() if layout.transfer_syntax == IMPLICIT_LITTLE else None
    offset = layout.body
    try:
        while offset < len(data):
            offset = read_element(data, offset, len(data), sequences).end
    except Unsupported as exc:
        return str(exc)
    return None


@cache
def _sequences() -> frozenset[int]:
    from ..profile.dictionary import sequence_tags

    return frozenset(int(tag, 16) for tag in sequence_tags())


def walk(ds) -> list[Value]:
    """The file meta's elements, then the dataset's, depth first."""
    values: list[Value] = []
    meta = getattr(ds, "file_meta", None)
    if meta is not None:
        _walk(meta, (), "latin_1", values)
    _walk(ds, (), _encoding(ds, "latin_1"), values)
    return values


def _walk(ds, prefix: tuple, encoding: str, values: list[Value]) -> None:
    for tag, element in list(ds.items()):
        tag = int(tag)
        if tag in PIXEL_TAGS:
            continue
        if element_is_sequence(element, tag):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                items = ds[tag].value
            for index, item in enumerate(items):
                _walk(item, (*prefix, tag, index), _encoding(item, encoding), values)
            continue
        # An implicit VR file names no VR: public elements have the dictionary's, private
        # ones stay undecoded bytes.
        vr = element.VR or (None if tag >> 16 & 1 else dictionary_vr(tag)) or "UN"
        value = element.value
        steps = (*prefix, tag)
        if vr in STRING_VRS:
            if isinstance(value, bytes):
                text = _decode(ds, tag, value, encoding)
            else:
                text = None if value is None else _as_text(value)
            values.append(Value(steps, tag, vr, text, None))
        elif vr not in BINARY_NUMBER_VRS:
            values.append(Value(steps, tag, vr, None, value if isinstance(value, bytes)
                                else None))


def _as_text(value) -> str:
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return "\\".join(str(item) for item in value)
    return str(value)


def _decode(ds, tag: int, raw: bytes, encoding: str) -> str:
    if ESCAPE in raw:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _as_text(ds[tag].value)
    return raw.decode(encoding, errors="replace")


def _encoding(ds, inherited: str) -> str:
    """The Python codec of a dataset's SpecificCharacterSet (its first, for ISO 2022 sets,
    whose escapes :func:`_decode` leaves to pydicom); an item without one inherits it."""
    element = ds.get_item(SPECIFIC_CHARACTER_SET)
    if element is None:
        return inherited
    from pydicom.charset import convert_encodings

    value = element.value
    if isinstance(value, bytes):
        value = value.decode("ascii", errors="replace")
    names = [name.strip() for name in (value.split("\\") if isinstance(value, str)
                                       else list(value))] or [""]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        codec = convert_encodings(names)[0]
    return "latin_1" if codec == "iso8859" else codec
