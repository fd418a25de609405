"""`deidc apply` read by argparse (deidc.cli.quick) must mean what it means to typer."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import typer.main
from pydicom.data import get_testdata_file

from deidc.cli import applying, quick
from deidc.cli.typer_app import app


def typer_apply_options() -> dict[str, tuple[tuple[str, ...], object]]:
    command = typer.main.get_command(app).commands["apply"]
    return {param.name: (tuple(param.opts) + tuple(param.secondary_opts), param.default)
            for param in command.params if param.param_type_name == "option"}


def test_both_readers_know_the_same_options_with_the_same_defaults():
    typer_options = typer_apply_options()
    fast_path = typer_options.pop("fast_path")
    assert set(fast_path[0]) == set(quick.FAST_PATH) and fast_path[1] is True
    mine = {name: spellings for name, spellings, _ in quick.OPTIONS}
    assert {name: set(spellings) for name, spellings in mine.items()} == \
        {name: set(spellings) for name, (spellings, _) in typer_options.items()}
    paths, defaults = quick.read_arguments(["plan.json", "in"])
    assert paths == ["plan.json", "in"]
    for name, (_, default) in typer_options.items():
        assert defaults[name] == default, name


@pytest.mark.parametrize("argv, expected", [
    (["apply", "p.json", "in", "-o", "out"],
     ("p.json", ["in"], {"output": "out", "jobs": 0, "fast_path": True})),
    (["apply", "-j2", "p.json", "a", "b", "--output=out", "--seed", "7", "--no-fast-path", "-v"],
     ("p.json", ["a", "b"], {"output": "out", "jobs": 2, "seed": 7, "fast_path": False,
                             "verbose": True})),
    (["apply", "p.json", "-o", "out", "--", "-in", "--dry-run"],
     ("p.json", ["-in", "--dry-run"], {"output": "out", "dry_run": False})),
    (["apply", "p.json", "in", "-oout", "--jobs=3", "-j", "4", "--fast-path"],
     ("p.json", ["in"], {"output": "out", "jobs": 4, "fast_path": True})),
    (["apply", "p.json", "in", "-o=out"],  # a short option's value is all that follows it
     ("p.json", ["in"], {"output": "=out"})),
    (["apply", "p.yaml", "in", "--in-place", "--dry-run", "--compat", "flywheel",
      "--log", "l.csv", "--overwrite"],
     ("p.yaml", ["in"], {"in_place": True, "dry_run": True, "compat": "flywheel",
                         "log": "l.csv", "overwrite": True})),
])
def test_plain_forms_run_the_apply_command_with_what_typer_would_pass(argv, expected,
                                                                      monkeypatch):
    seen = []
    monkeypatch.setattr(applying, "apply_command",
                        lambda policy, inputs, **options: seen.append((policy, inputs, options))
                        or 0)
    assert quick.quick_apply(argv) == 0
    policy, inputs, options = seen[0]
    assert (policy, inputs) == expected[:2]
    for name, value in expected[2].items():
        assert options[name] == value, name
    from typer.testing import CliRunner

    assert CliRunner().invoke(app, argv).exit_code == 0  # and typer reads them the same
    assert seen[1] == seen[0]


@pytest.mark.parametrize("argv", [
    [], ["lint", "x.yaml"], ["apply"], ["apply", "p.json"], ["apply", "--help"],
    ["apply", "p.json", "in", "-h"], ["apply", "p.json", "in", "--jobs", "many"],
    ["apply", "p.json", "in", "--unknown"], ["apply", "p.json", "in", "-o"],
    ["apply", "p.json", "in", "--out", "x"],  # an abbreviation: typer decides
    ["apply", "p.json", "in", "-vj2"], ["apply", "p.json", "in", "--verbose=yes"],
    ["apply", "p.json", "in", "-o", "--dry-run"], ["apply", "p.json", "in", "--seed", "-5"],
    ["apply", "p.json", "in", "-h"], ["apply", "p.json", "in", "--jobs=-1"],
    ["apply", "p.json", "in", "-j-2"],
])
def test_anything_else_is_left_to_typer(argv, monkeypatch):
    monkeypatch.setattr(applying, "apply_command", lambda *a, **k: pytest.fail("ran"))
    assert quick.quick_apply(argv) is None


def test_applying_a_plan_from_the_command_line_does_not_import_typer(tmp_path):
    profile = tmp_path / "p.yaml"
    profile.write_text(textwrap.dedent("""
        dicom:
          fields:
            - name: PatientName
              remove: true
    """))
    plan = tmp_path / "plan.json"
    subprocess.run([sys.executable, "-m", "deidc", "compile", str(profile), "-o", str(plan)],
                   check=True, capture_output=True)
    probe = ("import sys, deidc.cli.quick\ncode = deidc.cli.quick.quick_apply(['apply', "
             "sys.argv[1], sys.argv[2], '-o', sys.argv[3], '-j', '1'])\n"
             "print(code, 'typer' in sys.modules, 'pydicom' in sys.modules, "
             "'csv' in sys.modules)")  # csv: the deid log's, and this run keeps none
    result = subprocess.run([sys.executable, "-c", probe, str(plan),
                             get_testdata_file("CT_small.dcm", download=False),
                             str(tmp_path / "out")], capture_output=True, text=True)
    assert result.stdout.split() == ["0", "False", "False", "False"], result.stderr
    assert (tmp_path / "out" / "CT_small.dcm").exists()
    # and with --help, typer answers
    help_text = subprocess.run([sys.executable, "-m", "deidc", "apply", "--help"],
                               capture_output=True, text=True).stdout
    assert "PROFILE|PLAN" in help_text and "--no-fast-path" in help_text


def test_the_typer_command_runs_the_same_code(tmp_path):
    from typer.testing import CliRunner

    profile = tmp_path / "p.yaml"
    profile.write_text("dicom:\n  fields:\n    - name: PatientName\n      remove: true\n")
    source = get_testdata_file("CT_small.dcm", download=False)
    result = CliRunner().invoke(app, ["apply", str(profile), source, "-o", str(tmp_path / "a"),
                                      "-j", "1"])
    assert result.exit_code == 0, result.output
    assert quick.quick_apply(["apply", str(profile), source, "-o", str(tmp_path / "b"),
                              "-j", "1"]) == 0
    assert (tmp_path / "a" / "CT_small.dcm").read_bytes() == \
        (tmp_path / "b" / "CT_small.dcm").read_bytes()
    refused = CliRunner().invoke(app, ["apply", str(tmp_path / "missing.yaml"), source, "-o",
                                       str(tmp_path / "c")])
    assert refused.exit_code == 2 and "no such profile or plan" in refused.output


@pytest.mark.parametrize("command", ["apply", "verify"])
def test_a_negative_jobs_is_a_usage_error(command, tmp_path):
    """It used to run one process without a word."""
    from typer.testing import CliRunner

    (tmp_path / "in").mkdir()
    paths = [str(tmp_path / "p.json"), str(tmp_path / "in"), "-o", str(tmp_path / "out")] \
        if command == "apply" else [str(tmp_path / "in"), str(tmp_path / "out")]
    result = CliRunner().invoke(app, [command, *paths, "--jobs=-1"])
    assert result.exit_code == 2
    assert "-1 is not in the range x>=0" in result.output
