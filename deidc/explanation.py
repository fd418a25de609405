"""Plan → what it does to each attribute, for people (rich tables) and tools (JSON).

Explain reads the plan, never the profile: what it shows is what the executor will do.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from .errors import DeidcError
from .plan import targets
from .plan.ir import Action, Entry, Origin, Plan


PATIENT_AGE = "00101010"


class ExplainError(DeidcError):
    """A request explain cannot answer (unknown attribute, unreadable file)."""


@dataclass
class Report:
    title: str
    rows: list[dict] = field(default_factory=list)
    policy: str = ""
    columns: tuple[str, ...] = ("keyword", "tag", "vr", "chain", "lines", "overridden")
    # For one attribute: what PS3.15 Table E.1-1 requires of it and the verdict (the API
    # fills it in from :mod:`deidc.conformance`, which this module may not import).
    conformance: dict | None = None


@dataclass(frozen=True)
class Treatment:
    """What the plan does to one concrete element at one place, as the executor decides it.

    ``removed_by`` names the default policy that removes the element before any rule reaches
    it (``remove-private-tags``, ``remove-undefined``); otherwise ``actions`` is the settled
    chain that acts on it (empty: it is kept as it is), ``named`` says whether a rule names
    it (a keep included), ``origins`` the rules that do, and ``age_computed`` that PatientAge
    is rewritten from the original dates before the chain runs.  ``follows`` names the
    element whose fate it shares: the file meta's MediaStorageSOPInstanceUID follows
    SOPInstanceUID when no rule names it."""

    removed_by: str | None = None
    actions: tuple[Action, ...] = ()
    named: bool = False
    origins: tuple[Origin, ...] = ()
    age_computed: bool = False
    follows: str | None = None


def treatment(plan: Plan, tag: int, key: tuple | None = None, here: list | None = None,
              keywords: list | None = None) -> Treatment:
    """What the plan does to element ``tag`` (``key``: its (group, creator, offset) when it is
    private) at the top level, or, given ``here`` (tags and item indices down to it, as
    ``[0x00081110, 0, 0x00081155]``) and the keywords of those tags (``None`` where a tag has
    none), inside a sequence.  The executors' own dispatch answers, so this is what
    ``deidc apply`` does; the enclosing sequences are assumed to stay."""
    from .execute.actions import Dispatch
    from .execute.dicom import (FILE_META_GROUP, MEDIA_STORAGE_SOP_INSTANCE_UID, PATIENT_AGE,
                                SOP_INSTANCE_UID)

    dispatch = Dispatch.for_plan(plan)
    policy = plan.policy
    if tag >> 16 == FILE_META_GROUP:  # only rules that name it change the file meta
        entry = dispatch.public.get(tag)
        if entry is None and tag == MEDIA_STORAGE_SOP_INSTANCE_UID and policy.sync_media_storage:
            followed = treatment(plan, SOP_INSTANCE_UID)
            return Treatment(followed.removed_by, followed.actions, followed.named,
                             followed.origins, follows="SOPInstanceUID")
        return Treatment(actions=entry.actions if entry else (), named=entry is not None,
                         origins=entry.origins if entry else ())
    private = bool(tag >> 16 & 1)
    if private and policy.remove_private and not dispatch.private_kept(tag, key, None):
        return Treatment(removed_by="remove-private-tags")
    if here is None:
        if policy.remove_undefined and not dispatch.defined(tag, key):
            return Treatment(removed_by="remove-undefined")
        actions = dispatch.actions_for(tag, key, True)
        age = tag == PATIENT_AGE and policy.patient_age is not None
    else:
        keyword_path = None
        if keywords is not None and None not in keywords:
            keyword_path = ".".join(str(step) for step in _interleave(keywords, here))
        hex_path = ".".join(f"{step:08x}" if place % 2 == 0 else str(step)
                            for place, step in enumerate(here))
        if policy.remove_undefined and not dispatch.named_nested(tag, key, here, keyword_path,
                                                                 hex_path):
            return Treatment(removed_by="remove-undefined")
        actions = dispatch.nested_actions(tag, key, here, keyword_path, hex_path)
        age = False
    naming = _naming_entries(dispatch, tag, key, here)
    origins = tuple(o for entry in naming for o in entry.origins) + \
        tuple(action.origin for action in actions if not any(
            action.origin in entry.origins for entry in naming))
    return Treatment(actions=tuple(actions), named=bool(naming or actions),
                     origins=origins, age_computed=age)


def _interleave(keywords: list, here: list) -> list:
    """Keywords at the tag places of ``here``, its item indices between them."""
    return [keywords[place // 2] if place % 2 == 0 else step for place, step in enumerate(here)]


def _naming_entries(dispatch, tag: int, key, here: list | None) -> list[Entry]:
    """The entries that name the element at this place (keeps included)."""
    from .execute.dicom import REPEATER_GROUPS, REPEATER_MASK

    found = []
    if here is None or dispatch.recurse:
        entry = dispatch.public.get(tag)
        if entry is None and key is not None:
            entry = dispatch.private.get(key)
        if entry is None and (tag >> 16 & 0xFF00) in REPEATER_GROUPS:
            entry = dispatch.repeaters.get(tag & REPEATER_MASK)
        if entry is not None:
            found.append(entry)
    if here is not None:
        from .execute.actions import path_matches

        found.extend(entry for steps, entry in dispatch.paths if path_matches(steps, here))
    return found


def describe_action(action: Action) -> str:
    args = action.args
    if action.op == "remove":
        return "remove"
    if action.op == "replace":
        suffix = "" if args.get("insert") else " (if present)"
        return f"replace with {json.dumps(args.get('value'))}{suffix}"
    if action.op == "hash":
        return f"hash ({args.get('digits')} hex digits{', salted' if args.get('salt') else ''})"
    if action.op == "hashuid":
        return f"hashuid (keep {args.get('prefix_fields')} prefix nodes)"
    if action.op in ("shift_date", "shift_datetime"):
        jitter = args.get("jitter")
        extra = f" ± up to {jitter['range']} {jitter['unit']}" if jitter else ""
        return f"shift by {args.get('days')} days{extra} ({args.get('format')})"
    if action.op == "jitter":
        return f"jitter ±{args.get('range')} ({args.get('type')})"
    if action.op == "regex_sub":
        return f"regex-sub ({len(args.get('items', []))} patterns)"
    return action.op


def policy_sentence(plan: Plan) -> str:
    policy = plan.policy
    parts = []
    if policy.remove_undefined:
        parts.append(f"every element no rule names is removed ({len(policy.keep)} top-level "
                     "tags are named)")
    else:
        parts.append("every element no rule names is kept")
    if policy.remove_private:
        kept = f", except {', '.join(policy.private_keep)}" if policy.private_keep else ""
        parts.append(f"private elements are removed{kept}")
    if policy.recurse_sequences:
        parts.append("rules also apply inside sequences")
    if policy.patient_age:
        parts.append("PatientAge is computed from PatientBirthDate and StudyDate first")
    if policy.sync_media_storage:
        parts.append("MediaStorageSOPInstanceUID follows SOPInstanceUID")
    return "Default policy: " + "; ".join(parts) + "."


def _row(plan: Plan, entry: Entry) -> dict:
    if entry.actions:
        chain = " → ".join(describe_action(a) for a in entry.actions)
    elif plan.policy.remove_private and entry.kind == "private":
        chain = "keep (survives remove-private-tags)"
    else:
        chain = "keep"
    return {"keyword": entry.keyword or "", "tag": entry.target, "vr": entry.vr or "",
            "chain": chain,
            "lines": ", ".join(sorted({str(o.line) for o in entry.origins}, key=int)),
            "overridden": "; ".join(f"line {o.origin.line}: {o.reason}"
                                    for o in entry.overridden)}


def explain_plan(plan: Plan) -> Report:
    report = Report(f"{plan.profile.name or plan.profile.path}: {len(plan.entries)} attributes",
                    policy=policy_sentence(plan))
    report.rows = [_row(plan, entry) for entry in plan.entries]
    for pattern in plan.patterns:
        report.rows.append({"keyword": f"regex {pattern.pattern}", "tag": "(per file)",
                            "vr": "", "chain": " → ".join(describe_action(a)
                                                          for a in pattern.actions) or "keep",
                            "lines": str(pattern.origin.line),
                            "overridden": "private, unknown and nested elements matched per "
                                          "file"})
    return report


def unnamed_fate(plan: Plan, key: str, kind: str) -> tuple[bool, str]:
    """What the default policy does to an element no entry names (``key`` a target of
    ``kind``, as in :class:`deidc.plan.ir.Entry`): (is it removed, why, for people).  The
    per-file regex residue is left out: it depends on the file."""
    leaf = targets.parse_path(key)[-1] if kind == "path" else None
    private = kind == "private" or (kind == "tag" and int(key[:4], 16) & 1) or (
        leaf is not None and (leaf >> 16) & 1)
    if key.startswith("0002"):
        fate = "kept: file meta, which only rules that name it change"
        if key == "00020003" and plan.policy.sync_media_storage:
            fate += "; it follows SOPInstanceUID when a rule changes that"
        return False, fate
    if private and plan.policy.remove_private:
        return True, "removed: private, and remove-private-tags is on"
    if kind == "path" and plan.policy.remove_undefined:
        return True, "removed: no rule names it inside its sequence and remove-undefined is on"
    if plan.policy.remove_undefined and key not in plan.policy.keep:
        return True, "removed: no rule names it and remove-undefined is on"
    if key == PATIENT_AGE and plan.policy.patient_age:
        return False, "computed from PatientBirthDate and StudyDate " \
                      "(patient-age-from-birthdate)"
    if plan.policy.remove_undefined and kind == "tag":
        return False, "kept: a rule names an element inside it"
    return False, "kept: no rule names it and remove-undefined is off"


def explain_tag(plan: Plan, name: str) -> Report:
    """One attribute, including attributes no rule names."""
    from .profile import dictionary
    from .profile.meaning import selector_target
    from .profile.model import parse_selector

    mask = dictionary.repeater_keywords().get(name.strip())
    target = selector_target(parse_selector(mask.upper() if mask else name))
    if target is None:
        suggestions = dictionary.suggestions(name)
        hint = f" (did you mean {', '.join(suggestions)}?)" if suggestions else ""
        raise ExplainError(f"{name!r} is not a keyword or tag{hint}")
    table = plan.table()
    entry = table.get(target.key)
    if entry is None and target.kind == "tag" and targets.repeater_of(target.key):
        entry = table.get(targets.repeater_of(target.key))  # a repeater rule's group
    report = Report(f"{target.label} {target.key}", policy=policy_sentence(plan))
    if entry is not None:
        report.rows = [_row(plan, entry)]
        return report
    tag_is_private = target.kind == "tag" and int(target.key[:4], 16) & 1
    fate = unnamed_fate(plan, target.key, target.kind)[1]
    # a regex is expanded over the dictionary at compile time: its per-file residue can reach
    # only private, unknown and nested elements (never the file meta)
    residue_reaches = (target.kind != "tag" or tag_is_private or target.keyword is None) \
        and not target.key.startswith("0002")
    matching = [p.pattern for p in plan.patterns] if residue_reaches else []
    if matching:
        fate += f" (regex rules {', '.join(matching)} are matched per file only for private, " \
                "unknown and nested elements)"
    report.rows = [{"keyword": target.keyword or "", "tag": target.key, "vr": target.vr or "",
                    "chain": fate, "lines": "", "overridden": ""}]
    return report


def preview(plan: Plan, path: str) -> Report:
    """What happens to each element of a real file, before and after; writes nothing."""
    import random

    from .execute.dataset import ExecutionError, preview_changes

    try:
        changes = preview_changes(plan, path, rng=random.Random(0))
    except ExecutionError as exc:
        message = str(exc)
        raise ExplainError(message if path in message else f"{path}: {message}") from None
    nested = sum("." in row["path"] for row in changes)
    title = f"{path}: {len(changes) - nested} elements" + (
        f", and {nested} changed inside sequences" if nested else "")
    report = Report(title, policy=policy_sentence(plan),
                    columns=("keyword", "tag", "vr", "fate", "before", "after", "why"))
    table = plan.table()
    for row in changes:
        row["why"] = _why(plan, table, row)
    report.rows = changes
    return report


def _why(plan: Plan, table: dict[str, Entry], row: dict) -> str:
    """Which part of the plan decided a previewed element's fate."""
    tag, path = row["tag"], row.get("path", row["tag"])
    entry = table.get(path) or table.get(targets.wildcard(path)) or (
        table.get(tag) if "." not in path or plan.policy.recurse_sequences else None) or (
        table.get(targets.repeater_of(tag)))
    if entry is not None and entry.actions:
        lines = ", ".join(sorted({str(a.origin.line) for a in entry.actions}, key=int))
        return f"line{'s' if ',' in lines else ''} {lines}"
    if row["fate"] == "kept":
        return "named (keep)" if entry is not None else ""
    if tag == "00101010" and plan.policy.patient_age:
        return "patient-age-from-birthdate"
    if row["fate"] == "removed":
        if int(tag[:4], 16) & 1 and plan.policy.remove_private:
            return "remove-private-tags"
        if plan.policy.remove_undefined:
            return "remove-undefined"
    return "regex " + ", ".join(p.pattern for p in plan.patterns) if plan.patterns else ""
