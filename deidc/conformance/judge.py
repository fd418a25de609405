"""A compiled plan held against PS3.15 Table E.1-1: for every row, the action the table requires
under the chosen options, what the plan really does to the attribute, a verdict and the profile
line responsible.

What the plan does is asked of :func:`deidc.explanation.treatment`, the executors' own dispatch,
at every place Annex E cares about: the top level, inside sequences no rule names (Annex E asks
an attribute to be treated wherever it occurs), and at every nested path a rule names.  The row's
verdict is the worst over those places.

Verdicts: ``meets``; ``stricter`` (nothing identifying survives, but more is lost than the
table asks, which may break the IOD); ``gap`` (the original value, or something derived from it
that the code does not allow, survives somewhere).

Compound codes (``X/Z``, ``X/D``, ``X/Z/D``, ``Z/D``, ``X/Z/U*``) choose between their codes by
the attribute's Type in the IOD, which deidc does not know (it judges a profile, not a file).
It accepts any of the codes: an action meets the compound code when it meets one of them, is
stricter when it is stricter than one of them, and is a gap otherwise.  Every code a compound
offers leaves nothing identifying, so this reading can only ever call stricter what a Type
would make a meet, never call a gap a meet.  ``U*`` (a sequence whose contained instance UIDs
are replaced) is met by a kept sequence whose ReferencedSOPInstanceUID gets consistent new UIDs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..explanation import Treatment, describe_action, treatment
from ..plan import targets
from ..plan.ir import Plan
from ..profile import dictionary
from . import table
from .table import OptionError, Row

VERDICTS = ("gap", "stricter", "meets")  # worst first

# What a plan makes of an attribute's value.
REMOVED, EMPTIED, DUMMY, HASHED, UNSALTED, UID, SHIFTED, JITTERED, PARTIAL, KEPT = (
    "removed", "emptied", "dummy", "hashed", "unsalted hash", "new UID", "shifted",
    "jittered", "partly substituted", "kept")
ALL_OUTCOMES = frozenset({REMOVED, EMPTIED, DUMMY, HASHED, UNSALTED, UID, SHIFTED, JITTERED,
                          PARTIAL, KEPT})

# PS3.15 Table E.1-1a, read as which outcomes satisfy each code (a salted hash is a dummy
# value no one can recompute; an unsalted one is recomputed from any known original) ...
MEETS = {"X": {REMOVED}, "Z": {EMPTIED, DUMMY, HASHED, UID}, "D": {DUMMY, HASHED, UID},
         "U": {UID}, "C": {SHIFTED, JITTERED}, "K": {KEPT}}
# ... and which leave nothing identifying but lose more than the code asks.
STRICTER = {"X": set(), "Z": {REMOVED}, "D": {REMOVED, EMPTIED},
            "U": {REMOVED, EMPTIED, DUMMY}, "C": {REMOVED, EMPTIED, DUMMY, HASHED, UID},
            "K": ALL_OUTCOMES - {KEPT}}
ASKS = {"X": "removal", "Z": "a blank or dummy value", "D": "a dummy value",
        "U": "a consistent new UID", "C": "a cleaned value of similar meaning",
        "K": "the original value", "U*": "new UIDs for the instances it references"}
COST = {"Z": "breaks the IOD where it is Type 2", "D": "breaks the IOD where it is Type 1",
        "U": "breaks references between instances", "C": "loses what the option keeps",
        "K": "loses what the option keeps"}

REFERENCED_SOP_INSTANCE_UID = 0x00081155
PRIVATE_PROBE = (0x0009, "DEIDC CONFORMANCE PROBE", 0x10)  # a private element no plan names
# Common sequences the table does not list, to probe an attribute "wherever it occurs": the
# first two a plan does not name.
GENERIC_SEQUENCES = ("ReferencedSeriesSequence", "ConceptNameCodeSequence",
                     "AnatomicRegionSequence", "ProcedureCodeSequence",
                     "PurposeOfReferenceCodeSequence")
UNSUPPORTED_OPTIONS = {
    "retain-safe-private": "retain-safe-private is not supported: judging it needs the safe "
                           "private attributes of PS3.15 Table E.3.10-1, and deidc ships no "
                           "licence-clean copy of that table. Judge without it (private "
                           "attributes are then required to be removed)."}


@dataclass(frozen=True)
class Finding:
    """One row of the table, judged.  ``line`` is the profile line responsible, or
    ``"dicom:<option>"`` when a default policy decides, or ``"dicom:"`` when nothing does."""

    row: Row
    required: str
    action: str
    verdict: str
    line: int | str
    top_verdict: str = ""  # the verdict at the top level alone

    def to_dict(self) -> dict:
        return {"tag": self.row.tag, "keyword": self.row.keyword, "name": self.row.name,
                "required": self.required, "action": self.action, "verdict": self.verdict,
                "line": self.line}


@dataclass(frozen=True)
class Report:
    profile: str
    options: tuple[str, ...]
    findings: tuple[Finding, ...]
    edition: str = table.EDITION

    def counts(self) -> dict[str, int]:
        return {verdict: sum(f.verdict == verdict for f in self.findings)
                for verdict in VERDICTS}

    @property
    def gaps(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.verdict == "gap")

    def ordered(self) -> list[Finding]:
        """Gaps first, then stricter, then meets; table order within each."""
        return sorted(self.findings, key=lambda f: VERDICTS.index(f.verdict))

    @property
    def nested_only(self) -> int:
        """Gaps the top level does not have: the attribute survives inside sequences only."""
        return sum(f.verdict == "gap" and f.top_verdict != "gap" for f in self.findings)

    def summary(self) -> dict:
        counts = self.counts()
        return {"profile": self.profile, "edition": f"PS3.15 {self.edition} Table E.1-1",
                "options": list(self.options), "rows": len(self.findings), **counts,
                "gap_inside_sequences_only": self.nested_only, "conforms": counts["gap"] == 0}

    def sentence(self) -> str:
        counts = self.counts()
        options = f" with {', '.join(self.options)}" if self.options else ""
        if not counts["gap"]:
            return (f"{self.profile} meets PS3.15 Table E.1-1{options}: no gap in "
                    f"{len(self.findings)} rows ({counts['stricter']} stricter).")
        nested = (f", {self.nested_only} of them only inside sequences (see recurse-sequence "
                  "and remove-undefined)") if self.nested_only else ""
        return (f"{self.profile} leaves {counts['gap']} of {len(self.findings)} attributes of "
                f"PS3.15 Table E.1-1{options} short of what the table requires{nested}.")

    def to_dict(self) -> dict:
        return {"attributes": [f.to_dict() for f in self.ordered()], "summary": self.summary()}


def check_options(options) -> tuple[str, ...]:
    """The options in table order; refuses unknown, exclusive and unsupported ones."""
    chosen = table.check_options(options)
    for name in chosen:
        if name in UNSUPPORTED_OPTIONS:
            raise OptionError(UNSUPPORTED_OPTIONS[name])
    return chosen


def judge(plan: Plan, options=()) -> Report:
    chosen = check_options(options)
    judge_ = _Judge(plan)
    findings = tuple(judge_.row(row, table.required_action(row, chosen)) for row in table.rows())
    return Report(plan.profile.name or plan.profile.path, chosen, findings)


def judge_target(plan: Plan, target: str, options=()) -> Finding | None:
    """The row of Table E.1-1 that the plan target ``target`` (as :mod:`deidc.plan.targets`
    writes it: a tag, a private key, a nested path, a repeater mask) falls under, judged as
    :func:`judge` judges it; ``None`` when the element falls under no row.  ``deidc explain
    --tag`` shows it beside the plan's chain."""
    chosen = check_options(options)
    row = table.row_for(targets.last_element(target))
    if row is None:
        return None
    return _Judge(plan).row(row, table.required_action(row, chosen))


