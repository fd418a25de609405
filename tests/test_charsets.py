"""The fast path changes text in the file's character set: the single-byte ones and UTF-8.

Byte identity with the Dataset path on pydicom's character set files and on files made here in
each character set the fast path decodes, and what the outputs hold, read back with pydicom.
"""

from __future__ import annotations

import codecs
import glob
import io
import os
import random
import textwrap

import pydicom
import pytest
from pydicom.charset import python_encoding
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.valuerep import CUSTOMIZABLE_CHARSET_VR

from deidc.compiler import compile_profile
from deidc.execute.dataset import ExecutionError, deidentify_file
from deidc.execute.fast import CHARSET_VRS, TEXT_CODECS, FastPlan, deidentify_fast
from deidc.execute.stream import Unsupported
from deidc.execute.transforms import hash_value

CHARSET_FILES = sorted(glob.glob(os.path.join(os.path.dirname(pydicom.__file__), "data",
                                              "charset_files", "*.dcm")))
# pydicom's files in a character set the fast path decodes (the others use ISO 2022 escapes,
# or GB18030, whose second bytes may be backslashes)
DECODED_FILES = {"chrArab.dcm", "chrFren.dcm", "chrFrenMulti.dcm", "chrGerm.dcm", "chrGreek.dcm",
                 "chrHbrw.dcm", "chrRuss.dcm", "chrX1.dcm"}
NEW_DESCRIPTION = "Étude anonymisée"  # latin-1 and UTF-8 hold it; Greek, Cyrillic... do not

PROFILE = """
    dicom:
      recurse-sequence: true
      fields:
        - name: PatientName
          hash: true
        - name: InstitutionName
          hash: true
        - name: OtherPatientNames
          replace-with: ANON
        - name: CodeMeaning
          hash: true
        - name: ImageComments
          hash: true
"""
# ...and a rule that writes text beyond ASCII
WRITING = PROFILE + f"""\
        - name: StudyDescription
          replace-with: '{NEW_DESCRIPTION}'
"""


def test_the_codecs_are_pydicoms():
    """The fast path reads and writes text as the Dataset path (pydicom) does."""
    for term, codec in TEXT_CODECS.items():
        assert codecs.lookup(codec).name == codecs.lookup(python_encoding[term]).name, term
    assert CHARSET_VRS == {str(vr) for vr in CUSTOMIZABLE_CHARSET_VR}


def letters(codec: str) -> str:
    """Eight letters beyond ASCII that ``codec`` can encode."""
    if codec.lower().replace("-", "") in ("utf8", "utf_8"):
        return "ŜtéfanΩ雅"
    found = []
    for byte in range(0xA0, 0x100):
        try:
            character = bytes([byte]).decode(codec)
        except UnicodeDecodeError:
            continue
        if character.isalpha():
            found.append(character)
    return "".join(found[:8])


def made_file(folder, term: str | None) -> str:
    """CT_small with text beyond ASCII in ``term`` (None: no SpecificCharacterSet, read as
    latin-1): names, a hash input, a long text, and a sequence whose second item has a
    character set of its own (UTF-8)."""
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
    codec = TEXT_CODECS[term or ""]
    text = letters(codec)
    if term is None:
        del ds.SpecificCharacterSet
    else:
        ds.SpecificCharacterSet = term
    ds.PatientName = f"{text[:4]}^{text[4:]}"
    ds.InstitutionName = text
    ds.ImageComments = f"{text} {text[::-1]}"
    first = Dataset()
    first.CodeValue, first.CodingSchemeDesignator, first.CodeMeaning = "T-1", "SRT", \
        f"{text[2:6]} {text[:2]}"
    second = Dataset()
    second.SpecificCharacterSet = "ISO_IR 192"
    second.CodeValue, second.CodingSchemeDesignator, second.CodeMeaning = "T-2", "SRT", \
        "Ωμέγα 雅"
    ds.AnatomicRegionSequence = Sequence([first, second])
    name = "absent" if term is None else term.replace(" ", "_") or "empty"
    path = os.path.join(folder, f"{name}.dcm")
    ds.save_as(path)
    return path


def compiled(folder, profile: str):
    path = folder / "charsets.yaml"
    path.write_text(textwrap.dedent(profile))
    return compile_profile(str(path))


@pytest.fixture(scope="module")
def plan(tmp_path_factory):
    return compiled(tmp_path_factory.mktemp("profile"), WRITING)


@pytest.fixture(scope="module")
def reading_plan(tmp_path_factory):
    return compiled(tmp_path_factory.mktemp("profile"), PROFILE)


@pytest.fixture(scope="module")
def made_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("charsets")
    return {term: made_file(folder, term) for term in [None, *TEXT_CODECS]}


def both_paths(plan, path, log):
    fast_out, slow_out = io.BytesIO(), io.BytesIO()
    try:
        fast = deidentify_fast(FastPlan(plan, log), path, fast_out, rng=random.Random(1))
    except Unsupported as declined:
        fast = declined
    slow = deidentify_file(plan, path, slow_out, rng=random.Random(1), log=log)
    return fast, fast_out.getvalue(), slow, slow_out.getvalue()


def holds(codec: str, text: str) -> bool:
    try:
        text.encode(codec)
    except UnicodeEncodeError:
        return False
    return True


