"""The run journal: an interrupted run, in place or not, is finished by running the same command
again, without doing a finished file twice and without skipping an unfinished one.  Checked on
generated corpora against the bytes of a clean run, with pydicom reading every output."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pydicom
import pytest

from deidc.compiler import compile_profile
from deidc.plan.ir import load_plan
from deidc.run.journal import JOURNAL_NAME, JournalError, run_identity
from deidc.run.runner import RunOptions, run

ROOT = Path(__file__).resolve().parent.parent
PROFILE = """
    dicom:
      date-increment: -17
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


def corpus(folder: Path, count: int) -> Path:
    """``count`` small generated DICOM files with PHI (benchmarks/corpus.py)."""
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "corpus.py"), "--small",
                    str(count), "--large", "0", "--out", str(folder)], check=True,
                   capture_output=True)
    return folder / "small"


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    return corpus(tmp_path_factory.mktemp("corpus"), 40)


@pytest.fixture
def profile(tmp_path):
    path = tmp_path / "profile.yaml"
    path.write_text(textwrap.dedent(PROFILE))
    return path


@pytest.fixture
def reference(generated, profile, tmp_path):
    """The bytes of a clean, uninterrupted run: what every output must be."""
    out = tmp_path / "reference"
    run(compile_profile(str(profile)), [str(generated)], RunOptions(output=str(out), seed=5))
    return {name: (out / name).read_bytes() for name in os.listdir(out) if name != JOURNAL_NAME}


def stop_after(count: int):
    def on_result(result):
        on_result.seen += 1
        if on_result.seen == count:
            raise KeyboardInterrupt

    on_result.seen = 0
    return on_result


def log_rows(log: Path) -> Counter:
    with open(log, newline="", encoding="utf-8") as handle:
        return Counter((row["path"], row["type"]) for row in csv.DictReader(handle))


def check_once(folder: Path, reference: dict, log: Path | None = None) -> None:
    """Every file is the clean run's output (de-identified once), no temporary file is left,
    and the log has one before and one after row for each."""
    names = sorted(name for name in os.listdir(folder) if name != JOURNAL_NAME)
    assert names == sorted(reference)
    for name in names:
        assert (folder / name).read_bytes() == reference[name], name
        assert pydicom.dcmread(folder / name).PatientName == "ANON"
    if log is not None:
        assert log_rows(log) == Counter({(name, kind): 1 for name in names
                                         for kind in ("before", "after")})


@pytest.mark.parametrize("jobs", [1, 2])
def test_an_interrupted_in_place_run_is_finished_with_no_file_done_twice(
        generated, profile, reference, tmp_path, jobs):
    folder = tmp_path / "in"
    shutil.copytree(generated, folder)
    plan = compile_profile(str(profile))
    log = tmp_path / "deid.csv"
    options = RunOptions(in_place=True, seed=5, jobs=jobs, log_path=str(log))
    with pytest.raises(KeyboardInterrupt):
        run(plan, [str(folder)], options, on_result=stop_after(10))
    summary = run(plan, [str(folder)], options)
    assert 0 < summary.written < 40 and summary.skipped == 40 - summary.written
    check_once(folder, reference, log)
    again = run(plan, [str(folder)], options)  # the same command once more: nothing to do
    assert (again.written, again.skipped, again.failed) == (0, 40, 0)
    check_once(folder, reference, log)


def test_a_subfolder_of_an_in_place_run_uses_its_journal(generated, profile, reference,
                                                        tmp_path):
    """Run over part of an earlier in-place run's folder: the files it finished are known."""
    folder = tmp_path / "in"
    shutil.copytree(generated, folder / "sub")
    plan = compile_profile(str(profile))
    run(plan, [str(folder)], RunOptions(in_place=True, seed=5))
    finished = {name: (folder / "sub" / name).read_bytes() for name in reference}
    summary = run(plan, [str(folder / "sub")], RunOptions(in_place=True, seed=5))
    assert summary.written == 0 and summary.skipped == 40
    assert not (folder / "sub" / JOURNAL_NAME).exists()
    # (the seeded draws follow the path under the input given, "sub/...": compared with the
    # first run's own bytes, not the reference's)
    check_once(folder / "sub", finished)


