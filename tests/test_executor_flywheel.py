"""deidc against Flywheel's own engine, element by element (nested items included), on
pydicom's test files, for profiles that use every deterministic action and policy.

Runs only where flywheel-migration can be run (see conftest.flywheel_python); deidc never
depends on it.  Flywheel's global ``random`` is seeded as deidc's generator is, so one jitter
rule per profile draws the same offset on both sides.

Differences that are deliberate (profile-semantics.md) are checked as such, not skipped:
the file meta's MediaStorageSOPInstanceUID follows SOPInstanceUID in deidc.  Group length
elements (gggg,0000) are left out: pydicom drops them whenever it writes a file, which
Flywheel does for every file and deidc only for files it changes (it copies the others
verbatim).
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import shutil
import subprocess
import textwrap

import pydicom
import pytest
import yaml
from pydicom.data import get_testdata_file

from deidc.compiler import CompileError, compile_profile
from deidc.execute.dataset import apply_plan, deidentify_file, log_values
from deidc.execute.outcome import ExecutionError

from tests.conftest import REAL_PROFILES, flywheel_python

FLYWHEEL_PYTHON = flywheel_python()
if FLYWHEEL_PYTHON is None:
    pytest.skip("flywheel-migration is not available", allow_module_level=True)

SEED = 7

DRIVER = """
import json, logging, os, random, sys, warnings
warnings.simplefilter("ignore")
logging.disable(logging.CRITICAL)
from fs.osfs import OSFS
from flywheel_migration.deidentify import load_profile
profile_path, source, target, names = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
try:
    load_profile(profile_path)
except Exception as exc:
    print(json.dumps({"load_error": str(exc).splitlines()[0]}))
    sys.exit(0)
results = {}
for name in names:
    out = os.path.join(target, name)
    os.makedirs(out)
    try:
        profile = load_profile(profile_path)
        random.seed(int(os.environ["SEED"]))
        profile.process_file(OSFS(source), name, OSFS(out))
        written = os.listdir(out)
        results[name] = os.path.join(out, written[0]) if written else None
    except Exception as exc:
        results[name] = None
