"""deidc diff and PS3.15 Table E.1-1: the rows a change turns from met to gap, or back.

The mutations are made here with a YAML library on a real profile (Penn BSC v4.0, given
`recurse-sequence: true` so that the rules it has reach inside sequences and some rows are
met): deleting the rule for an attribute whose row was met must turn exactly that row to gap,
and put it back must turn it to met.  The rows met are taken from `deidc conformance` of the
old side; which row must turn is decided from the rule deleted.
"""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from deidc import api
from deidc.cli import app
from deidc.plandiff.compare import Diff
from deidc.plandiff.conformance import RowChange, RowChanges
from tests.conftest import REAL_PROFILES

PENN_V4 = REAL_PROFILES / "bsc-flywheel-deid__de-id_upenn_Penn_BSC_profile_v4.0_20250829.yaml"
PENN_V3 = REAL_PROFILES / "ftdc-picsl__de-id_upenn_Penn_BSC_profile_v3.0_20201111A.yaml"
needs_real = pytest.mark.skipif(not PENN_V4.exists(), reason="real profiles not available")


def invoke(*args):
    return CliRunner().invoke(app, ["diff", *map(str, args)])


def write(tmp_path, name: str, data: dict) -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


@pytest.fixture
def penn(tmp_path):
    """Penn BSC v4.0 with recurse-sequence on, as data and as a file."""
    data = yaml.safe_load(PENN_V4.read_text())
    data["dicom"]["recurse-sequence"] = True
    return data, write(tmp_path, "old.yaml", data)


def without(data: dict, keyword: str) -> dict:
    fields = [rule for rule in data["dicom"]["fields"] if rule.get("name") != keyword]
    assert len(fields) == len(data["dicom"]["fields"]) - 1
    return {**data, "dicom": {**data["dicom"], "fields": fields}}


@needs_real
def test_deleting_the_rule_of_each_met_row_turns_that_row_to_gap(penn, tmp_path):
    data, old = penn
    met = [f for f in api.conformance(old).findings if f.verdict != "gap"]
    assert len(met) >= 5
    for finding in met:
        new = write(tmp_path, "new.yaml", without(data, finding.row.keyword))
        rows = api.diff(old, new).conformance.rows
        assert [(r.tag, r.old, r.new, r.kind) for r in rows] == \
            [(finding.row.tag, finding.verdict, "gap", "weaker")], finding.row.keyword
        assert rows[0].old_line == finding.line and rows[0].new_line == "dicom:"


@needs_real
def test_patient_name_deleted_in_every_format_and_fail_on_weaker(penn, tmp_path):
    data, old = penn
    new = write(tmp_path, "new.yaml", without(data, "PatientName"))
    line = next(n for n, text in enumerate((tmp_path / "old.yaml").read_text().splitlines(), 1)
                if text.strip() == "- name: PatientName")
    document = json.loads(invoke(old, new, "--format", "json").stdout)["conformance"]
    assert (document["turned_to_gap"], document["turned_to_met"]) == (1, 0)
    assert [{k: r[k] for k in ("tag", "keyword", "required", "old", "new", "old_line")}
            for r in document["rows"]] == [{"tag": "00100010", "keyword": "PatientName",
                                            "required": "Z", "old": "meets", "new": "gap",
                                            "old_line": line}]
    markdown = invoke(old, new, "--format", "markdown").stdout
    assert "**1 row turns to gap, 0 to met**" in markdown
    assert "| **turns to gap** | PatientName (00100010) | Z | meets: replace with \"\" |" \
        in markdown
    github = invoke(old, new, "--format", "github").stdout.splitlines()
    assert any(g.startswith(f"::warning file={new},title=deidc diff%3A Table E.1-1 row turns "
                            "to gap::PatientName (00100010)") for g in github)
    text = " ".join(invoke(old, new).stdout.split())
    assert "Table E.1-1 (Basic Profile, no option): 1 row turns to gap, 0 to met" in text
    assert invoke(old, new, "--fail-on", "weaker").exit_code == 1
    back = invoke(new, old, "--fail-on", "weaker", "--format", "json")
    assert back.exit_code == 0  # a rule added is stronger, and the row turns to met
    (row,) = json.loads(back.stdout)["conformance"]["rows"]
    assert (row["tag"], row["old"], row["new"], row["kind"], row["new_line"]) == \
        ("00100010", "gap", "meets", "stronger", line)


@needs_real
def test_penn_versions_leave_every_row_a_gap_and_turn_none():
    """v3.0 → v4.0 changes attributes, but neither sets recurse-sequence: every row is a gap
    on both sides, and no row turns."""
    result = api.diff(str(PENN_V3), str(PENN_V4))
    assert result.changes and result.conformance.rows == ()
    assert json.loads(invoke(PENN_V3, PENN_V4, "--format", "json").stdout)["conformance"][
        "rows"] == []


SHIFTED = {"name": "site", "dicom": {"date-increment": -30, "recurse-sequence": True,
                                     "fields": [{"name": "StudyDate", "remove": True}]}}


def test_options_decide_which_rows_turn(tmp_path):
    """Removing StudyDate is stricter than Z; shifting it is a gap under the Basic Profile and
    meets C under Retain Longitudinal Temporal Information with Modified Dates."""
    old = write(tmp_path, "old.yaml", SHIFTED)
    shifted = {**SHIFTED, "dicom": {**SHIFTED["dicom"],
                                    "fields": [{"name": "StudyDate", "increment-date": True}]}}
    new = write(tmp_path, "new.yaml", shifted)
    basic = api.diff(old, new).conformance
    assert [(r.keyword, r.required, r.old, r.new) for r in basic.rows] == \
        [("StudyDate", "Z", "stricter", "gap")]
    modified = api.diff(old, new, options=["retain-longitudinal-modified-dates"]).conformance
    assert modified.rows == () and modified.options == ("retain-longitudinal-modified-dates",)
    assert invoke(old, new, "--option", "retain-longitudinal-modified-dates", "--fail-on",
                  "weaker").exit_code == 1  # the shift itself is weaker than removal
    refused = invoke(old, new, "--option", "retain-nothing")
    assert refused.exit_code == 2 and "unknown option retain-nothing" in refused.output


def test_a_row_turned_to_gap_alone_fails_on_weaker():
    row = RowChange("00100010", "PatientName", "Patient's Name", "Z", "meets", "gap", "weaker",
                    'replace with ""', "kept (no rule names it)", 4, "dicom:")
    diff = Diff("old.yaml", "new.yaml", "new.yaml", conformance=RowChanges((), (row,)))
    assert diff.has("weaker") and not diff.has("stronger")
