"""The fast path writes exactly the bytes of the Dataset path, or declines the file."""

from __future__ import annotations

import glob
import io
import os
import random
import textwrap

import pytest
from pydicom.data import get_testdata_file

from deidc.compiler import CompileError, compile_profile
from deidc.execute.dataset import ExecutionError, deidentify_file
from deidc.execute.fast import FastPlan, deidentify_fast
from deidc.execute.stream import Unsupported
from deidc.execute.inputs import READ_WHOLE

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
            - name: MediaStorageSOPInstanceUID
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
    # remove-undefined prunes inside the sequences it keeps: a sequence named plainly keeps
    # its items, emptied
    "keeplist-sequences": """
        dicom:
          remove-undefined: true
          fields:
            - name: SOPClassUID
            - name: SOPInstanceUID
              hashuid: true
            - name: PixelData
            - name: ReferencedImageSequence
            - name: SourceImageSequence
            - name: ContentSequence
            - name: ConceptNameCodeSequence
            - name: AnatomicRegionSequence
            - name: PatientName
              replace-with: NOBODY
    """,
    # with recurse-sequence, what the rules name stays inside items, and a sequence no rule
    # names stays if anything in it does
    "keeplist-recurse": """
        dicom:
          remove-undefined: true
          recurse-sequence: true
          fields:
            - name: SOPClassUID
            - name: SOPInstanceUID
              hashuid: true
            - name: PixelData
            - name: ReferencedSOPInstanceUID
              hashuid: true
            - name: ReferencedSOPClassUID
            - name: CodeValue
            - name: CodeMeaning
              replace-with: REDACTED
            - name: ContentSequence
            - name: ValueType
            - name: TextValue
              remove: true
            - name: (0009, "GEMS_IDEN_01", 04)
            - name: PatientName
              replace-with: NOBODY
    """,
    # replace-with on private elements: their blocks made in groups the file lacks
    "private-inserts": """
        dicom:
          remove-private-tags: true
          fields:
            - name: (0039, "GEMS_ADWSoft_DPO", 95)
              replace-with: DEIDENTIFIED
            - name: (0039, "GEMS_AWSOFT_CD1", 80)
              replace-with: 7
            - name: (0039, "GEMS_ADWSoft_DPO", AA)
              replace-with: DONE
            - name: (0009, "GEMS_IDEN_01", 04)
              replace-with: NEW
            - name: PatientName
              replace-with: NOBODY
    """,
    # regex-sub: groups kept, transformed by their own rule, and a fallback item
    "regex-sub": """
        dicom:
          fields:
            - name: PatientID
              regex-sub:
                - input-regex: '^(?P<site>[A-Za-z]+)(?P<number>\\d*).*$'
                  output: 'SITE-{number}-{site}'
                  groups:
                    - name: site
                      hash: true
                - input-regex: '.*'
                  output: 'OTHER'
            - name: StudyDate
              regex-sub:
                - input-regex: '^(?P<year>\\d{4})(?P<rest>\\d{4})$'
                  output: '{year}0101'
                - input-regex: '.*'
                  output: ''
            - name: PatientName
              replace-with: NOBODY
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
    "inserts": """
        dicom:
          patient-age-from-birthdate: true
          fields:
            - name: PatientIdentityRemoved
              replace-with: "YES"
            - name: DeidentificationMethod
              replace-with: deidc inserts
            - name: OtherPatientIDsSequence
              replace-with: ''
            - name: RequestAttributesSequence
              replace-with: ''
            - name: PlanarConfiguration
              replace-with: 0
            - name: DiffusionBValue
              replace-with: 1000.5
            - name: SpacingBetweenSlices
              replace-with: 3
            - name: AcquisitionNumber
              replace-with: 7
            - name: ContrastBolusAgent
              replace-with: ''
            - name: SourceApplicationEntityTitle
              replace-with: DEIDC
    """,
    # Nested paths: wildcards, item numbers, deeper paths, and the inserts of concrete ones
    # (the element, the items before it, the sequences leading to it), as a real profile has
    "nested": """
        dicom:
          fields:
            - name: AnatomicRegionSequence.0.CodeValue
              replace-with: 'new SH value'
            - name: '00082218.0.00080102'
              replace-with: 'new SH value'
            - name: AnatomicRegionSequence.0.00080104
              remove: true
            - name: AnatomicRegionSequence.*.CodeValue
              replace-with: 'new SH value'
            - name: ReferencedSeriesSequence.*.SeriesInstanceUID
              hashuid: true
            - name: ReferencedSeriesSequence.0.ReferencedImageSequence.*.ReferencedSOPInstanceUID
              hashuid: true
            - name: SourceImageSequence.2.ReferencedSOPInstanceUID
              replace-with: 1.2.3.4
            - name: DerivationCodeSequence.*.CodeMeaning
              remove: true
            - name: ConceptNameCodeSequence.0.CodeMeaning
              replace-with: REDACTED
            - name: RequestAttributesSequence.1.ScheduledProtocolCodeSequence.0.CodeValue
              replace-with: P1
            - name: PatientName
              replace-with: NOBODY
    """,
    # Every rule is a deid-log column: sequences with items are logged as pydicom prints them
    "logged-sequences": """
        dicom:
          remove-private-tags: true
          fields:
            - name: SourceImageSequence
              keep: true
            - name: ContentSequence
              keep: true
            - name: ConceptNameCodeSequence
              keep: true
            - name: DerivationCodeSequence
              replace-with: ''
            - name: OtherPatientIDsSequence
              replace-with: ''
            - name: ReferencedRTPlanSequence
              remove: true
            - name: PatientName
              replace-with: NOBODY
    """,
    # Regexes match inside sequences by keyword path and by hex path (private elements too),
    # and their rules meet there (a remove, then a replace-with that does not insert)
    "regex-nested": """
        dicom:
          remove-private-tags: true
          fields:
            - regex: '.*CodeMeaning'
              replace-with: REDACTED
            - regex: '.*Sequence\\.0\\..*UID'
              hashuid: true
            - regex: '.*Sequence\\.1\\..*'
              remove: true
            - regex: '.*Time$'
              replace-with: ''
            - regex: '00[0-9a-f]{2}1[0-9a-f]{3}\\.0\\..*'
              replace-with: ''
            - name: PatientName
              replace-with: NOBODY
    """,
    # remove-undefined keeps what a regex names inside items
    "regex-keeplist": """
        dicom:
          remove-undefined: true
          fields:
            - name: SOPClassUID
            - name: SOPInstanceUID
            - name: PixelData
            - regex: '.*CodeValue'
              replace-with: X
            - regex: '.*Sequence$'
              keep: true
            - regex: '.*\\.0\\.0008....'
              keep: true
    """,
}


@pytest.fixture(scope="module", params=sorted(PROFILES))
def plan(request, tmp_path_factory):
    path = tmp_path_factory.mktemp("profiles") / f"{request.param}.yaml"
    path.write_text(textwrap.dedent(PROFILES[request.param]))
    return compile_profile(str(path))


def both_paths(plan, path, log=False, prepared: FastPlan | None = None):
    """Both paths' outcomes and bytes ("error": ExecutionError; None: the fast path declined).
    ``prepared``: a FastPlan of ``plan`` to reuse across files, as a worker does."""
    fast_out, slow_out = io.BytesIO(), io.BytesIO()
    try:
        fast = deidentify_fast(prepared or FastPlan(plan, log), path, fast_out,
                               rng=random.Random(1))
    except Unsupported:
        fast = None
    except ExecutionError:
        fast = "error"
    try:
        slow = deidentify_file(plan, path, slow_out, rng=random.Random(1), log=log)
    except ExecutionError:
        slow = "error"
    return fast, fast_out.getvalue(), slow, slow_out.getvalue()


@pytest.mark.parametrize("log", [False, True], ids=["", "log"])
@pytest.mark.parametrize("path", TEST_FILES, ids=os.path.basename)
def test_fast_path_matches_dataset_path(plan, path, log):
    """The same bytes, and with a deid log the same cells before and after (every rule's
    element is a column: file meta, sequences, numbers included)."""
    fast, fast_bytes, slow, slow_bytes = both_paths(plan, path, log)
    if fast is None:
        return  # declined: the Dataset path does the work
    assert slow != "error", "the fast path accepted a file the Dataset path rejects"
    assert fast != "error"
    assert fast.changed == slow.changed
    assert fast_bytes == slow_bytes
    assert (fast.log_before, fast.log_after) == (slow.log_before, slow.log_after)


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


@settings(max_examples=int(os.environ.get("DEIDC_FUZZ_EXAMPLES", 150)), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
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


# --- the C accelerator -------------------------------------------------------------------------

import shutil  # noqa: E402
import struct  # noqa: E402
import sysconfig  # noqa: E402

from deidc.execute import fast as fastpath# noqa: E402


def element(tag: int, vr: bytes, value: bytes) -> bytes:
    """An explicit VR little endian element with a 2-byte length, for the scan's direct cases."""
    return struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr, len(value)) + value


def scan_context(total=0, runs=None, implicit=False, after=None, lanes=None, outcomes=None,
                 removed=None):
    """The scan's context (_Walk.scan_context) for direct calls: nothing known by default."""
    return (total, {} if runs is None else runs, implicit, {} if after is None else after,
            lanes or {}, {} if outcomes is None else outcomes, False, fastpath._UNCHANGED,
            set() if removed is None else removed, {}, b"UN", 0)


def fast_only(plan, path, skip_plain):
    """The fast path's outcome with the given header scan (None: the pure-Python walk)."""
    saved, fastpath._skip_plain = fastpath._skip_plain, skip_plain
    out = io.BytesIO()
    try:
        outcome = deidentify_fast(FastPlan(plan), path, out, rng=random.Random(1))
        return outcome.changed, outcome.log_after, out.getvalue()
    except Unsupported as declined:
        return "declined", str(declined)
    finally:
        fastpath._skip_plain = saved


needs_accelerator = pytest.mark.skipif(fastpath._skip_plain is None,
                                       reason="deidc.execute._scan not built (no C compiler?)")


def test_the_accelerator_is_built_where_a_compiler_is():
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None or os.environ.get("DEIDC_PURE_PYTHON"):
        pytest.skip("no C compiler here: the pure-Python walk is used")
    assert fastpath._skip_plain is not None


@needs_accelerator
@pytest.mark.parametrize("path", TEST_FILES, ids=os.path.basename)
def test_the_accelerator_changes_nothing_but_speed(plan, path):
    """Same bytes, same decisions to decline, same reasons, with the C scan and without."""
    assert fast_only(plan, path, fastpath._skip_plain) == fast_only(plan, path, None)


