"""Layer 1: the plan held.  Every action the plan gives took effect where the plan says, and
every element it leaves alone is byte for byte the input's.

The input is walked as the executor walks it, and each element is asked the executor's own
questions (:class:`deidc.execute.actions.Dispatch`: which actions act here, does
remove-private-tags keep it, does remove-undefined name it), so verify and apply can never
disagree on where a rule applies.  What an action must have done is then checked on the output
by its definition, not by running the transform again: a removed element is absent, a
replaced one holds the replacement, a hash or hashed UID differs from the original and is
valid for its VR, a date moved by exactly the increment (within the jitter range, if any), a
jittered number moved by no more than the range.  Where one element has a chain of actions,
the last that has an effect is checked when the value it started from is known (the input's,
or a replacement); regex-sub results are only checked to be present: their meaning is the
regex.  Outputs are checked from their side too: a private element remove-private-tags does
not keep, an element remove-undefined does not name, an element no input holds and no rule
inserts.
"""

from __future__ import annotations

import warnings
from datetime import datetime, timedelta

from pydicom import config as pydicom_config
from pydicom.dataelem import RawDataElement
from pydicom.valuerep import validate_value

from ..execute import transforms
from ..execute.actions import Dispatch, inserts_when_absent, path_matches, private_key_of
from ..execute.dataset import (creators_of, dictionary_vr, element_is_sequence, is_sequence,
                               keyword_step)
from ..execute.dicom import MEDIA_STORAGE_SOP_INSTANCE_UID, META_GROUP_LENGTH, PATIENT_AGE
from .findings import Finding, finding
from .walk import PIXEL_TAGS, location

# kind of finding for an action whose effect is missing
MISSING = {"remove": "not-removed", "replace": "not-replaced", "hash": "not-hashed",
           "hashuid": "not-hashed", "shift_date": "not-shifted", "shift_datetime": "not-shifted",
           "jitter": "not-jittered", "regex_sub": "not-replaced"}
_INTEGER_VRS = frozenset({"IS", "US", "SS", "UL", "SL", "UV", "SV"})
_UNCHECKED_VRS = frozenset({"UN", "OB", "OW", "SQ", None, ""})


def plan_findings(plan, relative: str, original, released) -> list[Finding]:
    """The layer-1 findings of one pair (``original`` and ``released`` as pydicom read
    them)."""
    check = _Check(Dispatch.for_plan(plan), relative)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        meta_in = getattr(original, "file_meta", None)
        if meta_in is not None:
            check.level(meta_in, getattr(released, "file_meta", None), (), None, [], meta=True)
        check.level(original, released, (), [], [])
        check.inserts(original, released)
    return check.findings


