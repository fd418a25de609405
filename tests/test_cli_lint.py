"""The commands a user touches around the linter: `lint` (exit codes, selection, strictness,
[tool.deidc], output formats), `rules`, `rule`, `create`, the examples and the pre-commit hook,
and how fast a lint run is end to end."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from deidc.cli import app
from deidc.profile.starter import starter_profile
from deidc.lint import REGISTRY, Severity, lint_files
from deidc.lint.settings import Settings, resolve_config

from tests.conftest import SHARED

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
SEED_TEXT = SHARED / "seeds" / "create-a-deid-profile.txt"

CLEAN = "dicom:\n  fields:\n    - name: PatientName\n      remove: true\n"
WARNING_ONLY = "dicom:\n  fields:\n    - name: PatientWeight\n      replace-with: 070\n"
BROKEN = "dicom:\nremove-private-tags: true\n  fields: []\n"
DUPLICATE = ("dicom:\n  fields:\n    - name: PatientName\n      remove: true\n"
             "      name: PatientID\n")


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A working directory of its own (so no pyproject.toml above it is picked up) with a few
    profiles in it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NO_COLOR", raising=False)
    for name, text in {"clean.yaml": CLEAN, "warning.yaml": WARNING_ONLY,
                       "broken.yaml": BROKEN, "duplicate.yaml": DUPLICATE}.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'site'\n")
    return tmp_path


def deidc(*args: str):
    return CliRunner().invoke(app, list(args))


# --- exit codes ---

def test_clean_profile_exits_0(project):
    result = deidc("lint", "clean.yaml")
    assert result.exit_code == 0
    assert result.stdout.strip() == "No problems found in 1 file."


def test_errors_exit_1(project):
    result = deidc("lint", "broken.yaml", "clean.yaml")
    assert result.exit_code == 1
    assert "broken.yaml:3:9: error Y001" in result.stdout
    assert result.stdout.strip().endswith("1 error, 0 warnings, 0 infos in 2 files.")


@pytest.mark.parametrize("arguments, message", [
    (["lint", "missing.yaml"], "missing.yaml: no such file, folder or matching glob"),
    (["lint", "clean.yaml", "--format", "xml"], "unknown --format 'xml'"),
    (["lint", "clean.yaml", "--select", "Q9"], "no rule has the code or prefix 'Q9'"),
    (["lint", "clean.yaml", "--ignore", "Y0O1"], "Did you mean"),
    (["lint", "clean.yaml", "--sorting-tags", "PatientIdd"], "Did you mean PatientID"),
    (["lint", "nothing-here/"], "no such file"),
])
def test_usage_problems_exit_2(project, arguments, message):
    result = deidc(*arguments)
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stdout == ""


def test_folder_without_profiles_exits_2(project):
    (project / "empty").mkdir()
    result = deidc("lint", "empty")
    assert result.exit_code == 2
    assert "no .yaml, .yml or .json files in empty" in result.stderr


def test_broken_symlink_exits_2(project):
    os.symlink(project / "gone.yaml", project / "link.yaml")
    result = deidc("lint", "link.yaml")
    assert result.exit_code == 2


def unreadable_file(project: Path) -> str:
    """A path that exists but cannot be read: a mode-000 file, or for root (who reads those
    anyway) /proc/self/mem, whose first page is never mapped."""
    if os.geteuid() != 0:
        (project / "secret.yaml").write_text(CLEAN)
        (project / "secret.yaml").chmod(0)
        return "secret.yaml"
    if not Path("/proc/self/mem").exists():
        pytest.skip("no unreadable file available to root here")
    return "/proc/self/mem"


def test_unreadable_file_exits_2_and_the_rest_is_still_reported(project):
    path = unreadable_file(project)
    result = deidc("lint", path, "broken.yaml")
    assert result.exit_code == 2
    assert f"{path}: cannot read file" in result.stderr
    assert "Y001" in result.stdout and path not in result.stdout
    assert result.stdout.strip().endswith("in 1 file.")


def test_file_that_reads_but_does_not_parse_is_a_diagnostic_not_a_usage_error(project):
    (project / "binary.yaml").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    result = deidc("lint", "binary.yaml", "--format", "json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["diagnostics"][0]["code"] == "Y001"


def test_folders_and_globs_are_expanded(project):
    (project / "sub").mkdir()
    shutil.copy(project / "clean.yaml", project / "sub" / "a.yml")
    shutil.copy(project / "clean.yaml", project / "sub" / "b.json.txt")
    assert deidc("lint", "sub").stdout.strip() == "No problems found in 1 file."
    result = deidc("lint", "*.yaml", "--format", "json")
    assert json.loads(result.stdout)["summary"]["files"] == 4


# --- selection and strictness ---

def test_select_and_ignore_take_codes_and_prefixes(project):
    def found(*options):
        result = deidc("lint", "duplicate.yaml", "warning.yaml", "--format", "json", *options)
        return sorted({d["code"] for d in json.loads(result.stdout)["diagnostics"]})

    everything = found()
    assert {"Y002", "Y003"} <= set(everything)
    assert found("--select", "Y002") == ["Y002"]
    assert found("--select", "y002,Y003") == ["Y002", "Y003"]
    assert found("--select", "Y002", "--select", "Y003") == ["Y002", "Y003"]
    assert found("--select", "Y") == sorted(c for c in everything if c.startswith("Y"))
    assert "Y002" not in found("--ignore", "Y002")
    assert found("--select", "Y", "--ignore", "Y002") == sorted(
        c for c in everything if c.startswith("Y") and c != "Y002")


def test_strict_makes_warnings_fail(project):
    assert deidc("lint", "warning.yaml").exit_code == 0
    assert deidc("lint", "warning.yaml", "--strict").exit_code == 1


def test_sorting_tags_accept_keywords_and_tags_in_any_notation():
    written = ["patientid,(0020,000D)", "0020000E", "0x00081030", "SeriesDescription,PatientID"]
    assert resolve_config(Settings(), sorting_tags=written).sorting_tags == (
        "PatientID", "StudyInstanceUID", "SeriesInstanceUID", "StudyDescription",
        "SeriesDescription")


def test_sorting_tags_option_reaches_the_lint_config(project, monkeypatch):
    seen = {}

    def spy(paths, config, judge=None):
        seen["config"] = config
        return lint_files(paths, config, judge)

    monkeypatch.setattr("deidc.lint.lint_files", spy)
    assert deidc("lint", "clean.yaml", "--sorting-tags", "(0010,0020),StudyDate").exit_code == 0
    assert seen["config"].sorting_tags == ("PatientID", "StudyDate")


# --- [tool.deidc] ---

def write_settings(project: Path, body: str) -> None:
    (project / "pyproject.toml").write_text(f"[project]\nname = 'site'\n\n[tool.deidc]\n{body}")


def test_pyproject_settings_apply_and_the_command_line_overrides_them(project):
    write_settings(project, 'strict = true\nignore = ["Y002"]\n')
    assert deidc("lint", "warning.yaml").exit_code == 1  # strict from the file
    assert deidc("lint", "warning.yaml", "--no-strict").exit_code == 0
    assert deidc("lint", "duplicate.yaml", "--no-strict").exit_code == 0  # Y002 ignored
    result = deidc("lint", "duplicate.yaml", "--ignore", "Y003", "--format", "json")
    assert "Y002" in {d["code"] for d in json.loads(result.stdout)["diagnostics"]}


def test_pyproject_select_and_a_comma_separated_string(project):
    write_settings(project, 'select = "Y003"\n')
    result = deidc("lint", "duplicate.yaml", "warning.yaml", "--format", "json")
    assert {d["code"] for d in json.loads(result.stdout)["diagnostics"]} == {"Y003"}


def test_nearest_pyproject_is_found_from_a_subfolder(project, monkeypatch):
    write_settings(project, "strict = true\n")
    (project / "deep" / "er").mkdir(parents=True)
    monkeypatch.chdir(project / "deep" / "er")
    assert deidc("lint", str(project / "warning.yaml")).exit_code == 1


@pytest.mark.parametrize("body, message", [
    ('stirct = true\n', "unknown key `stirct` (did you mean `strict`?)"),
    ('strict = "yes"\n', "strict must be true or false"),
    ('select = ["Z9"]\n', "select (from "),
    ('select = [1]\n', "select must be a list of strings"),
    ('sorting-tags = ["NotAKeyword"]\n', "'NotAKeyword' is not a DICOM keyword or tag"),
    ('select = [\n', "not valid TOML"),
])
def test_unusable_settings_exit_2_naming_the_file(project, body, message):
    write_settings(project, body)
    result = deidc("lint", "clean.yaml")
    assert result.exit_code == 2
    assert message in result.stderr
    assert "pyproject.toml" in result.stderr


# --- output ---

@pytest.mark.parametrize("output_format", ["json", "sarif"])
def test_machine_formats_are_pure_json_on_stdout(project, output_format):
    result = deidc("lint", "broken.yaml", "duplicate.yaml", "--format", output_format)
    assert result.exit_code == 1
    json.loads(result.stdout)
    assert result.stderr == ""


def test_github_format(project):
    result = deidc("lint", "broken.yaml", "--format", "github")
    assert result.stdout.startswith("::error file=broken.yaml,line=3,col=9,")
    assert result.exit_code == 1


def test_output_file(project):
    result = deidc("lint", "broken.yaml", "--format", "sarif", "--output", "out/report.sarif")
    assert result.exit_code == 2  # the folder does not exist
    assert "cannot write out/report.sarif" in result.stderr
    result = deidc("lint", "broken.yaml", "--format", "sarif", "-o", "report.sarif")
    assert result.exit_code == 1 and result.stdout == ""
    log = json.loads((project / "report.sarif").read_text())
    assert log["runs"][0]["results"][0]["ruleId"] == "Y001"


def test_help_documents_the_exit_codes():
    text = deidc("lint", "--help").stdout
    assert "Exit codes" in text and "Y001" in text and "pyproject.toml" in text


# --- rules, rule ---

def test_rules_lists_every_rule():
    result = deidc("rules")
    assert result.exit_code == 0
    for code in REGISTRY:
        assert code in result.stdout
    listed = json.loads(deidc("rules", "--format", "json").stdout)
    assert [entry["code"] for entry in listed] == sorted(REGISTRY)
    y001 = next(entry for entry in listed if entry["code"] == "Y001")
    assert y001 == {"code": "Y001", "name": "syntax-error", "severity": "error",
                    "family": "structure", "summary": REGISTRY["Y001"].summary}
    assert deidc("rules", "--format", "yaml").exit_code == 2


@pytest.mark.parametrize("query", ["Y002", "y002", "duplicate-key"])
def test_rule_explains_one_rule(query):
    result = deidc("rule", query)
    assert result.exit_code == 0
    text = result.stdout
    assert text.startswith("Y002 duplicate-key  (error, structure)")
    for heading in ("What it checks", "Why it matters", "Fails", "Passes"):
        assert heading in text
    words = " ".join(text.split())
    assert "YAML loaders keep the last value silently, so the first one is simply ignored" in words
    assert "duplicate key `name`" in words  # what deidc reports on the failing example
    assert text.index("Fails") < text.index("name: PatientID") < text.index("Passes")


def test_unknown_rule_exits_2_with_suggestions():
    result = deidc("rule", "Y02")
    assert result.exit_code == 2
    assert "Did you mean" in result.stderr and "Y002" in result.stderr
    result = deidc("rule", "duplicate-keys")
    assert result.exit_code == 2 and "Y002" in result.stderr


# --- create ---

def test_create_writes_a_profile_that_lints_clean(project):
    result = deidc("create", "profiles/deid.yaml")
    assert result.exit_code == 0
    path = project / "profiles" / "deid.yaml"
    report = lint_files([str(path)])
    assert [d for d in report.diagnostics if d.severity is not Severity.INFO] == [], \
        [f"{d.code} {d.line}: {d.message}" for d in report.diagnostics]
    assert deidc("lint", "--strict", str(path)).exit_code == 0


def test_create_keeps_sorting_tags_usable_and_uses_a_fresh_salt():
    profile = yaml.safe_load(starter_profile())
    dicom = profile["dicom"]
    actions = {rule["name"]: {k: v for k, v in rule.items() if k != "name"}
               for rule in dicom["fields"]}
    assert actions["PatientID"] == {"hash": True}
    assert actions["StudyInstanceUID"] == actions["SeriesInstanceUID"] == {"hashuid": True}
    assert "StudyDescription" not in actions and "SeriesDescription" not in actions
    assert actions["SOPInstanceUID"] == actions["MediaStorageSOPInstanceUID"] == {
        "hashuid": True}
    assert dicom["remove-private-tags"] is True and dicom["date-increment"]
    assert actions["PatientName"] == {"replace-with": ""}
    assert isinstance(dicom["salt"], str) and len(dicom["salt"]) == 32
    assert yaml.safe_load(starter_profile())["dicom"]["salt"] != dicom["salt"]
    assert "# " in starter_profile()  # commented


def test_create_refuses_to_overwrite_unless_forced(project):
    (project / "mine.yaml").write_text("name: mine\n")
    result = deidc("create", "mine.yaml")
    assert result.exit_code == 2
    assert "exists; use --force" in result.stderr
    assert (project / "mine.yaml").read_text() == "name: mine\n"
    assert deidc("create", "mine.yaml", "--force").exit_code == 0
    assert "deidc-starter" in (project / "mine.yaml").read_text()


def test_create_refuses_a_folder(project):
    (project / "folder").mkdir()
    assert deidc("create", "folder", "--force").exit_code == 2


# --- examples ---

@pytest.mark.parametrize("name", ["blocklist.yaml", "keeplist.yaml"])
def test_examples_lint_clean(name):
    report = lint_files([str(EXAMPLES / name)])
    assert [d for d in report.diagnostics if d.severity is not Severity.INFO] == [], \
        [f"{d.code} {d.line}: {d.message}" for d in report.diagnostics]


@pytest.mark.parametrize("name", ["blocklist.yaml", "keeplist.yaml"])
def test_examples_keep_sorting_tags(name):
    fields = yaml.safe_load((EXAMPLES / name).read_text())["dicom"]["fields"]
    by_name = {rule["name"]: rule for rule in fields}
    for tag in ("PatientID", "StudyInstanceUID", "SeriesInstanceUID"):
        assert not by_name[tag].get("remove") and by_name[tag].get("replace-with") != ""
    for tag in ("StudyDescription", "SeriesDescription"):
        assert tag not in by_name or by_name[tag] == {"name": tag, "keep": True}


@pytest.mark.parametrize("name, line", [("seed-keeplist.yaml", 6), ("seed-blocklist.yaml", 7)])
def test_seed_examples_as_published_give_y001_with_the_indentation_hint(name, line):
    report = lint_files([str(EXAMPLES / "seed" / name)])
    assert [d.code for d in report.diagnostics] == ["Y001"]
    diagnostic = report.diagnostics[0]
    assert (diagnostic.line, diagnostic.column) == (line, 9)
    assert "line 5 is not indented under `dicom:` (line 4)" in diagnostic.hint


@pytest.mark.skipif(not SEED_TEXT.is_file(), reason="the seed text is not beside the repo")
def test_seed_examples_are_exactly_as_published():
    published = SEED_TEXT.read_text(encoding="utf-8")
    for name in ("seed-keeplist.yaml", "seed-blocklist.yaml"):
        text = (EXAMPLES / "seed" / name).read_text(encoding="utf-8")
        assert text.startswith("name: My Profile\n")
        assert text.rstrip("\n") in published


def test_fixed_seed_examples_parse_and_keep_the_authors_rules():
    for name in ("seed-keeplist", "seed-blocklist"):
        fixed = lint_files([str(EXAMPLES / "seed" / f"{name}-fixed.yaml")])
        assert "Y001" not in {d.code for d in fixed.diagnostics}
        data = yaml.safe_load((EXAMPLES / "seed" / f"{name}-fixed.yaml").read_text())
        published = (EXAMPLES / "seed" / f"{name}.yaml").read_text()
        names = [rule["name"] for rule in data["dicom"]["fields"] if "name" in rule]
        assert len(data["dicom"]["fields"]) == published.count("- name:") + published.count(
            "- regex:")
        assert "PatientBirthDate" in names or "PatientBirthdate" not in published
    blocklist = yaml.safe_load((EXAMPLES / "seed" / "seed-blocklist-fixed.yaml").read_text())
    assert {"name": '(0009, "GEMS_IDEN_01", 04)', "keep": True} in blocklist["dicom"]["fields"]
    assert blocklist["dicom"]["remove-private-tags"] is True
    keeplist = yaml.safe_load((EXAMPLES / "seed" / "seed-keeplist-fixed.yaml").read_text())
    assert keeplist["dicom"]["fields"][0] == {"name": "PatientID", "replace-with": "001"}


# --- pre-commit ---

def test_pre_commit_hook():
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    hook = next(h for h in hooks if h["id"] == "deidc-lint")
    assert hook["entry"] == "deidc lint" and hook["language"] == "python"
    pattern = re.compile(hook["files"])
    for path in ("deid_profile.yaml", "profiles/site.yml", "ct-De-Id.json", "x/deid/a.yaml"):
        assert pattern.search(path), path
    for path in ("config.yaml", ".github/workflows/ci.yml", "deid.py"):
        assert not pattern.search(path), path


# --- many profiles in one call (its speed is measured by benchmarks/bench_lint.py) ---

def test_thirty_profiles_in_one_call_are_each_linted(tmp_path):
    sources = [EXAMPLES / "blocklist.yaml", EXAMPLES / "keeplist.yaml",
               EXAMPLES / "seed" / "seed-blocklist-fixed.yaml"]
    for index in range(30):
        shutil.copy(sources[index % len(sources)], tmp_path / f"profile{index:02}.yaml")
    result = subprocess.run([sys.executable, "-m", "deidc", "lint", str(tmp_path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode in (0, 1) and "Traceback" not in result.stderr
    assert "in 30 files." in result.stdout


def test_compiled_plans_beside_profiles_are_not_linted_as_profiles(tmp_path):
    """`deidc lint examples/` used to report every key of examples/plans/*.json as S001."""
    folder = tmp_path / "profiles"
    folder.mkdir()
    profile = folder / "p.yaml"
    profile.write_text("dicom:\n  fields:\n    - name: PatientName\n      remove: true\n")
    plan = folder / "p.plan.json"
    assert CliRunner().invoke(app, ["compile", str(profile), "-o", str(plan)]).exit_code == 0
    result = CliRunner().invoke(app, ["lint", str(folder), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert "S001" not in result.output and "p.plan.json" not in result.output
    explicit = CliRunner().invoke(app, ["lint", str(plan)])
    assert explicit.exit_code == 2
    assert "a compiled deidc plan, not a profile" in explicit.output
