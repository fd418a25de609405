"""CI runs exactly the test command the README gives a fresh machine."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_the_readme_test_command_verbatim():
    readme_lines = (ROOT / "README.md").read_text().splitlines()
    first_block = readme_lines[readme_lines.index("```bash") + 1:readme_lines.index("```")]
    test_command = first_block[1].split("  #")[0].strip()
    assert "pytest" in test_command and "ruff check" in test_command
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test_command in ci_lines