print(json.dumps(results))
"""

PROFILES = {
    "blocklist": """
        dicom:
          date-increment: -17
          salt: pepper
          remove-private-tags: true
          patient-age-from-birthdate: true
          patient-age-units: M
          fields:
            - name: PatientID
              replace-with: SUBJECT-001
            - name: PatientName
              remove: true
            - name: AccessionNumber
              hash: true
            - name: StudyID
              hash: true
            - name: StudyDate
              increment-date: true
            - name: ContentDate
              increment-date: true
            - name: AcquisitionDateTime
              increment-datetime: true
            - name: StudyInstanceUID
              hashuid: true
            - name: SOPInstanceUID
              hashuid: true
            - name: MediaStorageSOPInstanceUID
              hashuid: true
            - name: FrameOfReferenceUID
              hashuid: true
            - name: (0009, "GEMS_IDEN_01", 01)
              keep: true
            - name: InstitutionName
              replace-with: HOSPITAL
            - name: StationName
              replace-with: ''
            - name: PatientComments
              replace-with: deidentified
            - name: DeidentificationMethod
              replace-with: deidc
              replace-with-insert: false
            - name: BodyPartExamined
              regex-sub:
                - input-regex: '(?P<part>[A-Z]+)'
                  output: 'PART-{part}'
            - name: PatientWeight
              jitter: true
              jitter-range: 5
            - name: StudyDescription
              regex-sub:
                - input-regex: '(?P<first>\\w+)(?P<rest>.*)'
                  output: '{PatientID}-{first}'
                  groups:
                    - name: PatientID
                      hash: true
    """,
    "keeplist": """
        dicom:
          remove-undefined: true
          uid-prefix-fields: 2
          uid-suffix-fields: 2
          date-increment: 30
          fields:
            - name: PatientID
              replace-with: ANON
            - name: SOPClassUID
            - name: SOPInstanceUID
              hashuid: true
            - name: StudyInstanceUID
              hashuid: true
            - name: Modality
            - name: Rows
            - name: Columns
            - name: BitsAllocated
            - name: PhotometricInterpretation
            - name: PixelData
            - name: StudyDescription
              hash: true
            - name: ReferencedImageSequence
            - name: ReferencedStudySequence.0.ReferencedSOPInstanceUID
              hashuid: true
            - name: 60XX3000
            - name: StudyDate
              increment-date: true
            - name: SliceThickness
              jitter: true
              jitter-range: 3
    """,
    "recurse": """
        dicom:
          recurse-sequence: true
          salt: s
          date-increment: 3
          fields:
            - name: ReferencedSOPInstanceUID
              hashuid: true
            - name: SOPInstanceUID
              hashuid: true
            - name: CodeMeaning
              remove: true
            - name: CodeValue
              hash: true
            - name: '0x00081150'
              replace-with: 1.2.3
            - name: (0009, "GEMS_IDEN_01", 01)
              remove: true
            - name: 60XX3000
              remove: true
            - name: InstanceCreationDate
              increment-date: true
    """,
    "keeplist-recurse": """
        dicom:
          remove-undefined: true
          recurse-sequence: true
          fields:
            - name: ReferencedSOPClassUID
            - name: ReferencedImageSequence
            - name: CodeValue
            - name: PatientID
              replace-with: R
            - name: SOPInstanceUID
    """,
    "regex": """
        dicom:
          salt: r
          date-increment: 10
          fields:
            - regex: '.*InstanceUID'
              hashuid: true
            - regex: '.*Date$'
              increment-date: true
            - regex: '0009....'
              remove: true
            - regex: '.*\\.0\\.CodeMeaning'
              replace-with: MEANING
            - regex: '.*ReferencedSOPClassUID'
              replace-with: 1.2.3.4
            - regex: '.*Name$'
              hash: true
            - name: PatientID
              regex-sub:
                - input-regex: '(?P<num>\\d+)(?P<rest>.*)'
                  output: 'N{num}-{rest}'
                  groups:
                    - name: num
                      hash: true
                - input-regex: '(?P<all>.*)'
                  output: 'X{all}'
    """,
    "nested": """
        dicom:
          salt: n
          fields:
            - name: ReferencedImageSequence.0.ReferencedSOPInstanceUID
              replace-with: 9.9.9
            - name: ReferencedImageSequence.*.ReferencedSOPClassUID
              hashuid: true
            - name: ReferencedStudySequence.1.ReferencedSOPClassUID
              replace-with: 1.2.840.10008.3.1.2.3.1
            - name: 60XX3000
              remove: true
            - name: 60XX0022
              replace-with: OVERLAY
            - name: (0009, "GEMS_IDEN_01", 01)
              replace-with: replaced
            - name: '00100020'
              hash: true
            - name: (0010,0010)
              replace-with: Doe^John
    """,
}
FILES = ["CT_small.dcm", "MR_small.dcm", "MR_small_implicit.dcm", "JPEG2000.dcm", "rtplan.dcm",
         "rtdose_rle.dcm", "examples_overlay.dcm", "examples_palette.dcm", "test-SR.dcm",
         "waveform_ecg.dcm", "SC_rgb_jpeg.dcm", "nested_priv_SQ.dcm", "ExplVR_BigEnd.dcm",
         "liver_1frame.dcm"]


@pytest.fixture(scope="module")
def flywheel_outputs(tmp_path_factory):
    """Flywheel's output for every profile and file (``None`` where it writes nothing),
    computed once: one Flywheel process per profile."""
    root = tmp_path_factory.mktemp("flywheel")
    sources = root / "in"
    sources.mkdir()
    for name in FILES:
        shutil.copy(get_testdata_file(name, download=False), sources / name)
    outputs = {}
    for kind, text in PROFILES.items():
        profile = root / f"{kind}.yaml"
        profile.write_text(textwrap.dedent(text))
        done = subprocess.run([FLYWHEEL_PYTHON, "-c", DRIVER, str(profile), str(sources),
                               str(root / kind), *FILES], check=True, capture_output=True,
                              text=True, env={**os.environ, "SEED": str(SEED)})
        results = json.loads(done.stdout.strip().splitlines()[-1])
        outputs[kind] = (profile, {name: results[name] for name in FILES})
    return sources, outputs


def flat(ds, prefix: str = "") -> dict:
    """Every element as hex path → (VR, value), sequence items included."""
    found = {}
    for element in ds:
        if element.tag.element == 0x0000:
            continue  # group lengths: see the module docstring
        key = f"{prefix}{element.tag:08x}"
        if element.VR == "SQ":
            found[key] = ("SQ", len(element.value))
            for index, item in enumerate(element.value):
                found.update(flat(item, f"{key}.{index}."))
        else:
            value = element.value
            found[key] = (element.VR, value if isinstance(value, bytes) else str(value))
    return found


def elements(ds) -> dict:
    found = {f"meta.{key}": value for key, value in flat(ds.file_meta).items()}
    found.update(flat(ds))
    return found


@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize("kind", sorted(PROFILES))
def test_deidc_writes_what_flywheel_writes(kind, name, flywheel_outputs, tmp_path):
    sources, outputs = flywheel_outputs
    profile, results = outputs[kind]
    ours_path = tmp_path / "ours.dcm"
    try:
        with open(ours_path, "wb") as out:
            deidentify_file(compile_profile(str(profile)), str(sources / name), out,
                            rng=random.Random(SEED), compat_flywheel=True)
    except ExecutionError:
        # Flywheel loses the same file (an unparseable date, a non-number to jitter, not
        # DICOM); deidc says why instead
        assert results[name] is None
        return
    assert results[name] is not None, "Flywheel fails this file, deidc does not"
    theirs = elements(pydicom.dcmread(results[name], force=True))
    ours_ds = pydicom.dcmread(ours_path, force=True)
    ours = elements(ours_ds)
    meta_uid = "meta.00020003"
    # Deliberate: the file meta follows SOPInstanceUID (Flywheel leaves the original there
    # unless a rule names it, and then transforms the meta's own value)
    if "SOPInstanceUID" in ours_ds:
        assert ours_ds.file_meta.MediaStorageSOPInstanceUID == ours_ds.SOPInstanceUID
        theirs.pop(meta_uid, None)
        ours.pop(meta_uid, None)
    assert sorted(ours) == sorted(theirs)
    differing = {key: (theirs[key], ours[key]) for key in theirs if theirs[key] != ours[key]}
    assert differing == {}


LOGGED = """
    deid-log: {log}
    dicom:
      date-increment: 2
      fields:
        - name: PatientID
          replace-with: X
        - name: OperatorsName
          replace-with: OP
          replace-with-insert: false
        - name: (0009, "GEMS_IDEN_01", 04)
          replace-with: SC
        - name: ReferencedStructureSetSequence.0.ReferencedSOPInstanceUID
          replace-with: 1.2.3
        - name: BeamSequence.*.BeamName
          replace-with: B
        - name: 60XX0022
          replace-with: OV
        - regex: '.*Date$'
          increment-date: true
        - regex: '.*ReferencedSOPClassUID'
          replace-with: 1.2.3.4
        - name: ImageType
        - name: ReferencedImageSequence
