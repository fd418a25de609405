"""deidc apply on pydicom's real test files: outputs hold every action, no PHI survives, bad
files fail alone, nothing partial is written, exit codes say what happened."""

from __future__ import annotations

import csv
import glob
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

from deidc.compiler import compile_profile
from deidc.run.journal import JOURNAL_NAME
from deidc.run.runner import RunError, RunOptions, is_temporary, run

TEST_FILES = Path(os.path.dirname(pydicom.__file__)) / "data" / "test_files"

PROFILE = """
    deid-log: {log}
    dicom:
      date-increment: 14
      remove-private-tags: true
      patient-age-from-birthdate: true
      fields:
        - name: PatientID
          replace-with: SUBJECT-001
        - name: PatientName
          remove: true
        - name: StudyDate
          increment-date: true
        - name: AccessionNumber
          hash: true
        - name: StudyInstanceUID
          hashuid: true
        - name: SOPInstanceUID
          hashuid: true
        - name: (0009, "GEMS_IDEN_01", 04)
          keep: true
        - name: ReferringPhysicianName
          replace-with: ''
        - name: PatientWeight
          jitter: true
          jitter-range: 5
"""


@pytest.fixture
def plan(tmp_path):
    path = tmp_path / "profile.yaml"
    path.write_text(textwrap.dedent(PROFILE.format(log=tmp_path / "logs" / "deid.csv")))
    return compile_profile(str(path))


def outputs(folder) -> list[str]:
    """The files a run wrote in ``folder`` (its run journal aside)."""
    return [name for name in os.listdir(folder) if name != JOURNAL_NAME]


def copy_inputs(tmp_path, names):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in names:
        shutil.copy(get_testdata_file(name, download=False), folder / name)
    return folder


def test_every_action_holds_and_no_phi_survives(plan, tmp_path):
    inputs = copy_inputs(tmp_path, ["CT_small.dcm", "MR_small.dcm"])
    before = {p.name: pydicom.dcmread(p) for p in inputs.iterdir()}
    summary = run(plan, [str(inputs)], RunOptions(output=str(tmp_path / "out"), seed=7,
                                                  log_path=str(tmp_path / "deid.csv")))
    assert (summary.written, summary.failed) == (2, 0)
    for name, original in before.items():
        output = tmp_path / "out" / name
        result = pydicom.dcmread(output)
        raw = output.read_bytes()
        assert result.PatientID == "SUBJECT-001"
        assert "PatientName" not in result
        assert result.ReferringPhysicianName == ""
        assert result.StudyDate != original.StudyDate and len(result.StudyDate) == 8
        assert result.AccessionNumber != original.AccessionNumber or not original.AccessionNumber
        assert result.SOPInstanceUID != original.SOPInstanceUID
        assert result.file_meta.MediaStorageSOPInstanceUID == result.SOPInstanceUID
        assert not [e for e in result if e.tag.is_private and e.tag.group != 0x0009]
        for value in (str(original.PatientName), original.SOPInstanceUID,
                      original.StudyInstanceUID):
            assert value.encode() not in raw, f"{value} survives in {name}"
        assert len(str(result.PatientWeight)) <= 16
    # CT_small has the GE private block: only the kept element and its creator remain.
    ct = pydicom.dcmread(tmp_path / "out" / "CT_small.dcm")
    assert sorted((e.tag.group, e.tag.element) for e in ct if e.tag.is_private) == \
        [(0x0009, 0x0010), (0x0009, 0x1004)]


