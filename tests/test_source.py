"""Hostile input: every file a profile path might point at ends quickly, in bounded memory, with
a diagnostic that names the problem, and never with a traceback (in-process and through the
CLI)."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deidc.lint import REGISTRY, lint_source
from deidc.profile.source import MAX_BYTES, MAX_DEPTH, load_source

from tests.conftest import codes

BILLION_LAUGHS = "\n".join(
    ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]) + "\n"


def _huge_profile(path: Path) -> None:
    """50 MB of well-formed rules: only the size cap stops it."""
    rule = "    - name: PatientName\n      remove: true\n"
    with open(path, "w") as handle:
        handle.write("dicom:\n  fields:\n")
        handle.write(rule * (50 * 1024 * 1024 // len(rule)))


def _dicom_file() -> bytes:
    from pydicom.data import get_testdata_file

    return Path(get_testdata_file("CT_small.dcm", download=False)).read_bytes()


# name → (content or writer, expected code, words the message must contain)
HOSTILE = {
    "alias-bomb.yaml": (BILLION_LAUGHS, "Y001", "aliases"),
    "deep-list.yaml": ("[" * 10_000 + "]" * 10_000, "Y001", "nested deeper"),
    "deep-map.yaml": ("{a: " * 10_000 + "}" * 10_000, "Y001", "nested deeper"),
    "deep-list.json": ("[" * 10_000 + "]" * 10_000, "Y001", "nested deeper"),
    "deep-block.yaml": ("".join(" " * i + "a:\n" for i in range(1_000)), "Y001", "deep"),
    "many-values.yaml": ("a: [" + "1, " * 100_000 + "1]\n", "Y001", "YAML values"),
    "huge.yaml": (_huge_profile, "Y001", "larger than"),
    "latin-1.yaml": ("name: José\ndicom: {}\n".encode("latin-1"), "Y001", "not valid UTF-8"),
    "random-bytes.yaml": (random.Random(0).randbytes(64 * 1024), "Y001", "not valid UTF-8"),
    "dicom-file.yaml": (_dicom_file, "Y001", "not valid UTF-8"),
    "nul-byte.yaml": (b"dicom:\n  fields: \x00\n", "Y001", "YAML error"),
    "empty.yaml": ("", "Y005", "empty"),
    "broken.json": ('{"dicom": {"fields": [{"name": "PatientID",}]}}', "Y001",
                    "JSON syntax error"),
    "duplicate-keys.yaml": ("dicom:\n  fields: []\ndicom:\n  remove-private-tags: true\n",
                            "Y002", "duplicate key `dicom`"),
}


def _write(directory: Path, name: str) -> Path:
    content = HOSTILE[name][0]
    path = directory / name
    if callable(content):
        if content is _dicom_file:
            path.write_bytes(content())
        else:
            content(path)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_file_gives_a_clear_diagnostic_quickly(name, tmp_path):
    path = _write(tmp_path, name)
    _, code, words = HOSTILE[name]
    started = time.perf_counter()
    diagnostics = lint_source(load_source(path))
    elapsed = time.perf_counter() - started
    assert code in codes(diagnostics)
    found = next(d for d in diagnostics if d.code == code)
    assert words in found.message
    assert found.hint
    assert elapsed < 2.0, f"{name} took {elapsed:.2f} s"


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_file_through_the_cli(name, tmp_path):
    """A fresh process per file, and its own peak memory: VmHWM, which exec resets (the
    ru_maxrss of a child also counts the test process's own peak, see the alias bomb's test)."""
    path = _write(tmp_path, name)
    code = HOSTILE[name][1]
    peak = tmp_path / "peak"
    cli = ("import atexit, runpy, sys\n"
           "def peak():\n"
           "    status = open('/proc/self/status').read().split('VmHWM:')[1]\n"
           f"    open({str(peak)!r}, 'w').write(status.split()[0])\n"
           "atexit.register(peak)\n"
           "sys.argv[0] = 'deidc'\n"
           "runpy.run_module('deidc', run_name='__main__')\n")
    started = time.perf_counter()
    process = subprocess.run([sys.executable, "-c", cli, "lint", str(path)],
                             capture_output=True, cwd=tmp_path)
    elapsed = time.perf_counter() - started
    assert process.returncode == 1
    assert b"Traceback" not in process.stderr and not process.stderr
    assert code.encode() in process.stdout
    assert elapsed < 3.0, f"{name}: {elapsed:.2f} s including interpreter start-up"
    assert int(peak.read_text()) < 400 * 1024  # KiB


def test_the_size_cap_is_documented_as_it_is(tmp_path):
    cap = f"{MAX_BYTES / 2**20:g} MiB"
    assert f"larger than {cap}" in REGISTRY["Y001"].explanation
    path = tmp_path / "huge.yaml"
    _huge_profile(path)
    (found,) = lint_source(load_source(path))
    assert found.message == f"file is larger than {cap}"


def test_peak_memory_of_the_alias_bomb_is_bounded(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(BILLION_LAUGHS)
    # The peak of this process's own memory: Linux's ru_maxrss also counts the parent's peak
    # when the child was started with vfork (as subprocess does), so a large test process (one
    # that has imported Dask, say) failed the bound; VmHWM is reset by exec.
    script = ("import resource, sys\nfrom deidc.profile.source import load_source\n"
              "load_source(sys.argv[1])\n"
              "try:\n"
              "    status = open('/proc/self/status').read().split('VmHWM:')[1]\n"
              "    print(status.split()[0])\n"
              "except (OSError, IndexError):\n"
              "    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n")
    result = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True,
                            text=True, timeout=30, check=True)
    assert int(result.stdout) < 300 * 1024  # KiB: the expanded document would be ~3 GiB


def test_brackets_in_ordinary_values_are_not_mistaken_for_nesting(tmp_path):
    """The nesting pre-check counts brackets anywhere; real profiles with many regexes and
    flow lists must still load."""
    rules = "".join(f"    - regex: '.*Private[0-9]{{{i % 3 + 1}}}'\n      remove: true\n"
                    for i in range(MAX_DEPTH * 3))
    path = tmp_path / "regexes.yaml"
    path.write_text("dicom:\n  file-filter: ['*.dcm', '*.DCM']\n  fields:\n" + rules)
    source = load_source(path)
    assert source.error is None
    assert len(source.data["dicom"]["fields"]) == MAX_DEPTH * 3


def test_nesting_just_below_the_limit_loads(tmp_path):
    path = tmp_path / "nested.yaml"
    path.write_text("a: " + "[" * (MAX_DEPTH - 2) + "1" + "]" * (MAX_DEPTH - 2) + "\n")
    assert load_source(path).error is None


def test_deep_nesting_is_placed_where_the_limit_is_crossed(tmp_path):
    path = tmp_path / "deep.yaml"
    path.write_text("dicom:\n  fields: " + "[" * 100 + "]" * 100 + "\n")
    error = load_source(path).error
    assert error.kind == "too-deep"
    assert (error.span.line, error.span.column) == (2, 11 + MAX_DEPTH)


def test_a_number_of_5000_digits_is_an_error_at_its_place_not_a_traceback(tmp_path):
    path = tmp_path / "number.yaml"
    path.write_text("dicom:\n  date-increment: " + "9" * 5000 + "\n")
    error = load_source(path).error
    assert error.kind == "too-large" and error.message == \
        "a number of 5000 characters, too long to read"
    assert (error.span.line, error.span.column) == (2, 19)


def test_an_impossible_date_is_an_error_at_its_place(tmp_path):
    path = tmp_path / "date.yaml"
    path.write_text("dicom:\n  date-increment: 2024-02-30\n")
    error = load_source(path).error
    assert error.kind == "syntax" and error.message == \
        "a timestamp YAML cannot read: day is out of range for month"


def test_undecodable_byte_is_placed_on_its_line(tmp_path):
    path = tmp_path / "latin.yaml"
    path.write_bytes(b"dicom:\n  fields:\n    - name: Jos\xe9\n")
    error = load_source(path).error
    assert error.kind == "encoding"
    assert (error.span.line, error.span.column) == (3, 16)


def test_the_largest_profile_accepted_still_lints_in_about_a_second(tmp_path):
    """Just under the composed-node cap: every rule of every family runs over ~2,000 rules."""
    from deidc.profile.source import MAX_COMPOSED_NODES

    rule = "    - name: PatientName\n      remove: true\n"
    count = (MAX_COMPOSED_NODES - 10) // 5  # a rule is 5 nodes: item, 2 keys, 2 values
    path = tmp_path / "large.yaml"
    path.write_text("dicom:\n  fields:\n" + rule * count)
    started = time.perf_counter()
    diagnostics = lint_source(load_source(path))
    elapsed = time.perf_counter() - started
    assert "Y001" not in codes(diagnostics)
    assert "P001" in codes(diagnostics)  # it was really linted
    assert elapsed < 3.0, f"{elapsed:.2f} s"