def test_a_copied_in_place_folder_is_still_recognised(generated, profile, reference,
                                                      tmp_path):
    """New inodes and times (cp without -p): the outputs' digests recognise them."""
    folder = tmp_path / "in"
    shutil.copytree(generated, folder)
    plan = compile_profile(str(profile))
    run(plan, [str(folder)], RunOptions(in_place=True, seed=5))
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy, copy_function=shutil.copyfile)
    summary = run(plan, [str(copy)], RunOptions(in_place=True, seed=5))
    assert summary.written == 0 and summary.skipped == 40
    check_once(copy, reference)


def test_the_outputs_digests_are_taken_as_they_are_written(generated, profile, tmp_path,
                                                            monkeypatch):
    """The journal's digest of each output is the SHA-256 of its first MiB, on the fast path
    and the Dataset path (a big endian file), without reading the output back; a mapped
    input whose pixel data is copied by descriptor, past the writer, is read back."""
    import hashlib
    import json

    from pydicom.data import get_testdata_file

    from deidc.run import journal

    folder = tmp_path / "in"
    shutil.copytree(generated, folder)
    shutil.copy(get_testdata_file("MR_small_bigendian.dcm", download=False), folder)
    large = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
    large.Rows, large.Columns = 1536, 3072
    large.PixelData = bytes(range(256)) * (1536 * 3072 * 2 // 256)
    large.save_as(folder / "large.dcm", enforce_file_format=True)
    read_back = []
    reread = journal.file_digest

    def file_digest(path, size=journal.HEAD):
        read_back.append(os.path.basename(path))
        return reread(path, size)

    monkeypatch.setattr(journal, "file_digest", file_digest)
    out = tmp_path / "out"
    summary = run(compile_profile(str(profile)), [str(folder)], RunOptions(output=str(out),
                                                                           seed=5))
    assert (summary.written, summary.fallbacks, summary.failed) == (42, 1, 0)
    lines = (out / JOURNAL_NAME).read_text().splitlines()
    records = {record["f"]: record for record in map(json.loads, lines) if "f" in record}
    assert sorted(records) == sorted(os.listdir(folder))
    for name, record in records.items():
        with open(out / name, "rb") as handle:
            assert record["out"][3] == hashlib.sha256(handle.read(1 << 20)).hexdigest(), name
    assert [name.split("-")[-1] for name in read_back] == ["large.dcm.part"]


KILLED = """
import os, sys
from deidc.run import journal
real_replace = os.replace
calls, kill_at = [], int(sys.argv[1])
def replace(source, target):
    calls.append(target)
    if len(calls) == kill_at:  # killed after some renames of a group, not all
        os._exit(9)
    return real_replace(source, target)
journal.os.replace = replace
sys.argv = ["deidc", *sys.argv[2:]]
from deidc.cli import main
main()
"""


@pytest.mark.parametrize("in_place", [True, False])
def test_a_run_killed_in_the_middle_of_a_commit_is_finished_by_the_rerun(
        generated, profile, reference, tmp_path, in_place):
    """Killed after some of a group's renames: the others' journal lines and rows are written,
    their temporary files whole; the re-run renames them (their rows are not written twice)
    and does the rest."""
    folder = tmp_path / "in"
    shutil.copytree(generated, folder)
    log = tmp_path / "deid.csv"
    out = folder if in_place else tmp_path / "out"
    where = ["--in-place"] if in_place else ["-o", str(out)]
    command = ["apply", str(profile), str(folder), *where, "--seed", "5", "--log", str(log),
               "-j", "1"]
    killed = subprocess.run([sys.executable, "-c", KILLED, "20", *command],
                            capture_output=True, text=True)
    assert killed.returncode == 9, killed.stderr
    assert [name for name in os.listdir(out) if name.endswith(".part")]  # left by the kill
    again = subprocess.run([sys.executable, "-m", "deidc", *command], capture_output=True,
                           text=True)
    assert again.returncode == 0, again.stderr
    check_once(out, reference, log)


def test_an_input_that_changed_is_done_again_and_its_output_replaced(generated, profile,
                                                                     tmp_path):
    """A half-received file, completed since: its input identity changed, so the re-run
    redoes it (its old output is the journal's, so it is replaced without --overwrite)."""
    folder = tmp_path / "in"
    shutil.copytree(generated, folder)
    plan = compile_profile(str(profile))
    out = tmp_path / "out"
    first = sorted(os.listdir(folder))[0]
    whole = (folder / first).read_bytes()
    dataset = pydicom.dcmread(folder / first)
    dataset.PatientWeight = 50
    dataset.save_as(folder / first)  # the first version
    run(plan, [str(folder)], RunOptions(output=str(out), seed=5))
    (folder / first).write_bytes(whole)
    summary = run(plan, [str(folder)], RunOptions(output=str(out), seed=5))
    assert (summary.written, summary.skipped) == (1, 39)
    reference = tmp_path / "reference"
    run(plan, [str(folder)], RunOptions(output=str(reference), seed=5))
    assert (out / first).read_bytes() == (reference / first).read_bytes()


def test_another_plan_on_the_same_journal_is_refused(generated, profile, tmp_path):
    folder = tmp_path / "in"
    shutil.copytree(generated, folder)
    run(compile_profile(str(profile)), [str(folder)], RunOptions(in_place=True, seed=5))
    before = {name: (folder / name).read_bytes() for name in os.listdir(folder)}
    other = tmp_path / "other.yaml"
    other.write_text(textwrap.dedent(PROFILE).replace("-17", "-30"))
    with pytest.raises(JournalError, match="another plan"):
        run(compile_profile(str(other)), [str(folder)], RunOptions(in_place=True, seed=5))
    with pytest.raises(JournalError, match="another plan"):  # another seed is another run
        run(compile_profile(str(profile)), [str(folder)], RunOptions(in_place=True, seed=6))
    assert {name: (folder / name).read_bytes() for name in os.listdir(folder)} == before
    cli = subprocess.run([sys.executable, "-m", "deidc", "apply", str(other), str(folder),
                          "--in-place"], capture_output=True, text=True)
    assert cli.returncode == 2 and "Traceback" not in cli.stderr
    assert "another plan" in cli.stderr and len(cli.stderr.splitlines()) == 1


@pytest.mark.parametrize("name", ["blocklist.yaml", "keeplist.yaml"])
def test_a_plan_and_its_file_are_one_run_and_a_change_is_another(name, tmp_path):
    """The journal's run identity: the same for a profile compiled in the run and for its
    plan read back from the file `deidc compile` writes (a run started with one and finished
    with the other), whatever the profile's path and notes; another for any other rule."""
    profile = ROOT / "examples" / name
    plan = compile_profile(str(profile))
    written = tmp_path / "plan.json"
    written.write_text(plan.to_json())
    moved = tmp_path / name
    moved.write_text(profile.read_text() + "\n# a comment\n")
    assert run_identity(plan, 5, False) == run_identity(load_plan(str(written)), 5, False) \
        == run_identity(compile_profile(str(moved)), 5, False)
    assert run_identity(plan, 5, False) != run_identity(plan, 6, False) \
        != run_identity(plan, 6, True)
    data = json.loads(plan.to_json())
    data["entries"].pop()  # one rule fewer
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(data))
    assert run_identity(load_plan(str(changed)), 5, False) != run_identity(plan, 5, False)


