"""Shared fixtures: write a profile to a temporary file and lint it."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from deidc.lint import LintConfig, lint_source
from deidc.source import load_source

SHARED = Path(__file__).resolve().parents[2] / "shared"
REAL_PROFILES = SHARED / "data" / "real-profiles"


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
