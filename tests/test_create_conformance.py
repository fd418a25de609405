"""`deidc create --conformance`: a profile generated from PS3.15 Table E.1-1 that the judge
finds no gap in, that lints without error, keeps Flywheel's sorting tags usable where the table
lets it, and records what was done (PS3.15 E.1.1); and plain `deidc create`, whose header must
say what the judge finds."""

from __future__ import annotations

import re

import pytest
import yaml
from typer.testing import CliRunner

import deidc.api as api
from deidc.cli import app
from deidc.conformance import table
from deidc.lint import Severity, lint_files
from tests.conftest import flywheel_loads, flywheel_python

OPTION_SETS = [(), ("retain-uids",), ("clean-descriptors",),
               ("retain-longitudinal-modified-dates", "clean-descriptors"),
               ("retain-longitudinal-full-dates", "retain-patient-characteristics",
                "retain-device-identity", "retain-institution-identity"),
               ("clean-structured-content", "clean-graphics", "retain-uids",
                "retain-longitudinal-modified-dates", "retain-device-identity")]


def deidc(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """option set → (path, text) of the profile `deidc create --conformance` wrote."""
    base = tmp_path_factory.mktemp("create")
    found = {}
    for number, options in enumerate(OPTION_SETS):
        path = base / f"p{number}.yaml"
        args = ["create", str(path), "--conformance"]
        for name in options:
            args += ["--option", name]
        result = deidc(*args)
        assert result.exit_code == 0, result.output
        found[options] = path, path.read_text()
    return found


@pytest.mark.parametrize("options", OPTION_SETS, ids=lambda o: "+".join(o) or "basic")
def test_the_judge_finds_no_gap(written, options):
    path, text = written[options]
    report = api.conformance(str(path), options)
    assert len(report.findings) == len(table.rows())
    assert report.gaps == (), [f.row.keyword for f in report.gaps]
    # ... and the header says what the judge says, no more
    counts = report.counts()
    assert f"{counts['meets']} rows met, {counts['stricter']} stricter" in text


@pytest.mark.parametrize("options", OPTION_SETS, ids=lambda o: "+".join(o) or "basic")
def test_lints_without_error_and_sorting_tags_only_where_the_table_removes_them(written,
                                                                                 options):
    path, _ = written[options]
    diagnostics = lint_files([str(path)]).diagnostics
    assert [d for d in diagnostics if d.severity is Severity.ERROR] == []
    sorting = sorted(re.match(r"\w+", d.message).group() for d in diagnostics
                     if d.code.startswith("T"))
    # The Basic Profile's X on the descriptions beats Flywheel's labels; Clean Descriptors
    # (C) lets them carry a neutral label.  PatientID and the UIDs are never removed.
    expected = [] if "clean-descriptors" in options else ["SeriesDescription",
                                                          "StudyDescription"]
    assert sorting == expected
    assert {d.code for d in diagnostics if d.severity is Severity.WARNING} <= {"T001"}


@pytest.mark.parametrize("options", OPTION_SETS, ids=lambda o: "+".join(o) or "basic")
def test_records_what_was_done_and_treats_sequences(written, options):
    _, text = written[options]
    profile = yaml.safe_load(text)
    dicom = profile["dicom"]
    assert dicom["recurse-sequence"] is True and dicom["remove-private-tags"] is True
    rules = {rule["name"]: rule for rule in dicom["fields"]}
    assert rules["PatientIdentityRemoved"]["replace-with"] == "YES"
    codes = [value.split()[1] for value in rules["DeidentificationMethod"]["replace-with"]]
    assert codes[0] == "113100"
    assert codes[1:] == [table.OPTION_METHODS[name][0] for name in table.OPTIONS
                         if name in options]
    assert all(len(value) <= 64 for value in rules["DeidentificationMethod"]["replace-with"])
    if "retain-uids" not in options:
        for name in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
            assert rules[name] == {"name": name, "hashuid": True}
    assert rules["PatientID"]["hash"] is True


@pytest.mark.parametrize("options", OPTION_SETS, ids=lambda o: "+".join(o) or "basic")
def test_every_row_the_table_does_not_keep_has_a_rule(written, options):
    """Generated from the table: each row's tag is named (by keyword, tag or mask)."""
    rules = {rule["name"] for rule in yaml.safe_load(written[options][1])["dicom"]["fields"]}
    for row in table.rows():
        code = table.required_action(row, options)
        if code == "K" or row.is_private:
            continue
        if row.is_repeating:
            assert any(name.startswith(row.tag[:2].upper() + "XX") for name in rules), row.tag
        else:
            assert row.keyword in rules or f"({row.tag[:4]},{row.tag[4:]})" in rules, row.tag
    kept = [row for row in table.rows() if table.required_action(row, options) == "K"]
    assert not {row.keyword for row in kept} & rules


def test_the_codes_are_the_cid_7050_ones_for_every_option():
    assert table.BASIC_METHOD == ("113100", "Basic Application Confidentiality Profile")
    assert set(table.OPTION_METHODS) == set(table.OPTIONS)
    assert sorted(code for code, _ in table.OPTION_METHODS.values()) == [
        str(code) for code in range(113103, 113113)]


def test_plain_create_says_it_does_not_conform(tmp_path):
    path = tmp_path / "starter.yaml"
    assert deidc("create", str(path)).exit_code == 0
    text = path.read_text()
    report = api.conformance(str(path))
    assert report.gaps  # the starter reaches the top level only
    assert f"Not conformant: `deidc conformance` finds {len(report.gaps)} gaps" in text
    assert f"({report.nested_only} only inside sequences)" in text
    assert "finds no gap" not in text


def test_create_refuses_bad_options_before_writing(tmp_path):
    path = tmp_path / "p.yaml"
    for args, said in [(["--option", "retain-uids"], "--option needs --conformance"),
                       (["--conformance", "--option", "retain-safe-private"], "not supported"),
                       (["--conformance", "--option", "retain-longitudinal-full-dates",
                         "--option", "retain-longitudinal-modified-dates"], "alternatives"),
                       (["--conformance", "--option", "retain-uid"], "unknown option")]:
        result = deidc("create", str(path), *args)
        assert result.exit_code == 2 and said in result.stderr, result.output
        assert not path.exists()


def test_two_runs_differ_only_in_their_random_salt():
    texts = [api.starter_profile(True) for _ in range(2)]
    salts = [yaml.safe_load(text)["dicom"]["salt"] for text in texts]
    assert salts[0] != salts[1] and all(len(salt) == 32 for salt in salts)
    assert texts[0].replace(salts[0], "") == texts[1].replace(salts[1], "")


@pytest.mark.skipif(flywheel_python() is None, reason="flywheel-migration is not installed")
@pytest.mark.parametrize("options", OPTION_SETS, ids=lambda o: "+".join(o) or "basic")
def test_flywheel_loads_the_generated_profile(written, options, tmp_path):
    """The tag forms, the multi-valued DeidentificationMethod and the repeating-group masks
    are ones Flywheel's own loader accepts."""
    assert flywheel_loads(tmp_path, written[options][1]) == "loaded"
