"""What de-identifying one file returns to the runner, or why it failed, whichever path did the
work (kept apart from both paths so that the fast path does not import pydicom)."""

from __future__ import annotations

TYPE_CHECKING = False  # typing itself is not imported: it weighs on start-up

if TYPE_CHECKING:
    from ..plan.ir import Origin


class FileOutcome:
    __slots__ = ("changed", "log_before", "log_after", "fallback")

    def __init__(self, changed: bool, log_before: dict, log_after: dict, fallback: str = ""):
        self.changed = changed
        self.log_before = log_before
        self.log_after = log_after
        self.fallback = fallback  # why the fast path declined, when it did


class ExecutionError(Exception):
    """One file cannot be de-identified; ``str()`` is the one line the user sees."""

    def __init__(self, reason: str, *, path: str = "", tag: int | None = None,
                 origin: Origin | None = None):
        super().__init__(reason)
        self.reason = reason
        self.path = path
        self.tag = tag
        self.origin = origin

    def __str__(self) -> str:
        parts = []
        if self.tag is not None:
            from pydicom.datadict import keyword_for_tag  # only on the error path

            keyword = keyword_for_tag(self.tag)
            parts.append(f"{keyword or 'tag'} ({self.tag >> 16:04X},{self.tag & 0xFFFF:04X})")
        if self.origin is not None:
            parts.append(f"rule at {self.origin.path}:{self.origin.line}")
        parts.append(self.reason)
        return ": ".join(parts)
