"""A plan arranged for lookups: which actions act on an element, and whether remove-undefined
keeps it.  Both executors (the Dataset path and the fast path) ask these questions of every
element; answering them in one place is what keeps the two paths' output identical.  Plain
Python, no pydicom: the fast path must start without it.
"""

from __future__ import annotations

import re
from datetime import datetime

from . import transforms
from .dicom import REPEATER_GROUPS, REPEATER_MASK
from ..plan import targets
from ..plan.ir import Action, Entry, Plan


def private_key_of(tag: int, creators: dict) -> tuple[int, str, int] | None:
    """The (group, creator, offset) of a private data element, given the creators of its
    dataset ((group, block) → creator); ``None`` for creators and orphans."""
    group, number = tag >> 16, tag & 0xFFFF
    if number < 0x1000:
        return None
    creator = creators.get((group, number >> 8))
    return (group, creator, number & 0xFF) if creator is not None else None


_DERIVED: dict[tuple, tuple] = {}


def derived(plan: Plan, kind, build):
    """What an executor derives from ``plan`` (``kind`` names it), built once per plan and
    process by ``build()``.  Plans are keyed by identity: the entry holds the plan itself, so an
    id reused by a later plan is never mistaken for it."""
    found = _DERIVED.get((id(plan), kind))
    if found is None or found[0] is not plan:
        found = _DERIVED[(id(plan), kind)] = (plan, build())
    return found[1]


class Dispatch:
    """Dispatch tables of one plan, built once per plan and process."""

    @classmethod
    def for_plan(cls, plan: Plan) -> "Dispatch":
        return derived(plan, cls, lambda: cls(plan))

    def __init__(self, plan: Plan):
        self.plan = plan
        self.public: dict[int, Entry] = {}
        self.private: dict[tuple[int, str, int], Entry] = {}
        self.repeaters: dict[int, Entry] = {}
        self.paths: list[tuple[list, Entry]] = []
        for entry in plan.entries:
            if entry.kind == "tag":
                self.public[int(entry.target, 16)] = entry
            elif entry.kind == "private":
                self.private[targets.parse_private(entry.target)] = entry
            elif entry.kind == "repeater":
                self.repeaters[targets.repeater_base(entry.target)] = entry
            else:
                self.paths.append((targets.parse_path(entry.target), entry))
        self.patterns = [(re.compile(rule.pattern), rule) for rule in plan.patterns]
        policy = plan.policy
        self.recurse = policy.recurse_sequences
        self.keep = {int(tag, 16) for tag in policy.keep}
        self.private_keep = {targets.parse_private(target) for target in policy.private_keep}
        self.kept_creators = {(group, creator) for group, creator, _ in self.private_keep}

    def actions_for(self, tag: int, key, top: bool) -> list[Action]:
        """Every action on element ``tag`` (``key``: its private key, if any) at the top level
        or inside a sequence, in the plan's settled order."""
        group = tag >> 16
        actions: list[Action] = []
        if top or self.recurse:
            entry = self.public.get(tag)  # private elements too, when named by their hex tag
            if group & 1:
                by_creator = self.private.get(key) if key else None
                if by_creator is not None:
                    actions.extend(by_creator.actions)
            elif entry is None and self.repeaters and (group & 0xFF00) in REPEATER_GROUPS:
                entry = self.repeaters.get(tag & REPEATER_MASK)
            if entry is not None:
                actions.extend(entry.actions)
        if top and self.patterns and (group & 1 or tag not in self.public):
            hex_path = f"{tag:08x}"
            for pattern, rule in self.patterns:
                if pattern.match(hex_path):
                    actions.extend(rule.actions)
        if len(actions) > 1:
            actions.sort(key=lambda action: action.order)
        return actions

    def defined(self, tag: int, key) -> bool:
        """Does any rule name this top-level element (so remove-undefined keeps it)?  A
        private creator is named only by its tag or a regex: see creator_defined."""
        if tag in self.keep:
            return True
        group = tag >> 16
        if group & 1:
            if 0x0010 <= tag & 0xFFFF <= 0x00FF:
                return self.pattern_hit(tag)
            return key in self.private or self.pattern_hit(tag)
        if (group & 0xFF00) in REPEATER_GROUPS and (tag & REPEATER_MASK) in self.repeaters:
            return True
        return self.pattern_hit(tag)

    def creator_defined(self, tag: int, block_kept: bool) -> bool:
        """Does remove-undefined keep the private creator ``tag``?  Unlike Flywheel, which
        drops every creator, deidc keeps the creator of a block that keeps an element (an
        element whose creator is gone cannot be read back); a creator whose block keeps
        nothing the file holds goes, as in Flywheel, even when a rule names an offset of it."""
        return block_kept or self.defined(tag, None)

    def pattern_hit(self, tag: int) -> bool:
        hex_path = f"{tag:08x}"
        return any(pattern.match(hex_path) for pattern, _ in self.patterns)

    def nested_actions(self, tag: int, key, here: list, keyword_path: str | None,
                       hex_path: str) -> list[Action]:
        """Every action on the element at ``here`` (tags and item indices) inside a sequence:
        recurse-sequence names, nested paths, regexes on its keyword or hex path; in the plan's
        settled order."""
        actions = self.actions_for(tag, key, False) if self.recurse else []
        for steps, entry in self.paths:
            if path_matches(steps, here):
                actions.extend(entry.actions)
        for pattern, rule in self.patterns:
            if (keyword_path is not None and pattern.match(keyword_path)) or \
                    pattern.match(hex_path):
                actions.extend(rule.actions)
        actions.sort(key=lambda action: action.order)
        return actions

    def named_nested(self, tag: int, key, here: list, keyword_path: str | None,
                     hex_path: str) -> bool:
        """Does a rule name the element at ``here`` inside a sequence, or something below it
        (so remove-undefined keeps it)?  Nested paths (and their parents), recurse-sequence
        names, regexes on either path."""
        depth = len(here)
        if any(len(steps) >= depth and path_matches(steps[:depth], here)
               for steps, _ in self.paths):
            return True
        if self.recurse:
            if tag >> 16 & 1:
                if key in self.private:
                    return True
            elif tag in self.public or (
                    (tag >> 16 & 0xFF00) in REPEATER_GROUPS
                    and (tag & REPEATER_MASK) in self.repeaters):
                return True
        return any((keyword_path is not None and pattern.match(keyword_path))
                   or pattern.match(hex_path) for pattern, _ in self.patterns)

    def private_kept(self, tag: int, key, creator: str | None) -> bool:
        """Does this private element survive remove-private-tags?"""
        if 0x0010 <= tag & 0xFFFF <= 0x00FF:
            return (tag >> 16, creator) in self.kept_creators
        return key in self.private_keep


