"""Inputs are read once, by descriptor: a file replaced, grown or truncated while deidc works on
it fails alone with a clear line (no patient mix-up, no SIGBUS), and the re-run does it.  Each
test really changes the file at the moment named, through a hook on the path doing the work."""

from __future__ import annotations

import os
import random
import struct
import subprocess
import sys
import textwrap
import time

import pydicom
import pytest
from pydicom.data import get_testdata_file

from deidc.compiler import compile_profile
from deidc.execute import dataset as dataset_path
from deidc.execute import fast as fast_path
from deidc.execute import inputs
from deidc.execute.dataset import deidentify_file
from deidc.execute.dicom import MAX_SEQUENCE_DEPTH
from deidc.run.journal import JOURNAL_NAME
from deidc.run.runner import RunOptions, run

PROFILE = """
    dicom:
      fields:
        - name: PatientName
          replace-with: ANON
        - name: PatientID
          hash: true
"""


@pytest.fixture
def plan(tmp_path):
    path = tmp_path / "profile.yaml"
    path.write_text(textwrap.dedent(PROFILE))
    return compile_profile(str(path))


def patient_file(path, name: str, pixel_byte: int, frames: int = 1) -> str:
    """CT_small as patient ``name``, its pixels all ``pixel_byte``; ``frames`` of 2 MiB each
    (above pydicom's old deferral size, and above READ_WHOLE from 5 frames: mapped)."""
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
    ds.PatientName, ds.PatientID = name, f"ID-{name}"
    ds.Rows = ds.Columns = 1024
    ds.NumberOfFrames = frames
    ds.PixelData = bytes([pixel_byte]) * (1024 * 1024 * 2 * frames)
    ds.save_as(path, enforce_file_format=True)
    return str(path)


def test_the_dataset_path_reads_pixels_from_the_file_it_opened(plan, tmp_path, monkeypatch):
    """Patient B's file put in place of patient A's by name while the Dataset path works:
    the output is all patient A's (pixels included), never A's header with B's pixels."""
    a = patient_file(tmp_path / "a.dcm", "PATIENT^A", 0xAA)
    b = patient_file(tmp_path / "b.dcm", "PATIENT^B", 0xBB)
    original = dataset_path.apply_plan

    def replace_then_apply(*args, **kwargs):
        os.replace(b, a)
        return original(*args, **kwargs)

    monkeypatch.setattr(dataset_path, "apply_plan", replace_then_apply)
    with open(tmp_path / "out.dcm", "wb") as out:
        deidentify_file(plan, a, out, rng=random.Random(0))
    written = pydicom.dcmread(tmp_path / "out.dcm")
    assert set(written.PixelData) == {0xAA}
    assert written.PatientID != "ID-PATIENT^B" and written.PatientName == "ANON"


@pytest.mark.parametrize("fast", [True, False], ids=["fast path", "Dataset path"])
def test_an_input_replaced_during_the_run_fails_alone_and_is_done_by_the_rerun(
        plan, tmp_path, monkeypatch, fast):
    folder = tmp_path / "in"
    folder.mkdir()
    for number, name in enumerate("ABC"):
        patient_file(folder / f"{name}.dcm", f"PATIENT^{name}", number)
    replacement = patient_file(tmp_path / "new.dcm", "PATIENT^NEW", 0xEE)
    hook = fast_path if fast else dataset_path
    name = "_walk_file" if fast else "apply_plan"
    original = getattr(hook, name)
    replaced = []

    def replace_b(*args, **kwargs):
        if not replaced and pydicom_name(args) == "PATIENT^B":
            os.replace(replacement, folder / "B.dcm")
            replaced.append(True)
        return original(*args, **kwargs)

    monkeypatch.setattr(hook, name, replace_b)
    options = RunOptions(output=str(tmp_path / "out"), fast_path=fast)
    summary = run(plan, [str(folder)], options)
    assert replaced and summary.written == 2 and summary.failed == 1
    assert "B.dcm: changed while deidc read it: it was replaced by another file" in \
        summary.failures[0]
    assert sorted(os.listdir(tmp_path / "out")) == [JOURNAL_NAME, "A.dcm", "C.dcm"]
    again = run(plan, [str(folder)], options)
    assert (again.written, again.skipped, again.failed) == (1, 2, 0)
    assert set(pydicom.dcmread(tmp_path / "out" / "B.dcm").PixelData) == {0xEE}


