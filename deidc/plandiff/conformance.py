"""The rows of PS3.15 Table E.1-1 that a change turns from met to gap, or from gap to met.

Each side's plan is judged by :mod:`deidc.conformance.judge`, row by row, under the same
options.  A row *turns to gap* when it was met (``meets`` or ``stricter``: nothing identifying
survived) and now leaves something identifying; it *turns to met* the other way.  A move
between meets and stricter is not reported here: nothing identifying reaches the release
either way, and the attribute's own change already says what changed.

A reviewer may read the attribute changes and still miss this: a rule's deletion is one row of
the diff among many, but a row turning to gap is a promise to the standard broken.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..conformance import judge, table
from ..plan.ir import Plan

TURNS = {True: "weaker", False: "stronger"}  # turned to gap / turned to met


@dataclass(frozen=True)
class RowChange:
    """A row whose verdict crosses the gap line; ``old`` and ``new`` are the verdicts,
    ``*_action`` what each plan does (as the judge says it) and ``*_line`` the line each
    holds responsible (a profile line, ``"dicom:<option>"`` or ``"dicom:"``)."""

    tag: str
    keyword: str
    name: str
    required: str
    old: str
    new: str
    kind: str  # "weaker" (turned to gap) or "stronger" (turned to met)
    old_action: str
    new_action: str
    old_line: int | str
    new_line: int | str

    def as_json(self) -> dict:
        return {"tag": self.tag, "keyword": self.keyword, "name": self.name,
                "required": self.required, "old": self.old, "new": self.new,
                "kind": self.kind, "old_action": self.old_action,
                "new_action": self.new_action, "old_line": self.old_line,
                "new_line": self.new_line}


@dataclass(frozen=True)
class RowChanges:
    """What the change does to the table: under which ``options``, and the rows it turns."""

    options: tuple[str, ...]
    rows: tuple[RowChange, ...]
    edition: str = table.EDITION

    @property
    def title(self) -> str:
        options = ", ".join(self.options) or "Basic Profile, no option"
        return f"PS3.15 {self.edition} Table E.1-1 ({options})"

    def count(self, kind: str) -> int:
        return sum(row.kind == kind for row in self.rows)

    def summary(self) -> str:
        gaps = self.count("weaker")
        return (f"{gaps} row{'' if gaps == 1 else 's'} turn{'s' if gaps == 1 else ''} to gap, "
                f"{self.count('stronger')} to met")

    def as_json(self) -> dict:
        return {"edition": f"PS3.15 {self.edition} Table E.1-1", "options": list(self.options),
                "turned_to_gap": self.count("weaker"), "turned_to_met": self.count("stronger"),
                "rows": [row.as_json() for row in self.rows]}


def row_changes(old: Plan, new: Plan, options=()) -> RowChanges:
    """Judge both plans under ``options`` (raises :class:`deidc.conformance.table.OptionError`
    for options the table does not have) and keep the rows that cross the gap line; those
    that turn to gap first, then table order."""
    chosen = judge.check_options(options)
    before, after = judge.judge(old, chosen), judge.judge(new, chosen)
    rows = []
    for was, now in zip(before.findings, after.findings):
        if (was.verdict == "gap") == (now.verdict == "gap"):
            continue
        rows.append(RowChange(now.row.tag, now.row.keyword, now.row.name, now.required,
                              was.verdict, now.verdict, TURNS[now.verdict == "gap"],
                              was.action, now.action, was.line, now.line))
    rows.sort(key=lambda row: row.kind != "weaker")
    return RowChanges(chosen, tuple(rows))
