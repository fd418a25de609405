"""The Dataset path on pydicom's real test files: every action and policy holds after writing
and re-reading, no removed or replaced value survives anywhere in the output bytes, and every
file either comes out readable or fails with one clear ExecutionError."""

from __future__ import annotations

import glob
import io
import os
import random

import pydicom
import pytest
from pydicom.data import get_testdata_file

from deidc.execute import transforms
from deidc.execute.dataset import apply_plan, deidentify_file, log_values
from deidc.execute.outcome import ExecutionError
from deidc.plan.ir import LogColumn, PatientAge

from tests.plans import (entry, hash_, hashuid, jitter, pattern, plan, regex_sub, remove, replace,
                    shift_date, shift_datetime)

TEST_FILES = sorted(glob.glob(os.path.join(os.path.dirname(pydicom.__file__), "data",
                                           "test_files", "**", "*.dcm"), recursive=True))
GEMS_IDEN = '(0009,"GEMS_IDEN_01",04)'


def source(name: str) -> str:
    return get_testdata_file(name, download=False)


def run(a_plan, name: str, **options):
    """(original, result, raw output bytes, outcome) of de-identifying a pydicom test file."""
    path = name if os.path.isabs(name) else source(name)
    output = io.BytesIO()
    outcome = deidentify_file(a_plan, path, output, rng=random.Random(0), **options)
    raw = output.getvalue()
    return (pydicom.dcmread(path, force=True), pydicom.dcmread(io.BytesIO(raw), force=True),
            raw, outcome)


def values_in(raw: bytes, *values: str) -> list[str]:
    return [value for value in values if value and value.encode() in raw]


# --- actions ---------------------------------------------------------------------------------

def test_every_action_holds_after_writing_and_rereading():
    a_plan = plan(
        entry("00100010", remove()),
        entry("00100020", replace("SUBJECT-001")),
        entry("00200010", hash_("pepper", 16)),
        entry("0020000D", hashuid("pepper")),
        entry("00080018", hashuid("pepper")),
        entry("00080020", shift_date(-17)),
        entry("00080080", regex_sub({"input_regex": r"(?P<a>\w+) (?P<rest>.*)",
                                     "output": "{a}-X", "groups": []})),
        entry("00181030", replace("RESEARCH")),  # absent in CT_small: inserted
        entry("00101030", jitter(5, minimum=0)),
        entry("00081010", replace("STATION", insert=False)),
    )
    original, result, raw, outcome = run(a_plan, "CT_small.dcm")
    assert outcome.changed
    assert "PatientName" not in result
    assert result.PatientID == "SUBJECT-001"
    assert result.StudyID == transforms.hash_value("1CT1", "pepper", 16)
    assert result.StudyInstanceUID == transforms.hash_uid(original.StudyInstanceUID, "pepper",
                                                          4, 1, None)
    assert result.SOPInstanceUID == transforms.hash_uid(original.SOPInstanceUID, "pepper",
                                                        4, 1, None)
    assert result.StudyDate == "20040102"
    assert result.InstitutionName == "JFK-X"
    assert result.ProtocolName == "RESEARCH" and result["ProtocolName"].VR == "LO"
    assert 0 <= float(result.PatientWeight) <= 5 and float(result.PatientWeight) != 0
    assert result.StationName == "STATION"  # present, so replaced even without insert
    # the file meta follows the new SOP UID; no replaced or removed value is left anywhere
    assert result.file_meta.MediaStorageSOPInstanceUID == result.SOPInstanceUID
    assert values_in(raw, "CompressedSamples", "JFK IMAGING", original.StudyInstanceUID,
                     original.SOPInstanceUID, "CT01_OC0") == []
    assert result.PixelData == original.PixelData


def test_replace_without_insert_leaves_absent_elements_absent():
    _, result, _, outcome = run(plan(entry("00181030", replace("X", insert=False))),
                                "CT_small.dcm")
    assert "ProtocolName" not in result and not outcome.changed