def pydicom_name(args) -> str:
    """The PatientName of the file a hooked function is working on (its dataset, or its
    buffer), read with pydicom."""
    import io

    for arg in args:
        if isinstance(arg, pydicom.Dataset):
            return str(arg.PatientName)
        if isinstance(arg, (bytes, bytearray)) or type(arg).__name__ == "mmap":
            return str(pydicom.dcmread(io.BytesIO(bytes(arg[:4096])), force=True,
                                       stop_before_pixels=True).PatientName)
    return ""


def test_an_input_growing_while_read_fails_then_the_complete_file_is_done(
        plan, tmp_path, monkeypatch):
    """A file still being received (it grows while deidc reads it) is not written half; the
    re-run, once it is complete, does it (the journal has no record of it)."""
    folder = tmp_path / "in"
    folder.mkdir()
    path = patient_file(folder / "a.dcm", "PATIENT^A", 1)
    whole = open(path, "rb").read()
    with open(path, "r+b") as handle:
        handle.truncate(len(whole) - 1000)
    original = fast_path._walk_file
    grown = []

    def receive_the_rest(*args, **kwargs):
        if not grown:
            with open(path, "ab") as handle:
                handle.write(whole[-1000:])
            grown.append(True)
        return original(*args, **kwargs)

    monkeypatch.setattr(fast_path, "_walk_file", receive_the_rest)
    options = RunOptions(output=str(tmp_path / "out"))
    summary = run(plan, [str(folder)], options)
    assert grown and summary.failed == 1 and "it was modified while it was read" in \
        summary.failures[0]
    assert not (tmp_path / "out" / "a.dcm").exists()
    again = run(plan, [str(folder)], options)
    assert again.written == 1
    assert pydicom.dcmread(tmp_path / "out" / "a.dcm").PixelData == \
        pydicom.dcmread(path).PixelData


TRUNCATE = "import os, sys; os.truncate(sys.argv[1], 4096)"


def test_a_mapped_input_truncated_by_another_process_fails_alone_without_sigbus(
        plan, tmp_path, monkeypatch):
    """A file above READ_WHOLE is mapped under a read lease: another process truncating it
    waits, deidc is told, fails that file and lets go; the truncation then happens, and the
    run goes on with the next file."""
    folder = tmp_path / "in"
    folder.mkdir()
    big = patient_file(folder / "a.dcm", "PATIENT^A", 1, frames=5)
    patient_file(folder / "b.dcm", "PATIENT^B", 2)
    assert os.path.getsize(big) > inputs.READ_WHOLE
    original = fast_path._walk_file
    truncating = []

    def truncate_from_another_process(fast, descriptor, buffer, *args):
        if not truncating and descriptor is not None:
            truncating.append(subprocess.Popen([sys.executable, "-c", TRUNCATE, big]))
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:  # the lease break interrupts this wait
                time.sleep(0.01)
        return original(fast, descriptor, buffer, *args)

    monkeypatch.setattr(fast_path, "_walk_file", truncate_from_another_process)
    started = time.monotonic()
    summary = run(plan, [str(folder)], RunOptions(output=str(tmp_path / "out")))
    assert truncating and truncating[0].wait(timeout=60) == 0
    assert time.monotonic() - started < 20  # told at once, not at the lease's timeout
    assert os.path.getsize(big) == 4096  # the truncation did happen, after deidc let go
    assert summary.failed == 1 and summary.written == 1
    assert "a.dcm: changed while deidc read it: another process opened it to write it or " \
           "truncated it" in summary.failures[0]
    assert sorted(os.listdir(tmp_path / "out")) == [JOURNAL_NAME, "b.dcm"]


