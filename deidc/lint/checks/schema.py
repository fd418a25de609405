"""S: the profile's shape, checked against deidc's JSON Schema (``schema/deid-profile.schema.json``).

Flywheel validates almost nothing about a profile's shape and ignores every key it does not know,
so a misspelt option is simply lost.  The schema knows every key Flywheel reads; these rules run
it once per profile and turn its errors into findings in deidc's words, placed on the offending
value (or key), with what Flywheel does about it.

Field rules (selector and action) are checked from the data itself rather than from the schema's
``oneOf``/``anyOf`` errors, which say only "not valid under any of the given schemas".
"""

from __future__ import annotations

import calendar
import difflib
import functools
import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ...profile.model import ACTION_ORDER, DICOM_DEFAULTS, FIELD_OPTIONS, FILE_TYPE_SECTIONS
from ...profile.source import escape
from ..diagnostic import Finding, LintContext, Severity, rule
from .vr import replacement_refused

SCHEMA_NAME = "deid-profile.schema.json"
# deidc/schemas is a symlink to the repository's schema/ folder, shipped inside the package.
SCHEMA_PATH = Path(__file__).parents[2] / "schemas" / SCHEMA_NAME

# Subschemas whose errors the field-rule checks below report in their own words.
_FIELD_RULE_TITLES = frozenset({"one selector", "has action"})
# Sections where Flywheel accepts `regex:` selectors.
REGEX_SECTIONS = ("dicom", "json")
# GRP-13's export gear renders `{{ VARIABLE }}` from a CSV before Flywheel reads the profile;
# Y006 reports a placeholder left unrendered, once, instead of every rule on its value.
_TEMPLATE = re.compile(r"\s*\{\{.*\}\}\s*\Z", re.DOTALL)
_NUMBER = re.compile(r"\s*[+-]?(\d+(\.\d*)?|\.\d+)\s*\Z")
# A datetime-min/max relative to now, as Flywheel reads it (it needs only to start the text).
_RELATIVE_BOUND = re.compile(r"[+-]\d+(years|weeks|days)")
_UNSIGNED_BOUND = re.compile(r"\d+(years|weeks|days)")

# The options Flywheel reads as text at load, and the action that reads them on a field rule
# (`uid-numeric-name` is a section option only).
_FORMAT_ACTIONS = {"date-format": "increment-date", "datetime-format": "increment-datetime",
                   "uid-numeric-name": None}

_JSON_TYPES = {"string": "text", "number": "a number", "integer": "a whole number",
               "boolean": "true or false", "array": "a list", "object": "a mapping",
               "null": "empty"}
_ENUM_EFFECT = {
    "patient-age-units": "Flywheel ignores other units and picks days, months or years itself",
    "jitter-type": "Flywheel treats anything but `int` as float",
    "jitter-unit": "Flywheel passes it to timedelta, so every file with this rule fails",
}
_KEY_HINTS = {
    "action": "actions are keys of the rule itself, beside `name`, not under `action:`",
    "tag": "the tag goes in `name`, e.g. name: '(0008,0050)'",
    "delete": "did you mean `remove`?",
}


@functools.cache
def profile_schema() -> dict:
    """The de-id profile schema, read once on first use."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@functools.cache
def _validator():
    from jsonschema import Draft202012Validator

    return Draft202012Validator(profile_schema())


@dataclass(frozen=True)
class SchemaProblem:
    """One schema error in deidc's words, tagged with the code of the rule that reports it."""

    code: str
    pointer: str
    message: str
    hint: str
    on_key: bool = False
    severity: Severity | None = None  # the rule's own unless set


# The rules of this family run one after another on the same profile: validate it once.
_last: tuple[object, tuple[SchemaProblem, ...]] = (None, ())


def schema_problems(ctx: LintContext) -> tuple[SchemaProblem, ...]:
    global _last
    if _last[0] is not ctx.profile:
        _last = (ctx.profile, _collect(ctx))
    return _last[1]


def _findings(ctx: LintContext, code: str):
    for problem in schema_problems(ctx):
        if problem.code == code:
            yield Finding(problem.pointer, problem.message, problem.hint, on_key=problem.on_key,
                          severity=problem.severity)