def test_increment_datetime_keeps_fraction_and_format():
    _, result, raw, _ = run(plan(entry("0008002A", shift_datetime(3))), "examples_palette.dcm")
    assert result.AcquisitionDateTime == "20110528145628.350000"
    assert b"20110525145628" not in raw


def test_unchanged_file_is_copied_verbatim():
    output = io.BytesIO()
    outcome = deidentify_file(plan(entry("00181030", replace("X", insert=False))),
                              source("MR_small.dcm"), output, rng=random.Random(0))
    assert not outcome.changed
    with open(source("MR_small.dcm"), "rb") as handle:
        assert output.getvalue() == handle.read()


def test_sources_on_one_element_apply_in_plan_order():
    # a nested path rule and a regex both act on one element inside a sequence: whichever
    # comes first in the plan applies first
    path, regex = "300C0060.0.00081155", r".*\.ReferencedSOPInstanceUID"
    hashing = pattern(regex, hash_())  # actions are ordered as they are made
    hash_then_replace = plan(entry(path, replace("1.2.3")), patterns=(hashing,))
    replacing = entry(path, replace("1.2.3"))
    replace_then_hash = plan(replacing, patterns=(pattern(regex, hash_()),))
    item = "ReferencedStructureSetSequence"
    assert run(hash_then_replace, "rtplan.dcm")[1][item][0].ReferencedSOPInstanceUID == "1.2.3"
    assert run(replace_then_hash, "rtplan.dcm")[1][item][0].ReferencedSOPInstanceUID == \
        transforms.hash_value("1.2.3", None, 16)


def test_regex_sub_groups_named_after_elements_read_them_before_other_rules():
    item = {"input_regex": r"(?P<first>\w+)", "output": "{PatientID}-{first}",
            "groups": [{"name": "PatientID", "op": "hash", "args": {"salt": "q", "digits": 8}}]}
    a_plan = plan(entry("00081030", regex_sub(item)), entry("00100020", replace("NEWID")))
    _, result, _, _ = run(a_plan, "examples_overlay.dcm")
    assert result.StudyDescription == transforms.hash_value("021234567", "q", 8) + "-abdomen"
    assert result.PatientID == "NEWID"


# --- private elements and remove-private-tags ------------------------------------------------

def test_remove_private_keeps_creator_form_targets_and_their_creator():
    original, result, raw, _ = run(plan(entry(GEMS_IDEN), remove_private=True), "CT_small.dcm")
    private = sorted(f"{e.tag:08X}" for e in result if e.tag.group & 1)
    assert private == ["00090010", "00091004"]
    assert result[0x00091004].value == original[0x00091004].value
    assert values_in(raw, "GE_GENESIS_FF", "GEMS_ACQU_01") == []


def test_remove_private_reaches_into_sequences():
    _, result, _, _ = run(plan(remove_private=True), "nested_priv_SQ.dcm")
    assert not [e for e in result.iterall() if e.tag.group & 1]


def test_private_creator_form_actions_and_insert():
    a_plan = plan(entry(GEMS_IDEN, replace("SCANNER")),
                  entry('(0009,"GEMS_IDEN_01",02)', remove()),
                  entry('(0011,"ACME_NEW_01",01)', replace("X"), vr="LO"))
    _, result, raw, _ = run(a_plan, "CT_small.dcm")
    assert result[0x00091004].value == "SCANNER"
    assert 0x00091002 not in result
    block = result.private_block(0x0011, "ACME_NEW_01")
    assert result[block.get_tag(0x01)].value == "X"
    assert "HiSpeed CT/i" not in [e.value for e in result if e.tag.group & 1]


def test_private_insert_with_unknown_vr_fails_the_file_clearly():
    with pytest.raises(ExecutionError, match="private dictionary"):
        run(plan(entry('(0011,"NOBODY_KNOWS",01)', replace("X"))), "CT_small.dcm")


# --- remove-undefined ------------------------------------------------------------------------