def test_without_a_lease_a_large_input_is_read_whole_within_the_memory_bound(
        plan, tmp_path, monkeypatch):
    """No lease (another user's file, a filesystem without them): read whole, so a file
    truncated meanwhile cannot fault; above the memory bound, refused with the reason."""
    folder = tmp_path / "in"
    folder.mkdir()
    big = patient_file(folder / "a.dcm", "PATIENT^A", 1, frames=5)
    monkeypatch.setattr(inputs, "_leases_available", lambda: False)
    original = fast_path._walk_file

    def truncate(*args):
        os.truncate(big, 4096)
        return original(*args)

    monkeypatch.setattr(fast_path, "_walk_file", truncate)
    summary = run(plan, [str(folder)], RunOptions(output=str(tmp_path / "out")))
    assert summary.failed == 1 and "it was modified while it was read" in summary.failures[0]
    patient_file(big, "PATIENT^A", 1, frames=5)
    monkeypatch.setattr(fast_path, "_walk_file", original)
    bounded = run(plan, [str(folder)], RunOptions(output=str(tmp_path / "out"),
                                                  memory_limit=2**20))
    assert bounded.failed == 1 and "more than the memory bound of 1048576 bytes" in \
        bounded.failures[0] and "no read lease" in bounded.failures[0]
    unbounded = run(plan, [str(folder)], RunOptions(output=str(tmp_path / "out")))
    assert unbounded.written == 1


# --- truncated and corrupt inputs ---------------------------------------------------------------

