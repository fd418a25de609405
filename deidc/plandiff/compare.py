"""Compare two plans: per attribute, per regex residue, the default policy and the options.

An attribute's *fate* is what the plan does to it: its entry's chain of actions, or, when no
entry names it, what the default policy does (:func:`deidc.explanation.unnamed_fate`).  Two fates
are the same when they do the same: a ``remove`` rule and remove-undefined both remove; a rule
that keeps and no rule at all both keep (when nothing removes by default).  Arguments that follow
a file-level option (:data:`deidc.plan.ir.OPTION_ARGS`) are compared as "follows the option", so
a new salt is one change of the option, listing the attributes it reaches, not one per
attribute.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from ..explanation import PATIENT_AGE, describe_action, unnamed_fate
from ..plan import targets
from ..plan.ir import OPTION_ARGS, Action, Entry, Plan
from ..profile import dictionary
from . import strength
from .conformance import RowChanges, row_changes
from .strength import CHANGED, DERIVED, LINKING, GONE, KEPT, RANK, STRONGER, WEAKER

POLICY_OPTIONS = ("remove-private-tags", "remove-undefined", "recurse-sequence",
                  "patient-age-from-birthdate", "patient-age-units")
IGNORED_OPTIONS = ("jitter-type",)  # Flywheel ignores a file-level jitter-type; so does deidc
FOLLOWS = "<follows {}>"


@dataclass(frozen=True)
class Change:
    """One difference in effect.  ``subject`` is ``attribute``, ``regex`` (a regex rule's
    per-file residue), ``policy`` or ``option``; ``name`` is the keyword (or target), the
    pattern or the option; lines are the deciding rule's (or option's) line on each side."""

    subject: str
    name: str
    tag: str | None
    keyword: str | None
    old: str
    new: str
    kind: str
    why: str
    released: str = ""  # what it means for data released under the old profile
    old_line: int | None = None
    new_line: int | None = None
    affects: tuple[str, ...] = ()  # an option's: the attributes whose actions follow it

    def as_json(self) -> dict:
        return {"tag": self.tag, "keyword": self.keyword, "name": self.name,
                "subject": self.subject, "old": self.old, "new": self.new, "kind": self.kind,
                "why": self.why, "released": self.released, "old_line": self.old_line,
                "new_line": self.new_line, "affects": list(self.affects)}


@dataclass(frozen=True)
class Diff:
    old: str  # each side as the user named it
    new: str
    new_file: str | None  # the new profile's file, for annotations on its lines
    changes: tuple[Change, ...] = ()
    counts: dict = field(default_factory=dict)
    conformance: RowChanges | None = None  # Table E.1-1 rows turned to gap or to met

    def has(self, kind: str) -> bool:
        """Is a change, or a row of Table E.1-1 turned (to gap: weaker), of this kind?"""
        rows = self.conformance.rows if self.conformance else ()
        return any(change.kind == kind for change in (*self.changes, *rows))


@dataclass(frozen=True)
class Fate:
    rank: int
    text: str
    same_as: tuple  # equal for fates that do the same
    actions: tuple[Action, ...] = ()
    line: int | None = None


def compare(old: Plan, new: Plan, *, old_name: str = "", new_name: str = "",
            new_file: str | None = None, old_lines: dict | None = None,
            new_lines: dict | None = None, options=()) -> Diff:
    """What changes in effect from ``old`` to ``new``, and the rows of PS3.15 Table E.1-1
    (under its ``options``) that this turns to gap or to met.  ``*_lines`` map dicom option
    names to their lines in each profile (plans do not record them)."""
    lines = (old_lines or {}, new_lines or {})
    changes = [*_policy_changes(old, new, lines), *_option_changes(old, new, lines),
               *_attribute_changes(old, new), *_pattern_changes(old, new)]
    order = {kind: place for place, kind in enumerate(strength.KINDS)}
    subjects = {"policy": 0, "option": 1, "attribute": 2, "regex": 3}
    changes.sort(key=lambda c: (order[c.kind], subjects[c.subject], c.new_line or c.old_line
                                or 0, c.name))
    counts = {kind: sum(c.kind == kind for c in changes) for kind in strength.KINDS}
    return Diff(old_name or old.profile.path, new_name or new.profile.path, new_file,
                tuple(changes), counts, row_changes(old, new, options))


# --- attributes ------------------------------------------------------------------------------

def _attribute_changes(old: Plan, new: Plan) -> list[Change]:
    old_table, new_table = old.table(), new.table()
    kinds = {key: entry.kind for table in (old_table, new_table) for key, entry in table.items()}
    for plan in (old, new):  # a sequence kept only because a path names what is inside it
        for key in plan.policy.keep:
            kinds.setdefault(key, "tag")
    changes = []
    for key in sorted(kinds):
        entries = (old_table.get(key), new_table.get(key))
        before = _fate(old, key, kinds[key], entries[0])
        after = _fate(new, key, kinds[key], entries[1])
        if before.same_as == after.same_as:
            continue
        kind, why, released = _judge(before, after, old, new)
        if kind is None:
            continue
        named = next(e for e in entries if e is not None) if any(entries) else None
        keyword = named.keyword if named else _keyword(key, kinds[key])
        changes.append(Change("attribute", _label(key, kinds[key], keyword), key, keyword,
                              before.text, after.text, kind, why,
                              released, before.line, after.line))
    return changes


def _fate(plan: Plan, key: str, kind: str, entry: Entry | None) -> Fate:
    if entry is None and kind == "path" and plan.policy.recurse_sequences:
        leaf = plan.table().get(targets.tag(targets.parse_path(key)[-1]))
        if leaf is not None:  # the leaf's own rule applies inside sequences too
            fate = _fate(plan, leaf.target, leaf.kind, leaf)
            return Fate(fate.rank, f"{fate.text} (its rule for every {leaf.keyword or key})",
                        fate.same_as, fate.actions, fate.line)
    if entry is None:
        removed, why = unnamed_fate(plan, key, kind)
        if key == PATIENT_AGE and plan.policy.patient_age and not removed:
            return Fate(DERIVED, why, ("age", plan.policy.patient_age))
        return Fate(GONE if removed else KEPT, why, ("removed",) if removed else ("kept",))
    if not entry.actions:
        survives = plan.policy.remove_private and entry.kind == "private"
        return Fate(KEPT, "keep (survives remove-private-tags)" if survives else "keep",
                    ("kept",), line=entry.origins[0].line if entry.origins else None)
    actions = entry.actions
    line = actions[-1].origin.line
    if [a.op for a in actions] == ["remove"]:
        return Fate(GONE, "remove", ("removed",), actions, line)
    return Fate(max(RANK[a.op] for a in actions), _chain_text(actions),
                ("chain", tuple(_normalised(plan, a) for a in actions)), actions, line)


def _judge(before: Fate, after: Fate, old: Plan, new: Plan) -> tuple[str | None, str, str]:
    """(kind, why, what it means for released data) of a change of fate; kind ``None`` when
    the fates differ only in arguments that follow a changed option (the option's row)."""
    if before.rank != after.rank or [a.op for a in before.actions] != \
            [a.op for a in after.actions] or not before.actions:
        if before.rank != after.rank:
            kind = strength.by_rank(before.rank, after.rank)
            why = ("more of the original value reaches the release" if kind == WEAKER
                   else "less of the original value reaches the release")
        elif before.rank == GONE:
            kind, why = CHANGED, "the value is gone either way; whether the element stays differs"
        else:
            kind, why = CHANGED, "another transformation of the value"
        return kind, why, _released(before, after)
    found = []
    for was, now in zip(before.actions, after.actions):
        for name, old_value, new_value in _differing_args(was, now, old, new):
            found.append((*strength.setting(name, old_value, new_value),
                          strength.RELEASED.get(name, "")))
    if not found:
        return None, "", ""
    return (strength.combined(kind for kind, _, _ in found), "; ".join(w for _, w, _ in found),
            "; ".join(dict.fromkeys(r for _, _, r in found if r)))


def _differing_args(was: Action, now: Action, old: Plan, new: Plan):
    """(setting name, old, new) for each argument that differs other than by following a
    changed option (that is the option's change)."""
    follows = OPTION_ARGS.get(was.op, {})
    for arg in dict.fromkeys([*was.args, *now.args]):
        option = follows.get(arg)
        old_value, new_value = was.args.get(arg), now.args.get(arg)
        if option and old_value == old.options.get(option) and \
                new_value == new.options.get(option):
            continue
        if old_value != new_value:
            yield option or (arg if arg == "jitter" else f"{was.op}.{arg}"), old_value, new_value


def _released(before: Fate, after: Fate) -> str:
    """What another chain means for data released under the old plan, when it means more than
    "from now on": a pseudonym or shifted date that earlier uploads hold and new ones will not
    match.  (Jitter draws anew for every value: nothing released links through it.)"""
    linked = {a.op for a in before.actions} & LINKING
    if not linked:
        return ""
    kept = linked & {a.op for a in after.actions}
    if not kept:
        return "uploads from now on lack the pseudonym or shifted date that earlier uploads hold"
    return strength.LINKS_DATES if kept & {"shift_date", "shift_datetime"} else \
        strength.LINKS_HASHES


def _normalised(plan: Plan, action: Action) -> str:
    return json.dumps([action.op, _args(plan, action.op, action.args)], sort_keys=True,
                      default=str)


def _args(plan: Plan, op: str, args: dict) -> dict:
    """``args`` with each value that follows a file-level option replaced by the option's
    name, regex-sub groups included."""
    follows = OPTION_ARGS.get(op, {})
    out = {}
    for arg, value in args.items():
        option = follows.get(arg)
        if option and value == plan.options.get(option):
            value = FOLLOWS.format(option)
        out[arg] = value
    if op == "regex_sub":
        out["items"] = [dict(item, groups=[dict(group, args=_args(plan, group["op"],
                                                                   group["args"]))
                                           for group in item.get("groups", ())])
                        for item in args.get("items", ())]
    return out


def _chain_text(actions) -> str:
    return " → ".join(_describe(a) for a in actions)


def _describe(action: Action) -> str:
    """As explain says it, without the date increment (a secret, like the salt)."""
    if action.op in ("shift_date", "shift_datetime"):
        action = action._replace(args=dict(action.args, days="N"))
    return describe_action(action)


def _keyword(key: str, kind: str) -> str | None:
    if kind != "tag":
        return None
    attribute = dictionary.attribute(int(key, 16))
    return attribute.keyword if attribute else None


def _label(key: str, kind: str, keyword: str | None) -> str:
    if kind == "path":
        steps = targets.parse_path(key)
        names = []
        for place, step in enumerate(steps):
            if place % 2:
                names[-1] += f"[{step}]"
            else:
                attribute = dictionary.attribute(step)
                names.append(attribute.keyword if attribute and attribute.keyword
                             else targets.tag(step))
        return ".".join(names)
    return keyword or key


# --- regex residue ---------------------------------------------------------------------------

def _pattern_changes(old: Plan, new: Plan) -> list[Change]:
    def residues(plan: Plan) -> dict[str, Fate]:
        found: dict[str, list] = {}
        for rule in plan.patterns:
            found.setdefault(rule.pattern, []).append(rule)
        fates = {}
        for pattern, rules in found.items():
            actions = tuple(a for rule in rules for a in rule.actions)
            line = rules[-1].origin.line
            fates[pattern] = Fate(max((RANK[a.op] for a in actions), default=KEPT),
                                  _chain_text(actions) or "keep",
                                  tuple(_normalised(plan, a) for a in actions), actions, line)
        return fates

    before, after = residues(old), residues(new)
    nothing = Fate(KEPT, "no per-file rule", ("kept",))
    changes = []
    for pattern in sorted(set(before) | set(after)):
        was, now = before.get(pattern, nothing), after.get(pattern, nothing)
        if was.same_as == now.same_as:
            continue
        kind, why, released = _judge(was, now, old, new)
        if kind is None:
            continue
        changes.append(Change("regex", f"regex {pattern}", None, None, was.text, now.text, kind,
                              f"{why} (private, unknown and nested elements, matched per file)",
                              released, was.line, now.line))
    return changes


# --- policy and options ----------------------------------------------------------------------

def _policy_changes(old: Plan, new: Plan, lines) -> list[Change]:
    changes = []

    def add(option, was, now, kind, why):
        changes.append(Change("policy", option, None, None, was, now, kind, why,
                              old_line=lines[0].get(option), new_line=lines[1].get(option)))

    flags = (("remove-private-tags", "remove_private",
              "private elements no rule keeps are removed"),
             ("remove-undefined", "remove_undefined", "every element no rule names is removed"),
             ("recurse-sequence", "recurse_sequences", "rules also apply inside sequences"))
    for option, name, meaning in flags:
        was, now = getattr(old.policy, name), getattr(new.policy, name)
        if was != now:
            add(option, _on(was), _on(now), STRONGER if now else WEAKER,
                meaning if now else f"no longer: {meaning}")
    ages = old.policy.patient_age, new.policy.patient_age
    if ages[0] != ages[1]:
        said = [f"computed (units {age.units or 'as fits'})" if age else "not computed"
                for age in ages]
        add("patient-age-from-birthdate", *said, CHANGED,
            "PatientAge is written from PatientBirthDate and StudyDate" if ages[1] else
            "PatientAge is no longer computed from the birth date")
    if old.policy.sync_media_storage != new.policy.sync_media_storage:
        add("sync-media-storage", _on(old.policy.sync_media_storage),
            _on(new.policy.sync_media_storage), CHANGED,
            "whether MediaStorageSOPInstanceUID follows SOPInstanceUID")
    if old.log_path != new.log_path:
        add("deid-log", old.log_path or "none", new.log_path or "none", CHANGED,
            "where the log of original UIDs (a file holding identifiers) is written")
    return changes


def _option_changes(old: Plan, new: Plan, lines) -> list[Change]:
    followed = {option for options in OPTION_ARGS.values() for option in options.values()}
    changes = []
    for option in dict.fromkeys([*old.options, *new.options]):
        was, now = old.options.get(option), new.options.get(option)
        if was == now or option in POLICY_OPTIONS or option in IGNORED_OPTIONS:
            continue
        affects = ()
        if option in followed:
            affects = tuple(dict.fromkeys([*_following(old, option), *_following(new, option)]))
            if not affects:
                continue  # no action reads it: no change in effect
        kind, why = strength.setting(option, was, now)
        secret = option in ("salt", "date-increment")
        changes.append(Change(
            "option", option, None, None, _secret(was) if secret else strength._show(was),
            _secret(now) if secret else strength._show(now), kind, why,
            strength.RELEASED.get(option, ""), lines[0].get(option), lines[1].get(option),
            affects))
    return changes


def _following(plan: Plan, option: str):
    """The attributes (and regex rules) whose actions read ``option``."""
    def reads(action: Action) -> bool:
        arg = next((a for a, o in OPTION_ARGS.get(action.op, {}).items() if o == option), None)
        if arg is not None and action.args.get(arg) == plan.options.get(option):
            return True
        return action.op == "regex_sub" and any(
            reads(Action(group["op"], group["args"], action.origin, action.order))
            for item in action.args.get("items", ()) for group in item.get("groups", ()))

    for entry in plan.entries:
        if any(reads(action) for action in entry.actions):
            yield _label(entry.target, entry.kind, entry.keyword)
    for rule in plan.patterns:
        if any(reads(action) for action in rule.actions):
            yield f"regex {rule.pattern}"


def _on(flag: bool) -> str:
    return "on" if flag else "off"


def _secret(value) -> str:
    return "not set" if value is None else "set"
