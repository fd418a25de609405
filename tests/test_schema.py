"""The de-id profile JSON Schema and the S lint family built on it."""

from __future__ import annotations

import json
import textwrap
import time

import pytest
from jsonschema import Draft202012Validator
from typer.testing import CliRunner

from deidc.cli import app
from deidc.lint import LintConfig, lint_source
from deidc.lint.checks.schema import SCHEMA_PATH, profile_schema
from deidc.profile.model import ACTION_ORDER, DICOM_DEFAULTS, FIELD_OPTIONS, FILE_TYPE_SECTIONS
from deidc.profile.source import load_source

from tests.conftest import REAL_PROFILES, flywheel_loads, flywheel_python

SCHEMA_ID = "https://raw.githubusercontent.com/deidc/deidc/main/schema/deid-profile.schema.json"


def schema_findings(lint_text, text, **config):
    """The S findings for ``text``, whose first line is line 1."""
    text = textwrap.dedent(text).lstrip("\n")
    return [d for d in lint_text(text, **config) if d.code.startswith("S")]


def resolve(node: dict) -> dict:
    schema = profile_schema()
    while "$ref" in node and "description" not in node:
        node = schema["$defs"][node["$ref"].rsplit("/", 1)[1]]
    return node


# --- the schema itself -----------------------------------------------------------------------

def test_schema_is_valid_2020_12_with_stable_id():
    schema = profile_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == SCHEMA_ID
    assert schema["title"]


def test_schema_ships_inside_the_package():
    assert SCHEMA_PATH.parent.name == "schemas" and SCHEMA_PATH.parent.parent.name == "deidc"
    assert SCHEMA_PATH.is_file()


def test_every_known_key_is_described():
    schema = profile_schema()
    defs = schema["$defs"]
    dicom = defs["dicomSection"]["properties"]
    rule = defs["fieldRule"]["properties"]
    missing = [key for key in DICOM_DEFAULTS if not resolve(dicom.get(key, {})).get("description")]
    missing += [key for key in (*ACTION_ORDER, *FIELD_OPTIONS, "name", "regex")
                if not resolve(rule.get(key, {})).get("description")]
    missing += [key for key in FILE_TYPE_SECTIONS
                if not resolve(schema["properties"].get(key, {})).get("description")]
    missing += [key for key in ("name", "description", "deid-log", "map-subjects", "secret-key",
                                "only-config-profiles")
                if not schema["properties"].get(key, {}).get("description")]
    missing += [key for key in ("fields", "filenames", "file-filter", "alter_pixels", "retain",
                                "public-key", "private-key", "asymmetric-encryption")
                if not resolve(dicom.get(key, {})).get("description")]
    assert missing == []


def test_every_fixed_key_set_is_closed():
    """Flywheel ignores unknown keys; every mapping with a fixed key set must catch them."""
    schema = profile_schema()
    closed = [schema] + [d for d in schema["$defs"].values() if d.get("type") == "object"]
    assert all(node.get("additionalProperties") is False for node in closed)


def test_defaults_match_the_profile_model():
    dicom = profile_schema()["$defs"]["dicomSection"]["properties"]
    for key, default in DICOM_DEFAULTS.items():
        if default is not None:
            assert dicom[key]["default"] == default, key


def test_schema_command_prints_the_schema():
    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0
    assert json.loads(result.output)["$id"] == SCHEMA_ID


# --- diagnostics on concrete inputs ----------------------------------------------------------

def test_misspelt_option_is_unknown_key_with_suggestion(lint_text):
    found = schema_findings(lint_text, """
        dicom:
          remove_private_tags: true
          fields:
            - name: PatientName
              remove: true
        """)
    assert [(d.code, d.line, d.column) for d in found] == [("S001", 2, 3)]
    assert "`remove_private_tags`" in found[0].message
    assert "stays at its default (false)" in found[0].message
    assert found[0].hint == "did you mean `remove-private-tags`?"