@needs_accelerator
@settings(max_examples=int(os.environ.get("DEIDC_FUZZ_EXAMPLES", 150)), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(source=st.sampled_from(SEED_FILES), data=st.data())
def test_the_accelerator_agrees_on_damaged_files(blocklist_plan, tmp_path_factory, source, data):
    mutated = bytearray(open(source, "rb").read())
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(132, len(mutated) - 1))
        mutated[position] = data.draw(st.integers(0, 255))
    mutated = mutated[:data.draw(st.integers(132, len(mutated)))]
    path = tmp_path_factory.mktemp("scan") / "file.dcm"
    path.write_bytes(bytes(mutated))
    assert fast_only(blocklist_plan, str(path), fastpath._skip_plain) == \
        fast_only(blocklist_plan, str(path), None)


@needs_accelerator
def test_the_scan_stops_where_python_must_look():
    """Direct cases: it passes plain elements and stops at a special tag, a sequence, a private
    element it may not drop, a tag out of order, and a truncated header; it drops private
    elements of groups with nothing kept, queuing the bytes before them."""
    body = (element(0x00080020, b"DA", b"20200101") + element(0x00080060, b"CS", b"CT")
            + element(0x00090010, b"LO", b"ACME") + element(0x00100010, b"PN", b"DOE^J "))
    size = len(body)

    def scan(buffer=body, stop=size, previous=-1, next_stop=2**32, special=(), odd_plain=True,
             keep=None, drop=False, kept_groups=(), out=None):
        out = [] if out is None else out
        result = fastpath._skip_plain(buffer, 0, stop, previous, next_stop, set(special),
                                      odd_plain, keep, True, drop, set(kept_groups), 0, out,
                                      None, None, None, False, scan_context())
        assert result[4] == next_stop  # no inserts: the stop stays
        return result[:4], out

    assert scan() == ((size, 0x00100010, 0, False), [])
    assert scan(special={0x00080060}) == ((16, 0x00080020, 0, False), [])
    assert scan(odd_plain=False) == ((26, 0x00080060, 0, False), [])
    assert scan(next_stop=0x00090000) == ((26, 0x00080060, 0, False), [])
    assert scan(keep={0x00080020}) == ((16, 0x00080020, 0, False), [])
    assert scan(previous=0x00080060) == ((0, 0x00080060, 0, False), [])
    assert scan(stop=size - 3) == ((38, 0x00090010, 0, False), [])
    assert scan(odd_plain=False, drop=True, kept_groups={0x0009}) == \
        ((26, 0x00080060, 0, False), [])
    # the private creator is dropped: 0-26 queued, the run restarts after it
    assert scan(odd_plain=False, drop=True) == ((size, 0x00100010, 38, True), [[0, 26]])
    assert scan(odd_plain=False, drop=True, out=[[5, 0]]) == \
        ((size, 0x00100010, 38, True), [[5, 26]])
    sequence = struct.pack("<HH2sHL", 0x0008, 0x1140, b"SQ", 0, 0)
    assert scan(buffer=sequence + body, stop=12 + size) == ((0, -1, 0, False), [])
    # UN that may be a sequence stored by a system that did not know it: empty, or items
    item = struct.pack("<HHL", 0xFFFE, 0xE000, 0)
    for value in (b"", item):
        un = struct.pack("<HH2sHL", 0x0008, 0x0001, b"UN", 0, len(value)) + value
        assert scan(buffer=un + body, stop=len(un) + size) == ((0, -1, 0, False), [])
    un = struct.pack("<HH2sHL", 0x0008, 0x0001, b"UN", 0, 4) + b"ABCD"
    assert scan(buffer=un + body, stop=16 + size) == ((16 + size, 0x00100010, 0, False), [])


@needs_accelerator
def test_the_scan_writes_the_inserts_it_finds_made():
    """At the top level, past ``next_stop``, it writes a run of inserts FastPlan made already
    (queued after the run so far, values added to ``after``, inserts consumed, the one of a
    present tag dropped) and goes on; it stops where Python must insert: a run not made yet,
    the patient age, an item's inserts."""
    date, modality = element(0x00080020, b"DA", b"20200101"), element(0x00080060, b"CS", b"CT")
    series = element(0x00200011, b"IS", b"2 ")
    body = date + modality + series
    size, after_date = len(body), len(date)
    made = element(0x00080050, b"SH", b"")  # AccessionNumber, inserted empty
    made_runs = {(0, 1, False, None): (made, {0x00080050: ""})}

    def scan(inserts, runs, special=(), age_pending=False, top=True):
        out, after = [], {}
        pending = list(inserts)
        next_stop = min(pending[0][0] if pending else 2**32,
                        0x00101010 if age_pending else 2**32)
        result = fastpath._skip_plain(body, 0, size, -1, next_stop, set(special), True, None,
                                      top, False, set(), 0, out, None,
                                      pending if top else None, None, age_pending,
                                      scan_context(len(inserts), runs, after=after))
        return result, out, pending, after

    accession, modality_insert = (0x00080050, "what"), (0x00080060, "what")
    # made: written before Modality, then on to the end; Modality's own insert dropped
    assert scan([accession, modality_insert], made_runs) == (
        (size, 0x00200011, after_date, True, 2**32), [[0, after_date], made], [],
        {0x00080050: ""})
    # an empty run (what is inserted is nothing, as when a chain removes) changes nothing
    assert scan([accession], {(0, 1, False, None): (b"", {})}) == (
        (size, 0x00200011, after_date, False, 2**32), [[0, after_date]], [], {})
    # not made yet: it stops at Modality, having written nothing
    assert scan([accession], {}) == ((after_date, 0x00080020, 0, False, 0x00080050), [],
                                     [accession], {})
    # an element the walk looks at: the inserts before it written, then it stops there
    assert scan([accession], made_runs, special={0x00080060}) == (
        (after_date, 0x00080020, after_date, True, 2**32), [[0, after_date], made], [],
        {0x00080050: ""})
    # the age is pending and comes before SeriesNumber: its stop is Python's
    age = (0x00101010, "what")
    assert scan([age], {}, age_pending=True)[0] == (after_date + len(modality), 0x00080060, 0,
                                                   False, 0x00101010)
    # in an item, inserts are Python's
    assert scan([accession], made_runs, top=False)[0][:2] == (after_date, 0x00080020)


@needs_accelerator
def test_the_scan_passes_the_lanes_whose_outcome_is_known():
    """A top-level attribute of the plan's lanes: removed when its lane removes it, written as
    the outcome the walk found for that value before (replaced, dropped, or left in the run
    when unchanged), and left to Python when the value is new."""
    date, name = element(0x00080020, b"DA", b"20200101"), element(0x00100010, b"PN", b"DOE^J ")
    series = element(0x00200011, b"IS", b"2 ")
    body = date + name + series
    size, name_at, name_end = len(body), len(date), len(date) + len(name)
    chain = (3,)
    new_name = element(0x00100010, b"PN", b"")

    def scan(lane, outcome=None, top=True):
        out, after, removed = [], {}, set()
        outcomes = {} if outcome is None else {
            (0x00100010, b"PN", b"DOE^J ", False, None, chain): outcome}
        result = fastpath._skip_plain(body, 0, size, -1, 2**32, {0x00100010}, True, None, top,
                                      False, set(), 0, out, None, None, None, False,
                                      scan_context(after=after, lanes={0x00100010: lane},
                                                   outcomes=outcomes, removed=removed))
        return result, out, after, removed

    lane = ((), False, chain, None)
    assert scan(lane, (new_name, "")) == (
        (size, 0x00200011, name_end, True, 2**32), [[0, name_at], new_name],
        {0x00100010: ""}, set())
    assert scan(lane, (None, None)) == (
        (size, 0x00200011, name_end, True, 2**32), [[0, name_at]], {0x00100010: None},
        {0x00100010})
    assert scan(lane, (fastpath._UNCHANGED, ["DOE^J"])) == (
        (size, 0x00200011, 0, False, 2**32), [], {0x00100010: ["DOE^J"]}, set())
    assert scan(((), True, None, None)) == (
        (size, 0x00200011, name_end, True, 2**32), [[0, name_at]], {0x00100010: None},
        {0x00100010})
    # Python's: a value not met before, a chain whose outcome may not be reused, an item
    for stopped in (scan(lane), scan(((), False, None, None), (new_name, "")),
                    scan(lane, (new_name, ""), top=False)):
        assert stopped == ((name_at, 0x00080020, 0, False, 2**32), [], {}, set())


@needs_accelerator
@pytest.mark.parametrize("stored, outcome", [
    (b"DOE^J ", "replaced"), (b"ANON", "unchanged"), (b"ANON^X", "replaced"), (b"", "replaced"),
    (b" ANON ", "replaced"),  # a leading space stays: that is not the constant
    (b"DOE  ", "Python's"),  # padded beyond even: pydicom writes it back otherwise
    (b"DOE\\J", "Python's"), (b"DO\xc9", "Python's"), (b"DOE\0", "Python's"),
    (b"DOE^J=", "Python's"),  # an empty trailing component group, which pydicom drops
])
def test_the_scan_tells_a_constant_lanes_outcome_from_the_value_alone(stored, outcome):
    """A lane whose chain replaces whatever the value: a value met for the first time is
    replaced by the constant's bytes, or left as it is when it is the constant already, when
    it is plain ASCII text that the walk reads and writes back as stored; anything else is
    Python's, which reads the value (and may send the file to the Dataset path)."""
    name = element(0x00100010, b"PN", stored)
    series = element(0x00200011, b"IS", b"2 ")
    body, name_end = name + series, len(name)
    replaced = element(0x00100010, b"PN", b"ANON")

    def scan(constants, vr=b"PN"):
        out, after = [], {}
        lane = ((), False, (3,), constants)
        result = fastpath._skip_plain(body, 0, len(body), -1, 2**32, {0x00100010}, True, None,
                                      True, False, set(), 0, out, None, None, None, False,
                                      scan_context(after=after, lanes={0x00100010: lane}))
        return result, out, after

    known = {(b"PN", None, False, False): (replaced, "ANON", b"ANON")}
    expected = {
        "replaced": ((len(body), 0x00200011, name_end, True, 2**32), [replaced],
                     {0x00100010: "ANON"}),
        "unchanged": ((len(body), 0x00200011, 0, False, 2**32), [], {0x00100010: "ANON"}),
        "Python's": ((0, -1, 0, False, 2**32), [], {}),
    }
    assert scan(known) == expected[outcome]
    # not yet made for this VR, encoding or character set, or not to be made: Python's
    for constants in ({}, {(b"PN", None, False, True): known[(b"PN", None, False, False)]},
                      {(b"PN", None, False, False): None}):
        assert scan(constants) == expected["Python's"]


@needs_accelerator
@settings(max_examples=400, deadline=None)
@given(stored=st.lists(st.sampled_from(b" \\=^AZaz09\x00\x1b\x7f\xc9"), max_size=9).map(bytes),
       vr=st.sampled_from([b"PN", b"LO", b"SH", b"DA", b"CS", b"LT", b"UT", b"UR", b"AE", b"UI",
                           b"DS"]),
       constant=st.sampled_from(["", "ANON", "A Z", "ÉTÉ"]))