def path_matches(steps: list, here) -> bool:
    """Does a nested path's ``steps`` (plan/targets.parse_path) name the element at ``here``
    (its tags and item indices, numbers all)?"""
    if len(steps) != len(here):
        return False
    for position, (step, actual) in enumerate(zip(steps, here)):
        if position % 2:
            if step != "*" and int(step) != actual:
                return False
        elif step != actual:
            return False
    return True


def inserts_when_absent(entry: Entry) -> bool:
    """Does the entry's replace-with insert the element where it is absent?"""
    return any(a.op == "replace" and a.args.get("insert") for a in entry.actions)


def value_decides(op: str, args: dict) -> bool:
    """Does the action's result depend on the value alone (and the plan)?  Then it can be
    looked up instead of recomputed: no draw from the generator, no clock."""
    return op in ("remove", "replace", "hash", "hashuid") or (
        op in ("shift_date", "shift_datetime")
        and not args.get("jitter") and not args.get("min") and not args.get("max"))


def draws_at_random(action: Action) -> bool:
    """Does the action draw from the file's generator (jitter, a jittered date shift, a
    regex-sub group that does either)?  A seeded run's values depend on the order of draws."""
    if action.op == "regex_sub":
        return any(group["op"] == "jitter" or group["args"].get("jitter")
                   for item in action.args.get("items", []) for group in item.get("groups", []))
    return action.op == "jitter" or bool(action.args.get("jitter"))


