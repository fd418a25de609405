"""`deidc apply` read without typer, for its plain forms.

Importing typer is about 45 ms, half of `deidc apply plan.json`'s start-up and a tenth of a run
over a thousand small files.  This reads the same arguments with argparse and runs the same code
(:func:`deidc.cli.applying.apply_command`).  Whatever it is not sure of (``--help``, an option it
does not know, a missing value), it leaves to the typer command, which then reports it in its
usual words.  tests/test_cli_quick.py keeps the two readers' options the same.
"""

from __future__ import annotations

import argparse

# The options of the typer command deidc.cli.apply_cmd.apply: (name, spellings, kind).
OPTIONS = (
    ("output", ("-o", "--output"), str),
    ("in_place", ("--in-place",), bool),
    ("overwrite", ("--overwrite",), bool),
    ("jobs", ("-j", "--jobs"), int),
    ("log", ("--log",), str),
    ("dry_run", ("--dry-run",), bool),
    ("seed", ("--seed",), int),
    ("compat", ("--compat",), str),
    ("verbose", ("-v", "--verbose"), bool),
)
FAST_PATH = ("--fast-path", "--no-fast-path")


def quick_apply(argv: list[str]) -> int | None:
    """Run ``deidc apply`` from ``argv`` (without the program name) and return its exit code,
    or ``None`` if these are not arguments it reads with certainty."""
    if not argv or argv[0] != "apply" or any(a in ("-h", "--help") for a in argv):
        return None
    parser = _parser()
    try:
        arguments = parser.parse_intermixed_args(argv[1:])
    except (argparse.ArgumentError, SystemExit):
        return None
    if len(arguments.paths) < 2:  # a policy and at least one input
        return None
    options = vars(arguments)
    policy, *inputs = options.pop("paths")
    from .applying import apply_command

    return apply_command(policy, inputs, **options)


class _Unsure(argparse.ArgumentParser):
    def error(self, message):  # argparse would print usage and exit: typer decides instead
        raise argparse.ArgumentError(None, message)


def _parser() -> argparse.ArgumentParser:
    parser = _Unsure(prog="deidc apply", add_help=False, allow_abbrev=False,
                     exit_on_error=False)
    parser.add_argument("paths", nargs="*")
    for name, spellings, kind in OPTIONS:
        if kind is bool:
            parser.add_argument(*spellings, dest=name, action="store_true")
        else:
            parser.add_argument(*spellings, dest=name, type=kind,
                                default=0 if name == "jobs" else None)
    parser.add_argument(FAST_PATH[0], dest="fast_path", action="store_true", default=True)
    parser.add_argument(FAST_PATH[1], dest="fast_path", action="store_false")
    return parser
