"""Shared fixtures: write a profile to a temporary file and lint it."""

from __future__ import annotations

import importlib.util
import os
import sys
import textwrap
from pathlib import Path

import pytest

from deidc.lint import LintConfig, lint_source
from deidc.profile.source import load_source

# The reference data beside the clone; DEIDC_SHARED points elsewhere (a git worktree's).
SHARED = Path(os.environ.get("DEIDC_SHARED") or Path(__file__).resolve().parents[2] / "shared")
REAL_PROFILES = SHARED / "data" / "real-profiles"


def flywheel_python() -> str | None:
    """An interpreter that can run flywheel-migration (for comparison tests only): this one if
    it has it, $FLYWHEEL_PYTHON, or a venv named fwvenv beside the repository."""
    if importlib.util.find_spec("flywheel_migration") is not None:
        return sys.executable
    candidates = [os.environ.get("FLYWHEEL_PYTHON"),
                  str(Path(__file__).resolve().parents[2] / "fwvenv" / "bin" / "python")]
    return next((c for c in candidates if c and Path(c).exists()), None)


_FLYWHEEL_LOADER = """
import logging, sys, warnings
warnings.simplefilter("ignore")
logging.disable(logging.CRITICAL)
from flywheel_migration.deidentify import load_profile
try:
    load_profile(sys.argv[1])
except Exception as exc:
    print("refused:", type(exc).__name__, str(exc).replace(chr(10), " "))
else:
    print("loaded")
"""


def flywheel_loads(tmp_path, text: str) -> str:
    """What flywheel-migration does with a profile (dedented) at load: ``loaded``, or
    ``refused: <exception type> <message>``.  Needs :func:`flywheel_python`."""
    import subprocess

    path = tmp_path / "fw.yaml"
    path.write_text(textwrap.dedent(text))
    result = subprocess.run([flywheel_python(), "-c", _FLYWHEEL_LOADER, str(path)],
                            capture_output=True, text=True, timeout=120)
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture
def lint_text(tmp_path):
    """Lint YAML text (dedented) as a file; returns the diagnostics."""

    def run(text: str, name: str = "profile.yaml", **config):
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return lint_source(load_source(path), LintConfig(**config))

    return run


def codes(diagnostics) -> list[str]:
    return [d.code for d in diagnostics]
