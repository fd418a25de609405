"""V family: actions that do not fit the attribute's VR, judged by what Flywheel does with them.

The claims the messages make about Flywheel (the file fails, an invalid value is written, the
process exits) are checked against flywheel-migration itself at the end, where it is installed.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.conftest import REAL_PROFILES, codes, flywheel_python


def profile(*rules: str, options: str = "date-increment: 3") -> str:
    """A dicom profile with ``options`` and one field rule per argument (YAML mapping text)."""
    fields = ""
    for rule_text in rules:
        first, *rest = rule_text.splitlines()
        fields += f"    - {first}\n" + "".join(f"      {line}\n" for line in rest)
    return f"dicom:\n  {options}\n  fields:\n{fields}"


def found(lint_text, text: str, code: str):
    return [d for d in lint_text(text) if d.code == code]


# --- V001 date shifts ------------------------------------------------------------------------

@pytest.mark.parametrize("rule, words", [
    ("name: StudyTime\nincrement-date: true", ("StudyTime is a TM", "'%Y%m%d'")),
    ("name: AcquisitionDateTime\nincrement-date: true", ("is a DT", "only date-only values")),
    ("name: StudyDate\nincrement-datetime: true", ("StudyDate is a DA", "cannot parse")),
    ("name: Rows\nincrement-date: true", ("Rows is a US",)),
    ("name: PatientID\nincrement-date: true", ("PatientID is a LO",)),
    ("name: StudyDate\nincrement-date: true\ndate-format: '%Y-%m-%d'", ("'%Y-%m-%d'",)),
])
def test_date_shift_on_what_flywheel_cannot_parse_is_an_error(lint_text, rule, words):
    (diagnostic,) = found(lint_text, profile(rule), "V001")
    assert diagnostic.severity == "error"
    assert all(word in diagnostic.message for word in words), diagnostic.message


def test_time_with_a_time_only_format_parses_but_does_not_move(lint_text):
    text = profile("name: '(0008,0030)'\nincrement-date: true\ndate-format: '%H%M%S.%f'")
    (diagnostic,) = found(lint_text, text, "V001")
    assert diagnostic.severity == "warning" and "unchanged" in diagnostic.message


@pytest.mark.parametrize("rule", [
    "name: StudyDate\nincrement-date: true",
    "name: PatientBirthDate\nincrement-date: true\njitter-date: true",
    "name: AcquisitionDateTime\nincrement-datetime: true",
    "name: ReferencedImageSequence.0.ReferencedSOPInstanceUID\nremove: true",
    "name: AcquisitionDateTime\nincrement-date: true\ndate-format: '%Y%m%d%H%M%S.%f'",
])
def test_date_shifts_that_fit_pass(lint_text, rule):
    assert found(lint_text, profile(rule), "V001") == []


def test_regex_date_shift_reaching_times_and_datetimes_is_reported_once(lint_text):
    (some,) = found(lint_text, profile("regex: '.*Date'\nincrement-date: true"), "V001")
    assert some.severity == "warning" and "AcquisitionDateTime (DT)" in some.message
    (every,) = found(lint_text, profile("regex: 'Study.*Time'\nincrement-date: true"), "V001")
    assert every.severity == "error" and "every attribute it reaches" in every.message
    assert found(lint_text, profile("regex: 'Study.*Dat[e]$'\nincrement-date: true"),
                 "V001") == []


def test_regexes_that_do_not_compile_or_backtrack_are_left_to_the_r_family(lint_text):
    for pattern in ("(unclosed", "(a+)+Time"):
        text = profile(f"regex: '{pattern}'\nincrement-date: true")
        assert found(lint_text, text, "V001") == []


# --- V002 jitter -----------------------------------------------------------------------------

@pytest.mark.parametrize("rule, severity, words", [
    ("name: PatientBirthDate\njitter: true", "error", ("is a DA", "jitter-date")),
    ("name: PatientName\njitter: true", "error", ("is a PN, not a number",)),
    ("name: PixelSpacing\njitter: true", "error", ("VM 2", "several values")),
    ("name: ReferencedFrameNumber\njitter: true", "warning", ("VM 1-n",)),
    ("name: PatientWeight\njitter: true\njitter-type: int", "error", ("int()",)),
])
def test_jitter_on_what_cannot_be_cast(lint_text, rule, severity, words):
    (diagnostic,) = found(lint_text, profile(rule), "V002")
    assert diagnostic.severity == severity
    said = f"{diagnostic.message} / {diagnostic.hint}"
    assert all(word in said for word in words), said


@pytest.mark.parametrize("rule", ["name: PatientWeight\njitter: true",
                                  "name: ExposureTime\njitter: true\njitter-type: int",
                                  "name: '(0028,0010)'\njitter: true",
                                  "name: '(0011,1001)'\njitter: true"])
def test_jitter_on_single_numbers_passes(lint_text, rule):
    assert found(lint_text, profile(rule), "V002") == []


# --- V003 hash -------------------------------------------------------------------------------

@pytest.mark.parametrize("rule, words", [
    ("name: StudyDate\nhash: true", ("StudyDate is a DA", "invalid DA")),
    ("name: StudyInstanceUID\nhash: true", ("UI", "refuses the profile")),
    ("name: '0020000D'\nhash: true", ("UI", "invalid UID")),
    ("name: PatientWeight\nhash: true", ("DS", "fails the file")),
    ("name: Rows\nhash: true", ("US", "refuses the profile")),
    ("name: PatientSex\nhash: true", ("CS", "Invalid value for VR CS")),
    ("name: OtherPatientIDsSequence\nhash: true", ("SQ",)),
])
def test_hash_into_a_vr_that_cannot_hold_it_is_an_error(lint_text, rule, words):
    (diagnostic,) = found(lint_text, profile(rule), "V003")
    assert diagnostic.severity == "error"
    assert all(word in diagnostic.message for word in words), diagnostic.message


def test_hash_length_is_checked_against_the_vr(lint_text):
    rule = "name: AccessionNumber\nhash: true"
    assert found(lint_text, profile(rule), "V003") == []  # 16 digits fit an SH
    (long,) = found(lint_text, profile(rule, options="hash-digits: 32"), "V003")
    assert "exceeds the maximum length of 16" in long.message
    assert found(lint_text, profile("name: PatientID\nhash: true",
                                    options="hash-digits: 64"), "V003") == []


# --- V004 hashuid ----------------------------------------------------------------------------

@pytest.mark.parametrize("rule, severity", [
    ("name: PatientID\nhashuid: true", "warning"),
    ("name: AccessionNumber\nhashuid: true", "error"),
    ("name: StudyDate\nhashuid: true", "error"),
    ("name: Rows\nhashuid: true", "error"),
])
def test_hashuid_on_what_is_not_a_uid(lint_text, rule, severity):
    (diagnostic,) = found(lint_text, profile(rule), "V004")
    assert diagnostic.severity == severity and "UID" in diagnostic.message


def test_hashuid_on_uids_passes(lint_text):
    text = profile("name: SOPInstanceUID\nhashuid: true",
                   "name: ReferencedImageSequence.*.ReferencedSOPInstanceUID\nhashuid: true")
    assert found(lint_text, text, "V004") == []


# --- V005 replace-with values ----------------------------------------------------------------

@pytest.mark.parametrize("rule, words", [
    ("name: StudyDate\nreplace-with: '2024-01-17'", ("DA", "invalid DICOM")),
    ("name: StudyDate\nreplace-with: 20240117", ("DA", "refuses the profile")),
    ("name: Rows\nreplace-with: 'abc'", ("US", "refuses the profile")),
    ("name: InstanceNumber\nreplace-with: 'one'", ("IS",)),
    ("name: StudyInstanceUID\nreplace-with: '1.2.abc'", ("UI",)),
    ("name: StationName\nreplace-with: 'a-very-long-station-name'", ("SH", "16")),
    ("name: PatientSex\nreplace-with: 'M\\x'", ("CS",)),
])
def test_replacement_invalid_for_the_vr_is_an_error(lint_text, rule, words):
    (diagnostic,) = found(lint_text, profile(rule), "V005")
    assert diagnostic.severity == "error"
    assert all(word in diagnostic.message for word in words), diagnostic.message


@pytest.mark.parametrize("rule", [
    "name: StudyDate\nreplace-with: '20240117'",
    "name: Rows\nreplace-with: 512",
    "name: PatientWeight\nreplace-with: 70.5",
    "name: StudyInstanceUID\nreplace-with: '1.2.840.99.1'",
    "name: PatientName\nreplace-with: ''",
    "name: PatientName\nreplace-with: null",
    "name: ImageType\nreplace-with: 'ORIGINAL\\PRIMARY'",
])
def test_valid_replacements_pass(lint_text, rule):
    assert found(lint_text, profile(rule), "V005") == []


@pytest.mark.parametrize("rule, raw, read_as, consequence, quiet", [
    # numbers: Y003 used to say the number would be written
    ("name: PatientID\nreplace-with: 001", "001", "the number 1", "Flywheel refuses the "
     "profile ('Incorrect value type for Dicom element PatientID (VR=LO): int')", "Y003"),
    ("name: PatientID\nreplace-with: 12", "12", "the number 12", "(VR=LO): int')", "Y003"),
    ("name: AccessionNumber\nreplace-with: 0012", "0012", "the number 10", "(VR=SH): int')",
     "Y003"),
    ("name: PatientName\nreplace-with: 1.5", "1.5", "the number 1.5", "(VR=PN): float')",
     "Y003"),
    ("name: '00100020'\nreplace-with: 001", "001", "the number 1",
     "Flywheel fails the file when it writes it", "Y003"),
    # booleans: S002 used to say Flywheel does not check it
    ("name: PatientID\nreplace-with: true", "true", "true/false (True)", "Flywheel refuses "
     "the profile ('Incorrect value type for Dicom element PatientID (VR=LO): bool')", "S002"),
    ("name: PatientName\nreplace-with: false", "false", "true/false (False)",
     "(VR=PN): bool')", "S002"),
    ("name: StudyDate\nreplace-with: yes", "yes", "true/false (True)", "(VR=DA): bool')",
     "S002"),
    ("name: '00100020'\nreplace-with: true", "true", "true/false (True)",
     "Flywheel fails the file when it writes it", "S002"),
])
def test_a_yaml_number_or_bool_where_text_belongs_is_refused_not_written(
        lint_text, rule, raw, read_as, consequence, quiet):
    diagnostics = lint_text(profile(rule))
    (diagnostic,) = [d for d in diagnostics if d.code == "V005"]
    assert diagnostic.severity == "error" and diagnostic.line == 5
    assert f"YAML reads `replace-with: {raw}` as {read_as}, not text; " in diagnostic.message
    assert consequence in diagnostic.message
    assert diagnostic.hint == f"quote it: replace-with: '{raw}'"
    assert quiet not in codes(diagnostics)


@pytest.mark.parametrize("rule, written", [("name: PatientWeight\nreplace-with: true", "1"),
                                           ("name: Rows\nreplace-with: false", "0")])
def test_a_yaml_bool_where_a_number_belongs_is_written_as_a_number(lint_text, rule, written):
    diagnostics = lint_text(profile(rule))
    assert codes(diagnostics) == ["S002"]  # V005 claimed Flywheel refuses a DS
    assert f"where the attribute takes a number, Flywheel writes {written}" \
        in diagnostics[0].message


def test_a_yaml_number_out_of_range_is_not_told_to_be_quoted(lint_text):
    (diagnostic,) = found(lint_text, profile("name: Rows\nreplace-with: 70000"), "V005")
    assert "YAML reads" not in diagnostic.message and "quote" not in diagnostic.hint
    assert "(VR=US): int')" in diagnostic.message


def test_a_yaml_number_that_fits_the_vr_is_only_y003(lint_text):
    diagnostics = lint_text(profile("name: PatientWeight\nreplace-with: 070"))
    assert [(d.code, d.severity) for d in diagnostics] == [("Y003", "warning")]
    assert "the value written will be `56`" in diagnostics[0].message


# --- V006 sequences, V007 unknown VRs --------------------------------------------------------

def test_replacing_a_sequence(lint_text):
    (empty,) = found(lint_text, profile("name: OtherPatientIDsSequence\nreplace-with: ''"), "V006")
    assert empty.severity == "info" and "inserted" in empty.message
    (value,) = found(lint_text, profile("name: OtherPatientIDsSequence\nreplace-with: X"), "V006")
    assert value.severity == "error"
    (regex,) = found(lint_text, profile("regex: '.*PatientID'\nreplace-with: X"), "V006")
    assert regex.severity == "warning" and "OtherPatientIDsSequence (SQ)" in regex.message
    assert found(lint_text, profile("name: PatientID\nreplace-with: X"), "V006") == []


def test_replacing_an_unknown_vr_tag_exits_flywheel(lint_text):
    (diagnostic,) = found(lint_text, profile("name: '(0011,0016)'\nreplace-with: X"), "V007")
    assert diagnostic.severity == "error" and "sys.exit" in diagnostic.message
    safe = "name: '(0011,0016)'\nreplace-with: X\nreplace-with-insert: false"
    assert found(lint_text, profile(safe), "V007") == []
    known = "name: '(0009, \"GEMS_IDEN_01\", 01)'\nreplace-with: X"
    assert found(lint_text, profile(known), "V007") == []


# --- real profiles ---------------------------------------------------------------------------

REAL = sorted(REAL_PROFILES.glob("*.y*ml")) if REAL_PROFILES.is_dir() else []


@pytest.mark.skipif(not REAL, reason="no real profiles here")
def test_real_profiles_lint_without_crashing_and_with_the_findings_we_judged(lint_text):
    seen = {}
    for path in REAL:
        seen[path.name] = [d for d in lint_text(path.read_text(), name=path.name)
                           if d.code.startswith("V")]
    # A serial number is no UID: hashuid works on it (a LO) but writes a UID-shaped value.
    (serial,) = seen["ftdc-picsl__globalDeIdConfig.yaml"]
    assert (serial.code, serial.severity, serial.line) == ("V004", "warning", 25)
    assert "DeviceSerialNumber is a LO" in serial.message
    # Penn's profiles blank identification sequences with '': they stay, empty (info only).
    penn = seen["bsc-flywheel-deid__de-id_upenn_Penn_BSC_profile_v4.0_20250829.yaml"]
    assert {d.code for d in penn} == {"V006"} and all(d.severity == "info" for d in penn)
    assert any("OtherPatientIDsSequence is a sequence" in d.message for d in penn)
    # None of these profiles does what fails a file in Flywheel.
    assert not [d for found_ in seen.values() for d in found_ if d.severity == "error"]


# --- what the messages claim, checked against Flywheel ---------------------------------------

FLYWHEEL_PYTHON = flywheel_python()
DRIVER = """
import json, logging, os, shutil, sys, tempfile, warnings
warnings.simplefilter("ignore")
logging.disable(logging.CRITICAL)
from fs.osfs import OSFS
import pydicom
from flywheel_migration.deidentify import load_profile
profile_path, source, keyword = sys.argv[1:4]
try:
    profile = load_profile(profile_path)
