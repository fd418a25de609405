"""The rule plan: the contract between the compiler and the executor.

A plan is what a profile means once every question that does not depend on a file has been
answered: selectors resolved to tags, regexes expanded against the dictionary, precedence
settled, per-field options folded into each action's arguments.  The executor reads only this
(never a profile), so this module imports nothing heavier than :mod:`json`: applying a compiled
plan must start without pydicom or the linter.

Entries name their element by a target string; :mod:`deidc.plan.targets` writes and parses
them (and documents their grammar).

Action ``op`` values and their ``args`` (everything the transform needs, resolved at compile
time):

* ``remove``          ``{}``
* ``replace``         ``{"value": <JSON value>, "insert": bool}``
* ``hash``            ``{"salt": str, "digits": int}``
* ``hashuid``         ``{"salt": str, "prefix_fields": int, "suffix_fields": int,
  "numeric_name": str | None}``
* ``shift_date``      ``{"days": number, "format": str, "jitter": {"range": number, "unit": str}
  | None}``
* ``shift_datetime``  the same plus ``"min"``/``"max"`` (``YYYYMMDD`` or ``[+-]N(years|weeks|
  days)``, or None)
* ``jitter``          ``{"range": number, "type": "int" | "float", "min": number | None,
  "max": number | None}``
* ``regex_sub``       ``{"items": [{"input_regex": str, "output": str,
  "groups": [{"name": str, "op": str, "args": {...}}], "max_length": int | None}]}``
  (``max_length``: the longest value the pattern is proven to match in bounded time, None for
  any; absent from plans compiled before the bound, which run unbounded)

``Action.order`` is the action's place in the effective rule order (Flywheel moves ``regex-sub``
rules to the front); when several sources act on one element (a dispatch entry and a pattern
rule), the executor applies them sorted by ``order``.

The plan's types are named tuples (:func:`collections.namedtuple`, fields annotated in the
class body), not frozen dataclasses or ``typing.NamedTuple``, for start-up's sake: defining
dataclasses imports :mod:`dataclasses` and :mod:`inspect`, and ``NamedTuple`` :mod:`typing`,
which together cost more than a small run's work (the README's Speed section has the
figures).  The runner and the stream reader follow suit.
"""

from __future__ import annotations

import json
from collections import namedtuple

from ..errors import DeidcError

PLAN_FORMAT = 1
OPS = ("remove", "replace", "hash", "hashuid", "shift_date", "shift_datetime", "jitter",
       "regex_sub")

# The file-level dicom option each action argument is resolved from unless the field overrides
# it (the compiler's ``action_spec``): changing one of these options changes every action that
# follows it, which is how ``deidc diff`` tells one option change from many rule changes.
OPTION_ARGS = {
    "hash": {"salt": "salt", "digits": "hash-digits"},
    "hashuid": {"salt": "salt", "prefix_fields": "uid-prefix-fields",
                "suffix_fields": "uid-suffix-fields", "numeric_name": "uid-numeric-name"},
    "shift_date": {"days": "date-increment", "format": "date-format"},
    "shift_datetime": {"days": "date-increment", "format": "datetime-format"},
    "jitter": {"range": "jitter-range"},
    "replace": {"insert": "replace-with-insert"},
}


class PlanError(DeidcError, ValueError):
    """A plan file that this executor cannot run (wrong format version, malformed JSON)."""


class Origin(namedtuple("Origin", "path line rule text option", defaults=[None])):
    """Where a plan element came from: profile file, line, rule index (``None`` for a file-level
    option, then ``option`` names it) and the rule's selector text for people."""

    __slots__ = ()
    path: str
    line: int
    rule: int | None
    text: str
    option: str | None

    def describe(self) -> str:
        where = f"{self.path}:{self.line}"
        return f"{where} (rule {self.rule}: {self.text})" if self.rule is not None else \
            f"{where} ({self.option})"