@dataclass(frozen=True)
class _Place:
    """Where an element is probed: ``here`` is None at the top level, else its tag path."""

    tag: int
    key: tuple | None = None
    here: tuple | None = None
    keywords: tuple | None = None
    label: str = "top level"


class _Judge:
    def __init__(self, plan: Plan):
        self.plan = plan
        named = {entry.target.split(".", 1)[0] for entry in plan.entries}
        in_table = set(table.by_tag())
        self.generic = [attribute.tag for attribute in map(dictionary.by_keyword,
                                                           GENERIC_SEQUENCES)
                        if attribute.hex not in in_table and attribute.hex not in named][:2]
        self.paths = [targets.parse_path(entry.target) for entry in plan.entries
                      if entry.kind == "path"]

    # --- places -------------------------------------------------------------------------

    def places(self, row: Row) -> list[_Place]:
        if row.is_private:
            return self.private_places()
        if row.is_repeating:
            return [place for tag in repeating_tags(row) for place in self.around(tag, None)]
        keyword = row.keyword if row.keyword_source == "pydicom" else None
        return self.around(int(row.tag, 16), keyword)

    def around(self, tag: int, keyword: str | None, key=None) -> list[_Place]:
        """The top level, inside the generic sequences, and at every nested path that ends
        in this element."""
        found = [_Place(tag, key)]
        if tag >> 16 == 0x0002:
            return found  # the file meta is never inside a sequence
        for sequence in self.generic:
            found.append(_Place(tag, key, (sequence, 0, tag), (keyword_of(sequence), keyword),
                                f"inside {keyword_of(sequence) or f'{sequence:08X}'}"))
        for steps in self.paths:
            if steps[-1] == tag:
                here = tuple(0 if place % 2 and step == targets.EVERY_ITEM else
                             (int(step) if place % 2 else step)
                             for place, step in enumerate(steps))
                found.append(_Place(tag, key, here, tuple(keyword_of(t) for t in steps[::2]),
                                    "at " + targets.path(steps)))
        return found

    def private_places(self) -> list[_Place]:
        group, creator, offset = PRIVATE_PROBE
        found = self.around(group << 16 | 0x1000 | offset, None, PRIVATE_PROBE)
        for entry in self.plan.entries:
            if entry.kind == "private":
                group, creator, offset = targets.parse_private(entry.target)
                found += self.around(group << 16 | 0x1000 | offset, None,
                                     (group, creator, offset))
            elif entry.kind == "tag" and int(entry.target[:4], 16) & 1:
                found += self.around(int(entry.target, 16), None)
        for rule in self.plan.patterns:  # a private element each regex reaches, if any
            matcher = re.compile(rule.pattern)
            hit = next((path for path in dictionary.private_hex_paths() if matcher.match(path)),
                       None)
            if hit is not None:
                found += self.around(int(hit, 16), None)
        return found

    # --- verdicts -----------------------------------------------------------------------

    def row(self, row: Row, required: str) -> Finding:
        judged = []
        for place in self.places(row):
            found = treatment(self.plan, place.tag, place.key,
                              list(place.here) if place.here else None,
                              list(place.keywords) if place.keywords else None)
            kind = outcome(found, row.is_sequence)
            verdict = self.verdict(kind, required, place)
            judged.append((VERDICTS.index(verdict), place, found, kind, verdict))
        top = judged[0]
        worst = min(judged, key=lambda item: item[0])
        text = self.describe(top[2], top[3])
        if worst[1].here is not None:
            text += f"; {worst[1].label}: {self.describe(worst[2], worst[3])}"
        verdict, kind = worst[4], worst[3]
        if verdict == "gap":
            text += f" (gap: {required} asks {asks(required)})"
        elif verdict == "stricter":
            text += f" (stricter: {cost(required, kind)})"
        return Finding(row, required, text, verdict, responsible(worst[2]), top[4])

    def verdict(self, kind: str, required: str, place: _Place) -> str:
        best = "gap"
        for code in required.split("/"):
            if code == "U*":
                found = self.contained_uids(kind, place)
            elif kind in MEETS[code]:
                found = "meets"
            elif kind in STRICTER[code]:
                found = "stricter"
            else:
                found = "gap"
            if VERDICTS.index(found) > VERDICTS.index(best):
                best = found
        return best

    def contained_uids(self, kind: str, place: _Place) -> str:
        """``U*``: a kept sequence meets it when the instance UIDs it references are replaced
        by consistent new UIDs (removed or blanked sequences meet its X or Z)."""
        if kind != KEPT:
            return "gap"
        here = list(place.here or (place.tag,)) + [0, REFERENCED_SOP_INSTANCE_UID]
        keywords = list(place.keywords or (keyword_of(place.tag),)) + ["ReferencedSOPInstanceUID"]
        inner = outcome(treatment(self.plan, REFERENCED_SOP_INSTANCE_UID, None, here, keywords),
                        False)
        return "meets" if inner in MEETS["U"] else "stricter" if inner in STRICTER["U"] \
            else "gap"

    @staticmethod
    def describe(found: Treatment, kind: str) -> str:
        if found.follows:
            return f"follows {found.follows}: " + _Judge.describe(
                Treatment(found.removed_by, found.actions, found.named), kind)
        if found.removed_by:
            return f"removed ({found.removed_by})"
        if found.actions:
            chain = " → ".join(describe_action(action) for action in found.actions)
            return chain + (" (PatientAge computed from the dates first)"
                            if found.age_computed else "")
        if found.age_computed:
            return "computed from PatientBirthDate and StudyDate (patient-age-from-birthdate)"
        return "kept (a rule keeps it)" if found.named else "kept (no rule names it)"