def _collect(ctx: LintContext) -> tuple[SchemaProblem, ...]:
    profile = ctx.profile
    unique: dict[tuple, SchemaProblem] = {}
    # V005 says what Flywheel does with true/false where the attribute takes text.
    judged = {field_rule.action_pointer() for field_rule in ctx.fields
              if isinstance(field_rule.action_value, bool)
              and replacement_refused(ctx, field_rule)}
    for error in _validator().iter_errors(profile.data):
        for problem in _translate(error, profile):
            if problem.pointer in judged and problem.code == "S002":
                continue
            unique.setdefault((problem.code, problem.pointer, problem.on_key), problem)
    for problem in (*_field_rule_problems(profile), *_impossible_dates(profile)):
        unique.setdefault((problem.code, problem.pointer, problem.on_key), problem)
    return tuple(unique.values())


# --- schema errors -> problems ---------------------------------------------------------------

def _translate(error, profile) -> list[SchemaProblem]:
    if isinstance(error.schema, dict) and error.schema.get("title") in _FIELD_RULE_TITLES:
        return []
    path = list(error.absolute_path)
    pointer = profile.pointer + "".join(f"/{escape(part)}" for part in path)
    kind = error.validator
    if kind == "additionalProperties":
        return list(_unknown_keys(error, path, pointer, profile))
    if kind in ("anyOf", "oneOf"):
        return _alternatives(error, path, pointer, profile)
    if _owned_elsewhere(error, path, profile):
        return []
    key = _key_of(path)
    if kind == "required":
        missing = [name for name in error.validator_value if name not in error.instance]
        names = " and ".join(f"`{name}`" for name in missing)
        return [SchemaProblem(
            "S007", pointer,
            f"{_thing(path)} {_where(path, profile.data)} has no {names}: Flywheel refuses to "
            "load the profile", f"add {names}")]
    where = _where(path[:-1], profile.data)
    if kind == "const" or (kind == "type" and error.schema.get("const") is True):
        return [SchemaProblem(
            "S002", pointer,
            f"`{key}` {where} is `{_show(error.instance)}`: this action takes `true`; Flywheel "
            "applies the action anyway and reports the profile invalid",
            f"write `{key}: true`, or delete the key to drop the action")]
    container = _container(profile.data, path)
    if key in ("datetime-min", "datetime-max"):
        return [_datetime_bound(error.instance, key, where, pointer, container)]
    if kind == "type":
        return [_wrong_type(error, path, where, pointer, container)]
    if kind == "enum":
        allowed = ", ".join(f"`{value}`" for value in error.validator_value)
        effect = _ENUM_EFFECT.get(key)
        return [SchemaProblem(
            "S003", pointer,
            f"`{key}: {_show(error.instance)}` {where} is not one of {allowed}"
            + (f": {effect}" if effect else ""),
            f"use one of {allowed}" + _suggestion_text(error.instance, error.validator_value))]
    return [_invalid_value(error, key, where, pointer)]


def _unknown_keys(error, path, pointer, profile):
    allowed = list(error.schema.get("properties", {}))
    for key in error.instance:
        if key in allowed:
            continue
        if not path and (key == "fields" or key in DICOM_DEFAULTS):
            continue  # Y004 reports options that fell out of `dicom:`
        key_pointer = f"{pointer}/{escape(key)}"
        where = _where(path, profile.data)
        is_rule = "name" in allowed and "remove" in allowed
        if is_rule and key == "regex":
            yield SchemaProblem(
                "S001", key_pointer,
                f"`regex:` {where}: Flywheel accepts regex rules only in the dicom and json "
                "sections and refuses to load the profile",
                "name the fields one by one with `name:`", on_key=True)
            continue
        if is_rule and not set(ACTION_ORDER) & set(error.instance):
            effect = ("the rule has no action Flywheel knows, so Flywheel refuses to load the "
                      "profile ('Unknown de-identify action')")
        else:
            effect = "Flywheel silently ignores it"
        suggestion = _suggest(key, allowed)
        if suggestion:
            hint = f"did you mean `{suggestion}`?"
            default = error.schema["properties"][suggestion].get("default")
            if not is_rule and default is not None:
                effect += f", so `{suggestion}` stays at its default ({_show(default)})"
        else:
            hint = _KEY_HINTS.get(str(key).lower(),
                                  "check the spelling; `deidc schema` lists every key allowed here")
            value = error.instance[key]
            if str(key).lower() == "action" and isinstance(value, dict) and value:
                first, first_value = next(iter(value.items()))
                hint = (f"move `{first}: {_show(first_value)}` up beside `name`: actions are "
                        "keys of the rule itself")
        yield SchemaProblem("S001", key_pointer, f"unknown key `{key}` {where}: {effect}", hint,
                            on_key=True)