class Action(namedtuple("Action", "op args origin order")):
    __slots__ = ()
    op: str
    args: dict  # (an Action is not hashable: nothing needs it to be)
    origin: Origin
    order: int


class Override(namedtuple("Override", "origin reason")):
    """A rule that names this target but never has an effect on it, and why."""

    __slots__ = ()
    origin: Origin
    reason: str


class Entry(namedtuple("Entry", "target kind keyword vr actions origins overridden",
                       defaults=[()])):
    """Everything the profile does to one target: the chain of actions, in order."""

    __slots__ = ()
    target: str
    kind: str  # "tag", "private", "path" or "repeater"
    keyword: str | None
    vr: str | None
    actions: tuple[Action, ...]
    origins: tuple[Origin, ...]  # every rule that names the target, keeps included
    overridden: tuple[Override, ...]


class PatternRule(namedtuple("PatternRule", "pattern actions origin")):
    """A ``regex:`` rule's residue: what can only be decided per file.  The dictionary part of a
    regex is pre-expanded into entries; this matches, per file, the hex paths of private and
    unknown elements and the paths of elements inside sequences (Flywheel's ``re.match``
    against ``Keyword.0.Keyword`` and lower-case ``gggggeeee.0.ggggeeee`` paths)."""

    __slots__ = ()
    pattern: str
    actions: tuple[Action, ...]
    origin: Origin


class PatientAge(namedtuple("PatientAge", "date_format units")):
    __slots__ = ()
    date_format: str
    units: str | None


class Policy(namedtuple("Policy", "remove_private private_keep remove_undefined keep "
                                  "recurse_sequences patient_age sync_media_storage")):
    """What happens to every element no entry names."""

    __slots__ = ()
    remove_private: bool
    private_keep: tuple[str, ...]  # private targets that survive remove_private
    remove_undefined: bool
    keep: tuple[str, ...]  # top-level tags (8-hex) that survive remove_undefined
    recurse_sequences: bool  # tag/keyword entries also match inside sequence items
    patient_age: PatientAge | None
    sync_media_storage: bool  # file meta MediaStorageSOPInstanceUID follows SOPInstanceUID


class LogColumn(namedtuple("LogColumn", "title target pattern")):
    """One column of Flywheel's deid-log CSV: the rule's name/regex text, and what it reads."""

    __slots__ = ()
    title: str
    target: str | None
    pattern: str | None


class ProfileRef(namedtuple("ProfileRef", "name path sha256")):
    __slots__ = ()
    name: str | None
    path: str
    sha256: str


