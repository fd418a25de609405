"""V and C rules: replace-with values that do not fit the attribute's VR, and options that
are missing or that Flywheel trips over."""

from __future__ import annotations

from tests.conftest import codes


def _only(diagnostics, code):
    found = [d for d in diagnostics if d.code == code]
    assert len(found) == 1, codes(diagnostics)
    return found[0]


def _replace(name: str, value: str) -> str:
    return f"""
    dicom:
      fields:
        - name: {name}
          replace-with: {value}
    """


def test_emptying_a_sequence_is_v006_info(lint_text):
    v006 = _only(lint_text(_replace("OtherPatientIDsSequence", "''")), "V006")
    assert v006.severity.value == "info"
    assert "OtherPatientIDsSequence" in v006.message


def test_replacing_a_sequence_with_a_value_is_v006_error(lint_text):
    v006 = _only(lint_text(_replace("OtherPatientIDsSequence", "REMOVED")), "V006")
    assert v006.severity.value == "error"
    assert "REMOVED" in v006.message


def test_replace_with_on_a_non_sequence_is_not_v006(lint_text):
    assert "V006" not in codes(lint_text(_replace("PatientID", "REMOVED")))


def test_iso_date_on_a_da_is_v005(lint_text):
    v005 = _only(lint_text(_replace("StudyDate", "'2024-01-17'")), "V005")
    assert "StudyDate" in v005.message


def test_dicom_date_on_a_da_is_not_v005(lint_text):
    assert "V005" not in codes(lint_text(_replace("StudyDate", "'20240117'")))


def test_number_on_a_ds_is_not_v005(lint_text):
    assert "V005" not in codes(lint_text(_replace("PatientWeight", "70.5")))


def test_date_shift_without_date_increment_is_c001(lint_text):
    c001 = _only(lint_text("""
    dicom:
      fields:
        - name: StudyDate
          increment-date: true
    """), "C001")
    assert "date-increment" in c001.message


def test_date_increment_override_on_the_rule_is_not_c001(lint_text):
    assert "C001" not in codes(lint_text("""
    dicom:
      fields:
        - name: StudyDate
          increment-date: true
          date-increment-override: -14
    """))


def test_file_level_date_increment_is_not_c001(lint_text):
    assert "C001" not in codes(lint_text("""
    dicom:
      date-increment: -14
      fields:
        - name: StudyDate
          increment-date: true
    """))


def _with_log(log: str) -> str:
    return f"""
    deid-log: {log}
    dicom:
      fields:
        - name: PatientName
          remove: true
    """


def test_bare_deid_log_name_is_c004(lint_text):
    c004 = _only(lint_text(_with_log("log.csv")), "C004")
    assert "./log.csv" in c004.hint


def test_deid_log_with_folder_is_not_c004(lint_text):
    assert "C004" not in codes(lint_text(_with_log("./log.csv")))