def _alternatives(error, path, pointer, profile) -> list[SchemaProblem]:
    branches = error.validator_value
    if all(set(branch) == {"required"} for branch in branches):
        names = [branch["required"][0] for branch in branches]
        present = [name for name in names if name in error.instance]
        listed = " or ".join(f"`{name}`" for name in names)
        state = (f"both {' and '.join(f'`{name}`' for name in names)}" if present
                 else f"neither {' nor '.join(f'`{name}`' for name in names)}")
        return [SchemaProblem(
            "S007", pointer,
            f"{_thing(path)} {_where(path, profile.data)} has {state}: it needs exactly one, "
            "or Flywheel reports the profile invalid",
            f"keep exactly one of {listed}")]
    from jsonschema.exceptions import best_match

    best = best_match(error.context)
    return _translate(best, profile) if best is not None else []


def _owned_elsewhere(error, path, profile) -> bool:
    """Values other families judge, and values only a template engine fills in."""
    instance = error.instance
    if isinstance(instance, str) and _TEMPLATE.match(instance):
        return True
    if error.validator == "const" and instance is False:
        return True  # X004: a boolean action set to false
    key = _key_of(path)
    if key == "jitter-range" and isinstance(instance, str) and _NUMBER.match(instance):
        return True  # the C family says what a quoted range does
    if (key == "name" and len(path) > 2 and isinstance(instance, (int, float))
            and not isinstance(instance, bool)):
        return True  # Y003: YAML read an unquoted tag as a number
    if len(path) == 1 and instance is None and any(
            k == "fields" or k in DICOM_DEFAULTS for k in profile.data):
        return True  # Y004: the section's content fell out of it
    return False


def _container(data, path: list) -> object:
    """What holds the value at ``path`` (the rule map of a rule option, for instance)."""
    for part in path[:-1]:
        data = data[part]
    return data


def _applied_action(raw: object) -> str | None:
    """The action Flywheel builds a rule map as: the first of its action keys in Flywheel's
    order (P003 reports the others)."""
    if not isinstance(raw, dict):
        return None
    return next((action for action in ACTION_ORDER if action in raw), None)


