"""Just enough of the DICOM file format to walk a file's elements without pydicom.

The fast path (:mod:`deidc.execute.fast`) needs the position and extent of every element, not its
value: it copies untouched elements byte for byte and decodes only what the plan changes.  This
module parses the file meta group and the element headers of explicit VR little endian datasets
(the encoding of nearly every file in the wild, encapsulated pixel data included) and of implicit
VR little endian ones (DICOM networking's default syntax, so archives filled by C-STORE hold many),
and raises :class:`Unsupported` for anything else, which sends the file to the Dataset path.

An implicit VR element does not say what it is: the reader is given the tags the dictionary makes
sequences (the plan carries them) and tells pydicom's way which elements are sequences; every
other element's VR is ``b"UN"`` until the walk, which knows the VRs of what the plan changes,
says otherwise.
"""

from __future__ import annotations

import struct
from collections import namedtuple

from .outcome import ExecutionError
from .dicom import (DELIMITER_GROUP, FILE_META_GROUP, ITEM, ITEM_END, LONG_HEADER_VRS, LONG_LENGTH,
                    MAX_SEQUENCE_DEPTH, NESTING_LEVEL_BYTES, PIXEL_DATA, SEQUENCE_END,
                    SHORT_HEADER, TAG_LENGTH, TRANSFER_SYNTAX_UID, UNDEFINED_LENGTH)

IMPLICIT_LITTLE = "1.2.840.10008.1.2"
EXPLICIT_LITTLE = "1.2.840.10008.1.2.1"
# Explicit VR little endian datasets: uncompressed, and the standard encapsulated syntaxes
# (JPEG, JPEG-LS, JPEG 2000, MPEG, HTJ2K, RLE).  Anything else, private syntaxes included, goes
# to the Dataset path.
SUPPORTED_SYNTAXES = frozenset(
    [IMPLICIT_LITTLE, EXPLICIT_LITTLE, "1.2.840.10008.1.2.5"]
    + [f"1.2.840.10008.1.2.4.{n}" for n in (50, 51, 57, 70, 80, 81, 90, 91, 92, 93, 94, 95,
                                             100, 101, 102, 103, 104, 105, 106, 107, 108,
                                             201, 202, 203)])
# Left to the Dataset path on purpose (rare, and pydicom's re-encoding is the reference there).
DATASET_PATH_SYNTAXES = {"1.2.840.10008.1.2.2": "explicit VR big endian, retired",
                         "1.2.840.10008.1.2.1.99": "deflated"}
UNKNOWN_VR = b"UN"

# The header bytes hold the VR as bytes: compare with bytes, not by decoding every header.
LONG_VRS = frozenset(vr.encode() for vr in LONG_HEADER_VRS)


class Unsupported(Exception):
    """The file needs something the fast path does not do; the reason is shown in --verbose."""


class Cut(Unsupported):
    """A value, header or item runs past ``limit``: for the walk, something to hand to the
    Dataset path; when ``limit`` is the end of the file, the file is truncated (``missing``:
    how many bytes at least are missing)."""

    def __init__(self, reason: str, missing: int):
        super().__init__(reason)
        self.missing = missing


class TooDeep(Unsupported):
    """Sequences nest deeper than ``MAX_SEQUENCE_DEPTH``: the fast path hands the file over,
    and :func:`check_whole` refuses it for the Dataset path, so both paths fail it alike."""

    def __init__(self, offset: int):
        super().__init__(f"sequences nested more than {MAX_SEQUENCE_DEPTH} levels deep (at "
                         f"byte {offset}); real files nest a few levels, so this one is "
                         "broken or made to exhaust a reader")


class Element(namedtuple("Element", "tag vr start value length end")):
    """Where one element is in the buffer.  ``length`` is the value length as written
    (``UNDEFINED_LENGTH`` for undefined-length sequences and encapsulated pixel data); ``end`` is
    the offset just past the whole element, delimiters included.  (A named tuple: the walk makes
    one for every element it looks at, and a tuple is the cheapest record Python has.)"""

    __slots__ = ()
    tag: int
    vr: bytes
    start: int
    value: int
    length: int
    end: int