def test_remove_undefined_keeps_named_elements_only():
    a_plan = plan(entry("00100020", replace("ANON")), entry("00080018"), entry("7FE00010"),
                  entry("00280010"), remove_undefined=True)
    original, result, raw, _ = run(a_plan, "CT_small.dcm")
    assert sorted(e.keyword for e in result) == ["PatientID", "PixelData", "Rows",
                                                 "SOPInstanceUID"]
    assert result.SOPInstanceUID == original.SOPInstanceUID
    assert values_in(raw, "CompressedSamples", "JFK IMAGING", "ABCD1234") == []
    assert result.file_meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID


def test_remove_undefined_keeps_the_creator_of_a_kept_private_element():
    # unlike Flywheel, which drops it and leaves the element unreadable (test_lint_safety)
    _, result, _, _ = run(plan(entry(GEMS_IDEN), remove_undefined=True), "CT_small.dcm")
    assert sorted(f"{e.tag:08X}" for e in result) == ["00090010", "00091004"]


def test_remove_undefined_empties_a_sequence_named_plainly_and_keeps_nested_paths():
    a_plan = plan(entry("00081140"), entry("300C0002.0.00081150"), remove_undefined=True)
    _, result, _, _ = run(a_plan, "rtplan.dcm")
    assert "ReferencedImageSequence" not in result  # not in rtplan: nothing to keep
    item = result.ReferencedRTPlanSequence[0]
    assert [e.keyword for e in item] == ["ReferencedSOPClassUID"]
    _, overlay, raw, _ = run(a_plan, "examples_overlay.dcm")
    assert [len(item) for item in overlay.ReferencedImageSequence] == [0]
    assert b"1.3.12.2.1107.5.2.30.25641.30000005113007072225000001677" not in raw


def test_remove_undefined_keeps_wildcard_paths_and_their_parent():
    a_plan = plan(entry("300A00B0.*.300A00C2"), remove_undefined=True)
    _, result, _, _ = run(a_plan, "rtplan.dcm")
    assert [e.keyword for e in result] == ["BeamSequence"]
    assert all([e.keyword for e in beam] == ["BeamName"] for beam in result.BeamSequence)


def test_remove_undefined_with_recurse_keeps_what_rules_name_inside_sequences():
    a_plan = plan(entry("00081150"), remove_undefined=True, recurse=True)
    _, result, _, _ = run(a_plan, "rtplan.dcm")
    assert {e.keyword for e in result} == {"ReferencedRTPlanSequence",
                                           "ReferencedStructureSetSequence"}
    assert all(e.keyword in ("ReferencedSOPClassUID",) or e.VR == "SQ"
               for e in result.iterall())


# --- nested, wildcard, recurse, repeater, regex targets ---------------------------------------

def test_nested_and_wildcard_paths():
    original = pydicom.dcmread(source("rtplan.dcm"))
    a_plan = plan(entry("300C0060.0.00081155", hashuid("s")),
                  entry("300A00B0.*.300A00C2", replace("BEAM")))
    _, result, raw, _ = run(a_plan, "rtplan.dcm")
    uid = original.ReferencedStructureSetSequence[0].ReferencedSOPInstanceUID
    assert result.ReferencedStructureSetSequence[0].ReferencedSOPInstanceUID == \
        transforms.hash_uid(uid, "s", 4, 1, None)
    assert [beam.BeamName for beam in result.BeamSequence] == ["BEAM"] * \
        len(original.BeamSequence)
    assert uid.encode() not in raw


def test_nested_insert_creates_the_sequence_and_pads_items():
    _, result, _, _ = run(plan(entry("00081110.2.00081150", replace("1.2.3"))), "CT_small.dcm")
    items = result.ReferencedStudySequence
    assert len(items) == 3 and len(items[0]) == 0 and items[2].ReferencedSOPClassUID == "1.2.3"


