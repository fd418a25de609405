"""compile: golden plans, precedence, determinism, the plan schema, refusals."""

from __future__ import annotations

import json
import os
import re
import textwrap
import time
from pathlib import Path

import jsonschema
import pytest

from deidc.compiler import CompileError, compile_profile, compile_with_stats
from deidc.plan.ir import Plan, PlanError

from tests.conftest import REAL_PROFILES

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "examples" / "plans"
PLAN_SCHEMA = json.loads((ROOT / "schema" / "deid-plan.schema.json").read_text())


@pytest.fixture
def compile_text(tmp_path):
    def run(text: str) -> Plan:
        path = tmp_path / "profile.yaml"
        path.write_text(textwrap.dedent(text))
        return compile_profile(str(path))
    return run


def chain(plan: Plan, target: str) -> list[tuple[str, object]]:
    entry = plan.table()[target]
    return [(a.op, a.args.get("value")) for a in entry.actions]


@pytest.mark.parametrize("name", ["blocklist", "keeplist"])
def test_golden_plans(name, monkeypatch):
    """Regenerate with DEIDC_REGENERATE=1 after a deliberate change, and review the diff."""
    monkeypatch.chdir(ROOT)
    text = compile_profile(f"examples/{name}.yaml").to_json()
    golden = GOLDEN / f"{name}.plan.json"
    if os.environ.get("DEIDC_REGENERATE"):
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(text)
    expected = json.loads(golden.read_text())
    actual = json.loads(text)
    for plan in (expected, actual):
        plan.pop("pydicom_version")
        plan.pop("deidc_version")
    assert actual == expected


@pytest.mark.parametrize("name", ["blocklist", "keeplist", "seed/seed-blocklist-fixed"])
def test_plans_validate_against_schema_and_round_trip(name):
    plan = compile_profile(str(ROOT / "examples" / f"{name}.yaml"))
    data = json.loads(plan.to_json())
    jsonschema.Draft202012Validator(PLAN_SCHEMA).validate(data)
    assert Plan.from_json(plan.to_json()).to_json() == plan.to_json()


def test_compiling_is_deterministic():
    path = str(ROOT / "examples" / "blocklist.yaml")
    assert compile_profile(path).to_json() == compile_profile(path).to_json()


def test_seed_keeplist_does_not_compile_it_jitters_dates():
    with pytest.raises(CompileError) as caught:
        compile_profile(str(ROOT / "examples" / "seed" / "seed-keeplist-fixed.yaml"))
    assert {d.code for d in caught.value.diagnostics} == {"V002"}


def test_every_action_carries_its_profile_line(compile_text):
    plan = compile_text("""
        dicom:
          fields:
            - name: PatientName
              remove: true
            - name: PatientID
              replace-with: X
    """)
    assert plan.table()["00100010"].actions[0].origin.line == 4
    assert plan.table()["00100020"].actions[0].origin.line == 6
    assert plan.table()["00100020"].actions[0].origin.rule == 1


def test_later_remove_overrides_earlier_rule(compile_text):
    plan = compile_text("""
        dicom:
          fields:
            - name: PatientID
              hash: true
            - name: (0010,0020)
              remove: true
    """)
    entry = plan.table()["00100020"]
    assert [a.op for a in entry.actions] == ["remove"]
    assert entry.overridden[0].origin.line == 4
    assert "line 6" in entry.overridden[0].reason


def test_replace_then_hash_keeps_both_in_order(compile_text):
    plan = compile_text("""
        dicom:
          fields:
            - name: PatientID
              replace-with: ANON
            - name: PatientID
              hash: true
    """)
    assert chain(plan, "00100020") == [("replace", "ANON"), ("hash", None)]


def test_regex_then_explicit_name_applies_both_in_profile_order(compile_text):
    plan = compile_text("""
        dicom:
          fields:
            - regex: '.*Date$'
              remove: true
            - name: StudyDate
              replace-with: '20000101'
    """)
    assert chain(plan, "00080020") == [("replace", "20000101")]  # remove overridden
    assert [a.op for a in plan.table()["00080021"].actions] == ["remove"]  # SeriesDate
    assert plan.patterns[0].pattern == ".*Date$"