def test_the_scans_constant_decision_is_the_walks(stored, vr, constant):
    """Whatever a constant lane's stored value, the C scan decides it only as the walk would:
    replaced where fast.decode reads a value other than the constant, left as it is where it
    reads the constant, and never where decode declines the value (the walk then sends the
    file to the Dataset path); anything else it may leave to Python."""
    stored += b" " * (len(stored) % 2)
    body = element(0x00100010, vr, stored) + element(0x00200011, b"IS", b"2 ")
    replaced = element(0x00100010, vr, b"X" * 6)  # any bytes: only where they go is checked
    text = constant.encode() if constant.isascii() else None
    lane = ((), False, (3,), {(vr, None, False, False): (replaced, constant, text)})
    out: list = []
    offset = fastpath._skip_plain(body, 0, len(body), -1, 2**32, {0x00100010}, True, None, True,
                                  False, set(), 0, out, None, None, None, False,
                                  scan_context(lanes={0x00100010: lane}))[0]
    try:
        read = fastpath.decode(stored, vr.decode())
    except Unsupported:
        read = Unsupported
    if offset == 0:  # left to Python
        return
    assert read is not Unsupported, "the scan decided a value the walk declines"
    assert type(read) is str
    assert out == ([] if read == constant else [replaced])


@needs_accelerator
@pytest.mark.parametrize("vr", [b"AE", b"UI", b"DS", b"IS", b"US", b"FL"])
def test_a_constant_lane_of_a_vr_read_otherwise_is_pythons(vr):
    """AE strips leading spaces, UI pads with NUL, DS and IS are numbers, the others are not
    text: the C scan leaves their values to Python even when the constant is known."""
    body = element(0x00100010, vr, b"DOE ") + element(0x00200011, b"IS", b"2 ")
    known = {(vr, None, False, False): (element(0x00100010, vr, b"ANON"), "ANON", b"ANON")}
    after: dict = {}
    result = fastpath._skip_plain(body, 0, len(body), -1, 2**32, {0x00100010}, True, None, True,
                                  False, set(), 0, [], None, None, None, False,
                                  scan_context(after=after, lanes={
                                      0x00100010: ((), False, (3,), known)}))
    assert (result, after) == ((0, -1, 0, False, 2**32), {})


@needs_accelerator
def test_the_scan_copies_the_short_sequences_no_rule_names():
    """A plan that enters no sequence copies a top-level sequence it does not name whole
    (_Walk.copy_sequence): the scan keeps it in the run when it has a defined length, is
    public and short enough for check_depth not to look inside, and, in explicit VR, holds no
    "UN" bytes that might be a UN sequence pydicom would rewrite.  Anything else stops it."""
    item = struct.pack("<HHL", 0xFFFE, 0xE000, 14) + element(0x00080100, b"SH", b"CODE12")
    series = element(0x00200011, b"IS", b"2 ")

    def sequence(tag, value, length=None):
        length = len(value) if length is None else length
        return struct.pack("<HH2sHL", tag >> 16, tag & 0xFFFF, b"SQ", 0, length) + value

    def scan(body, sequence_bytes=1600, special=(), top=True, implicit=None):
        context = scan_context()[:11] + (sequence_bytes,)
        return fastpath._skip_plain(body, 0, len(body), -1, 2**32, set(special), True, None,
                                    top, False, set(), 0, [], implicit, None, None, False,
                                    context)

    procedure = sequence(0x00081032, item) + series
    passed = (len(procedure), 0x00200011, 0, False, 2**32)
    stopped = (0, -1, 0, False, 2**32)
    assert scan(procedure) == passed
    assert scan(procedure, sequence_bytes=0) == stopped  # the plan enters sequences
    assert scan(procedure, sequence_bytes=len(item)) == stopped  # check_depth looks inside
    assert scan(procedure, special={0x00081032}) == stopped  # a rule names it
    assert scan(procedure, top=False) == stopped  # in an item: the walk's
    assert scan(sequence(0x00091032, item) + series) == stopped  # private
    unknown = struct.pack("<HHL", 0xFFFE, 0xE000, 14) + element(0x00080100, b"SH", b"UNIT12")
    assert scan(sequence(0x00081032, unknown) + series) == stopped  # "UN" bytes in it
    undefined = sequence(0x00081032, item + struct.pack("<HHL", 0xFFFE, 0xE0DD, 0),
                         length=0xFFFFFFFF) + series
    assert scan(undefined) == stopped
    # implicit VR: the dictionary's sequences, and no VR to look for
    implicit = struct.pack("<HHL", 0x0008, 0x1032, len(unknown)) + unknown + \
        struct.pack("<HHL", 0x0020, 0x0011, 2) + b"2 "
    assert scan(implicit, implicit={0x00081032}) == (len(implicit), 0x00200011, 0, False,
                                                     2**32)
    assert scan(implicit, sequence_bytes=0, implicit={0x00081032}) == stopped


@needs_accelerator
@settings(max_examples=300, deadline=None)
@given(value=st.lists(st.sampled_from([b"UN", b"U", b"N", b"\xfe\xff\x00\xe0", b"SQ", b"\x00\x00",
                                       b"AB"]), max_size=12).map(b"".join),
       implicit=st.booleans())
def test_a_sequence_the_scan_passes_is_one_the_walk_copies(value, implicit):
    """Whatever a short top-level sequence holds, the C scan keeps it in the run only where the
    walk would read it (stream.read_element: its length fits and is even) and copy it whole
    (stream.check_no_un_sequence finds nothing pydicom would rewrite)."""
    tag = 0x00081032
    if implicit:
        body = struct.pack("<HHL", tag >> 16, tag & 0xFFFF, len(value)) + value
    else:
        body = struct.pack("<HH2sHL", tag >> 16, tag & 0xFFFF, b"SQ", 0, len(value)) + value
    context = scan_context(implicit=implicit)[:11] + (1600,)
    offset = fastpath._skip_plain(body, 0, len(body), -1, 2**32, set(), True, None, True, False,
                                  set(), 0, [], {tag} if implicit else None, None, None, False,
                                  context)[0]
    if offset == 0:  # left to the walk
        return
    from deidc.execute.stream import check_no_un_sequence, read_element

    sequence = read_element(body, 0, len(body), {tag} if implicit else None)
    assert (sequence.vr, sequence.end, offset) == (b"SQ", len(body), len(body))
    if not implicit:
        check_no_un_sequence(body, sequence, len(body))


@needs_accelerator
def test_the_scan_empties_or_drops_a_sequence_its_lane_decides():
    """A short sequence of a lane: dropped when the lane removes it, emptied by a constant ''
    (left as it is when it is empty already), as _Walk.sequence does; a constant that is not
    '', or a plan that enters sequences, leaves it to Python."""
    tag = 0x00101002
    item = struct.pack("<HHL", 0xFFFE, 0xE000, 10) + element(0x00100020, b"LO", b"ID01")
    series = element(0x00200011, b"IS", b"2 ")
    emptied = struct.pack("<HH2sHL", tag >> 16, tag & 0xFFFF, b"SQ", 0, 0)

    def scan(value, lane, sequence_bytes=1600):
        body = struct.pack("<HH2sHL", tag >> 16, tag & 0xFFFF, b"SQ", 0, len(value)) + value \
            + series
        out, after, removed = [], {}, set()
        context = scan_context(after=after, lanes={tag: lane}, removed=removed)[:11] + (
            sequence_bytes,)
        result = fastpath._skip_plain(body, 0, len(body), -1, 2**32, {tag}, True, None, True,
                                      False, set(), 0, out, None, None, None, False, context)
        return result[:4], out, after, removed

    constant = ((), False, (3,), {(b"SQ", None, False, False): (emptied, "", b"")})
    sequence_end = 12 + len(item)
    assert scan(item, constant) == ((sequence_end + len(series), 0x00200011, sequence_end, True),
                                    [emptied], {tag: ""}, set())
    assert scan(b"", constant) == ((12 + len(series), 0x00200011, 0, False), [], {tag: ""}, set())
    assert scan(item, ((), True, None, None)) == (
        (sequence_end + len(series), 0x00200011, sequence_end, True), [], {tag: None}, {tag})
    stopped = ((0, -1, 0, False), [], {}, set())
    other = ((), False, (3,), {(b"SQ", None, False, False): (emptied, "X", b"X")})
    assert scan(item, other) == stopped
    assert scan(item, constant, sequence_bytes=0) == stopped


@needs_accelerator
@pytest.mark.parametrize("implicit", [False, True], ids=["explicit", "implicit"])
def test_sequences_a_lane_empties_get_the_dataset_paths_bytes(tmp_path, implicit, monkeypatch):
    """Files whose OtherPatientIDsSequence a replace-with '' empties, done with one FastPlan as
    in a run: the walk empties the first in Python, the C scan the others, and every file
    gets the Dataset path's bytes."""
    import pydicom
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ImplicitVRLittleEndian

    profile = tmp_path / "p.yaml"
    profile.write_text("dicom:\n  fields:\n    - name: OtherPatientIDsSequence\n"
                       "      replace-with: ''\n    - name: PatientName\n"
                       "      replace-with: ''\n")
    plan = compile_profile(str(profile))
    paths = []
    for number, ids in enumerate([[], ["A1"], ["B2", "C3"], ["D4"]]):
        ds = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
        ds.OtherPatientIDsSequence = Sequence([Dataset() for _ in ids])
        for item, patient_id in zip(ds.OtherPatientIDsSequence, ids):
            item.PatientID = patient_id
        ds.PatientName = f"DOE^{number}"
        if implicit:
            ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
        paths.append(str(tmp_path / f"{number}.dcm"))
        ds.save_as(paths[-1], enforce_file_format=True)
    in_python = []
    walk_sequence = fastpath._Walk.sequence

    def sequence(self, element, *rest):
        in_python.append(element.tag)
        return walk_sequence(self, element, *rest)

    monkeypatch.setattr(fastpath._Walk, "sequence", sequence)
    shared = FastPlan(plan)
    for path in paths + paths:
        fast, fast_bytes, slow, slow_bytes = both_paths(plan, path, prepared=shared)
        assert fast is not None and fast_bytes == slow_bytes, path
    assert in_python == [0x00101002]


