"""Which rule acts on which attribute, and in what order: shared by the compiler and lint.

Flywheel's evaluation (profile-semantics.md, "Evaluation"): every ``regex-sub`` rule is moved to
the front (in reverse order), the others keep profile order; each rule applies only the first
of its action keys in Flywheel's fixed order; rules on the same element apply one after the
other, each seeing the result of the ones before.  This module turns rules into *targets*
(canonical strings, see :mod:`deidc.plan.ir`) so that "the same attribute" means the same thing
to lint and to the compiler, whatever notation a rule used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..plan import targets
from . import dictionary
from .model import FieldRule, Selector
from .regex_safety import backtracking_risk


@dataclass(frozen=True)
class Target:
    key: str
    kind: str  # "tag", "private", "path", "repeater"
    keyword: str | None
    vr: str | None

    @property
    def label(self) -> str:
        return self.keyword or self.key


@dataclass(frozen=True)
class Effect:
    """What one action does to one element, as far as precedence cares.

    ``kind`` is ``"remove"``; ``"set"`` (a replacement written whether or not the element is
    there); ``"write"`` (a replacement written only over an element that is there); or
    ``"change"`` (anything that reads the present value: hash, date shifts, jitter, regex-sub,
    and a ``replace-with: null``, which writes nothing).  Equal ``signature`` = the same
    action with the same arguments."""

    kind: str
    signature: object


@dataclass(frozen=True)
class Dead:
    """An action in a chain that can never have an effect: ``index`` in the chain, ``by`` the
    index of the action that makes it dead, ``why`` one of ``"overridden"`` (a later action
    removes or rewrites the element whatever this one did), ``"duplicate"`` (the same, and the
    later copy acts) or ``"absent"`` (an earlier remove took the element away and nothing put
    it back: every action but an inserting replacement leaves an absent element alone)."""

    index: int
    by: int
    why: str


def settle(chain: list[Effect]) -> list[Dead]:
    """The actions of one element's chain (in effective order) that can never have an effect.

    Only the obvious cases, each safe whatever the file holds: everything before the last
    remove or inserting replacement; transforms after a remove that nothing undoes; transforms
    of a present value that a later replacement overwrites.  ``replace-with`` then ``hash``
    hashes the replacement, so both stay; a ``set`` before a ``write`` stays too (it is what
    makes the element present for the write)."""
    dead: list[Dead] = []
    reset = max((i for i, effect in enumerate(chain) if effect.kind in ("remove", "set")),
                default=None)
    if reset is not None:
        for index in range(reset):
            same = chain[index].signature == chain[reset].signature
            dead.append(Dead(index, reset, "duplicate" if same else "overridden"))
    start = 0 if reset is None else reset + 1
    if reset is not None and chain[reset].kind == "remove":
        dead.extend(Dead(index, reset, "absent") for index in range(start, len(chain)))
        return dead
    pending: list[int] = []  # changes and writes since the reset that a later write may void
    for index in range(start, len(chain)):
        effect = chain[index]
        if effect.kind == "write":
            dead.extend(Dead(i, index, "duplicate" if chain[i].signature == effect.signature
                             else "overridden") for i in pending)
            pending = []
        pending.append(index)
    return sorted(dead, key=lambda d: d.index)


def effective_order(fields: tuple[FieldRule, ...]) -> list[FieldRule]:
    """The order Flywheel applies rules in: regex-sub rules first, in reverse, then the rest."""
    regex_sub = [rule for rule in fields if rule.action == "regex-sub"]
    return list(reversed(regex_sub)) + [rule for rule in fields if rule.action != "regex-sub"]


def selector_target(selector: Selector | None) -> Target | None:
    """The target a ``name:`` selector names, or ``None`` if it is invalid or a regex."""
    if selector is None:
        return None
    if selector.kind == "keyword":
        attribute = dictionary.resolve(selector)
        return Target(attribute.hex, "tag", attribute.keyword, attribute.vr) if attribute else None
    if selector.kind == "tag":
        attribute = dictionary.attribute(selector.tag)
        return Target(targets.tag(selector.tag), "tag", attribute.keyword if attribute else None,
                      attribute.vr if attribute else None)
    if selector.kind == "private":
        return Target(targets.private(selector.group, selector.creator, selector.offset), "private",
                      None, dictionary.private_vr(selector.group, selector.creator,
                                                  selector.offset))
    if selector.kind == "repeater":
        attribute = dictionary.attribute(selector.tag)
        return Target(targets.repeater(selector.tag), "repeater", attribute.keyword if attribute else None,
                      attribute.vr if attribute else None)
    if selector.kind == "nested":
        steps = []
        for step in selector.steps:
            if isinstance(step, Selector):
                resolved = selector_target(step)
                if resolved is None or resolved.kind != "tag":
                    return None
                steps.append(resolved)
            else:
                steps.append(str(step))
        last = steps[-1]
        return Target(targets.path(s.key if isinstance(s, Target) else s for s in steps), "path",
                      last.keyword, last.vr)
    return None


def compile_regex(pattern: str) -> re.Pattern[str] | None:
    """The pattern compiled, or ``None`` if it does not compile or risks catastrophic
    backtracking (lint reports both; nothing in deidc runs such a pattern)."""
    try:
        compiled = re.compile(pattern)
    except (re.error, RecursionError, OverflowError):
        return None
    return None if backtracking_risk(pattern) else compiled


def regex_targets(pattern: re.Pattern[str]) -> list[Target]:
    """Dictionary attributes a ``regex:`` rule reaches, as tag targets."""
    return [Target(a.hex, "tag", a.keyword, a.vr) for a in dictionary.regex_matches(pattern)]


def rule_targets(rule: FieldRule) -> list[Target]:
    """Every target a rule acts on that can be known without a file."""
    if rule.selector is None:
        return []
    if rule.selector.kind == "regex":
        compiled = compile_regex(rule.selector.pattern)
        return regex_targets(compiled) if compiled else []
    target = selector_target(rule.selector)
    return [target] if target else []


# `input-regex: '^(?P<name>.*)$'` with `output: '{name}'`: the whole input name, unchanged.
_WHOLE_NAME = re.compile(r"\^?\(\?P<(?P<group>\w+)>\.[*+]\)\$?")


def renaming_templates(filenames: object) -> list[int]:
    """The indexes of the `filenames` templates that rename outputs (see renames_files)."""
    return [index for index, template in enumerate(filenames if isinstance(filenames, list)
                                                   else []) if renames_files(template)]


def renames_files(template: object) -> bool:
    """Whether a `filenames` template can give an output another name than its input's.

    deidc apply writes every output under its input's relative path and name.  The one
    template that does the same captures the whole name in a group and outputs that group
    untouched (the Penn BSC profiles use it "to keep the original name"); any other template
    renames, usually to take a date or a name out of the file name, which deidc would leave in.
    """
    if not isinstance(template, dict):
        return False  # a malformed entry is lint's schema finding, not a rename
    whole = _WHOLE_NAME.fullmatch(str(template.get("input-regex", "")))
    if whole is None or template.get("output") != "{%s}" % whole["group"]:
        return True
    groups = template.get("groups") or []
    return any(isinstance(g, dict) and g.get("name") == whole["group"] and set(g) != {"name"}
               for g in (groups if isinstance(groups, list) else [groups]))