class _Check:
    def __init__(self, dispatch: Dispatch, relative: str):
        self.dispatch = dispatch
        self.policy = dispatch.plan.policy
        self.relative = relative
        self.findings: list[Finding] = []
        self.enter_sequences = bool(dispatch.recurse or dispatch.paths or dispatch.patterns)

    def report(self, kind: str, steps: tuple, message: str, value=None) -> None:
        self.findings.append(finding(self.relative, kind, message, tag=f"{steps[-1]:08X}",
                                     location=location(steps), value=value))

    # --- one dataset (or item) and its output ----------------------------------------------

    def level(self, ds_in, ds_out, prefix: tuple, keywords: list | None, hexes: list | None,
              meta: bool = False) -> None:
        """Check the elements of ``ds_in`` (at ``prefix``: tags and item indices of the item;
        ``keywords``/``hexes``: the item's paths as the executor's regexes see them) against
        ``ds_out``, the output's dataset at the same place (``None``: it is gone)."""
        top = not prefix
        creators = creators_of(ds_in) if not meta else {}
        out_creators = creators_of(ds_out) if ds_out is not None and not meta else {}
        index = prefix[-1] if prefix else None
        for tag, element in list(ds_in.items()):
            tag = int(tag)
            if tag in PIXEL_TAGS:  # compared byte for byte by the integrity layer already
                continue
            steps = (*prefix, tag)
            key = private_key_of(tag, creators)
            kw, hx = self.paths(keywords, hexes, tag, index, top)
            if not meta and self.policy.remove_undefined and _is_creator(tag) and (
                    ds_out is None or tag not in ds_out):
                continue  # a block that keeps nothing loses its creator
            sequence = element_is_sequence(element, tag)
            if not meta and not self.policy_keeps(ds_in, tag, key, creators, steps, kw, hx):
                if ds_out is not None and sequence and tag in ds_out:
                    self.sequence(ds_in, ds_out, tag, steps, kw, hx)
                continue  # gone by policy; the output's side says if it is still there
            actions = self.actions(tag, key, steps, kw, hx, meta)
            if sequence:
                if actions:
                    self.sequence_actions(ds_out, tag, steps, actions)
                elif ds_out is None or tag not in ds_out:
                    self.report("element-changed", steps, f"{_name(tag)}: a sequence the plan "
                                "leaves alone is missing from the output")
                else:
                    self.sequence(ds_in, ds_out, tag, steps, kw, hx)
                continue
            if actions and self.acted(ds_in, ds_out, tag, steps, actions):
                continue
            if self.exempt(tag, top, meta):
                continue
            self.unchanged(ds_in, ds_out, tag, steps, element)
        if ds_out is not None:
            self.output_side(ds_in, ds_out, prefix, keywords, hexes, out_creators, meta)

    def paths(self, keywords: list | None, hexes: list | None, tag: int, index, top: bool):
        """The element's keyword and hex paths as the executor's regexes see them (``None``
        when the plan has no regex: nothing else reads them, and a keyword per element costs
        more than the rest of the check)."""
        if not self.dispatch.patterns:
            return None, None
        if top:
            return keyword_step([], tag), [f"{tag:08x}"]
        return keyword_step(keywords, tag, index), [*hexes, index, f"{tag:08x}"]

    def actions(self, tag: int, key, steps: tuple, kw, hx, meta: bool) -> list:
        if meta:
            entry = self.dispatch.public.get(tag)
            return list(entry.actions) if entry is not None else []
        if len(steps) == 1:
            return self.dispatch.actions_for(tag, key, True)
        if not self.enter_sequences:
            return []
        return self.dispatch.nested_actions(tag, key, list(steps), _joined(kw), _joined(hx))

    def policy_keeps(self, ds, tag: int, key, creators: dict, steps, kw, hx) -> bool:
        """Does the element survive remove-private-tags and remove-undefined?"""
        dispatch = self.dispatch
        if self.policy.remove_private and tag >> 16 & 1 and not dispatch.private_kept(
                tag, key, creators.get((tag >> 16, tag & 0xFFFF))):
            return False
        if self.policy.remove_undefined and not _is_creator(tag):
            return self.named(tag, key, steps, kw, hx)
        return True

    def named(self, tag: int, key, steps: tuple, kw, hx) -> bool:
        if len(steps) == 1:
            return self.dispatch.defined(tag, key)
        return self.dispatch.named_nested(tag, key, list(steps), _joined(kw), _joined(hx))

    def exempt(self, tag: int, top: bool, meta: bool) -> bool:
        """Elements the executor changes whatever the rules say: the patient age it computes,
        the file meta's instance UID it keeps in step (checked by the linkage layer), and
        group lengths (retired outside the file meta; pydicom drops them when it writes a
        file, recomputes the meta's)."""
        if tag & 0xFFFF == 0:
            return True
        if meta:
            return tag == MEDIA_STORAGE_SOP_INSTANCE_UID and self.policy.sync_media_storage
        return top and tag == PATIENT_AGE and self.policy.patient_age is not None

    def sequence(self, ds_in, ds_out, tag: int, steps: tuple, kw, hx) -> None:
        if not is_sequence(ds_out, tag):
            self.report("element-changed", steps, f"{_name(tag)}: a sequence in the input is "
                        "not one in the output")
            return
        items_in, items_out = ds_in[tag].value, ds_out[tag].value
        if len(items_out) != len(items_in):
            self.report("element-changed", steps, f"{_name(tag)}: the sequence has "
                        f"{len(items_out)} items in the output, {len(items_in)} in the input")
        for number, item in enumerate(items_in):
            self.level(item, items_out[number] if number < len(items_out) else None,
                       (*steps, number), kw, hx)

    def sequence_actions(self, ds_out, tag: int, steps: tuple, actions: list) -> None:
        """The executor can only remove a sequence or empty it (``replace-with: ''``)."""
        held = ds_out is not None and tag in ds_out
        last = actions[-1]
        for action in actions:
            if action.op == "remove":
                if held:
                    self.report("not-removed", steps, f"{_name(tag)}: {_rule(action)} removes "
                                "this sequence, and the output still has it")
                return
        if last.op == "replace" and held and len(ds_out[tag].value):
            self.report("not-replaced", steps, f"{_name(tag)}: {_rule(last)} empties this "
                        f"sequence, and the output's has {len(ds_out[tag].value)} items")

    def unchanged(self, ds_in, ds_out, tag: int, steps: tuple, mine) -> None:
        """An element the plan leaves alone (``mine``: as the input has it): the same bytes
        in the output."""
        theirs = ds_out.get_item(tag) if ds_out is not None else None
        if theirs is None:
            self.report("element-changed", steps, f"{_name(tag)}: an element the plan leaves "
                        "alone is missing from the output")
        elif not _identical(ds_in, ds_out, tag, mine, theirs):
            self.report("element-changed", steps, f"{_name(tag)}: an element the plan leaves "
                        "alone differs from the input's", value=_text(theirs))

    # --- one element's actions -------------------------------------------------------------

    def acted(self, ds_in, ds_out, tag: int, steps: tuple, actions: list) -> bool:
        """Check the effect of ``actions`` on an element the input holds; ``False`` when they
        have none (the element must then be unchanged)."""
        text = _text(ds_in[tag])
        present, start, last = expected(actions, True, text)
        if last is None and present:
            return False
        element = ds_out.get(tag) if ds_out is not None else None
        self.effect(steps, present, start, last, element)
        return True

    def effect(self, steps: tuple, present: bool, start, last, element) -> None:
        name = _name(steps[-1])
        if not present:
            if element is not None:
                self.report("not-removed", steps, f"{name}: {_rule(last)} removes it, and the "
                            "output still has it", value=_text(element))
            return
        op = last.op
        if element is None:
            self.report(MISSING[op], steps, f"{name}: {_rule(last)} acts on it, and the output "
                        "does not have it")
            return
        wrote = _text(element) or ""
        if op == "replace":
            if not _same(wrote, transforms.value_as_text(last.args["value"]) or ""):
                self.report("not-replaced", steps, f"{name}: {_rule(last)} replaces it, and "
                            "the output holds another value", value=wrote)
            return
        if op == "regex_sub" or start is None:
            return  # what came before is not known here: presence is all there is to check
        problem = CHECKS[op](op, start, wrote, last.args, element.VR)
        if problem:
            self.report(MISSING[op], steps, f"{name}: {_rule(last)}: {problem}",
                        value=f"{start} -> {wrote}")
            return
        vr = element.VR or dictionary_vr(steps[-1])
        invalid = _invalid(vr, wrote)
        if invalid:
            self.report("invalid-value", steps, f"{name}: the value {_rule(last)} wrote is not a "
                        f"valid {vr} ({invalid})", value=wrote)

    # --- the output's side ------------------------------------------------------------------

    def output_side(self, ds_in, ds_out, prefix: tuple, keywords, hexes, creators: dict,
                    meta: bool) -> None:
        """Elements of the output the policy removes, or that no input element explains."""
        top = not prefix
        index = prefix[-1] if prefix else None
        policy = self.policy
        for tag in list(ds_out.keys()):
            tag = int(tag)
            steps = (*prefix, tag)
            new = tag not in ds_in
            if meta:
                if new and not self.inserted(steps, None, meta=True) and \
                        tag != META_GROUP_LENGTH:
                    self.report("element-changed", steps, f"{_name(tag)}: the output's file "
                                "meta has it and the input's does not")
                continue
            key = private_key_of(tag, creators)
            if new and self.inserted(steps, key) or \
                    (_is_creator(tag) and self.creates_block(tag, creators, prefix)):
                continue
            kw, hx = self.paths(keywords, hexes, tag, index, top)
            if policy.remove_private and tag >> 16 & 1 and not self.dispatch.private_kept(
                    tag, key, creators.get((tag >> 16, tag & 0xFFFF))):
                self.report("private-kept", steps, f"{_name(tag)}: remove-private-tags removes "
                            "this private element, and the output has it")
            elif policy.remove_undefined and not self.kept_undefined(ds_out, tag, key, steps,
                                                                     kw, hx, creators):
                self.report("undefined-kept", steps, f"{_name(tag)}: under remove-undefined no "
                            "rule names this element, and the output has it")
            elif new and not (top and tag == PATIENT_AGE and policy.patient_age):
                self.report("element-changed", steps, f"{_name(tag)}: the output has it and "
                            "the input does not, and no rule inserts it")

    def kept_undefined(self, ds_out, tag: int, key, steps, kw, hx, creators) -> bool:
        """Does remove-undefined leave this output element (named, a sequence that holds
        named elements, the creator of a block that keeps one)?"""
        if _is_creator(tag):
            group, block = tag >> 16, tag & 0xFF
            return self.dispatch.defined(tag, None) or any(
                int(other) >> 16 == group and (int(other) >> 8) & 0xFF == block
                and int(other) & 0xFFFF >= 0x1000 for other in ds_out.keys())
        if self.named(tag, key, steps, kw, hx) or \
                (len(steps) == 1 and tag == PATIENT_AGE and self.policy.patient_age):
            return True
        return is_sequence(ds_out, tag) and any(len(item) for item in ds_out[tag].value)

    def inserted(self, steps: tuple, key, meta: bool = False) -> bool:
        """Does a replace-with-insert rule put an element at ``steps`` (or below it)?"""
        dispatch = self.dispatch
        if len(steps) == 1:
            entry = dispatch.private.get(key) if key else dispatch.public.get(steps[0])
            if entry is not None and inserts_when_absent(entry):
                return True
            if meta:
                return False
        depth = len(steps)
        return any(len(path) >= depth and "*" not in path[1::2] and inserts_when_absent(entry)
                   and path_matches(path[:depth], steps) for path, entry in dispatch.paths)

    def creates_block(self, tag: int, creators: dict, prefix: tuple) -> bool:
        """Is ``tag`` the creator of a private block a rule inserts into?"""
        name = creators.get((tag >> 16, tag & 0xFFFF))
        return not prefix and any(
            group == tag >> 16 and creator == name and inserts_when_absent(entry)
            for (group, creator, _), entry in self.dispatch.private.items())

    def inserts(self, original, released) -> None:
        """Replace-with-insert on elements the input does not have: the output must."""
        dispatch = self.dispatch
        meta_in = getattr(original, "file_meta", None)
        meta_out = getattr(released, "file_meta", None)
        for tag, entry in dispatch.public.items():
            if not inserts_when_absent(entry):
                continue
            holder_in, holder_out = (meta_in, meta_out) if tag >> 16 == 2 else \
                (original, released)
            if holder_in is None or tag in holder_in:
                continue
            present, start, last = expected(entry.actions, False, None)
            if last is not None:
                self.effect((tag,), present, start, last,
                            holder_out.get(tag) if holder_out is not None else None)
        creators_in, creators_out = creators_of(original), creators_of(released)
        for (group, creator, offset), entry in dispatch.private.items():
            if not inserts_when_absent(entry) or \
                    _private(original, group, creator, offset, creators_in) is not None:
                continue
            present, start, last = expected(entry.actions, False, None)
            if last is not None:
                tag = _private(released, group, creator, offset, creators_out)
                self.effect(((group << 16) | 0x1000 | offset,) if tag is None else (tag,),
                            present, start, last, released.get(tag) if tag else None)