def test_pydicoms_truncated_file_fails_on_both_paths_saying_what_is_missing(plan, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    source = get_testdata_file("MR_truncated.dcm", download=False)
    (folder / "MR_truncated.dcm").write_bytes(open(source, "rb").read())
    for fast in (True, False):
        summary = run(plan, [str(folder)], RunOptions(output=str(tmp_path / f"out{fast}"),
                                                      fast_path=fast))
        assert summary.failed == 1 and summary.failures[0].endswith(
            "MR_truncated.dcm: PixelData (7FE0,0010): truncated: its value is 8192 bytes and "
            "the file holds 8130 of them (62 missing)")
        assert os.listdir(tmp_path / f"out{fast}") == [JOURNAL_NAME]


def test_pixel_data_shorter_than_its_length_fails(plan, tmp_path):
    """The issue's case: 68 bytes of 32,768 bytes of pixel data."""
    folder = tmp_path / "in"
    folder.mkdir()
    raw = open(get_testdata_file("CT_small.dcm", download=False), "rb").read()
    pixels = raw.index(b"\xe0\x7f\x10\x00OW")
    (folder / "cut.dcm").write_bytes(raw[:pixels + 12 + 68])
    summary = run(plan, [str(folder)], RunOptions(output=str(tmp_path / "out")))
    assert summary.failed == 1 and "PixelData (7FE0,0010): truncated: its value is 32768 " \
        "bytes and the file holds 68 of them (32700 missing)" in summary.failures[0]


CUT_FILES = ("CT_small.dcm", "JPEG2000.dcm", "MR_small_implicit.dcm", "SC_rgb_jpeg_dcmtk.dcm")


def test_files_cut_at_many_points_fail_clearly_or_come_out_whole_and_equal(plan, tmp_path):
    """Real files (explicit and implicit VR, native and encapsulated pixel data) cut at 40
    random points each: every cut file either fails on both paths with a line saying what is
    truncated, or (cut between two top-level elements: a whole, shorter file) is written
    by both paths to the same bytes, which pydicom reads to the end."""
    folder = tmp_path / "in"
    folder.mkdir()
    rng = random.Random(11)
    for name in CUT_FILES:
        raw = open(get_testdata_file(name, download=False), "rb").read()
        for cut in sorted(rng.sample(range(1, len(raw)), 40)):
            (folder / f"{cut:06d}-{name}").write_bytes(raw[:cut])
    results = {}
    for fast in (True, False):
        seen = results[fast] = {}
        run(plan, [str(folder)], RunOptions(output=str(tmp_path / f"out{fast}"),
                                            fast_path=fast),
            on_result=lambda result, seen=seen: seen.__setitem__(
                result.job.relative, (result.status, result.reason)))
    assert results[True] == results[False]
    counts = {"failed": 0, "written": 0}
    for name, (status, reason) in results[True].items():
        counts[status] += 1
        if status == "failed" and int(name[:6]) < 132:  # cut inside the preamble
            assert reason.startswith("not a DICOM file: "), (name, reason)
            assert reason.endswith("shorter than the preamble of one (a file cut short, or "
                                   "not DICOM)")
        elif status == "failed":
            assert ": truncated: " in reason or reason.startswith("truncated: "), (name, reason)
        elif status == "written":
            fast, slow = (tmp_path / f"out{fast}" / name for fast in (True, False))
            assert fast.read_bytes() == slow.read_bytes(), name
            written = pydicom.dcmread(fast)
            for _ in written.iterall():
                pass
        else:
            raise AssertionError((name, status, reason))
    assert counts["failed"] > 100 and counts["written"] > 0, counts


def test_a_file_cut_between_elements_then_completed_is_done_again(plan, tmp_path):
    """Cut between two top-level elements, a file still being received is a whole DICOM file
    and is written; once complete (its size and mtime changed), the re-run writes it again
    from the complete file, without --overwrite."""
    folder = tmp_path / "in"
    folder.mkdir()
    raw = open(get_testdata_file("CT_small.dcm", download=False), "rb").read()
    pixels = raw.index(b"\xe0\x7f\x10\x00OW")
    path = folder / "a.dcm"
    path.write_bytes(raw[:pixels])
    options = RunOptions(output=str(tmp_path / "out"))
    assert run(plan, [str(folder)], options).written == 1
    assert "PixelData" not in pydicom.dcmread(tmp_path / "out" / "a.dcm")
    with open(path, "ab") as handle:
        handle.write(raw[pixels:])
    again = run(plan, [str(folder)], options)
    assert again.written == 1 and again.skipped == 0
    assert pydicom.dcmread(tmp_path / "out" / "a.dcm").PixelData == \
        pydicom.dcmread(path).PixelData


# --- bounded memory on the Dataset path -------------------------------------------------------

def test_a_deflate_bomb_is_refused_before_it_inflates(plan, tmp_path):
    """20 MB of zeros deflate to a few KB; with a bound of 8 MiB the file is refused with the
    reason, inflated no further than the bound; under the default bound it is de-identified."""
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
    ds.Rows = ds.Columns = 2048
    ds.NumberOfFrames = 2
    ds.PixelData = bytes(2048 * 2048 * 2 * 2)
    ds.file_meta.TransferSyntaxUID = pydicom.uid.DeflatedExplicitVRLittleEndian
    folder = tmp_path / "in"
    folder.mkdir()
    ds.save_as(folder / "bomb.dcm", enforce_file_format=True)
    assert os.path.getsize(folder / "bomb.dcm") < 200_000
    bounded = run(plan, [str(folder)], RunOptions(output=str(tmp_path / "bounded"),
                                                  memory_limit=8 * 2**20))
    assert bounded.failed == 1 and "bomb.dcm: refused: its deflated dataset inflates to more " \
        "than the memory bound of 8388608 bytes for one file" in bounded.failures[0]
    unbounded = run(plan, [str(folder)], RunOptions(output=str(tmp_path / "unbounded")))
    assert unbounded.written == 1
    assert pydicom.dcmread(tmp_path / "unbounded" / "bomb.dcm").PatientName == "ANON"


def test_a_length_larger_than_the_file_and_a_sparse_file_of_zeros_are_refused(plan, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    raw = bytearray(open(get_testdata_file("CT_small.dcm", download=False), "rb").read())
    pixels = raw.index(b"\xe0\x7f\x10\x00OW")
    raw[pixels + 8:pixels + 12] = (0xFFFFFFF0).to_bytes(4, "little")
    (folder / "inflated.dcm").write_bytes(raw)
    with open(folder / "sparse.dcm", "wb") as sparse:
        sparse.truncate(64 * 2**20)  # no data written: a hole of zeros
    for fast in (True, False):
        summary = run(plan, [str(folder)], RunOptions(output=str(tmp_path / f"out{fast}"),
                                                      fast_path=fast))
        lines = sorted(summary.failures)
        assert summary.failed == 2
        assert lines[0].endswith("inflated.dcm: PixelData (7FE0,0010): truncated: its value is "
                                 "4294967280 bytes and the file holds 32906 of them "
                                 "(4294934374 missing)")
        assert lines[1].endswith("sparse.dcm: not a DICOM file: no DICM preamble, and it "
                                 "starts with a group 0000 element, which no stored dataset "
                                 "holds")


def test_a_file_too_large_for_the_dataset_path_is_refused(plan, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    patient_file(folder / "a.dcm", "PATIENT^A", 1, frames=2)
    summary = run(plan, [str(folder)], RunOptions(output=str(tmp_path / "out"),
                                                  fast_path=False, memory_limit=5 * 2**20))
    assert summary.failed == 1 and "a.dcm: refused: the Dataset path would hold about" in \
        summary.failures[0] and "more than the bound of 5242880 bytes for one file" in \
        summary.failures[0]


# --- bounded nesting ----------------------------------------------------------------------------

def nested_file(path, levels: int, encoding: str) -> None:
    """A file whose ReferencedSeriesSequence nests ``levels`` deep, each item holding a
    StudyDescription, the next level and a PatientName.  ``encoding``: explicit or implicit VR
    and undefined or defined lengths ("explicit-undefined", "implicit-defined"...), "mixed"
    (explicit, defined and undefined lengths alternating), "un" (explicit VR, the outer
    sequence stored as UN with undefined length, its implicit VR items of defined lengths), or
    "un-in-undefined" (the outer sequence explicit VR of undefined length, the next stored as
    UN with a defined length, the rest implicit VR of defined lengths)."""
    implicit = encoding.startswith(("implicit", "un"))

    def element(tag: int, vr: bytes, value: bytes, length: int | None = None) -> bytes:
        length = len(value) if length is None else length
        if implicit:
            return struct.pack("<HHI", tag >> 16, tag & 0xFFFF, length) + value
        if vr in (b"SQ", b"UN"):
            return struct.pack("<HH2sHI", tag >> 16, tag & 0xFFFF, vr, 0, length) + value
        return struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr, length) + value

    def sequence(body: bytes, undefined: bool, vr: bytes = b"SQ") -> bytes:
        if undefined:
            item = struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF) + body + \
                struct.pack("<HHI", 0xFFFE, 0xE00D, 0)
            return element(0x00081115, vr, item + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0),
                           0xFFFFFFFF)
        return element(0x00081115, vr, struct.pack("<HHI", 0xFFFE, 0xE000, len(body)) + body)

    inner = b""
    for level in range(levels, 0, -1):
        body = element(0x00081030, b"LO", b"NESTED STUDY") + inner + \
            element(0x00100010, b"PN", b"DOE^JANE")
        undefined = encoding.endswith("undefined") or (encoding == "mixed" and level % 2)
        if encoding == "un" and level == 1:
            implicit = False  # the UN element's own header is explicit VR
            inner = sequence(body, True, b"UN")
        elif encoding == "un-in-undefined" and level <= 2:
            implicit = False  # the UN element's own header, and the sequence holding it
            inner = sequence(body, level == 1, b"UN" if level == 2 else b"SQ")
        else:
            inner = sequence(body, undefined)
    implicit = encoding.startswith("implicit")
    syntax = b"1.2.840.10008.1.2\0" if implicit else b"1.2.840.10008.1.2.1\0"
    meta = [(0x00020001, b"OB", b"\0\1"), (0x00020002, b"UI", b"1.2.840.10008.5.1.4.1.1.7\0"),
            (0x00020003, b"UI", b"1.2.3.4.5\0"), (0x00020010, b"UI", syntax)]
    meta_bytes = b"".join(struct.pack("<HH2sHI" if vr == b"OB" else "<HH2sH", tag >> 16,
                                      tag & 0xFFFF, vr, *((0, len(v)) if vr == b"OB"
                                                          else (len(v),))) + v
                          for tag, vr, v in meta)
    meta_bytes = struct.pack("<HH2sHI", 2, 0, b"UL", 4, len(meta_bytes)) + meta_bytes
    body = element(0x00080016, b"UI", b"1.2.840.10008.5.1.4.1.1.7\0") + \
        element(0x00080018, b"UI", b"1.2.3.4.5\0") + inner + \
        element(0x00100010, b"PN", b"DOE^JOHN")
    path.write_bytes(bytes(128) + b"DICM" + meta_bytes + body)