def test_misspelt_only_action_says_flywheel_refuses_the_profile(lint_text):
    found = schema_findings(lint_text, """
        dicom:
          fields:
            - name: PatientName
              remvoe: true
        """)
    assert [(d.code, d.line, d.column) for d in found] == [("S001", 4, 7)]
    assert "Unknown de-identify action" in found[0].message
    assert found[0].hint == "did you mean `remove`?"


def test_misspelt_extra_key_beside_an_action_is_only_ignored(lint_text):
    found = schema_findings(lint_text, """
        dicom:
          fields:
            - name: PatientID
              remove: true
              replace_with: X
        """)
    assert [d.code for d in found] == ["S001"]
    assert "silently ignores" in found[0].message and "refuses" not in found[0].message
    assert found[0].hint == "did you mean `replace-with`?"


def test_misspelt_section_is_caught(lint_text):
    found = schema_findings(lint_text, """
        dicomm:
          fields:
            - name: PatientName
              remove: true
        """)
    assert [(d.code, d.line, d.column, d.hint) for d in found] == [
        ("S001", 1, 1, "did you mean `dicom`?")]


def test_wrong_types_are_placed_on_the_value(lint_text):
    found = schema_findings(lint_text, """
        dicom:
          remove-private-tags: 'false'
          salt: 1234
          fields: {PatientName: remove}
        """)
    assert [(d.code, d.line) for d in found] == [("S002", 2), ("S002", 3), ("S002", 4)]
    assert "even `'false'` switches it on" in found[0].message
    assert found[1].hint == "quote it: salt: '1234'"
    assert "must be a list, not a mapping" in found[2].message
    assert found[0].column == 24


JITTER_MIN_TEXT = """
    dicom:
      fields:
        - name: PatientWeight
          jitter: true
          jitter-min: abc
    """
JITTER_MAX_IN_A_GROUP = """
    dicom:
      filenames:
        - output: '{a}.dcm'
          input-regex: '(?P<a>.*)'
          groups:
            - name: a
              jitter: true
              jitter-max: '5'
      fields:
        - name: PatientName
          remove: true
    """
JITTER_MIN_ON_A_KEEP = """
    dicom:
      fields:
        - name: PatientWeight
          keep: true
          jitter: true
          jitter-min: abc
    """


@pytest.mark.parametrize("text, line, hint", [
    (JITTER_MIN_TEXT, 5, "write a number, e.g. jitter-min: 0"),
    (JITTER_MAX_IN_A_GROUP, 8, "write it unquoted: jitter-max: 5")])
def test_a_jitter_bound_that_is_not_a_number_stops_flywheel_loading(lint_text, text, line,
                                                                    hint):
    (found,) = schema_findings(lint_text, text)
    assert (found.code, found.severity, found.line, found.hint) == ("S002", "error", line, hint)
    assert "Flywheel refuses to load the profile" in found.message
    assert "when files are processed" not in found.message


def test_a_jitter_bound_on_a_rule_that_does_not_jitter_is_ignored(lint_text):
    (found,) = schema_findings(lint_text, JITTER_MIN_ON_A_KEEP)
    assert (found.code, found.severity, found.line) == ("S002", "warning", 6)
    assert "Flywheel ignores it on a rule that does not jitter" in found.message


def section_option(option: str, section: str = "dicom") -> str:
    return f"{section}:\n  {option}\n  fields:\n    - name: PatientName\n      remove: true\n"


def rule_option(option: str, action: str) -> str:
    return ("dicom:\n  date-increment: 3\n  fields:\n    - name: AcquisitionDateTime\n"
            f"      {action}: true\n      {option}\n")


