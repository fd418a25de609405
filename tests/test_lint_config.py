"""C family: configuration mistakes, each at the option's value, with what Flywheel does."""

from __future__ import annotations


import pytest

from tests.conftest import REAL_PROFILES, flywheel_loads, flywheel_python


def found(lint_text, text: str, code: str):
    return [d for d in lint_text(text) if d.code == code]


# --- C001 date-increment ---------------------------------------------------------------------

@pytest.mark.parametrize("rule", [
    "- name: StudyDate\n      increment-date: true",
    "- name: AcquisitionDateTime\n      increment-datetime: true",
    "- name: StudyDate\n      increment-date: true\n      jitter-date: true",
    "- regex: '.*Date$'\n      increment-date: true",
])
def test_date_shift_without_date_increment(lint_text, rule):
    (diagnostic,) = found(lint_text, f"dicom:\n  fields:\n    {rule}\n", "C001")
    assert diagnostic.severity == "error" and "date-increment" in diagnostic.message
    assert diagnostic.line == 4  # at the action


def test_date_increment_override_or_a_section_increment_is_enough(lint_text):
    assert found(lint_text, "dicom:\n  fields:\n    - name: StudyDate\n      increment-date: "
                 "true\n      date-increment-override: 5\n", "C001") == []
    assert found(lint_text, "dicom:\n  date-increment: 0.5\n  fields:\n    - name: StudyDate\n"
                 "      increment-date: true\n", "C001") == []


def test_regex_sub_group_shifting_dates_needs_date_increment(lint_text):
    text = """
        dicom:
          fields:
            - name: PatientID
              regex-sub:
                - input-regex: '(?P<day>\\d{8})-.*'
                  output: '{day}'
                  groups:
                    - name: day
                      increment-date: true
    """
    (diagnostic,) = found(lint_text, text, "C001")
    assert "group `day`" in diagnostic.message and diagnostic.line == 10


# --- C002 jitter ranges ----------------------------------------------------------------------

@pytest.mark.parametrize("rule, words", [
    ("jitter: true\n      jitter-range: 0", "refuses the profile"),
    ("jitter: true\n      jitter-type: int\n      jitter-range: 0.5", "refuses the profile"),
    ("jitter: true\n      jitter-type: int\n      jitter-range: -2", "refuses the profile"),
])
def test_field_jitter_ranges_flywheel_refuses(lint_text, rule, words):
    (diagnostic,) = found(lint_text, f"dicom:\n  fields:\n    - name: PatientWeight\n"
                          f"      {rule}\n", "C002")
    assert words in diagnostic.message
    assert diagnostic.line == 4 + rule.count("\n")  # at the range, the rule's last line


@pytest.mark.parametrize("value, words", [("0.5", "hangs"), ("-3", "empty random range"),
                                          ("0", "refuses")])
def test_jitter_date_ranges(lint_text, value, words):
    text = ("dicom:\n  date-increment: 3\n  fields:\n    - name: StudyDate\n"
            f"      increment-date: true\n      jitter-date: true\n      jitter-range: {value}\n")
    (diagnostic,) = found(lint_text, text, "C002")
    assert words in diagnostic.message and diagnostic.line == 7


def test_section_jitter_range_is_judged_by_the_rules_that_use_it(lint_text):
    rules = "  fields:\n    - name: ExposureTime\n      jitter: true\n      jitter-type: int\n"
    (hang,) = found(lint_text, f"dicom:\n  jitter-range: 0.5\n{rules}", "C002")
    assert "hangs" in hang.message and "ExposureTime" in hang.message and hang.line == 2
    (zero,) = found(lint_text, f"dicom:\n  jitter-range: 0\n{rules}", "C002")
    assert zero.severity == "error"
    (unused,) = found(lint_text, "dicom:\n  jitter-range: 0\n  fields: []\n", "C002")
    assert unused.severity == "warning"
    own = rules + "      jitter-range: 3\n"
    assert found(lint_text, f"dicom:\n  jitter-range: 0.5\n{own}", "C002") == []
    assert found(lint_text, "dicom:\n  jitter-range: 0.5\n  fields:\n    - name: PatientWeight\n"
                 "      jitter: true\n", "C002") == []  # float jitter: 0.5 is a fine range


def test_usable_jitter_ranges_pass(lint_text):
    text = ("dicom:\n  date-increment: 3\n  fields:\n    - name: PatientWeight\n      jitter: "
            "true\n      jitter-range: 0.5\n    - name: StudyDate\n      increment-date: true\n"
            "      jitter-date: true\n      jitter-range: 1\n")
    assert found(lint_text, text, "C002") == []


# --- C003 formats ----------------------------------------------------------------------------

