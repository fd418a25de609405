"""The C scan keeps its own copy of a few DICOM numbers (C cannot import deidc.execute.dicom);
these tests read _scan.c and hold that copy to the Python one, so the two cannot drift apart."""

import re
from pathlib import Path

from deidc.execute import dicom

SCAN_C = (Path(dicom.__file__).parent / "_scan.c").read_text()


def long_vrs_in_c() -> set[str]:
    body = re.search(r"long_vr\(unsigned char a, unsigned char b\)\s*\{(.*?)\n\}", SCAN_C, re.S)
    found = set()
    for first, rest in re.findall(r"case '([A-Z])': return ([^;]*);", body.group(1)):
        found |= {first + second for second in re.findall(r"b == '([A-Z])'", rest)}
    return found


def test_scan_c_long_header_vrs_are_dicom_py_ones():
    assert long_vrs_in_c() == set(dicom.LONG_HEADER_VRS)


def test_scan_c_undefined_length_and_delimiter_group_are_dicom_py_ones():
    undefined = re.search(r"#define UNDEFINED (0x[0-9A-Fa-f]+)u", SCAN_C).group(1)
    assert int(undefined, 16) == dicom.UNDEFINED_LENGTH
    delimiter = re.search(r"group == (0x[0-9A-Fa-f]+)\)", SCAN_C).group(1)
    assert int(delimiter, 16) == dicom.DELIMITER_GROUP


def test_tags_and_vrs_are_pydicom_ones():
    from pydicom import datadict, tag, valuerep

    for keyword in ("MediaStorageSOPInstanceUID", "TransferSyntaxUID", "SpecificCharacterSet",
                    "SOPClassUID", "SOPInstanceUID", "StudyDate", "PatientBirthDate",
                    "PatientAge", "PixelData"):
        name = re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", keyword).upper()
        assert getattr(dicom, name) == datadict.tag_for_keyword(keyword), keyword
    assert dicom.META_GROUP_LENGTH == datadict.tag_for_keyword("FileMetaInformationGroupLength")
    assert (dicom.ITEM, dicom.ITEM_END, dicom.SEQUENCE_END) == (
        tag.ItemTag, tag.ItemDelimiterTag, tag.SequenceDelimiterTag)
    assert dicom.LONG_HEADER_VRS == {str(vr) for vr in valuerep.EXPLICIT_VR_LENGTH_32}
    assert dicom.TEXT_VRS | dicom.NUMBER_STRING_VRS == {str(vr) for vr in valuerep.STR_VR}
    assert datadict.mask_match(0x60023000) == "60xx3000"
    assert 0x60023000 & dicom.REPEATER_MASK == 0x60003000


def test_delimiters_are_written_as_pydicom_reads_them():
    from pydicom.filebase import DicomBytesIO
    from pydicom.tag import Tag

    data = DicomBytesIO(dicom.delimiter(dicom.ITEM, 10) + dicom.delimiter(dicom.SEQUENCE_END))
    data.is_little_endian = True
    assert Tag(data.read_tag()) == dicom.ITEM and data.read_UL() == 10
    assert Tag(data.read_tag()) == dicom.SEQUENCE_END and data.read_UL() == 0
