"""Y family rules that work on the loaded file (Y001-Y003 are covered with the source loader and
the CLI): here Y005's items that are not profiles, and Y006, template placeholders that were
never rendered."""

from __future__ import annotations

import pytest

from deidc.compiler import CompileError, compile_profile
from deidc.lint import LintConfig, Severity, lint_source
from deidc.profile.source import load_source

from tests.conftest import REAL_PROFILES, codes


def only(diagnostics, code):
    return [d for d in diagnostics if d.code == code]


def test_items_of_a_profile_list_that_are_not_profiles_are_reported(lint_text):
    found = only(lint_text("""
        - dicom:
            fields:
              - name: PatientName
                remove: true
        - 42
        - junk
        """), "Y005")
    assert [(d.line, d.severity, d.message) for d in found] == [
        (6, Severity.ERROR, "item 1 of the list of profiles is a number, not a de-id profile"),
        (7, Severity.ERROR, "item 2 of the list of profiles is a string, not a de-id profile")]


def test_items_of_an_ingest_configs_profiles_that_are_not_profiles_are_reported(lint_text):
    found = only(lint_text("""
        deid-profiles:
          - name: main
            dicom:
              fields:
                - name: PatientName
                  remove: true
          - [PatientID]
        """), "Y005")
    assert [(d.line, d.message) for d in found] == [
        (8, "item 1 of the list of profiles is a list, not a de-id profile")]


def test_a_list_of_profiles_only_is_clean(lint_text):
    assert not only(lint_text("""
        - name: one
          dicom: {}
        - name: two
          dicom: {}
        """), "Y005")


def test_a_placeholder_is_reported_where_it_is_written(lint_text):
    found = only(lint_text("""
        dicom:
          fields:
            - name: PatientID
              replace-with: '{{ SUBJECT_ID }}'
        """), "Y006")
    assert [(d.line, d.column, d.end_column) for d in found] == [(5, 22, 38)]
    assert found[0].severity is Severity.ERROR
    assert "`{{ SUBJECT_ID }}`" in found[0].message
    assert "render the template (e.g. with jinja2)" in found[0].hint


def test_each_placeholder_of_a_value_is_reported(lint_text):
    found = only(lint_text("""
        dicom:
          filenames:
            - output: "{{ SITE }}-{{ SUBJECT_ID }}.dcm"
              input-regex: '^.*\\.dcm$'
        """), "Y006")
    assert [(d.line, d.column) for d in found] == [(4, 16), (4, 27)]
    assert "`{{ SUBJECT_ID }}`" in found[1].message


def test_an_unquoted_placeholder_that_yaml_read_as_a_mapping(lint_text):
    found = only(lint_text("""
        dicom:
          date-increment: {{ DATE_INCREMENT }}
          fields:
            - name: StudyDate
              increment-date: true
        """), "Y006")
    assert [(d.line, d.column) for d in found] == [(3, 19)]
    assert "YAML reads it as a mapping" in found[0].message


def test_placeholders_in_block_scalars_and_other_sections(lint_text):
    found = only(lint_text("""
        dicom:
          fields:
            - name: PatientComments
              replace-with: >
                site {{ SITE }}
        export:
          subject:
            label: "{{ SUBJECT_ID }}"
        """), "Y006")
    assert [(d.line, d.column) for d in found] == [(6, 14), (9, 13)]


@pytest.mark.parametrize("value", [
    "'{reg_date}_{PatientID}.dcm'",  # Flywheel's own filename groups
    "'^\\d{4}-\\d{2}.dcm$'",  # regex repetition
    "'{ SUBJECT_ID }'",
    "'{}'",
])
def test_single_braces_are_not_templates(lint_text, value):
    found = lint_text(f"""
        dicom:
          filenames:
            - output: {value}
              input-regex: {value}
        """)
    assert "Y006" not in codes(found)


def test_a_template_does_not_compile(tmp_path):
    path = tmp_path / "template.yaml"
    path.write_text("dicom:\n  fields:\n    - name: PatientID\n"
                    "      replace-with: '{{ SUBJECT_ID }}'\n")
    with pytest.raises(CompileError) as raised:
        compile_profile(path)
    assert "Y006" in {d.code for d in raised.value.diagnostics}


def test_real_jinja_profile():
    path = REAL_PROFILES / "grp13__example4-deid-profile-jinja.yaml"
    if not path.is_file():
        pytest.skip("real profiles are not beside the repository")
    found = lint_source(load_source(path), LintConfig(select=("Y006",)))
    # The `{reg_date}` group of line 9 is Flywheel's own syntax, only its `{{ }}` counts.
    assert [(d.line, d.column, d.message.split("`")[1]) for d in found] == [
        (3, 20, "{{ DATE_INCREMENT }}"),
        (7, 16, "{{ SUBJECT_ID }}"),
        (9, 16, "{{ SUBJECT_ID }}"),
        (17, 16, "{{ PATIENT_BD_BOOL }}"),
        (20, 22, "{{ SUBJECT_ID }}"),
        (33, 13, "{{ SUBJECT_ID }}"),
    ]