def _wrong_type(error, path, where, pointer, container) -> SchemaProblem:
    key = _key_of(path)
    subject = f"item {path[-1] + 1}" if isinstance(path[-1], int) else f"`{key}`"
    expected = error.validator_value
    expected = expected if isinstance(expected, list) else [expected]
    wanted = " or ".join(_JSON_TYPES[name] for name in expected)
    instance = error.instance
    if instance is None and (key in FILE_TYPE_SECTIONS or key == "fields"):
        return SchemaProblem(
            "S002", pointer,
            f"`{key}` {where} is empty (null): Flywheel fails to load the profile",
            f"indent its content under `{key}:`, or write `{key}: " + ("{}`" if key != "fields"
                                                                        else "[]`"))
    if "boolean" in expected and isinstance(instance, str):
        effect = ("Flywheel reads any non-empty text as true, so even `'false'` switches it on")
        hint = f"write `{key}: true` or `{key}: false`, unquoted"
    elif key == "salt":
        effect = "Flywheel fails on every file it hashes"
        hint = f"quote it: salt: '{_show(instance)}'"
    elif key in ("jitter-min", "jitter-max") and _applied_action(container) == "jitter":
        effect = (f"Flywheel refuses to load the profile ('{key} must be an integer or "
                  "float')")
        hint = (f"write it unquoted: {key}: {instance.strip()}"
                if isinstance(instance, str) and _NUMBER.match(instance)
                else f"write a number, e.g. {key}: 0")
    elif key in ("jitter-min", "jitter-max"):
        return SchemaProblem("S002", pointer,
                             f"{subject} {where} must be a number, not {_kind(instance)}: "
                             "Flywheel ignores it on a rule that does not jitter",
                             "delete it, or make it a number on a `jitter` rule",
                             severity=Severity.WARNING)
    elif key in _FORMAT_ACTIONS and instance is not None:
        return _format_option(instance, key, subject, where, pointer, container)
    elif key == "replace-with" and isinstance(instance, bool):
        effect = (f"YAML reads it as true/false; where the attribute takes a number, Flywheel "
                  f"writes {int(instance)}")
        hint = (f"quote it for text (replace-with: '{_show(instance)}'), or write the number "
                "meant")
    elif key in ("date-increment", "date-increment-override"):
        effect = "every file with a date rule fails"
        hint = "write a number of days, unquoted"
    elif key in ("fields", "filenames", "regex-sub", "groups") or key in FILE_TYPE_SECTIONS:
        effect = "Flywheel fails to load the profile"
        hint = f"make {subject} {wanted}"
    else:
        effect = "Flywheel does not check it and misreads it or fails when files are processed"
        hint = f"make it {wanted}"
    return SchemaProblem("S002", pointer,
                         f"{subject} {where} must be {wanted}, not {_kind(instance)}: {effect}",
                         hint)


def _format_option(instance, key, subject, where, pointer, container) -> SchemaProblem:
    """A `date-format`, `datetime-format` or `uid-numeric-name` that is not text.

    Flywheel reads the section's value as text when it loads the profile and refuses it; a rule
    reads its own format only when it shifts dates the matching way, and ignores it otherwise."""
    refusal = ("'{0}' object has no attribute 'startswith'" if key == "uid-numeric-name"
               else "expected string or bytes-like object, got '{0}'")
    error = "AttributeError" if key == "uid-numeric-name" else "TypeError"
    if key != "uid-numeric-name":
        hint = f"write a strftime format in quotes, e.g. {key}: '{DICOM_DEFAULTS[key]}'"
    elif isinstance(instance, (int, float)) and not isinstance(instance, bool):
        hint = f"quote it: {key}: '{instance}'"
    else:
        hint = "write the dotted UID root in quotes"
    message = f"{subject} {where} must be text, not {_kind(instance)}: "
    action = _FORMAT_ACTIONS[key]
    if isinstance(container, dict) and ("name" in container or "regex" in container):
        if _applied_action(container) != action:
            return SchemaProblem("S002", pointer,
                                 message + "Flywheel ignores it on a rule that does not "
                                 f"shift dates with `{action}`", "delete it",
                                 severity=Severity.WARNING)
    return SchemaProblem("S002", pointer,
                         message + f"Flywheel refuses to load the profile ({error}: "
                         + refusal.format(type(instance).__name__) + ")", hint)


