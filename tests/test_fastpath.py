"""The fast path writes exactly the bytes of the Dataset path, or declines the file."""

from __future__ import annotations

import glob
import io
import os
import random
import textwrap

import pytest

from deidc.compiler import compile_profile
from deidc.executor import ExecutionError, deidentify_file
from deidc.fastpath import FastPlan, deidentify_fast
from deidc.stream import Unsupported

TEST_FILES = sorted(glob.glob(os.path.join(os.path.dirname(__import__("pydicom").__file__),
                                           "data", "test_files", "**", "*.dcm"), recursive=True))

PROFILES = {
    "blocklist": """
        dicom:
          date-increment: -17
          remove-private-tags: true
          fields:
            - name: PatientID
              replace-with: SUBJECT-001
            - name: PatientName
              remove: true
            - name: PatientBirthDate
              remove: true
            - name: AccessionNumber
              hash: true
            - name: StudyDate
              increment-date: true
            - name: StudyInstanceUID
              hashuid: true
            - name: SeriesInstanceUID
              hashuid: true
            - name: SOPInstanceUID
              hashuid: true
            - name: InstitutionName
              replace-with: HOSPITAL
            - name: StationName
              replace-with: STATION
    """,
    "keeplist": """
        dicom:
          remove-undefined: true
          fields:
            - name: PatientID
              replace-with: ANON
            - name: StudyInstanceUID
            - name: SeriesInstanceUID
            - name: SOPInstanceUID
              hashuid: true
            - name: SOPClassUID
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
    """,
    "recurse": """
        dicom:
          recurse-sequence: true
          fields:
            - name: ReferencedSOPInstanceUID
              hashuid: true
            - name: CodeMeaning
              replace-with: REDACTED
            - name: PatientName
              replace-with: NOBODY
    """,
    "jitter": """
        dicom:
          fields:
            - name: PatientWeight
              jitter: true
              jitter-range: 5
            - name: PatientSize
              jitter: true
              jitter-min: 0
            - name: SeriesNumber
              jitter: true
              jitter-type: int
              jitter-range: 3
            - name: SliceThickness
              replace-with: 2.5
    """,
    "private-keeps": """
        dicom:
          remove-private-tags: true
          patient-age-from-birthdate: true
          fields:
            - name: (0009, "GEMS_IDEN_01", 04)
              keep: true
            - name: (0029, "SIEMENS CSA HEADER", 08)
              keep: true
            - name: PatientAge
    """,
}


@pytest.fixture(scope="module", params=sorted(PROFILES))
def plan(request, tmp_path_factory):
    path = tmp_path_factory.mktemp("profiles") / f"{request.param}.yaml"
    path.write_text(textwrap.dedent(PROFILES[request.param]))
    return compile_profile(str(path))


def both_paths(plan, path):
    fast_out, slow_out = io.BytesIO(), io.BytesIO()
    try:
        fast = deidentify_fast(FastPlan(plan), path, fast_out, rng=random.Random(1))
    except Unsupported:
        fast = None
    except ExecutionError:
        fast = "error"
    try:
        slow = deidentify_file(plan, path, slow_out, rng=random.Random(1))
    except ExecutionError:
        slow = "error"
    return fast, fast_out.getvalue(), slow, slow_out.getvalue()


@pytest.mark.parametrize("path", TEST_FILES, ids=os.path.basename)
def test_fast_path_matches_dataset_path(plan, path):
    fast, fast_bytes, slow, slow_bytes = both_paths(plan, path)
    if fast is None:
        return  # declined: the Dataset path does the work
    assert slow != "error", "the fast path accepted a file the Dataset path rejects"
    assert fast != "error"
    assert fast.changed == slow.changed
    assert fast_bytes == slow_bytes


def test_fast_path_takes_most_ordinary_files(plan):
    taken = sum(both_paths(plan, path)[0] not in (None, "error") for path in TEST_FILES)
    assert taken >= len(TEST_FILES) // 2


# --- mutated inputs --------------------------------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

SEED_FILES = [f for f in TEST_FILES if os.path.basename(f) in
              ("CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "JPEG2000.dcm")]


@pytest.fixture(scope="module")
def blocklist_plan(tmp_path_factory):
    path = tmp_path_factory.mktemp("mutate") / "blocklist.yaml"
    path.write_text(textwrap.dedent(PROFILES["blocklist"]))
    return compile_profile(str(path))


@settings(max_examples=int(os.environ.get("DEIDC_FUZZ_EXAMPLES", 150)), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(source=st.sampled_from(SEED_FILES), data=st.data())
def test_mutated_files_never_crash_and_fast_path_is_never_laxer(blocklist_plan, tmp_path_factory,
                                                                 source, data):
    original = open(source, "rb").read()
    mutation = data.draw(st.sampled_from(["truncate", "flip-length", "flip-byte"]))
    mutated = bytearray(original)
    if mutation == "truncate":
        mutated = mutated[:data.draw(st.integers(0, len(original) - 1))]
    else:
        position = data.draw(st.integers(132, len(original) - 1))
        if mutation == "flip-length":
            # overwrite what may be a length field with a large or odd value
            mutated[position:position + 2] = data.draw(st.sampled_from(
                [b"\xff\xff", b"\x01\x00", b"\x00\x80", b"\x03\x00"]))
        else:
            mutated[position] ^= 0xFF
    path = tmp_path_factory.mktemp("mutated") / "file.dcm"
    path.write_bytes(bytes(mutated))
    fast, fast_bytes, slow, slow_bytes = both_paths(blocklist_plan, str(path))
    if fast not in (None, "error"):
        assert slow != "error", f"{mutation}: fast path accepted what the Dataset path rejects"
        assert fast_bytes == slow_bytes