def test_multi_action_rule_applies_only_the_first_in_flywheel_order(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("dicom:\n  fields:\n    - name: PatientID\n      hash: true\n"
                    "      replace-with: X\n")
    plan = compile_profile(str(path))
    assert chain(plan, "00100020") == [("replace", "X")]


def test_keep_feeds_remove_undefined_and_private_keeps(compile_text):
    plan = compile_text("""
        dicom:
          remove-undefined: true
          remove-private-tags: true
          fields:
            - name: PatientSex
              keep: true
            - name: (0009, "GEMS_IDEN_01", 04)
              keep: true
            - name: ReferencedSeriesSequence.0.SeriesInstanceUID
              hashuid: true
    """)
    assert plan.policy.remove_undefined and plan.policy.remove_private
    assert "00100040" in plan.policy.keep
    assert "00081115" in plan.policy.keep  # the parent of a nested rule
    assert plan.policy.private_keep == ('(0009,"GEMS_IDEN_01",04)',)
    assert plan.table()["00100040"].actions == ()


def test_hex_form_private_keep_is_not_a_private_keep(compile_text):
    plan = compile_text("""
        dicom:
          remove-private-tags: true
          fields:
            - name: '(0009, "GEMS_IDEN_01", 04)'
              keep: true
            - name: '00091005'
              replace-with: X
              replace-with-insert: false
    """)
    assert plan.policy.private_keep == ('(0009,"GEMS_IDEN_01",04)',)


def test_regex_sub_rules_run_first(compile_text):
    plan = compile_text("""
        dicom:
          fields:
            - name: PatientID
              hash: true
            - name: PatientID
              regex-sub:
                - input-regex: '(?P<site>[A-Z]+)-(?P<num>\\d+)'
                  output: '{site}'
    """)
    assert [a.op for a in plan.table()["00100020"].actions] == ["regex_sub", "hash"]


def test_per_field_options_are_folded_into_actions(compile_text):
    plan = compile_text("""
        dicom:
          date-increment: 10
          salt: pepper
          fields:
            - name: StudyDate
              increment-date: true
              date-increment-override: -3
              jitter-date: true
              jitter-range: 4
            - name: AccessionNumber
              hash: true
    """)
    shift = plan.table()["00080020"].actions[0].args
    assert shift == {"days": -3, "format": "%Y%m%d", "jitter": {"range": 4, "unit": "days"}}
    assert plan.table()["00080050"].actions[0].args == {"salt": "pepper", "digits": 16}


def test_lint_errors_block_compilation(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("dicom:\n  fields:\n    - name: PatientsName\n      remove: true\n")
    with pytest.raises(CompileError, match="lint error") as caught:
        compile_profile(str(path))
    assert [d.code for d in caught.value.diagnostics] == ["D001"]
    path.write_text("dicom:\n  fields:\n    - name: PatientName\n      remvoe: true\n")
    with pytest.raises(CompileError) as caught:
        compile_profile(str(path))
    assert [d.code for d in caught.value.diagnostics] == ["S001"]


def test_encryption_is_refused_clearly(tmp_path):
    path = tmp_path / "enc.yaml"
    path.write_text("dicom:\n  fields:\n    - name: PatientName\n      encrypt: true\n")
    with pytest.raises(CompileError, match="cannot execute encryption"):
        compile_profile(str(path))


def test_other_sections_compile_to_a_note(compile_text):
    plan = compile_text("""
        dicom:
          fields:
            - name: PatientName
              remove: true
        filename:
          fields: []
    """)
    assert any("filename" in note for note in plan.notes)


def test_unknown_plan_format_is_refused():
    data = json.loads(compile_profile(str(ROOT / "examples" / "blocklist.yaml")).to_json())
    data["format"] = 99
    with pytest.raises(PlanError, match="format 99"):
        Plan.from_json(json.dumps(data))


def test_stats_count_regex_expansion(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("dicom:\n  fields:\n    - regex: '.*IdentificationSequence.*'\n"
                    "      remove: true\n")
    plan, stats = compile_with_stats(str(path))
    assert stats.regexes[".*IdentificationSequence.*"] == len(plan.entries) > 3


def test_largest_real_profile_compiles_in_bounded_time(tmp_path):
    """The 386-rule profile names 14 repeating-group keywords, which Flywheel rejects (D004):
    the copy compiled here writes them as the repeater tags lint suggests, so that the whole
    compiler runs, not only lint."""
    profiles = sorted(REAL_PROFILES.glob("*.yaml"), key=lambda p: p.stat().st_size) \
        if REAL_PROFILES.exists() else []
    if not profiles:
        pytest.skip("real profiles not available")
    largest = profiles[-1]
    text = largest.read_text()
    with pytest.raises(CompileError) as caught:
        compile_profile(str(largest))
    for diagnostic in caught.value.diagnostics:
        assert diagnostic.code == "D004", diagnostic.message
        keyword, tag = re.match(r"`(\w+)` .*\((\w+)\)", diagnostic.message).groups()
        text = text.replace(f"name: {keyword}\n", f"name: '{tag.upper()}'\n")
    fixed = tmp_path / largest.name
    fixed.write_text(text)
    started = time.perf_counter()
    plan, stats = compile_with_stats(str(fixed))
    elapsed = time.perf_counter() - started
    assert stats.rules == len(plan.entries) == 386
    assert sum(entry.kind == "repeater" for entry in plan.entries) == 14
    assert elapsed < 5, f"{elapsed:.3f} s"  # guards against a blowup; it takes ~0.2 s


def test_a_plan_with_reordered_keys_is_still_a_plan(tmp_path):
    from deidc.plan.ir import is_plan_file

    plan = compile_profile(str(ROOT / "examples" / "blocklist.yaml"))
    reordered = tmp_path / "sorted.json"
    reordered.write_text(json.dumps(json.loads(plan.to_json()), sort_keys=True, indent=1))
    profile = tmp_path / "profile.json"
    profile.write_text(json.dumps({"name": "x", "dicom": {"fields": []}}))
    assert is_plan_file(str(reordered)) and not is_plan_file(str(profile))
    assert json.loads(Plan.from_json(reordered.read_text()).to_json()) == json.loads(plan.to_json())


def test_actions_after_a_remove_are_dropped_unless_they_insert(compile_text):
    plan = compile_text("""
        dicom:
          fields:
            - name: AccessionNumber
              remove: true
            - name: AccessionNumber
              hash: true
            - name: PatientID
              remove: true
            - name: PatientID
              replace-with: ANON
            - name: PatientID
              hash: true
    """)
    accession = plan.table()["00080050"]
    assert [a.op for a in accession.actions] == ["remove"]
    assert accession.overridden[0].reason == ("the rule at line 4 removes it first, and nothing "
                                              "puts it back")
    # the remove is overridden by the inserting replace; the hash hashes the replacement
    assert chain(plan, "00100020") == [("replace", "ANON"), ("hash", None)]


def test_a_replace_that_only_overwrites_voids_the_transforms_before_it(compile_text):
    plan = compile_text("""
        dicom:
          replace-with-insert: false
          fields:
            - name: PatientID
              hash: true
            - name: PatientID
              replace-with: ANON
            - name: PatientName
              replace-with: X
            - name: PatientName
              replace-with: X
    """)
    assert chain(plan, "00100020") == [("replace", "ANON")]
    entry = plan.table()["00100010"]
    assert chain(plan, "00100010") == [("replace", "X")]
    assert entry.overridden[0].reason == "repeats the rule at line 11"


def test_cli_compile_writes_the_plan_and_says_what_it_did(tmp_path):
    from typer.testing import CliRunner

    from deidc.cli import app

    out = tmp_path / "plan.json"
    result = CliRunner().invoke(app, ["compile", str(ROOT / "examples" / "seed" /
                                                     "seed-blocklist-fixed.yaml"),
                                      "-o", str(out), "--stats"])
    assert result.exit_code == 0, result.output
    assert Plan.from_json(out.read_text()).profile.name == "My Profile"
    assert [p.name for p in tmp_path.iterdir()] == ["plan.json"]  # no temporary left behind
    assert "rules in: 82; entries out: 112" in result.stdout
    assert "'.*IdentificationSequence.*' expanded to 32 dictionary tag(s)" in result.stdout
    assert "seed-blocklist-fixed.yaml:45 (rule 15: NameOfPhysiciansReadingStudy): repeats " \
           "the rule at line 175" in result.stdout


def test_cli_compile_into_a_pipe_writes_through_it_and_leaves_it_a_pipe(tmp_path):
    """Renaming a temporary over ``-o /dev/null`` (as root) or a pipe replaces the device or
    pipe itself; a target that is not a regular file is written to as it is."""
    import stat
    import threading

    from typer.testing import CliRunner

    from deidc.cli import app

    pipe = tmp_path / "plan.fifo"
    os.mkfifo(pipe)
    received = []
    reader = threading.Thread(target=lambda: received.append(pipe.read_bytes()), daemon=True)
    reader.start()
    result = CliRunner().invoke(app, ["compile", str(ROOT / "examples" / "seed" /
                                                     "seed-blocklist-fixed.yaml"), "-o", str(pipe)])
    reader.join(timeout=30)
    assert result.exit_code == 0, result.output
    assert stat.S_ISFIFO(os.stat(pipe).st_mode)
    assert Plan.from_json(received[0].decode()).profile.name == "My Profile"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.fifo"]


def test_cli_compile_prints_lint_errors_as_lint_does_and_exits_1(tmp_path):
    from typer.testing import CliRunner

    from deidc.cli import app

    path = tmp_path / "bad.yaml"
    path.write_text("dicom:\n  fields:\n    - name: PatientsName\n      remove: true\n")
    result = CliRunner().invoke(app, ["compile", str(path)])
    assert result.exit_code == 1
    assert f"{path}:3:13: error D001" in result.stderr
    assert "fix them before compiling" in result.stderr and result.stdout == ""


EVERY_FORM = """
    dicom:
      date-increment: 7
      salt: pepper
      remove-private-tags: true
      patient-age-from-birthdate: true
      fields:
        - name: PatientID
          regex-sub:
            - input-regex: '(?P<site>[A-Z]+)-(?P<num>\\\\d+)'
              output: '{site}-{num}'
              groups:
                - name: num
                  hash: true
        - name: PatientName
          remove: true
        - name: '00100030'
          replace-with: '19000101'
        - name: (0008,0050)
          hash: true
        - name: StudyInstanceUID
          hashuid: true
        - name: StudyDate
          increment-date: true
          jitter-date: true
        - name: AcquisitionDateTime
          increment-datetime: true
          datetime-max: '+1years'
        - name: PatientWeight
          jitter: true
          jitter-min: 0
        - name: (0009, "GEMS_IDEN_01", 04)
          replace-with: X
        - name: ReferencedImageSequence.*.ReferencedSOPInstanceUID
          hashuid: true
        - name: 60XX3000
          remove: true
        - regex: '.*InstitutionName'
          remove: true
"""


def test_every_op_and_target_kind_validates_against_the_schema(compile_text):
    plan = compile_text(EVERY_FORM)
    data = json.loads(plan.to_json())
    jsonschema.Draft202012Validator(PLAN_SCHEMA).validate(data)
    ops = {a["op"] for e in data["entries"] for a in e["actions"]}
    assert ops == {"regex_sub", "remove", "replace", "hash", "hashuid", "shift_date",
                   "shift_datetime", "jitter"}
    assert {e["kind"] for e in data["entries"]} == {"tag", "private", "path", "repeater"}
    table = plan.table()
    assert table["00081140.*.00081155"].kind == "path"
    assert table["60XX3000"].kind == "repeater"
    assert table['(0009,"GEMS_IDEN_01",04)'].actions[0].args == {"value": "X", "insert": True}
    assert Plan.from_json(plan.to_json()).to_json() == plan.to_json()


@pytest.mark.parametrize("spoil", [
    lambda d: d["entries"][0]["actions"][0]["args"].pop("digits"),
    lambda d: d["entries"][0].update(target="(0008,0050)"),
    lambda d: d["entries"][0]["actions"][0].update(op="encrypt"),
    lambda d: d["policy"].update(keep=["PatientID"]),
])
def test_the_schema_rejects_malformed_plans(compile_text, spoil):
    plan = compile_text("dicom:\n  fields:\n    - name: AccessionNumber\n      hash: true\n")
    data = json.loads(plan.to_json())
    jsonschema.Draft202012Validator(PLAN_SCHEMA).validate(data)
    spoil(data)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(PLAN_SCHEMA).validate(data)


def test_subject_maps_compile_to_a_note(compile_text):
    plan = compile_text("""
        map-subjects: subjects.csv
        dicom:
          fields:
            - name: PatientName
              remove: true
    """)
    assert any(note.startswith("`map-subjects`") for note in plan.notes)


RENAMING = """
    dicom:
      filenames:
        - output: '{file_name}'
          input-regex: '^(?P<file_name>.*)$'
        - output: '{subject}.dcm'
          input-regex: '^(?P<notused>\\w+)-(?P<subject>\\d{4}-\\d{2}-\\d{2}).dcm$'
      fields:
        - name: PatientName
          remove: true
"""


def test_a_template_that_renames_outputs_is_refused_even_with_its_check_ignored(tmp_path):
    """Flywheel would take the date out of `site-2024-01-02.dcm`; deidc would keep it, so the
    profile does not compile, whatever the lint settings say."""
    from deidc.lint import LintConfig

    path = tmp_path / "renames.yaml"
    path.write_text(textwrap.dedent(RENAMING))
    with pytest.raises(CompileError) as caught:
        compile_profile(str(path))
    assert {d.code for d in caught.value.diagnostics} == {"C011"}
    assert [d.line for d in caught.value.diagnostics] == [6]  # the second template only
    with pytest.raises(CompileError, match=r"template\(s\) at line 6 rename outputs"):
        compile_profile(str(path), config=LintConfig(ignore=("C011",)))


@pytest.mark.parametrize("regex, output, groups, renames", [
    ("^(?P<file_name>.*)$", "{file_name}", [], False),
    ("(?P<n>.+)", "{n}", [{"name": "n"}], False),        # a group rule that only names keeps
    ("^(?P<n>.*)$", "{n}", [{"name": "n", "replace-with": "X"}], True),
    ("^(?P<n>.*)$", "{n}.dcm", [], True),
    ("^(?P<n>.*)\\.dcm$", "{n}", [], True),               # drops the extension
    (".*", "{SOPInstanceUID}.dcm", [], True),
    ("^(?P<a>.*)$", "{b}", [], True),
])
def test_only_the_template_that_keeps_the_whole_name_is_not_a_rename(regex, output, groups,
                                                                     renames):
    from deidc.profile.meaning import renames_files

    assert renames_files({"input-regex": regex, "output": output, "groups": groups}) is renames


def test_the_keep_the_name_template_compiles_and_apply_keeps_the_name(tmp_path):
    """The Penn BSC profiles' template: compiled with no note, and deidc apply's outputs carry
    their inputs' names, which is what Flywheel does with it."""
    import shutil

    import pydicom
    from pydicom.data import get_testdata_file

    from deidc.api import apply

    profile = tmp_path / "keep-name.yaml"
    profile.write_text(textwrap.dedent("""
        dicom:
          filenames:
            - output: '{file_name}'
              input-regex: '^(?P<file_name>.*)$'
          fields:
            - name: PatientName
              remove: true
    """))
    plan = compile_profile(str(profile))
    assert not any("filenames" in note for note in plan.notes)
    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(get_testdata_file("CT_small.dcm", download=False), inputs / "site-2024-01-02.dcm")
    apply(plan, [str(inputs)], str(tmp_path / "out"))
    written = tmp_path / "out" / "site-2024-01-02.dcm"
    assert "PatientName" not in pydicom.dcmread(written)