def test_recurse_sequence_reaches_every_depth():
    original = pydicom.dcmread(source("rtplan.dcm"))
    nested = [e.value for e in original.iterall() if e.tag == 0x00081155]
    _, result, raw, _ = run(plan(entry("00081155", hashuid()), recurse=True), "rtplan.dcm")
    assert [e.value for e in result.iterall() if e.tag == 0x00081155] == \
        [transforms.hash_uid(uid, None, 4, 1, None) for uid in nested]
    assert values_in(raw, *nested) == []


def test_repeater_targets_every_overlay_group():
    _, result, raw, _ = run(plan(entry("60XX3000", remove()), entry("60XX0022", replace("OV"))),
                            "examples_overlay.dcm")
    assert not [e for e in result if e.tag.group >> 8 == 0x60 and e.tag.element == 0x3000]
    assert [e.value for e in result if e.tag.element == 0x0022 and e.tag.group >> 8 == 0x60] \
        == ["OV"]


def test_regex_on_nested_paths_and_hex_paths_applies_once_per_element():
    original = pydicom.dcmread(source("rtplan.dcm"))
    a_plan = plan(patterns=(pattern(r".*\.0\.ReferencedSOPInstanceUID", hashuid()),
                            pattern(r"300c0060\.0\.00081155", hashuid())))
    _, result, _, _ = run(a_plan, "rtplan.dcm")
    uid = original.ReferencedStructureSetSequence[0].ReferencedSOPInstanceUID
    # both patterns match this element: the first wins its place, then the second hashes
    # the result; neither applies twice
    once = transforms.hash_uid(uid, None, 4, 1, None)
    assert result.ReferencedStructureSetSequence[0].ReferencedSOPInstanceUID == \
        transforms.hash_uid(once, None, 4, 1, None)


def test_regex_reaches_unknown_private_elements_by_hex_path():
    _, result, _, _ = run(plan(patterns=(pattern("0009....", remove()),)), "CT_small.dcm")
    assert [e for e in result if e.tag.group == 0x0009 and e.tag.element >= 0x1000] == []


# --- patient age and the file meta -----------------------------------------------------------

def test_patient_age_comes_from_the_original_dates():
    a_plan = plan(entry("00100030", remove()), entry("00080020", shift_date(400)),
                  patient_age=PatientAge("%Y%m%d", None))
    original, result, _, _ = run(a_plan, "waveform_ecg.dcm")
    assert "PatientBirthDate" not in result and result.StudyDate == "20140301"
    assert result.PatientAge == "504M" == transforms.patient_age(
        original.PatientBirthDate, original.StudyDate, "%Y%m%d", None)


def test_media_storage_follows_sop_instance_uid_or_stays():
    hashed = plan(entry("00080018", hashuid("x")))
    original, result, raw, _ = run(hashed, "MR_small.dcm")
    assert result.file_meta.MediaStorageSOPInstanceUID == result.SOPInstanceUID
    assert original.SOPInstanceUID.encode() not in raw
    kept = plan(entry("00080018", hashuid("x")), sync_media_storage=False)
    _, result, _, _ = run(kept, "MR_small.dcm")
    assert result.file_meta.MediaStorageSOPInstanceUID == original.SOPInstanceUID


def test_media_storage_follows_sop_instance_uid_even_when_no_rule_touches_it():
    # rtplan's file meta already names another instance than its SOPInstanceUID
    original, result, _, _ = run(plan(entry("00100020", replace("X"))), "rtplan.dcm")
    assert original.file_meta.MediaStorageSOPInstanceUID != original.SOPInstanceUID
    assert result.file_meta.MediaStorageSOPInstanceUID == result.SOPInstanceUID == \
        original.SOPInstanceUID


