"""`deidc apply --cluster`: a real Dask scheduler and worker processes on loopback (the
`dask scheduler` and `dask worker` commands; `local:N`, a LocalCluster, in a command of its
own) give the bytes and the deid log of a ``--jobs 1`` run, fail a corrupt file alone, lose
nothing to a worker killed mid-batch, and stop on Ctrl-C with whole outputs only."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

import deidc
from deidc.run.journal import JOURNAL_NAME
from deidc.run.cluster import running_tasks
from deidc.run.runner import RunOptions, _batches, discover, is_temporary

TEST_FILES = Path(os.path.dirname(pydicom.__file__)) / "data" / "test_files"

PROFILE = """
    dicom:
      date-increment: -21
      remove-private-tags: true
      fields:
        - name: PatientID
          hash: true
        - name: PatientName
          replace-with: ANONYMOUS
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


def distributed_or_skip():
    return pytest.importorskip("distributed", reason="the dask extra is not installed "
                                                     "(pip install -e '.[test,dask]')")


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory):
    """The address of a scheduler and two single-threaded workers (each under a nanny, which
    restarts it if it dies), started with the `dask scheduler` and `dask worker` commands on
    loopback: a LocalCluster in this process would leave a child process and Dask's settings
    in its environment (MALLOC_TRIM_THRESHOLD_ and others) to the tests that run after."""
    distributed_or_skip()
    dask = [sys.executable, "-m", "dask"]
    address_file = tmp_path_factory.mktemp("dask") / "scheduler.json"
    quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started = [subprocess.Popen([*dask, "scheduler", "--host", "127.0.0.1", "--port", "0",
                                 "--dashboard-address", ":0", "--scheduler-file",
                                 str(address_file)], **quiet)]
    try:
        deadline = time.monotonic() + 60
        while not address_file.exists() or not address_file.read_text().strip():
            assert time.monotonic() < deadline, "the scheduler did not start"
            time.sleep(0.05)
        time.sleep(0.05)  # written whole
        address = json.loads(address_file.read_text())["address"]
        started.append(subprocess.Popen([*dask, "worker", address, "--nworkers", "2",
                                         "--nthreads", "1", "--no-dashboard"], **quiet))
        yield address
    finally:
        for process in reversed(started):
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def client(scheduler):
    import distributed

    with distributed.Client(scheduler) as connected:
        connected.wait_for_workers(2, timeout=60)
        yield connected


@pytest.fixture
def plan(tmp_path):
    path = tmp_path / "profile.yaml"
    path.write_text(textwrap.dedent(PROFILE))
    return deidc.compile_profile(str(path))


def copies(folder: Path, count: int) -> Path:
    """``count`` real DICOM files (CT and MR, alternately), in two subfolders."""
    sources = [get_testdata_file(name, download=False) for name in ("CT_small.dcm",
                                                                     "MR_small.dcm")]
    for number in range(count):
        target = folder / f"series{number % 2}" / f"{number:03}.dcm"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(sources[number % 2], target)
    return folder


def tree(folder: Path) -> dict[str, bytes]:
    """Every output under ``folder`` by relative path, its bytes (the run journal aside)."""
    return {str(path.relative_to(folder)): path.read_bytes() for path in folder.rglob("*")
            if path.is_file() and path.name != JOURNAL_NAME}


def leftovers(folder: Path) -> list[str]:
    return [str(path) for path in folder.rglob("*") if is_temporary(path.name)]


def test_the_bytes_and_the_deid_log_are_those_of_jobs_1(plan, client, tmp_path):
    log_local, log_cluster = tmp_path / "local.csv", tmp_path / "cluster.csv"
    local = deidc.apply(plan, [str(TEST_FILES)], str(tmp_path / "local"), jobs=1, seed=11,
                        log_path=str(log_local))
    remote = deidc.apply(plan, [str(TEST_FILES)], str(tmp_path / "cluster"), client=client,
                         seed=11, log_path=str(log_cluster))
    assert (remote.written, remote.unchanged, remote.skipped, remote.failed) == \
        (local.written, local.unchanged, local.skipped, local.failed)
    assert remote.written > 100 and remote.failed > 0  # pydicom's test files hold broken ones
    assert sorted(remote.failures) == sorted(local.failures)
    outputs = tree(tmp_path / "cluster")
    assert outputs == tree(tmp_path / "local")
    # the same rows, in the same order: the cluster's log is the --jobs 1 run's, byte for byte
    assert log_cluster.read_bytes() == log_local.read_bytes()
    assert log_cluster.read_text().count("\n") > 2 * 100
    # and the work was the workers': the plan's values are in the outputs, the originals gone
    ct = pydicom.dcmread(tmp_path / "cluster" / "CT_small.dcm")
    original = pydicom.dcmread(TEST_FILES / "CT_small.dcm")
    assert ct.PatientName == "ANONYMOUS" and ct.StudyDate != original.StudyDate
    assert original.SOPInstanceUID.encode() not in outputs["CT_small.dcm"]
    assert not leftovers(tmp_path / "cluster")