_UNKNOWN = object()


def expected(actions, present: bool, text: str | None):
    """What a chain of actions must leave, by the :class:`deidc.execute.actions.Actor`'s
    rules for when an action has an effect: (present?, the value the last effective action
    started from, ``None`` when a transform before it makes that unknown, and that action, or
    ``None`` when no action has an effect)."""
    current, start, last = text or "", None, None
    for action in actions:
        args = action.args
        if action.op == "remove":
            present, current, start, last = False, "", None, action
        elif action.op == "replace":
            if args.get("value") is None or (not present and not args.get("insert")):
                continue
            present, start, last = True, None, action
            current = transforms.value_as_text(args["value"]) or ""
        elif present and (current is _UNKNOWN or current):
            # a transform leaves an empty value as it is; after it, the value is not known
            start, last, current = current, action, _UNKNOWN
    return present, None if start is _UNKNOWN else start, last


# --- what each transform must have done, on the text before and after -----------------------

def _hashed(op: str, before: str, after: str, args: dict, vr) -> str | None:
    if _same(before, after):
        return "the output holds the original value"
    return None


def _shifted(op: str, before: str, after: str, args: dict, vr) -> str | None:
    timezone = op == "shift_datetime"
    olds, news = before.split(","), after.split(",")
    if len(olds) != len(news):
        return f"{len(olds)} values in the input, {len(news)} in the output"
    jitter = args.get("jitter")
    for old, new in zip(olds, news):
        if not old.strip():
            continue
        moment, zone = transforms.read_moment(old.strip(), args["format"], timezone)
        shifted, new_zone = transforms.read_moment(new.strip(), args["format"], timezone)
        if moment is None or shifted is None or zone != new_zone:
            return f"the output's value does not read as {args['format']!r}"
        if _bound(shifted, args):
            continue
        if jitter:
            unit = timedelta(**{jitter.get("unit", "days"): 1})
            off = shifted - moment - timedelta(days=args["days"])
            # a jitter finer than the format's resolution (hours on a date) is cut off
            grain = timedelta(days=1) if unit < timedelta(days=1) and "%H" not in \
                args["format"] else timedelta(0)
            if abs(off) > int(jitter["range"]) * unit + grain:
                return (f"moved by {_days(shifted - moment)}, more than {jitter['range']} "
                        f"{jitter.get('unit', 'days')} from the increment of {args['days']} days")
            if not off and not grain:
                return f"moved by exactly the increment of {args['days']} days: not jittered"
        elif (moment + timedelta(days=args["days"])).strftime(args["format"]) != \
                shifted.strftime(args["format"]):
            return f"moved by {_days(shifted - moment)}, not by the increment of " \
                   f"{args['days']} days"
    return None


