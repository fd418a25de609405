"""R rules: Flywheel's `re.match` anchors only the start, bad patterns fail every file, and a
pathological pattern must be recognised without ever being run."""

from __future__ import annotations

import time

import pytest

from tests.conftest import codes


def _profile(pattern: str, action: str = "remove: true") -> str:
    return f"""
    dicom:
      fields:
        - regex: '{pattern}'
          {action}
    """


def test_identification_sequence_pattern_matches_and_is_not_overmatching(lint_text):
    found = codes(lint_text(_profile(".*IdentificationSequence.*")))
    assert "R003" not in found
    assert "R004" not in found


def test_unanchored_patient_id_pattern_overmatches_other_patient_ids_sequence(lint_text):
    r004 = [d for d in lint_text(_profile(".*PatientID")) if d.code == "R004"]
    assert len(r004) == 1
    assert "OtherPatientIDsSequence" in r004[0].message
    assert ".*PatientID$" in r004[0].hint


def test_end_anchored_patient_id_pattern_does_not_overmatch(lint_text):
    assert "R004" not in codes(lint_text(_profile(".*PatientID$")))


def test_misspelt_pattern_matches_nothing(lint_text):
    assert "R003" in codes(lint_text(_profile("PatientNme.*")))


def test_nested_repeat_is_r002_and_linting_it_is_fast(lint_text):
    start = time.perf_counter()
    found = lint_text(_profile("(a+)+$"))
    elapsed = time.perf_counter() - start
    assert "R002" in codes(found)
    assert elapsed < 1.0, f"linting a pathological regex took {elapsed:.2f} s"


def test_nested_repeat_is_not_reported_as_matching_nothing_or_invalid(lint_text):
    found = codes(lint_text(_profile("(.*Name)*x")))
    assert "R002" in found
    assert not {"R001", "R003", "R004"} & set(found)


def test_single_repeat_is_not_r002(lint_text):
    assert "R002" not in codes(lint_text(_profile(".*Name")))


def test_unbalanced_paren_is_r001_and_nothing_else_about_the_pattern(lint_text):
    found = lint_text(_profile("(Patient.*"))
    r001 = [d for d in found if d.code == "R001"]
    assert len(r001) == 1
    assert "(Patient.*" in r001[0].message
    assert not {"R002", "R003", "R004"} & set(codes(found))


def test_transform_matching_keyword_and_hex_path_is_r005_but_remove_is_not(lint_text):
    assert "R005" in codes(lint_text(_profile(".*", "hash: true")))
    assert "R005" not in codes(lint_text(_profile(".*", "remove: true")))


REGEX_SUB = """
dicom:
  fields:
    - name: PatientName
      regex-sub:
        - input-regex: '{pattern}'
          output: '{{last}}'
"""


def test_a_backtracking_regex_sub_input_regex_is_r002_and_does_not_compile(lint_text, tmp_path):
    """The issue's name-splitting pattern: `(\\w+\\s?)+` matches one name in many ways."""
    risky = r"(?P<last>(\w+\s?)+)\^(?P<first>.*)"
    found = [d for d in lint_text(REGEX_SUB.format(pattern=risky)) if d.code == "R002"]
    assert len(found) == 1 and found[0].message.startswith(
        "PatientName: regex-sub input-regex `(?P<last>(\\w+\\s?)+)\\^(?P<first>.*)` is not safe")
    assert found[0].line == 6  # the input-regex itself
    path = tmp_path / "risky.yaml"
    path.write_text(REGEX_SUB.format(pattern=risky))
    from deidc.compiler import CompileError, compile_profile

    with pytest.raises(CompileError):
        compile_profile(str(path))


def test_a_plain_regex_sub_input_regex_is_not_r002(lint_text):
    safe = r"(?P<last>\w+( \w+)*)\^(?P<first>.*)"
    assert "R002" not in codes(lint_text(REGEX_SUB.format(pattern=safe)))
