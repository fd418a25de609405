"""T family: sorting tags removed, blanked, replaced by constants or dropped by remove-undefined;
the last rule for a tag decides, and a site can name its own sorting tags."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from deidc.lint import Severity, lint_files

from tests.conftest import REAL_PROFILES, codes

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def only(diagnostics, code):
    return [d for d in diagnostics if d.code == code]


def rules(*lines: str, options: str = "") -> str:
    """A profile whose dicom fields are the given YAML list items (each already indented)."""
    return "dicom:\n" + options + "  fields:\n" + "\n".join(lines) + "\n"


# --- T001: removed ---

@pytest.mark.parametrize("name", ["PatientID", "'00100020'", "(0010,0020)", "patientid"])
def test_removing_patient_id_by_any_notation_warns_and_says_what_flywheel_loses(lint_text, name):
    found = only(lint_text(rules(f"    - name: {name}\n      remove: true")), "T001")
    assert len(found) == 1
    assert found[0].severity is Severity.WARNING
    assert "PatientID is removed" in found[0].message
    assert "subject label" in found[0].message
    assert "pseudonym" in found[0].hint
    assert (found[0].line, found[0].column) == (3, 13)


def test_removal_by_regex_names_the_regex_and_every_sorting_tag_it_reaches(lint_text):
    found = only(lint_text(rules("    - regex: Series.*\n      remove: true")), "T001")
    messages = sorted(d.message for d in found)
    assert len(messages) == 2
    assert "SeriesDescription is removed by the regex `Series.*`" in messages[0]
    assert "acquisition label" in messages[0]
    assert "SeriesInstanceUID is removed by the regex `Series.*`" in messages[1]
    assert "acquisition UID" in messages[1]
    assert all("narrow the regex" in d.hint for d in found)
    assert any("hashuid" in d.hint for d in found)


def test_regex_is_matched_like_flywheel_anchored_at_the_start_only(lint_text):
    # re.match: `Description` does not reach StudyDescription, `.*Description` does
    assert "T001" not in codes(lint_text(rules("    - regex: Description\n      remove: true")))
    found = only(lint_text(rules("    - regex: .*Description\n      remove: true")), "T001")
    assert {d.message.split()[0] for d in found} == {"StudyDescription", "SeriesDescription"}


def test_regex_over_hex_paths_reaches_sorting_tags(lint_text):
    found = only(lint_text(rules("    - regex: '0020000d'\n      remove: true")), "T001")
    assert [d.message.split()[0] for d in found] == ["StudyInstanceUID"]


@pytest.mark.parametrize("pattern", ["'(Study'", "'(.*Study.*)*'", "'(\\w+)+Description'"])
def test_broken_or_pathological_regexes_are_skipped_quickly(lint_text, pattern):
    start = time.perf_counter()
    found = lint_text(rules(f"    - regex: {pattern}\n      remove: true"))
    assert time.perf_counter() - start < 2
    assert "T001" not in codes(found)
    assert {"R001", "R002"} & set(codes(found))


def test_a_later_inserting_replace_with_restores_the_tag(lint_text):
    found = lint_text(rules("    - name: PatientID\n      remove: true",
                            "    - name: PatientID\n      replace-with: SUBJECT-001"))
    assert "T001" not in codes(found)


def test_a_regex_remove_then_a_named_replace_with_restores_the_tag(lint_text):
    found = lint_text(rules("    - regex: .*Description\n      remove: true",
                            "    - name: StudyDescription\n      replace-with: STUDY",
                            "    - name: SeriesDescription\n      keep: true"))
    assert [d.message.split()[0] for d in only(found, "T001")] == ["SeriesDescription"]


def test_a_replace_with_that_does_not_insert_does_not_restore(lint_text):
    by_option = lint_text(rules("    - name: PatientID\n      remove: true",
                                "    - name: PatientID\n      replace-with: S\n"
                                "      replace-with-insert: false"))
    by_section = lint_text(rules("    - name: PatientID\n      remove: true",
                                 "    - name: PatientID\n      replace-with: S",
                                 options="  replace-with-insert: false\n"))
    by_regex = lint_text(rules("    - name: PatientID\n      remove: true",
                               "    - regex: PatientID\n      replace-with: S"))
    for found, line in ((by_option, 3), (by_section, 4), (by_regex, 3)):
        assert [d.line for d in only(found, "T001")] == [line]


def test_a_remove_after_a_replacement_removes(lint_text):
    found = lint_text(rules("    - name: PatientID\n      replace-with: S",
                            "    - name: PatientID\n      remove: true"))
    assert only(found, "T001")[0].line == 5


def test_a_transform_after_a_remove_does_not_bring_the_tag_back(lint_text):
    found = lint_text(rules("    - name: PatientID\n      remove: true",
                            "    - name: PatientID\n      hash: true"))
    assert only(found, "T001")[0].line == 3


def test_encrypt_moves_the_tag_out_of_the_dataset(lint_text):
    found = only(lint_text(rules("    - name: PatientID\n      encrypt: true")), "T001")
    assert "encrypted" in found[0].message


def test_nested_attributes_of_the_same_keyword_are_not_the_sorting_tag(lint_text):
    found = lint_text(rules("    - name: ReferencedStudySequence.0.StudyInstanceUID\n"
                            "      remove: true"))
    assert "T001" not in codes(found)


def test_removing_other_attributes_is_not_a_sorting_finding(lint_text):
    found = lint_text(rules("    - name: PatientName\n      remove: true",
                            "    - name: StudyDescription\n      hash: true",
                            "    - name: StudyInstanceUID\n      hashuid: true"))
    assert not {"T001", "T002", "T003", "T004"} & set(codes(found))


# --- site configuration ---

def test_site_sorting_tags_replace_the_defaults(lint_text):
    profile = rules("    - name: PatientID\n      remove: true",
                    "    - name: AccessionNumber\n      remove: true")
    found = only(lint_text(profile, sorting_tags=("AccessionNumber",)), "T001")
    assert len(found) == 1
    assert found[0].message == ("AccessionNumber is removed: it is one of this site's sorting "
                                "tags")


@pytest.mark.parametrize("tag", ["(0020,000D)", "0020000D", "StudyInstanceUID"])
def test_site_sorting_tags_by_tag_or_keyword(lint_text, tag):
    profile = rules("    - name: StudyInstanceUID\n      remove: true",
                    "    - name: SeriesInstanceUID\n      remove: true")
    found = only(lint_text(profile, sorting_tags=(tag,)), "T001")
    assert [d.message.split()[0] for d in found] == ["StudyInstanceUID"]
    assert "session UID" in found[0].message


def test_site_sorting_tags_apply_to_remove_undefined(lint_text):
    profile = rules("    - name: PatientID", options="  remove-undefined: true\n")
    found = only(lint_text(profile, sorting_tags=("PatientID", "AccessionNumber")), "T004")
    assert "removes AccessionNumber:" in found[0].message


# --- T002: blanked ---

@pytest.mark.parametrize("value", ["''", "' '", "[]"])
def test_blanking_a_description_warns(lint_text, value):
    found = only(lint_text(rules(f"    - name: StudyDescription\n      replace-with: {value}")),
                 "T002")
    assert len(found) == 1 and found[0].severity is Severity.WARNING
    assert found[0].message == "StudyDescription is blanked: Flywheel derives the session label " \
                               "from it"
    assert (found[0].line, found[0].column) == (4, 21)


def test_replace_with_null_changes_nothing_so_it_is_not_a_blank(lint_text):
    found = lint_text(rules("    - name: StudyDescription\n      replace-with: null"))
    assert "T002" not in codes(found)
    assert "X006" in codes(found)


def test_a_blank_stays_blank_through_a_hash_and_goes_with_a_later_value(lint_text):
    hashed = lint_text(rules("    - name: PatientID\n      replace-with: ''",
                             "    - name: PatientID\n      hash: true"))
    assert len(only(hashed, "T002")) == 1
    refilled = lint_text(rules("    - name: PatientID\n      replace-with: ''",
                               "    - name: PatientID\n      replace-with: SUBJECT"))
    assert "T002" not in codes(refilled)


def test_a_constant_patient_id_is_a_legitimate_per_subject_pseudonym(lint_text):
    found = lint_text(rules("    - name: PatientID\n      replace-with: SUBJECT-001"))
    assert not {"T001", "T002", "T003"} & set(codes(found))


# --- T003: UID constant ---

@pytest.mark.parametrize("keyword, scope, derived", [
    ("StudyInstanceUID", "study", "session UID"),
    ("SeriesInstanceUID", "series", "acquisition UID")])
def test_a_constant_uid_sorting_tag_is_an_error(lint_text, keyword, scope, derived):
    found = only(lint_text(rules(f"    - name: {keyword}\n      replace-with: 1.2.3.4")), "T003")
    assert len(found) == 1 and found[0].severity is Severity.ERROR
    assert f"{keyword} is replaced by the constant '1.2.3.4'" in found[0].message
    assert f"every {scope} gets the same UID" in found[0].message
    assert derived in found[0].message
    assert "hashuid" in found[0].hint


def test_a_blank_uid_sorting_tag_is_t003_not_t002(lint_text):
    found = lint_text(rules("    - name: SeriesInstanceUID\n      replace-with: ''"))
    assert "T002" not in codes(found)
    assert "SeriesInstanceUID is blanked" in only(found, "T003")[0].message


def test_a_constant_through_a_regex_names_it(lint_text):
    found = only(lint_text(rules("    - regex: Study.*UID\n      replace-with: '1.2'")), "T003")
    assert "through the regex `Study.*UID`" in found[0].message


def test_a_template_filled_per_upload_is_not_a_constant(lint_text):
    found = lint_text(rules("    - name: StudyInstanceUID\n"
                            "      replace-with: '{{ STUDY_UID }}'"))
    assert "T003" not in codes(found)


def test_hashuid_after_a_constant_does_not_hide_it(lint_text):
    found = lint_text(rules("    - name: StudyInstanceUID\n      replace-with: 1.2.3",
                            "    - name: StudyInstanceUID\n      hashuid: true"))
    assert only(found, "T003")[0].line == 4


# --- T004: dropped by remove-undefined ---

def test_remove_undefined_names_the_sorting_tags_it_drops(lint_text):
    profile = rules("    - name: PatientID\n      replace-with: S",
                    "    - name: StudyDescription", options="  remove-undefined: true\n")
    found = only(lint_text(profile), "T004")
    assert len(found) == 1 and found[0].severity is Severity.WARNING
    assert ("remove-undefined removes StudyInstanceUID (session UID), SeriesInstanceUID "
            "(acquisition UID), SeriesDescription (acquisition label): no rule names them"
            in found[0].message)
    assert (found[0].line, found[0].column) == (2, 21)


def test_any_rule_naming_a_tag_keeps_it_from_remove_undefined_regexes_included(lint_text):
    profile = rules("    - name: PatientID\n      replace-with: S",
                    "    - regex: .*Description",
                    "    - regex: S.*InstanceUID\n      hashuid: true",
                    options="  remove-undefined: true\n")
    assert "T004" not in codes(lint_text(profile))


def test_no_t004_without_remove_undefined_or_without_fields(lint_text):
    assert "T004" not in codes(lint_text(rules("    - name: PatientName\n      remove: true")))
    found = lint_text("dicom:\n  remove-undefined: true\n")
    assert "T004" not in codes(found) and "X002" in codes(found)


# --- real profiles and the seed ---

REAL = sorted(REAL_PROFILES.glob("*.y*ml")) if REAL_PROFILES.is_dir() else []


@pytest.mark.skipif(not REAL, reason="real profiles are not beside the repository")
def test_every_real_profile_lints_without_crashing():
    start = time.perf_counter()
    for path in REAL:
        lint_files([str(path)])
    assert time.perf_counter() - start < 20


def real(name: str, code: str):
    path = REAL_PROFILES / name
    if not path.is_file():
        pytest.skip(f"{name} is not available")
    return [d for d in lint_files([str(path)]).diagnostics if d.code == code]


def test_real_profile_that_removes_patient_id():
    found = real("ftdc-picsl__globalDeIdConfig.yaml", "T001")
    assert [(d.line, d.message.split()[0]) for d in found] == [(88, "PatientID")]


def test_real_profile_that_removes_patient_id_by_hex():
    found = real("grp13-readme__README-block2-tag-formats.yaml", "T001")
    assert [(d.line, d.message.split()[0]) for d in found] == [(7, "PatientID")]


def test_real_profile_that_blanks_descriptions_and_patient_id():
    found = real("bsc-flywheel-deid__prototype_penn_deid_profile.yaml", "T002")
    assert sorted((d.line, d.message.split()[0]) for d in found) == [
        (458, "PatientID"), (706, "SeriesDescription"), (744, "StudyDescription")]


def test_real_profiles_with_templated_values_are_not_constants():
    assert real("grp13__example4-deid-profile-jinja.yaml", "T003") == []


@pytest.mark.parametrize("name, expected", [
    ("seed-blocklist-fixed.yaml", [("T001", 131, "StudyDescription is removed")]),
    ("seed-keeplist-fixed.yaml", [("T004", 13, "removes StudyInstanceUID (session UID), "
                                               "SeriesInstanceUID (acquisition UID):")]),
])
def test_fixed_seed_sorting_findings(name, expected):
    path = EXAMPLES / "seed" / name
    if not path.is_file():
        pytest.skip("the fixed seed examples are not in this checkout")
    found = [d for d in lint_files([str(path)]).diagnostics if d.code.startswith("T")]
    assert [(d.code, d.line) for d in found] == [(c, line) for c, line, _ in expected]
    for diagnostic, (_, _, text) in zip(found, expected):
        assert text in diagnostic.message