@pytest.mark.parametrize("fmt, severity, words", [
    ("%Y%m%Q", "error", "does not support"),
    ("%s", "error", "does not support"),
    ("%-d%m%Y", "error", "bad directive"),
    ("%Y%m%d%d", "error", "cannot read the values it writes"),
    ("%Z%Y%m%d", "error", "cannot read the values it writes"),
    ("%a %Y", "warning", "does not round-trip"),
])
def test_formats_flywheel_refuses_or_cannot_use(lint_text, fmt, severity, words):
    for where in ("dicom:\n  date-format: '{}'\n  fields: []\n",
                  "dicom:\n  fields:\n    - name: AcquisitionDateTime\n      increment-datetime: "
                  "true\n      datetime-format: '{}'\n"):
        (diagnostic,) = found(lint_text, where.format(fmt), "C003")
        assert diagnostic.severity == severity and words in diagnostic.message, diagnostic


@pytest.mark.parametrize("fmt", ["%Y%m%d", "%Y%m%d%H%M%S.%f", "%Y-%m-%d", "%Y%j", "%y%m%d",
                                 "%Y%m%d%H%M%S%%"])
def test_formats_that_work_pass(lint_text, fmt):
    assert found(lint_text, f"dicom:\n  datetime-format: '{fmt}'\n  fields: []\n", "C003") == []


# --- C004 deid-log, C005 recurse-sequence ----------------------------------------------------

def test_bare_deid_log_name(lint_text):
    (diagnostic,) = found(lint_text, "deid-log: deid.csv\ndicom:\n  fields: []\n", "C004")
    assert diagnostic.line == 1 and diagnostic.column == 11
    for fine in ("./deid.csv", "/var/log/deid.csv", "logs/deid.csv"):
        assert found(lint_text, f"deid-log: {fine}\ndicom:\n  fields: []\n", "C004") == []


def test_recurse_sequence_with_nested_or_regex_rules(lint_text):
    text = ("dicom:\n  recurse-sequence: true\n  fields:\n    - name: "
            "ReferencedImageSequence.0.ReferencedSOPInstanceUID\n      hashuid: true\n"
            "    - regex: '.*UID'\n      hashuid: true\n    - name: PatientID\n      remove: true\n")
    assert [d.line for d in found(lint_text, text, "C005")] == [4, 6]
    assert found(lint_text, text.replace("recurse-sequence: true", "recurse-sequence: false"),
                 "C005") == []


# --- C006 uid-numeric-name -------------------------------------------------------------------

@pytest.mark.parametrize("options, messages", [
    ("uid-numeric-name: '1.2.840.99'", []),
    ("uid-numeric-name: '1.2.840.99.1'", ["5 nodes but uid-prefix-fields is 4 (the default)"]),
    ("uid-numeric-name: '1.2.840.99.1'\n  uid-prefix-fields: 5", []),
    ("uid-numeric-name: '2.16.840.1.114570.2.2'\n  uid-prefix-fields: 7", []),
    ("uid-numeric-name: '2.16.840.1.114570.4.2'\n  uid-prefix-fields: 7",
     ["is not 2.16.840.1.114570.2.2"]),
    ("uid-numeric-name: '2.16.840.1.114570.4'",
     ["is not 2.16.840.1.114570.2.2", "6 nodes but uid-prefix-fields is 4"]),
])
def test_uid_numeric_name(lint_text, options, messages):
    diagnostics = found(lint_text, f"dicom:\n  {options}\n  fields: []\n", "C006")
    assert len(diagnostics) == len(messages)
    for words in messages:
        assert [d for d in diagnostics if words in d.message and d.line == 2], words


# --- C007 hash-digits, C008 ignored options --------------------------------------------------

@pytest.mark.parametrize("digits, expected", [(0, ["C007"]), (65, ["C007"]), (64, []),
                                              (16, [])])
def test_full_digest_hash_digits(lint_text, digits, expected):
    text = f"dicom:\n  hash-digits: {digits}\n  fields: []\n"
    assert [d.code for d in found(lint_text, text, "C007")] == expected


def test_salt_type_is_the_schemas_only(lint_text):
    diagnostics = lint_text("dicom:\n  salt: 12345\n  fields: []\n")
    assert [d.code for d in diagnostics if d.line == 2] == ["S002"]


def test_options_flywheel_ignores(lint_text):
    text = ("dicom:\n  date-increment: 3\n  jitter-type: int\n  fields:\n    - name: StudyDate\n"
            "      increment-date: true\n      datetime-min: '20000101'\n"
            "    - name: AcquisitionDateTime\n      increment-datetime: true\n"
            "      datetime-max: '+0days'\n")
    diagnostics = found(lint_text, text, "C008")
    assert sorted((d.line, d.severity) for d in diagnostics) == [(3, "info"), (7, "warning")]


# --- C009 not executed, C010 regex-sub placeholders ------------------------------------------