@pytest.mark.parametrize("text, words, hint", [
    (section_option("date-format: 20200101"),
     "(TypeError: expected string or bytes-like object, got 'int')",
     "write a strftime format in quotes, e.g. date-format: '%Y%m%d'"),
    (section_option("datetime-format: 1.5", "json"),
     "(TypeError: expected string or bytes-like object, got 'float')",
     "write a strftime format in quotes, e.g. datetime-format: '%Y%m%d%H%M%S.%f'"),
    (section_option("uid-numeric-name: 2.16\n  uid-prefix-fields: 2"),
     "(AttributeError: 'float' object has no attribute 'startswith')",
     "quote it: uid-numeric-name: '2.16'"),
    (section_option("uid-numeric-name: true"),
     "(AttributeError: 'bool' object has no attribute 'startswith')",
     "write the dotted UID root in quotes"),
    (rule_option("date-format: 20200101", "increment-date"),
     "(TypeError: expected string or bytes-like object, got 'int')",
     "write a strftime format in quotes, e.g. date-format: '%Y%m%d'"),
    (rule_option("datetime-format: 20200101", "increment-datetime"),
     "(TypeError: expected string or bytes-like object, got 'int')",
     "write a strftime format in quotes, e.g. datetime-format: '%Y%m%d%H%M%S.%f'"),
])
def test_a_format_or_uid_root_that_is_not_text_stops_flywheel_loading(lint_text, text, words,
                                                                      hint):
    (found,) = schema_findings(lint_text, text)
    assert (found.code, found.severity, found.hint) == ("S002", "error", hint)
    assert f"must be text, not {'`true`' if 'bool' in words else 'the number'}" in found.message
    assert f"Flywheel refuses to load the profile {words}" in found.message
    assert "does not check it" not in found.message


@pytest.mark.parametrize("option, action", [("date-format: 20200101", "remove"),
                                            ("date-format: 20200101", "increment-datetime"),
                                            ("datetime-format: 20200101", "increment-date")])
def test_a_rule_format_that_is_not_text_is_ignored_where_the_rule_does_not_read_it(
        lint_text, option, action):
    (found,) = schema_findings(lint_text, rule_option(option, action))
    assert (found.code, found.severity, found.line) == ("S002", "warning", 6)
    assert ("Flywheel ignores it on a rule that does not shift dates with `increment-"
            in found.message)


def datetime_bound(value: str, action: str = "increment-datetime") -> str:
    return ("dicom:\n  date-increment: -3\n  fields:\n    - name: AcquisitionDateTime\n"
            f"      {action}: true\n      datetime-min: {value}\n")


@pytest.mark.parametrize("value", ["-90years", "+0days", "-2weeks", "'19000101'", "'20241231'"])
def test_datetime_bounds_flywheel_reads(lint_text, value):
    assert schema_findings(lint_text, datetime_bound(value)) == []


@pytest.mark.parametrize("value, code, severity, words, hint", [
    ("90years", "S008", "error", "refuses to load the profile (time data '90years' does not "
     "match format '%Y%m%d')", "add the sign: `-90years` (before now) or `+90years` (after now)"),
    ("-90Years", "S008", "error", "refuses to load the profile",
     "write it like `19000101` or `-90years`"),
    ("'20241301'", "S008", "error", "refuses to load the profile (unconverted data remains: 1)",
     "write it like `19000101` or `-90years`"),
    ("19000101", "S002", "error", "refuses to load the profile ('datetime-min/datetime-max must "
     "be in either yyyymmdd", "quote it: datetime-min: '19000101'"),
    ("'-90years ago'", "S008", "warning", "Flywheel reads only `-90years` and ignores the rest",
     "write datetime-min: '-90years'"),
    ("'2020101'", "S008", "warning", "Flywheel reads it as 2020-10-01",
     "write all 8 digits: datetime-min: '20201001'"),
])
def test_datetime_bounds_say_what_flywheel_makes_of_them(lint_text, value, code, severity,
                                                          words, hint):
    (found,) = schema_findings(lint_text, datetime_bound(value))
    assert (found.code, found.severity, found.line, found.hint) == (code, severity, 6, hint)
    assert words in found.message


