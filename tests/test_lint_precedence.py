"""P family: which rule really acts on an attribute.  The rule examples are checked by
test_rule_examples.py; these are the cases around them, and the agreement with the compiler."""

from __future__ import annotations

import textwrap

import pytest

from deidc.compiler import compile_profile

from tests.conftest import codes


def findings(lint_text, text: str, code: str):
    return [d for d in lint_text(text) if d.code == code]


def test_duplicate_under_another_notation_and_a_regex_is_not_a_duplicate(lint_text):
    (found,) = findings(lint_text, """
        dicom:
          fields:
            - name: PatientName
              remove: true
            - name: '00100010'
              remove: true
            - regex: 'PatientName'
              remove: true
    """, "P001")
    assert found.line == 6 and "line 4" in found.message


def test_same_attribute_different_actions_is_not_a_duplicate(lint_text):
    assert findings(lint_text, """
        dicom:
          fields:
            - name: PatientID
              replace-with: X
            - name: PatientID
              hash: true
    """, "P001") == []


def test_an_explicit_rule_overridden_by_a_later_regex(lint_text):
    (found,) = findings(lint_text, """
        dicom:
          date-increment: 3
          fields:
            - name: StudyDate
              increment-date: true
            - regex: '.*Date$'
              remove: true
    """, "P002")
    assert found.line == 6 and "line 7 removes it afterwards" in found.message


def test_a_rule_after_a_remove_acts_on_nothing(lint_text):
    (found,) = findings(lint_text, """
        dicom:
          fields:
            - name: AccessionNumber
              remove: true
            - name: AccessionNumber
              hash: true
    """, "P002")
    assert found.line == 7 and "line 4 removes it first" in found.message


def test_a_remove_then_an_inserting_replace_reports_the_remove(lint_text):
    (found,) = findings(lint_text, """
        dicom:
          fields:
            - name: PatientID
              remove: true
            - name: PatientID
              replace-with: ANON
    """, "P002")
    assert found.line == 5 and "overwrites" in found.message


def test_a_non_inserting_replace_after_a_remove_acts_on_nothing(lint_text):
    (found,) = findings(lint_text, """
        dicom:
          replace-with-insert: false
          fields:
            - name: PatientID
              remove: true
            - name: PatientID
              replace-with: ANON
    """, "P002")
    assert found.line == 8


def test_an_overridden_regex_is_not_reported_for_one_of_its_attributes(lint_text):
    assert findings(lint_text, """
        dicom:
          fields:
            - regex: '.*Date$'
              remove: true
            - name: StudyDate
              replace-with: '20000101'
    """, "P002") == []


def test_several_actions_names_every_ignored_key(lint_text):
    (found,) = findings(lint_text, """
        dicom:
          fields:
            - name: PatientID
              hash: true
              remove: true
              replace-with: X
    """, "P003")
    assert "only `remove` applies" in found.message
    assert "`hash`" in found.message and "`replace-with`" in found.message
    assert found.line == 5  # the first ignored key, `hash`


@pytest.mark.parametrize("name", ["'00091004'", "(0009,1004)"])
def test_private_keep_by_tag_does_not_survive_remove_private_tags(lint_text, name):
    (found,) = findings(lint_text, f"""
        dicom:
          remove-private-tags: true
          fields:
            - name: {name}
              keep: true
    """, "P004")
    assert "only the creator form survives" in found.message


def test_private_keep_by_tag_is_fine_without_remove_private_tags(lint_text):
    assert findings(lint_text, """
        dicom:
          fields:
            - name: '00091004'
              keep: true
    """, "P004") == []


def test_keep_does_not_exempt_from_a_regex_written_before_or_after(lint_text):
    for order in (("regex", "keep"), ("keep", "regex")):
        blocks = {"regex": "- regex: '.*Date$'\n  remove: true",
                  "keep": "- name: StudyDate\n  keep: true"}
        fields = textwrap.indent("\n".join(blocks[part] for part in order), "    ")
        (found,) = findings(lint_text, f"dicom:\n  fields:\n{fields}\n", "P004")
        assert "'.*Date$'" in found.message and "StudyDate" in found.message


def test_keep_of_what_remove_undefined_would_keep_is_fine(lint_text):
    diagnostics = lint_text("""
        dicom:
          remove-undefined: true
          fields:
            - name: PatientSex
              keep: true
            - name: PatientID
              keep: true
            - name: StudyInstanceUID
              keep: true
            - name: SeriesInstanceUID
              keep: true
            - name: StudyDescription
              keep: true
            - name: SeriesDescription
              keep: true
    """)
    assert not [code for code in codes(diagnostics) if code.startswith("P")]


def test_regex_sub_written_after_another_rule_is_reported_as_moved(lint_text):
    (found,) = findings(lint_text, """
        dicom:
          fields:
            - name: PatientID
              hash: true
            - name: PatientID
              regex-sub:
                - input-regex: '(?P<site>[A-Z]+)-.*'
                  output: '{site}'
    """, "P005")
    assert "line 4" in found.message


def test_lint_and_compiler_agree_on_what_is_dead(tmp_path, lint_text):
    """Every rule P002 says never has an effect is dropped from the compiled chain, and every
    dropped non-regex, non-duplicate rule is reported by P002."""
    text = """
        dicom:
          date-increment: 5
          salt: s
          fields:
            - name: StudyDate
              increment-date: true
            - regex: '.*Date$'
              remove: true
            - name: AccessionNumber
              remove: true
            - name: AccessionNumber
              hash: true
            - name: PatientID
              hash: true
            - name: PatientID
              replace-with: SUBJECT
            - name: PatientID
              hash: true
            - name: PatientName
              replace-with: X
            - name: PatientName
              remove: true
            - name: PatientName
              replace-with: Y
    """
    # lint points at the action key, the line after the rule's `- name:`
    reported = {d.line - 1 for d in lint_text(text) if d.code == "P002"}
    path = tmp_path / "agree.yaml"
    path.write_text(textwrap.dedent(text))
    plan = compile_profile(str(path))
    dropped = {o.origin.line for e in plan.entries for o in e.overridden
               if not o.origin.text.startswith("regex") and "repeats" not in o.reason
               and o.origin.text != ".*Date$"}
    assert reported == dropped == {6, 12, 14, 20, 22}


def test_same_action_with_different_options_is_not_a_duplicate(lint_text):
    assert findings(lint_text, """
        dicom:
          date-increment: 3
          fields:
            - name: StudyDate
              increment-date: true
            - name: StudyDate
              increment-date: true
              date-increment-override: 5
    """, "P001") == []