"""
LOG_FILES = ["CT_small.dcm", "rtplan.dcm", "examples_overlay.dcm", "MR_small_implicit.dcm"]


def test_deid_log_cells_are_flywheels(flywheel_outputs, tmp_path):
    """Every cell of Flywheel's deid-log, before and after, for every kind of column (tag,
    private, nested, wildcard, repeater, regex, sequence)."""
    sources, _ = flywheel_outputs
    log = tmp_path / "logs" / "deid.csv"
    log.parent.mkdir()
    profile = tmp_path / "logged.yaml"
    profile.write_text(textwrap.dedent(LOGGED.format(log=log)))
    subprocess.run([FLYWHEEL_PYTHON, "-c", DRIVER, str(profile), str(sources),
                    str(tmp_path / "fw"), *LOG_FILES], check=True, capture_output=True,
                   env={**os.environ, "SEED": str(SEED)})
    with open(log, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 * len(LOG_FILES)
    plan = compile_profile(str(profile))
    for row in rows:
        ds = pydicom.dcmread(sources / row["path"])
        if row["type"] == "after":
            apply_plan(plan, ds, rng=random.Random(SEED))
        ours = log_values(plan, ds)
        assert ours == {title: row[title] for title in ours}, (row["path"], row["type"])


REAL_FILES = ["CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "examples_overlay.dcm"]
REAL = sorted(REAL_PROFILES.glob("*.yaml")) if REAL_PROFILES.is_dir() else []


@pytest.mark.skipif(not REAL, reason="real profiles are not available")
@pytest.mark.parametrize("path", REAL, ids=lambda path: path.stem[:40])
def test_real_profiles_write_what_flywheel_writes(path, flywheel_outputs, tmp_path):
    """Profiles people wrote, on a few files: element by element equal, or both lose the file."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or "dicom" not in data:
        pytest.skip("no top-level dicom section: Flywheel's load_profile reads no rules")
    sources, _ = flywheel_outputs
    # Flywheel opens the log at load time, wherever the profile says, and skips files whose
    # names its output templates do not match: neither is the executor's business
    data.pop("deid-log", None)
    if isinstance(data["dicom"], dict):
        data["dicom"].pop("filenames", None)
    profile = tmp_path / path.name
    profile.write_text(yaml.safe_dump(data, sort_keys=False))
    try:
        plan = compile_profile(str(profile))
    except CompileError as exc:
        pytest.skip(f"deidc refuses it: {exc}")
    done = subprocess.run([FLYWHEEL_PYTHON, "-c", DRIVER, str(profile), str(sources),
                           str(tmp_path / "fw"), *REAL_FILES], check=True, capture_output=True,
                          text=True, env={**os.environ, "SEED": str(SEED)})
    results = json.loads(done.stdout.strip().splitlines()[-1])
    if "load_error" in results:
        pytest.skip(f"Flywheel refuses to load it: {results['load_error']}")
    for name in REAL_FILES:
        ours_path = tmp_path / f"ours-{name}"
        try:
            with open(ours_path, "wb") as out:
                deidentify_file(plan, str(sources / name), out, rng=random.Random(SEED),
                                compat_flywheel=True)
        except ExecutionError:
            assert results[name] is None, name
            continue
        assert results[name] is not None, name
        theirs = elements(pydicom.dcmread(results[name], force=True))
        ours_ds = pydicom.dcmread(ours_path, force=True)
        ours = elements(ours_ds)
        if "SOPInstanceUID" in ours_ds:
            theirs.pop("meta.00020003", None)
            ours.pop("meta.00020003", None)
        assert {k: v for k, v in ours.items() if theirs.get(k) != v} == \
            {k: v for k, v in theirs.items() if ours.get(k) != v} == {}, name