def nesting_depth(ds) -> int:
    """How deep ReferencedSeriesSequence nests in ``ds``, counted with pydicom."""
    depth = 0
    while "ReferencedSeriesSequence" in ds and len(ds.ReferencedSeriesSequence):
        ds, depth = ds.ReferencedSeriesSequence[0], depth + 1
    return depth


ENCODINGS = ["explicit-undefined", "explicit-defined", "implicit-undefined", "implicit-defined",
             "mixed", "un", "un-in-undefined"]


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_nesting_at_the_bound_is_done_alike_and_beyond_it_refused_on_both_paths(
        plan, tmp_path, encoding):
    """pydicom runs out of stack somewhere past 150 levels, the fast path did not: now both
    paths write the deepest file allowed with the same bytes, and refuse one level more, and
    thousands, at once with the same line (the tag, the bound, where)."""
    folder = tmp_path / "in"
    folder.mkdir()
    for levels in (MAX_SEQUENCE_DEPTH, MAX_SEQUENCE_DEPTH + 1, 5000):
        nested_file(folder / f"{levels}.dcm", levels, encoding)
    outputs = {}
    for fast in (True, False):
        summary = run(plan, [str(folder)], RunOptions(output=str(tmp_path / f"out{fast}"),
                                                      fast_path=fast))
        assert summary.written == 1 and summary.failed == 2, summary.failures
        for line, levels in zip(sorted(summary.failures), (MAX_SEQUENCE_DEPTH + 1, 5000)):
            assert f"{levels}.dcm: ReferencedSeriesSequence (0008,1115): refused: sequences " \
                f"nested more than {MAX_SEQUENCE_DEPTH} levels deep (at byte " in line, line
        outputs[fast] = (tmp_path / f"out{fast}" / f"{MAX_SEQUENCE_DEPTH}.dcm").read_bytes()
        assert sorted(os.listdir(tmp_path / f"out{fast}")) == \
            [JOURNAL_NAME, f"{MAX_SEQUENCE_DEPTH}.dcm"]
    assert outputs[True] == outputs[False]
    written = pydicom.dcmread(tmp_path / "outTrue" / f"{MAX_SEQUENCE_DEPTH}.dcm")
    assert written.PatientName == "ANON" and nesting_depth(written) == MAX_SEQUENCE_DEPTH