def outcome(found: Treatment, is_sequence: bool) -> str:
    """What the chain makes of the original value, as one of the outcome kinds."""
    if found.removed_by:
        return REMOVED
    kind = KEPT
    for action in found.actions:
        if action.op == "remove":
            kind = REMOVED
        elif action.op == "replace":
            value = action.args.get("value")
            if value is None or (kind == REMOVED and not action.args.get("insert")):
                continue
            kind = EMPTIED if value in ("", []) else DUMMY
        elif kind in (REMOVED, EMPTIED, DUMMY):
            continue  # a transform of a constant (or of nothing) reveals nothing
        elif action.op == "hash":
            kind = HASHED if action.args.get("salt") else UNSALTED
        elif action.op == "hashuid":
            kind = UID
        elif action.op in ("shift_date", "shift_datetime"):
            kind = SHIFTED
        elif action.op == "jitter":
            kind = JITTERED
        elif action.op == "regex_sub" and kind not in (HASHED, UID):
            kind = PARTIAL
    if is_sequence and kind not in (REMOVED, EMPTIED):
        return KEPT  # the executor only removes or empties a sequence (any other action fails)
    if kind == KEPT and found.age_computed:
        return KEPT  # recomputed from the real dates: the same information
    return kind


def responsible(found: Treatment) -> int | str:
    if found.removed_by:
        return f"dicom:{found.removed_by}"
    if found.actions:
        return found.actions[-1].origin.line
    if found.origins:
        return found.origins[0].line
    return "dicom:"