@pytest.mark.parametrize("value, action, last", [
    ("'20200230'", "increment-datetime", "20200229"),
    ("'20210229'", "increment-date", "20210228"),
    ("'20200431'", "increment-datetime", "20200430"),
])
def test_a_datetime_bound_that_no_calendar_has_stops_flywheel_loading(lint_text, value, action,
                                                                      last):
    (found,) = schema_findings(lint_text, datetime_bound(value, action))
    assert (found.code, found.severity, found.line) == ("S008", "error", 6)
    assert found.message.endswith("is not a date: Flywheel refuses to load the profile (day is "
                                  "out of range for month)")
    assert found.hint == f"write a date that exists, e.g. the month's last: datetime-min: '{last}'"


def test_a_datetime_bound_that_no_calendar_has_is_ignored_on_other_rules(lint_text):
    (found,) = schema_findings(lint_text, datetime_bound("'20200230'", "remove"))
    assert (found.code, found.severity) == ("S008", "warning")
    assert "Flywheel ignores it on a rule that does not shift dates" in found.message
    assert schema_findings(lint_text, datetime_bound("'20200229'")) == []


def test_a_datetime_bound_is_read_by_increment_date_too_and_ignored_elsewhere(lint_text):
    (read,) = schema_findings(lint_text, datetime_bound("90years", "increment-date"))
    assert (read.severity, "refuses to load the profile" in read.message) == ("error", True)
    (ignored,) = schema_findings(lint_text, datetime_bound("90years", "remove"))
    assert ignored.severity == "warning"
    assert "Flywheel ignores it on a rule that does not shift dates" in ignored.message


def test_enum_lists_the_allowed_values(lint_text):
    found = schema_findings(lint_text, """
        dicom:
          patient-age-from-birthdate: true
          patient-age-units: years
        """)
    assert [(d.code, d.line, d.column) for d in found] == [("S003", 3, 22)]
    assert "`D`, `M`, `Y`" in found[0].message


@pytest.mark.parametrize("rule, code, line, needle", [
    ("- remove: true", "S004", 3, "neither `name` nor `regex`"),
    ("- name: ''\n  remove: true", "S004", 3, "empty selector"),
    ("- name: PatientName\n  regex: .*Name\n  remove: true", "S005", 4,
     "Field can not have name and regex defined"),
    ("- regex: .*Comments", "S006", 3, "Unknown de-identify action"),
    ("- name: StudyDate\n  date-format: '%Y'", "S006", 3, "sets only options (`date-format`)"),
])
def test_field_rule_selector_and_action(lint_text, rule, code, line, needle):
    text = "dicom:\n  fields:\n  " + rule.replace("\n", "\n  ") + "\n"
    found = schema_findings(lint_text, text)
    assert [(d.code, d.line) for d in found] == [(code, line)]
    assert needle in found[0].message


def test_bare_name_is_a_keep_not_an_error(lint_text):
    assert schema_findings(lint_text, "dicom:\n  fields:\n    - name: PatientName\n") == []


def test_regex_outside_dicom_and_json_is_refused(lint_text):
    found = schema_findings(lint_text, """
        xml:
          fields:
            - regex: .*
              remove: true
        json:
          fields:
            - regex: .*
              remove: true
        """)
    assert [(d.code, d.line) for d in found] == [("S001", 3)]
    assert "only in the dicom and json sections" in found[0].message


def test_nested_groups_and_missing_keys(lint_text):
    found = schema_findings(lint_text, """
        dicom:
          filenames:
            - output: '{SOPInstanceUID}.dcm'
          fields:
            - name: PatientID
              regex-sub:
                - input-regex: '(?P<site>\\w+)-.*'
                  output: '{site}'
                  groups:
                    - name: site
                      hsah: true
        """)
    assert [(d.code, d.line) for d in found] == [("S007", 3), ("S001", 11)]
    assert "`input-regex`" in found[0].message
    assert found[1].hint == "did you mean `hash`?"