def _bound(moment: datetime, args: dict) -> bool:
    """A shift clamped to datetime-min or -max: the moment is that bound (relative bounds
    are read from now, a little after apply read them)."""
    for key in ("min", "max"):
        if args.get(key) is not None:
            bound = transforms.datetime_bound(args[key], datetime.now())
            if abs(moment - bound) <= timedelta(days=2):
                return True
    return False


def _days(delta: timedelta) -> str:
    days = delta.total_seconds() / 86400
    return f"{days:g} days"


def _jittered(op: str, before: str, after: str, args: dict, vr) -> str | None:
    try:
        old, new = float(before), float(after)
    except ValueError:
        return "the output's value is not a number"
    low, high = args.get("min"), args.get("max")
    if (low is not None and new == low) or (high is not None and new == high):
        return None  # clamped
    truncated = vr in _INTEGER_VRS and args["type"] != "int"
    limit = (int(args["range"]) if args["type"] == "int" else float(args["range"])) + \
        (1 if truncated else 0)
    if new == old and not truncated:
        return "the output holds the original number"
    if abs(new - old) > limit * (1 + 1e-9):
        return f"moved by {new - old:g}, more than the range of {args['range']}"
    return None


CHECKS = {"hash": _hashed, "hashuid": _hashed, "shift_date": _shifted,
          "shift_datetime": _shifted, "jitter": _jittered}


