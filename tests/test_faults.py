"""Fault injection: `deidc apply` killed at random points (SIGKILL, SIGTERM, SIGINT, SIGHUP), in place
and into an output folder, with one and two processes, then finished by running the same
command again.  Judged by walking the outputs with pydicom and reading the deid log as CSV,
never by asking deidc's report or journal: every input has exactly one output, byte-identical
to a clean run's (so de-identified exactly once), its study date shifted exactly once, and
exactly one before and one after row in the log, whose after row is the output's values.

The kill delays are drawn (seeded) between 0 and the measured length of a clean run, so the
kills land everywhere: during start-up, in the middle of batches, inside commit groups, after
the last file.  Each killed run is followed by the same command, itself killed in turn a few
times, before one is let finish.  The figures the README gives come from this test."""

from __future__ import annotations

import csv
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

ROOT = Path(__file__).resolve().parent.parent
JOURNAL = ".deidc.journal"
SHIFT = -17
PROFILE = f"""
    dicom:
      date-increment: {SHIFT}
      fields:
        - name: PatientID
          hash: true
        - name: PatientName
          replace-with: ANON
        - name: StudyDate
          increment-date: true
        - name: StudyInstanceUID
          hashuid: true
        - name: SOPInstanceUID
          hashuid: true
        - name: PatientWeight
          jitter: true
          jitter-range: 5
"""
# Real files of pydicom's own, beside the generated ones: explicit and implicit VR, JPEG 2000,
# and two that take the Dataset path (big endian, deflated), so kills land in both paths.
REAL = ("CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "JPEG2000.dcm", "MR_small_bigendian.dcm",
        "image_dfl.dcm", "waveform_ecg.dcm")
GENERATED = 240
KILLS = (signal.SIGKILL, signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
CHAINS = 3  # per case: a fresh copy of the inputs, killed runs, one run let finish
KILLS_PER_CHAIN = 4


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """The generated corpus (benchmarks/corpus.py, over pydicom's CT_small.dcm: one patient,
    study and date per few files) at the top, pydicom's real files in a subfolder."""
    base = tmp_path_factory.mktemp("corpus")
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "corpus.py"), "--small",
                    str(GENERATED), "--large", "0", "--out", str(base)], check=True,
                   capture_output=True)
    folder = base / "small"
    (folder / "real").mkdir()
    for name in REAL:
        shutil.copyfile(get_testdata_file(name, download=False), folder / "real" / name)
    return folder


@pytest.fixture(scope="module")
def profile(tmp_path_factory):
    path = tmp_path_factory.mktemp("profile") / "profile.yaml"
    path.write_text(textwrap.dedent(PROFILE))
    return path


def command(profile: Path, folder: Path, out: Path, in_place: bool, jobs: int,
            log: Path) -> list[str]:
    where = ["--in-place"] if in_place else ["-o", str(out)]
    return [sys.executable, "-m", "deidc", "apply", str(profile), str(folder), *where,
            "--seed", "5", "-j", str(jobs), "--log", str(log)]


def files(folder: Path) -> dict[str, Path]:
    """Every file under ``folder`` by relative path, hidden ones included."""
    return {str(path.relative_to(folder)): path for path in folder.rglob("*") if path.is_file()}


def log_rows(log: Path) -> list[dict]:
    with open(log, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def logged(log: Path) -> int:
    """How many files the log has rows for."""
    return sum(row["type"] == "after" for row in log_rows(log)) if log.exists() else 0


def shifted(value: str) -> str:
    day = date(int(value[:4]), int(value[4:6]), int(value[6:8])) + timedelta(days=SHIFT)
    return day.strftime("%Y%m%d")


@pytest.fixture(scope="module")
def clean(inputs, profile, tmp_path_factory):
    """A clean run's outputs (bytes by relative path) and its wall time, which bounds the
    kill delays."""
    base = tmp_path_factory.mktemp("clean")
    start = time.monotonic()
    subprocess.run(command(profile, inputs, base / "out", False, 1, base / "deid.csv"),
                   check=True, capture_output=True)
    took = time.monotonic() - start
    outputs = {name: path.read_bytes() for name, path in files(base / "out").items()
               if name != JOURNAL}
    assert sorted(outputs) == sorted(files(inputs))
    return outputs, took


def kill(argv: list[str], delay: float, signum: int, until=None) -> tuple[
        float | None, subprocess.CompletedProcess]:
    """Run ``argv``, send ``signum`` to its main process after ``delay`` seconds (or, given
    ``until``, as soon as ``until()`` holds), wait for it and every process it forked.
    Returns ``None`` when the signal found it still running, else about how long it took
    to end by itself."""
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               start_new_session=True)
    start = time.monotonic()
    while process.poll() is None:
        elapsed = time.monotonic() - start
        if (until() if until is not None else elapsed >= delay):
            break
        time.sleep(0.005 if until is not None else min(0.005, delay - elapsed))
    ended = None if process.poll() is None else time.monotonic() - start
    if ended is None:
        process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=60)
    deadline = time.monotonic() + 15  # a worker left without its main process must go too
    while True:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            break
        assert time.monotonic() < deadline, "a worker outlived its killed run"
        time.sleep(0.01)
    return ended, subprocess.CompletedProcess(argv, process.returncode, stdout, stderr)


