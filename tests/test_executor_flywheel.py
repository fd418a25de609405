"""deidc against Flywheel's own engine, element by element, on pydicom's test files.

Runs only where flywheel-migration can be run (see conftest.flywheel_python); deidc never
depends on it.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import textwrap
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

from deidc.compiler import compile_profile
from deidc.executor import deidentify_file

from .conftest import flywheel_python

FLYWHEEL_PYTHON = flywheel_python()
if FLYWHEEL_PYTHON is None:
    pytest.skip("flywheel-migration is not available", allow_module_level=True)

DRIVER = """
import os, sys, warnings
warnings.simplefilter("ignore")
from fs.osfs import OSFS
from flywheel_migration.deidentify import load_profile
profile = load_profile(sys.argv[1])
profile.process_file(OSFS(sys.argv[2]), sys.argv[3], OSFS(sys.argv[4]))
"""

PROFILES = {
    "blocklist": """
        dicom:
          date-increment: -17
          salt: pepper
          hash-digits: 20
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
            - name: StudyInstanceUID
              hashuid: true
            - name: SeriesInstanceUID
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
            - name: OperatorsName
              replace-with: NOBODY
    """,
    "keeplist": """
        dicom:
          remove-undefined: true
          uid-prefix-fields: 2
          uid-suffix-fields: 2
          fields:
            - name: PatientID
              replace-with: ANON
            - name: SOPClassUID
            - name: SOPInstanceUID
              hashuid: true
            - name: MediaStorageSOPInstanceUID
              hashuid: true
            - name: StudyInstanceUID
              hashuid: true
            - name: Modality
            - name: Rows
            - name: Columns
            - name: BitsAllocated
            - name: BitsStored
            - name: HighBit
            - name: PixelRepresentation
            - name: SamplesPerPixel
            - name: PhotometricInterpretation
            - name: PixelData
            - name: StudyDescription
              hash: true
    """,
}
FILES = ["CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "JPEG2000.dcm", "MR_small_implicit.dcm"]


def flywheel_output(profile: Path, source: Path, out: Path) -> Path:
    out.mkdir()
    subprocess.run([FLYWHEEL_PYTHON, "-c", DRIVER, str(profile), str(source.parent),
                    source.name, str(out)], check=True, capture_output=True)
    (result,) = list(out.iterdir())
    return result


def elements(ds):
    found = {("meta", e.tag): e for e in ds.file_meta}
    found.update({("data", e.tag): e for e in ds})
    return found


@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize("kind", sorted(PROFILES))
def test_deidc_writes_what_flywheel_writes(kind, name, tmp_path):
    profile = tmp_path / "profile.yaml"
    profile.write_text(textwrap.dedent(PROFILES[kind]))
    source = tmp_path / "in" / name
    source.parent.mkdir()
    shutil.copy(get_testdata_file(name, download=False), source)
    theirs = pydicom.dcmread(flywheel_output(profile, source, tmp_path / "fw"))
    ours_path = tmp_path / "ours.dcm"
    with open(ours_path, "wb") as out:
        deidentify_file(compile_profile(str(profile)), str(source), out,
                        rng=random.Random(0), compat_flywheel=True)
    ours = pydicom.dcmread(ours_path)
    original = pydicom.dcmread(source)
    theirs_elements, ours_elements = elements(theirs), elements(ours)
    assert sorted(ours_elements) == sorted(theirs_elements)
    for key, element in theirs_elements.items():
        if key == ("meta", 0x00020003) and \
                original.file_meta.MediaStorageSOPInstanceUID != original.SOPInstanceUID:
            # Deliberate: deidc's file meta follows the (new) SOPInstanceUID; Flywheel hashes
            # the meta's own, different, original.
            assert ours_elements[key].value == ours.SOPInstanceUID
            continue
        assert ours_elements[key].value == element.value, f"{key} differs"
