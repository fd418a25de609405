"""D rules on the cases the seed and real profiles get wrong: old spellings, wrong case,
repeating-group keywords and private tags written with the full element."""

from __future__ import annotations

import pytest

from tests.conftest import REAL_PROFILES, codes

from deidc.lint import LintConfig, lint_source
from deidc.profile.source import load_source


def _one(diagnostics, code):
    found = [d for d in diagnostics if d.code == code]
    assert len(found) == 1, codes(diagnostics)
    return found[0]


def test_seed_private_tag_with_full_element_gets_the_two_digit_offset_as_hint(lint_text):
    found = lint_text("""
    dicom:
      fields:
        - name: (0009, "GEMS_IDEN_01", 1004)
          keep: true
    """)
    d005 = _one(found, "D005")
    assert '(0009, "GEMS_IDEN_01", 04)' in d005.hint
    assert "1004" in d005.message


def test_private_tag_with_two_digit_offset_is_not_d005(lint_text):
    found = lint_text("""
    dicom:
      fields:
        - name: (0009, "GEMS_IDEN_01", 04)
          keep: true
    """)
    assert "D005" not in codes(found)


def test_even_private_group_is_d005(lint_text):
    found = lint_text("""
    dicom:
      fields:
        - name: (0010, "GEMS_IDEN_01", 04)
          keep: true
    """)
    assert "group 0010 is even" in _one(found, "D005").message


def test_old_spelling_patientsname_is_unknown_and_suggests_patientname(lint_text):
    found = lint_text("""
    dicom:
      fields:
        - name: PatientsName
          remove: true
    """)
    d001 = _one(found, "D001")
    assert "PatientName" in d001.hint
    assert "PatientsName" in d001.message


def test_wrong_case_keyword_is_d002_not_d001(lint_text):
    found = lint_text("""
    dicom:
      fields:
        - name: PatientBirthdate
          remove: true
    """)
    d002 = _one(found, "D002")
    assert "PatientBirthDate" in d002.hint
    assert "D001" not in codes(found)


def test_wrong_case_inside_a_nested_path_is_found(lint_text):
    found = lint_text("""
    dicom:
      fields:
        - name: ReferencedSeriesSequence.0.SeriesInstanceUid
          hashuid: true
    """)
    # Flywheel corrects a plain keyword's case but refuses it in a nested path (flywheel-migration
    # 13.10: "Unable to create an element tag from 'SeriesInstanceUid'"), so this is D001.
    assert "SeriesInstanceUID" in _one(found, "D001").hint
    assert "D002" not in codes(found)


def test_overlay_data_keyword_is_a_repeater_d004(lint_text):
    found = lint_text("""
    dicom:
      fields:
        - name: OverlayData
          remove: true
    """)
    d004 = _one(found, "D004")
    assert "60XX3000" in d004.hint
    assert "D001" not in codes(found)


def test_repeater_tag_form_is_accepted(lint_text):
    found = lint_text("""
    dicom:
      fields:
        - name: 60XX3000
          remove: true
    """)
    assert not {"D001", "D004", "D009"} & set(codes(found))


def _real_profiles():
    if not REAL_PROFILES.is_dir():
        return []
    return sorted(p for p in REAL_PROFILES.rglob("*") if p.suffix in (".yaml", ".yml", ".json"))


@pytest.mark.skipif(not REAL_PROFILES.is_dir(), reason="real profiles not available")
@pytest.mark.parametrize("path", _real_profiles(), ids=lambda p: p.name)
def test_every_real_profile_lints_without_exception(path):
    diagnostics = lint_source(load_source(path), LintConfig())
    assert all(d.code and d.message for d in diagnostics)


@pytest.mark.skipif(not REAL_PROFILES.is_dir(), reason="real profiles not available")
def test_penn_prototype_profile_has_repeater_keywords():
    matches = list(REAL_PROFILES.rglob("bsc-flywheel-deid__prototype_penn_deid_profile.yaml"))
    assert matches, "the Penn prototype profile is missing from the real profiles"
    diagnostics = lint_source(load_source(matches[0]), LintConfig())
    assert "D004" in codes(diagnostics)
