"""deidc diff: what a change to a profile changes in effect.

The proofs are made on real profiles: their own published versions (Penn BSC v1.0 → v4.0), and
mutations of each real profile made here with a YAML library (one rule deleted, an action
swapped, an option flipped; the rules reordered, keywords rewritten as tags, comments and names
dropped).  What the diff should find is decided from the YAML data and pydicom's dictionary,
not from deidc.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
import yaml
from pydicom.datadict import tag_for_keyword
from typer.testing import CliRunner

from deidc import api
from deidc.cli import app
from tests.conftest import REAL_PROFILES

PENN = ["ftdc-picsl__de-id_upenn_Penn_BSC_profile_v1.0_20190906A.yaml",
        "ftdc-picsl__de-id_upenn_Penn_BSC_profile_v2.0_20201106A.yaml",
        "ftdc-picsl__de-id_upenn_Penn_BSC_profile_v3.0_20201111A.yaml",
        "bsc-flywheel-deid__de-id_upenn_Penn_BSC_profile_v4.0_20250829.yaml"]


def compilable_real_profiles() -> list:
    if not REAL_PROFILES.exists():
        return []
    found = []
    for path in sorted(REAL_PROFILES.glob("*.yaml")):
        try:
            api.compile_profile(str(path))
        except api.DeidcError:
            continue
        found.append(path)
    return found


REAL = compilable_real_profiles()
needs_real = pytest.mark.skipif(not REAL, reason="real profiles not available")


def dicom_of(data: dict) -> dict:
    return data["dicom"] if "dicom" in data else data["deid-profiles"][0]["dicom"]


def names_in(data: dict) -> dict[str, dict]:
    """Each plain keyword a profile's rules name → its rule (pydicom decides what is one)."""
    return {rule["name"]: rule for rule in dicom_of(data)["fields"]
            if isinstance(rule.get("name"), str) and tag_for_keyword(rule["name"]) is not None}


def write(tmp_path, name: str, data: dict) -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


def diff_data(tmp_path, old: dict, new: dict):
    return api.diff(write(tmp_path, "old.yaml", old), write(tmp_path, "new.yaml", new))


def by_name(result) -> dict:
    return {change.name: change for change in result.changes}


# --- the Penn BSC versions ---------------------------------------------------------------------

@pytest.mark.parametrize("old_name,new_name", list(zip(PENN, PENN[1:])),
                         ids=["v1-v2", "v2-v3", "v3-v4"])
def test_penn_versions_report_every_attribute_no_longer_named(old_name, new_name):
    """Penn BSC keeps what no rule names (remove-undefined is off): an attribute a version
    stops naming reaches the release, and an attribute it starts naming is withheld."""
    if not (REAL_PROFILES / old_name).exists() or not (REAL_PROFILES / new_name).exists():
        pytest.skip("Penn BSC versions not available")
    old_data = yaml.safe_load((REAL_PROFILES / old_name).read_text())
    new_data = yaml.safe_load((REAL_PROFILES / new_name).read_text())
    dropped = set(names_in(old_data)) - set(names_in(new_data))
    added = set(names_in(new_data)) - set(names_in(old_data))
    rewritten = {name for name in set(names_in(old_data)) & set(names_in(new_data))
                 if names_in(old_data)[name] != names_in(new_data)[name]}
    result = api.diff(str(REAL_PROFILES / old_name), str(REAL_PROFILES / new_name))
    found = by_name(result)
    assert dropped and {c.name for c in result.changes if c.kind == "weaker"} >= dropped
    for name in dropped:
        assert found[name].new_line is None and found[name].old_line is not None
    for name in added - {"PatientAge"}:  # the age: see the v1 → v2 test
        assert found[name].kind == "stronger", name
    attributes = {c.name for c in result.changes if c.subject == "attribute"}
    assert attributes <= dropped | added | rewritten | {"PatientAge"}
    assert "DeidentificationMethod" in rewritten and \
        found["DeidentificationMethod"].kind == "changed"


def test_penn_v2_computes_the_age_v1_blanked():
    old, new = REAL_PROFILES / PENN[0], REAL_PROFILES / PENN[1]
    if not (old.exists() and new.exists()):
        pytest.skip("Penn BSC versions not available")
    found = by_name(api.diff(str(old), str(new)))
    assert found["PatientAge"].kind == "weaker"
    assert "PatientBirthDate" in found["PatientAge"].new
    policy = found["patient-age-from-birthdate"]
    assert policy.subject == "policy" and policy.new_line is not None
    assert "patient-age-from-birthdate" in new.read_text().splitlines()[policy.new_line - 1]


# --- mutations of every real profile -----------------------------------------------------------