KILLED_BEFORE_ANY_COMMIT = """
import os, sys
from deidc.run import journal
def append(self, record):  # the first file's journal line: its temporary file is written
    os._exit(9)
journal.Journal.append = append
sys.argv = ["deidc", *sys.argv[1:]]
from deidc.cli import main
main()
"""


@pytest.mark.parametrize("in_place", [True, False])
def test_a_run_killed_before_its_first_commit_leaves_no_temporary_file(
        generated, profile, reference, tmp_path, in_place):
    """Its journal holds no file line, yet its temporary files (PHI, in a hidden file) are
    there: the journal's begin line without an end tells the re-run to look for them."""
    folder = tmp_path / "in"
    shutil.copytree(generated, folder)
    out = folder if in_place else tmp_path / "out"
    where = ["--in-place"] if in_place else ["-o", str(out)]
    command = ["apply", str(profile), str(folder), *where, "--seed", "5", "-j", "1"]
    killed = subprocess.run([sys.executable, "-c", KILLED_BEFORE_ANY_COMMIT, *command],
                            capture_output=True, text=True)
    assert killed.returncode == 9, killed.stderr
    assert [name for name in os.listdir(out) if name.endswith(".part")]
    again = subprocess.run([sys.executable, "-m", "deidc", *command], capture_output=True,
                           text=True)
    assert again.returncode == 0, again.stderr
    check_once(out, reference)
