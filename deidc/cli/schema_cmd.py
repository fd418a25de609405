"""`deidc schema`."""

from __future__ import annotations

from pathlib import Path

import typer

from .typer_app import app

# deidc/schemas links to the repository's schema/ folder and is shipped inside the package.
PROFILE_SCHEMA = Path(__file__).parents[1] / "schemas" / "deid-profile.schema.json"


@app.command()
def schema() -> None:
    """Print the JSON Schema of a de-id profile (for editors and other tools)."""
    typer.echo(PROFILE_SCHEMA.read_text(encoding="utf-8"), nl=False)