def _datetime_bound(instance, key, where, pointer, container) -> SchemaProblem:
    """A `datetime-min`/`datetime-max` that is neither `YYYYMMDD` nor a signed relative bound.

    The date shifts read it when Flywheel loads the profile (increment-date too, which then
    ignores it): a text starting with a signed bound counts as that bound; anything else must
    parse as `%Y%m%d`, which also takes 7 digits, or the profile is refused."""
    shown = f"`{key}: {_show(instance)}` {where}"
    form = "neither `YYYYMMDD` nor a signed relative bound like `-90years`"
    if _applied_action(container) not in ("increment-date", "increment-datetime"):
        return SchemaProblem("S008" if isinstance(instance, str) else "S002", pointer,
                             f"{shown} is {form}: Flywheel ignores it on a rule that does not "
                             "shift dates", "delete it", severity=Severity.WARNING)
    if not isinstance(instance, str):
        hint = (f"quote it: {key}: '{instance}'" if isinstance(instance, int)
                and not isinstance(instance, bool) else "write it like `19000101` or `-90years`")
        return SchemaProblem("S002", pointer,
                             f"{shown} is {_kind(instance)}, not text: Flywheel refuses to load "
                             "the profile ('datetime-min/datetime-max must be in either yyyymmdd "
                             "or [+-]<amount><unit> format')", hint)
    relative = _RELATIVE_BOUND.match(instance)
    if relative:
        return SchemaProblem("S008", pointer,
                             f"{shown} is {form}: Flywheel reads only `{relative.group()}` and "
                             "ignores the rest", f"write {key}: '{relative.group()}'",
                             severity=Severity.WARNING)
    try:
        date = datetime.strptime(instance, "%Y%m%d")
    except ValueError as error:
        unsigned = _UNSIGNED_BOUND.fullmatch(instance.strip())
        hint = (f"add the sign: `-{unsigned.group()}` (before now) or `+{unsigned.group()}` "
                "(after now)" if unsigned else "write it like `19000101` or `-90years`")
        return SchemaProblem("S008", pointer,
                             f"{shown} is {form}: Flywheel reads it as a YYYYMMDD date and refuses "
                             f"to load the profile ({error})", hint)
    return SchemaProblem("S008", pointer,
                         f"{shown} is {form}: Flywheel reads it as {date:%Y-%m-%d}",
                         f"write all 8 digits: {key}: '{date:%Y%m%d}'", severity=Severity.WARNING)


def _invalid_value(error, key, where, pointer) -> SchemaProblem:
    kind, limit, instance = error.validator, error.validator_value, error.instance
    examples = error.schema.get("examples") or []
    if kind in ("minLength", "maxLength") and key == "force-nonce":
        message = f"`force-nonce` {where} has {len(instance)} characters: Flywheel needs exactly 12"
        hint = "use 12 characters, or leave it out (it is for testing only)"
    elif kind == "minimum":
        message = f"`{key}: {_show(instance)}` {where} is below the smallest sensible value {limit}"
        hint = f"use {limit} or more"
    elif kind in ("minItems", "maxItems") and key in ("keep", "remove"):
        message = f"`{key}` {where} has {len(instance)} numbers: a box is exactly 4 (x0, y0, x1, y1)"
        hint = "write [x0, y0, x1, y1]"
    elif kind == "minItems":
        message = f"`{key}` {where} is an empty list"
        hint = f"give at least {limit} item" + ("s" if limit != 1 else "")
    elif kind == "pattern":
        message = f"`{key}: {_show(instance)}` {where} is not in the form Flywheel expects"
        hint = f"write it like `{examples[0]}`" if examples else "check the value's form"
    else:
        message = f"`{key}: {_show(instance)}` {where} is not allowed ({kind} {limit})"
        hint = "check the value against `deidc schema`"
    return SchemaProblem("S008", pointer, message, hint)


# --- field rules: selector and action, from the data ----------------------------------------

def _rule_lists(data: dict, base: str):
    """Every list of field rules in a profile: section fields, filename and regex-sub groups,
    with whether `regex:` selectors are allowed there."""
    for section in FILE_TYPE_SECTIONS:
        body = data.get(section)
        if not isinstance(body, dict):
            continue
        pointer = f"{base}/{escape(section)}"
        if isinstance(body.get("fields"), list):
            yield from _with_groups(body["fields"], f"{pointer}/fields", section in REGEX_SECTIONS)
        if isinstance(body.get("filenames"), list):
            for index, template in enumerate(body["filenames"]):
                if isinstance(template, dict) and isinstance(template.get("groups"), list):
                    yield from _with_groups(template["groups"],
                                            f"{pointer}/filenames/{index}/groups", False)


def _with_groups(rules: list, pointer: str, regex_allowed: bool):
    yield rules, pointer, regex_allowed
    for index, raw in enumerate(rules):
        if isinstance(raw, dict) and isinstance(raw.get("regex-sub"), list):
            for item_index, item in enumerate(raw["regex-sub"]):
                if isinstance(item, dict) and isinstance(item.get("groups"), list):
                    yield from _with_groups(
                        item["groups"], f"{pointer}/{index}/regex-sub/{item_index}/groups", False)


