"""The typer application: every ``deidc`` command, its options and its help.

Each command lives in its own module and imports what it needs inside the command, so that a
command does not pay for the linter, jsonschema or pydicom at start-up.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="deidc",
    help="Lint, compile, explain and apply DICOM de-identification profiles (Flywheel format).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Markdown joins a docstring's wrapped lines into one paragraph (rich mode kept the breaks).
    rich_markup_mode="markdown",
)

@app.callback()
def _root() -> None:
    """Lint, compile, explain and apply DICOM de-identification profiles (Flywheel format)."""


from . import (apply_cmd, compile_cmd, conformance_cmd, diff_cmd, lint_cmd,  # noqa: E402,F401
               rules_cmd, schema_cmd, verify_cmd)
