"""deidc: lint, compile and apply Flywheel-format DICOM de-identification profiles.

The public API is small and mirrors the CLI:

* :func:`load_profile` reads a profile file into the typed model;
* :func:`lint` returns the diagnostics for files or folders;
* :func:`compile_profile` turns a profile into a rule plan;
* :func:`explain` says, per attribute, which rule wins and why;
* :func:`apply` runs a plan over DICOM files.

Names are imported lazily so that ``deidc apply`` on a compiled plan starts without loading
pydicom, jsonschema or the linter.
"""

from __future__ import annotations

__version__ = "0.1.0"

_API = {
    "load_profile": "deidc.api",
    "lint": "deidc.api",
    "compile_profile": "deidc.api",
    "explain": "deidc.api",
    "apply": "deidc.api",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        import importlib  # here: `deidc apply` never needs it, and it costs start-up

        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'deidc' has no attribute {name!r}")