def _invalid(vr, text: str) -> str | None:
    """Why ``text`` is not a valid value of ``vr`` (pydicom's validation), or ``None``."""
    if vr in _UNCHECKED_VRS or " or " in vr:
        return None
    for item in text.split(","):
        try:
            validate_value(vr, item, pydicom_config.RAISE)
        except (ValueError, KeyError) as exc:
            # pydicom's messages quote the value, but for the one about its length
            reason = str(exc)
            return reason.rstrip(".") if reason.startswith("The value length") else \
                "pydicom's validation refuses it"
    return None


# --- small helpers --------------------------------------------------------------------------

def _same(one: str, other: str) -> bool:
    """Equal as DICOM text (padding aside), or as numbers (``1.0`` is ``1``)."""
    one, other = one.strip(" \0"), other.strip(" \0")
    if one == other:
        return True
    try:
        return float(one) == float(other)
    except ValueError:
        return False


def _text(element) -> str | None:
    return transforms.value_as_text(element.value) if element is not None else None


def _identical(ds_in, ds_out, tag: int, mine, theirs) -> bool:
    """The same bytes, as read: pydicom leaves an element raw until something converts it
    (it converts a few itself, PixelRepresentation to settle ambiguous VRs); a converted one
    is compared converted."""
    if isinstance(mine, RawDataElement) and isinstance(theirs, RawDataElement):
        return mine.value == theirs.value
    return ds_in[tag].value == ds_out[tag].value


def _name(tag: int) -> str:
    from ..profile import dictionary

    known = dictionary.attribute(tag)
    return known.keyword if known and known.keyword else dictionary.tag_text(tag)


def _rule(action) -> str:
    return f"the rule at {action.origin.describe()}"


def _is_creator(tag: int) -> bool:
    return bool(tag >> 16 & 1) and 0x0010 <= tag & 0xFFFF <= 0x00FF


def _joined(steps) -> str | None:
    return ".".join(map(str, steps)) if steps is not None else None


def _private(ds, group: int, creator: str, offset: int, creators: dict):
    for (found_group, block), name in creators.items():
        if found_group == group and name == creator:
            tag = (group << 16) | (block << 8) | offset
            return tag if tag in ds else None
    return None
