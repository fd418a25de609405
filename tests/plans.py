"""Plans built by hand, for executor tests that must not depend on the compiler.

``plan(entry("00100020", replace("X")), remove_private=True)`` reads like the profile it stands
for.  Targets use the plan's canonical forms (see :mod:`deidc.plan.ir`); each action gets the next
``order``, so a plan's actions apply in the order they are written, as compiled rules do.
"""

from __future__ import annotations

import itertools

from deidc.plan.ir import (PLAN_FORMAT, Action, Entry, LogColumn, Origin, PatientAge, PatternRule,
                        Plan, Policy, ProfileRef)

_ORDER = itertools.count()


def origin(text: str = "test rule", line: int = 1) -> Origin:
    return Origin("tests/profile.yaml", line, 0, text)


def action(op: str, **args) -> Action:
    order = next(_ORDER)
    return Action(op, args, origin(op, order + 1), order)


def remove() -> Action:
    return action("remove")


def replace(value, insert: bool = True) -> Action:
    return action("replace", value=value, insert=insert)


def hash_(salt: str | None = None, digits: int = 16) -> Action:
    return action("hash", salt=salt, digits=digits)


def hashuid(salt: str | None = None, prefix_fields: int = 4, suffix_fields: int = 1,
            numeric_name: str | None = None) -> Action:
    return action("hashuid", salt=salt, prefix_fields=prefix_fields,
                  suffix_fields=suffix_fields, numeric_name=numeric_name)


def shift_date(days: float, fmt: str = "%Y%m%d", jitter: dict | None = None) -> Action:
    return action("shift_date", days=days, format=fmt, jitter=jitter)


def shift_datetime(days: float, fmt: str = "%Y%m%d%H%M%S.%f", jitter: dict | None = None,
                   minimum=None, maximum=None) -> Action:
    return action("shift_datetime", days=days, format=fmt, jitter=jitter, min=minimum,
                  max=maximum)


def jitter(jitter_range: float = 2, jitter_type: str = "float", minimum=None,
           maximum=None) -> Action:
    return action("jitter", range=jitter_range, type=jitter_type, min=minimum, max=maximum)


def regex_sub(*items: dict) -> Action:
    return action("regex_sub", items=list(items))


def _kind(target: str) -> str:
    if target.startswith("("):
        return "private"
    if "." in target:
        return "path"
    if "X" in target.upper()[2:4] and target.upper()[:2] in ("50", "60"):
        return "repeater"
    return "tag"


def entry(target: str, *actions: Action, vr: str | None = None) -> Entry:
    """What a profile does to ``target``; no actions = a keep rule."""
    if vr is None and _kind(target) in ("tag", "path"):
        from pydicom.datadict import dictionary_VR

        try:
            vr = dictionary_VR(int(target.rsplit(".", 1)[-1], 16))
        except KeyError:
            vr = None
    return Entry(target, _kind(target), None, vr, tuple(actions), (origin(target),))


def pattern(regex: str, *actions: Action) -> PatternRule:
    return PatternRule(regex, tuple(actions), origin(f"regex: {regex}"))


def plan(*entries: Entry, patterns: tuple[PatternRule, ...] = (), remove_private: bool = False,
         remove_undefined: bool = False, recurse: bool = False,
         patient_age: PatientAge | None = None, sync_media_storage: bool = True,
         log_columns: tuple[LogColumn, ...] = ()) -> Plan:
    """A plan whose policy is derived from its entries as the compiler derives it: private
    entries survive remove-private, tag and path entries (with their parents) remove-undefined."""
    keep = sorted({e.target.split(".", 1)[0] for e in entries if e.kind in ("tag", "path")})
    private_keep = tuple(sorted(e.target for e in entries if e.kind == "private"))
    policy = Policy(remove_private=remove_private, private_keep=private_keep,
                    remove_undefined=remove_undefined, keep=tuple(keep),
                    recurse_sequences=recurse, patient_age=patient_age,
                    sync_media_storage=sync_media_storage)
    return Plan(format=PLAN_FORMAT, deidc_version="test", pydicom_version="test",
                profile=ProfileRef("test", "tests/profile.yaml", "0" * 64), options={},
                policy=policy, entries=tuple(entries), patterns=tuple(patterns),
                log_columns=tuple(log_columns))