def _field_rule_problems(profile):
    known = set(ACTION_ORDER) | set(FIELD_OPTIONS) | {"name", "regex"}
    for rules, list_pointer, regex_allowed in _rule_lists(profile.data, profile.pointer):
        for index, raw in enumerate(rules):
            if not isinstance(raw, dict):
                continue
            pointer = f"{list_pointer}/{index}"
            label = f"rule {index + 1} of `{_dotted(list_pointer, profile.pointer)}`"
            name, regex = raw.get("name"), raw.get("regex")
            if name and regex:
                yield SchemaProblem(
                    "S005", f"{pointer}/regex",
                    f"{label} has both `name: {name}` and `regex: {regex}`: Flywheel refuses to "
                    "load the profile ('Field can not have name and regex defined')",
                    "split it into two rules, or delete one selector", on_key=True)
                continue
            if not name and not regex:
                if "regex" in raw and not regex_allowed:
                    continue  # S001 says regex is not allowed here
                empty = "name" in raw or "regex" in raw
                yield SchemaProblem(
                    "S004", f"{pointer}/{'name' if 'name' in raw else 'regex'}" if empty
                    else pointer,
                    f"{label} " + ("has an empty selector" if empty else
                                   "has neither `name` nor `regex`")
                    + ": Flywheel refuses to load the profile ('Field element must defined "
                    "either name or regex')",
                    "add `name: <keyword or tag>` (or `regex:`) to say which attribute it acts on")
                continue
            if any(key in ACTION_ORDER for key in raw) or list(raw) == ["name"]:
                continue
            if set(raw) - known:
                continue  # S001 reports the unknown key, which is the likely misspelt action
            selector = f"`name: {name}`" if name else f"`regex: {regex}`"
            options = [key for key in raw if key in FIELD_OPTIONS]
            what = (f"sets only options ({', '.join(f'`{key}`' for key in options)})" if options
                    else "has no action")
            yield SchemaProblem(
                "S006", pointer,
                f"{label} ({selector}) {what}: Flywheel refuses to load the profile "
                "('Unknown de-identify action')",
                "add the action, e.g. `remove: true`" + ("" if regex else
                                                         "; a bare `name:` alone means keep"))


def _impossible_dates(profile):
    """`datetime-min`/`datetime-max` dates in the schema's YYYYMMDD form that no calendar has
    (`20200230`): the schema checks month and day ranges only."""
    for rules, list_pointer, _ in _rule_lists(profile.data, profile.pointer):
        for index, raw in enumerate(rules):
            if not isinstance(raw, dict):
                continue
            for key in ("datetime-min", "datetime-max"):
                value = raw.get(key)
                if not isinstance(value, str) or not re.fullmatch(r"\d{8}", value) \
                        or not 1 <= int(value[4:6]) <= 12:
                    continue  # the schema reports other forms
                try:
                    datetime.strptime(value, "%Y%m%d")
                except ValueError as error:
                    last = calendar.monthrange(int(value[:4]), int(value[4:6]))[1]
                    pointer = f"{list_pointer}/{index}/{escape(key)}"
                    parts = _parts(pointer, profile.pointer)
                    shown = f"`{key}: {value}` {_where(parts[:-1], profile.data)} is not a date"
                    if _applied_action(raw) in ("increment-date", "increment-datetime"):
                        yield SchemaProblem("S008", pointer,
                                            f"{shown}: Flywheel refuses to load the profile "
                                            f"({error})", "write a date that exists, e.g. the "
                                            f"month's last: {key}: '{value[:6]}{last}'")
                    else:
                        yield SchemaProblem("S008", pointer,
                                            f"{shown}: Flywheel ignores it on a rule that does "
                                            "not shift dates", "delete it",
                                            severity=Severity.WARNING)


# --- wording helpers -------------------------------------------------------------------------

