"""Shared fixtures: write a profile to a temporary file and lint it."""

from __future__ import annotations

import importlib.util
import os
import sys
import textwrap
from pathlib import Path

import pytest

from deidc.lint import LintConfig, lint_source
from deidc.source import load_source

SHARED = Path(__file__).resolve().parents[2] / "shared"
REAL_PROFILES = SHARED / "data" / "real-profiles"


def flywheel_python() -> str | None:
    """An interpreter that can run flywheel-migration (for comparison tests only): this one if
    it has it, $FLYWHEEL_PYTHON, or a venv named fwvenv beside the repository."""
    if importlib.util.find_spec("flywheel_migration") is not None:
        return sys.executable
    candidates = [os.environ.get("FLYWHEEL_PYTHON"),
                  str(Path(__file__).resolve().parents[2] / "fwvenv" / "bin" / "python")]
    return next((c for c in candidates if c and Path(c).exists()), None)


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