class Plan(namedtuple("Plan", "format deidc_version pydicom_version profile options policy "
                              "entries patterns log_path log_columns notes sequences dictionary",
                      defaults=[None, (), (), None, (), (), (), {}])):
    __slots__ = ()
    format: int
    deidc_version: str
    pydicom_version: str
    profile: ProfileRef
    options: dict  # the dicom options in effect, for people and the log
    policy: Policy
    entries: tuple[Entry, ...]
    patterns: tuple[PatternRule, ...]
    log_path: str | None
    log_columns: tuple[LogColumn, ...]
    notes: tuple[str, ...]
    # Every public tag the dictionary gives the VR SQ (8-hex): an Implicit VR file does not say
    # which of its elements are sequences, and the executor never reads the dictionary.  Empty
    # in plans compiled before it was added: their Implicit VR files go to the Dataset path.
    sequences: tuple[str, ...]
    # 8-hex tag → [keyword, VR] of every public tag the keyword walk names, in plans with
    # regex rules only: inside sequences a regex also matches an element's keyword path
    # (``Seq.0.Keyword``), and may hit any element, whose VR an Implicit VR file does not
    # give.  Empty otherwise, and in plans compiled before it was added: then the files with
    # a sequence to look inside go to the Dataset path.
    dictionary: dict[str, list[str]]

    def table(self) -> dict[str, Entry]:
        """Target → entry, the executor's dispatch table."""
        return {entry.target: entry for entry in self.entries}

    def to_json(self) -> str:
        """Deterministic JSON: the same plan gives the same bytes.  Keys keep their declared
        order (every dict in a plan is built in a fixed order), so ``format`` comes first and
        a plan is recognisable from its first bytes."""
        return json.dumps(self.to_data(), indent=2, ensure_ascii=False) + "\n"

    def to_data(self) -> dict:
        """The plan as the JSON document holds it (dicts, lists, strings, numbers)."""
        return _plain(self)

    @classmethod
    def from_json(cls, text: str, path: str = "<plan>") -> "Plan":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PlanError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
        if not isinstance(data, dict) or "format" not in data:
            raise PlanError(f"{path}: not a deidc plan (no 'format' key)")
        if data["format"] != PLAN_FORMAT:
            raise PlanError(f"{path}: plan format {data['format']!r} is not supported by this "
                            f"deidc (it runs format {PLAN_FORMAT}); recompile the profile with "
                            "`deidc compile`")
        try:
            return _plan_from(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise PlanError(f"{path}: malformed plan ({exc.__class__.__name__}: {exc}); "
                            "recompile the profile with `deidc compile`") from None


def _plain(value):
    if hasattr(value, "_fields"):
        return {name: _plain(getattr(value, name)) for name in value._fields}
    if isinstance(value, (tuple, list)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    return value


def _origin(data: dict) -> Origin:
    return Origin(data["path"], data["line"], data["rule"], data["text"], data.get("option"))


def _action(data: dict) -> Action:
    if data["op"] not in OPS:
        raise ValueError(f"unknown action {data['op']!r}")
    return Action(data["op"], dict(data["args"]), _origin(data["origin"]), data["order"])


def _plan_from(data: dict) -> Plan:
    policy = data["policy"]
    age = policy.get("patient_age")
    return Plan(
        format=data["format"],
        deidc_version=data["deidc_version"],
        pydicom_version=data["pydicom_version"],
        profile=ProfileRef(**data["profile"]),
        options=dict(data["options"]),
        policy=Policy(
            remove_private=policy["remove_private"],
            private_keep=tuple(policy["private_keep"]),
            remove_undefined=policy["remove_undefined"],
            keep=tuple(policy["keep"]),
            recurse_sequences=policy["recurse_sequences"],
            patient_age=PatientAge(**age) if age else None,
            sync_media_storage=policy["sync_media_storage"],
        ),
        entries=tuple(
            Entry(e["target"], e["kind"], e["keyword"], e["vr"],
                  tuple(_action(a) for a in e["actions"]),
                  tuple(_origin(o) for o in e["origins"]),
                  tuple(Override(_origin(o["origin"]), o["reason"]) for o in e["overridden"]))
            for e in data["entries"]),
        patterns=tuple(PatternRule(p["pattern"], tuple(_action(a) for a in p["actions"]),
                                   _origin(p["origin"])) for p in data["patterns"]),
        log_path=data.get("log_path"),
        log_columns=tuple(LogColumn(**c) for c in data["log_columns"]),
        notes=tuple(data["notes"]),
        sequences=tuple(data.get("sequences", ())),
        dictionary={tag: list(pair) for tag, pair in data.get("dictionary", {}).items()},
    )


def is_plan_file(path: str) -> bool:
    """Is this a deidc plan (as opposed to a JSON profile)?  Plans deidc writes say so in
    their first bytes; a plan whose keys were reordered (``jq -S``) is recognised by parsing."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(256)
            if not head.lstrip().startswith(b"{"):
                return False
            if b'"format"' in head[:64] and b'"deidc_version"' in head:
                return True
            if not path.lower().endswith(".json"):
                return False
            data = json.loads(head + handle.read())
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and "format" in data and "deidc_version" in data


def load_plan(path: str) -> Plan:
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanError(f"{path}: cannot read plan: {exc}") from None
    return Plan.from_json(text, path)
