"""Project settings for the linter, from ``[tool.deidc]`` in the nearest ``pyproject.toml``.

A site that sorts on other tags, or a team that wants warnings to fail CI, writes it once:

    [tool.deidc]
    select = ["Y", "S", "X"]          # codes or prefixes; default: every rule
    ignore = ["D003"]
    sorting-tags = ["PatientID", "(0020,000D)", "StudyDescription"]
    strict = true                     # warnings fail too
    conformance = true                # also judge each profile against PS3.15 Table E.1-1
    conformance-options = ["retain-uids"]   # ... under these of its options

"Nearest" means the current directory or its closest parent that has a ``pyproject.toml``
(whether or not it has a ``[tool.deidc]`` table), the same place a CI job or pre-commit runs
from.  Command-line options override these values.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ..errors import DeidcError

KEYS = ("select", "ignore", "sorting-tags", "strict", "conformance", "conformance-options")


class ConfigError(DeidcError):
    """``[tool.deidc]`` cannot be used as written; the message names the file and the key."""


@dataclass(frozen=True)
class Settings:
    """Lint settings as written in a project; ``None`` means "not set here"."""

    select: tuple[str, ...] | None = None
    ignore: tuple[str, ...] | None = None
    sorting_tags: tuple[str, ...] | None = None
    strict: bool | None = None
    conformance: bool | None = None
    conformance_options: tuple[str, ...] | None = None
    path: Path | None = None  # the pyproject.toml they came from


def find_pyproject(start: Path | None = None) -> Path | None:
    """The nearest ``pyproject.toml`` at or above ``start`` (default: the current directory)."""
    directory = (start or Path.cwd()).resolve()
    for candidate in (directory, *directory.parents):
        path = candidate / "pyproject.toml"
        if path.is_file():
            return path
    return None


def load_settings(start: Path | None = None) -> Settings:
    """Settings from the nearest ``pyproject.toml``; empty settings when there is none."""
    path = find_pyproject(start)
    if path is None:
        return Settings()
    return settings_from_pyproject(path)


def settings_from_pyproject(path: Path) -> Settings:
    try:
        with open(path, "rb") as handle:
            document = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    table = document.get("tool", {}).get("deidc")
    if table is None:
        return Settings(path=path)
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.deidc] must be a table")
    for key in table:
        if key not in KEYS:
            close = difflib.get_close_matches(key, KEYS, n=1)
            suggestion = f" (did you mean `{close[0]}`?)" if close else ""
            raise ConfigError(f"{path}: [tool.deidc] has an unknown key `{key}`{suggestion}; "
                              f"known keys: {', '.join(KEYS)}")
    for key in ("strict", "conformance"):
        if table.get(key) is not None and not isinstance(table[key], bool):
            raise ConfigError(f"{path}: [tool.deidc] {key} must be true or false, "
                              f"not {table[key]!r}")
    return Settings(select=_names(path, table, "select"), ignore=_names(path, table, "ignore"),
                    sorting_tags=_names(path, table, "sorting-tags"),
                    strict=table.get("strict"), conformance=table.get("conformance"),
                    conformance_options=_names(path, table, "conformance-options"), path=path)


def _names(path: Path, table: dict, key: str) -> tuple[str, ...] | None:
    """A list of strings, or one comma-separated string, as a tuple of stripped names."""
    value = table.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError(f"{path}: [tool.deidc] {key} must be a list of strings, "
                          f"not {value!r}")
    return split_names(value)


# A comma separates names, except inside a tag written as (gggg,eeee).
_SEPARATOR = re.compile(r",(?![^()]*\))")


def split_names(values: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """``["Y,S", " X001 ", "(0020,000D),PatientID"]`` → ``("Y", "S", "X001", "(0020,000D)",
    "PatientID")``: options may repeat and each may hold a comma-separated list."""
    return tuple(part.strip() for value in values for part in _SEPARATOR.split(value)
                 if part.strip())


def resolve_config(settings: Settings, *, select=None, ignore=None, sorting_tags=None,
                   strict=None, conformance=None, options=None):
    """The :class:`deidc.lint.diagnostic.LintConfig` for a run: each option given (a list of
    comma-separated names, or ``None``) overrides the project's ``settings``.  Every code must
    name a rule and every sorting tag an attribute; a :class:`ConfigError` says which did not,
    and where it was written (the option, or the key in the ``pyproject.toml``).  The Table
    E.1-1 ``options`` are only collected here (the API checks them against the table, which
    the linter does not load)."""
    from .diagnostic import LintConfig

    where = f" (from {settings.path})" if settings.path else ""
    chosen_select = split_names(select) if select else settings.select or ()
    chosen_ignore = split_names(ignore) if ignore else settings.ignore or ()
    if isinstance(sorting_tags, str):
        sorting_tags = [sorting_tags]
    chosen_tags = (split_names(sorting_tags) if sorting_tags is not None
                   else settings.sorting_tags or ())
    return LintConfig(
        select=_codes(chosen_select, "--select" if select else f"select{where}"),
        ignore=_codes(chosen_ignore, "--ignore" if ignore else f"ignore{where}"),
        sorting_tags=_keywords(chosen_tags, "--sorting-tags" if sorting_tags is not None
                               else f"sorting-tags{where}"),
        strict=strict if strict is not None else bool(settings.strict),
        conformance=_conformance(settings, conformance, options, where))


def _conformance(settings: Settings, conformance, options, where: str):
    """The Table E.1-1 options to judge under, or ``None`` when the run does not judge
    (``--no-conformance`` turns off the project's setting, and its options with it)."""
    judging = conformance if conformance is not None else bool(settings.conformance)
    if options and not judging:
        raise ConfigError("--option names a Table E.1-1 option: it needs --conformance")
    if settings.conformance_options and settings.conformance is not True and conformance is None:
        raise ConfigError(f"conformance-options{where} needs `conformance = true` beside it")
    if not judging:
        return None
    return split_names(options) if options else settings.conformance_options or ()


def _codes(entries: tuple[str, ...], origin: str) -> tuple[str, ...]:
    """Codes or prefixes, upper-cased; each must name at least one registered rule."""
    from . import REGISTRY  # the package, which registers every check

    codes = tuple(entry.upper() for entry in entries)
    for code in codes:
        if not any(known.startswith(code) for known in REGISTRY):
            close = difflib.get_close_matches(code, sorted(REGISTRY), n=3)
            suggestion = f" Did you mean {', '.join(close)}?" if close else ""
            raise ConfigError(f"{origin}: no rule has the code or prefix {code!r}.{suggestion} "
                              "`deidc rules` lists them all.")
    return codes


def _keywords(entries: tuple[str, ...], origin: str) -> tuple[str, ...]:
    """Sorting tags as keywords, whichever way they were written (keyword in any case,
    ``(gggg,eeee)``, ``ggggeeee``, ``0xggggeeee``)."""
    from ..profile.dictionary import resolve, suggestions
    from ..profile.model import parse_selector

    keywords = []
    for entry in entries:
        selector = parse_selector(entry)
        found = resolve(selector) if selector.kind in ("keyword", "tag") else None
        if found is None or not found.keyword:
            close = suggestions(entry) if selector.kind == "keyword" else []
            suggestion = f" Did you mean {', '.join(close)}?" if close else ""
            raise ConfigError(f"{origin}: {entry!r} is not a DICOM keyword or tag.{suggestion}")
        keywords.append(found.keyword)
    return tuple(dict.fromkeys(keywords))