except Exception as exc:
    print(json.dumps({"outcome": "refused"})); sys.exit(0)
folder, out = tempfile.mkdtemp(), tempfile.mkdtemp()
shutil.copy(source, os.path.join(folder, "in.dcm"))
try:
    profile.process_file(OSFS(folder), "in.dcm", OSFS(out))
except SystemExit:
    print(json.dumps({"outcome": "exit"})); sys.exit(0)
except Exception:
    print(json.dumps({"outcome": "failed"})); sys.exit(0)
written = os.listdir(out)
if not written:
    print(json.dumps({"outcome": "failed"})); sys.exit(0)
dataset = pydicom.dcmread(os.path.join(out, written[0]))
value = str(dataset[keyword].value) if keyword in dataset else None
print(json.dumps({"outcome": "written", "value": value}))
"""


@pytest.mark.skipif(FLYWHEEL_PYTHON is None, reason="flywheel-migration is not available")
@pytest.mark.parametrize("rule, keyword, outcome", [
    ("name: StudyTime\nincrement-date: true", "StudyTime", "failed"),
    ("name: StudyDate\nincrement-datetime: true", "StudyDate", "failed"),
    ("name: StudyDate\njitter: true", "StudyDate", "failed"),
    ("name: ImagePositionPatient\njitter: true", "ImagePositionPatient", "failed"),
    ("name: PatientWeight\njitter: true\njitter-type: int", "PatientWeight", "failed"),
    ("name: KVP\nhash: true", "KVP", "failed"),
    ("name: StudyInstanceUID\nhash: true", "StudyInstanceUID", "refused"),
    ("name: '0020000D'\nhash: true", "StudyInstanceUID", "written"),
    ("name: StudyDate\nhash: true", "StudyDate", "written"),
    ("name: Rows\nhashuid: true", "Rows", "failed"),
    ("name: '(0011,0016)'\nreplace-with: X", "PatientID", "exit"),
    ("name: OtherPatientIDsSequence\nreplace-with: X", "PatientID", "refused"),
    ("name: PatientID\nreplace-with: 001", "PatientID", "refused"),
    ("name: PatientID\nreplace-with: 12", "PatientID", "refused"),
    ("name: '00100020'\nreplace-with: 001", "PatientID", "failed"),
    ("regex: PatientI[D]\nreplace-with: 12", "PatientID", "failed"),
    ("name: Rows\nreplace-with: 70000", "Rows", "refused"),
    ("name: PatientID\nreplace-with: true", "PatientID", "refused"),
    ("name: StudyDate\nreplace-with: yes", "StudyDate", "refused"),
    ("name: '00100020'\nreplace-with: true", "PatientID", "failed"),
    ("regex: PatientI[D]\nreplace-with: false", "PatientID", "failed"),
])
def test_flywheel_does_what_the_v_messages_say(lint_text, tmp_path, rule, keyword, outcome):
    from pydicom.data import get_testdata_file

    text = profile(rule)
    assert [d for d in lint_text(text) if d.code.startswith("V") and d.severity == "error"]
    path = tmp_path / "fw.yaml"
    path.write_text(text)
    result = subprocess.run([FLYWHEEL_PYTHON, "-c", DRIVER, str(path),
                             get_testdata_file("CT_small.dcm", download=False), keyword],
                            capture_output=True, text=True, timeout=120)
    got = json.loads(result.stdout.strip().splitlines()[-1])
    if outcome == "written":  # an invalid value, written silently
        from pydicom.valuerep import validate_value
        from pydicom import config
        from pydicom.datadict import dictionary_VR, tag_for_keyword

        with pytest.raises(ValueError):
            validate_value(dictionary_VR(tag_for_keyword(keyword)), got["value"], config.RAISE)
    assert got["outcome"] in (outcome,), got


@pytest.mark.skipif(FLYWHEEL_PYTHON is None, reason="flywheel-migration is not available")
@pytest.mark.parametrize("rule, keyword, value", [
    ("name: PatientWeight\nreplace-with: true", "PatientWeight", "1.0"),
    ("name: Rows\nreplace-with: false", "Rows", "0"),
])
def test_flywheel_writes_a_yaml_bool_into_a_number_as_s002_says(tmp_path, rule, keyword, value):
    from pydicom.data import get_testdata_file

    path = tmp_path / "fw.yaml"
    path.write_text(profile(rule))
    result = subprocess.run([FLYWHEEL_PYTHON, "-c", DRIVER, str(path),
                             get_testdata_file("CT_small.dcm", download=False), keyword],
                            capture_output=True, text=True, timeout=120)
    got = json.loads(result.stdout.strip().splitlines()[-1])
    assert got == {"outcome": "written", "value": value}
