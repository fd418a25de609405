"""Renderers: the same report as text for people, JSON, SARIF 2.1.0 and GitHub annotations."""

from __future__ import annotations

import io
import json
import re
import textwrap

import pytest

from deidc.lint import REGISTRY, LintReport, Severity, lint_files
from deidc.lint.diagnostic import Diagnostic
from deidc.render.lint import FORMATS, github_line, render, sarif_log

BROKEN = """\
dicom:
remove-private-tags: true
  fields:
    - name: PatientName
      remove: true
"""

DUPLICATE_AND_NUMBER = """\
dicom:
  fields:
    - name: PatientWeight
      replace-with: 070
    - name: PatientName
      remove: true
      name: PatientBirthDate
"""


@pytest.fixture
def report(tmp_path, monkeypatch) -> LintReport:
    """Two real files: one that does not parse (Y001), one with a duplicate key (Y002, error)
    and a replace-with YAML reads as a number (Y003, warning)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "broken.yaml").write_text(BROKEN)
    (tmp_path / "profiles" / "mixed.yaml").write_text(DUPLICATE_AND_NUMBER)
    return lint_files(["profiles/broken.yaml", "profiles/mixed.yaml"])


def rendered(report: LintReport, output_format: str) -> str:
    stream = io.StringIO()
    render(report, output_format, stream)
    return stream.getvalue()


def test_the_fixture_has_the_diagnostics_the_tests_rely_on(report):
    found = {(d.path, d.code, d.severity) for d in report.diagnostics}
    assert ("profiles/broken.yaml", "Y001", Severity.ERROR) in found
    assert ("profiles/mixed.yaml", "Y002", Severity.ERROR) in found
    assert ("profiles/mixed.yaml", "Y003", Severity.WARNING) in found


def test_unknown_format_is_refused(report):
    with pytest.raises(ValueError, match="text, json, sarif, github"):
        render(report, "xml", io.StringIO())
    assert FORMATS == ("text", "json", "sarif", "github")


# --- text ---

def test_text_groups_by_file_and_shows_the_source_line_with_a_marker(report):
    text = rendered(report, "text")
    assert "\x1b[" not in text  # not a terminal: no colour codes
    lines = text.splitlines()
    assert lines.index("profiles/broken.yaml") < lines.index("profiles/mixed.yaml")
    headline = next(line for line in lines if line.startswith("profiles/broken.yaml:3:9:"))
    assert "error Y001 [syntax-error] YAML syntax error" in headline
    source = lines[lines.index(headline) + 2]
    marker = lines[lines.index(headline) + 3]
    assert source == " 3 |   fields:"
    # The caret sits under column 9 of the source line, after the same gutter.
    assert marker.index("^") - len(" 3 | ") == 8
    assert "   = hint: line 2 is not indented under `dicom:`" in text


def test_text_marks_the_whole_span(report):
    text = rendered(report, "text").splitlines()
    headline = next(line for line in text if " Y003 " in line)
    source, marker = text[text.index(headline) + 2], text[text.index(headline) + 3]
    assert source.endswith("replace-with: 070")
    start = marker.index("^")
    assert marker[start:] == "^^^" and source[start:start + 3] == "070"


def test_text_summary_counts_by_severity_and_files(report):
    last = rendered(report, "text").rstrip().splitlines()[-1]
    assert last == "2 errors, 1 warning, 0 infos in 2 files."


def test_text_summary_of_a_clean_run(tmp_path):
    path = tmp_path / "clean.yaml"
    path.write_text("dicom:\n  fields:\n    - name: PatientName\n      remove: true\n")
    assert rendered(lint_files([str(path)]), "text").strip() == "No problems found in 1 file."


def test_text_colours_only_on_a_terminal_and_respects_no_color(report, monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("TERM", "xterm-256color")
    coloured = rendered(report, "text")
    assert "\x1b[1;31m" in coloured  # bold red severity
    monkeypatch.setenv("NO_COLOR", "1")
    plain = rendered(report, "text")
    assert not re.search(r"\x1b\[[0-9;]*3[0-7]m", plain)


def test_text_cuts_long_lines_around_the_column(tmp_path):
    path = tmp_path / "minified.json"
    path.write_text('{"dicom": {"fields": [' + '{"name": "PatientName", "remove": true}, ' * 200
                    + "}]}}")
    report = lint_files([str(path)])
    text = rendered(report, "text").splitlines()
    headline = next(line for line in text if " Y001 " in line)
    source, marker = text[text.index(headline) + 2], text[text.index(headline) + 3]
    assert len(source) < 140 and "…" in source
    assert source[marker.index("^")] == "}"


def test_text_reads_the_file_when_the_report_has_no_sources(tmp_path):
    """`deidc apply` renders compile errors from diagnostics alone."""
    path = tmp_path / "p.yaml"
    path.write_text(BROKEN)
    diagnostics = lint_files([str(path)]).diagnostics
    text = rendered(LintReport(diagnostics=diagnostics), "text")
    assert " 3 |   fields:" in text
    assert text.rstrip().endswith("in 1 file.")


# --- json ---

def test_json_has_every_field_of_every_diagnostic_and_a_summary(report):
    document = json.loads(rendered(report, "json"))
    assert set(document) == {"diagnostics", "summary"}
    assert document["summary"] == {"files": 2, "errors": 2, "warnings": 1, "infos": 0}
    assert len(document["diagnostics"]) == len(report.diagnostics)
    for entry in document["diagnostics"]:
        assert {"path", "line", "column", "end_line", "end_column", "code", "name", "severity",
                "message", "hint"} <= set(entry)
    y001 = next(e for e in document["diagnostics"] if e["code"] == "Y001")
    assert (y001["path"], y001["line"], y001["column"]) == ("profiles/broken.yaml", 3, 9)
    assert y001["severity"] == "error" and y001["name"] == "syntax-error"


# --- sarif ---

def test_sarif_has_the_2_1_0_essentials(report):
    log = json.loads(rendered(report, "sarif"))
    assert log["version"] == "2.1.0"
    assert log["$schema"].endswith("sarif-2.1.0.json")
    assert len(log["runs"]) == 1
    run = log["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "deidc"
    assert driver["version"] and driver["informationUri"].startswith("https://")
    ids = [r["id"] for r in driver["rules"]]
    assert ids == sorted(REGISTRY)
    for rule in driver["rules"]:
        assert rule["shortDescription"]["text"] and rule["fullDescription"]["text"]
        assert rule["help"]["text"] and "```yaml" in rule["help"]["markdown"]
        assert rule["defaultConfiguration"]["level"] in ("error", "warning", "note")
        assert rule["defaultConfiguration"]["level"] == {
            "error": "error", "warning": "warning", "info": "note"}[REGISTRY[rule["id"]].severity]
    assert len(run["results"]) == len(report.diagnostics)
    for result in run["results"]:
        assert ids[result["ruleIndex"]] == result["ruleId"]
        assert result["level"] in ("error", "warning", "note")
        assert result["message"]["text"]
        location = result["locations"][0]["physicalLocation"]
        assert location["artifactLocation"]["uri"].startswith("profiles/")
        assert location["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
        region = location["region"]
        assert region["startLine"] >= 1 and region["startColumn"] >= 1
        assert region["endLine"] >= region["startLine"]
        if region["endLine"] == region["startLine"]:
            assert region["endColumn"] > region["startColumn"]
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"].startswith("file:///")
    y003 = next(r for r in run["results"] if r["ruleId"] == "Y003")
    assert y003["level"] == "warning"
    assert y003["locations"][0]["physicalLocation"]["region"] == {
        "startLine": 4, "startColumn": 21, "endLine": 4, "endColumn": 24}


def test_sarif_path_outside_the_working_directory_is_a_file_uri(tmp_path, monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "here").mkdir()
    (elsewhere / "p.yaml").write_text(BROKEN)
    monkeypatch.chdir(tmp_path / "here")
    log = sarif_log(lint_files([str(elsewhere / "p.yaml")]))
    uri = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert uri == {"uri": (elsewhere / "p.yaml").as_uri()}


# --- github ---

def test_github_lines_for_each_severity(report):
    lines = rendered(report, "github").splitlines()
    assert len(lines) == len(report.diagnostics)
    first = lines[0]
    assert first.startswith("::error file=profiles/broken.yaml,line=3,col=9,endLine=3,"
                            "endColumn=10,title=Y001 syntax-error::YAML syntax error")
    assert any(line.startswith("::warning file=profiles/mixed.yaml,line=4,") for line in lines)


def test_github_escapes_data_and_properties():
    diagnostic = Diagnostic("dir,odd/na:me.yaml", 2, 3, 2, 8, "X001", "some-rule",
                            Severity.INFO, "50% of\r\nthe rules", "add: a, b")
    assert github_line(diagnostic) == (
        "::notice file=dir%2Codd/na%3Ame.yaml,line=2,col=3,endLine=2,endColumn=8,"
        "title=X001 some-rule::50%25 of%0D%0Athe rules (add: a, b)")


def test_github_title_with_punctuation_is_escaped():
    diagnostic = Diagnostic("p.yaml", 1, 1, 3, 1, "Y001", "a:b,c", Severity.WARNING, "m", "")
    line = github_line(diagnostic)
    assert "title=Y001 a%3Ab%2Cc::m" in line and line.endswith("::m")
    assert "endLine=3,endColumn=1" in line


def test_every_format_handles_an_empty_report():
    empty = LintReport()
    assert json.loads(rendered(empty, "json"))["diagnostics"] == []
    assert json.loads(rendered(empty, "sarif"))["runs"][0]["results"] == []
    assert rendered(empty, "github") == ""
    assert "No problems found in 0 files." in rendered(empty, "text")


def test_text_without_hint_or_line_does_not_fail():
    diagnostic = Diagnostic("gone.yaml", 7, 1, 7, 2, "Y001", "syntax-error", Severity.ERROR,
                            "cannot read", "")
    text = rendered(LintReport(diagnostics=[diagnostic]), "text")
    assert textwrap.dedent(text).splitlines()[:2] == [
        "gone.yaml", "gone.yaml:7:1: error Y001 [syntax-error] cannot read"]