def read_element(buffer, offset: int, limit: int, sequences=None, depth: int = 0) -> Element:
    """The explicit VR little endian element at ``offset``; with ``sequences`` (the tags the
    dictionary makes sequences), the implicit VR little endian one.  ``depth``: how many
    sequences hold it, counted from where the caller's walk started."""
    if sequences is not None:
        return read_implicit_element(buffer, offset, limit, sequences, depth)
    if offset + 8 > limit:
        raise Cut(f"truncated element header at byte {offset}", offset + 8 - limit)
    group, number, vr, short = SHORT_HEADER.unpack_from(buffer, offset)
    tag = group << 16 | number
    if group == DELIMITER_GROUP:
        raise Unsupported(f"unexpected delimiter ({group:04X},{number:04X}) at byte {offset}")
    if vr in LONG_VRS:
        if short:
            raise Unsupported(f"reserved bytes set in the header of {tag:08X}")
        if offset + 12 > limit:
            raise Cut(f"truncated element header at byte {offset}", offset + 12 - limit)
        length = LONG_LENGTH.unpack_from(buffer, offset + 8)[0]
        value = offset + 12
    elif vr.isalpha() and vr.isupper():
        length = short
        value = offset + 8
    else:
        raise Unsupported(f"not an explicit VR at byte {offset} (tag {tag:08X})")
    if length == UNDEFINED_LENGTH:
        if vr not in (b"SQ", b"OB", b"UN") and not (tag == PIXEL_DATA and vr == b"OW"):
            raise Unsupported(f"undefined length on {vr.decode()} element {tag:08X}")
        # an undefined-length UN is a sequence whose items are implicit VR (PS3.5 6.2.2)
        end = skip_undefined(buffer, value, limit, vr == b"UN", depth + 1)
    else:
        end = _defined_end(tag, value, length, limit)
    element = Element(tag, vr, offset, value, length, end)
    if vr == (b"UN" if length == UNDEFINED_LENGTH else b"SQ"):
        # skip_undefined bounded an undefined SQ's nesting, but it jumps the defined lengths
        # of a UN's implicit VR items, and nothing has looked inside a defined-length SQ
        check_depth(buffer, element, limit, False, depth)
    return element


def _defined_end(tag: int, value: int, length: int, limit: int) -> int:
    """Offset just past a defined-length value, which must fit before ``limit`` and be even."""
    end = value + length
    if end > limit:
        raise Cut(f"element {tag:08X} runs past the end of the file", end - limit)
    if length % 2:
        raise Unsupported(f"odd length {length} of element {tag:08X}")
    return end


ITEM_START = struct.pack("<HH", ITEM >> 16, ITEM & 0xFFFF)


def may_hold_items(buffer, value: int, length: int) -> bool:
    """Whether a UN value may be a sequence.  A system that did not know an SQ attribute stores
    it as UN with its items in implicit VR (PS3.5 6.2.2), and pydicom reads it back as a
    sequence: always when its length is undefined, otherwise when its dictionary says SQ.  The
    fast path has no dictionary: an empty value, or one starting with an item, may be one."""
    return length == UNDEFINED_LENGTH or not length or \
        bytes(buffer[value:value + 4]) == ITEM_START


def check_no_un_sequence(buffer, element: Element, limit: int) -> None:
    """Raise Unsupported if a sequence about to be copied whole holds, at any depth, a UN value
    that may be a sequence: pydicom rewrites those as SQ even in items no rule touches.
    Explicit VR elements hold their VR as bytes: without ``UN`` anywhere in the sequence, none
    of its elements is UN (walking them was 13 % of a Penn BSC profile's walk)."""
    if buffer.find(b"UN", element.value, element.end) < 0:
        return
    for _, value, length, end in items(buffer, element, limit):
        offset, stop = value, end - 8 if length == UNDEFINED_LENGTH else end
        while offset < stop:
            inner = read_element(buffer, offset, stop)
            if inner.vr == b"UN" and may_hold_items(buffer, inner.value, inner.length):
                raise Unsupported(f"{inner.tag:08X} stored as UN in {element.tag:08X} may be "
                                  "a sequence of implicit VR items")
            if inner.vr == b"SQ":
                check_no_un_sequence(buffer, inner, limit)
            offset = inner.end


