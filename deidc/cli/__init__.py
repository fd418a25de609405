"""The ``deidc`` command line: a thin typer shell over :mod:`deidc.api`.

``deidc apply`` on a compiled plan is the command people run on data, and typer alone takes
half of its start-up: so :func:`main` first offers the arguments
to :mod:`deidc.cli.quick`, which reads the plain forms of ``apply`` with argparse and runs the
same code as the typer command (:mod:`deidc.cli.applying`).  Anything else, ``--help`` and any
argument it does not know included, goes to the typer application (:mod:`deidc.cli.typer_app`).
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    from .quick import quick_apply

    code = quick_apply(sys.argv[1:])
    if code is not None:
        _leave(code)
    from .typer_app import app

    app()


def __getattr__(name: str):
    """``deidc.cli.app``, the typer application, loaded only when asked for."""
    if name == "app":
        from .typer_app import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _leave(code: int) -> None:
    """End ``deidc apply`` without the interpreter's clean-up: tearing down its modules and
    objects, which the operating system frees anyway, is a noticeable share of a short run.  By
    now every output and the log are closed and
    flushed to disk (the runner's os.sync); only the standard streams are left to flush."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed or broken stream: let Python report it as usual
        sys.exit(code)
    os._exit(code)
