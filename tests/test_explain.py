"""explain: what the plan does to each attribute, read from the plan alone."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from pydicom.data import get_testdata_file
from typer.testing import CliRunner

from deidc.cli import app
from deidc.compiler import compile_profile
from deidc.explanation import ExplainError, explain_plan, explain_tag, preview
from deidc.render.explain import render

ROOT = Path(__file__).resolve().parents[1]
SEED_BLOCKLIST = ROOT / "examples" / "seed" / "seed-blocklist-fixed.yaml"


@pytest.fixture(scope="module")
def seed_plan():
    return compile_profile(str(SEED_BLOCKLIST))


def rows_by_keyword(report):
    return {row["keyword"]: row for row in report.rows}


def test_seed_blocklist_chains_and_lines(seed_plan):
    rows = rows_by_keyword(explain_plan(seed_plan))
    assert rows["PatientID"]["chain"] == 'replace with "REDACTED"'
    assert rows["StudyInstanceUID"]["chain"].startswith("hashuid")
    assert rows["PatientName"]["chain"] == "remove"
    # The seed lists NameOfPhysiciansReadingStudy twice: both lines shown, one merged away.
    physicians = rows["NameOfPhysiciansReadingStudy"]
    assert physicians["lines"] == "45, 175"
    assert physicians["overridden"] == "line 45: repeats the rule at line 175"
    # The regex rule is pre-expanded into dictionary attributes.
    assert rows["PersonIdentificationCodeSequence"]["chain"] == "remove"


def test_policy_sentence_names_the_kept_private_tag(seed_plan):
    policy = explain_plan(seed_plan).policy
    assert '(0009,"GEMS_IDEN_01",04)' in policy and "private elements are removed" in policy


def test_tag_explains_attributes_no_rule_names(seed_plan):
    (row,) = explain_tag(seed_plan, "PatientSex").rows
    assert row["chain"].startswith("kept: no rule names it and remove-undefined is off")
    (row,) = explain_tag(seed_plan, "(0010,0010)").rows
    assert row["chain"] == "remove"
    with pytest.raises(ExplainError, match="PatientSex"):
        explain_tag(seed_plan, "PatientsSex")


def test_file_preview_shows_before_and_after_without_writing(seed_plan, tmp_path):
    path = get_testdata_file("CT_small.dcm", download=False)
    before = Path(path).read_bytes()
    rows = rows_by_keyword(preview(seed_plan, path))
    assert rows["PatientID"]["before"] == "1CT1" and rows["PatientID"]["after"] == "REDACTED"
    assert rows["PatientName"]["fate"] == "removed"
    assert rows["Modality"]["fate"] == "kept"
    assert Path(path).read_bytes() == before


def test_json_and_text_rendering(seed_plan):
    out = io.StringIO()
    render(explain_tag(seed_plan, "PatientID"), "json", out)
    assert json.loads(out.getvalue())["rows"][0]["tag"] == "00100020"
    out = io.StringIO()
    render(explain_plan(seed_plan), "text", out)
    assert "PatientID" in out.getvalue() and "Default policy" in out.getvalue()


def test_cli_explains_a_plan_file(seed_plan, tmp_path):
    plan_path = tmp_path / "plan.json"
    plan_path.write_text(seed_plan.to_json())
    result = CliRunner().invoke(app, ["explain", str(plan_path), "--tag", "AccessionNumber",
                                      "--format", "json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["rows"][0]["chain"] == "remove"


def test_cli_explain_runs_in_a_fresh_process():
    """`deidc explain` as people run it: no test module has imported anything first."""
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "deidc", "explain", str(SEED_BLOCKLIST),
                             "--tag", "PatientID", "--format", "json"],
                            capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["rows"][0]["chain"] == 'replace with "REDACTED"'


def test_api_explain_and_compile_profile_are_the_package_functions(seed_plan):
    import deidc
    import deidc.explanation  # noqa: F401  (importing the module must not shadow the API)

    assert deidc.compile_profile(str(SEED_BLOCKLIST)).to_json() == seed_plan.to_json()
    (row,) = deidc.explain(str(SEED_BLOCKLIST), tag="PatientName").rows
    assert row["chain"] == "remove"
    assert deidc.explain(seed_plan).rows == explain_plan(seed_plan).rows


def test_tag_explains_file_meta_and_repeater_groups(seed_plan, tmp_path):
    (row,) = explain_tag(seed_plan, "TransferSyntaxUID").rows
    assert row["chain"] == "kept: file meta, which only rules that name it change"
    path = tmp_path / "overlays.yaml"
    path.write_text("dicom:\n  remove-undefined: true\n  fields:\n    - name: '60XX3000'\n"
                    "      remove: true\n    - name: PatientID\n      keep: true\n")
    plan = compile_profile(str(path))
    for name in ("OverlayData", "60023000", "(60xx,3000)"):
        (row,) = explain_tag(plan, name).rows
        assert (row["tag"], row["chain"], row["lines"]) == ("60XX3000", "remove", "4"), name
    (row,) = explain_tag(plan, "OverlayRows").rows
    assert row["chain"] == "removed: no rule names it and remove-undefined is on"


def test_explain_of_the_seed_keeplist_prints_its_lint_errors(tmp_path):
    result = CliRunner().invoke(app, ["explain", str(ROOT / "examples" / "seed" /
                                                     "seed-keeplist-fixed.yaml")])
    assert result.exit_code == 1
    assert result.stderr.count("error V002 [jitter-not-numeric]") == 2


def test_file_preview_says_which_rule_or_policy_decided(tmp_path):
    path = get_testdata_file("CT_small.dcm", download=False)
    plan = compile_profile(str(ROOT / "examples" / "keeplist.yaml"))
    rows = preview(plan, path).rows
    why = {row["keyword"]: row["why"] for row in rows}
    patient_id_line = plan.table()["00100020"].actions[0].origin.line
    assert why["PatientID"] == f"line {patient_id_line}"
    assert why["Modality"] == "named (keep)"
    assert why["InstanceCreatorUID"] == "remove-undefined"
    assert {row["why"] for row in rows if row["tag"].startswith("0009")} == \
        {"remove-private-tags"}
    with pytest.raises(ExplainError, match="README.md: not a DICOM file"):
        preview(plan, str(ROOT / "README.md"))


@pytest.mark.parametrize("profile, why", [
    ("dicom:\n  recurse-sequence: true\n  fields:\n"
     "    - name: ReferencedSOPInstanceUID\n      hashuid: true\n", "line 4"),
    ("dicom:\n  fields:\n"
     "    - name: ReferencedRTPlanSequence.*.ReferencedSOPInstanceUID\n      hashuid: true\n",
     "line 3"),
])
def test_file_preview_shows_what_changes_inside_sequences(tmp_path, profile, why):
    """A preview that listed top-level elements only hid every nested change (the UIDs in
    referencing sequences are what recurse-sequence and nested rules are for)."""
    path = tmp_path / "profile.yaml"
    path.write_text(profile)
    plan = compile_profile(str(path))
    report = preview(plan, get_testdata_file("rtplan.dcm", download=False))
    nested = [row for row in report.rows if "." in row["path"]]
    assert nested, report.rows
    assert all(row["fate"] != "kept" for row in nested)
    row = next(r for r in nested if r["path"] == "300C0002.0.00081155")
    assert row["keyword"] == "ReferencedRTPlanSequence[0].ReferencedSOPInstanceUID"
    assert row["fate"] == "changed" and row["before"] != row["after"]
    assert row["why"] == why
    assert "changed inside sequences" in report.title


# --- beside the chain: what PS3.15 Table E.1-1 requires, and the verdict ----------------------

SHIFTS = ("name: shifts\ndicom:\n  date-increment: -30\n  remove-undefined: true\n"
          "  fields:\n    - name: StudyDate\n      increment-date: true\n"
          "    - name: (0009,\"ACME\",10)\n      keep: true\n")


@pytest.mark.parametrize("tag, options", [
    ("StudyDate", ()), ("StudyDate", ("retain-longitudinal-modified-dates",)),
    ("PatientName", ()), ("(0009,\"ACME\",10)", ()), ("OverlayData", ()),
    ("StudyInstanceUID", ("retain-uids",)),
])
def test_tag_shows_the_judges_row_for_the_attribute(tmp_path, tag, options):
    """explain --tag says what the judge says of the row the attribute falls under (its own,
    the private row, the overlay row), under the options given."""
    from deidc import api

    path = tmp_path / "shifts.yaml"
    path.write_text(SHIFTS)
    report = api.explain(str(path), tag=tag, options=options)
    whole = {f.row.tag: f for f in api.conformance(str(path), options).findings}
    found = report.conformance
    assert whole[found["tag"]].to_dict() == {k: found[k] for k in whole[found["tag"]].to_dict()}
    assert found["options"] == list(options)
    assert (report.rows[0]["required"], report.rows[0]["verdict"]) == \
        (found["required"], found["verdict"])


def test_tag_verdicts_on_a_made_profile(tmp_path):
    from deidc import api

    path = tmp_path / "shifts.yaml"
    path.write_text(SHIFTS)
    basic = api.explain(str(path), tag="StudyDate").conformance
    assert (basic["required"], basic["verdict"], basic["line"]) == ("Z", "gap", 6)
    modified = api.explain(str(path), tag="StudyDate",
                           options=["retain-longitudinal-modified-dates"]).conformance
    # shifted at the top level meets C; inside sequences remove-undefined removes it
    assert (modified["required"], modified["verdict"], modified["line"]) == \
        ("C", "stricter", "dicom:remove-undefined")
    private = api.explain(str(path), tag='(0009,"ACME",10)').conformance
    assert (private["tag"], private["verdict"], private["line"]) == ("ggggeeee", "gap", 8)
    assert api.explain(str(path), tag="Rows").conformance["required"] is None


def test_cli_explain_tag_prints_the_requirement_and_takes_options(tmp_path):
    path = tmp_path / "shifts.yaml"
    path.write_text(SHIFTS)
    result = CliRunner().invoke(app, ["explain", str(path), "--tag", "StudyDate", "--option",
                                      "retain-longitudinal-modified-dates"])
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    assert ("Table E.1-1 (retain-longitudinal-modified-dates): StudyDate requires C; stricter "
            "(dicom:remove-undefined): shift by -30 days") in text
    as_json = json.loads(CliRunner().invoke(app, ["explain", str(path), "--tag", "Rows",
                                                  "--format", "json"]).stdout)
    assert as_json["conformance"]["verdict"] is None
    for arguments, said in [(["--tag", "StudyDate", "--option", "retain-all"],
                             "unknown option retain-all"),
                            (["--option", "retain-uids"], "give --tag too")]:
        refused = CliRunner().invoke(app, ["explain", str(path), *arguments])
        assert refused.exit_code == 2 and said in refused.stderr
