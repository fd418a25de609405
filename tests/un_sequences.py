"""Files holding a sequence stored with VR UN, as a system that did not know the attribute
converts it (PS3.5 6.2.2): an explicit VR file whose sequence value is implicit VR items.
pydicom, and so Flywheel and deidc's Dataset path, reads it back as a sequence (issue 10,
item 1).  Built from CT_small.dcm: RequestAttributesSequence (0040,0275), absent from it, holds
a private block ``(0009,0010) ACME 1.0`` with ``(0009,1001)``, RequestedProcedureID, and a
nested ScheduledProtocolCodeSequence with a CodeMeaning and a second private block."""

from __future__ import annotations

import struct

import pydicom
from pydicom.data import get_testdata_file
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from pydicom.tag import Tag

from deidc.execute.dicom import LONG_HEADER_VRS

REQUEST_ATTRIBUTES = 0x00400275
REFERENCED_STUDY = 0x00081110
PRIVATE_VALUE, PROCEDURE_ID, CODE_MEANING = "SECRET-PRIVATE", "PROC-PHI-42", "PHI MEANING"
UNDEFINED = 0xFFFFFFFF


def _implicit(ds: Dataset) -> bytes:
    fp = DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = True, True
    write_dataset(fp, ds)
    return fp.getvalue()


def _delimiter(number: int, length: int = 0) -> bytes:
    return struct.pack("<HHL", 0xFFFE, number, length)


def _item(content: bytes, undefined: bool) -> bytes:
    if undefined:
        return _delimiter(0xE000, UNDEFINED) + content + _delimiter(0xE00D)
    return _delimiter(0xE000, len(content)) + content


def _long_element(tag: int, vr: bytes, body: bytes, undefined: bool) -> bytes:
    head = struct.pack("<HH", tag >> 16, tag & 0xFFFF) + vr + b"\0\0"
    if undefined:
        return head + struct.pack("<L", UNDEFINED) + body + _delimiter(0xE0DD)
    return head + struct.pack("<L", len(body)) + body


def request_item() -> Dataset:
    inner = Dataset()
    inner.add_new(0x00090010, "LO", "ACME 1.0")
    inner.add_new(0x00091001, "LO", PRIVATE_VALUE)
    code = Dataset()
    code.CodeMeaning = CODE_MEANING
    code.add_new(0x00110010, "LO", "ACME 2.0")
    code.add_new(0x00111002, "LO", PRIVATE_VALUE)
    inner.ScheduledProtocolCodeSequence = [code]
    inner.RequestedProcedureID = PROCEDURE_ID
    return inner


def un_sequence(undefined: bool = False, items_undefined: bool = False) -> bytes:
    """RequestAttributesSequence stored as UN: its items in implicit VR."""
    body = _item(_implicit(request_item()), items_undefined)
    return _long_element(REQUEST_ATTRIBUTES, b"UN", body, undefined)


def write_un_file(path, *, undefined: bool = False, items_undefined: bool = False,
                  nested: bool = False, empty: bool = False) -> str:
    """CT_small with the UN sequence at the top level, or (``nested``) inside the one item of
    an explicit ReferencedStudySequence; ``empty``: the UN value has no bytes at all."""
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
    marker = b"UN-SEQUENCE-HERE"
    ds[REQUEST_ATTRIBUTES] = RawDataElement(Tag(REQUEST_ATTRIBUTES), "UN", len(marker), marker,
                                            0, False, True)
    placeholder = _long_element(REQUEST_ATTRIBUTES, b"UN", marker, False)
    if empty:
        element = _long_element(REQUEST_ATTRIBUTES, b"UN", b"", False)
    else:
        element = un_sequence(undefined, items_undefined)
    if nested:
        del ds[REQUEST_ATTRIBUTES]
        study = Dataset()
        study.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"
        study.ReferencedSOPInstanceUID = "1.2.3.4"
        ds.save_as(path, enforce_file_format=True)
        item = _item(_explicit_item(study) + element, True)
        element = _long_element(REFERENCED_STUDY, b"SQ", item, True)
        _splice_before(path, element)
        return str(path)
    ds.save_as(path, enforce_file_format=True)
    data = open(path, "rb").read()
    assert data.count(placeholder) == 1
    with open(path, "wb") as handle:
        handle.write(data.replace(placeholder, element))
    return str(path)


def _explicit_item(ds: Dataset) -> bytes:
    fp = DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = True, False
    write_dataset(fp, ds)
    return fp.getvalue()


def _splice_before(path, element: bytes) -> None:
    """Insert a top-level element where its tag belongs (REFERENCED_STUDY)."""
    from pydicom.filereader import data_element_generator

    data = open(path, "rb").read()
    with open(path, "rb") as handle:
        handle.seek(132)
        for raw in data_element_generator(handle, False, True):
            if raw.tag > REFERENCED_STUDY:
                offset = raw.value_tell - (12 if raw.VR in LONG_HEADER_VRS else 8)
                break
    with open(path, "wb") as handle:
        handle.write(data[:offset] + element + data[offset:])