# --- deliberate differences (README), measured -----------------------------------------------

UNTOUCHED = """
    dicom:
      fields:
        - name: ProtocolName
          remove: true
"""


def both_outputs(tmp_path, profile_text: str, sources: dict[str, bytes]) -> dict:
    """name → (Flywheel's output, deidc's output), as bytes, for files given as bytes."""
    source_dir = tmp_path / "in"
    source_dir.mkdir()
    for name, data in sources.items():
        (source_dir / name).write_bytes(data)
    profile = tmp_path / "profile.yaml"
    profile.write_text(textwrap.dedent(profile_text))
    done = subprocess.run([FLYWHEEL_PYTHON, "-c", DRIVER, str(profile), str(source_dir),
                           str(tmp_path / "fw"), *sources], check=True, capture_output=True,
                          text=True, env={**os.environ, "SEED": str(SEED)})
    results = json.loads(done.stdout.strip().splitlines()[-1])
    plan = compile_profile(str(profile))
    outputs = {}
    for name in sources:
        with open(results[name], "rb") as handle:
            theirs = handle.read()
        ours = io.BytesIO()
        deidentify_file(plan, str(source_dir / name), ours, rng=random.Random(SEED),
                        compat_flywheel=True)
        outputs[name] = (theirs, ours.getvalue())
    return outputs


