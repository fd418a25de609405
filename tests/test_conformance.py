"""`deidc conformance`: every verdict on small profiles, each option, the private, overlay and
sequence rows, the command line, and the real profiles in ../shared."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from deidc import api
from deidc.cli import app
from deidc.conformance import table
from deidc.conformance.judge import judge as judge_plan
from deidc.conformance.table import OptionError

from . import plans
from .conftest import REAL_PROFILES

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def judge(tmp_path):
    """Judge a profile given as its dicom options and field rules (YAML text, dedented).  The
    profile's first rule starts on line 4 + the number of options."""

    def run(fields: str, options=(), **dicom):
        settings = "".join(f"  {key.replace('_', '-')}: {json.dumps(value)}\n"
                           for key, value in dicom.items())
        body = textwrap.indent(textwrap.dedent(fields).strip("\n"), "    ")
        path = tmp_path / "profile.yaml"
        path.write_text(f"name: test\ndicom:\n{settings}  fields:\n{body}\n")
        report = api.conformance(str(path), options)
        return {finding.row.keyword or finding.row.tag: finding for finding in report.findings}

    return run


# --- verdicts on one attribute -------------------------------------------------------------

def test_a_top_level_rule_alone_leaves_the_attribute_inside_sequences(judge):
    found = judge("- name: PatientName\n  replace-with: ''\n")["PatientName"]
    assert found.verdict == "gap"
    assert "inside ReferencedSeriesSequence: kept (no rule names it)" in found.action


def test_blanking_meets_z_removing_is_stricter_and_says_why(judge):
    blanked = judge("- name: PatientName\n  replace-with: ''\n",
                    recurse_sequence=True)["PatientName"]
    assert (blanked.required, blanked.verdict, blanked.line) == ("Z", "meets", 5)
    removed = judge("- name: PatientName\n  remove: true\n", recurse_sequence=True)["PatientName"]
    assert removed.verdict == "stricter" and "Type 2" in removed.action


def test_a_shifted_date_is_a_gap_under_basic_and_meets_under_modified_dates(judge):
    rules = "- name: StudyDate\n  increment-date: true\n"
    basic = judge(rules, recurse_sequence=True, date_increment=-3)["StudyDate"]
    assert (basic.required, basic.verdict) == ("Z", "gap")
    modified = judge(rules, ["retain-longitudinal-modified-dates"], recurse_sequence=True,
                     date_increment=-3)["StudyDate"]
    assert (modified.required, modified.verdict) == ("C", "meets")
    full = judge(rules, ["retain-longitudinal-full-dates"], recurse_sequence=True,
                 date_increment=-3)["StudyDate"]
    assert (full.required, full.verdict) == ("K", "stricter")


def test_uids_need_hashuid_a_plain_hash_is_a_gap():
    # the linter refuses `hash` on a UI (Flywheel does), so the plan is built by hand
    built = plans.plan(plans.entry("00080018", plans.hash_("s3cret")),
                       plans.entry("0020000D", plans.hashuid("s3cret")), recurse=True)
    found = {f.row.keyword: f for f in judge_plan(built).findings}
    assert found["SOPInstanceUID"].verdict == "gap"
    assert found["StudyInstanceUID"].verdict == "meets"
    # the file meta's copy follows SOPInstanceUID, and shares its verdict
    assert found["MediaStorageSOPInstanceUID"].verdict == "gap"
    assert found["MediaStorageSOPInstanceUID"].action.startswith("follows SOPInstanceUID")


def test_an_unsalted_hash_is_a_gap_a_salted_one_a_pseudonym(judge):
    rules = "- name: PatientID\n  hash: true\n"
    assert judge(rules, recurse_sequence=True)["PatientID"].verdict == "gap"
    assert judge(rules, recurse_sequence=True, salt="s3cret")["PatientID"].verdict == "meets"


def test_compound_codes_accept_any_of_their_codes(judge):
    rules = ("- name: AcquisitionDate\n  replace-with: ''\n"   # X/Z
             "- name: SeriesDate\n  replace-with: ''\n"        # X/D: blank is stricter than D
             "- name: InstitutionName\n  remove: true\n"       # X/Z/D
             "- name: ContentDate\n  replace-with: '19000101'\n")  # Z/D
    found = judge(rules, recurse_sequence=True)
    assert found["AcquisitionDate"].required == "X/Z"
    assert found["AcquisitionDate"].verdict == "meets"
    assert (found["SeriesDate"].required, found["SeriesDate"].verdict) == ("X/D", "stricter")
    assert found["InstitutionName"].verdict == "meets"
    assert (found["ContentDate"].required, found["ContentDate"].verdict) == ("Z/D", "meets")


