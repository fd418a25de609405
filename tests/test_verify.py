"""deidc verify on real releases: generated inputs (benchmarks/corpus.py) de-identified by
deidc apply with a strict keeplist, then damaged on purpose.  Every damage is made, and checked
to be there, with pydicom in the test; verify must find each one where it was made, and nothing
on the undamaged release."""

from __future__ import annotations

import importlib.util
import json
import os
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from typer.testing import CliRunner

import deidc.api as api
from deidc.cli.typer_app import app
from deidc.verify.findings import KINDS
from pydicom.data import get_testdata_file

ROOT = Path(__file__).resolve().parent.parent
KEEPLIST = ROOT / "examples" / "keeplist.yaml"


def _corpus_module():
    spec = importlib.util.spec_from_file_location("corpus", ROOT / "benchmarks" / "corpus.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


corpus = _corpus_module()
# Names of four letters or more: undecoded bytes are searched for pieces of four or more.
FAMILY = [name for name in corpus.LAST if len(name) >= 4]
GIVEN = [name for name in corpus.FIRST if len(name) >= 4]


def make_inputs(folder: Path, count: int, seed: int = 7) -> Path:
    """``count`` files from the benchmark generator: ten files to a study, two series."""
    rng = random.Random(seed)
    template = pydicom.dcmread(corpus.get_testdata_file("CT_small.dcm", download=False))
    folder.mkdir(parents=True, exist_ok=True)
    for number in range(count):
        ds = template.copy()
        corpus.add_phi(ds, rng, patient=number // 20, study=number // 10, series=number % 2)
        ds.PatientName = f"{FAMILY[number % len(FAMILY)]}^{GIVEN[number % len(GIVEN)]}"
        ds.ReferringPhysicianName = f"{FAMILY[(number + 3) % len(FAMILY)]}^" \
                                    f"{GIVEN[(number + 5) % len(GIVEN)]}"
        ds.save_as(folder / f"{number:03d}.dcm", enforce_file_format=True)
    return folder


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """(inputs, outputs) of a strict keeplist run over 20 generated files."""
    base = tmp_path_factory.mktemp("release")
    inputs = make_inputs(base / "in", 20)
    summary = api.apply(str(KEEPLIST), [str(inputs)], str(base / "out"))
    assert summary.written == 20
    return inputs, base / "out"


def copy_release(release, tmp_path) -> tuple[Path, Path]:
    inputs, outputs = release
    shutil.copytree(outputs, tmp_path / "out")
    return inputs, tmp_path / "out"


def test_a_strict_keeplist_release_has_no_finding(release):
    inputs, outputs = release
    report = api.verify(str(inputs), str(outputs))
    assert report.findings == []
    assert report.pairs == 20 and report.exit_code == 0
    # and the release is clean indeed: none of the names is anywhere in an output
    for path in outputs.glob("*.dcm"):
        source = pydicom.dcmread(inputs / path.name)
        text = path.read_bytes().lower()
        for name in (source.PatientName.family_name, source.ReferringPhysicianName.given_name,
                     source.PatientID, source.AccessionNumber):
            assert name.lower().encode() not in text


# --- layer 2: planted leaks ---------------------------------------------------------------

# kind of leak → how to read the identifying value from the input (pydicom), and the input
# attribute verify must name
LEAKS = {
    "family name": (lambda ds: ds.PatientName.family_name, "PatientName (family name)"),
    "given name": (lambda ds: ds.PatientName.given_name, "PatientName (given name)"),
    "patient ID": (lambda ds: ds.PatientID, "PatientID"),
    "other patient ID": (lambda ds: ds.OtherPatientIDs, "OtherPatientIDs"),
    "nested patient ID": (lambda ds: ds.OtherPatientIDsSequence[0].PatientID,
                          "OtherPatientIDsSequence > PatientID"),
    "birth date": (lambda ds: ds.PatientBirthDate, "PatientBirthDate"),
    "accession number": (lambda ds: ds.AccessionNumber, "AccessionNumber"),
    "address": (lambda ds: ds.PatientAddress.split("^")[0], "PatientAddress"),
    "phone": (lambda ds: ds.PatientTelephoneNumbers, "PatientTelephoneNumbers"),
    "institution": (lambda ds: ds.InstitutionName, "InstitutionName"),
    "physician": (lambda ds: ds.ReferringPhysicianName.family_name,
                  "ReferringPhysicianName (family name)"),
    "study UID": (lambda ds: ds.StudyInstanceUID, "StudyInstanceUID"),
    "SOP instance UID": (lambda ds: ds.SOPInstanceUID, "SOPInstanceUID"),
}
# where a leak is planted → (location verify must report, kind of finding)
PLACES = {
    "top level": ("00204000", "residual-value"),  # ImageComments
    "nested": ("00081032.0.00080104", "residual-value"),  # ProcedureCodeSequence > CodeMeaning
    "private block": ("00111010", "residual-value"),
    "free text": ("001021B0", "residual-in-text"),  # AdditionalPatientHistory
    "undecoded bytes": ("00131010", "residual-in-bytes"),
}


def plant(ds: Dataset, place: str, value: str) -> None:
    if place == "top level":
        ds.ImageComments = value
    elif place == "nested":
        item = Dataset()
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = "X1", "99LEAK", value
        ds.ProcedureCodeSequence = Sequence([item])
    elif place == "private block":
        ds.private_block(0x0011, "LEAKCO 1", create=True).add_new(0x10, "LO", value)
    elif place == "free text":
        ds.AdditionalPatientHistory = f"Follow-up of {value.lower()}, see prior."
    else:
        ds.private_block(0x0013, "LEAKCO 2", create=True).add_new(
            0x10, "OB", b"\x01\x02hdr:" + value.encode() + b"\x00\xff\x17")


def read_at(ds: Dataset, location: str):
    """The value at a location written as verify writes them (tags and item indices)."""
    steps = location.split(".")
    for place in range(0, len(steps) - 1, 2):
        ds = ds[int(steps[place], 16)].value[int(steps[place + 1])]
    return ds[int(steps[-1], 16)].value


@pytest.fixture(scope="module")
def planted(release, tmp_path_factory):
    """A copy of the release with one leak planted per file: every kind in every place.
    Returns (inputs, outputs, {file: (leak, place)})."""
    inputs, outputs = release
    base = tmp_path_factory.mktemp("planted")
    many = make_inputs(base / "in", len(LEAKS) * len(PLACES), seed=11)
    api.apply(str(KEEPLIST), [str(many)], str(base / "out"))
    plants = {}
    files = sorted(path.name for path in (base / "out").glob("*.dcm"))
    for name, (leak, place) in zip(files, [(leak, place) for leak in LEAKS for place in PLACES]):
        value = LEAKS[leak][0](pydicom.dcmread(many / name))
        path = base / "out" / name
        ds = pydicom.dcmread(path)
        plant(ds, place, value)
        ds.save_as(path)
        # the leak is where the test says, read back independently
        found = read_at(pydicom.dcmread(path), PLACES[place][0])
        held = found.decode("latin-1") if isinstance(found, bytes) else str(found)
        assert value.lower() in held.lower()
        plants[name] = (leak, place)
    return many, base / "out", plants


def test_every_planted_leak_is_found_where_it_was_planted(planted):
    inputs, outputs, plants = planted
    report = api.verify(str(inputs), str(outputs))
    found = {(f.file, f.location): f for f in report.findings}
    missed = []
    for name, (leak, place) in plants.items():
        location, kind = PLACES[place]
        hit = found.get((name, location))
        if hit is None or hit.kind != kind or LEAKS[leak][1] not in hit.message:
            missed.append((leak, place, hit))
    assert not missed, f"recall {1 - len(missed) / len(plants):.0%}; missed: {missed}"
    # and nothing but the plants: no false positive
    extra = [f for f in report.findings if (f.file, f.location) not in
             {(name, PLACES[place][0]) for name, (_, place) in plants.items()}]
    assert extra == []
    assert len(plants) == len(LEAKS) * len(PLACES) >= 50


def test_short_and_common_pieces_are_not_searched_for_and_are_counted(release, tmp_path):
    inputs, outputs = copy_release(release, tmp_path)
    source = inputs / "000.dcm"
    ds = pydicom.dcmread(source)
    ds.PatientName = "LI^WEI^^DR"
    ds.StudyID = "42"
    changed = tmp_path / "in"
    shutil.copytree(inputs, changed)
    ds.save_as(changed / "000.dcm")
    out = pydicom.dcmread(outputs / "000.dcm")
    out.ImageComments = "Dr Li, study 42"  # short pieces: not reported
    out.save_as(outputs / "000.dcm")
    report = api.verify(str(changed), str(outputs))
    assert report.findings == []
    reasons = {(attribute, part, reason) for attribute, part, reason in report.ignored}
    assert ("PatientName", "family name", "short") in reasons
    assert ("PatientName", "name prefix", "short") in reasons
    assert ("StudyID", "", "short") in reasons


# --- pairing, linkage, integrity -------------------------------------------------------------

def test_damaged_release_findings(release, tmp_path):
    inputs, outputs = copy_release(release, tmp_path)
    (outputs / "001.dcm").unlink()  # unpaired input
    (outputs / "notes.csv").write_text("PatientName,SMITH\n")  # unpaired output
    data = (outputs / "002.dcm").read_bytes()
    (outputs / "002.dcm").write_bytes(data[:400])  # unreadable output
    ds = pydicom.dcmread(outputs / "003.dcm")
    pixels = bytearray(ds.PixelData)
    pixels[100] ^= 0xFF
    ds.PixelData = bytes(pixels)
    ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3.4"
    ds.save_as(outputs / "003.dcm")
    # two inputs of one series: 004's output gets another series UID, 005's gets 006's SOP UID
    four, six = pydicom.dcmread(outputs / "004.dcm"), pydicom.dcmread(outputs / "006.dcm")
    assert four.SeriesInstanceUID == pydicom.dcmread(outputs / "000.dcm").SeriesInstanceUID
    four.SeriesInstanceUID = "1.2.826.0.1.999.1"
    four.save_as(outputs / "004.dcm")
    five = pydicom.dcmread(outputs / "005.dcm")
    five.SOPInstanceUID = five.file_meta.MediaStorageSOPInstanceUID = six.SOPInstanceUID
    five.save_as(outputs / "005.dcm")

    report = api.verify(str(inputs), str(outputs))
    kinds = {(f.file, f.kind, f.location) for f in report.findings}
    assert ("001.dcm", "unpaired-input", "") in kinds
    assert ("notes.csv", "unpaired-output", "") in kinds
    assert ("002.dcm", "unreadable-output", "") in kinds
    assert ("003.dcm", "pixel-data-changed", "7FE00010") in kinds
    assert ("003.dcm", "media-storage-mismatch", "00020003") in kinds
    assert ("004.dcm", "uid-split", "0020000E") in kinds
    assert {("005.dcm", "uid-merge", "00080018"), ("006.dcm", "uid-merge", "00080018")} <= kinds
    assert report.exit_code == 1
    # nothing else: the rest of the release is clean
    assert {kind for _, kind, _ in kinds} == {
        "unpaired-input", "unpaired-output", "unreadable-output", "pixel-data-changed",
        "media-storage-mismatch", "uid-split", "uid-merge"}


def test_jobs_give_the_same_findings(planted):
    inputs, outputs, _ = planted
    one = api.verify(str(inputs), str(outputs), jobs=1)
    two = api.verify(str(inputs), str(outputs), jobs=2)
    assert one.findings == two.findings and len(one.findings) > 50


# --- the command ---------------------------------------------------------------------------

def test_cli_never_prints_the_values_unless_asked(planted):
    inputs, outputs, plants = planted
    runner = CliRunner()
    text = runner.invoke(app, ["verify", str(inputs), str(outputs), "-j", "1"])
    shown = runner.invoke(app, ["verify", str(inputs), str(outputs), "-j", "1",
                                "--format", "json", "--show-values"])
    hidden = runner.invoke(app, ["verify", str(inputs), str(outputs), "-j", "1",
                                 "--format", "json"])
    assert text.exit_code == shown.exit_code == hidden.exit_code == 1
    data = json.loads(hidden.stdout)
    assert set(data) == {"findings", "summary"}
    assert set(data["findings"][0]) == {"file", "tag", "location", "kind", "message"}
    assert data["summary"]["findings"] == len(plants)
    values = [LEAKS[leak][0](pydicom.dcmread(inputs / name)) for name, (leak, _) in
              plants.items()]
    for value in values:  # as a word: "anna" is inside "ReferringPhysicianName"
        word = re.compile(rf"(?<![a-z0-9.]){re.escape(value.lower())}(?![a-z0-9.])")
        assert not word.search(text.stdout.lower())
        assert not word.search(hidden.stdout.lower())
    revealed = json.loads(shown.stdout)["findings"]
    assert {v.lower() for v in values} <= {f["value"] for f in revealed}
    assert "residual-in-bytes" in text.stdout and "PatientName (family name)" in text.stdout


def test_cli_exit_codes(release, tmp_path):
    inputs, outputs = release
    runner = CliRunner()
    assert runner.invoke(app, ["verify", str(inputs), str(outputs)]).exit_code == 0
    missing = runner.invoke(app, ["verify", str(inputs), str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "no such file or folder" in missing.stderr
    assert runner.invoke(app, ["verify", str(inputs), str(outputs),
                               "--format", "xml"]).exit_code == 2
    same = runner.invoke(app, ["verify", str(outputs), str(outputs)])
    assert same.exit_code == 2 and "in-place" in same.stderr



@pytest.mark.parametrize("side", ["in", "out"])
def test_an_unreadable_folder_is_a_usage_error_naming_it(release, tmp_path, monkeypatch, side):
    """A folder the walk cannot read would hide its files (unpaired inputs, stray outputs):
    verify stops with exit 2 and names it.  The tests run as root, which reads any folder, so
    the refusal is made by the walk's own scandir."""
    inputs, outputs = tmp_path / "in", tmp_path / "out"
    shutil.copytree(release[0], inputs)
    shutil.copytree(release[1], outputs)
    for top in (inputs, outputs):
        (top / "sub").mkdir()
        shutil.move(top / "000.dcm", top / "sub" / "000.dcm")
    locked = (inputs if side == "in" else outputs) / "sub"
    scandir = os.scandir

    def refuse(path="."):
        if os.path.abspath(path) == str(locked):
            raise PermissionError(13, "Permission denied", str(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", refuse)
    result = CliRunner().invoke(app, ["verify", str(inputs), str(outputs), "-j", "1"])
    assert result.exit_code == 2, result.output
    assert str(locked) in result.stderr and "cannot be read" in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)

# --- layer 1: the plan held --------------------------------------------------------------

REAL_PROFILES = ROOT.parent / "shared" / "data" / "real-profiles"
EXAMPLE_PROFILE = REAL_PROFILES / "grp13-readme__README-block1-deid_template-example.yaml"
PLAN_KINDS = {kind for kind, (layer, _) in KINDS.items() if layer == "plan"} | {
    "element-changed"}
# The rule kinds of Flywheel's README template (a real profile, above), written here so that
# the tamper tests run where the real profiles are not.
TEMPLATE_PROFILE = """\
dicom:
  date-increment: -17
  patient-age-from-birthdate: true
  patient-age-units: Y
  remove-private-tags: true
  fields:
    - {name: PatientID, remove: true}
    - {name: StationName, replace-with: XXXX}
    - {name: StudyDate, increment-date: true}
    - {name: AcquisitionDateTime, increment-datetime: true}
    - {name: AccessionNumber, hash: true}
    - {name: ConcatenationUID, hashuid: true}
"""
# Jitter (numbers and dates), which no real profile uses; the rest as the real ones do.
JITTER_PROFILE = """\
dicom:
  date-increment: -30
  jitter-range: 3
  jitter-type: int
  fields:
    - name: PatientWeight
      jitter: true
      jitter-range: 2.5
      jitter-type: float
    - name: PatientSize
      jitter: true
    - name: StudyDate
      increment-date: true
      jitter-date: true
      jitter-unit: days
"""


def plan_findings(report) -> list:
    return [found for found in report.findings if found.kind in PLAN_KINDS]


@pytest.fixture(scope="module")
def varied_inputs(tmp_path_factory):
    """Generated files, and pydicom's own: implicit VR, big endian, nested private blocks."""
    folder = make_inputs(tmp_path_factory.mktemp("varied") / "in", 6, seed=3)
    for name in ("MR_small.dcm", "MR_small_implicit.dcm", "ExplVR_BigEnd.dcm",
                 "nested_priv_SQ.dcm", "rtplan.dcm", "SC_rgb.dcm"):
        shutil.copy(get_testdata_file(name, download=False), folder / name)
    ds = pydicom.dcmread(folder / "000.dcm")
    ds.PatientSize = "1.75"
    ds.save_as(folder / "000.dcm")
    return folder


@pytest.mark.parametrize("profile", [
    EXAMPLE_PROFILE, REAL_PROFILES / "ftdc-picsl__globalDeIdConfig.yaml",
    REAL_PROFILES / "bsc-flywheel-deid__de-id_upenn_Penn_BSC_profile_v4.0_20250829.yaml",
    KEEPLIST, "jitter"], ids=lambda profile: getattr(profile, "stem", profile)[:24])
def test_clean_outputs_of_real_profiles_hold_their_plan(varied_inputs, profile, tmp_path):
    if profile == "jitter":
        profile = tmp_path / "jitter.yaml"
        profile.write_text(JITTER_PROFILE)
    if not Path(profile).exists():
        pytest.skip(f"{profile} is not here")
    plan = api.compile_profile(str(profile))
    summary = api.apply(plan, [str(varied_inputs)], str(tmp_path / "out"))
    assert summary.written >= 10
    report = api.verify(str(varied_inputs), str(tmp_path / "out"), plan)
    assert report.checked_plan and plan_findings(report) == []
    # the plan did change the files: there was something to check
    changed = [path for path in (tmp_path / "out").glob("*.dcm")
               if path.read_bytes() != (varied_inputs / path.name).read_bytes()]
    assert len(changed) >= 6


def tamper(path: Path, change) -> None:
    ds = pydicom.dcmread(path)
    change(ds)
    ds.save_as(path)


@pytest.fixture(scope="module")
def template_profile(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.yaml"
    path.write_text(TEMPLATE_PROFILE)
    return path


@pytest.fixture(scope="module")
def example_release(tmp_path_factory, template_profile):
    """The README template's rules (remove, replace, hash, hashuid, dates, private tags)
    over eight generated files."""
    base = tmp_path_factory.mktemp("example")
    inputs = make_inputs(base / "in", 8, seed=5)
    assert api.apply(str(template_profile), [str(inputs)], str(base / "out")).written == 8
    return inputs, base / "out"


def test_tampered_outputs_break_the_plan_where_they_were_tampered(example_release,
                                                                 template_profile, tmp_path):
    inputs, outputs = copy_release(example_release, tmp_path)
    source = pydicom.dcmread(inputs / "000.dcm")
    tamper(outputs / "000.dcm", lambda ds: setattr(ds, "PatientID", source.PatientID))
    tamper(outputs / "001.dcm", lambda ds: setattr(ds, "StudyDate", "20231230"))  # -18 days
    tamper(outputs / "002.dcm", lambda ds: ds.private_block(
        0x0011, "KEPT CO", create=True).add_new(0x01, "LO", "PRIVATE"))
    tamper(outputs / "003.dcm", lambda ds: setattr(ds, "StationName", "YYYY"))
    three = pydicom.dcmread(inputs / "004.dcm")
    tamper(outputs / "004.dcm", lambda ds: setattr(ds, "AccessionNumber", three.AccessionNumber))
    tamper(outputs / "005.dcm", lambda ds: setattr(ds, "AcquisitionDateTime",
                                                   "20240101101530.123456+0200"))
    tamper(outputs / "006.dcm", lambda ds: setattr(ds, "Rows", ds.Rows + 1))
    tamper(outputs / "007.dcm", lambda ds: setattr(ds, "AccessionNumber", "0123456789abcdef0"))
    # each tamper is there, read back with pydicom
    assert pydicom.dcmread(outputs / "000.dcm").PatientID == source.PatientID
    assert pydicom.dcmread(inputs / "001.dcm").StudyDate == "20240117"
    assert (0x0011, 0x0010) in pydicom.dcmread(outputs / "002.dcm")
    assert pydicom.dcmread(outputs / "004.dcm").AccessionNumber == three.AccessionNumber
    assert pydicom.dcmread(outputs / "006.dcm").Rows == pydicom.dcmread(inputs / "006.dcm").Rows + 1

    report = api.verify(str(inputs), str(outputs), str(template_profile))
    found = {(f.file, f.kind, f.location) for f in plan_findings(report)}
    assert found == {
        ("000.dcm", "not-removed", "00100020"),
        ("001.dcm", "not-shifted", "00080020"),
        ("002.dcm", "private-kept", "00110010"), ("002.dcm", "private-kept", "00111001"),
        ("003.dcm", "not-replaced", "00081010"),
        ("004.dcm", "not-hashed", "00080050"),
        ("005.dcm", "not-shifted", "0008002A"),
        ("006.dcm", "element-changed", "00280010"),
        ("007.dcm", "invalid-value", "00080050")}
    for found in plan_findings(report):  # the values stay out of the messages
        assert source.PatientID not in found.message and "20231230" not in found.message
    assert report.exit_code == 1


def test_tampered_keeplist_and_jitter_outputs(varied_inputs, tmp_path):
    """remove-undefined, hashed UIDs and jitter out of range."""
    profile = tmp_path / "jitter.yaml"
    profile.write_text(JITTER_PROFILE)
    for name, path in (("keep", KEEPLIST), ("jitter", profile)):
        api.apply(str(path), [str(varied_inputs)], str(tmp_path / name))
    keep, jitter = tmp_path / "keep", tmp_path / "jitter"
    tamper(keep / "000.dcm", lambda ds: setattr(ds, "StationName", "CT01"))
    tamper(keep / "001.dcm", lambda ds: setattr(ds, "SeriesInstanceUID", "1.2.03.4"))
    weight = float(pydicom.dcmread(varied_inputs / "000.dcm").PatientWeight)
    tamper(jitter / "000.dcm", lambda ds: setattr(ds, "PatientWeight", f"{weight + 2.6:.1f}"))
    tamper(jitter / "001.dcm", lambda ds: setattr(ds, "StudyDate", "20231218"))  # -30 exactly
    # a date jitter's range is Flywheel's default for dates, 10 days: -41 is out of it
    tamper(jitter / "002.dcm", lambda ds: setattr(ds, "StudyDate", "20231207"))
    assert pydicom.dcmread(keep / "001.dcm").SeriesInstanceUID == "1.2.03.4"

    kept = api.verify(str(varied_inputs), str(keep), str(KEEPLIST))
    assert {(f.file, f.kind, f.location) for f in plan_findings(kept)} == {
        ("000.dcm", "undefined-kept", "00081010"), ("001.dcm", "invalid-value", "0020000E")}
    jittered = api.verify(str(varied_inputs), str(jitter), str(profile))
    assert {(f.file, f.kind, f.location) for f in plan_findings(jittered)} == {
        ("000.dcm", "not-jittered", "00101030"), ("001.dcm", "not-shifted", "00080020"),
        ("002.dcm", "not-shifted", "00080020")}


def test_cli_verify_with_a_plan(example_release, template_profile, tmp_path):
    inputs, outputs = example_release
    runner = CliRunner()
    plan = tmp_path / "plan.json"
    assert runner.invoke(app, ["compile", str(template_profile), "-o", str(plan)]).exit_code == 0
    # The example profile leaves institutions and physicians (residuals, exit 1) but its plan
    # held: --plan adds no finding to what verify finds without it.
    plain = runner.invoke(app, ["verify", str(inputs), str(outputs), "--format", "json"])
    assert plain.exit_code == 1
    for policy in (template_profile, plan):
        result = runner.invoke(app, ["verify", str(inputs), str(outputs), "--plan", str(policy),
                                     "--format", "json", "-j", "1"])
        assert result.exit_code == 1, result.output
        report = json.loads(result.stdout)
        assert report["summary"]["plan_checked"] is True
        assert not [f for f in report["findings"] if f["kind"] in PLAN_KINDS]
        assert report["findings"] == json.loads(plain.stdout)["findings"]


# --- deidc apply --verify ------------------------------------------------------------------

BLOCKLIST = ROOT / "benchmarks" / "profiles" / "blocklist.yaml"
# `deidc apply` as the command line runs it (the quick reader, without typer), and what of
# typer it imported
APPLY = ("import sys, deidc.cli.quick\ncode = deidc.cli.quick.quick_apply(sys.argv[1:])\n"
         "print('typer loaded:', 'typer' in sys.modules)\nsys.exit(code)")


def run_apply(*arguments) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", APPLY, "apply", *map(str, arguments)],
                          capture_output=True, text=True)


def walked(ds: Dataset, prefix: str = ""):
    """(location, value as text) of every element but sequences and pixel data, at every
    depth, read with pydicom: the test's own walk, not verify's."""
    for element in ds:
        place = f"{prefix}{element.tag:08X}"
        if element.VR == "SQ":
            for number, item in enumerate(element.value):
                yield from walked(item, f"{place}.{number}.")
        elif element.tag != 0x7FE00010:
            yield place, str(element.value).strip(" \0")


def printed_findings(stdout: str) -> dict[str, list[tuple[str, str]]]:
    """kind → (file, location) of the findings the text report shows."""
    shown: dict[str, list] = {}
    kind = None
    for line in stdout.splitlines():
        heading = re.match(r"([a-z-]+) \(\d+, [a-z]+\): ", line)
        if heading or not line.startswith("  "):
            kind = heading.group(1) if heading else None
        elif kind and not line.startswith("  ..."):
            file, *location = line.split(":")[0].split()
            shown.setdefault(kind, []).append((file, "".join(location)))
    return shown


def test_apply_verify_of_a_clean_release_exits_0(tmp_path):
    inputs = make_inputs(tmp_path / "in", 12, seed=21)
    result = run_apply(KEEPLIST, inputs, "-o", tmp_path / "out", "--verify", "-j", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings in 12 file pair(s); the plan checked." in result.stdout
    assert "typer loaded: False" in result.stdout
    # and clean indeed, by pydicom: no identifying value of an input is anywhere in its output
    for path in sorted((tmp_path / "out").glob("*.dcm")):
        source = pydicom.dcmread(inputs / path.name)
        data = path.read_bytes().lower()
        for value in (source.PatientName.family_name, source.PatientID, source.AccessionNumber,
                      source.StudyInstanceUID, source.SOPInstanceUID):
            assert value.lower().encode() not in data


def test_apply_verify_of_a_leaking_release_exits_3_and_its_findings_are_real(tmp_path):
    """The example blocklist hashes the top-level UIDs and leaves the originals in
    InstanceCreatorUID and the referenced-series sequence: verify says so, and each finding it
    shows is checked here with pydicom."""
    inputs, outputs = make_inputs(tmp_path / "in", 12, seed=22), tmp_path / "out"
    result = run_apply(BLOCKLIST, inputs, "-o", outputs, "--verify", "-j", "1")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "12 written" in result.stderr and "the plan checked." in result.stdout
    shown = printed_findings(result.stdout)
    assert shown["residual-value"] and shown["uid-split"]
    values_in = {name: dict(walked(pydicom.dcmread(inputs / name)))
                 for name in sorted(path.name for path in inputs.glob("*.dcm"))}
    values_out = {name: dict(walked(pydicom.dcmread(outputs / name))) for name in values_in}
    for file, location in shown["residual-value"]:  # the output holds a value of its input
        assert values_out[file][location] in values_in[file].values()
    released_as: dict[str, set] = {}  # input value → output values at the same places
    for name, before in values_in.items():
        for location, value in before.items():
            if location in values_out[name]:
                released_as.setdefault(value, set()).add(values_out[name][location])
    for file, location in shown["uid-split"]:  # that input UID has several outputs
        assert len(released_as[values_in[file][location]]) > 1
    for name in values_in:  # the leak the README names, by pydicom
        assert values_out[name]["00080014"] == values_in[name]["00080014"]


def test_apply_verify_reports_failed_inputs_and_existing_outputs_not_non_dicom(tmp_path):
    """A failed input is unpaired; an output that existed before the run (here: a copy of
    its original, which apply leaves without --overwrite) is checked as it stands; a file
    skipped as not DICOM is not an input."""
    inputs = make_inputs(tmp_path / "in", 4, seed=23)
    (inputs / "broken.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\xff" * 40)  # fails
    (inputs / "notes.txt").write_text("not DICOM: skipped")
    (tmp_path / "out").mkdir()
    shutil.copy(inputs / "003.dcm", tmp_path / "out" / "003.dcm")
    result = run_apply(KEEPLIST, inputs, "-o", tmp_path / "out", "--verify", "-j", "1")
    assert result.returncode == 1, result.stdout + result.stderr  # apply's own code first
    assert "3 written" in result.stderr and "2 skipped" in result.stderr
    assert "1 failed" in result.stderr
    shown = printed_findings(result.stdout)
    assert shown.pop("unpaired-input") == [("broken.dcm", "")]
    assert shown and {file for found in shown.values() for file, _ in found} == {"003.dcm"}
    assert "residual-value" in shown and "undefined-kept" in shown
    assert (tmp_path / "out" / "003.dcm").read_bytes() == (inputs / "003.dcm").read_bytes()
    assert "notes.txt" not in result.stdout
    assert sorted(path.name for path in (tmp_path / "out").iterdir()
                  if not path.name.startswith(".")) == [f"{n:03d}.dcm" for n in range(4)]


@pytest.mark.parametrize("mode", ["--in-place", "--dry-run"])
def test_apply_verify_refuses_in_place_and_dry_runs(tmp_path, mode):
    inputs = make_inputs(tmp_path / "in", 2, seed=24)
    before = {path.name: path.read_bytes() for path in inputs.iterdir()}
    extra = [] if mode == "--in-place" else ["-o", str(tmp_path / "out")]
    result = CliRunner().invoke(app, ["apply", str(KEEPLIST), str(inputs), mode, "--verify",
                                      *extra])
    assert result.exit_code == 2 and "--verify" in result.stderr
    assert {path.name: path.read_bytes() for path in inputs.iterdir()} == before
    assert not (tmp_path / "out").exists()