def test_invalid_values(lint_text):
    found = schema_findings(lint_text, """
        dicom:
          hash-digits: -1
          uid-numeric-name: 2.16.840.1.x
          force-nonce: abc
        """)
    assert [(d.code, d.line) for d in found] == [("S008", 2), ("S008", 3), ("S008", 4)]
    assert found[1].hint == "write it like `2.16.840.1.114570.2.2`"


def test_other_families_findings_are_not_repeated(lint_text):
    """`false` actions (X), quoted jitter ranges (C), unquoted numeric names (Y003) and
    options that fell out of `dicom:` (Y004) are judged elsewhere."""
    assert schema_findings(lint_text, """
        dicom:
          fields:
            - name: PatientName
              remove: false
            - name: PatientWeight
              jitter: true
              jitter-range: '5'
            - name: 00100020
              remove: true
        """) == []
    assert schema_findings(lint_text, """
        dicom:
        remove-private-tags: true
        fields:
          - name: PatientName
            remove: true
        """) == []


def test_template_placeholders_are_left_to_the_template_engine(lint_text):
    assert schema_findings(lint_text, """
        dicom:
          date-increment: '{{ DATE_INCREMENT }}'
          fields:
            - name: PatientID
              replace-with: '{{ SUBJECT_ID }}'
        """) == []


def test_ingest_config_profiles_are_checked_at_their_place(lint_text):
    found = schema_findings(lint_text, """
        deid-profile: site
        de-identify: true
        deid-profiles:
          - name: site
            dicom:
              remove_undefined: true
        """)
    assert [(d.code, d.line, d.column) for d in found] == [("S001", 6, 7)]


def test_messages_are_deidcs_own_words(lint_text):
    found = schema_findings(lint_text, """
        dicom:
          file-filter: 5
          alter_pixels:
            pixels:
              - when: x
                keep: [1, 2, 3, 4]
                remove: [1, 2, 3, 4]
        """)
    assert [d.code for d in found] == ["S002", "S007"]
    for diagnostic in found:
        assert "is not valid under" not in diagnostic.message
        assert "is not of type" not in diagnostic.message
    assert "both `keep` and `remove`" in found[1].message


# --- real profiles ---------------------------------------------------------------------------

real = pytest.mark.skipif(not REAL_PROFILES.is_dir(), reason="real profiles not available")


def real_schema_findings(name: str):
    source = load_source(REAL_PROFILES / name)
    return [d for d in lint_source(source, LintConfig(select=("S",)))]


@real
def test_every_real_profile_lints_and_correct_ones_have_no_schema_findings():
    # Genuine mistakes: underscores where Flywheel's keys have hyphens, another tool's format.
    # Everything else is correct for Flywheel (GRP-13's `export:`, the legacy `profile: none`,
    # zip's `allow-unmatched-files`) and must pass; `{{ }}` templates are Y006's.
    judged = {
        "grp13-readme__README-block14-csv-mapping-remove_private_tags.yaml",
        "grp13__old-tests-example1-deid-profile.yaml",
        "grp13-readme__README-block5-uid-underscore-keys.yaml",
        "mrscrub__PBN_v1.0.yaml",
    }
    for path in sorted(REAL_PROFILES.glob("*.y*ml")):
        diagnostics = lint_source(load_source(path))  # every family: must not crash
        schema = [d for d in diagnostics if d.code.startswith("S")]
        if path.name not in judged:
            assert schema == [], (path.name, [(d.code, d.line, d.message) for d in schema])


@real
def test_real_remove_private_tags_underscore():
    found = real_schema_findings("grp13__old-tests-example1-deid-profile.yaml")
    assert [(d.code, d.line, d.column, d.hint) for d in found] == [
        ("S001", 2, 3, "did you mean `remove-private-tags`?")]


