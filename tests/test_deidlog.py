"""The deid log is never lost or corrupted: rows land as files finish, a full disk leaves the
log as it was, two runs share one log, formula cells are neutralised."""

from __future__ import annotations

import csv
import errno
import os
import subprocess
import sys
import textwrap

import pydicom
import pytest
from pydicom.data import get_testdata_file

from deidc.compiler import compile_profile
from deidc.run import deidlog
from deidc.run.deidlog import DeidLog, LogError
from deidc.run.journal import JOURNAL_NAME
from deidc.run.runner import RunOptions, run

PROFILE = """
    dicom:
      fields:
        - name: PatientID
          replace-with: SUBJECT-001
        - name: PatientName
          replace-with: ANON
"""


@pytest.fixture
def plan(tmp_path):
    path = tmp_path / "profile.yaml"
    path.write_text(textwrap.dedent(PROFILE))
    return compile_profile(str(path))


def inputs(tmp_path, count=3, name="=HYPERLINK(\"http://x\")"):
    folder = tmp_path / "in"
    folder.mkdir()
    source = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
    for number in range(count):
        source.PatientName = name
        source.PatientID = f"P{number}"
        source.save_as(folder / f"{number}.dcm")
    return folder


def rows(log):
    with open(log, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_rows_are_in_the_log_as_each_file_finishes(plan, tmp_path):
    log = tmp_path / "deid.csv"
    seen = []
    run(plan, [str(inputs(tmp_path))], RunOptions(output=str(tmp_path / "out"),
                                                   log_path=str(log)),
        on_result=lambda result: seen.append(len(rows(log))))
    # when a file is reported done, its two rows are already in the log itself
    assert all(count >= 2 * (number + 1) for number, count in enumerate(seen))
    assert seen[-1] == 6
    assert not [p for p in tmp_path.rglob(".deidc-*")]  # no hidden copy of the log


def test_formula_cells_are_neutralised_unless_flywheel_cells_are_asked(plan, tmp_path):
    folder = inputs(tmp_path)
    log = tmp_path / "safe.csv"
    run(plan, [str(folder)], RunOptions(output=str(tmp_path / "a"), log_path=str(log)))
    before = [row for row in rows(log) if row["type"] == "before"]
    assert {row["PatientName"] for row in before} == {"'=HYPERLINK(\"http://x\")"}
    exact = tmp_path / "exact.csv"
    run(plan, [str(folder)], RunOptions(output=str(tmp_path / "b"), log_path=str(exact),
                                        compat_flywheel=True))
    assert {row["PatientName"] for row in rows(exact) if row["type"] == "before"} == \
        {"=HYPERLINK(\"http://x\")"}


@pytest.mark.parametrize("lead", ["=", "+", "-", "@", "\t", "\r"])
def test_every_formula_lead_is_neutralised(lead):
    assert deidlog.neutralise(lead + "1+1") == "'" + lead + "1+1"
    assert deidlog.neutralise("1" + lead) == "1" + lead


def test_a_full_disk_leaves_the_log_as_it_was_and_stops_the_run(plan, tmp_path, monkeypatch):
    log = tmp_path / "deid.csv"
    folder = inputs(tmp_path)
    run(plan, [str(folder)], RunOptions(output=str(tmp_path / "first"), log_path=str(log)))
    precious = log.read_bytes()
    real_write = os.write
    writes = []

    def full_after_a_few_bytes(descriptor, data):
        writes.append(len(data))
        if b"P1" in bytes(data):  # the second file's rows: a few bytes go, then the disk is full
            real_write(descriptor, bytes(data[:7]))
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(descriptor, data)

    monkeypatch.setattr(deidlog.os, "write", full_after_a_few_bytes)
    out = tmp_path / "second"
    with pytest.raises(LogError, match="No space left on device") as stopped:
        run(plan, [str(folder)], RunOptions(output=str(out), log_path=str(log)))
    assert "1.dcm" in str(stopped.value) and "not written" in str(stopped.value)
    first_file_rows = log.read_bytes()[len(precious):]
    assert log.read_bytes().startswith(precious) and first_file_rows.count(b"\n") == 2
    # the file whose rows could not be logged has no output: the re-run writes both
    assert sorted(os.listdir(out)) == [JOURNAL_NAME, "0.dcm"]
    monkeypatch.setattr(deidlog.os, "write", real_write)
    summary = run(plan, [str(folder)], RunOptions(output=str(out), log_path=str(log)))
    assert summary.written == 2 and len(rows(log)) == 6 + 6


FULL_DISK = """
import errno, os, sys
from deidc.run import deidlog
real_write = os.write
def full(descriptor, data):
    if b"P1" in bytes(data):  # the second file's rows
        raise OSError(errno.ENOSPC, "No space left on device")
    return real_write(descriptor, data)
deidlog.os.write = full
sys.argv = ["deidc", *sys.argv[1:]]
from deidc.cli import main
main()
"""


def test_the_cli_says_so_on_a_full_log_without_a_traceback(plan, tmp_path):
    plan_path = tmp_path / "plan.json"
    subprocess.run([sys.executable, "-m", "deidc", "compile", str(tmp_path / "profile.yaml"),
                    "-o", str(plan_path)], check=True, capture_output=True)
    log = tmp_path / "deid.csv"
    result = subprocess.run([sys.executable, "-c", FULL_DISK, "apply", str(plan_path),
                             str(inputs(tmp_path)), "-o", str(tmp_path / "out"), "--log",
                             str(log), "-j", "1"], capture_output=True, text=True)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "No space left on device" in result.stderr and "1.dcm" in result.stderr
    assert len(rows(log)) == 2
    assert sorted(os.listdir(tmp_path / "out")) == [JOURNAL_NAME, "0.dcm"]


def test_two_runs_share_one_log(plan, tmp_path):
    log = tmp_path / "deid.csv"
    first = DeidLog(str(log), ["PatientID"])
    second = DeidLog(str(log), ["PatientID"])
    for number in range(50):
        for writer, name in ((first, "a"), (second, "b")):
            writer.write([{"path": f"{name}{number}", "type": "before", "PatientID": "x" * 5000},
                          {"path": f"{name}{number}", "type": "after", "PatientID": "y"}],
                         name)
    first.close()
    second.close()
    lines = log.read_text().splitlines()
    assert lines[0] == "path,type,PatientID"  # one header
    assert len(rows(log)) == 200
    for before, after in zip(rows(log)[::2], rows(log)[1::2]):  # each file's rows together
        assert before["path"] == after["path"]


def test_two_concurrent_processes_keep_both_runs_rows(plan, tmp_path):
    folder = inputs(tmp_path, count=20)
    plan_path = tmp_path / "plan.json"
    subprocess.run([sys.executable, "-m", "deidc", "compile", str(tmp_path / "profile.yaml"),
                    "-o", str(plan_path)], check=True, capture_output=True)
    log = tmp_path / "deid.csv"
    runs = [subprocess.Popen([sys.executable, "-m", "deidc", "apply", str(plan_path),
                              str(folder), "-o", str(tmp_path / f"out{n}"), "--log", str(log),
                              "-j", "1"], stderr=subprocess.PIPE) for n in range(2)]
    for process in runs:
        assert process.wait() == 0, process.stderr.read()
    assert log.read_text().count("path,type") == 1
    assert len(rows(log)) == 2 * 2 * 20


def test_a_log_that_is_a_folder_or_not_a_log_is_refused(plan, tmp_path):
    with pytest.raises(LogError, match="is a folder"):
        DeidLog(str(tmp_path), ["PatientID"])
    binary = tmp_path / "image.png"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\0\0")
    with pytest.raises(LogError, match="not a deid log"):
        DeidLog(str(binary), ["PatientID"])
    with pytest.raises(LogError, match="not a regular file"):
        DeidLog("/dev/null", ["PatientID"])
    assert binary.read_bytes() == b"\x89PNG\r\n\x1a\n\0\0"


@pytest.mark.skipif(sys.platform == "darwin", reason="macOS refuses non-UTF-8 file names")
def test_a_file_name_that_is_not_utf8_is_logged_not_a_crash(plan, tmp_path):
    folder = inputs(tmp_path, count=1)
    os.rename(folder / "0.dcm", os.path.join(os.fsencode(folder), b"caf\xe9.dcm"))
    log = tmp_path / "deid.csv"
    summary = run(plan, [str(folder)], RunOptions(output=str(tmp_path / "out"),
                                                  log_path=str(log)))
    assert summary.written == 1 and rows(log)[0]["path"] == "caf\\udce9.dcm"