@pytest.mark.parametrize("sop_rule", [(), (entry("00080018", hashuid("x")),)])
def test_media_storage_removed_by_a_rule_still_follows_sop_instance_uid(sop_rule):
    # as the fast path does: the meta must name the instance the file holds
    from deidc.execute.fast import FastPlan, deidentify_fast

    removing = plan(entry("00020003", remove()), *sop_rule)
    _, result, raw, _ = run(removing, "CT_small.dcm")
    assert result.file_meta.MediaStorageSOPInstanceUID == result.SOPInstanceUID
    fast = io.BytesIO()
    deidentify_fast(FastPlan(removing), source("CT_small.dcm"), fast, rng=random.Random(0))
    assert fast.getvalue() == raw
    kept = plan(entry("00020003", remove()), *sop_rule, sync_media_storage=False)
    _, result, _, _ = run(kept, "CT_small.dcm")
    assert "MediaStorageSOPInstanceUID" not in result.file_meta


def test_replace_with_inserts_into_the_file_meta():
    _, result, _, _ = run(plan(entry("00020016", replace("DEIDC"))), "CT_small.dcm")
    assert result.file_meta.SourceApplicationEntityTitle == "DEIDC"
    assert "SourceApplicationEntityTitle" not in result  # not in the dataset


# --- errors and every pydicom test file ------------------------------------------------------

def test_a_value_an_action_cannot_handle_names_tag_rule_and_reason():
    with pytest.raises(ExecutionError) as caught:
        run(plan(entry("00100020", shift_date(1))), "CT_small.dcm")
    message = str(caught.value)
    assert "PatientID (0010,0020)" in message and "tests/profile.yaml" in message
    assert "\n" not in message and caught.value.tag == 0x00100020


def test_insert_of_a_tag_with_no_dictionary_vr_is_an_error_not_an_exit():
    with pytest.raises(ExecutionError, match="VR"):
        run(plan(entry("00091234", replace("X"))), "MR_small.dcm")


def test_a_file_read_implicitly_under_an_explicit_syntax_is_written_explicitly():
    original, result, _, _ = run(plan(entry("00100020", replace("X"))), "SC_rgb_jpeg.dcm")
    assert result.PatientID == "X" and list(result.ImageType) == list(original.ImageType)


BLOCKLIST = plan(entry("00100010", remove()), entry("00100020", replace("ANON")),
                 entry("0020000D", hashuid()), entry("00080018", hashuid()),
                 entry("00080050", hash_()), entry("00081155", hashuid()),
                 remove_private=True, recurse=True)


@pytest.mark.parametrize("path", TEST_FILES, ids=os.path.basename)
def test_every_pydicom_file_comes_out_readable_or_fails_clearly(path):
    try:
        original, result, raw, _ = run(BLOCKLIST, path)
    except ExecutionError as exc:
        assert "\n" not in str(exc) and str(exc)
        return
    assert "PatientName" not in result
    assert not [e for e in result.iterall() if e.tag.group & 1]
    if "PatientID" in result:
        assert result.PatientID == "ANON"
    named = (0x00080018, 0x0020000D, 0x00081155)
    others = [str(e.value) for e in original.iterall() if e.tag not in named]
    # a value also held by an attribute the plan leaves alone (or inside one) may stay
    secret = [str(e.value) for e in original.iterall() if e.tag in named and e.value
              and not any(str(e.value) in other for other in others)]
    assert values_in(raw, *secret) == []


# --- the deid-log ----------------------------------------------------------------------------

def test_log_values_read_as_flywheel_does():
    columns = (LogColumn("SOPInstanceUID", "00080018", None),
               LogColumn("PatientID", "00100020", None),
               LogColumn("OperatorsName", "00081070", None),
               LogColumn("ImageType", "00080008", None),
               LogColumn("regex: .*Date$", None, ".*Date$"))
    a_plan = plan(entry("00080020", shift_date(1)), log_columns=columns,
                  patterns=(pattern(".*Date$"),))
    ds = pydicom.dcmread(source("CT_small.dcm"))
    cells = log_values(a_plan, ds)
    assert cells["PatientID"] == "1CT1" and cells["OperatorsName"] == ""
    assert cells["ImageType"] == "ORIGINAL,PRIMARY,AXIAL"
    assert '"StudyDate": "20040119"' in cells["regex: .*Date$"]
    apply_plan(a_plan, ds, rng=random.Random(0))
    assert '"StudyDate": "20040120"' in log_values(a_plan, ds)["regex: .*Date$"]