def test_both_paths_agree_and_the_run_says_which(plan, tmp_path):
    inputs = copy_inputs(tmp_path, ["CT_small.dcm", "MR_small_implicit.dcm"])
    fast = run(plan, [str(inputs)], RunOptions(output=str(tmp_path / "a"), seed=1))
    slow = run(plan, [str(inputs)], RunOptions(output=str(tmp_path / "b"), seed=1,
                                               fast_path=False))
    assert fast.written == slow.written == 2
    assert slow.fallbacks == 2 and fast.fallbacks == 0  # implicit VR too takes the fast path
    assert slow.fallback_reasons == {"fast path off": 2}
    assert fast.fallback_reasons == {}
    for name in ("CT_small.dcm", "MR_small_implicit.dcm"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_deid_log_has_flywheel_layout(plan, tmp_path):
    inputs = copy_inputs(tmp_path, ["CT_small.dcm"])
    log = tmp_path / "deid.csv"
    run(plan, [str(inputs)], RunOptions(output=str(tmp_path / "out"), log_path=str(log)))
    rows = list(csv.DictReader(log.open()))
    assert [r["type"] for r in rows] == ["before", "after"]
    assert list(rows[0])[:5] == ["path", "type", "StudyInstanceUID", "SeriesInstanceUID",
                                 "SOPInstanceUID"]
    assert rows[0]["PatientID"] == "1CT1" and rows[1]["PatientID"] == "SUBJECT-001"
    assert rows[1]["PatientName"] == ""
    run(plan, [str(inputs)], RunOptions(output=str(tmp_path / "out2"), log_path=str(log)))
    assert len(list(csv.DictReader(log.open()))) == 4  # appended, one header


def test_corrupt_files_fail_alone_and_nothing_partial_is_left(plan, tmp_path):
    inputs = copy_inputs(tmp_path, ["CT_small.dcm"])
    good = (inputs / "CT_small.dcm").read_bytes()
    (inputs / "truncated.dcm").write_bytes(good[:2000])
    (inputs / "garbage.dcm").write_bytes(b"\0" * 128 + b"DICM" + os.urandom(3000))
    (inputs / "notes.txt").write_text("not DICOM")
    failures = []
    summary = run(plan, [str(inputs)], RunOptions(output=str(tmp_path / "out")),
                  on_result=lambda r: failures.append(r) if r.status == "failed" else None)
    assert summary.written >= 1 and summary.skipped == 1
    assert summary.failed == len(failures) >= 1 and summary.exit_code == 1
    for result in failures:
        assert "\n" not in result.reason and "Traceback" not in result.reason
    leftovers = [p for p in (tmp_path / "out").rglob("*") if p.name.startswith(".deidc-")]
    assert leftovers == []
    assert (inputs / "CT_small.dcm").read_bytes() == good  # inputs untouched


@pytest.mark.parametrize("path", sorted(glob.glob(str(TEST_FILES / "**" / "*.dcm"),
                                                   recursive=True)), ids=os.path.basename)
def test_every_pydicom_test_file_gives_a_result_not_a_crash(plan, tmp_path, path):
    results = []
    run(plan, [path], RunOptions(output=str(tmp_path / "out")), on_result=results.append)
    (result,) = results
    assert result.status in ("written", "unchanged", "failed")
    if result.status == "failed":
        assert result.reason and "\n" not in result.reason
    else:
        pydicom.dcmread(tmp_path / "out" / os.path.basename(path), force=True)


def test_existing_outputs_are_kept_unless_overwrite(plan, tmp_path):
    inputs = copy_inputs(tmp_path, ["CT_small.dcm"])
    out = tmp_path / "out"
    out.mkdir()
    (out / "CT_small.dcm").write_bytes(b"precious")
    summary = run(plan, [str(inputs)], RunOptions(output=str(out)))
    assert summary.skipped == 1 and (out / "CT_small.dcm").read_bytes() == b"precious"
    summary = run(plan, [str(inputs)], RunOptions(output=str(out), overwrite=True))
    assert summary.written == 1 and (out / "CT_small.dcm").read_bytes() != b"precious"


def test_dry_run_writes_nothing(plan, tmp_path):
    inputs = copy_inputs(tmp_path, ["CT_small.dcm"])
    summary = run(plan, [str(inputs)], RunOptions(dry_run=True))
    assert summary.written == 1
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == \
        ["CT_small.dcm", "profile.yaml"]


def test_in_place_only_when_asked(plan, tmp_path):
    inputs = copy_inputs(tmp_path, ["CT_small.dcm"])
    with pytest.raises(RunError, match="output folder"):
        run(plan, [str(inputs)], RunOptions())
    run(plan, [str(inputs)], RunOptions(in_place=True))
    assert pydicom.dcmread(inputs / "CT_small.dcm").PatientID == "SUBJECT-001"


def many_inputs(tmp_path, copies=10):
    """Enough small files (4 + 40) for ``--jobs 2`` to start a worker."""
    names = ["CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "JPEG2000.dcm"]
    inputs = copy_inputs(tmp_path, names)
    for copy in range(copies):
        for name in names:
            shutil.copy(inputs / name, inputs / f"{copy}-{name}")
    return inputs


def counting_workers(monkeypatch):
    """Record how many workers each run forks."""
    from deidc.run import workers

    started = []
    real = workers.Workers

    def spy(count, work, *args, **kwargs):
        started.append(count)
        return real(count, work, *args, **kwargs)

    monkeypatch.setattr(workers, "Workers", spy)
    return started


def test_parallel_run_matches_serial_run_with_a_seed(plan, tmp_path, monkeypatch):
    inputs = many_inputs(tmp_path)
    started = counting_workers(monkeypatch)
    for name, jobs in (("one", 1), ("two", 2)):
        summary = run(plan, [str(inputs)], RunOptions(output=str(tmp_path / name), seed=3,
                                                      jobs=jobs, log_path=f"{tmp_path}/{name}.csv"))
    assert started == [1] and summary.written == 44  # this process is the second worker
    for path in (tmp_path / "one").glob("*.dcm"):
        assert path.read_bytes() == (tmp_path / "two" / path.name).read_bytes()
    # the deid log has the same rows, in the order the files were done
    logs = [(tmp_path / f"{name}.csv").read_text().splitlines() for name in ("one", "two")]
    assert logs[0][0] == logs[1][0] and sorted(logs[0]) == sorted(logs[1])
    assert len(logs[0]) == 1 + 2 * 44


def test_a_few_files_are_done_without_starting_workers(plan, tmp_path, monkeypatch):
    started = counting_workers(monkeypatch)
    inputs = copy_inputs(tmp_path, ["CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "JPEG2000.dcm"])
    summary = run(plan, [str(inputs)], RunOptions(output=str(tmp_path / "out"), jobs=2))
    assert summary.written == 4 and started == []


def test_a_few_large_files_are_split_between_workers(plan, tmp_path, monkeypatch):
    """Batches are cut by bytes too: four files over the batch size are four batches, enough
    for a worker, where by count alone they would be one batch done by this process."""
    from deidc.run import runner

    monkeypatch.setattr(runner, "BATCH_BYTES", 1 << 20)
    source = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
    source.PixelData = bytes(1500 * 1024)
    inputs = tmp_path / "in"
    inputs.mkdir()
    for number in range(4):
        source.save_as(inputs / f"{number}.dcm")
    started = counting_workers(monkeypatch)
    workers_log = tmp_path / "pids"
    real_work = runner._work

    def logging_work(*args):
        with open(workers_log, "a") as log:
            log.write(f"{os.getpid()}\n")
        return real_work(*args)

    monkeypatch.setattr(runner, "_work", logging_work)
    summary = run(plan, [str(inputs)], RunOptions(output=str(tmp_path / "out"), jobs=2))
    assert started == [1] and summary.written == 4
    assert workers_log.read_text().split()  # the worker did some (this process skips _work)
    assert len(outputs(tmp_path / "out")) == 4


def test_long_paths_travel_in_smaller_batches_or_stay_here(plan, tmp_path):
    """A batch is one queue message (PIPE_BUF bytes): files with long paths go in smaller
    batches, and a file whose paths fit no message is done by this process."""
    from deidc.run import workers

    inputs = tmp_path / "in"
    deep = inputs
    while len(str(deep)) < workers.MESSAGE * 2 // 3:  # its paths fit no message
        deep = deep / ("d" * 200)
    middle = inputs / ("m" * 200) / ("m" * 200)  # a few paths to a message
    for folder in (deep, middle, inputs):
        folder.mkdir(parents=True, exist_ok=True)
        for number in range(20):
            shutil.copy(get_testdata_file("CT_small.dcm", download=False),
                        folder / f"{number}.dcm")
    run(plan, [str(inputs)], RunOptions(output=str(tmp_path / "one"), seed=5, jobs=1))
    summary = run(plan, [str(inputs)], RunOptions(output=str(tmp_path / "two"), seed=5, jobs=2))
    assert summary.written == 60
    for path in (tmp_path / "one").rglob("*.dcm"):
        assert path.read_bytes() == (tmp_path / "two" / path.relative_to(tmp_path / "one")
                                     ).read_bytes()


def test_batches_put_the_largest_files_first_and_cut_by_bytes(tmp_path, monkeypatch):
    from deidc.run import runner

    monkeypatch.setattr(runner, "BATCH_BYTES", 1000)
    monkeypatch.setattr(runner, "WINDOW", 4)
    inputs = tmp_path / "in"
    inputs.mkdir()
    sizes = [100, 900, 300, 50, 700, 10]
    for number, size in enumerate(sizes):
        (inputs / f"{number}.dcm").write_bytes(bytes(size))
    batches = list(runner._batches(runner.discover([str(inputs)], RunOptions(dry_run=True))))
    named = [[os.path.getsize(job.source) for job in batch] for batch in batches]
    # files 0-3 are one window, 4-5 the next; a batch ends once it holds 1000 bytes
    assert named == [[900, 300], [100, 50], [700, 10]]


def test_a_worker_that_dies_fails_only_its_own_files(plan, tmp_path, monkeypatch):
    """A killed worker (out of memory, a crash in a C library) fails the batches it held; the
    run goes on in this process, says which files failed, and exits 1."""
    from deidc.run import runner

    inputs = many_inputs(tmp_path)
    real_work = runner._work
    main_process = os.getpid()

    def dies_in_a_worker(plan, options, batch):
        if os.getpid() != main_process:  # dies writing its first file, as if killed
            (tmp_path / "out").mkdir(exist_ok=True)
            source, relative, _earlier = batch[0]
            target = str(tmp_path / "out" / relative)
            open(runner._temporary_name(target, os.getpid()), "wb").close()
            os._exit(9)
        return real_work(plan, options, batch)

    monkeypatch.setattr(runner, "_work", dies_in_a_worker)
    results = []
    summary = run(plan, [str(inputs)], RunOptions(output=str(tmp_path / "out"), jobs=2),
                  on_result=results.append)
    failed = [result for result in results if result.status == "failed"]
    assert summary.written + summary.failed == 44 and summary.exit_code == 1
    assert all("ended unexpectedly" in result.reason for result in failed)
    written = {result.job.relative for result in results if result.status == "written"}
    assert failed and written  # the worker's first batch failed, this process did the rest
    assert written == set(outputs(tmp_path / "out"))  # the dead worker's .part is gone too


def test_an_interrupted_parallel_run_leaves_whole_outputs_and_no_workers(plan, tmp_path):
    """The run stops within a batch or two: its workers are stopped, not left to finish."""
    inputs = many_inputs(tmp_path, copies=30)
    out = tmp_path / "out"

    def interrupt_after_20(result):
        if interrupt_after_20.seen == 20:
            raise KeyboardInterrupt
        interrupt_after_20.seen += 1

    interrupt_after_20.seen = 0
    with pytest.raises(KeyboardInterrupt):
        run(plan, [str(inputs)], RunOptions(output=str(out), jobs=2),
            on_result=interrupt_after_20)
    with pytest.raises(ChildProcessError):  # every worker was waited for
        os.waitpid(-1, os.WNOHANG)
    names = outputs(out)
    assert not [name for name in names if name.endswith(".part")]
    assert 20 <= len(names) < 124
    for name in names:
        assert pydicom.dcmread(out / name).PatientID == "SUBJECT-001"


def test_ctrl_c_stops_a_run_cleanly(plan, tmp_path):
    """Ctrl-C reaches the whole process group: the main process and its workers stop, remove
    the files they were writing, and the command says how to finish the job; exit code 130."""
    import signal
    import time

    inputs = copy_inputs(tmp_path, ["CT_small.dcm"])
    for number in range(1500):  # long enough a run to interrupt it in the middle
        os.link(inputs / "CT_small.dcm", inputs / f"{number}.dcm")
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-m", "deidc", "apply",
                                str(tmp_path / "profile.yaml"), str(inputs), "-o", str(out),
                                "-j", "2"], stderr=subprocess.PIPE, text=True,
                               start_new_session=True,  # as a terminal's foreground job:
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 60
    # counted: outputs already renamed into place, not the workers' temporary files (a
    # worker can hold 50 of those before the main process commits one)
    while not (out.exists() and sum(not is_temporary(name) for name in outputs(out)) > 50
               ) and time.monotonic() < deadline:
        time.sleep(0.005)
    os.killpg(process.pid, signal.SIGINT)
    _, errors = process.communicate(timeout=60)
    assert process.returncode == 130, errors
    assert "interrupted after" in errors and "Traceback" not in errors
    names = outputs(out)
    assert not [name for name in names if name.endswith(".part")]
    assert 0 < len(names) < 1501
    again = cli("apply", str(tmp_path / "profile.yaml"), str(inputs), "-o", str(out))
    assert again.returncode == 0 and f"{len(names)} skipped" in again.stderr
    assert len(outputs(out)) == 1501


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "deidc", *args], capture_output=True,
                          text=True, cwd=cwd)


def test_cli_exit_codes(plan, tmp_path):
    inputs = copy_inputs(tmp_path, ["CT_small.dcm"])
    profile = tmp_path / "profile.yaml"
    ok = cli("apply", str(profile), str(inputs), "-o", str(tmp_path / "out"), "-j", "1")
    assert ok.returncode == 0, ok.stderr
    assert "1 written" in ok.stderr
    (inputs / "bad.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00")
    some_failed = cli("apply", str(profile), str(inputs), "-o", str(tmp_path / "out2"))
    assert some_failed.returncode == 1 and "bad.dcm" in some_failed.stderr
    assert "Traceback" not in some_failed.stderr
    usage = cli("apply", str(profile), str(inputs))
    assert usage.returncode == 2 and "-o OUTDIR" in usage.stderr
    bad_profile = tmp_path / "bad.yaml"
    bad_profile.write_text("dicom:\n  fields:\n    - name: PatientsName\n      remove: true\n")
    refused = cli("apply", str(bad_profile), str(inputs), "-o", str(tmp_path / "out3"))
    assert refused.returncode == 2 and not (tmp_path / "out3").exists()


def test_progress_bar_on_a_terminal_with_workers(plan, tmp_path):
    """On a terminal the bar is drawn (without rich's refresh thread, as the workers are forked
    from this process) and cleared; the summary line stays."""
    import pty

    inputs = many_inputs(tmp_path)
    controller, terminal = pty.openpty()
    try:
        process = subprocess.Popen([sys.executable, "-m", "deidc", "apply",
                                    str(tmp_path / "profile.yaml"), str(inputs),
                                    "-o", str(tmp_path / "out"), "-j", "2"],
                                   stdout=subprocess.DEVNULL, stderr=terminal)
        os.close(terminal)
        shown = b""
        while True:  # read as it comes: a full terminal buffer would stall the run
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # every writer has closed the terminal: all read
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(controller)
    assert process.wait(timeout=120) == 0
    assert b"44 written, 0 unchanged, 0 skipped, 0 failed" in shown
    assert len(outputs(tmp_path / "out")) == 44


def test_applying_a_plan_does_not_import_pydicom(tmp_path):
    """When the fast path takes every file, neither pydicom nor the linter is loaded."""
    inputs = copy_inputs(tmp_path, ["CT_small.dcm"])
    profile = tmp_path / "fast.yaml"
    profile.write_text(textwrap.dedent(PROFILE.format(log="''")).replace(
        "jitter: true", "remove: true").replace("deid-log: ''", ""))
    plan_path = tmp_path / "plan.json"
    plan_path.write_text(compile_profile(str(profile)).to_json())
    probe = ("import sys; from deidc.cli.quick import quick_apply; quick_apply(['apply', "
             f"{str(plan_path)!r}, {str(inputs)!r}, '-o', {str(tmp_path / 'out')!r}, '-j', '1'])"
             "\nprint('pydicom' in sys.modules, 'deidc.lint' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert "Dataset path" not in result.stderr
    assert result.stdout.split() == ["False", "False"], result.stderr


def test_python_api_apply_of_a_plan_loads_neither_linter_nor_pydicom(tmp_path):
    """deidc.apply(plan file, ...) from Python keeps deidc/__init__'s promise: the fast path
    takes the file, and nothing of the linter, the profile model or pydicom is imported."""
    inputs = copy_inputs(tmp_path, ["CT_small.dcm"])
    profile = tmp_path / "fast.yaml"
    profile.write_text("dicom:\n  fields:\n    - name: PatientName\n      remove: true\n")
    plan_path = tmp_path / "plan.json"
    plan_path.write_text(compile_profile(str(profile)).to_json())
    probe = ("import sys, deidc\n"
             f"summary = deidc.apply({str(plan_path)!r}, {str(inputs)!r}, "
             f"{str(tmp_path / 'out')!r}, jobs=1)\n"
             "print(summary.written, sorted(m for m in sys.modules if m.split('.')[0] == "
             "'pydicom' or m.startswith(('deidc.lint', 'deidc.profile', 'deidc.compiler'))))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.stdout.split(maxsplit=1) == ["1", "[]\n"], result.stderr
    assert pydicom.dcmread(tmp_path / "out" / "CT_small.dcm").get("PatientName") is None


def test_nested_wildcard_recurse_regex_and_regex_sub(tmp_path):
    profile = tmp_path / "nested.yaml"
    profile.write_text(textwrap.dedent("""
        dicom:
          fields:
            - name: BeamSequence.0.InstitutionName
              replace-with: HOSPITAL
            - name: DoseReferenceSequence.*.DoseReferenceDescription
              remove: true
            - regex: '.*DeviceSerialNumber'
              remove: true
            - name: PatientID
              regex-sub:
                - input-regex: '(?P<site>[A-Za-z]+)(?P<number>\\d*).*'
                  output: 'SITE-{number}'
    """))
    plan = compile_profile(str(profile))
    inputs = copy_inputs(tmp_path, ["rtplan.dcm"])
    original = pydicom.dcmread(inputs / "rtplan.dcm")
    summary = run(plan, [str(inputs)], RunOptions(output=str(tmp_path / "out")))
    assert summary.written == 1 and summary.fallbacks == 0  # all on the fast path
    result = pydicom.dcmread(tmp_path / "out" / "rtplan.dcm")
    assert result.BeamSequence[0].InstitutionName == "HOSPITAL"
    assert all("DoseReferenceDescription" not in item for item in result.DoseReferenceSequence)
    assert len(result.DoseReferenceSequence) == len(original.DoseReferenceSequence)
    assert "DeviceSerialNumber" not in result.BeamSequence[0]  # regex reaches nested paths
    assert result.PatientID.startswith("SITE-")


def test_recurse_sequence_reaches_every_item(tmp_path):
    profile = tmp_path / "recurse.yaml"
    profile.write_text("dicom:\n  recurse-sequence: true\n  fields:\n"
                       "    - name: ReferencedSOPInstanceUID\n      hashuid: true\n")
    plan = compile_profile(str(profile))
    inputs = copy_inputs(tmp_path, ["rtplan.dcm"])
    original = pydicom.dcmread(inputs / "rtplan.dcm")
    run(plan, [str(inputs)], RunOptions(output=str(tmp_path / "out")))
    result = pydicom.dcmread(tmp_path / "out" / "rtplan.dcm")
    before = original.ReferencedStructureSetSequence[0].ReferencedSOPInstanceUID
    after = result.ReferencedStructureSetSequence[0].ReferencedSOPInstanceUID
    assert after != before and after.startswith(".".join(before.split(".")[:4]))


def test_outputs_have_ordinary_permissions(plan, tmp_path):
    inputs = copy_inputs(tmp_path, ["CT_small.dcm"])
    old = os.umask(0o022)
    try:
        run(plan, [str(inputs)], RunOptions(output=str(tmp_path / "out")))
    finally:
        os.umask(old)
    assert (tmp_path / "out" / "CT_small.dcm").stat().st_mode & 0o777 == 0o644


def test_outputs_follow_the_umask_of_the_run_even_past_a_leftover_temporary(plan, tmp_path):
    """A crashed run with this process's pid left its temporary name behind: the output is
    written under another name, with the permissions the umask at run time gives."""
    inputs = copy_inputs(tmp_path, ["CT_small.dcm", "MR_small.dcm"])
    out = tmp_path / "out"
    out.mkdir()
    (out / f".deidc-{os.getpid()}-CT_small.dcm.part").write_bytes(b"left by a crash")
    old = os.umask(0o027)
    try:
        run(plan, [str(inputs)], RunOptions(output=str(out), jobs=1))
    finally:
        os.umask(old)
    for name in ("CT_small.dcm", "MR_small.dcm"):
        assert (out / name).stat().st_mode & 0o777 == 0o640
        assert pydicom.dcmread(out / name).SOPInstanceUID
    assert sorted(p.name for p in out.iterdir() if p.name.endswith(".part")) == [
        f".deidc-{os.getpid()}-CT_small.dcm.part"]


def test_private_element_named_by_hex_is_acted_on(tmp_path):
    """Flywheel applies a rule naming a private element by its hex tag; so does deidc."""
    profile = tmp_path / "hex.yaml"
    profile.write_text("dicom:\n  fields:\n    - name: '00091001'\n      replace-with: XYZ\n"
                       "      replace-with-insert: false\n")
    plan = compile_profile(str(profile))
    inputs = copy_inputs(tmp_path, ["CT_small.dcm"])
    for fast_path in (True, False):
        out = tmp_path / f"out-{fast_path}"
        run(plan, [str(inputs)], RunOptions(output=str(out), fast_path=fast_path))
        assert pydicom.dcmread(out / "CT_small.dcm")[0x00091001].value == "XYZ"
    assert (tmp_path / "out-True" / "CT_small.dcm").read_bytes() == \
        (tmp_path / "out-False" / "CT_small.dcm").read_bytes()


def test_a_second_run_in_one_process_writes_into_a_folder_made_again(plan, tmp_path):
    """The API can run twice in one process into an output folder deleted in between: the
    runner's memory of folders it made must not make every file fail."""
    import deidc

    source = get_testdata_file("CT_small.dcm", download=False)
    out = tmp_path / "out"
    for _ in range(2):
        shutil.rmtree(out, ignore_errors=True)
        summary = deidc.apply(plan, [source], str(out), jobs=1)
        assert (summary.written, summary.failed) == (1, 0)
        assert (out / "CT_small.dcm").exists()


@pytest.mark.parametrize("trailing", ["", "/"])
def test_folder_structure_is_mirrored_in_the_output(plan, tmp_path, trailing):
    source = get_testdata_file("CT_small.dcm", download=False)
    inputs = tmp_path / "in"
    (inputs / "a" / "b").mkdir(parents=True)
    shutil.copy(source, inputs / "top.dcm")
    shutil.copy(source, inputs / "a" / "b" / "deep.dcm")
    summary = run(plan, [str(inputs) + trailing], RunOptions(output=str(tmp_path / "out"),
                                                              jobs=1))
    assert summary.written == 2
    written = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*")
                     if p.is_file() and p.name != JOURNAL_NAME)
    assert written == [os.path.join("a", "b", "deep.dcm"), "top.dcm"]


def test_a_fifo_among_the_inputs_is_skipped_not_waited_on(plan, tmp_path):
    """Opening a FIFO blocks until someone writes to it: the run would never end."""
    inputs = copy_inputs(tmp_path, ["CT_small.dcm"])
    os.mkfifo(inputs / "pipe.dcm")
    command = [sys.executable, "-m", "deidc", "apply", str(tmp_path / "profile.yaml"),
               str(inputs), "-o", str(tmp_path / "out"), "-j1", "-v"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "skipped" in result.stderr and "not a regular file" in result.stderr
    assert (tmp_path / "out" / "CT_small.dcm").exists()