def test_a_keep_under_remove_undefined_is_a_gap_unless_an_option_keeps_it(judge):
    rules = "- name: PatientSex\n  keep: true\n"
    basic = judge(rules, remove_undefined=True)
    assert (basic["PatientSex"].verdict, basic["PatientSex"].line) == ("gap", 5)
    # what remove-undefined removes meets X, and the line says the policy did it
    assert (basic["PatientAddress"].verdict, basic["PatientAddress"].line) == \
        ("meets", "dicom:remove-undefined")
    kept = judge(rules, ["retain-patient-characteristics"], remove_undefined=True,
                 recurse_sequence=True)
    assert (kept["PatientSex"].required, kept["PatientSex"].verdict) == ("K", "meets")
    # without recurse-sequence, remove-undefined takes it out of every sequence's items
    top_only = judge(rules, ["retain-patient-characteristics"], remove_undefined=True)
    assert top_only["PatientSex"].verdict == "stricter"


def test_regex_sub_and_constants_under_clean_descriptors(judge):
    rules = ("- name: StudyDescription\n  regex-sub:\n"
             "    - input-regex: '(?P<who>SMITH)'\n      output: 'X'\n"
             "- name: SeriesDescription\n  replace-with: 'series'\n")
    found = judge(rules, ["clean-descriptors"], recurse_sequence=True)
    assert (found["StudyDescription"].required, found["StudyDescription"].verdict) == ("C", "gap")
    assert found["SeriesDescription"].verdict == "stricter"


def test_a_regex_reaches_inside_sequences(judge):
    found = judge("- regex: '.*PatientName$'\n  remove: true\n")["PatientName"]
    assert found.verdict == "stricter"  # removed everywhere; Z would only blank it


def test_a_nested_path_rule_covers_one_sequence_only(judge):
    rules = "- name: ReferencedImageSequence.*.ReferencedSOPInstanceUID\n  hashuid: true\n"
    found = judge(rules)["ReferencedSOPInstanceUID"]
    assert found.verdict == "gap" and "kept (no rule names it)" in found.action


# --- the special rows --------------------------------------------------------------------------

def test_private_row(judge):
    assert judge("- name: PatientName\n  remove: true\n")["ggggeeee"].verdict == "gap"
    removed = judge("- name: PatientName\n  remove: true\n", remove_private_tags=True)
    assert (removed["ggggeeee"].verdict, removed["ggggeeee"].line) == \
        ("meets", "dicom:remove-private-tags")
    kept = judge("- name: PatientName\n  remove: true\n"
                 "- name: '(0009, \"GEMS_IDEN_01\", 04)'\n  keep: true\n",
                 remove_private_tags=True)["ggggeeee"]
    assert (kept.verdict, kept.line) == ("gap", 7)
    undefined = judge("- name: PatientName\n  remove: true\n", remove_undefined=True)
    assert undefined["ggggeeee"].verdict == "meets"


def test_retain_safe_private_is_refused_with_a_reason(judge):
    with pytest.raises(OptionError, match="Table E.3.10-1"):
        judge("- name: PatientName\n  remove: true\n", ["retain-safe-private"])


def test_overlay_and_curve_rows_cover_every_group(judge):
    one_group = judge("- name: '60003000'\n  remove: true\n", recurse_sequence=True)
    assert one_group["OverlayData"].verdict == "gap"  # groups 6002-601E keep their overlays
    every_group = judge("- name: '60XX3000'\n  remove: true\n", recurse_sequence=True)
    assert every_group["OverlayData"].verdict == "meets"
    assert every_group["OverlayComments"].verdict == "gap"
    assert every_group["CurveData"].verdict == "gap"
    keeplist = judge("- name: PatientID\n  hash: true\n", remove_undefined=True, salt="s")
    assert keeplist["CurveData"].verdict == keeplist["OverlayData"].verdict == "meets"


def test_sequence_rows(judge):
    removed = judge("- name: OtherPatientIDsSequence\n  remove: true\n", recurse_sequence=True)
    assert removed["OtherPatientIDsSequence"].verdict == "meets"
    emptied = judge("- name: OtherPatientIDsSequence\n  replace-with: ''\n",
                    recurse_sequence=True)
    assert emptied["OtherPatientIDsSequence"].verdict == "gap"  # X: the sequence must go
    # X/Z/U*: a kept ReferencedImageSequence meets U* when the UIDs it references are replaced
    referenced = judge("- name: ReferencedSOPInstanceUID\n  hashuid: true\n",
                       recurse_sequence=True)
    assert referenced["ReferencedImageSequence"].verdict == "meets"
    assert judge("- name: PatientName\n  remove: true\n")["ReferencedImageSequence"].verdict \
        == "gap"


@pytest.mark.parametrize("option", [name for name in table.OPTIONS
                                    if name != "retain-safe-private"])
