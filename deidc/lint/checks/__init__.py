"""Lint rules, one module per family (the code's first letter)."""

from . import (  # noqa: F401
    config,
    conformance,
    dictionary,
    precedence,
    regex,
    safety,
    schema,
    sorting,
    structure,
    vr,
)