def element_groups(action: Action) -> list[str]:
    """The names of a regex-sub action's groups that are not groups of their item's regex:
    each reads the element of that name (``{PatientID}`` with a ``hash`` group)."""
    if action.op != "regex_sub":
        return []
    return [group["name"] for item in action.args.get("items", [])
            for group in item.get("groups", [])
            if group.get("name") and group["name"] not in re.compile(
                item["input_regex"]).groupindex]


# Series share most of their values (study and series UIDs, dates, IDs): a deterministic
# transform of a value already seen in this process is looked up, not recomputed.  Keys hold
# the id of the action's args; the args object itself is kept and checked, so a key can never
# answer for another plan's action.
_MEMO: dict[tuple, tuple] = {}
_MEMO_LIMIT = 65536


class Actor:
    """Applies a chain of plan actions to one element's state (present?, value).  Both
    executors use it, so an action means the same thing on either path.  A value the
    transform cannot handle raises :class:`deidc.execute.transforms.TransformError`."""

    def __init__(self, rng, compat_flywheel: bool, now: datetime):
        self.rng = rng
        self.compat = compat_flywheel
        self.now = now
        # name → text of a dataset element, for regex-sub groups named after elements (set
        # by an executor that can read them; None: such groups give '')
        self.read_element = None

    def run(self, actions, present: bool, value, vr: str):
        for action in actions:
            args = action.args
            if action.op == "remove":
                present, value = False, None
            elif action.op == "replace":
                if args.get("value") is None or (not present and not args.get("insert")):
                    continue
                present, value = True, args["value"]
            elif present:
                try:
                    result = self.apply(action.op, args, value, vr)
                except transforms.TransformError as exc:
                    exc.action = action  # which rule failed, for the message
                    raise
                if result is not None:
                    value = result
        return present, value

    def apply(self, op: str, args: dict, value, vr: str):
        """The new value, or ``None`` for "leave it as it is"."""
        text = transforms.value_as_text(value)
        if value_decides(op, args):
            key = (id(args), text, self.compat)
            hit = _MEMO.get(key)
            if hit is not None and hit[0] is args:
                return list(hit[1]) if isinstance(hit[1], list) else hit[1]
            result = self._apply(op, args, text, vr)
            if len(_MEMO) >= _MEMO_LIMIT:
                _MEMO.clear()
            _MEMO[key] = (args, result)
            return result
        return self._apply(op, args, text, vr)

    def _apply(self, op: str, args: dict, text, vr: str):
        if op == "hash":
            return transforms.hash_value(text, args.get("salt"), args["digits"])
        if op == "hashuid":
            return transforms.hash_uid(text, args.get("salt"), args["prefix_fields"],
                                       args["suffix_fields"], args.get("numeric_name"),
                                       compat_flywheel=self.compat)
        if op in ("shift_date", "shift_datetime"):
            jitter = args.get("jitter") or {}
            common = dict(jitter_range=jitter.get("range"),
                          jitter_unit=jitter.get("unit", "days"), rng=self.rng)
            if op == "shift_date":
                return transforms.shift_date(text, args["days"], args["format"], **common)
            bounds = {key: transforms.datetime_bound(args[key], self.now)
                      for key in ("min", "max") if args.get(key) is not None}
            return transforms.shift_datetime(text, args["days"], args["format"], **common,
                                             minimum=bounds.get("min"),
                                             maximum=bounds.get("max"))
        if op == "jitter":
            return transforms.jitter(text, args["range"], args["type"], args.get("min"),
                                     args.get("max"), vr, self.rng,
                                     compat_flywheel=self.compat)
        if op == "regex_sub":
            return transforms.regex_sub(text, args["items"], self._group_transform(vr))
        raise transforms.TransformError(f"unknown action {op!r}")

    def _group_transform(self, vr: str):
        """regex-sub's named groups, each transformed by its own dry rule."""
        def run(item, name, matched):
            if matched is None and self.read_element is not None:
                # a group named after an element, not a regex group: that element's value
                matched = self.read_element(name)
            for group in item.get("groups", []):
                if group.get("name") == name and matched is not None:
                    if group["op"] == "keep":
                        return matched
                    result = self.apply(group["op"], group["args"], matched, vr)
                    return matched if result is None else result
            return matched
        return run