def test_each_option_changes_what_is_required_and_judged(judge, option):
    """A keeplist that keeps what the option retains and blanks what it cleans: no gap on the
    option's rows under the option, gaps on its kept rows under the Basic Profile."""
    rows = [row for row in table.rows() if option in row.options and not row.is_repeating
            and not row.is_private and row.keyword_source == "pydicom"
            and row.tag[:4] != "0002"]
    rules = []
    for row in rows:
        code = row.options[option]
        if code == "K":
            rules.append(f"- name: {row.keyword}\n  keep: true\n")
        elif row.vr == "DA":
            rules.append(f"- name: {row.keyword}\n  increment-date: true\n")
        elif row.vr == "DT":
            rules.append(f"- name: {row.keyword}\n  increment-datetime: true\n")
        elif row.vr == "SQ":
            rules.append(f"- name: {row.keyword}\n  remove: true\n")
        else:
            rules.append(f"- name: {row.keyword}\n  replace-with: ''\n")
    found = judge("".join(rules), [option], remove_undefined=True, recurse_sequence=True,
                  date_increment=-5)
    for row in rows:
        assert found[row.keyword].verdict != "gap", (row.keyword, found[row.keyword].action)
    kept = [row for row in rows if row.options[option] == "K" and row.basic != "K"]
    if kept:
        basic = judge("".join(rules), remove_undefined=True, recurse_sequence=True,
                      date_increment=-5)
        assert all(basic[row.keyword].verdict == "gap" for row in kept)


# --- the command line ----------------------------------------------------------------------

def test_cli_json_shape_and_exit_codes(tmp_path):
    profile = ROOT / "examples" / "keeplist.yaml"
    result = CliRunner().invoke(app, ["conformance", str(profile), "--format", "json"])
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert len(data["attributes"]) == len(table.rows())
    first = data["attributes"][0]
    assert list(first) == ["tag", "keyword", "name", "required", "action", "verdict", "line"]
    assert first["verdict"] == "gap"
    assert all(re.fullmatch(r"[0-9A-F]{8}|[0-9A-Fx]{8}|ggggeeee", a["tag"])
               for a in data["attributes"])
    assert data["summary"]["gap"] == sum(a["verdict"] == "gap" for a in data["attributes"])
    markdown = CliRunner().invoke(app, ["conformance", str(profile), "-f", "markdown"])
    assert markdown.exit_code == 1 and markdown.stdout.startswith("### PS3.15")
    text = CliRunner().invoke(app, ["conformance", str(profile)])
    assert "gap" in text.stdout.splitlines()[3] and "short of what the table requires" in \
        text.stdout


def test_cli_usage_errors_exit_2(tmp_path):
    profile = str(ROOT / "examples" / "keeplist.yaml")
    runner = CliRunner()
    assert runner.invoke(app, ["conformance", profile, "--option", "retain-all"]).exit_code == 2
    assert runner.invoke(app, ["conformance", profile, "-f", "sarif"]).exit_code == 2
    assert runner.invoke(app, ["conformance", str(tmp_path / "none.yaml")]).exit_code == 2
    broken = tmp_path / "broken.yaml"
    broken.write_text("dicom:\n  fields:\n    - name: StudyDate\n      jitter: true\n")
    result = runner.invoke(app, ["conformance", str(broken)])
    assert result.exit_code == 2 and "V002" in result.stderr and "Traceback" not in result.output


def test_cli_reads_a_compiled_plan(tmp_path):
    plan = api.compile_profile(str(ROOT / "examples" / "keeplist.yaml"))
    path = tmp_path / "plan.json"
    path.write_text(plan.to_json())
    from_plan = api.conformance(str(path))
    from_profile = api.conformance(str(ROOT / "examples" / "keeplist.yaml"))
    assert [f.to_dict() for f in from_plan.findings] == \
        [f.to_dict() for f in from_profile.findings]


# --- the real profiles ---------------------------------------------------------------------

def real_profiles():
    if not REAL_PROFILES.is_dir():
        return []
    found = []
    for path in sorted(REAL_PROFILES.glob("*.yaml")):
        try:
            api.compile_profile(str(path))
        except Exception:  # noqa: BLE001 - the real profiles that do not compile are skipped
            continue
        found.append(path)
    return found


REAL = real_profiles()
needs_shared = pytest.mark.skipif(not REAL, reason="no shared/ beside the clone")


@needs_shared
@pytest.mark.parametrize("path", REAL, ids=lambda p: p.name[:40])
def test_real_profiles_attributes_they_never_name_are_gaps(path):
    """Read independently from the YAML: with remove-undefined off, an attribute the profile
    never names and no regex could reach survives, and must be reported as a gap."""
    data = yaml.safe_load(path.read_text())
    dicom = data.get("dicom") or {}
    report = api.conformance(str(path))
    assert len(report.findings) == len(table.rows())
    if dicom.get("remove-undefined") or any("regex" in rule for rule in dicom.get("fields", [])):
        return
    named = {str(rule.get("name")) for rule in dicom.get("fields", [])}
    text = path.read_text()
    for finding in report.findings:
        row = finding.row
        if row.is_private or row.is_repeating or row.tag[:4] == "0002" or row.basic == "K":
            continue
        if row.keyword not in named and row.keyword not in text and row.tag not in text:
            assert finding.verdict == "gap", (row.keyword, finding.action)
            assert finding.line == "dicom:"


@needs_shared
def test_readme_states_the_real_profiles_gap_counts():
    readme = (ROOT / "README.md").read_text()
    stated = dict(re.findall(r"^\| `([^`]+\.yaml)` \| (\d+) \|", readme, re.MULTILINE))
    assert stated, "the README's table of real profiles' gaps is missing"
    for path in REAL:
        assert int(stated[path.name]) == len(api.conformance(str(path)).gaps), path.name