def group_lengths(data: bytes) -> list:
    ds = pydicom.dcmread(io.BytesIO(data), force=True)
    return [element.tag for element in ds.iterall() if element.tag.element == 0x0000]


def test_a_file_no_rule_changes_is_copied_where_flywheel_rewrites_it(tmp_path):
    original = open(get_testdata_file("ExplVR_BigEnd.dcm", download=False), "rb").read()
    theirs, ours = both_outputs(tmp_path, UNTOUCHED, {"big.dcm": original})["big.dcm"]
    assert ours == original
    assert theirs != original
    assert group_lengths(original) and not group_lengths(theirs)  # retired, dropped by pydicom


def test_the_file_meta_follows_a_sop_instance_uid_no_rule_touches(tmp_path):
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
    ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3.999"
    buffer = io.BytesIO()
    ds.save_as(buffer)
    theirs, ours = both_outputs(tmp_path, UNTOUCHED, {"ct.dcm": buffer.getvalue()})["ct.dcm"]
    theirs, ours = pydicom.dcmread(io.BytesIO(theirs)), pydicom.dcmread(io.BytesIO(ours))
    assert theirs.file_meta.MediaStorageSOPInstanceUID == "1.2.3.999"
    assert ours.file_meta.MediaStorageSOPInstanceUID == ours.SOPInstanceUID == ds.SOPInstanceUID


JITTERS = """
    dicom:
      fields:
        - name: {}
          jitter: true
          jitter-range: 10
        - name: {}
          jitter: true
          jitter-range: 10
"""


@pytest.mark.parametrize("first, second, same", [
    ("SliceThickness", "SeriesNumber", True),  # the profile lists them in the file's order
    ("SeriesNumber", "SliceThickness", False),
])
def test_several_jitter_rules_draw_in_element_order(first, second, same, tmp_path):
    # deidc draws in the order of the file's elements, Flywheel in the order of its rules
    original = open(get_testdata_file("CT_small.dcm", download=False), "rb").read()
    outputs = both_outputs(tmp_path, JITTERS.format(first, second), {"ct.dcm": original})
    theirs, ours = (pydicom.dcmread(io.BytesIO(data)) for data in outputs["ct.dcm"])
    values = [(ds.SeriesNumber, ds.SliceThickness) for ds in (theirs, ours)]
    assert (values[0] == values[1]) is same, values


# --- sequences stored as UN (issue 10, item 1) -------------------------------------------------

from tests.test_fastpath import UN_LAYOUTS, UN_PROFILES  # noqa: E402
from tests.un_sequences import write_un_file  # noqa: E402


@pytest.mark.parametrize("kind", sorted(UN_PROFILES))
def test_a_sequence_stored_as_un_is_what_flywheel_writes(kind, tmp_path):
    """Flywheel (pydicom) reads a UN-stored sequence as a sequence and applies the item rules
    to it; so does deidc, on whichever path the file takes."""
    build = tmp_path / "build"
    build.mkdir()
    sources = {f"{layout}.dcm": open(write_un_file(build / f"{layout}.dcm", **options),
                                      "rb").read()
               for layout, options in UN_LAYOUTS.items()}
    for name, (theirs, ours) in both_outputs(tmp_path, UN_PROFILES[kind], sources).items():
        theirs_ds = pydicom.dcmread(io.BytesIO(theirs), force=True)
        ours_ds = pydicom.dcmread(io.BytesIO(ours), force=True)
        theirs_elements, ours_elements = elements(theirs_ds), elements(ours_ds)
        for found in (theirs_elements, ours_elements):
            found.pop("meta.00020003", None)  # deliberate: see the module docstring
        assert ours_ds.file_meta.MediaStorageSOPInstanceUID == ours_ds.SOPInstanceUID
        assert {k: v for k, v in ours_elements.items() if theirs_elements.get(k) != v} == \
            {k: v for k, v in theirs_elements.items() if ours_elements.get(k) != v} == {}, name