def read_implicit_element(buffer, offset: int, limit: int, sequences, depth: int = 0) -> Element:
    """The implicit VR little endian element at ``offset``, its VR ``b"SQ"`` where pydicom reads
    a sequence (a dictionary sequence; with an undefined length, a private element whose value
    starts with an item), ``UNKNOWN_VR`` otherwise.  Other undefined lengths, which pydicom
    reads by searching for a delimiter's bytes, are declined."""
    if offset + 8 > limit:
        raise Cut(f"truncated element header at byte {offset}", offset + 8 - limit)
    group, number, length = TAG_LENGTH.unpack_from(buffer, offset)
    tag = group << 16 | number
    if group == DELIMITER_GROUP:
        raise Unsupported(f"unexpected delimiter ({group:04X},{number:04X}) at byte {offset}")
    value = offset + 8
    if length == UNDEFINED_LENGTH:
        if tag not in sequences and not (group & 1 and value + 8 <= limit and
                                         TAG_LENGTH.unpack_from(buffer, value)[:2] ==
                                         (ITEM >> 16, ITEM & 0xFFFF)):
            raise Unsupported(f"undefined length on element {tag:08X}, not a sequence")
        element = Element(tag, b"SQ", offset, value, length,
                          skip_undefined(buffer, value, limit, True, depth + 1))
    else:
        end = _defined_end(tag, value, length, limit)
        if tag not in sequences:
            return Element(tag, UNKNOWN_VR, offset, value, length, end)
        element = Element(tag, b"SQ", offset, value, length, end)
    # (skip_undefined jumps the defined lengths of implicit VR items)
    check_depth(buffer, element, limit, True, depth)
    return element


def skip_undefined(buffer, offset: int, limit: int, implicit: bool = False,
                   depth: int = 1) -> int:
    """Offset just past the sequence delimiter of an undefined-length value starting at
    ``offset`` (items of a sequence, or fragments of encapsulated pixel data); ``implicit``:
    the items' elements are implicit VR; ``depth``: the sequence's own (see read_element),
    which bounds the recursion through nested undefined lengths."""
    if depth > MAX_SEQUENCE_DEPTH:
        raise TooDeep(offset)
    while True:
        if offset + 8 > limit:
            raise Cut("undefined-length value without its delimiter", offset + 8 - limit)
        group, number, length = TAG_LENGTH.unpack_from(buffer, offset)
        tag = group << 16 | number
        offset += 8
        if tag == SEQUENCE_END:
            if length:
                raise Unsupported("sequence delimiter with a non-zero length")
            return offset
        if tag != ITEM:
            raise Unsupported(f"expected an item, found ({group:04X},{number:04X})")
        offset = skip_item(buffer, offset, length, limit, implicit, depth)


def skip_item(buffer, offset: int, length: int, limit: int, implicit: bool = False,
              depth: int = 1) -> int:
    """Offset just past an item whose value starts at ``offset`` (``depth``: its sequence's)."""
    if length != UNDEFINED_LENGTH:
        if offset + length > limit:
            raise Cut("item runs past the end of the file", offset + length - limit)
        return offset + length
    while True:
        if offset + 8 > limit:
            raise Cut("undefined-length item without its delimiter", offset + 8 - limit)
        group, number, length = TAG_LENGTH.unpack_from(buffer, offset)
        if (group << 16 | number) == ITEM_END:
            if length:
                raise Unsupported("item delimiter with a non-zero length")
            return offset + 8
        if not implicit:
            offset = read_element(buffer, offset, limit, None, depth).end
        elif length == UNDEFINED_LENGTH:
            offset = skip_undefined(buffer, offset + 8, limit, True, depth + 1)
        else:
            offset += 8 + length


