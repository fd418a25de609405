"""`deidc lint --conformance`: one E001 finding per gap of PS3.15 Table E.1-1, at the line the
judge holds responsible, in every output format; E002 when a profile cannot be judged; off by
default, and then the judge is not even imported."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from typer.testing import CliRunner

from deidc import api
from deidc.cli import app
from deidc.lint import LintConfig
from deidc.profile.source import load_source

from .conftest import REAL_PROFILES

KEEPS_NAME = """\
name: keeps the name and shifts the study date
dicom:
  date-increment: -30
  remove-private-tags: true
  remove-undefined: true
  fields:
    - name: PatientName
      keep: true
    - name: StudyDate
      increment-date: true
    - name: StudyInstanceUID
      hashuid: true
"""


def deidc(*args: str):
    return CliRunner().invoke(app, list(args))


def judged_lint(path, options=()):
    config = LintConfig(conformance=tuple(options))
    return [d for d in api.lint([str(path)], config).diagnostics if d.code.startswith("E")]


def dicom_line(path) -> int:
    lines = path.read_text().splitlines()
    return next(n for n, text in enumerate(lines, 1) if text.startswith("dicom:"))


def assert_one_finding_per_gap(path, options=()):
    """Each gap the judge reports is one E001 finding on the judge's line (the option's key
    for a default policy, the `dicom:` key when nothing names the attribute), and there is no
    other E001 finding."""
    report = api.conformance(str(path), options)
    findings = judged_lint(path, options)
    assert {d.code for d in findings} <= {"E001"}
    by_tag = {}
    for d in findings:
        tag = d.subject.rsplit("(", 1)[1].rstrip(")")
        assert tag not in by_tag, f"two findings for {tag}"
        by_tag[tag] = d
    assert set(by_tag) == {gap.row.tag for gap in report.gaps}
    source = load_source(path)
    for gap in report.gaps:
        d = by_tag[gap.row.tag]
        assert gap.action in d.message
        if isinstance(gap.line, int):
            assert d.line == gap.line
        elif gap.line == "dicom:":
            assert d.line == dicom_line(path)
        else:
            option = gap.line.removeprefix("dicom:")
            assert source.line_text(d.line).strip().startswith(f"{option}:")
    return report, findings


def test_each_gap_is_a_finding_at_the_rule_responsible(tmp_path):
    path = tmp_path / "site.yaml"
    path.write_text(KEEPS_NAME)
    report, findings = assert_one_finding_per_gap(path)
    lines = {d.subject: d.line for d in findings}
    assert lines["PatientName (00100010)"] == 7  # kept: Z asks a blank or dummy value
    assert lines["StudyDate (00080020)"] == 9  # shifted: only Modified Dates allows it
    assert "StudyInstanceUID (0020000D)" not in lines  # hashuid meets U
    assert len(findings) == len(report.gaps) == 2


def test_an_option_changes_what_is_a_gap(tmp_path):
    path = tmp_path / "site.yaml"
    path.write_text(KEEPS_NAME)
    report, findings = assert_one_finding_per_gap(path, ["retain-longitudinal-modified-dates"])
    assert [d.subject for d in findings] == ["PatientName (00100010)"]


def test_an_attribute_no_rule_names_is_a_gap_on_the_dicom_line(tmp_path):
    path = tmp_path / "site.yaml"
    path.write_text("name: blocklist\ndicom:\n  fields:\n    - name: PatientName\n"
                    "      remove: true\n")
    report, findings = assert_one_finding_per_gap(path)
    sex = next(d for d in findings if d.subject == "PatientSex (00100040)")
    assert (sex.line, sex.column) == (2, 1)
    assert "name it in a rule" in sex.hint
    name = next(d for d in findings if d.subject == "PatientName (00100010)")
    # treated at the top level only: the judge holds the unnamed copies inside sequences
    # responsible, and the hint says how to reach them
    assert name.line == 2 and "recurse-sequence" in name.hint


REAL = sorted(REAL_PROFILES.glob("*.yaml")) if REAL_PROFILES.is_dir() else []
COMPILING = ["ftdc-picsl__de-id_upenn_Penn_BSC_profile_v3.0_20201111A.yaml",
             "bsc-flywheel-deid__de-id_upenn_Penn_BSC_profile_v4.0_20250829.yaml",
             "ftdc-picsl__globalDeIdConfig.yaml", "ftdc-picsl__vbrename.yaml",
             "grp13__example1-deid-profile.yaml"]
needs_shared = pytest.mark.skipif(not REAL, reason="no shared/ beside the clone")


@needs_shared
@pytest.mark.parametrize("name", COMPILING)
def test_real_profiles_gaps_row_by_row(name):
    report, findings = assert_one_finding_per_gap(REAL_PROFILES / name)
    assert len(findings) == len(report.gaps) > 600


@needs_shared
def test_real_profile_with_options_row_by_row():
    path = REAL_PROFILES / COMPILING[0]
    basic = api.conformance(str(path))
    options = ["retain-uids", "retain-device-identity"]
    report, _ = assert_one_finding_per_gap(path, options)
    assert {g.row.tag for g in report.gaps} != {g.row.tag for g in basic.gaps}


@needs_shared
def test_a_real_profile_that_does_not_compile_gets_its_errors_and_a_note():
    path = REAL_PROFILES / "mrscrub__PBN_v1.0.yaml"
    plain = api.lint([str(path)]).diagnostics
    judged = api.lint([str(path)], LintConfig(conformance=())).diagnostics
    errors = [d for d in plain if d.severity.value == "error"]
    assert errors and [d for d in judged if not d.code.startswith("E")] == plain
    notes = [d for d in judged if d.code.startswith("E")]
    assert [d.code for d in notes] == ["E002"]
    assert f"{len(errors)} lint error(s)" in notes[0].message


def test_a_profile_deidc_cannot_execute_is_not_judged(tmp_path):
    path = tmp_path / "encrypts.yaml"
    path.write_text("name: encrypts\ndicom:\n  fields:\n    - name: PatientName\n"
                    "      encrypt: true\n")
    notes = judged_lint(path)
    assert [d.code for d in notes] == ["E002"]
    assert "encryption" in notes[0].message and "could not be judged" in notes[0].message


def test_a_file_that_does_not_parse_is_not_judged(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("dicom:\nremove-private-tags: true\n  fields: []\n")
    assert [d.code for d in judged_lint(path)] == ["E002"]


def test_each_profile_of_a_list_is_judged_on_its_own(tmp_path):
    path = tmp_path / "two.yaml"
    one = textwrap.indent(KEEPS_NAME, "  ").replace("  name:", "- name:", 1)
    two = one.replace("keep: true", "remove: true")
    path.write_text(one + two)
    findings = judged_lint(path)
    names = [d for d in findings if d.subject == "PatientName (00100010)"]
    assert [d.line for d in names] == [7]  # the second profile removes it: stricter than Z
    assert [d.line for d in findings if d.subject == "StudyDate (00080020)"] == [9, 21]


# --- the command -------------------------------------------------------------------------------

@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'site'\n")
    (tmp_path / "site.yaml").write_text(KEEPS_NAME)
    return tmp_path


def test_plain_lint_does_not_judge_nor_import_the_judge(project):
    assert "E0" not in deidc("lint", "site.yaml").stdout
    code = ("import sys; from deidc import api; api.lint(['site.yaml'], api.lint_config()); "
            "print(sorted(m for m in sys.modules if m.startswith(('deidc.conformance', "
            "'deidc.compiler'))))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=project, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("output_format", ["text", "json", "sarif", "github"])
def test_every_format_carries_the_gaps(project, output_format):
    result = deidc("lint", "site.yaml", "--conformance", "--format", output_format)
    assert result.exit_code == 0, result.output  # gaps are warnings
    out = result.stdout
    if output_format == "json":
        found = [d for d in json.loads(out)["diagnostics"] if d["code"] == "E001"]
        assert {d["line"] for d in found} == {7, 9}
    elif output_format == "sarif":
        run = json.loads(out)["runs"][0]
        assert {r["ruleId"] for r in run["results"]} >= {"E001"}
        assert any(r["id"] == "E001" for r in run["tool"]["driver"]["rules"])
    elif output_format == "github":
        assert "::warning file=site.yaml,line=7," in out and "title=E001 annex-e-gap" in out
    else:
        assert "site.yaml:7:13: warning E001 [annex-e-gap] PatientName (00100010)" in out
    strict = deidc("lint", "site.yaml", "--conformance", "--strict")
    assert strict.exit_code == 1


@needs_shared
def test_text_groups_hundreds_of_gaps_on_one_line(tmp_path):
    path = REAL_PROFILES / COMPILING[0]
    report = api.conformance(str(path))
    out = deidc("lint", str(path), "--conformance", "--select", "E").stdout
    unnamed = [f for f in report.gaps if f.line == "dicom:"
               and f.action == "kept (no rule names it) (gap: X asks removal)"]
    headline = f":{dicom_line(path)}:1: warning E001 [annex-e-gap] {len(unnamed)} × " \
               "kept (no rule names it) (gap: X asks removal)"
    assert out.count(headline) == 1
    listed = next(line for line in out.splitlines()[out.splitlines().index(
        next(line for line in out.splitlines() if headline in line)):] if " = " in line)
    assert all(f"{f.row.keyword or f.row.tag} ({f.row.tag})" in listed for f in unnamed)
    assert len(out.splitlines()) < len(report.gaps)


def test_options_and_config(project):
    (project / "pyproject.toml").write_text(
        "[tool.deidc]\nconformance = true\n"
        "conformance-options = ['retain-longitudinal-modified-dates']\n")
    subjects = [d["message"].split(":")[0] for d in json.loads(
        deidc("lint", "site.yaml", "--format", "json").stdout)["diagnostics"]
        if d["code"] == "E001"]
    assert subjects == ["PatientName (00100010)"]
    off = deidc("lint", "site.yaml", "--no-conformance")
    assert off.exit_code == 0 and "E001" not in off.stdout
    cli = json.loads(deidc("lint", "site.yaml", "--option", "retain-uids", "--format",
                           "json").stdout)["diagnostics"]
    assert {d["line"] for d in cli if d["code"] == "E001"} == {7, 9}


@pytest.mark.parametrize("arguments, config, said", [
    (["--option", "retain-uids"], "", "--option names a Table E.1-1 option: it needs "
                                      "--conformance"),
    (["--conformance", "--option", "retain-everything"], "", "unknown option "
                                                               "retain-everything"),
    (["--conformance", "--option", "retain-safe-private"], "", "not supported"),
    ([], "conformance-options = ['retain-uids']\n", "needs `conformance = true`"),
    ([], "conformance = 'yes'\n", "conformance must be true or false"),
])
def test_usage_errors(project, arguments, config, said):
    (project / "pyproject.toml").write_text(f"[tool.deidc]\n{config}")
    result = deidc("lint", "site.yaml", *arguments)
    assert result.exit_code == 2 and said in result.stderr