def test_the_accelerator_and_python_agree_once_the_runs_are_made(plan):
    """A FastPlan shared across files, as in a run, holds the insert runs and the outcomes the
    C scan writes itself: every file, done twice over with one, gives the pure-Python walk's
    bytes."""
    if fastpath._skip_plain is None:
        pytest.skip("deidc.execute._scan not built (no C compiler?)")

    def outcomes(skip_plain):
        shared = FastPlan(plan)
        saved, fastpath._skip_plain = fastpath._skip_plain, skip_plain
        results = []
        try:
            for path in TEST_FILES + TEST_FILES:
                out = io.BytesIO()
                try:
                    outcome = deidentify_fast(shared, path, out, rng=random.Random(1))
                    results.append((outcome.changed, outcome.log_after, out.getvalue()))
                except (Unsupported, ExecutionError) as declined:
                    results.append(str(declined))
        finally:
            fastpath._skip_plain = saved
        return results, shared

    accelerated, shared = outcomes(fastpath._skip_plain)
    assert accelerated == outcomes(None)[0]
    if shared.inserts and not shared.unsupported:
        assert shared.inserted_runs, "no run was made: the C inserts would not be tested"


@pytest.mark.parametrize("length", [0, 2, None], ids=["right", "wrong", "none"])
def test_a_file_meta_group_is_written_as_the_dataset_path_writes_it(tmp_path, length):
    """With no rule on the file meta, the walk copies the group as stored when pydicom would
    write the same bytes, and rewrites it otherwise: a group length that is wrong (pydicom
    recomputes it) or missing (pydicom writes none), a MediaStorageSOPInstanceUID that is not
    the SOPInstanceUID (pydicom's writer follows the dataset's)."""
    import pydicom

    profile = tmp_path / "profile.yaml"
    profile.write_text("dicom:\n  fields:\n    - name: PatientName\n      replace-with: ''\n"
                       "    - name: AccessionNumber\n      replace-with: ''\n")
    plan = compile_profile(str(profile))
    assert not FastPlan(plan).meta_entries
    data = bytearray(open(get_testdata_file("CT_small.dcm", download=False), "rb").read())
    assert data[132:140] == struct.pack("<HH2sH", 2, 0, b"UL", 4)
    if length is None:
        del data[132:144]
    else:
        data[140:144] = struct.pack("<L", struct.unpack_from("<L", data, 140)[0] + length)
    stored_uid = b"1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322"
    for other_uid in (False, True):
        if other_uid:  # the first occurrence is the file meta's; as long, so no padding
            at = data.index(stored_uid)
            data[at:at + len(stored_uid)] = stored_uid[:-1] + b"9"
        path = tmp_path / "file.dcm"
        path.write_bytes(bytes(data))
        fast, fast_bytes, slow, slow_bytes = both_paths(plan, str(path))
        assert fast not in (None, "error") and fast_bytes == slow_bytes
        written = pydicom.dcmread(io.BytesIO(fast_bytes))
        assert written.file_meta.MediaStorageSOPInstanceUID == written.SOPInstanceUID
        if length is not None:
            meta_end = fast_bytes.index(struct.pack("<HH", 8, 5))  # SpecificCharacterSet
            assert written.file_meta.FileMetaInformationGroupLength == meta_end - 144


@pytest.mark.parametrize("log", [False, True], ids=["", "log"])
def test_outcomes_reused_across_files_give_the_same_bytes(plan, log):
    """One FastPlan per process reuses deterministic outcomes and logged sequences' cells
    between files (series share values): every file, processed twice after all the others,
    still matches the Dataset path, bytes and deid-log cells."""
    shared = FastPlan(plan, log)
    for _ in range(2):
        for path in TEST_FILES:
            out = io.BytesIO()
            try:
                outcome = deidentify_fast(shared, path, out, rng=random.Random(1))
            except (Unsupported, ExecutionError):
                continue
            expected = io.BytesIO()
            slow = deidentify_file(plan, path, expected, rng=random.Random(1), log=log)
            assert (outcome.changed, out.getvalue(), outcome.log_before, outcome.log_after) \
                == (slow.changed, expected.getvalue(), slow.log_before, slow.log_after), path
    if shared.unsupported:
        return
    transforming = any(entry.kind == "tag" and any(
        action.op in ("replace", "hash", "hashuid", "shift_date") for action in entry.actions)
        for entry in plan.entries)
    if transforming:
        assert shared.outcomes, "nothing was reused: the test would not show a stale outcome"
    if any(tag in shared.sequences for _, tag in shared.logged):
        assert shared.sequence_cells, "no sequence cell was reused: a stale one would not show"


# --- large files: mapped, pixel data copied without passing through Python objects -------------