# --- regexes below private sequences (issue 10, item 3) --------------------------------------

from tests.test_executor import KEYWORD_REGEXES, private_sequence_file  # noqa: E402

KEYWORD_REGEX_KEEPLIST = """
    dicom:
      remove-undefined: true
      fields:
        - name: SOPClassUID
        - name: SOPInstanceUID
        - regex: '.*CodeMeaning$'
          replace-with: MEANING
        - regex: '^ReferencedImageSequence\\.0\\.(ReferencedSOPInstanceUID|00091001)$'
          replace-with: 7.7.7
          replace-with-insert: false
"""


@pytest.mark.parametrize("profile", [KEYWORD_REGEXES, KEYWORD_REGEX_KEEPLIST],
                         ids=["replace", "keeplist"])
def test_keyword_regexes_below_private_sequences_are_flywheels(profile, tmp_path):
    data = open(private_sequence_file(tmp_path / "source.dcm"), "rb").read()
    theirs, ours = both_outputs(tmp_path, profile, {"in.dcm": data})["in.dcm"]
    theirs_elements = elements(pydicom.dcmread(io.BytesIO(theirs), force=True))
    ours_elements = elements(pydicom.dcmread(io.BytesIO(ours), force=True))
    for found in (theirs_elements, ours_elements):
        found.pop("meta.00020003", None)  # deliberate: see the module docstring
    assert {k: v for k, v in ours_elements.items() if theirs_elements.get(k) != v} == \
        {k: v for k, v in theirs_elements.items() if ours_elements.get(k) != v} == {}
    assert theirs != data


# --- remove-undefined and private creators (issue 10, item 4) --------------------------------

from tests.test_fastpath import CREATOR_KEEPLIST  # noqa: E402


def test_a_creator_whose_block_keeps_nothing_goes_as_in_flywheel(tmp_path):
    """Both drop (0009,0010) when the only keep of its block names an offset the file lacks;
    deidc keeps (0019,0010), whose block keeps an element (the README's difference)."""
    data = open(get_testdata_file("CT_small.dcm", download=False), "rb").read()
    profile = textwrap.dedent(CREATOR_KEEPLIST.format(gems="99", acqu="02"))
    theirs, ours = both_outputs(tmp_path, profile, {"ct.dcm": data})["ct.dcm"]
    theirs_elements = elements(pydicom.dcmread(io.BytesIO(theirs), force=True))
    ours_elements = elements(pydicom.dcmread(io.BytesIO(ours), force=True))
    for found in (theirs_elements, ours_elements):
        found.pop("meta.00020003", None)  # deliberate: see the module docstring
    assert "00090010" not in theirs_elements and "00090010" not in ours_elements
    assert set(ours_elements) - set(theirs_elements) == {"00190010"}
    ours_elements.pop("00190010")
    assert ours_elements == theirs_elements


# --- X007 and paths two sequences deep (issue 10, item 6) ------------------------------------

def test_a_keeplist_path_two_sequences_deep_keeps_its_parents_in_both(tmp_path):
    """What lets X007 stay silent on `BeamSequence.*.ControlPointSequence.*.GantryAngle`:
    Flywheel keeps both sequences then, as deidc does (one level deep it deletes them)."""
    data = open(get_testdata_file("rtplan.dcm", download=False), "rb").read()
    profile = """
        dicom:
          remove-undefined: true
          fields:
            - name: SOPInstanceUID
            - name: BeamSequence.*.ControlPointSequence.*.GantryAngle
    """
    theirs, ours = both_outputs(tmp_path, profile, {"rtplan.dcm": data})["rtplan.dcm"]
    theirs_ds = pydicom.dcmread(io.BytesIO(theirs), force=True)
    assert theirs_ds.BeamSequence[0].ControlPointSequence[0].GantryAngle is not None
    theirs_elements = elements(theirs_ds)
    ours_elements = elements(pydicom.dcmread(io.BytesIO(ours), force=True))
    for found in (theirs_elements, ours_elements):
        found.pop("meta.00020003", None)  # deliberate: see the module docstring
    assert ours_elements == theirs_elements