def plainly_named(data: dict) -> list[dict]:
    """Rules that alone name their attribute by keyword and change its value."""
    rules = dicom_of(data)["fields"]
    counts: dict[str, int] = {}
    for rule in rules:
        counts[str(rule.get("name"))] = counts.get(str(rule.get("name")), 0) + 1
    return [rule for rule in rules if isinstance(rule.get("name"), str)
            and tag_for_keyword(rule["name"]) is not None and counts[rule["name"]] == 1
            and ("replace-with" in rule or "remove" in rule or "hashuid" in rule)]


@needs_real
@pytest.mark.parametrize("path", REAL, ids=lambda p: p.stem[:40])
def test_every_weakening_of_a_real_profile_is_found(path, tmp_path):
    data = yaml.safe_load(path.read_text())
    rules = plainly_named(data)
    if not rules:
        pytest.skip("no rule names one attribute alone")
    removes_undefined = dicom_of(data).get("remove-undefined", False)
    for rule in (rules[0], rules[len(rules) // 2], rules[-1]):
        keyword = rule["name"]
        deleted = yaml.safe_load(path.read_text())
        dicom_of(deleted)["fields"] = [r for r in dicom_of(deleted)["fields"]
                                       if r.get("name") != keyword]
        found = by_name(diff_data(tmp_path, data, deleted))
        if removes_undefined:  # gone either way: removed by default now
            assert keyword not in found or found[keyword].kind == "changed"
        else:
            assert found[keyword].kind == "weaker", keyword
            assert found[keyword].tag == f"{tag_for_keyword(keyword):08X}"

        kept = yaml.safe_load(path.read_text())
        for r in dicom_of(kept)["fields"]:
            if r.get("name") == keyword:
                r.clear()
                r.update({"name": keyword, "keep": True})
        result = diff_data(tmp_path, data, kept)
        assert [(c.name, c.kind) for c in result.changes] == [(keyword, "weaker")]
        assert result.changes[0].new_line is not None

    flipped = yaml.safe_load(path.read_text())
    dicom_of(flipped)["remove-private-tags"] = not dicom_of(data).get("remove-private-tags",
                                                                      False)
    change = by_name(diff_data(tmp_path, data, flipped))["remove-private-tags"]
    assert change.kind == ("weaker" if dicom_of(data).get("remove-private-tags") else "stronger")


@needs_real
@pytest.mark.parametrize("path", REAL, ids=lambda p: p.stem[:40])
def test_rewrites_of_a_real_profile_change_nothing(path, tmp_path):
    """Rules reversed, every keyword written as its tag, comments, name and description gone:
    no change in effect."""
    rewritten = yaml.safe_load(path.read_text())
    dicom = dicom_of(rewritten)
    dicom["fields"] = list(reversed(dicom["fields"]))
    for rule in dicom["fields"]:
        name = rule.get("name")
        if isinstance(name, str) and tag_for_keyword(name) is not None:
            rule["name"] = f"{tag_for_keyword(name):08X}"
    for key in ("name", "description"):
        rewritten.pop(key, None)
    result = api.diff(str(path), write(tmp_path, "rewritten.yaml", rewritten))
    assert result.changes == (), [(c.name, c.old, c.new) for c in result.changes]


def test_reordering_rules_on_one_attribute_is_a_change(tmp_path):
    """Order matters where two rules act on one attribute: the later replacement wins."""
    rules = [{"name": "PatientName", "replace-with": "A"},
             {"name": "PatientName", "replace-with": "B"}]
    result = diff_data(tmp_path, {"dicom": {"fields": rules}},
                       {"dicom": {"fields": list(reversed(rules))}})
    (change,) = result.changes
    assert (change.name, change.old, change.new) == ("PatientName", 'replace with "B"',
                                                      'replace with "A"')


# --- options, policy, private blocks, regexes --------------------------------------------------

UID_RULES = [{"name": "StudyInstanceUID", "hashuid": True},
             {"name": "SeriesInstanceUID", "hashuid": True},
             {"name": "PatientID", "hash": True},
             {"name": "PatientName", "remove": True}]
DATED_RULES = [*UID_RULES, {"name": "StudyDate", "increment-date": True}]


def test_a_new_salt_is_one_option_change_that_breaks_linkage(tmp_path):
    old = {"dicom": {"salt": "first", "date-increment": -10, "fields": DATED_RULES}}
    new = {"dicom": {"salt": "second", "date-increment": -10, "fields": DATED_RULES}}
    (change,) = diff_data(tmp_path, old, new).changes
    assert (change.subject, change.name, change.kind) == ("option", "salt", "changed")
    assert set(change.affects) == {"StudyInstanceUID", "SeriesInstanceUID", "PatientID"}
    assert "no longer links" in change.released
    assert "first" not in json.dumps(change.as_json())  # the salt is a secret


def test_date_increment_changes_and_removal(tmp_path):
    old = {"dicom": {"date-increment": -10, "fields": DATED_RULES}}
    shifted = diff_data(tmp_path, old, {"dicom": {"date-increment": -20,
                                                   "fields": DATED_RULES}})
    (change,) = shifted.changes
    assert (change.name, change.kind, change.affects) == ("date-increment", "changed",
                                                          ("StudyDate",))
    assert "line up" in change.released and "10" not in change.old + change.new
    unshifted = diff_data(tmp_path, old, {"dicom": {"date-increment": 0,
                                                     "fields": DATED_RULES}})
    assert by_name(unshifted)["date-increment"].kind == "weaker"


def test_an_option_no_action_reads_is_no_change(tmp_path):
    rules = [{"name": "PatientName", "remove": True}]
    result = diff_data(tmp_path, {"dicom": {"salt": "a", "fields": rules}},
                       {"dicom": {"salt": "b", "uid-prefix-fields": 6, "fields": rules}})
    assert result.changes == ()


def test_hashuid_to_keep_and_more_uid_prefix_are_weaker(tmp_path):
    old = {"dicom": {"fields": UID_RULES}}
    kept = [dict(r) for r in UID_RULES]
    kept[0] = {"name": "StudyInstanceUID", "keep": True}
    found = by_name(diff_data(tmp_path, old, {"dicom": {"fields": kept}}))
    assert found["StudyInstanceUID"].kind == "weaker"
    assert "earlier uploads" in found["StudyInstanceUID"].released
    (change,) = diff_data(tmp_path, old, {"dicom": {"uid-prefix-fields": 6,
                                                     "fields": UID_RULES}}).changes
    assert (change.name, change.kind) == ("uid-prefix-fields", "weaker")


def test_remove_undefined_off_and_its_keep_set(tmp_path):
    rules = [{"name": "PatientID", "replace-with": "X"}, {"name": "Modality", "keep": True}]
    on = {"dicom": {"remove-undefined": True, "fields": rules}}
    found = by_name(diff_data(tmp_path, on, {"dicom": {"fields": rules}}))
    assert found["remove-undefined"].kind == "weaker"
    fewer = {"dicom": {"remove-undefined": True, "fields": rules[:1]}}
    (change,) = diff_data(tmp_path, on, fewer).changes  # Modality now removed by default
    assert (change.name, change.kind) == ("Modality", "stronger")
    removed = {"dicom": {"remove-undefined": True,
                         "fields": [*rules, {"name": "PatientName", "remove": True}]}}
    assert diff_data(tmp_path, on, removed).changes == ()  # removed by default already


def test_a_private_block_now_kept_is_weaker(tmp_path):
    old = {"dicom": {"remove-private-tags": True,
                     "fields": [{"name": "PatientName", "remove": True}]}}
    new = {"dicom": {"remove-private-tags": True,
                     "fields": [{"name": "PatientName", "remove": True},
                                {"name": '(0009, "GEMS_IDEN_01", 04)', "keep": True}]}}
    (change,) = diff_data(tmp_path, old, new).changes
    assert (change.tag, change.kind) == ('(0009,"GEMS_IDEN_01",04)', "weaker")
    assert change.old.startswith("removed") and "survives" in change.new


def test_a_deleted_regex_rule_and_nested_paths(tmp_path):
    old = {"dicom": {"fields": [
        {"regex": ".*PhysicianName.*", "remove": True},
        {"name": "ReferencedStudySequence.*.ReferencedSOPInstanceUID", "hashuid": True}]}}
    new = {"dicom": {"fields": []}}
    result = diff_data(tmp_path, old, new)
    found = by_name(result)
    assert found["regex .*PhysicianName.*"].kind == "weaker"
    assert found["ReferringPhysicianName"].kind == "weaker"
    nested = found["ReferencedStudySequence[*].ReferencedSOPInstanceUID"]
    assert nested.tag == "00081110.*.00081155" and nested.kind == "weaker"
    assert all(c.kind == "weaker" for c in result.changes)


# --- the command line --------------------------------------------------------------------------

def invoke(*args):
    return CliRunner().invoke(app, ["diff", *map(str, args)])


def test_cli_exit_codes_and_formats(tmp_path):
    base = {"dicom": {"fields": UID_RULES}}
    weaker = {"dicom": {"fields": UID_RULES[1:]}}
    old, new = write(tmp_path, "old.yaml", base), write(tmp_path, "new.yaml", weaker)
    same = write(tmp_path, "same.yaml", {"name": "renamed", "dicom": {"fields": UID_RULES}})
    assert invoke(old, new).exit_code == 0
    assert invoke(old, new, "--fail-on", "weaker").exit_code == 1
    assert invoke(old, same, "--fail-on", "any").exit_code == 0
    assert "no change in effect" in invoke(old, same).output
    result = invoke(old, new, "--format", "json")
    (change,) = json.loads(result.output)["changes"]
    assert {"tag", "keyword", "old", "new", "kind", "old_line", "new_line"} <= set(change)
    assert (change["keyword"], change["kind"], change["new_line"]) == ("StudyInstanceUID",
                                                                     "weaker", None)
    markdown = invoke(old, new, "--format", "markdown").output
    assert "| **weaker** | StudyInstanceUID |" in markdown
    assert invoke(old, new, "--format", "sarif").exit_code == 2
    assert invoke(old, new, "--fail-on", "all").exit_code == 2
    missing = invoke(old, tmp_path / "nope.yaml")
    assert missing.exit_code == 2 and "nope.yaml" in missing.output
    broken = tmp_path / "broken.yaml"
    broken.write_text("dicom:\n  fields:\n    - name: NoSuchKeyword\n      remove: true\n")
    assert invoke(old, broken).exit_code == 2


def test_github_annotations_point_at_the_new_profiles_lines(tmp_path):
    old = write(tmp_path, "old.yaml", {"dicom": {"fields": UID_RULES}})
    changed = [dict(r) for r in UID_RULES]
    changed[3] = {"name": "PatientName", "keep": True}
    new = write(tmp_path, "new.yaml", {"dicom": {"fields": changed}})
    (line,) = invoke(old, new, "--format", "github").output.splitlines()
    assert line.startswith(f"::warning file={new},line=")
    number = int(line.split("line=")[1].split(",")[0])
    assert "PatientName" in (tmp_path / "new.yaml").read_text().splitlines()[number - 1]


def test_a_plan_file_diffs_like_its_profile(tmp_path):
    old = write(tmp_path, "old.yaml", {"dicom": {"fields": UID_RULES}})
    plan = tmp_path / "old.plan.json"
    plan.write_text(api.compile_profile(old).to_json())
    new = write(tmp_path, "new.yaml", {"dicom": {"fields": UID_RULES[1:]}})
    assert [c.as_json() for c in api.diff(str(plan), new).changes] == \
        [c.as_json() for c in api.diff(old, new).changes]


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_rev_path_reads_the_profile_at_a_git_revision(tmp_path, monkeypatch):
    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    write(tmp_path, "site.yaml", {"dicom": {"fields": UID_RULES}})
    git("add", "site.yaml")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "profile")
    write(tmp_path, "site.yaml", {"dicom": {"fields": UID_RULES[:-1]}})
    monkeypatch.chdir(tmp_path)
    result = invoke("HEAD:site.yaml", "site.yaml", "--fail-on", "weaker")
    assert result.exit_code == 1 and "PatientName" in result.output
    bad = invoke("no-such-branch:site.yaml", "site.yaml")
    assert bad.exit_code == 2 and "no-such-branch:site.yaml" in bad.output
    assert "git show" in bad.output


def test_jitter_narrowed_or_dropped_is_weaker_and_links_nothing(tmp_path):
    """Jitter draws anew for every value: a change to it is weaker or stronger, but nothing
    released links through it.  A hash inside a regex-sub group follows the salt too."""
    regex_sub = {"name": "PatientID", "regex-sub": [{
        "input-regex": "(?P<site>[A-Z]+)-(?P<n>\\d+)", "output": "{site}-{n}",
        "groups": [{"name": "n", "hash": True}]}]}
    old = {"dicom": {"date-increment": -5, "fields": [
        {"name": "PatientWeight", "jitter": True, "jitter-range": 10},
        {"name": "StudyDate", "increment-date": True, "jitter-date": True, "jitter-range": 5},
        regex_sub]}}
    new = {"dicom": {"date-increment": -5, "salt": "pepper", "fields": [
        {"name": "PatientWeight", "jitter": True, "jitter-range": 2},
        {"name": "StudyDate", "increment-date": True}, regex_sub]}}
    found = by_name(diff_data(tmp_path, old, new))
    assert set(found) == {"PatientWeight", "StudyDate", "salt"}
    for name in ("PatientWeight", "StudyDate"):
        assert (found[name].kind, found[name].released) == ("weaker", ""), name
    assert (found["salt"].kind, found["salt"].affects) == ("stronger", ("PatientID",))