def test_the_dataset_path_and_another_seed_give_the_jobs_1_bytes(plan, client, tmp_path):
    inputs = copies(tmp_path / "in", 12)
    deidc.apply(plan, [str(inputs)], str(tmp_path / "local"), jobs=1, seed=3, fast_path=False)
    summary = deidc.apply(plan, [str(inputs)], str(tmp_path / "cluster"), client=client,
                          seed=3, fast_path=False)
    assert summary.written == 12 and summary.fallbacks == 12
    assert tree(tmp_path / "cluster") == tree(tmp_path / "local")
    weights = {pydicom.dcmread(tmp_path / "cluster" / name).PatientWeight
               for name in ("series0/000.dcm", "series0/002.dcm", "series0/004.dcm")}
    assert len(weights) > 1  # a draw per file, not one per worker or per batch


def test_a_corrupt_file_fails_alone_and_existing_outputs_stay(plan, client, tmp_path):
    inputs = copies(tmp_path / "in", 6)
    good = (inputs / "series0" / "000.dcm").read_bytes()
    (inputs / "series0" / "corrupt.dcm").write_bytes(good[:132] + b"\xff" * 500)
    (inputs / "notes.txt").write_text("not DICOM")
    out = tmp_path / "out"
    (out / "series1").mkdir(parents=True)
    (out / "series1" / "001.dcm").write_bytes(b"someone else's file")
    command = [sys.executable, "-m", "deidc", "apply", str(tmp_path / "profile.yaml"),
               str(inputs), "-o", str(out), "--cluster", client.scheduler.address]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr
    failed = [line for line in result.stderr.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 1 and "corrupt.dcm: not a DICOM file" in failed[0]
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(
        "5 written, 0 unchanged, 2 skipped, 1 failed in ")
    assert (out / "series1" / "001.dcm").read_bytes() == b"someone else's file"
    assert not (out / "series0" / "corrupt.dcm").exists()
    for name in ("series0/000.dcm", "series1/003.dcm", "series0/004.dcm"):
        assert pydicom.dcmread(out / name).PatientName == "ANONYMOUS"
    assert not leftovers(out)
    overwritten = subprocess.run(command + ["--overwrite"], capture_output=True, text=True,
                                 timeout=120)
    assert overwritten.returncode == 1
    assert pydicom.dcmread(out / "series1" / "001.dcm").PatientName == "ANONYMOUS"


def test_a_worker_killed_mid_batch_costs_nothing(plan, client, tmp_path):
    """kill -9 of a worker in the middle of a batch, once it has written some of the batch's
    files: Dask gives the batch to the other worker, which must not trip over the dead
    attempt's temporary files; at the end every file is written once, as --jobs 1 writes it,
    and no temporary file is left."""
    inputs = copies(tmp_path / "in", 96)
    deidc.apply(plan, [str(inputs)], str(tmp_path / "local"), jobs=1, seed=5, fast_path=False,
                log_path=str(tmp_path / "local.csv"))
    pids = client.run(os.getpid)
    out = tmp_path / "out"
    # The batches the run will cut, by number: its tasks' keys end with it (deidc-TOKEN-N)
    jobs = discover([str(inputs)], RunOptions(output=str(out)))
    batches = {number: {job.relative for job in batch}
               for number, batch in enumerate(_batches(jobs), 1)}
    killed = []

    def written_not_returned() -> set[str]:
        """The outputs whose temporary file is there, by relative path."""
        return {os.path.join(os.path.relpath(os.path.dirname(path), out),
                             re.sub(r"^\.deidc-c[0-9a-f]+-(.*)\.part$", r"\1",
                                    os.path.basename(path)))
                for path in leftovers(out)}

    def kill_one_mid_batch():
        """Kill the first worker seen running a batch of which a file is already written and
        a few are not (so that the batch cannot end before the kill lands)."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            running = client.run(running_tasks, "deidc-", on_error="ignore")
            written = written_not_returned() if any(running.values()) else set()
            for worker, keys in running.items():
                for key in keys:
                    batch = batches[int(key.rsplit("-", 1)[1])]
                    if batch & written and len(batch - written) >= 6:
                        os.kill(pids[worker], signal.SIGKILL)
                        killed.append(key)
                        return
            time.sleep(0.001)

    killer = threading.Thread(target=kill_one_mid_batch)
    killer.start()
    try:
        summary = deidc.apply(plan, [str(inputs)], str(out), client=client, seed=5,
                              fast_path=False, log_path=str(tmp_path / "cluster.csv"))
    finally:
        killer.join()
    assert killed, "no worker was caught mid-batch"
    assert (summary.written, summary.failed) == (96, 0)
    assert tree(out) == tree(tmp_path / "local")
    assert (tmp_path / "cluster.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()
    assert not leftovers(out)
    # The dead attempt had left its temporary files: the retry wrote those files under other
    # names (every attempt's first choice is the run's one name for a file, .deidc-c<token>-)
    parts = [json.loads(line)["part"] for line in (out / JOURNAL_NAME).read_text().splitlines()
             if '"part"' in line]
    assert len(parts) == 96
    assert any(not part.startswith(".deidc-c") for part in parts)


@pytest.mark.parametrize("where", ["scheduler", "local:2"])
def test_ctrl_c_cancels_the_rest_and_leaves_whole_outputs_only(where, plan, request, tmp_path):
    """SIGINT to the client of a running scheduler; and, for ``local:2``, to the whole process
    group, as a terminal's Ctrl-C sends it (the client's own workers must not die of it)."""
    if where == "scheduler":
        where = request.getfixturevalue("client").scheduler.address
    # enough files that the run is still going when the signal lands (160 took 0.6 s, and
    # were all written by then about one run in three)
    inputs = copies(tmp_path / "in", 1000)
    out = tmp_path / "out"
    run = subprocess.Popen([sys.executable, "-m", "deidc", "apply",
                            str(tmp_path / "profile.yaml"), str(inputs), "-o", str(out),
                            "--no-fast-path", "--cluster", where],
                           stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(out.rglob("*.dcm"))) < 16:
        time.sleep(0.005)
    if where.startswith("local:"):
        os.killpg(run.pid, signal.SIGINT)
    else:
        run.send_signal(signal.SIGINT)
    _, stderr = run.communicate(timeout=60)
    assert run.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    time.sleep(0.5)  # were a worker still writing, its file would appear now
    assert not leftovers(out)
    written = list(out.rglob("*.dcm"))
    assert 16 <= len(written) < 1000
    for path in written:  # whole: each one reads, de-identified
        assert pydicom.dcmread(path).PatientName == "ANONYMOUS"


def test_local_n_starts_its_own_cluster(tmp_path):
    distributed_or_skip()
    inputs = copies(tmp_path / "in", 4)
    profile = tmp_path / "profile.yaml"
    profile.write_text(textwrap.dedent(PROFILE))
    result = subprocess.run([sys.executable, "-m", "deidc", "apply", str(profile), str(inputs),
                             "-o", str(tmp_path / "out"), "--cluster", "local:1", "--seed",
                             "1"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("4 written, 0 unchanged, 0 skipped, 0 failed in ")
    assert len(tree(tmp_path / "out")) == 4


def test_an_unreachable_scheduler_is_one_line_and_exit_2(tmp_path):
    distributed_or_skip()
    profile = tmp_path / "profile.yaml"
    profile.write_text(textwrap.dedent(PROFILE))
    environment = dict(os.environ, DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT="1s")
    result = subprocess.run([sys.executable, "-m", "deidc", "apply", str(profile),
                             str(TEST_FILES / "CT_small.dcm"), "-o", str(tmp_path / "out"),
                             "--cluster", "tcp://127.0.0.1:9"], capture_output=True,
                            text=True, timeout=120, env=environment)
    assert result.returncode == 2
    assert result.stderr.startswith("deidc apply: --cluster tcp://127.0.0.1:9: cannot reach a "
                                    "Dask scheduler there")
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_without_the_extra_the_message_says_what_to_install(tmp_path):
    """Run with distributed made unimportable, as on a machine without the extra; and plain
    runs never import Dask."""
    profile = tmp_path / "profile.yaml"
    profile.write_text(textwrap.dedent(PROFILE))
    source = str(TEST_FILES / "CT_small.dcm")
    probe = ("import sys\nsys.modules['distributed'] = sys.modules['dask'] = None\n"
             "from deidc.cli.quick import quick_apply\n"
             "print(quick_apply(sys.argv[1:]))")
    missing = subprocess.run([sys.executable, "-c", probe, "apply", str(profile), source, "-o",
                              str(tmp_path / "a"), "--cluster", "local:2"],
                             capture_output=True, text=True, timeout=60)
    assert missing.stdout.split() == ["2"]
    assert missing.stderr == ("deidc apply: --cluster needs Dask distributed, an optional "
                              "extra: pip install 'deidc[dask]'\n")
    plain = ("import sys\nfrom deidc.cli.quick import quick_apply\n"
             "code = quick_apply(sys.argv[1:])\n"
             "print(code, 'distributed' in sys.modules, 'dask' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", plain, "apply", str(profile), source, "-o",
                             str(tmp_path / "b"), "-j", "1"], capture_output=True, text=True,
                            timeout=60)
    assert result.stdout.split() == ["0", "False", "False"], result.stderr


def test_distributeds_cancel_race_is_not_shown_and_other_errors_are():
    """The one tornado record CancelRace drops is the NameError raised in ``cancel`` of
    distributed/utils.py (a Ctrl-C before sync() set its future); the same error anywhere
    else, and records without an error, still show."""
    import logging

    from deidc.run.cluster import CancelRace

    def record(filename: str, function: str) -> logging.LogRecord:
        space: dict = {}
        exec(compile(f"def {function}():\n    return future\n", filename, "exec"), space)
        try:
            space[function]()
        except NameError:
            error = sys.exc_info()
        return logging.LogRecord("tornado.application", logging.ERROR, __file__, 0,
                                 "Exception in callback", (), error)

    distributed_utils = os.path.join("site-packages", "distributed", "utils.py")
    race = CancelRace()
    assert not race.filter(record(distributed_utils, "cancel"))
    assert race.filter(record(distributed_utils, "wait"))
    assert race.filter(record(os.path.join("deidc", "utils.py"), "cancel"))
    assert race.filter(logging.LogRecord("tornado.application", logging.ERROR, __file__, 0,
                                         "an error without a traceback", (), None))


RACE = """
import io, logging, signal, sys, time
import distributed.utils
from deidc.run.cluster import CancelRace
shown = io.StringIO()
tornado = logging.getLogger("tornado.application")
tornado.addHandler(logging.StreamHandler(shown))
if sys.argv[1] == "filtered":
    tornado.addFilter(CancelRace())
runner = distributed.utils.LoopRunner(asynchronous=False)
runner.start()
runner.loop.add_callback(time.sleep, 0.5)  # busy: the call sync() waits for has not started


async def call():
    return 1


def interrupt(*_):
    raise KeyboardInterrupt


signal.signal(signal.SIGALRM, interrupt)
signal.setitimer(signal.ITIMER_REAL, 0.1)  # Ctrl-C while sync() waits
try:
    distributed.utils.sync(runner.loop, call)
except KeyboardInterrupt:
    pass
time.sleep(0.8)  # the loop runs the call, then its cancel
runner.stop()
print(shown.getvalue())
"""


def test_a_ctrl_c_before_distributeds_call_starts_shows_no_traceback(tmp_path):
    """The race itself, made certain: Ctrl-C while the loop has not yet started the call
    sync() waits for.  Without the filter tornado logs the NameError's traceback; with it,
    nothing."""
    script = tmp_path / "race.py"
    script.write_text(RACE)

    def shown(mode: str) -> str:
        return subprocess.run([sys.executable, str(script), mode], capture_output=True,
                              text=True, timeout=60).stdout

    assert "NameError" in shown("plain")
    assert shown("filtered").strip() == ""