def _key_of(path: list) -> str:
    for part in reversed(path):
        if isinstance(part, str):
            return part
    return "profile"


def _where(container: list, data) -> str:
    """Where the object at ``container`` (a path) is, in words."""
    if not container:
        return "at the top level"
    if len(container) == 1 and container[0] in FILE_TYPE_SECTIONS:
        return f"in the `{container[0]}` section"
    if len(container) >= 3 and container[1] == "fields" and isinstance(container[2], int):
        rule_data = data[container[0]]["fields"][container[2]]
        selector = (rule_data.get("name") or rule_data.get("regex")
                    if isinstance(rule_data, dict) else None)
        text = f"in `{container[0]}` rule {container[2] + 1}"
        text += f" (`{selector}`)" if selector else ""
        return text + (f" at `{_dotted_path(container[3:])}`" if len(container) > 3 else "")
    return f"in `{_dotted_path(container)}`"


def _dotted_path(path: list) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _parts(pointer: str, base: str) -> list:
    """The path to ``pointer`` under ``base``, as keys and list indexes."""
    return [int(p) if p.isdigit() else p.replace("~1", "/").replace("~0", "~")
            for p in pointer[len(base):].split("/")[1:]]


def _dotted(pointer: str, base: str) -> str:
    return _dotted_path(_parts(pointer, base))


def _thing(path: list) -> str:
    if "filenames" in path:
        return "this filename template"
    if "regex-sub" in path:
        return "this regex-sub item"
    if "pixels" in path:
        return "this pixel action"
    return "this entry"


def _kind(value: object) -> str:
    if value is None:
        return "empty (null)"
    if isinstance(value, bool):
        return f"`{_show(value)}`"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text '{value}'"
    return "a list" if isinstance(value, list) else "a mapping"


