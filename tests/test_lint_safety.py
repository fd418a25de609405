"""X rules (and a few T rules on configured sorting tags): keeplists that drop images, keep
nothing or orphan what they keep; file meta UID leaks; boolean actions set to false; constant
SOP instance UIDs; replace-with without a value.  The Flywheel behaviours the messages claim
are checked against flywheel-migration when it is installed beside the repository."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

from deidc.lint import Severity, lint_files

from tests.conftest import REAL_PROFILES, codes, flywheel_python

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _t001(diagnostics):
    return [d for d in diagnostics if d.code == "T001"]


REMOVES_PATIENT_ID_AND_ACCESSION = """
dicom:
  fields:
    - name: PatientID
      remove: true
    - name: AccessionNumber
      remove: true
"""


def test_default_sorting_tags_report_patient_id_not_accession(lint_text):
    found = _t001(lint_text(REMOVES_PATIENT_ID_AND_ACCESSION))
    assert [d.message.split()[0] for d in found] == ["PatientID"]


def test_configured_sorting_tags_replace_the_defaults(lint_text):
    found = _t001(lint_text(REMOVES_PATIENT_ID_AND_ACCESSION, sorting_tags=("AccessionNumber",)))
    assert [d.message.split()[0] for d in found] == ["AccessionNumber"]


def test_sorting_tag_removed_by_regex_names_the_regex(lint_text):
    found = _t001(lint_text("""
    dicom:
      fields:
        - regex: 'Series.*UID$'
          remove: true
    """))
    assert any("SeriesInstanceUID" in d.message and "Series.*UID$" in d.message for d in found)


def test_later_replace_with_after_remove_is_not_t001(lint_text):
    found = lint_text("""
    dicom:
      fields:
        - name: PatientID
          remove: true
        - name: PatientID
          replace-with: SUBJECT-001
    """)
    assert "T001" not in codes(found)


def test_keeplist_without_fields_is_x002(lint_text):
    found = [d for d in lint_text("""
    dicom:
      remove-undefined: true
    """) if d.code == "X002"]
    assert len(found) == 1
    assert found[0].severity.value == "error"


def test_keeplist_with_fields_is_not_x002(lint_text):
    assert "X002" not in codes(lint_text("""
    dicom:
      remove-undefined: true
      fields:
        - name: PatientSex
    """))


def test_no_remove_undefined_is_not_x002(lint_text):
    assert "X002" not in codes(lint_text("""
    dicom:
      date-increment: -10
    """))


def test_sop_instance_uid_changed_without_media_storage_is_x003(lint_text):
    found = [d for d in lint_text("""
    dicom:
      fields:
        - name: SOPInstanceUID
          hashuid: true
    """) if d.code == "X003"]
    assert len(found) == 1
    assert "MediaStorageSOPInstanceUID" in found[0].hint


def test_media_storage_named_too_is_not_x003(lint_text):
    assert "X003" not in codes(lint_text("""
    dicom:
      fields:
        - name: MediaStorageSOPInstanceUID
          hashuid: true
        - name: SOPInstanceUID
          hashuid: true
    """))


def test_sop_instance_uid_kept_is_not_x003(lint_text):
    assert "X003" not in codes(lint_text("""
    dicom:
      fields:
        - name: SOPInstanceUID
          keep: true
    """))


# --- the X family in full ---


def only(diagnostics, code):
    return [d for d in diagnostics if d.code == code]


def rules(*lines: str, options: str = "") -> str:
    return "dicom:\n" + options + "  fields:\n" + "\n".join(lines) + "\n"


KEEPLIST = "  remove-undefined: true\n"


# --- X001: keeplist drops the image ---

def test_keeplist_names_the_image_attributes_it_drops(lint_text):
    found = only(lint_text(rules("    - name: PatientID", "    - name: Rows",
                                 "    - name: Columns", options=KEEPLIST)), "X001")
    assert len(found) == 1 and found[0].severity is Severity.WARNING
    assert "Rows" not in found[0].message and "Columns" not in found[0].message
    assert "SOPInstanceUID" in found[0].message and "PixelData (the pixels themselves)" in \
        found[0].message
    assert (found[0].line, found[0].column) == (2, 21)


def test_keeplist_that_names_the_image_or_is_no_keeplist_is_fine(lint_text):
    every = [f"    - name: {keyword}" for keyword in (
        "SOPClassUID", "SOPInstanceUID", "Rows", "Columns", "BitsAllocated", "BitsStored",
        "HighBit", "PixelRepresentation", "SamplesPerPixel", "PhotometricInterpretation",
        "PixelData")]
    assert "X001" not in codes(lint_text(rules(*every, options=KEEPLIST)))
    assert "X001" not in codes(lint_text(rules("    - name: PatientID\n      remove: true")))


# --- X002: keeplist without fields ---

@pytest.mark.parametrize("fields", ["", "  fields: []\n"])
def test_keeplist_without_fields_is_an_error_that_says_both_behaviours(lint_text, fields):
    found = only(lint_text("dicom:\n  remove-undefined: true\n" + fields), "X002")
    assert len(found) == 1 and found[0].severity is Severity.ERROR
    assert "Flywheel keeps every element" in found[0].message
    assert "deidc removes every element" in found[0].message


def test_no_x002_for_a_blocklist_without_fields(lint_text):
    assert "X002" not in codes(lint_text("dicom:\n  remove-private-tags: true\n"))


# --- X003: MediaStorageSOPInstanceUID ---

@pytest.mark.parametrize("action", ["hashuid: true", "hash: true", "replace-with: 1.2.3",
                                    "remove: true"])
def test_changing_sop_instance_uid_alone_leaks_it_in_the_file_meta(lint_text, action):
    found = only(lint_text(rules(f"    - name: SOPInstanceUID\n      {action}")), "X003")
    assert len(found) == 1 and found[0].severity is Severity.WARNING
    assert f"SOPInstanceUID is changed ({action.split(':')[0]})" in found[0].message
    assert "MediaStorageSOPInstanceUID" in found[0].hint


def test_a_regex_changing_sop_instance_uid_cannot_reach_the_file_meta(lint_text):
    found = only(lint_text(rules("    - regex: .*InstanceUID\n      hashuid: true")), "X003")
    assert "through the regex `.*InstanceUID`" in found[0].message


@pytest.mark.parametrize("name", ["MediaStorageSOPInstanceUID", "'00020003'"])
def test_changing_both_is_fine(lint_text, name):
    found = lint_text(rules("    - name: SOPInstanceUID\n      hashuid: true",
                            f"    - name: {name}\n      hashuid: true"))
    assert "X003" not in codes(found)


LEAVES_THE_META_UID = ["    - name: MediaStorageSOPInstanceUID\n      keep: true",
                       "    - name: MediaStorageSOPInstanceUID\n      identity: true",
                       "    - name: MediaStorageSOPInstanceUID",
                       "    - name: '00020003'\n      keep: true",
                       "    - name: MediaStorageSOPInstanceUID\n      replace-with:",
                       "    - regex: MediaStorage.*\n      hashuid: true"]


@pytest.mark.parametrize("meta_rule", LEAVES_THE_META_UID)
def test_a_rule_that_leaves_the_file_meta_uid_does_not_sync_it(lint_text, meta_rule):
    found = only(lint_text(rules("    - name: SOPInstanceUID\n      hashuid: true", meta_rule)),
                 "X003")
    assert len(found) == 1 and found[0].line == 3


def test_keeping_sop_instance_uid_is_fine(lint_text):
    assert "X003" not in codes(lint_text(rules("    - name: SOPInstanceUID\n      keep: true")))


# --- X004: boolean action not true ---

@pytest.mark.parametrize("action", ["remove: false", "hash: 'yes'", "keep: 0", "hashuid: no"])
def test_a_boolean_action_not_true_is_an_error(lint_text, action):
    found = only(lint_text(rules(f"    - name: PatientName\n      {action}")), "X004")
    assert len(found) == 1 and found[0].severity is Severity.ERROR
    key = action.split(":")[0]
    assert found[0].message.startswith(f"`{key}: ")
    assert f"applies `{key}` anyway" in found[0].message
    assert (found[0].line, found[0].column) == (4, 7 + len(key) + 2)


def test_boolean_actions_in_filename_and_regex_sub_groups(lint_text):
    profile = textwrap.dedent("""\
        dicom:
          filenames:
            - output: '{reg_date}.dcm'
              input-regex: '^(?P<reg_date>\\d+).dcm$'
              groups:
                - name: reg_date
                  increment-date: false
          fields:
            - name: PatientID
              regex-sub:
                - input-regex: '(?P<site>\\w+)-(?P<num>\\d+)'
                  output: '{site}{num}'
                  groups:
                    - name: num
                      hash: false
        """)
    found = only(lint_text(profile), "X004")
    assert sorted((d.line, d.message.split(":")[0]) for d in found) == [
        (7, "`increment-date"), (15, "`hash")]


def test_template_placeholders_and_true_are_fine(lint_text):
    found = lint_text(rules("    - name: PatientBirthDate\n      remove: '{{ PATIENT_BD_BOOL }}'",
                            "    - name: PatientName\n      remove: true"))
    assert "X004" not in codes(found)


# --- X005: constant SOPInstanceUID ---

def test_a_constant_sop_instance_uid_loses_files_in_flywheel(lint_text):
    found = only(lint_text(rules("    - name: SOPInstanceUID\n      replace-with: 1.2.3.4")),
                 "X005")
    assert len(found) == 1 and found[0].severity is Severity.ERROR
    assert "each file overwrites the last" in found[0].message
    assert "hashuid" in found[0].hint


def test_with_filenames_the_files_survive_but_share_one_uid(lint_text):
    profile = rules("    - name: SOPInstanceUID\n      replace-with: 1.2.3.4",
                    options="  filenames:\n    - output: '{PatientID}.dcm'\n"
                            "      input-regex: '.*'\n")
    found = only(lint_text(profile), "X005")
    assert "same instance UID" in found[0].message
    assert "overwrites" not in found[0].message


def test_a_blank_or_regex_constant_sop_instance_uid(lint_text):
    blank = only(lint_text(rules("    - name: SOPInstanceUID\n      replace-with: ''")), "X005")
    assert "blanked" in blank[0].message
    regex = lint_text(rules("    - regex: .*InstanceUID\n      replace-with: '1.2'"))
    assert "X005" in codes(regex) and "T003" in codes(regex)


@pytest.mark.parametrize("action", ["hashuid: true", "replace-with: '{{ SOP_UID }}'",
                                    "replace-with: null"])
def test_no_x005_for_distinct_values(lint_text, action):
    assert "X005" not in codes(lint_text(rules(f"    - name: SOPInstanceUID\n      {action}")))


# --- X006: replace-with without a value ---

@pytest.mark.parametrize("value", ["", " null", " ~"])
def test_replace_with_without_a_value_is_an_error(lint_text, value):
    found = only(lint_text(rules(f"    - name: PatientName\n      replace-with:{value}")),
                 "X006")
    assert len(found) == 1 and found[0].severity is Severity.ERROR
    assert "PatientName has no value" in found[0].message
    assert "unchanged" in found[0].message


def test_replace_with_an_empty_string_is_not_x006(lint_text):
    assert "X006" not in codes(lint_text(rules("    - name: PatientName\n      replace-with: ''")))


# --- X007: wildcard path in a keeplist ---

def test_a_wildcard_keep_without_its_sequence_is_dropped_whole(lint_text):
    found = only(lint_text(rules("    - name: BeamSequence.*.BeamName", options=KEEPLIST)),
                 "X007")
    assert len(found) == 1 and found[0].severity is Severity.WARNING
    assert "deletes BeamSequence whole, BeamName included" in found[0].message
    assert found[0].hint == "also name the sequence: - name: BeamSequence"


@pytest.mark.parametrize("path", ["BeamSequence.*.ControlPointSequence.*.GantryAngle",
                                  "BeamSequence.0.ControlPointSequence.*.GantryAngle",
                                  "BeamSequence.*.ControlPointSequence.0.GantryAngle"])
def test_a_path_two_sequences_deep_keeps_its_parents_so_no_x007(lint_text, path):
    """Flywheel keeps BeamSequence and ControlPointSequence then (measured on rtplan.dcm),
    as deidc does (issue 10, item 6)."""
    assert "X007" not in codes(lint_text(rules(f"    - name: {path}", options=KEEPLIST)))


@pytest.mark.parametrize("extra, options", [
    ("    - name: BeamSequence", KEEPLIST),
    ("    - name: BeamSequence.0.BeamNumber", KEEPLIST),
    ("    - name: PatientID", ""),
])
def test_a_wildcard_keep_with_its_sequence_named_or_without_keeplist_is_fine(
        lint_text, extra, options):
    found = lint_text(rules(extra, "    - name: BeamSequence.*.BeamName", options=options))
    assert "X007" not in codes(found)


# --- X008: private creator in a keeplist ---

def test_a_private_keep_in_a_keeplist_loses_its_creator(lint_text):
    found = only(lint_text(rules('    - name: (0009, "GEMS_IDEN_01", 04)', options=KEEPLIST)),
                 "X008")
    assert len(found) == 1 and found[0].severity is Severity.WARNING
    assert "private creator (0009,00xx) `GEMS_IDEN_01`" in found[0].message
    assert "'00090010'" in found[0].hint


@pytest.mark.parametrize("extra, options", [
    ("    - name: '00090010'", KEEPLIST),
    ("    - regex: '0009'", KEEPLIST),
    ("    - name: PatientID", ""),
])
def test_a_private_keep_with_its_creator_or_without_keeplist_is_fine(lint_text, extra, options):
    found = lint_text(rules(extra, '    - name: (0009, "GEMS_IDEN_01", 04)', options=options))
    assert "X008" not in codes(found)


# --- X009: MediaStorageSOPInstanceUID removed, blanked or set to a constant ---

REMOVES_THE_META_UID = ["    - name: MediaStorageSOPInstanceUID\n      remove: true",
                        "    - name: '(0002,0003)'\n      remove: true",
                        "    - name: MediaStorageSOPInstanceUID\n      replace-with: ''",
                        "    - name: MediaStorageSOPInstanceUID\n      replace-with: '1.2.3.4'"]


@pytest.mark.parametrize("meta_rule", REMOVES_THE_META_UID)
@pytest.mark.parametrize("sop_rule", ["", "    - name: SOPInstanceUID\n      hashuid: true"])
def test_removing_the_file_meta_uid_is_x009(lint_text, meta_rule, sop_rule):
    found = lint_text(rules(*filter(None, [sop_rule, meta_rule])))
    (x009,) = only(found, "X009")
    assert x009.severity == "warning" and x009.line == (6 if sop_rule else 4)  # the action
    said = meta_rule.split("\n")[1].strip().replace("'1.2.3.4'", "1.2.3.4")
    assert f"`{said}`" in x009.message
    assert "deidc apply writes SOPInstanceUID there instead, so the outputs differ" \
        in x009.message
    assert "X003" not in codes(found)


@pytest.mark.parametrize("meta_rule", [
    "    - name: MediaStorageSOPInstanceUID\n      hashuid: true",
    "    - name: MediaStorageSOPInstanceUID\n      remove: true\n"
    "    - name: SOPInstanceUID\n      remove: true",  # both tools then drop it
])
def test_changing_the_file_meta_uid_otherwise_is_not_x009(lint_text, meta_rule):
    assert "X009" not in codes(lint_text(rules(meta_rule)))


@pytest.mark.parametrize("meta_rule", REMOVES_THE_META_UID)
def test_deidc_writes_sop_instance_uid_where_x009_says(tmp_path, meta_rule):
    import io
    import random

    from deidc.compiler import compile_profile
    from deidc.execute.dataset import deidentify_file
    from deidc.execute.fast import FastPlan, deidentify_fast

    path = tmp_path / "profile.yaml"
    path.write_text(rules("    - name: SOPInstanceUID\n      hashuid: true", meta_rule))
    plan, source = compile_profile(path), get_testdata_file("CT_small.dcm", download=False)
    dataset_path, fast_path = io.BytesIO(), io.BytesIO()
    deidentify_file(plan, source, dataset_path, rng=random.Random(0))
    deidentify_fast(FastPlan(plan), source, fast_path, rng=random.Random(0))
    assert fast_path.getvalue() == dataset_path.getvalue()
    written = pydicom.dcmread(io.BytesIO(dataset_path.getvalue()))
    assert written.file_meta.MediaStorageSOPInstanceUID == written.SOPInstanceUID
    assert written.SOPInstanceUID != pydicom.dcmread(source).SOPInstanceUID


# --- not findings ---

def test_patient_age_uses_the_original_dates_so_removing_them_is_fine(lint_text):
    profile = rules("    - name: PatientBirthDate\n      remove: true",
                    "    - name: StudyDate\n      remove: true",
                    options="  patient-age-from-birthdate: true\n")
    found = lint_text(profile)
    assert not [d for d in found if d.code[0] in "TX"]


# --- the seed and real profiles ---

@pytest.mark.parametrize("name, expected", [
    ("seed-blocklist-fixed.yaml", [("X003", 21)]),
    ("seed-keeplist-fixed.yaml", [("X001", 13), ("X010", 13)]),
])
def test_fixed_seed_safety_findings(name, expected):
    path = EXAMPLES / "seed" / name
    if not path.is_file():
        pytest.skip("the fixed seed examples are not in this checkout")
    found = [d for d in lint_files([str(path)]).diagnostics if d.code.startswith("X")]
    assert [(d.code, d.line) for d in found] == expected
    if name.startswith("seed-keeplist"):
        assert "SOPClassUID" not in found[0].message  # the seed lists it
        assert "PixelData (the pixels themselves)" in found[0].message


def test_real_profile_with_a_false_action_in_a_filename_group():
    path = REAL_PROFILES / "grp13__example4-deid-profile-jinja.yaml"
    if not path.is_file():
        pytest.skip("real profiles are not beside the repository")
    found = [d for d in lint_files([str(path)]).diagnostics if d.code.startswith("X")]
    assert [(d.code, d.line) for d in found] == [("X004", 13)]  # `remove: "{{ ... }}"` is not
    assert "`increment-date: False` on reg_date" in found[0].message


# --- what Flywheel does, measured ---

FLYWHEEL = flywheel_python()

DRIVER = """
import os, sys, logging, warnings
warnings.simplefilter("ignore")
logging.disable(logging.CRITICAL)
from fs.osfs import OSFS
from flywheel_migration.deidentify import load_profile
profile, source, target = sys.argv[1:4]
loaded = load_profile(profile)
for name in sorted(os.listdir(source)):
    loaded.process_file(OSFS(source), name, OSFS(target))