def asks(code: str) -> str:
    return " or ".join(ASKS[part] for part in code.split("/"))


def cost(required: str, kind: str) -> str:
    """Why a stricter outcome loses something, for the code it is stricter than."""
    for code in required.split("/"):
        if code in STRICTER and kind in STRICTER[code]:
            return COST.get(code, "loses more than the table asks")
    return "loses more than the table asks"


def repeating_tags(row: Row) -> list[int]:
    """Concrete tags a repeating-group row covers: its elements in the first, a middle and the
    last group of the range (PS3.5 7.6)."""
    base = int(row.tag[:2], 16) << 8
    groups = (base, base + 0x10, base + 0x1E)
    if row.tag[4:] != "xxxx":
        return [group << 16 | int(row.tag[4:], 16) for group in groups]
    prefix = row.tag[:2].lower()
    elements = sorted({int(mask[4:], 16) for mask in dictionary.repeater_keywords().values()
                       if mask.lower().startswith(prefix)})
    return [group << 16 | element for group in groups for element in elements]


def keyword_of(tag: int) -> str | None:
    """The keyword Flywheel's keyword paths give the tag (none for repeaters and unknowns)."""
    attribute = dictionary.attribute(tag)
    if attribute is None or not attribute.keyword:
        return None
    exact = dictionary.by_keyword(attribute.keyword)
    return attribute.keyword if exact is not None and exact.tag == tag else None

