"""T and X rules: sorting tags a profile destroys (per site configuration and in Flywheel's
order of application) and profiles that leak while looking fine."""

from __future__ import annotations

from tests.conftest import codes


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