@pytest.fixture(scope="module")
def large_file(tmp_path_factory):
    """CT_small with 9.4 MB of pixel data: above READ_WHOLE, so the file is mapped and its pixel
    data copied in long runs (KERNEL_COPY and up)."""
    import pydicom

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
    ds.Rows, ds.Columns = 1536, 3072
    ds.PixelData = bytes(range(256)) * (1536 * 3072 * 2 // 256)
    path = tmp_path_factory.mktemp("large") / "large.dcm"
    ds.save_as(path, enforce_file_format=True)
    assert path.stat().st_size > READ_WHOLE
    return str(path)


@pytest.mark.parametrize("profile", ["blocklist", "unchanged"])
def test_large_files_give_the_dataset_path_bytes(large_file, tmp_path, profile, monkeypatch):
    """blocklist: the header changes length, so the pixel data lands at another offset within
    a page (the buffered copy); unchanged: the whole file is copied at the same offsets (the
    kernel's copy_file_range)."""
    text = PROFILES["blocklist"] if profile == "blocklist" else """
    dicom:
      fields:
        - name: PatientComments
          remove: true
    """
    path = tmp_path / "profile.yaml"
    path.write_text(textwrap.dedent(text))
    plan = compile_profile(str(path))
    used = []
    for name in ("_kernel_copy", "_buffered_copy"):
        original = getattr(fastpath, name)
        monkeypatch.setattr(fastpath, name, lambda *a, _f=original, _n=name: (
            used.append(_n), _f(*a))[1])
    fast_out, slow_out = tmp_path / "fast.dcm", tmp_path / "slow.dcm"
    with open(fast_out, "wb") as out:
        fast = deidentify_fast(FastPlan(plan), large_file, out, rng=random.Random(1))
    assert used == (["_buffered_copy"] if profile == "blocklist" else ["_kernel_copy"])
    with open(slow_out, "wb") as out:
        slow = deidentify_file(plan, large_file, out, rng=random.Random(1))
    assert fast.changed == slow.changed == (profile == "blocklist")
    assert fast_out.read_bytes() == slow_out.read_bytes()


# --- inserts: in tag order, at the top level and in the file meta --------------------------------

def _file_order(path) -> list[int]:
    """Top-level tags as they lie in the file (pydicom's raw walk, not the dataset's sort)."""
    from pydicom.filereader import data_element_generator

    with open(path, "rb") as handle:
        handle.seek(132)
        meta = [e.tag for e in data_element_generator(handle, False, True,
                                                      stop_when=lambda tag, *_: tag >> 16 != 2)]
        body = [int(e.tag) for e in data_element_generator(handle, False, True)]
    return meta + body


@pytest.fixture(scope="module")
def age_gap_file(tmp_path_factory):
    """CT_small without PatientAge and with nothing stored between it and
    DeidentificationMethod, so the age and two replace-with inserts meet at one place
    (issue 10, item 2); OtherPatientIDsSequence holds two items, to be emptied; the file meta
    lacks SourceApplicationEntityTitle, to be inserted."""
    import pydicom
    from pydicom.dataset import Dataset

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
    for tag in list(ds.keys()):
        if 0x00101010 <= tag <= 0x00120063:
            del ds[tag]
    ds.PatientBirthDate, ds.StudyDate = "19700301", "20040119"
    ds.OtherPatientIDsSequence = [Dataset(), Dataset()]
    ds.OtherPatientIDsSequence[0].PatientID = "OLD-1"
    if "SourceApplicationEntityTitle" in ds.file_meta:
        del ds.file_meta.SourceApplicationEntityTitle
    path = tmp_path_factory.mktemp("inserts") / "age_gap.dcm"
    ds.save_as(path, enforce_file_format=True)
    return str(path)


def test_inserts_meet_the_patient_age_in_ascending_tag_order(age_gap_file, tmp_path):
    path = tmp_path / "inserts.yaml"
    path.write_text(textwrap.dedent(PROFILES["inserts"]))
    plan = compile_profile(str(path))
    fast, fast_bytes, slow, slow_bytes = both_paths(plan, age_gap_file)
    assert fast not in (None, "error"), "the fast path must take inserts, SQ ones included"
    assert fast_bytes == slow_bytes
    written = tmp_path / "out.dcm"
    written.write_bytes(fast_bytes)
    order = _file_order(written)
    assert order == sorted(order)
    import pydicom

    ds = pydicom.dcmread(written)
    assert (ds.PatientAge, ds.PatientIdentityRemoved, ds.DeidentificationMethod) == \
        ("406M", "YES", "deidc inserts")  # 33 years 10 months, in months as Flywheel counts
    assert len(ds.OtherPatientIDsSequence) == 0 and len(ds.RequestAttributesSequence) == 0
    assert (ds.PlanarConfiguration, ds.DiffusionBValue, ds.AcquisitionNumber) == (0, 1000.5, 7)
    assert ds.file_meta.SourceApplicationEntityTitle == "DEIDC"


# --- sequences stored as UN (issue 10, item 1) -----------------------------------------------

from tests.un_sequences import (CODE_MEANING, PRIVATE_VALUE, PROCEDURE_ID,  # noqa: E402
                                REQUEST_ATTRIBUTES, write_un_file)

UN_PROFILES = {
    "remove-private-tags": """
        dicom:
          remove-private-tags: true
          fields:
            - name: PatientID
              replace-with: ANON
    """,
    "recurse-sequence": """
        dicom:
          recurse-sequence: true
          fields:
            - name: RequestedProcedureID
              replace-with: REDACTED
            - name: CodeMeaning
              replace-with: REDACTED
    """,
    "remove-undefined": """
        dicom:
          remove-undefined: true
          fields:
            - name: SOPClassUID
            - name: SOPInstanceUID
            - name: RequestAttributesSequence
            - name: ReferencedStudySequence
            - name: PixelData
    """,
    "untouched-sequences": """
        dicom:
          fields:
            - name: PatientID
              replace-with: ANON
    """,
}
UN_LAYOUTS = {
    "defined": {},
    "undefined": {"undefined": True},
    "undefined-items": {"items_undefined": True},
    "all-undefined": {"undefined": True, "items_undefined": True},
    "empty": {"empty": True},
    "nested": {"nested": True},
    "nested-undefined": {"nested": True, "undefined": True, "items_undefined": True},
}


@pytest.fixture(scope="module", params=sorted(UN_PROFILES))
def un_plan(request, tmp_path_factory):
    path = tmp_path_factory.mktemp("un-profiles") / f"{request.param}.yaml"
    path.write_text(textwrap.dedent(UN_PROFILES[request.param]))
    return request.param, compile_profile(str(path))


def _strings(ds) -> list:
    """Every text value and every private tag, items included (pydicom's own walk)."""
    found = []
    for element in ds.iterall():
        if element.tag.group & 1 and element.tag.element >= 0x1000:
            found.append(f"private {element.tag:08x}")
        value = element.value
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        found.append(str(value))
    return found


@pytest.mark.parametrize("accelerated", [True, False], ids=["C", "python"])
@pytest.mark.parametrize("layout", sorted(UN_LAYOUTS))
def test_a_sequence_stored_as_un_gets_the_dataset_paths_bytes(un_plan, layout, accelerated,
                                                             tmp_path):
    """The fast path used to copy such a sequence whole: a private element survived
    remove-private-tags, a value recurse-sequence and remove-undefined.  Now it gives the
    Dataset path's bytes (it declines the file), and those bytes hold no PHI the policy takes
    out, walked here with pydicom."""
    import pydicom

    if accelerated and fastpath._skip_plain is None:
        pytest.skip("deidc.execute._scan not built")
    kind, plan = un_plan
    source = write_un_file(tmp_path / "un.dcm", **UN_LAYOUTS[layout])
    fast = fast_only(plan, source, fastpath._skip_plain if accelerated else None)
    slow_out = io.BytesIO()
    deidentify_file(plan, source, slow_out, rng=random.Random(1))
    if fast[0] != "declined":  # declined: the Dataset path writes the file
        assert fast[-1] == slow_out.getvalue()
    written = pydicom.dcmread(io.BytesIO(slow_out.getvalue()))
    values = _strings(written)
    if layout == "empty":
        assert written[REQUEST_ATTRIBUTES].VR == "SQ" and not written[REQUEST_ATTRIBUTES].value
        return
    if kind == "remove-private-tags":
        assert not [v for v in values if v.startswith("private")]
        assert PRIVATE_VALUE not in values and PROCEDURE_ID in values
    elif kind == "recurse-sequence":
        assert PROCEDURE_ID not in values and CODE_MEANING not in values
        assert values.count("REDACTED") == 4  # the two inside, and the two inserted on top
    elif kind == "remove-undefined":
        # named by a plain name, a sequence stays with its items emptied, as in Flywheel
        assert PROCEDURE_ID not in values and PRIVATE_VALUE not in values
        assert CODE_MEANING not in values
    else:
        assert PROCEDURE_ID in values and PRIVATE_VALUE in values


# --- values pydicom writes back otherwise ------------------------------------------------------

PADDING_PROFILE = """
    dicom:
      fields:
        - name: PatientID
          replace-with: ANON
        - name: EthnicGroup
          replace-with: ''
"""


@pytest.mark.parametrize("accelerated", [True, False], ids=["C", "python"])
@pytest.mark.parametrize("stored", ["EthnicGroup", "SOPInstanceUID"])
def test_a_value_pydicom_writes_back_otherwise_gets_the_dataset_paths_bytes(stored, accelerated,
                                                                           tmp_path):
    """The Dataset path re-encodes every element it reads: an EthnicGroup of two spaces, which
    pydicom reads as '' (so replace-with '' leaves it) and writes empty, and a SOP Instance UID
    padded with a space (read for the file meta), written with a null.  The fast path copied
    both as they stood (found on pydicom-data's RG1/RG3 and color3d files)."""
    import pydicom

    if accelerated and fastpath._skip_plain is None:
        pytest.skip("deidc.execute._scan not built")
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
    if stored == "EthnicGroup":
        ds.EthnicGroup = "  "
    else:
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3.4"
    source = tmp_path / "padded.dcm"
    ds.save_as(source, enforce_file_format=True)
    if stored == "SOPInstanceUID":  # pydicom pads a UI with a null: store a space instead
        source.write_bytes(source.read_bytes().replace(b"1.2.3.4\0", b"1.2.3.4 "))
    profile = tmp_path / "profile.yaml"
    profile.write_text(textwrap.dedent(PADDING_PROFILE))
    plan = compile_profile(str(profile))
    fast = fast_only(plan, str(source), fastpath._skip_plain if accelerated else None)
    slow_out = io.BytesIO()
    deidentify_file(plan, str(source), slow_out, rng=random.Random(1))
    if fast[0] != "declined":
        assert fast[-1] == slow_out.getvalue()
    written = pydicom.dcmread(io.BytesIO(slow_out.getvalue()))
    assert written.PatientID == "ANON"
    assert written[stored].value == {"EthnicGroup": "", "SOPInstanceUID": "1.2.3.4"}[stored]


# --- remove-undefined and private creators (issue 10, item 4) --------------------------------

CREATOR_KEEPLIST = """
    dicom:
      remove-undefined: true
      fields:
        - name: SOPClassUID
        - name: SOPInstanceUID
        - name: PixelData
        - name: (0009, "GEMS_IDEN_01", {gems})
        - name: (0019, "GEMS_ACQU_01", {acqu})
"""


@pytest.mark.parametrize("accelerated", [True, False], ids=["C", "python"])
def test_remove_undefined_drops_a_creator_whose_block_keeps_nothing(accelerated, tmp_path):
    """A creator-form keep naming an offset the file lacks leaves nothing in its block: the
    creator goes too, as Flywheel's does; a block that keeps an element keeps its creator."""
    import pydicom

    if accelerated and fastpath._skip_plain is None:
        pytest.skip("deidc.execute._scan not built")
    profile = tmp_path / "keeplist.yaml"
    profile.write_text(textwrap.dedent(CREATOR_KEEPLIST.format(gems="99", acqu="02")))
    plan = compile_profile(str(profile))
    source = get_testdata_file("CT_small.dcm", download=False)
    fast = fast_only(plan, source, fastpath._skip_plain if accelerated else None)
    slow_out = io.BytesIO()
    deidentify_file(plan, source, slow_out, rng=random.Random(1))
    assert fast[0] != "declined", fast
    assert fast[-1] == slow_out.getvalue()
    written = pydicom.dcmread(io.BytesIO(slow_out.getvalue()))
    assert sorted(f"{e.tag:08X}" for e in written if e.tag.group & 1) == \
        ["00190010", "00191002"]


# --- Implicit VR Little Endian -----------------------------------------------------------------

IMPLICIT_SOURCES = ("CT_small.dcm", "MR_small.dcm", "reportsi.dcm", "test-SR.dcm",
                    "waveform_ecg.dcm", "liver_1frame.dcm", "examples_overlay.dcm",
                    "SC_ybr_full_422_uncompressed.dcm")


@pytest.fixture(scope="module")
def implicit_files(tmp_path_factory):
    """Rich explicit VR test files (private blocks, nested sequences, SR trees, waveforms,
    overlays, a multi-frame image, UTF-8) rewritten by pydicom in Implicit VR Little Endian, as
    a C-STORE archive holds them."""
    import pydicom
    from pydicom.uid import ImplicitVRLittleEndian

    folder = tmp_path_factory.mktemp("implicit")
    paths = []
    for name in IMPLICIT_SOURCES:
        ds = pydicom.dcmread(get_testdata_file(name, download=False))
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
        path = folder / name
        ds.save_as(path, enforce_file_format=True)
        paths.append(str(path))
    return paths


@pytest.mark.parametrize("log", [False, True], ids=["", "log"])
def test_implicit_vr_files_give_the_dataset_path_bytes(plan, implicit_files, log):
    """Implicit VR files are read with the plan's copy of the dictionary's sequences and written
    in implicit VR, as pydicom writes them; the fast path takes each one it takes in explicit
    VR."""
    explicit = [get_testdata_file(name, download=False) for name in IMPLICIT_SOURCES]
    taken_explicit = sum(both_paths(plan, path, log)[0] not in (None, "error")
                         for path in explicit)
    taken = 0
    for path in implicit_files:
        assert open(path, "rb").read(0x200).count(b"1.2.840.10008.1.2\0") == 1
        fast, fast_bytes, slow, slow_bytes = both_paths(plan, path, log)
        if fast is None:
            continue
        taken += 1
        assert slow != "error" and fast != "error", path
        assert fast.changed == slow.changed, path
        assert fast_bytes == slow_bytes, path
        assert (fast.log_before, fast.log_after) == (slow.log_before, slow.log_after), path
    assert taken == taken_explicit


def test_an_implicit_vr_file_with_an_explicit_body_goes_to_the_dataset_path(tmp_path):
    """pydicom reads such a body as explicit VR (and rewrites it so): the fast path declines."""
    import pydicom
    from pydicom.uid import ImplicitVRLittleEndian

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    path = tmp_path / "explicit-body.dcm"
    pydicom.dcmwrite(path, ds, implicit_vr=False, little_endian=True, force_encoding=True)
    profile = tmp_path / "profile.yaml"
    profile.write_text(textwrap.dedent(PROFILES["blocklist"]))
    with pytest.raises(Unsupported, match="explicit VR"):
        deidentify_fast(FastPlan(compile_profile(str(profile))), str(path), io.BytesIO(),
                        rng=random.Random(1))


def test_a_plan_without_the_dictionary_sequences_sends_implicit_files_away(implicit_files,
                                                                          tmp_path):
    """Plans compiled before the plan carried the sequences still run; their implicit files
    take the Dataset path, since the walk cannot tell which elements are sequences."""
    profile = tmp_path / "profile.yaml"
    profile.write_text(textwrap.dedent(PROFILES["blocklist"]))
    plan = compile_profile(str(profile))._replace(sequences=())
    with pytest.raises(Unsupported, match="recompile"):
        deidentify_fast(FastPlan(plan), implicit_files[0], io.BytesIO(), rng=random.Random(1))


@needs_accelerator
def test_the_accelerator_changes_nothing_on_implicit_vr_files(plan, implicit_files):
    for path in implicit_files:
        assert fast_only(plan, path, fastpath._skip_plain) == fast_only(plan, path, None), path


@needs_accelerator
def test_the_implicit_scan_stops_at_sequences_and_undefined_lengths():
    def element(tag, value, length=None):
        return struct.pack("<HHL", tag >> 16, tag & 0xFFFF,
                           len(value) if length is None else length) + value

    plain = element(0x00080020, b"20200101") + element(0x00080060, b"CT")
    sequence = element(0x00081140, b"")
    undefined = element(0x00091001, b"", 0xFFFFFFFF)
    for body, stops_at in ((plain, len(plain)), (plain + sequence, len(plain)),
                           (plain + undefined, len(plain))):
        result = fastpath._skip_plain(body, 0, len(body), -1, 2**32, set(), True, None, True,
                                      False, set(), 0, [], {0x00081140}, None, None, False,
                                      scan_context(implicit=True))
        assert result[0] == stops_at


# --- the deid log ------------------------------------------------------------------------------

def test_logged_sequences_with_items_stay_on_the_fast_path(tmp_path):
    """A logged sequence with items (every Penn BSC rule on a sequence is a column) is shown as
    pydicom prints its items; the fast path gives the Dataset path's cells for the files it
    takes, takes the files whose logged sequences it copies or empties, and declines one whose
    logged sequence loses private elements inside."""
    profile = tmp_path / "profile.yaml"
    profile.write_text(textwrap.dedent(PROFILES["logged-sequences"]))
    plan = compile_profile(str(profile))
    shown = 0
    for path in TEST_FILES:
        fast, fast_bytes, slow, slow_bytes = both_paths(plan, path, log=True)
        if fast in (None, "error"):
            continue
        assert (fast.log_before, fast.log_after, fast_bytes) == \
            (slow.log_before, slow.log_after, slow_bytes), path
        shown += any("(0008,0100)" in cell for cell in fast.log_before.values())
    assert shown >= 10  # code sequences, printed item by item

    import pydicom
    from pydicom.dataset import Dataset

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
    item = Dataset()
    item.ReferencedSOPInstanceUID = "1.2.3.4"
    item.private_block(0x0009, "GEMS_IDEN_01", create=True).add_new(0x01, "LO", "PRIVATE")
    ds.SourceImageSequence = [item]
    changed_inside = tmp_path / "private-inside.dcm"
    ds.save_as(changed_inside, enforce_file_format=True)
    with pytest.raises(Unsupported, match="logging a sequence changed inside"):
        deidentify_fast(FastPlan(plan, log=True), str(changed_inside), io.BytesIO(),
                        rng=random.Random(1))
    fast, fast_bytes, slow, slow_bytes = both_paths(plan, str(changed_inside), log=False)
    assert fast not in (None, "error") and fast_bytes == slow_bytes  # the fast path, unlogged


# --- nested path rules -------------------------------------------------------------------------

def test_nested_path_rules_stay_on_the_fast_path(tmp_path):
    """The walk enters the sequences nested paths go through, acts on what they name, and
    inserts what replace-with on a concrete path needs (read back here with pydicom)."""
    import pydicom

    profile = tmp_path / "profile.yaml"
    profile.write_text(textwrap.dedent(PROFILES["nested"]))
    plan = compile_profile(str(profile))
    taken = []
    for path in TEST_FILES:
        fast, fast_bytes, slow, slow_bytes = both_paths(plan, path)
        if fast not in (None, "error"):
            assert fast_bytes == slow_bytes, path
            taken.append((path, fast_bytes))
    assert len(taken) >= len(TEST_FILES) // 2
    for path, written in taken:
        ds = pydicom.dcmread(io.BytesIO(written))
        region = ds.AnatomicRegionSequence[0]
        assert (region.CodeValue, region.CodingSchemeDesignator) == ("new SH value",) * 2
        assert "CodeMeaning" not in region
        assert all(item.CodeValue == "new SH value" for item in ds.AnatomicRegionSequence)
        assert len(ds.SourceImageSequence) >= 3
        assert ds.SourceImageSequence[2].ReferencedSOPInstanceUID == "1.2.3.4"
        assert ds.RequestAttributesSequence[1].ScheduledProtocolCodeSequence[0].CodeValue == "P1"
        for item in ds.get("DerivationCodeSequence", []):
            assert "CodeMeaning" not in item
    padded = 0  # files whose own SourceImageSequence got items added
    for path, written in taken:
        before = pydicom.dcmread(path, stop_before_pixels=True)
        if "SourceImageSequence" in before:
            padded += 1
            after = pydicom.dcmread(io.BytesIO(written)).SourceImageSequence
            assert len(after) == max(3, len(before.SourceImageSequence))
            assert after[0] == before.SourceImageSequence[0]  # named by no rule
    assert padded


def test_nested_log_columns_stay_on_the_fast_path(tmp_path):
    """The deid log's nested path columns (concrete and ``*``) are read from the sequence's
    bytes before and after: the cells are what pydicom reads at those paths in the input
    and in the output, and the file stays on the fast path."""
    import json

    import pydicom

    profile = tmp_path / "profile.yaml"
    profile.write_text(textwrap.dedent(PROFILES["nested"]))
    plan = compile_profile(str(profile))
    taken = 0
    for path in TEST_FILES:
        fast, fast_bytes, slow, slow_bytes = both_paths(plan, path, log=True)
        if fast in (None, "error"):
            continue
        taken += 1
        assert fast_bytes == slow_bytes, path
        assert (fast.log_before, fast.log_after) == (slow.log_before, slow.log_after), path
        for cells, ds in ((fast.log_before, pydicom.dcmread(path, force=True)),
                          (fast.log_after, pydicom.dcmread(io.BytesIO(fast_bytes)))):
            regions = list(ds.get("AnatomicRegionSequence", []))
            assert cells["AnatomicRegionSequence.0.CodeValue"] == \
                (regions[0].get("CodeValue", "") if regions else "")
            assert json.loads(cells["AnatomicRegionSequence.*.CodeValue"]) == {
                f"00082218.{index}.00080100": item.CodeValue
                for index, item in enumerate(regions) if "CodeValue" in item}
    assert taken >= len(TEST_FILES) // 2


def test_the_dataset_paths_bytes_do_not_depend_on_the_log(tmp_path):
    """A ``*`` log column walks every element; pydicom would then write those it read
    re-encoded (SC_rgb_gdcm_KY.dcm's ImageType is padded inside), so the walk reads a copy."""
    import pydicom

    profile = tmp_path / "profile.yaml"
    profile.write_text(textwrap.dedent(PROFILES["nested"]))
    plan = compile_profile(str(profile))
    path = get_testdata_file("SC_rgb_gdcm_KY.dcm", download=False)
    outputs = []
    for log in (False, True):
        out = io.BytesIO()
        deidentify_file(plan, path, out, rng=random.Random(1), log=log)
        outputs.append(out.getvalue())
    assert outputs[0] == outputs[1]
    raw = pydicom.dcmread(path).get_item(0x00080008).value
    assert pydicom.dcmread(io.BytesIO(outputs[1])).get_item(0x00080008).value == raw


# --- remove-undefined inside sequences (issue 14) ----------------------------------------------

def pruned_file(path, implicit: bool = False):
    """CT_small with sequences in every state remove-undefined meets: a sequence named
    plainly, one no rule names holding a named element (in an item beside a private block
    of a named and of an unnamed creator), one holding nothing named, and a nested sequence
    of each kind."""
    import pydicom
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ImplicitVRLittleEndian

    def item(**values):
        made = Dataset()
        for keyword, value in values.items():
            setattr(made, keyword, value)
        return made

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
    referenced = item(ReferencedSOPClassUID="1.2.840.10008.5.1.4.1.1.2",
                      ReferencedSOPInstanceUID="1.2.3.4.5", StudyDate="20200101")
    referenced.private_block(0x0009, "GEMS_IDEN_01", create=True).add_new(0x04, "SH", "kept")
    referenced.private_block(0x0009, "OTHER_VENDOR", create=True).add_new(0x01, "LO", "gone")
    referenced.PurposeOfReferenceCodeSequence = Sequence([item(CodeValue="121311",
                                                              CodingSchemeDesignator="DCM")])
    referenced.ReferencedFrameNumber = "1"
    ds.SourceImageSequence = Sequence([referenced, item(ReferencedFrameNumber="2")])
    ds.ReferencedImageSequence = Sequence([item(ReferencedSOPInstanceUID="1.2.3.4.6",
                                                PatientID="PHI-IN-ITEM")])
    ds.OtherPatientIDsSequence = Sequence([item(PatientID="PHI-2", IssuerOfPatientID="X")])
    if implicit:
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    ds.save_as(path, enforce_file_format=True)
    return str(path)


def tags_of(dataset) -> list:
    return sorted(f"{element.tag:08X}" for element in dataset)


@pytest.mark.parametrize("implicit", [False, True], ids=["explicit", "implicit"])
@pytest.mark.parametrize("accelerated", [True, False], ids=["C", "python"])
def test_remove_undefined_prunes_inside_sequences_on_the_fast_path(tmp_path, implicit,
                                                                   accelerated):
    """What stays is read back with pydicom, level by level, as Flywheel's keeplist has it;
    the bytes are the Dataset path's, and the fast path did the work."""
    import pydicom

    if accelerated and fastpath._skip_plain is None:
        pytest.skip("deidc.execute._scan not built")
    source = pruned_file(tmp_path / "pruned.dcm", implicit)
    found = {}
    for name in ("keeplist-sequences", "keeplist-recurse"):
        profile = tmp_path / f"{name}.yaml"
        profile.write_text(textwrap.dedent(PROFILES[name]))
        plan = compile_profile(str(profile))
        fast = fast_only(plan, source, fastpath._skip_plain if accelerated else None)
        slow_out = io.BytesIO()
        deidentify_file(plan, source, slow_out, rng=random.Random(1))
        assert fast[0] is True, fast
        assert fast[-1] == slow_out.getvalue()
        found[name] = pydicom.dcmread(io.BytesIO(fast[-1]))
    plain = found["keeplist-sequences"]
    # named plainly: the sequences stay, their items emptied; an unnamed one goes whole
    assert "OtherPatientIDsSequence" not in plain
    assert [len(item) for item in plain.SourceImageSequence] == [0, 0]
    assert [len(item) for item in plain.ReferencedImageSequence] == [0]
    deep = found["keeplist-recurse"]
    first, second = deep.SourceImageSequence
    # recurse-sequence: named elements stay inside items (their rules acting), a private
    # block keeps its creator only while it keeps an element, a nested sequence no rule
    # names stays for what it holds, and an item left with nothing named is emptied
    assert tags_of(first) == ["00081150", "00081155", "00090010", "00091004", "0040A170"]
    assert first.ReferencedSOPInstanceUID != "1.2.3.4.5"
    assert first[0x00091004].value == "kept"
    assert tags_of(first.PurposeOfReferenceCodeSequence[0]) == ["00080100"]
    assert len(second) == 0
    assert tags_of(deep.ReferencedImageSequence[0]) == ["00081155"]
    # a sequence no rule names, holding nothing named, goes
    assert "OtherPatientIDsSequence" not in deep


def test_recurse_sequence_applies_repeater_rules_inside_items(tmp_path):
    """A repeater rule (60XX0010) reaches into items under recurse-sequence on the fast path
    as on the Dataset path (the walk copied such elements unchanged)."""
    import pydicom
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
    inner = Dataset()
    inner.CodeValue = "A"
    inner.add_new(0x60000010, "US", 5)
    ds.AnatomicRegionSequence = Sequence([inner])
    source = tmp_path / "overlay-in-item.dcm"
    ds.save_as(source, enforce_file_format=True)
    profile = tmp_path / "profile.yaml"
    profile.write_text("dicom:\n  recurse-sequence: true\n  fields:\n"
                       "    - name: '60XX0010'\n      replace-with: 7\n")
    plan = compile_profile(str(profile))
    fast = fast_only(plan, str(source), fastpath._skip_plain)
    slow_out = io.BytesIO()
    deidentify_file(plan, str(source), slow_out, rng=random.Random(1))
    assert fast[-1] == slow_out.getvalue()
    written = pydicom.dcmread(io.BytesIO(fast[-1]))
    assert written.AnatomicRegionSequence[0][0x60000010].value == 7


def test_the_log_has_the_patient_age_the_age_replaces(tmp_path):
    """patient-age-from-birthdate replacing a stored PatientAge: its deid-log column's before
    cell is the stored age (the fast path wrote '' there), after it the computed one."""
    import pydicom

    profile = tmp_path / "age.yaml"
    profile.write_text("dicom:\n  patient-age-from-birthdate: true\n  fields:\n"
                       "    - name: PatientAge\n      keep: true\n")
    plan = compile_profile(str(profile))
    source = get_testdata_file("examples_overlay.dcm", download=False)
    stored = pydicom.dcmread(source).PatientAge
    fast, fast_bytes, slow, slow_bytes = both_paths(plan, source, log=True)
    assert fast not in (None, "error")
    assert fast_bytes == slow_bytes
    assert fast.log_before == slow.log_before and fast.log_before["PatientAge"] == stored
    written = pydicom.dcmread(io.BytesIO(fast_bytes)).PatientAge
    assert written != stored and fast.log_after["PatientAge"] == written
    assert fast.log_after == slow.log_after


PRIVATE_COLUMNS = """
    dicom:
      remove-private-tags: true
      fields:
        - name: (0009, "GEMS_IDEN_01", 04)
          keep: true
        - name: (0019, "GEMS_ACQU_01", 02)
          remove: true
        - name: (0019, "GEMS_ACQU_01", 04)
          keep: true
        - name: (0029, "SIEMENS CSA HEADER", 08)
          keep: true
        - name: PatientName
          replace-with: NOBODY
"""


@pytest.mark.parametrize("implicit", [False, True], ids=["explicit", "implicit"])
def test_private_log_columns_stay_on_the_fast_path(tmp_path, implicit):
    """A rule naming a private element by its creator is a deid-log column: the fast path
    logs the element's value (with the VR of pydicom's private dictionary in Implicit VR),
    '' where the file lacks it or a rule removes it, as the Dataset path does."""
    import pydicom
    from pydicom.uid import ImplicitVRLittleEndian

    profile = tmp_path / "private.yaml"
    profile.write_text(textwrap.dedent(PRIVATE_COLUMNS))
    plan = compile_profile(str(profile))
    source = tmp_path / "ct.dcm"
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
    if implicit:
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    ds.save_as(source, enforce_file_format=True)
    fast, fast_bytes, slow, slow_bytes = both_paths(plan, str(source), log=True)
    assert fast not in (None, "error")
    assert fast_bytes == slow_bytes
    assert (fast.log_before, fast.log_after) == (slow.log_before, slow.log_after)
    original = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
    before, after = fast.log_before, fast.log_after
    assert before['(0009, "GEMS_IDEN_01", 04)'] == after['(0009, "GEMS_IDEN_01", 04)'] == \
        original[0x00091004].value
    assert before['(0019, "GEMS_ACQU_01", 04)'] == str(original[0x00191004].value)
    assert before['(0019, "GEMS_ACQU_01", 02)'] == str(original[0x00191002].value)
    assert after['(0019, "GEMS_ACQU_01", 02)'] == ""
    assert before['(0029, "SIEMENS CSA HEADER", 08)'] == ""  # not in this file
    written = pydicom.dcmread(io.BytesIO(fast_bytes))
    assert 0x00191002 not in written and written[0x00091004].value == "HiSpeed CT/i"


def test_four_byte_binary_numbers_are_read_on_the_fast_path(tmp_path):
    """UL and SL values are 4 bytes (the walk took a native long's size, 8 here, and sent
    every file with one to change or log to the Dataset path)."""
    import pydicom

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
    ds.SimpleFrameList = [3, 4000000000]
    ds.DisplayedAreaTopLeftHandCorner = [-5, 7]
    source = tmp_path / "numbers.dcm"
    ds.save_as(source, enforce_file_format=True)
    profile = tmp_path / "numbers.yaml"
    profile.write_text("dicom:\n  fields:\n"
                       "    - name: SimpleFrameList\n      replace-with: 9\n"
                       "    - name: DisplayedAreaTopLeftHandCorner\n      keep: true\n")
    plan = compile_profile(str(profile))
    fast, fast_bytes, slow, slow_bytes = both_paths(plan, str(source), log=True)
    assert fast not in (None, "error")
    assert fast_bytes == slow_bytes
    assert (fast.log_before, fast.log_after) == (slow.log_before, slow.log_after)
    assert fast.log_before["SimpleFrameList"] == slow.log_before["SimpleFrameList"]
    written = pydicom.dcmread(io.BytesIO(fast_bytes))
    assert written.SimpleFrameList == 9
    assert list(written.DisplayedAreaTopLeftHandCorner) == [-5, 7]


REPEATER_COLUMNS = """
    dicom:
      fields:
        - name: '60XX0010'
          keep: true
        - name: '60XX0011'
          replace-with: 5
        - name: '60XX0022'
          remove: true
        - name: PatientName
          replace-with: NOBODY
"""


def test_repeater_log_columns_stay_on_the_fast_path(tmp_path):
    """A repeater rule's deid-log column is a JSON object of the elements of every group it
    spans, by lower-case hex tag; after the run, removed elements are gone from it."""
    import pydicom

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
    for group, rows in ((0x6000, 256), (0x6002, 128)):
        ds.add_new((group << 16) | 0x0010, "US", rows)
        ds.add_new((group << 16) | 0x0011, "US", rows * 2)
        ds.add_new((group << 16) | 0x0022, "LO", f"overlay of group {group:04X}")
    source = tmp_path / "overlays.dcm"
    ds.save_as(source, enforce_file_format=True)
    profile = tmp_path / "repeaters.yaml"
    profile.write_text(textwrap.dedent(REPEATER_COLUMNS))
    plan = compile_profile(str(profile))
    fast, fast_bytes, slow, slow_bytes = both_paths(plan, str(source), log=True)
    assert fast not in (None, "error")
    assert fast_bytes == slow_bytes
    assert (fast.log_before, fast.log_after) == (slow.log_before, slow.log_after)
    import json

    assert json.loads(fast.log_before["60XX0022"]) == {
        "60000022": "overlay of group 6000", "60020022": "overlay of group 6002"}
    assert json.loads(fast.log_after["60XX0022"]) == {}
    assert json.loads(fast.log_after["60XX0011"]) == {"60000011": "5", "60020011": "5"}
    assert json.loads(fast.log_after["60XX0010"]) == {"60000010": "256", "60020010": "128"}
    written = pydicom.dcmread(io.BytesIO(fast_bytes))
    assert written[0x60020011].value == 5 and 0x60000022 not in written


def test_regex_sub_rules_stay_on_the_fast_path(tmp_path):
    """regex-sub runs on the fast path unless a group reads another element (the Dataset
    path reads those before any rule acts); the values read back are the template's."""
    import pydicom

    profile = tmp_path / "regex-sub.yaml"
    profile.write_text(textwrap.dedent(PROFILES["regex-sub"]))
    plan = compile_profile(str(profile))
    for patient_id in ("PENN0042x", "4MR1"):
        original = pydicom.dcmread(get_testdata_file("MR_small.dcm", download=False))
        original.PatientID = patient_id
        source = tmp_path / "mr.dcm"
        original.save_as(source, enforce_file_format=True)
        fast, fast_bytes, slow, slow_bytes = both_paths(plan, str(source), log=True)
        assert fast not in (None, "error") and fast_bytes == slow_bytes
        written = pydicom.dcmread(io.BytesIO(fast_bytes))
        assert written.StudyDate == original.StudyDate[:4] + "0101"
        if patient_id[0].isdigit():  # the first item does not match: the second's output
            assert written.PatientID == "OTHER"
            continue
        prefix, number, hashed = written.PatientID.split("-")
        assert (prefix, number) == ("SITE", "0042") and hashed not in ("", "PENN")
    reading = tmp_path / "reading.yaml"
    reading.write_text("dicom:\n  fields:\n    - name: PatientID\n      regex-sub:\n"
                       "        - input-regex: '^(?P<all>.*)$'\n"
                       "          output: '{all}-{PatientName}'\n          groups:\n"
                       "            - name: PatientName\n              hash: true\n")
    assert FastPlan(compile_profile(str(reading))).unsupported == \
        "regex-sub groups named after elements"


@pytest.mark.parametrize("implicit", [False, True], ids=["explicit", "implicit"])
def test_private_inserts_make_their_blocks_on_the_fast_path(tmp_path, implicit):
    """replace-with on private elements a file lacks, in groups it lacks: a block for each
    creator, numbered from 0x10 in the rules' order, as pydicom's private_block makes them;
    a file holding an element of such a group goes to the Dataset path."""
    import pydicom
    from pydicom.uid import ImplicitVRLittleEndian

    profile = tmp_path / "inserts.yaml"
    profile.write_text(textwrap.dedent(PROFILES["private-inserts"]))
    plan = compile_profile(str(profile))
    ds = pydicom.dcmread(get_testdata_file("MR_small.dcm", download=False))
    assert not any(element.tag.group in (0x0009, 0x0039) for element in ds)
    if implicit:
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    source = tmp_path / "mr.dcm"
    ds.save_as(source, enforce_file_format=True)
    fast, fast_bytes, slow, slow_bytes = both_paths(plan, str(source), log=True)
    assert fast not in (None, "error") and fast_bytes == slow_bytes
    assert (fast.log_before, fast.log_after) == (slow.log_before, slow.log_after)
    assert fast.log_before['(0039, "GEMS_AWSOFT_CD1", 80)'] == ""
    assert fast.log_after['(0039, "GEMS_AWSOFT_CD1", 80)'] == "7"
    written = pydicom.dcmread(io.BytesIO(fast_bytes))
    found = {f"{e.tag:08X}": e.value for e in written if e.tag.group in (0x0009, 0x0039)}
    assert found == {"00090010": "GEMS_IDEN_01", "00091004": "NEW",
                     "00390010": "GEMS_ADWSoft_DPO", "00390011": "GEMS_AWSOFT_CD1",
                     "00391095": "DEIDENTIFIED", "003910AA": "DONE", "00391180": 7}
    holding = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
    assert any(element.tag.group == 0x0009 for element in holding)
    assert both_paths(plan, get_testdata_file("CT_small.dcm", download=False))[0] is None


@pytest.mark.parametrize("accelerated", [True, False], ids=["C", "python"])
def test_a_value_met_again_in_an_item_gets_the_items_rules(accelerated, tmp_path):
    """The walk reuses the outcome of a value it changed before.  It used to key that on the
    tag and value alone, so a PatientID inside OtherPatientIDsSequence took the top-level
    PatientID's replacement, not the rule naming it in the item.  Read back with pydicom."""
    import pydicom
    from pydicom.dataset import Dataset

    if accelerated and fastpath._skip_plain is None:
        pytest.skip("deidc.execute._scan not built")
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
    ds.PatientID = "PID-1"
    item = Dataset()
    item.PatientID = "PID-1"
    ds.OtherPatientIDsSequence = [item]
    source = tmp_path / "in.dcm"
    ds.save_as(source)
    profile = tmp_path / "profile.yaml"
    profile.write_text("dicom:\n  fields:\n    - name: PatientID\n      hash: true\n"
                       "    - name: OtherPatientIDsSequence.0.PatientID\n"
                       "      replace-with: INNER\n")
    plan = compile_profile(str(profile))
    fast = fast_only(plan, str(source), fastpath._skip_plain if accelerated else None)
    assert fast[0] is True, fast
    written = pydicom.dcmread(io.BytesIO(fast[-1]))
    assert written.OtherPatientIDsSequence[0].PatientID == "INNER"
    assert written.PatientID not in ("PID-1", "INNER")
    slow = io.BytesIO()
    deidentify_file(plan, str(source), slow, rng=random.Random(1))
    assert fast[-1] == slow.getvalue()


@pytest.mark.parametrize("rule", ["recurse", "path"])
def test_random_draws_inside_items_keep_the_dataset_paths_order(rule, tmp_path):
    """A seeded run draws the same jitter on both paths.  The Dataset path draws for items
    after every top-level element; the walk, in file order, drew for OtherPatientIDsSequence's
    item before PatientWeight, so the two paths wrote other values.  Now the file goes to the
    Dataset path; either way the bytes are the Dataset path's."""
    import pydicom
    from pydicom.dataset import Dataset

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
    item = Dataset()
    item.ReferencedFrameNumber = "5"
    ds.OtherPatientIDsSequence = [item]
    ds.PatientWeight = "70"
    source = tmp_path / "in.dcm"
    ds.save_as(source)
    name = "ReferencedFrameNumber" if rule == "recurse" else \
        "OtherPatientIDsSequence.0.ReferencedFrameNumber"
    profile = tmp_path / "profile.yaml"
    profile.write_text(f"dicom:\n  jitter-range: 5\n  recurse-sequence: {rule == 'recurse'}\n"
                       f"  fields:\n    - name: {name}\n      jitter: true\n"
                       "      jitter-type: int\n    - name: PatientWeight\n      jitter: true\n")
    plan = compile_profile(str(profile))
    fast = fast_only(plan, str(source), fastpath._skip_plain)
    slow = io.BytesIO()
    deidentify_file(plan, str(source), slow, rng=random.Random(1))
    written = pydicom.dcmread(io.BytesIO(slow.getvalue()))
    assert written.PatientWeight != 70 or written.OtherPatientIDsSequence[0].ReferencedFrameNumber != 5
    assert fast[0] == "declined" or fast[-1] == slow.getvalue()


def test_regexes_act_inside_sequences_on_the_fast_path(tmp_path):
    """Regexes match inside items by keyword path and hex path on the fast path too: every
    CodeMeaning anywhere is REDACTED, nothing is left in a second item, and the files are
    the Dataset path's bytes (walked here with pydicom)."""
    import pydicom

    profile = tmp_path / "profile.yaml"
    profile.write_text(textwrap.dedent(PROFILES["regex-nested"]))
    plan = compile_profile(str(profile))
    assert plan.dictionary["00080104"] == ["CodeMeaning", "LO"]
    taken = []
    for path in TEST_FILES:
        fast, fast_bytes, slow, slow_bytes = both_paths(plan, path)
        if fast not in (None, "error"):
            assert fast_bytes == slow_bytes, path
            taken.append(fast_bytes)
    assert len(taken) >= len(TEST_FILES) // 2
    nested_meanings = emptied = 0

    def walk(dataset, depth, named):  # named: every step down here has a keyword
        nonlocal nested_meanings, emptied
        for element in dataset:
            if element.keyword == "CodeMeaning":
                assert element.value == "REDACTED"
                nested_meanings += depth > 0
            if element.VR == "SQ":
                for index, item in enumerate(element.value):
                    if index == 1 and named and element.keyword.endswith("Sequence"):
                        # '.*Sequence\.1\..*' removes all that item 1 holds
                        assert not list(item.keys())
                        emptied += 1
                    walk(item, depth + 1, named and bool(element.keyword))

    for written in taken:
        walk(pydicom.dcmread(io.BytesIO(written)), 0, True)
    assert nested_meanings and emptied


def test_a_plan_without_the_dictionary_sends_nested_regexes_away(tmp_path):
    """A plan compiled before the plan carried the dictionary: a file with a sequence to look
    inside goes to the Dataset path, saying why."""
    profile = tmp_path / "profile.yaml"
    profile.write_text(textwrap.dedent(PROFILES["regex-nested"]))
    plan = compile_profile(str(profile))._replace(dictionary={})
    fast = fast_only(plan, get_testdata_file("test-SR.dcm", download=False),
                     fastpath._skip_plain)
    assert fast[0] == "declined" and "recompile" in fast[1]


@pytest.mark.parametrize("accelerated", [True, False], ids=["C", "python"])
def test_remove_undefined_does_not_count_what_remove_private_took(accelerated, tmp_path):
    """remove-private-tags acts before remove-undefined: a creator whose block keeps only
    elements remove-private-tags takes goes.  The walk read its block's headers ahead and
    counted the elements a regex names (0019,1002...), so it kept GEMS_ACQU_01 alone, where
    the Dataset path drops it.  Read back with pydicom."""
    import pydicom

    if accelerated and fastpath._skip_plain is None:
        pytest.skip("deidc.execute._scan not built")
    source = get_testdata_file("CT_small.dcm", download=False)
    assert 0x0019109E not in pydicom.dcmread(source)  # the kept element is absent
    profile = tmp_path / "profile.yaml"
    profile.write_text(textwrap.dedent("""
        dicom:
          remove-private-tags: true
          remove-undefined: true
          fields:
            - name: SOPClassUID
            - name: SOPInstanceUID
            - name: (0019, "GEMS_ACQU_01", 9e)
              keep: true
            - regex: '00[0-9a-f]{2}1[0-9a-f]{3}.*'
              remove: true
    """))
    plan = compile_profile(str(profile))
    fast = fast_only(plan, source, fastpath._skip_plain if accelerated else None)
    assert fast[0] is True, fast
    written = pydicom.dcmread(io.BytesIO(fast[-1]))
    assert not [tag for tag in written.keys() if tag.group & 1]
    slow = io.BytesIO()
    deidentify_file(plan, source, slow, rng=random.Random(1))
    assert fast[-1] == slow.getvalue()


# --- random profiles ---------------------------------------------------------------------------

# Rules and options the fast path takes, drawn together at random: where two meet (a regex and a
# private keep, remove-private-tags and remove-undefined, a nested path and its sequence's own
# rule), the two paths must still agree.  Two bugs were found this way before this test existed.
RULE_POOL = [
    "- name: PatientID\n  hash: true", "- name: PatientID\n  replace-with: ANON",
    "- name: PatientName\n  remove: true", "- name: StudyDate\n  increment-date: true",
    "- name: CodeMeaning\n  replace-with: REDACTED", "- name: CodeValue\n  remove: true",
    "- name: ReferencedSOPInstanceUID\n  hashuid: true",
    "- name: SOPInstanceUID\n  hashuid: true", "- name: InstitutionName\n  replace-with: ''",
    "- name: OtherPatientIDsSequence\n  replace-with: ''",
    "- name: ReferencedStudySequence\n  remove: true",
    "- name: ReferencedImageSequence.0.ReferencedSOPInstanceUID\n  replace-with: 1.2.3",
    "- name: ReferencedImageSequence.*.ReferencedSOPClassUID\n  remove: true",
    "- regex: '.*CodeMeaning'\n  replace-with: R", "- regex: '.*UID$'\n  hashuid: true",
    "- regex: '.*\\.0\\..*Date$'\n  increment-date: true",
    "- regex: '00[0-9a-f]{2}1[0-9a-f]{3}.*'\n  remove: true",
    "- name: (0009, \"GEMS_IDEN_01\", 01)\n  replace-with: X",
    "- name: (0019, \"GEMS_ACQU_01\", 9e)\n  keep: true", "- name: 60XX0022\n  replace-with: OV",
    "- name: PatientAge\n  replace-with: 030Y", "- name: SliceThickness\n  replace-with: '2.5'",
    "- name: ImageType\n  replace-with: ORIGINAL", "- name: Rows\n  replace-with: 64",
    "- name: PixelData", "- name: SOPClassUID", "- name: Modality",
    "- name: RequestAttributesSequence",
]
OPTION_POOL = ["remove-private-tags: true", "remove-undefined: true", "recurse-sequence: true",
               "patient-age-from-birthdate: true"]
RICH_FILES = [f for f in TEST_FILES if os.path.basename(f) in IMPLICIT_SOURCES + (
    "rtplan.dcm", "rtdose.dcm", "JPEG2000.dcm", "emri_small.dcm", "nested_priv_SQ.dcm")]


@settings(max_examples=int(os.environ.get("DEIDC_PROFILE_EXAMPLES", 40)), deadline=None,
          derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(options=st.sets(st.sampled_from(OPTION_POOL)),
       rules=st.lists(st.sampled_from(RULE_POOL), min_size=2, max_size=8, unique=True),
       log=st.booleans())
def test_random_profiles_give_the_dataset_paths_bytes(tmp_path_factory, options, rules, log):
    """Whatever mix of these rules a profile has, the fast path writes the Dataset path's
    bytes and log cells, or declines."""
    text = "dicom:\n  date-increment: -10\n" + "".join(f"  {o}\n" for o in sorted(options)) + \
        "  fields:\n" + textwrap.indent("\n".join(rules), "    ") + "\n"
    profile = tmp_path_factory.mktemp("random") / "profile.yaml"
    profile.write_text(text)
    try:
        plan = compile_profile(str(profile))
    except CompileError:
        return  # lint refuses the mix (e.g. recurse-sequence with a nested path)
    prepared = FastPlan(plan, log)
    for path in RICH_FILES:
        fast, fast_bytes, slow, slow_bytes = both_paths(plan, path, log, prepared)
        if fast is None:
            continue
        assert slow != "error" and fast != "error", (path, text)
        assert fast_bytes == slow_bytes, (path, text)
        assert (fast.log_before, fast.log_after) == (slow.log_before, slow.log_after), \
            (path, text)
