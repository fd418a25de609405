"""`deidc apply` read without typer, for its plain forms.

Importing typer is half of `deidc apply plan.json`'s start-up, and argparse, with the shutil,
gettext and locale it loads, much of the rest (the README's Speed section has the figures).  So
this reads the plain forms of the same arguments itself and runs
the same code (:func:`deidc.cli.applying.apply_command`).  Whatever it is not sure of
(``--help``, an option it does not know, an abbreviation, combined short flags, a missing or
malformed value), it leaves to the typer command, which then reports it in its usual words.
tests/test_cli_quick.py keeps the two readers' options the same.
"""

from __future__ import annotations

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
    ("cluster", ("--cluster",), str),
    ("verify", ("--verify",), bool),
)
FAST_PATH = ("--fast-path", "--no-fast-path")
DEFAULTS = {name: (0 if name == "jobs" else False if kind is bool else None)
            for name, _, kind in OPTIONS} | {"fast_path": True}
_SPELLINGS = {spelling: (name, kind) for name, spellings, kind in OPTIONS
              for spelling in spellings}


def quick_apply(argv: list[str]) -> int | None:
    """Run ``deidc apply`` from ``argv`` (without the program name) and return its exit code,
    or ``None`` if these are not arguments it reads with certainty."""
    if not argv or argv[0] != "apply":
        return None
    read = read_arguments(argv[1:])
    if read is None:
        return None
    paths, options = read
    if len(paths) < 2:  # a policy and at least one input
        return None
    from .applying import apply_command

    return apply_command(paths[0], paths[1:], **options)


def read_arguments(arguments: list[str]) -> tuple[list[str], dict] | None:
    """The paths and options of ``deidc apply``'s arguments, as typer would read them; ``None``
    for anything else (help included)."""
    paths: list[str] = []
    options = dict(DEFAULTS)
    position = 0
    while position < len(arguments):
        argument = arguments[position]
        position += 1
        if argument == "--":
            paths += arguments[position:]
            break
        if not argument.startswith("-") or argument == "-":
            paths.append(argument)
            continue
        if argument in FAST_PATH:
            options["fast_path"] = argument == FAST_PATH[0]
            continue
        if argument.startswith("--"):
            spelling, equals, value = argument.partition("=")
        else:  # -j2: a short option and its value, which may begin with "=" (-o=x is "=x")
            spelling, equals, value = argument[:2], "", argument[2:]
        known = _SPELLINGS.get(spelling)
        if known is None or (spelling.startswith("--") and equals and known[1] is bool):
            return None  # --help, an abbreviation, combined short flags: typer decides
        name, kind = known
        if kind is bool:
            if value:
                return None
            options[name] = True
            continue
        if not equals and not value:
            if position == len(arguments) or arguments[position].startswith("-"):
                return None
            value = arguments[position]
            position += 1
        if kind is int:
            try:
                value = int(value)
            except ValueError:
                return None
            if name == "jobs" and value < 0:
                return None  # typer refuses it, in its words
        options[name] = value
    return paths, options