def items(buffer, element: Element, limit: int, implicit: bool = False):
    """(start, value, length, end) of each item of a sequence element: ``value`` is where the
    item's dataset starts, ``length`` its declared length, ``end`` past its delimiter."""
    offset = element.value
    stop = element.end if element.length != UNDEFINED_LENGTH else limit
    while offset < stop:
        group, number, length = TAG_LENGTH.unpack_from(buffer, offset)
        tag = group << 16 | number
        if tag == SEQUENCE_END:
            return
        if tag != ITEM:
            raise Unsupported(f"expected an item in {element.tag:08X}, found {tag:08X}")
        end = skip_item(buffer, offset + 8, length, limit, implicit)
        yield offset, offset + 8, length, end
        offset = end


def check_depth(buffer, element: Element, limit: int, implicit: bool, depth: int = 0) -> None:
    """Raise :class:`TooDeep` if sequences nest deeper than ``MAX_SEQUENCE_DEPTH`` in
    ``element``, held by ``depth`` sequences, if it is a sequence or may be one, whatever the
    lengths inside: skip_undefined bounds nested undefined lengths only, and a defined-length
    sequence the walk jumps over is still read level by level by pydicom.  Without recursion,
    and only into values long enough to hold the levels still allowed
    (``NESTING_LEVEL_BYTES``), so real files cost next to nothing; what is malformed is left to
    the readers to report."""
    if element.end - element.value < (MAX_SEQUENCE_DEPTH - depth) * NESTING_LEVEL_BYTES or \
            not _may_nest(buffer, element.vr, element.value, element.length, implicit):
        return
    # frames: (True: a sequence's items, False: an item's elements), where it ends at the
    # latest, and whether its elements are implicit VR
    frames = [(True, element.end, implicit or element.vr == b"UN")]
    depth, offset = depth + 1, element.value  # depth: the sequences on the stack
    while frames:
        in_sequence, end, implicit = frames[-1]
        if offset >= end:
            frames.pop()
            depth -= in_sequence
            continue
        if offset + 8 > end:
            return
        group, number, length = TAG_LENGTH.unpack_from(buffer, offset)
        tag = group << 16 | number
        if in_sequence or tag == ITEM_END:
            offset += 8
            if tag in (SEQUENCE_END, ITEM_END):
                frames.pop()
                depth -= in_sequence
            elif tag != ITEM:
                return
            elif length == UNDEFINED_LENGTH:
                frames.append((False, end, implicit))
            elif length >= (MAX_SEQUENCE_DEPTH - depth) * NESTING_LEVEL_BYTES:
                frames.append((False, offset + length, implicit))
            else:
                offset += length  # too short to hold the levels still allowed
            continue
        vr, value = UNKNOWN_VR, offset + 8
        if not implicit:
            vr = bytes(buffer[offset + 4:offset + 6])
            if vr in LONG_VRS:
                if offset + 12 > end:
                    return
                length, value = LONG_LENGTH.unpack_from(buffer, offset + 8)[0], offset + 12
            else:
                length = SHORT_HEADER.unpack_from(buffer, offset)[3]
        nested = _may_nest(buffer, vr, value, length, implicit)
        if nested and depth >= MAX_SEQUENCE_DEPTH:
            raise TooDeep(offset)
        if nested and (length == UNDEFINED_LENGTH or
                       length >= (MAX_SEQUENCE_DEPTH - depth) * NESTING_LEVEL_BYTES):
            frames.append((True, end if length == UNDEFINED_LENGTH else value + length,
                           implicit or vr == b"UN"))
            depth += 1
            offset = value
        elif length == UNDEFINED_LENGTH:  # encapsulated pixel data (an icon's), or broken
            try:
                offset = skip_undefined(buffer, value, end, implicit, depth + 1)
            except TooDeep:
                raise
            except Unsupported:
                return
        else:
            offset = value + length


def _may_nest(buffer, vr: bytes, value: int, length: int, implicit: bool) -> bool:
    """Whether pydicom may read an element as a sequence (an implicit VR one: with an undefined
    length, or a value starting with an item)."""
    if vr == b"SQ":
        return True
    if implicit:
        return length == UNDEFINED_LENGTH or bytes(buffer[value:value + 4]) == ITEM_START
    return vr == b"UN" and may_hold_items(buffer, value, length)


class FileLayout(namedtuple("FileLayout", "meta body transfer_syntax")):
    """Where a Part 10 file's pieces are: meta elements, then the dataset from ``body``."""

    __slots__ = ()
    meta: tuple[Element, ...]
    body: int
    transfer_syntax: str