@real
def test_real_uid_underscore_keys():
    found = real_schema_findings("grp13-readme__README-block5-uid-underscore-keys.yaml")
    assert [(d.code, d.line, d.hint) for d in found] == [
        ("S001", 2, "did you mean `uid-prefix-fields`?"),
        ("S001", 3, "did you mean `uid-numeric-name`?")]


@real
def test_real_mrscrub_format_is_refused_rule_by_rule():
    found = real_schema_findings("mrscrub__PBN_v1.0.yaml")
    assert {d.code for d in found} == {"S001"}
    assert len(found) == 2 * 87  # `tag:` and `action:` in each of its 87 rules
    assert all("Unknown de-identify action" in d.message for d in found)
    first_action = next(d for d in found if "`action`" in d.message)
    assert first_action.line == 8
    assert first_action.hint.startswith("move `replace-with: ''` up beside `name`")


@real
def test_linting_all_real_profiles_is_fast():
    from deidc.lint import lint_files

    paths = [str(path) for path in sorted(REAL_PROFILES.glob("*.y*ml"))]
    start = time.perf_counter()
    lint_files(paths)
    assert time.perf_counter() - start < 5.0


# --- what the messages claim, checked against Flywheel ---------------------------------------

FLYWHEEL_PYTHON = flywheel_python()
@pytest.mark.skipif(FLYWHEEL_PYTHON is None, reason="flywheel-migration is not available")
@pytest.mark.parametrize("text, outcome", [
    (JITTER_MIN_TEXT, "refused: TypeError jitter-min must be an integer or float"),
    (JITTER_MAX_IN_A_GROUP, "refused: TypeError jitter-max must be an integer or float"),
    (JITTER_MIN_ON_A_KEEP, "loaded"),
    (section_option("date-format: 20200101"),
     "refused: TypeError expected string or bytes-like object, got 'int'"),
    (section_option("datetime-format: 1.5", "json"),
     "refused: TypeError expected string or bytes-like object, got 'float'"),
    (section_option("uid-numeric-name: 2.16\n  uid-prefix-fields: 2"),
     "refused: AttributeError 'float' object has no attribute 'startswith'"),
    (section_option("uid-numeric-name: true"),
     "refused: AttributeError 'bool' object has no attribute 'startswith'"),
    (rule_option("date-format: 20200101", "increment-date"),
     "refused: TypeError expected string or bytes-like object, got 'int'"),
    (rule_option("datetime-format: 20200101", "increment-datetime"),
     "refused: TypeError expected string or bytes-like object, got 'int'"),
    (rule_option("date-format: 20200101", "remove"), "loaded"),
    (rule_option("date-format: 20200101", "increment-datetime"), "loaded"),
    (rule_option("datetime-format: 20200101", "increment-date"), "loaded"),
    (datetime_bound("-90years"), "loaded"),
    (datetime_bound("'19000101'"), "loaded"),
    (datetime_bound("90years"), "refused: ValueError time data '90years' does not match"),
    (datetime_bound("90years", "increment-date"), "refused: ValueError time data '90years'"),
    (datetime_bound("90years", "remove"), "loaded"),
    (datetime_bound("'20241301'"), "refused: ValueError unconverted data remains: 1"),
    (datetime_bound("19000101"), "refused: TypeError datetime-min/datetime-max must be in"),
    (datetime_bound("'-90years ago'"), "loaded"),
    (datetime_bound("'2020101'"), "loaded"),
    (datetime_bound("'20200230'"), "refused: ValueError day is out of range for month"),
    (datetime_bound("'20210229'", "increment-date"),
     "refused: ValueError day is out of range for month"),
    (datetime_bound("'20200431'"), "refused: ValueError day is out of range for month"),
    (datetime_bound("'20200230'", "remove"), "loaded"),
    (datetime_bound("'20200229'"), "loaded"),
])
def test_flywheel_loads_or_refuses_as_the_s_messages_say(tmp_path, text, outcome):
    assert flywheel_loads(tmp_path, text).startswith(outcome)