def test_what_deidc_does_not_execute_is_named(lint_text):
    text = ("dicom:\n  retain: []\n  alter_pixels: {}\n  public-key: [a.pem]\n  fields:\n"
            "    - name: PatientName\n      encrypt: true\n      force-nonce: '123456789012'\n"
            "jpg:\n  fields: []\n")
    diagnostics = found(lint_text, text, "C009")
    assert {d.severity for d in diagnostics} == {"info"}
    said = " ".join(d.message for d in diagnostics)
    for words in ("`retain`", "openssl", "`deid` package", "`encrypt`", "`force-nonce`",
                  "`jpg` section", "skips"):
        assert words in said, words
    assert found(lint_text, "dicom:\n  fields:\n    - name: PatientName\n      remove: true\n",
                 "C009") == []


def test_regex_sub_placeholders(lint_text):
    rule = ("dicom:\n  fields:\n    - name: PatientID\n      regex-sub:\n"
            "        - input-regex: '(?P<site>[A-Z]+)-(?P<n>\\d+)'\n          output: '{}'\n")
    (missing,) = found(lint_text, rule.format("{site}-{number}-{number}"), "C010")
    assert "{number}" in missing.message and missing.line == 6
    assert found(lint_text, rule.format("{site}-{n}"), "C010") == []
    grouped = rule.format("{site}-{PatientID}") + "          groups:\n" \
        "            - name: PatientID\n              hash: true\n"
    assert found(lint_text, grouped, "C010") == []


# --- real profiles ---------------------------------------------------------------------------

REAL = sorted(REAL_PROFILES.glob("*.y*ml")) if REAL_PROFILES.is_dir() else []


@pytest.mark.skipif(not REAL, reason="no real profiles here")
def test_real_profiles_lint_without_crashing_and_with_the_findings_we_judged(lint_text):
    seen = {path.name: [d for d in lint_text(path.read_text(), name=path.name)
                        if d.code.startswith("C")] for path in REAL}
    # The README example sets date-increment, so its date shifts are fine.
    assert seen["grp13-readme__README-block1-deid_template-example.yaml"] == []
    # A profile for every file type: deidc says which sections apply skips.
    sections = {d.message.split("`")[1] for d in seen["grp13__example-3-deid-profile.yaml"]
                if d.code == "C009"}
    assert sections == {"zip", "jpg", "png", "tiff", "xml"}
    # None of them has a configuration Flywheel refuses or fails on.
    assert not [d for found_ in seen.values() for d in found_
                if d.severity == "error" and d.code != "C011"]
    # deidc refuses the Flywheel gear's examples that rename outputs (names from UIDs, a date
    # taken out of the name), and not the Penn BSC template that keeps the name.
    renaming = {name for name, found_ in seen.items() if any(d.code == "C011" for d in found_)}
    assert renaming == {"grp13__example-3-deid-profile.yaml",
                        "grp13__example2-deid-profile-with-filenames.yaml",
                        "grp13__example4-deid-profile-jinja.yaml", "grp13__test_dicom_profile.yaml"}


# --- what the messages claim, checked against Flywheel ---------------------------------------

FLYWHEEL_PYTHON = flywheel_python()
@pytest.mark.skipif(FLYWHEEL_PYTHON is None, reason="flywheel-migration is not available")
@pytest.mark.parametrize("text, outcome", [
    ("dicom:\n  date-format: '%Y%m%Q'\n  fields: []\n", "refused"),
    ("dicom:\n  date-format: '%-d%m%Y'\n  fields: []\n", "loaded"),
    ("dicom:\n  uid-numeric-name: '1.2.840.99.1'\n  fields: []\n", "refused"),
    ("dicom:\n  jitter-range: 0\n  fields: []\n", "loaded"),
    ("dicom:\n  fields:\n    - name: PatientWeight\n      jitter: true\n"
     "      jitter-range: 0\n", "refused"),
    ("dicom:\n  date-increment: 3\n  fields:\n    - name: StudyDate\n      increment-date: true\n"
     "      jitter-date: true\n      jitter-range: 0.5\n", "loaded"),
    ("dicom:\n  fields:\n    - name: PatientID\n      regex-sub:\n"
     "        - input-regex: '(?P<site>[A-Z]+)'\n          output: '{site}{n}'\n", "refused"),
    ("dicom:\n  recurse-sequence: true\n  fields:\n    - regex: '.*UID'\n      hashuid: true\n",
     "refused"),
])
def test_flywheel_loads_or_refuses_as_the_c_messages_say(lint_text, tmp_path, text, outcome):
    assert found(lint_text, text, "C003") + found(lint_text, text, "C006") + \
        found(lint_text, text, "C002") + found(lint_text, text, "C010") + \
        found(lint_text, text, "C005")
    assert flywheel_loads(tmp_path, text).split(":")[0] == outcome
