"""The numbers of the DICOM standard that both executors use, in one place.

The Dataset path (:mod:`deidc.execute.dataset`), the fast path (:mod:`deidc.execute.fast`) and
its reader (:mod:`deidc.execute.stream`) must agree on every tag and VR they single out, or the
two paths stop giving the same bytes.  pydicom's dictionary is not used for these: the fast path
starts without pydicom.  The C scan (``_scan.c``) keeps its own copy of the long-header VRs and
of the undefined length; ``tests/test_dicom.py`` reads that file and checks them against this one.
"""

from __future__ import annotations

import struct

# --- tags (PS3.6) -------------------------------------------------------------------------------
FILE_META_GROUP = 0x0002
META_GROUP_LENGTH = 0x00020000
MEDIA_STORAGE_SOP_INSTANCE_UID = 0x00020003
TRANSFER_SYNTAX_UID = 0x00020010
SPECIFIC_CHARACTER_SET = 0x00080005
SOP_CLASS_UID = 0x00080016
SOP_INSTANCE_UID = 0x00080018
STUDY_DATE = 0x00080020
STUDY_INSTANCE_UID = 0x0020000D
SERIES_INSTANCE_UID = 0x0020000E
PATIENT_BIRTH_DATE = 0x00100030
PATIENT_AGE = 0x00101010
PIXEL_DATA = 0x7FE00010
# The VRs of the elements both paths read whatever the plan says (the SOP UIDs the file meta
# follows, the character set, the patient age's inputs, the deid log's identity columns):
# Implicit VR files do not carry them.
TRACKED_VRS = {SPECIFIC_CHARACTER_SET: "CS", SOP_CLASS_UID: "UI", SOP_INSTANCE_UID: "UI",
               STUDY_DATE: "DA", PATIENT_BIRTH_DATE: "DA", PATIENT_AGE: "AS",
               STUDY_INSTANCE_UID: "UI", SERIES_INSTANCE_UID: "UI"}

# Repeating groups (curves 50xx, overlays 60xx): a dictionary entry names all of them through
# its mask, the tag with the group's low byte cleared.
REPEATER_GROUPS = (0x5000, 0x6000)
REPEATER_MASK = 0xFF00FFFF

# --- encoding (PS3.5 7.1, 7.5) ----------------------------------------------------------------
DELIMITER_GROUP = 0xFFFE
ITEM = 0xFFFEE000
ITEM_END = 0xFFFEE00D
SEQUENCE_END = 0xFFFEE0DD
UNDEFINED_LENGTH = 0xFFFFFFFF
# How deep sequences may nest.  Real files nest a few levels; pydicom reads, walks and writes
# each level through several Python frames, and beyond about 150 undefined-length levels it
# runs out of stack: both paths refuse deeper files alike (a hostile file, or a broken one).
MAX_SEQUENCE_DEPTH = 100
# The fewest bytes one level of nesting takes: an item header and an implicit VR element
# header.  A value shorter than ``n * NESTING_LEVEL_BYTES`` cannot nest ``n`` levels.
NESTING_LEVEL_BYTES = 16

# VRs with a 2-byte reserved field and a 4-byte length in explicit VR (PS3.5 Table 7.1-1).
LONG_HEADER_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR",
                             "UT", "UV"})
# Text VRs (PS3.5 6.2), and among them those whose value is never split at backslashes.
TEXT_VRS = frozenset({"AE", "AS", "CS", "DA", "DT", "LO", "LT", "PN", "SH", "ST", "TM", "UC",
                      "UI", "UR", "UT"})
SINGLE_VALUED_VRS = frozenset({"LT", "ST", "UT", "UR"})
NUMBER_STRING_VRS = frozenset({"DS", "IS"})
# The VRs whose values are text, numbers included: read and written as strings.
STRING_VRS = TEXT_VRS | NUMBER_STRING_VRS
# Binary numeric VRs and their struct format codes (PS3.5 Table 6.2-1).
BINARY_NUMBERS = {"US": "H", "SS": "h", "UL": "L", "SL": "l", "UV": "Q", "SV": "q", "FL": "f",
                  "FD": "d"}

# Explicit VR little endian headers: tag, VR and a 2-byte length; the 4-byte length of a long
# header; an item or delimiter (tag and 4-byte length, no VR).
SHORT_HEADER = struct.Struct("<HH2sH")
LONG_LENGTH = struct.Struct("<L")
TAG_LENGTH = struct.Struct("<HHL")


def delimiter(tag: int, length: int = 0) -> bytes:
    """An item or delimiter header as written: its tag and 4-byte length."""
    return TAG_LENGTH.pack(tag >> 16, tag & 0xFFFF, length)
