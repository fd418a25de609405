"""Paths: real paths compared, an input never its own output, one output per input (refused
before anything is written), unreadable folders reported and counted, --in-place keeping mode
and owner and refusing symbolic links."""

from __future__ import annotations

import os
import shutil
import stat
import textwrap

import pydicom
import pytest
from pydicom.data import get_testdata_file

from deidc.compiler import compile_profile
from deidc.run.journal import JOURNAL_NAME
from deidc.run.runner import RunError, RunOptions, run

PROFILE = """
    dicom:
      fields:
        - name: PatientName
          replace-with: ANON
"""
CT = get_testdata_file("CT_small.dcm", download=False)


@pytest.fixture
def plan(tmp_path):
    path = tmp_path / "profile.yaml"
    path.write_text(textwrap.dedent(PROFILE))
    return compile_profile(str(path))


def files(folder, *names):
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(CT, folder / name)
    return folder


def test_an_output_folder_inside_the_input_through_a_symlink_is_refused(plan, tmp_path):
    source = files(tmp_path / "in", "a.dcm")
    os.symlink(source, tmp_path / "link")
    with pytest.raises(RunError, match=r"the output folder .*link/out is inside the input .*in "
                                       r"\(it is .*in/out\): choose a folder outside it"):
        run(plan, [str(source)], RunOptions(output=str(tmp_path / "link" / "out")))
    assert os.listdir(source) == ["a.dcm"]


def test_an_input_inside_the_output_folder_is_refused(plan, tmp_path):
    out = files(tmp_path / "out", "sub/a.dcm")
    with pytest.raises(RunError, match="is inside the output folder .*: its outputs would "
                                       "replace inputs"):
        run(plan, [str(out / "sub")], RunOptions(output=str(out), overwrite=True))


def test_an_input_file_is_never_its_own_output_without_in_place(plan, tmp_path):
    source = files(tmp_path / "in", "a.dcm")
    before = (source / "a.dcm").read_bytes()
    with pytest.raises(RunError, match=r"the output of .*in/a.dcm would be .*in/a.dcm itself: "
                                       "use --in-place"):
        run(plan, [str(source / "a.dcm")], RunOptions(output=str(source), overwrite=True))
    assert (source / "a.dcm").read_bytes() == before


def test_an_output_that_is_a_file_is_one_usage_error(plan, tmp_path):
    source = files(tmp_path / "in", "a.dcm", "b.dcm")
    (tmp_path / "out").write_text("not a folder")
    with pytest.raises(RunError, match="the output .*out exists and is not a folder"):
        run(plan, [str(source)], RunOptions(output=str(tmp_path / "out")))


@pytest.mark.parametrize("overwrite", [False, True])
def test_two_inputs_with_one_output_are_refused_before_anything_is_written(plan, tmp_path,
                                                                           overwrite):
    first = files(tmp_path / "site1", "a.dcm", "x/b.dcm")
    second = files(tmp_path / "site2", "x/b.dcm")
    out = tmp_path / "out"
    with pytest.raises(RunError, match=r"site1/x/b.dcm and .*site2/x/b.dcm would both be "
                                       r"written to .*out/x/b.dcm"):
        run(plan, [str(first), str(second)], RunOptions(output=str(out), overwrite=overwrite))
    assert not out.exists()


def test_a_file_given_twice_is_refused_in_place(plan, tmp_path):
    source = files(tmp_path / "in", "a.dcm")
    before = (source / "a.dcm").read_bytes()
    with pytest.raises(RunError, match="is given twice"):
        run(plan, [str(source), str(source / "a.dcm")], RunOptions(in_place=True))
    assert (source / "a.dcm").read_bytes() == before


def test_an_unreadable_folder_is_reported_and_counted(plan, tmp_path, monkeypatch):
    """(As root every folder is readable: the walk's listing of one is made to fail as a
    folder without the x and r bits does for another user.)"""
    source = files(tmp_path / "in", "a.dcm", "locked/b.dcm")
    scandir = os.scandir

    def refuse_locked(path="."):
        if os.fspath(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", refuse_locked)
    monkeypatch.setattr(os, "listdir", lambda path=".": [entry.name for entry in
                                                         refuse_locked(path)])
    summary = run(plan, [str(source)], RunOptions(output=str(tmp_path / "out")))
    assert (summary.written, summary.failed) == (1, 1)
    assert summary.failures[0].endswith("in/locked: this folder cannot be read (Permission "
                                        "denied): the files in it were not de-identified")


@pytest.mark.skipif(os.getuid() != 0, reason="giving a file another owner needs root")
def test_in_place_keeps_mode_and_owner(plan, tmp_path):
    source = files(tmp_path / "in", "a.dcm")
    path = source / "a.dcm"
    os.chmod(path, 0o600)
    os.chown(path, 12345, 23456)
    summary = run(plan, [str(source)], RunOptions(in_place=True))
    assert summary.written == 1 and pydicom.dcmread(path).PatientName == "ANON"
    now = os.stat(path)
    assert stat.S_IMODE(now.st_mode) == 0o600 and (now.st_uid, now.st_gid) == (12345, 23456)


def test_in_place_refuses_a_symbolic_link_and_leaves_both_alone(plan, tmp_path):
    target = files(tmp_path / "elsewhere", "a.dcm") / "a.dcm"
    before = target.read_bytes()
    folder = tmp_path / "in"
    folder.mkdir()
    os.symlink(target, folder / "a.dcm")
    summary = run(plan, [str(folder)], RunOptions(in_place=True))
    assert summary.failed == 1 and summary.failures[0].endswith(
        "a.dcm: a symbolic link: --in-place replaces files, not links (the link would go and "
        "the file it points to keep its PHI); give the file itself")
    assert os.path.islink(folder / "a.dcm") and target.read_bytes() == before
    assert sorted(os.listdir(folder)) == [JOURNAL_NAME, "a.dcm"]


def test_a_fifo_given_as_input_is_named_as_such(plan, tmp_path):
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(RunError, match="pipe is neither a regular file nor a folder"):
        run(plan, [str(tmp_path / "pipe")], RunOptions(output=str(tmp_path / "out")))


def test_a_run_piped_into_head_finishes_its_work(plan, tmp_path):
    """`deidc apply -v ... 2>&1 | head -1`: once head has read its line and gone, the lines
    still to come go nowhere, and every file is done (the run stopped after 16 files)."""
    import subprocess
    import sys

    source = files(tmp_path / "in", *(f"{number:02d}.dcm" for number in range(60)))
    (tmp_path / "plan.yaml").write_text(textwrap.dedent(PROFILE))
    process = subprocess.Popen([sys.executable, "-m", "deidc", "apply", str(tmp_path / "plan.yaml"),
                                str(source), "-o", str(tmp_path / "out"), "-v", "-j", "1"],
                               stderr=subprocess.PIPE)
    assert process.stderr.readline().startswith(b"written ")
    process.stderr.close()
    assert process.wait(timeout=120) == 0
    outputs = sorted(os.listdir(tmp_path / "out"))
    assert outputs == sorted([JOURNAL_NAME] + os.listdir(source))
    assert all(pydicom.dcmread(tmp_path / "out" / name).PatientName == "ANON"
               for name in outputs if name != JOURNAL_NAME)
