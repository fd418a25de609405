"""What verify reports: findings that name a place and a reason, never the value found there.

A finding names the output file (or the input, for an input without an output), the element
(``tag``: eight hex digits of the innermost element; ``location``: its path through sequences,
written as the plan's targets are, ``00081115.0.00081140.0.00081155``), a stable ``kind`` and a
message saying which input attribute the value came from.  The value itself, the PHI, travels
in ``value`` and is shown only when a person who may see it asks (``--show-values``).
"""

from __future__ import annotations

from collections import Counter, namedtuple

# kind → (layer, what it means).  The layers are the issue's: 1 the plan held, 2 no residual
# identifier, 3 linkage, 4 integrity; pairing comes first.
KINDS: dict[str, tuple[str, str]] = {
    "unpaired-input": ("pairing", "an input with no output of the same relative path"),
    "unpaired-output": ("pairing", "an output no input explains (a stray file can hold PHI)"),
    "not-removed": ("plan", "an element the plan removes is still there"),
    "not-replaced": ("plan", "an element the plan replaces does not hold the replacement"),
    "not-hashed": ("plan", "a hashed element (or UID) is missing or equal to the original"),
    "not-shifted": ("plan", "a date is not shifted by exactly the plan's increment"),
    "not-jittered": ("plan", "a jittered number is unchanged or outside the jitter range"),
    "invalid-value": ("plan", "a value the plan wrote is not valid for the element's VR"),
    "private-kept": ("plan", "a private element the plan removes is still there"),
    "undefined-kept": ("plan", "under remove-undefined, an element no rule names is there"),
    "residual-value": ("residual", "an element's whole value is an identifier of the input"),
    "residual-in-text": ("residual", "an identifier of the input inside a longer text"),
    "residual-in-bytes": ("residual", "an identifier of the input in an undecoded value's bytes"),
    "uid-split": ("linkage", "one input UID became several output UIDs across the release"),
    "uid-merge": ("linkage", "several input UIDs became one output UID"),
    "media-storage-mismatch": ("linkage", "MediaStorageSOPInstanceUID is not SOPInstanceUID"),
    "unreadable-output": ("integrity", "the output does not parse as DICOM"),
    "unreadable-input": ("integrity", "the input does not parse as DICOM (nothing to compare)"),
    "pixel-data-changed": ("integrity", "pixel data differ from the input's, byte for byte"),
    "element-changed": ("integrity", "an element the plan leaves alone differs from the input"),
}
LAYERS = ("pairing", "plan", "residual", "linkage", "integrity")


class Finding(namedtuple("Finding", "file tag location kind message value",
                         defaults=[None])):
    """One problem in one place.  ``value`` (the PHI or the wrong value) is never printed
    unless asked for; ``message`` never holds it."""

    __slots__ = ()
    file: str
    tag: str
    location: str
    kind: str
    message: str
    value: str | None


def finding(file: str, kind: str, message: str, tag: str = "", location: str = "",
            value: str | None = None) -> Finding:
    assert kind in KINDS, kind
    return Finding(file, tag, location, kind, message, value)


class Report:
    """Every finding of one verification, and the counts a summary shows."""

    def __init__(self, findings: list[Finding], inputs: int, outputs: int, pairs: int,
                 ignored: Counter, checked_plan: bool):
        self.findings = sorted(findings, key=lambda f: (f.file, f.location, f.kind))
        self.inputs, self.outputs, self.pairs = inputs, outputs, pairs
        #: (attribute, part, reason) → how many input values were not searched for
        self.ignored = ignored
        self.checked_plan = checked_plan

    @property
    def exit_code(self) -> int:
        return 1 if self.findings else 0

    def by_kind(self) -> dict[str, list[Finding]]:
        grouped: dict[str, list[Finding]] = {}
        for found in self.findings:
            grouped.setdefault(found.kind, []).append(found)
        return {kind: grouped[kind] for kind in KINDS if kind in grouped}

    def summary(self) -> dict:
        return {"inputs": self.inputs, "outputs": self.outputs, "pairs": self.pairs,
                "findings": len(self.findings),
                "files_with_findings": len({f.file for f in self.findings}),
                "by_kind": {kind: len(found) for kind, found in self.by_kind().items()},
                "plan_checked": self.checked_plan,
                "ignored_values": [{"attribute": attribute, "part": part, "reason": reason,
                                    "count": count}
                                   for (attribute, part, reason), count
                                   in sorted(self.ignored.items())]}