def read_layout(buffer, limit: int) -> FileLayout:
    """Parse the preamble and file meta group (always explicit VR little endian)."""
    if limit < 144 or bytes(buffer[128:132]) != b"DICM":
        raise Unsupported("no DICM preamble")
    offset = 132
    meta = []
    syntax = None
    while offset + 8 <= limit:
        group, number, vr, length = SHORT_HEADER.unpack_from(buffer, offset)
        if group != FILE_META_GROUP:
            break
        end = offset + 8 + length
        if vr in LONG_VRS or not (vr.isalpha() and vr.isupper()) or end > limit or length & 1:
            element = read_element(buffer, offset, limit)  # which reports what is wrong
        else:  # a 2-byte length, the usual case: read_element would make the same
            element = Element(group << 16 | number, vr, offset, offset + 8, length, end)
        if element.tag == TRANSFER_SYNTAX_UID and syntax is None:
            syntax = bytes(buffer[element.value:element.end]).rstrip(b"\0 ").decode("ascii", "replace")
        meta.append(element)
        offset = element.end
    if syntax is None:
        raise Unsupported("no transfer syntax in the file meta")
    if syntax in DATASET_PATH_SYNTAXES:
        raise Unsupported(f"transfer syntax {syntax} ({DATASET_PATH_SYNTAXES[syntax]}) stays "
                          "on the Dataset path")
    if syntax not in SUPPORTED_SYNTAXES:
        raise Unsupported(f"transfer syntax {syntax} is not one the fast path reads")
    if syntax == IMPLICIT_LITTLE and offset + 6 <= limit and \
            all(0x40 < byte < 0x5B for byte in bytes(buffer[offset + 4:offset + 6])):
        # pydicom reads (and so rewrites) such a body as explicit VR
        raise Unsupported("an Implicit VR file whose first element has an explicit VR")
    return FileLayout(tuple(meta), offset, syntax)


# --- is the file whole? ----------------------------------------------------------------------


def check_whole(buffer, size: int, memory_limit: int) -> int:
    """Raise :class:`deidc.execute.outcome.ExecutionError` if a Part 10 file is truncated: an
    element of its file meta or of its dataset's top level (a value, a header, or the items
    and delimiter of an undefined length) runs past its end.  The message says which element
    is cut and how many bytes at least are missing.  pydicom reads such a file without a word
    (a value cut short is read short), so it would be written as if whole.  The Dataset path
    calls this before pydicom reads; the fast path needs no call: its walk meets the cut and
    hands the file over.  What this cannot walk (big endian, a private syntax, structure
    malformed otherwise) is pydicom's to judge.  A file cut exactly between two top-level
    elements is a whole, shorter file: no format can tell it from one.  A file whose sequences
    nest deeper than ``MAX_SEQUENCE_DEPTH`` is refused too, as the fast path refuses it.

    Returns the bytes of the dataset as pydicom will hold them: the file's size, or what its
    deflated dataset inflates to, inflated here no further than ``memory_limit`` (a deflate
    bomb of 522 KB took pydicom 2.1 GB)."""
    if size < 132:
        raise ExecutionError(f"not a DICOM file: {_bytes(size)}, shorter than the preamble "
                             "of one (a file cut short, or not DICOM)")
    if bytes(buffer[128:132]) != b"DICM":
        if struct.unpack_from("<H", buffer, 0)[0] == 0:
            # (pydicom's reading of a megabyte of zeros, as elements (0000,0000), took minutes)
            raise ExecutionError("not a DICOM file: no DICM preamble, and it starts with a "
                                 "group 0000 element, which no stored dataset holds")
        return size
    offset, previous, syntax = 132, None, None
    try:
        while offset + 2 <= size and struct.unpack_from("<H", buffer, offset)[0] == \
                FILE_META_GROUP:
            previous = _whole_element(buffer, offset, size, False, previous)
            if previous.tag == TRANSFER_SYNTAX_UID:
                syntax = bytes(buffer[previous.value:previous.end]).rstrip(b"\0 ").decode(
                    "ascii", "replace")
            offset = previous.end
        if syntax == DEFLATED:
            body = _inflate(buffer, offset, memory_limit)
            buffer, offset, size, syntax = body, 0, len(body), EXPLICIT_LITTLE
        if syntax not in SUPPORTED_SYNTAXES:
            return size  # big endian, a private syntax
        implicit = syntax == IMPLICIT_LITTLE
        if offset >= size:
            raise ExecutionError("truncated: the file ends after its file meta information, "
                                 "before its dataset")
        while offset < size:
            try:
                previous = _whole_element(buffer, offset, size, implicit, previous)
                if implicit or previous.vr != b"SQ" or previous.length == UNDEFINED_LENGTH:
                    # read_element has checked an explicit SQ of defined length; skip_undefined
                    # jumps a defined-length UN held in an undefined-length one
                    check_depth(buffer, previous, size, implicit)
            except TooDeep as too_deep:
                group, number = struct.unpack_from("<HH", buffer, offset)
                raise ExecutionError(f"refused: {too_deep}", tag=group << 16 | number) from None
            offset = previous.end
    except (Unsupported, struct.error, UnicodeError):
        pass
    return size