@pytest.fixture(scope="module")
def originals(inputs):
    return {name: pydicom.dcmread(path) for name, path in files(inputs).items()}


def check(originals: dict, out: Path, log: Path, reference: dict[str, bytes]) -> int:
    """The outputs and the log as a site would find them; returns the outputs checked."""
    found = files(out)
    assert found.pop(JOURNAL, None) is not None
    assert sorted(found) == sorted(reference), "an output is missing, or a stray file is left"
    rows = log_rows(log)
    assert Counter((row["path"], row["type"]) for row in rows) == Counter(
        {(name, kind): 1 for name in reference for kind in ("before", "after")})
    after = {row["path"]: row for row in rows if row["type"] == "after"}
    for name, path in found.items():
        assert path.read_bytes() == reference[name], f"{name} differs from a clean run's"
        output, original = pydicom.dcmread(path), originals[name]
        assert output.PatientName == "ANON"
        if original.get("PatientID"):
            assert output.PatientID != original.PatientID
        if original.get("StudyDate"):
            assert output.StudyDate == shifted(original.StudyDate), f"{name}: shifted twice?"
        assert after[name]["PatientID"] == output.PatientID
        assert after[name]["SOPInstanceUID"] == output.SOPInstanceUID
    return len(found)


@pytest.mark.parametrize("jobs", [1, 2])
@pytest.mark.parametrize("in_place", [True, False], ids=["in-place", "to-folder"])
def test_killed_runs_finished_by_the_same_command_lose_nothing_and_do_nothing_twice(
        inputs, originals, profile, clean, tmp_path, in_place, jobs):
    reference, took = clean
    draw = random.Random(f"{in_place}-{jobs}")
    kills = landed = midway = checked = 0
    for chain in range(CHAINS):
        base = tmp_path / str(chain)
        folder = base / "in"
        shutil.copytree(inputs, folder)
        out = folder if in_place else base / "out"
        log = base / "deid.csv"
        argv = command(profile, folder, out, in_place, jobs, log)
        # A re-run has less left to do, and -j 2 or a quiet machine runs faster than the clean
        # run did: a run that ends before its signal bounds the next delays.
        longest = took * 1.1
        for number in range(KILLS_PER_CHAIN):
            signum = draw.choice(KILLS)
            before = logged(log)
            # the first kill of a chain waits for the first logged file, so that every
            # chain is cut mid-batch however fast or loaded the machine is
            ended, result = kill(argv, draw.uniform(0, longest), signum,
                                 (lambda: logged(log) > 0) if number == 0 else None)
            if ended is not None:
                longest = min(longest, ended)
            kills += 1
            landed += ended is None and result.returncode != 0
            done = logged(log)
            midway += 0 < done < len(reference)
            if done > before or signum == signal.SIGKILL:
                # (a signal in the interpreter's start-up, before deidc's handlers, ends it
                # as Python's defaults do: a SIGINT there can even exit 1)
                assert result.returncode in (0, -signum, 128 + signum), result.stderr
            if result.returncode == 128 + signum:  # deidc's own handler: its one message
                assert b"Traceback" not in result.stderr, result.stderr
        finished = subprocess.run(argv, capture_output=True)
        assert finished.returncode == 0, finished.stderr
        checked += check(originals, out, log, reference)
    print(f"\nin_place={in_place} jobs={jobs}: {kills} kills, {landed} in a run, "
          f"{midway} after some files and before the last, "
          f"{checked} outputs checked")
    # The delays span a clean run, so most kills find the run under way, some of them
    # in the middle of its files.
    assert landed >= kills // 2 and midway >= CHAINS