"""


def flywheel_run(tmp_path, profile: str, inputs: dict[str, pydicom.Dataset]) -> list:
    if FLYWHEEL is None:
        pytest.skip("flywheel-migration is not available")
    source, target = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    target.mkdir()
    for name, ds in inputs.items():
        ds.save_as(source / name)
    (tmp_path / "profile.yaml").write_text(textwrap.dedent(profile))
    subprocess.run([FLYWHEEL, "-c", DRIVER, str(tmp_path / "profile.yaml"), str(source),
                    str(target)], check=True, capture_output=True, timeout=120)
    return [pydicom.dcmread(path) for path in sorted(target.iterdir())]


def mr_copies(count: int) -> dict[str, pydicom.Dataset]:
    copies = {}
    for i in range(count):
        ds = pydicom.dcmread(get_testdata_file("MR_small.dcm", download=False))
        ds.SOPInstanceUID = f"{ds.SOPInstanceUID}.{i}"
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        copies[f"f{i}.dcm"] = ds
    return copies


def test_flywheel_writes_one_file_for_a_constant_sop_instance_uid(tmp_path):
    written = flywheel_run(tmp_path, """
        dicom:
          fields:
            - name: SOPInstanceUID
              replace-with: 1.2.3.4
        """, mr_copies(3))
    assert len(written) == 1


@pytest.mark.parametrize("meta_rule", LEAVES_THE_META_UID[:3] + LEAVES_THE_META_UID[-1:])
def test_flywheel_leaves_the_original_uid_in_the_file_meta(tmp_path, meta_rule):
    ct = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
    (written,) = flywheel_run(tmp_path, rules("    - name: SOPInstanceUID\n      hashuid: true",
                                              meta_rule), {"ct.dcm": ct})
    assert written.SOPInstanceUID != ct.SOPInstanceUID
    assert written.file_meta.MediaStorageSOPInstanceUID == ct.file_meta.MediaStorageSOPInstanceUID


def test_flywheel_keeplist_drops_a_wildcard_sequence_and_a_private_creator(tmp_path):
    inputs = {"rtplan.dcm": pydicom.dcmread(get_testdata_file("rtplan.dcm", download=False)),
              "ct.dcm": pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))}
    rtplan, ct = flywheel_run(tmp_path, """
        dicom:
          remove-undefined: true
          fields:
            - name: PatientID
            - name: BeamSequence.*.BeamName
            - name: (0009, "GEMS_IDEN_01", 04)
        """, inputs)
    if "BeamSequence" not in rtplan:
        rtplan, ct = ct, rtplan
    assert "BeamSequence" not in ct and "BeamSequence" not in rtplan
    assert 0x00091004 in ct and 0x00090010 not in ct


@pytest.mark.parametrize("meta_rule", REMOVES_THE_META_UID)
def test_flywheel_writes_the_file_meta_uid_as_x009_says(tmp_path, meta_rule):
    ct = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
    (written,) = flywheel_run(tmp_path, rules("    - name: SOPInstanceUID\n      hashuid: true",
                                              meta_rule), {"ct.dcm": ct})
    assert written.preamble is not None  # still a Part 10 file, with the DICM prefix
    assert written.SOPInstanceUID != ct.SOPInstanceUID
    if "remove" in meta_rule:
        assert "MediaStorageSOPInstanceUID" not in written.file_meta
    else:  # what replace-with says, blank or constant
        assert written.file_meta.MediaStorageSOPInstanceUID == \
            ("1.2.3.4" if "1.2.3.4" in meta_rule else "")


# --- X010: a keeplist that drops SOPInstanceUID ---

def test_a_keeplist_without_sop_instance_uid_loses_the_file_meta_uid(lint_text, tmp_path):
    text = rules("    - name: SOPClassUID", "    - name: PixelData", options=KEEPLIST)
    found = only(lint_text(text), "X010")
    assert len(found) == 1 and found[0].severity is Severity.WARNING
    assert "drops MediaStorageSOPInstanceUID from the file meta" in found[0].message
    # what the warning says, on a real file: the output's file meta has no instance UID
    import io
    import random

    from deidc.compiler import compile_profile
    from deidc.execute.dataset import deidentify_file

    profile = tmp_path / "keeplist.yaml"
    profile.write_text(text)
    out = io.BytesIO()
    deidentify_file(compile_profile(str(profile)), get_testdata_file("CT_small.dcm",
                                                                     download=False),
                    out, rng=random.Random(0))
    written = pydicom.dcmread(io.BytesIO(out.getvalue()))
    assert "SOPInstanceUID" not in written
    assert "MediaStorageSOPInstanceUID" not in written.file_meta


@pytest.mark.parametrize("extra, options", [
    ("    - name: SOPInstanceUID", KEEPLIST),
    ("    - regex: '^SOPInstanceUID$'\n      hashuid: true", KEEPLIST),
    ("    - name: PatientID", ""),
])
def test_a_keeplist_naming_sop_instance_uid_or_no_keeplist_is_not_x010(lint_text, extra,
                                                                         options):
    assert "X010" not in codes(lint_text(rules("    - name: SOPClassUID", extra,
                                               options=options)))