DEFLATED = "1.2.840.10008.1.2.1.99"


def _inflate(buffer, offset: int, memory_limit: int) -> bytes:
    import zlib

    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        body = inflater.decompress(buffer[offset:], memory_limit + 1)
    except zlib.error as exc:
        raise ExecutionError(f"its deflated dataset cannot be inflated: {exc}") from None
    if len(body) > memory_limit:
        raise ExecutionError(f"refused: its deflated dataset inflates to more than the memory "
                             f"bound of {_bytes(memory_limit)} for one file (a deflate bomb, or "
                             "a file too large for the Dataset path)")
    if not inflater.eof:
        raise ExecutionError("truncated: its deflated dataset ends before the deflate stream "
                             "does")
    return body


def _whole_element(buffer, offset: int, size: int, implicit: bool, previous) -> Element:
    if offset + 8 > size:
        raise ExecutionError(f"truncated: the file ends {_bytes(size - offset)} into the "
                             f"header of the {'next' if previous else 'first'} element (at "
                             f"byte {offset}; at least {_bytes(offset + 8 - size)} missing)",
                             tag=previous.tag if previous is not None else None)
    group, number = struct.unpack_from("<HH", buffer, offset)
    tag = group << 16 | number
    try:
        if implicit:
            length = TAG_LENGTH.unpack_from(buffer, offset)[2]
            value = offset + 8
            if length == UNDEFINED_LENGTH:
                return Element(tag, b"SQ", offset, value, length,
                               skip_undefined(buffer, value, size, implicit=True))
            if value + length > size:
                raise Cut("", value + length - size)
            return Element(tag, UNKNOWN_VR, offset, value, length, value + length)
        return read_element(buffer, offset, size)
    except Cut as cut:
        length, value = _declared(buffer, offset, size, implicit)
        if length is None:
            what = f"the file ends inside its header (at least {_bytes(cut.missing)} missing)"
        elif length == UNDEFINED_LENGTH:
            what = (f"its value has an undefined length and the file ends before its sequence "
                    f"delimiter (at least {_bytes(cut.missing)} missing)")
        else:
            what = (f"its value is {_bytes(length)} and the file holds {size - value} of them "
                    f"({cut.missing} missing)")
        raise ExecutionError(f"truncated: {what}", tag=tag) from None


def _declared(buffer, offset: int, size: int, implicit: bool) -> tuple[int | None, int]:
    """The value length an element's header declares, and where its value starts (``None``
    when the header itself is cut)."""
    if implicit:
        return TAG_LENGTH.unpack_from(buffer, offset)[2], offset + 8
    vr = bytes(buffer[offset + 4:offset + 6])
    if vr in LONG_VRS:
        if offset + 12 > size:
            return None, size
        return LONG_LENGTH.unpack_from(buffer, offset + 8)[0], offset + 12
    return SHORT_HEADER.unpack_from(buffer, offset)[3], offset + 8


def _bytes(count: int) -> str:
    return "1 byte" if count == 1 else f"{count} bytes"