def _show(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if value == "":
        return "''"
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def _suggest(key: object, allowed: list) -> str | None:
    """The allowed key a misspelt one most likely meant: underscores and case first, then
    similar spelling."""
    normal = str(key).strip().lower().replace("_", "-").replace(" ", "-")
    if normal in allowed:
        return normal
    close = difflib.get_close_matches(normal, allowed, n=1, cutoff=0.7)
    return close[0] if close else None


def _suggestion_text(value: object, allowed: list) -> str:
    close = difflib.get_close_matches(str(value), [str(a) for a in allowed], n=1, cutoff=0.5)
    return f" (did you mean `{close[0]}`?)" if close else ""


# --- the rules -------------------------------------------------------------------------------

@rule("S001", "unknown-key", Severity.ERROR,
      fail="""
      dicom:
        remove_private_tags: true
        fields:
          - name: PatientName
            remove: true
      """,
      passes="""
      dicom:
        remove-private-tags: true
        fields:
          - name: PatientName
            remove: true
      """)
def unknown_key(ctx: LintContext):
    """A key Flywheel does not know (often a misspelling), with the likeliest intended key.

    Flywheel silently ignores keys it does not know, so a misspelt option simply does not happen:
    `remove_private_tags: true` keeps every private tag, and a misspelt top-level `dicomm:`
    de-identifies nothing.  In a field rule whose only action is misspelt (`remvoe: true`)
    Flywheel refuses the whole profile ('Unknown de-identify action').
    """
    yield from _findings(ctx, "S001")


@rule("S002", "wrong-type", Severity.ERROR,
      fail="""
      dicom:
        remove-private-tags: 'false'
        fields:
          - name: PatientName
            remove: true
      """,
      passes="""
      dicom:
        remove-private-tags: false
        fields:
          - name: PatientName
            remove: true
      """)
def wrong_type(ctx: LintContext):
    """A value of the wrong type: text where a number or true/false belongs, a mapping where a
    list belongs, and so on.

    Flywheel checks almost no types.  A quoted `'false'` is non-empty text, which Python reads as
    true, so the option is switched on; a numeric salt or a quoted date-increment fails every
    file at run time; a section or `fields:` that is not a mapping or list, a `jitter-min` or
    `jitter-max` that is not a number on a `jitter` rule, or a `date-format`, `datetime-format`
    or `uid-numeric-name` that is not text (`date-format: 20200101`) stops the profile from
    loading.
    """
    yield from _findings(ctx, "S002")


@rule("S003", "value-not-allowed", Severity.ERROR,
      fail="""
      dicom:
        patient-age-from-birthdate: true
        patient-age-units: years
      """,
      passes="""
      dicom:
        patient-age-from-birthdate: true
        patient-age-units: Y
      """)
def value_not_allowed(ctx: LintContext):
    """An option set to a value outside its fixed list (e.g. `patient-age-units`, `jitter-type`,
    `jitter-unit`).

    Flywheel does not reject these: it ignores the value or falls back to a default
    (`patient-age-units: years` lets it choose days or months), or fails on every file
    (`jitter-unit`), so the profile does something other than what it says.
    """
    yield from _findings(ctx, "S003")


@rule("S004", "rule-without-selector", Severity.ERROR,
      fail="""
      dicom:
        fields:
          - remove: true
      """,
      passes="""
      dicom:
        fields:
          - name: PatientName
            remove: true
      """)
def rule_without_selector(ctx: LintContext):
    """A field rule with neither `name` nor `regex` (or an empty one).

    Flywheel refuses to load such a profile ('Field element must defined either name or regex'),
    so the upload it was meant for cannot be de-identified.
    """
    yield from _findings(ctx, "S004")


@rule("S005", "name-and-regex", Severity.ERROR,
      fail="""
      dicom:
        fields:
          - name: PatientName
            regex: .*Name
            remove: true
      """,
      passes="""
      dicom:
        fields:
          - regex: .*Name
            remove: true
      """)
def name_and_regex(ctx: LintContext):
    """A field rule with both `name` and `regex`.

    A rule targets one selector; Flywheel refuses to load a profile with a rule that has both
    ('Field can not have name and regex defined').
    """
    yield from _findings(ctx, "S005")


@rule("S006", "rule-without-action", Severity.ERROR,
      fail="""
      dicom:
        fields:
          - regex: .*Comments
      """,
      passes="""
      dicom:
        fields:
          - regex: .*Comments
            remove: true
      """)
def rule_without_action(ctx: LintContext):
    """A field rule with no action: a bare `regex:`, or a `name:` with only options such as
    `date-format`.

    Only a rule with nothing but `name` means keep.  Anything else without an action key makes
    Flywheel refuse the whole profile ('Unknown de-identify action').
    """
    yield from _findings(ctx, "S006")


@rule("S007", "missing-key", Severity.ERROR,
      fail="""
      dicom:
        filenames:
          - output: '{SOPInstanceUID}.dcm'
      """,
      passes="""
      dicom:
        filenames:
          - output: '{SOPInstanceUID}.dcm'
            input-regex: '.*'
      """)
def missing_key(ctx: LintContext):
    """An entry without a key it needs: a filename template without `input-regex` or `output`, a
    `regex-sub` item without its regex or output, a pixel action without `when`.

    Flywheel reads these keys unconditionally, so the profile fails to load or is reported
    invalid.
    """
    yield from _findings(ctx, "S007")


@rule("S008", "invalid-value", Severity.ERROR,
      fail="""
      dicom:
        uid-numeric-name: 2.16.840.1.x
        fields:
          - name: StudyInstanceUID
            hashuid: true
      """,
      passes="""
      dicom:
        uid-numeric-name: 2.16.840.1.114570.2.2
        fields:
          - name: StudyInstanceUID
            hashuid: true
      """)
def invalid_value(ctx: LintContext):
    """A value of the right type but an impossible form or size: a UID root that is not dotted
    digits, a negative `hash-digits`, a `force-nonce` that is not 12 characters, a pixel box
    without 4 numbers, a `datetime-min` without its sign (`90years`, refused at load on a date
    shift; `-90years` is meant) or a date no calendar has (`20200230`, refused at load on a date
    shift: 'day is out of range for month').

    Flywheel either refuses these at load or writes broken values (an invalid UID root makes
    every hashed UID invalid DICOM).
    """
    yield from _findings(ctx, "S008")