def test_log_values_of_private_nested_wildcard_and_repeater_columns():
    columns = (LogColumn("private", GEMS_IDEN, None),
               LogColumn("nested", "300C0060.0.00081155", None),
               LogColumn("missing item", "300C0060.3.00081155", None),
               LogColumn("wildcard", "300A00B0.*.300A00C2", None),
               LogColumn("repeater", "60XX0022", None))
    a_plan = plan(log_columns=columns)
    rtplan = log_values(a_plan, pydicom.dcmread(source("rtplan.dcm")))
    assert rtplan == {"private": "", "nested": "1.2.333.444.55.6.7777.88888",
                      "missing item": "", "wildcard": '{"300a00b0.0.300a00c2": "Field 1"}',
                      "repeater": "{}"}
    overlay = log_values(a_plan, pydicom.dcmread(source("examples_overlay.dcm")))
    assert overlay["repeater"] == '{"60000022": "Siemens MedCom Object Graphics"}'
    assert log_values(a_plan, pydicom.dcmread(source("CT_small.dcm")))["private"] == \
        "HiSpeed CT/i"


# --- regexes below private sequences (issue 10, item 3) ----------------------------------------

def private_sequence_file(path) -> str:
    """CT_small with a private sequence (2005,"Philips MR Imaging DD 001",02) holding public
    elements, as Philips files do, and a public sequence holding a private block."""
    from pydicom.dataset import Dataset

    ds = pydicom.dcmread(source("CT_small.dcm"))
    code = Dataset()
    code.CodeMeaning = "PRIVATE SEQUENCE MEANING"
    code.ReferencedSOPInstanceUID = "1.2.3.4.5"
    ds.add_new(0x20050010, "LO", "Philips MR Imaging DD 001")
    ds.add_new(0x20051402, "SQ", [code])
    image = Dataset()
    image.ReferencedSOPInstanceUID = "1.2.3.4.6"
    image.add_new(0x00090010, "LO", "ACME 1.0")
    image.add_new(0x00091001, "LO", "PRIVATE IN PUBLIC")
    meaning = Dataset()
    meaning.CodeMeaning = "PUBLIC SEQUENCE MEANING"
    image.PurposeOfReferenceCodeSequence = [meaning]
    ds.ReferencedImageSequence = [image]
    ds.save_as(path, enforce_file_format=True)
    return str(path)


KEYWORD_REGEXES = """
    dicom:
      fields:
        - regex: '.*CodeMeaning$'
          replace-with: MEANING
        - regex: '^ReferencedImageSequence\\.0\\.(ReferencedSOPInstanceUID|00091001)$'
          replace-with: 7.7.7
          replace-with-insert: false
        - regex: '^20051402\\.0\\.00081155$'
          replace-with: 9.9.9
"""


def test_keyword_regexes_see_only_hex_paths_below_private_sequences(tmp_path):
    """Flywheel's meaning, on both paths: a keyword path exists only while every step has a
    keyword.  Below a private sequence, or for a private element in a public one, a regex
    sees the hex path alone."""
    from deidc.compiler import compile_profile

    profile = tmp_path / "regexes.yaml"
    profile.write_text(KEYWORD_REGEXES)
    original, result, _, _ = run(compile_profile(str(profile)),
                                 private_sequence_file(tmp_path / "in.dcm"))
    private_item = result[0x20051402].value[0]
    assert private_item.CodeMeaning == "PRIVATE SEQUENCE MEANING"  # 20051402.0.CodeMeaning
    assert private_item.ReferencedSOPInstanceUID == "9.9.9"  # the hex path matches
    image = result.ReferencedImageSequence[0]
    assert image.ReferencedSOPInstanceUID == "7.7.7"
    assert image[0x00091001].value == "PRIVATE IN PUBLIC"  # ReferencedImageSequence.0.00091001
    assert image.PurposeOfReferenceCodeSequence[0].CodeMeaning == "MEANING"