@pytest.mark.parametrize("log", [False, True], ids=["", "log"])
@pytest.mark.parametrize("term", [None, *TEXT_CODECS], ids=str)
@pytest.mark.parametrize("writing", [True, False], ids=["writes", "reads"])
def test_made_files_give_the_dataset_paths_bytes(plan, reading_plan, made_files, term, log,
                                                 writing):
    """Taken by the fast path, unless the new StudyDescription does not fit the character
    set, and then the same bytes and log cells as the Dataset path."""
    fast, fast_bytes, slow, slow_bytes = both_paths(plan if writing else reading_plan,
                                                    made_files[term], log)
    if writing and not holds(TEXT_CODECS[term or ""], NEW_DESCRIPTION):
        assert isinstance(fast, Unsupported)
        assert "character set cannot hold" in str(fast)
        return
    assert not isinstance(fast, Unsupported), fast
    assert fast_bytes == slow_bytes
    assert (fast.log_before, fast.log_after) == (slow.log_before, slow.log_after)


@pytest.mark.parametrize("term", [None, "ISO_IR 100", "ISO_IR 192"], ids=str)
def test_made_files_hold_the_changed_text(plan, made_files, term):
    """Read back independently: each hash made from the text pydicom reads (the item with
    a character set of its own included), the new text in the file's character set."""
    path = made_files[term]
    out = io.BytesIO()
    deidentify_fast(FastPlan(plan), path, out, rng=random.Random(1))
    before = pydicom.dcmread(path)
    after = pydicom.dcmread(io.BytesIO(out.getvalue()))
    encoded = NEW_DESCRIPTION.encode(TEXT_CODECS[term or ""])
    assert after.get_item(0x00081030).value == encoded + b" " * (len(encoded) % 2)  # as stored
    for keyword in ("PatientName", "InstitutionName", "ImageComments"):
        assert str(after.get(keyword)) == hash_value(str(before.get(keyword)), None, 16)
    for old, new in zip(before.AnatomicRegionSequence, after.AnatomicRegionSequence,
                        strict=True):
        assert new.CodeMeaning == hash_value(old.CodeMeaning, None, 16)
    assert after.StudyDescription == NEW_DESCRIPTION


def test_a_hash_hashes_the_text_not_its_bytes(plan, tmp_path):
    """The same name in latin-1 and in UTF-8 is the same text: it hashes the same."""
    hashes = set()
    for term in ("ISO_IR 100", "ISO_IR 192"):
        ds = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
        ds.SpecificCharacterSet = term
        ds.InstitutionName = "Hôpital Européen"
        path = str(tmp_path / f"{term}.dcm")
        ds.save_as(path)
        out = io.BytesIO()
        deidentify_fast(FastPlan(plan), path, out, rng=random.Random(1))
        hashes.add(pydicom.dcmread(io.BytesIO(out.getvalue())).InstitutionName)
    assert len(hashes) == 1


@pytest.mark.parametrize("log", [False, True], ids=["", "log"])
@pytest.mark.parametrize("path", CHARSET_FILES, ids=os.path.basename)
def test_pydicoms_character_set_files(plan, path, log):
    """pydicom's files: those in a character set the walk decodes are taken (unless the new
    value does not fit it), and give the Dataset path's bytes; ISO 2022 and GB18030 files
    with text to change go to the Dataset path."""
    try:
        fast, fast_bytes, slow, slow_bytes = both_paths(plan, path, log)
    except ExecutionError:
        pytest.skip("the Dataset path refuses it")
    name = os.path.basename(path)
    if isinstance(fast, Unsupported):
        # (chrX1's name ends in an empty component group: "Wang^XiaoDong=王^小東=")
        assert name not in DECODED_FILES or "character set cannot hold" in str(fast) or \
            "empty component group" in str(fast), fast
        return
    assert name in DECODED_FILES
    assert fast_bytes == slow_bytes
    assert (fast.log_before, fast.log_after) == (slow.log_before, slow.log_after)


def test_a_plan_that_changes_the_character_set_changes_ascii_text_only(tmp_path, made_files):
    """pydicom writes changed text in the character set the dataset has when written: with
    a rule on SpecificCharacterSet, text beyond ASCII goes to the Dataset path."""
    profile = tmp_path / "profile.yaml"
    profile.write_text(textwrap.dedent(WRITING) + "    - name: SpecificCharacterSet\n"
                                                  "      replace-with: ISO_IR 192\n")
    changing = compile_profile(str(profile))
    fast, _, _, _ = both_paths(changing, made_files["ISO_IR 100"], False)
    assert isinstance(fast, Unsupported)
    assert "non-ASCII" in str(fast)


@pytest.mark.parametrize("name", [b"Doe^John=", b"Doe^John==", b"Doe^John\\Roe^Jane="])
def test_a_name_ending_in_an_empty_group_is_hashed_as_pydicom_reads_it(plan, tmp_path, name):
    """pydicom reads "Doe^John=" as "Doe^John": the walk, which would hash the stored text,
    leaves such a name to the Dataset path."""
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
    ds.PatientName = name  # bytes: stored as they are
    path = str(tmp_path / "name.dcm")
    ds.save_as(path)
    fast, _, _, slow_bytes = both_paths(plan, path, False)
    assert isinstance(fast, Unsupported) and "empty component group" in str(fast)
    read = pydicom.dcmread(path).PatientName  # names of several values: joined with ","
    expected = hash_value(",".join(map(str, read)) if isinstance(read, MultiValue)
                          else str(read), None, 16)
    assert str(pydicom.dcmread(io.BytesIO(slow_bytes)).PatientName) == expected