def test_real_files_pass_the_nesting_bound(plan, tmp_path):
    """The bound refuses nothing real: every test file of pydicom's that the fast path wrote
    before is still written (none of them is refused for its nesting)."""
    folder = os.path.dirname(get_testdata_file("CT_small.dcm", download=False))
    summary = run(plan, [folder], RunOptions(output=str(tmp_path / "out")))
    assert summary.written > 100
    assert not [line for line in summary.failures if "levels deep" in line]


# --- bounded time for values --------------------------------------------------------------------

def test_a_regex_sub_pattern_runs_only_on_values_it_is_proven_fast_for(tmp_path):
    """A pattern that passes lint (it is safe on names) but whose failing match grows with the
    square of the text (on a megabyte UT: hours): a short value is rewritten; a 5,000-character
    ImageComments, longer than the pattern is proven fast for, fails that file alone on both
    paths with a line that says why and does not repeat the value; a linear pattern rewrites a
    value as long."""
    profile = tmp_path / "profile.yaml"
    profile.write_text(textwrap.dedent("""
        dicom:
          fields:
            - name: ImageComments
              regex-sub:
                - input-regex: '(?P<a>.*)-(?P<b>.*)-(?P<c>\\d)'
                  output: '{a}'
            - name: StudyDescription
              regex-sub:
                - input-regex: '^(?P<head>[^-]*)-(?P<tail>.*)$'
                  output: '{head}'
        """))
    grown = compile_profile(str(profile))
    folder = tmp_path / "in"
    folder.mkdir()
    long_value = "-" * 5000  # no digit: every pair of dashes is tried, and fails
    for name, comments in (("short.dcm", "KEEP-drop-1"), ("long.dcm", long_value)):
        ds = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
        ds.ImageComments = comments
        ds.StudyDescription = "STUDY-" + "y" * 5000
        ds.save_as(folder / name, enforce_file_format=True)
    for fast in (True, False):
        out = tmp_path / f"out{fast}"
        summary = run(grown, [str(folder)], RunOptions(output=str(out), fast_path=fast))
        assert summary.written == 1 and summary.failed == 1
        line = summary.failures[0]
        assert "long.dcm: ImageComments (0020,4000): rule at " in line and \
            "the value (5000 characters) is longer than the " in line and \
            "is proven to match in bounded time; it is not run" in line, line
        assert "--------" not in line
        written = pydicom.dcmread(out / "short.dcm")
        assert written.ImageComments == "KEEP" and written.StudyDescription == "STUDY"
        assert not (out / "long.dcm").exists()


# --- failure lines do not repeat values -----------------------------------------------------------

def test_a_value_a_rule_cannot_handle_fails_the_file_without_being_repeated(tmp_path):
    """A birth date written with dashes, a weight written in words and a name with a character
    UTF-8 cannot hold each fail their file, on both paths, with a line that gives the value's
    length and shape, never the value (those lines reach logs and CI output)."""
    profile = tmp_path / "profile.yaml"
    profile.write_text(textwrap.dedent("""
        dicom:
          date-increment: -17
          fields:
            - name: PatientBirthDate
              increment-date: true
            - name: PatientWeight
              jitter: true
        """))
    shifting = compile_profile(str(profile))
    folder = tmp_path / "in"
    folder.mkdir()
    for name, birth, weight in (("dashes.dcm", "1962-03-04", b"70"),
                                ("words.dcm", "19620304", b"SEVENTY ")):
        ds = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
        ds.PatientBirthDate, ds.PatientWeight = birth, "12345678"
        ds.save_as(folder / name, enforce_file_format=True)
        raw = (folder / name).read_bytes()  # pydicom refuses to hold a DS in words: write it
        (folder / name).write_bytes(raw.replace(b"12345678", weight.ljust(8)))
    for fast in (True, False):
        summary = run(shifting, [str(folder)], RunOptions(output=str(tmp_path / f"out{fast}"),
                                                          fast_path=fast))
        assert summary.failed == 2
        dashes, words = sorted(summary.failures)
        assert "dashes.dcm: PatientBirthDate (0010,0030): rule at " in dashes and \
            "the value (10 characters, shaped '9999-99-99') is not a date in the format " \
            "'%Y%m%d'" in dashes, dashes
        assert "words.dcm: PatientWeight (0010,1030): rule at " in words and \
            "the value (7 characters, shaped 'AAAAAAA') is not a number" in words, words
        assert "1962" not in dashes and "SEVENTY" not in words
