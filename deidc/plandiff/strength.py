"""How much of the original value an action lets through, and what a changed setting means.

A reviewer's first question is "did the release get weaker?", so every change is one of three
kinds: ``weaker`` (more of the original reaches the release), ``stronger`` (less does) or
``changed`` (as much, but other values: another pseudonym, another shift, an element now
present and empty instead of absent).
"""

from __future__ import annotations

WEAKER, STRONGER, CHANGED = "weaker", "stronger", "changed"
KINDS = (WEAKER, CHANGED, STRONGER)  # the order a reviewer reads them in

# The original value is: gone (removed, or replaced by a constant), derived from (a pseudonym,
# a shifted date: linkable, and reversible by whoever holds the salt or the shift), edited
# (regex-sub keeps what its patterns do not match), or kept.
GONE, DERIVED, EDITED, KEPT = 3, 2, 1, 0
RANK = {"remove": GONE, "replace": GONE, "hash": DERIVED, "hashuid": DERIVED,
        "shift_date": DERIVED, "shift_datetime": DERIVED, "jitter": DERIVED,
        "regex_sub": EDITED}
LINKING = {"hash", "hashuid", "shift_date", "shift_datetime"}  # same input, same output

LINKS_HASHES = ("hashes and hashed UIDs differ from those released before: the same subject, "
                "study or instance no longer links across uploads")
LINKS_DATES = ("dates are shifted differently from those released before: a subject's dates "
               "no longer line up across uploads")
RELEASED = {"salt": LINKS_HASHES, "hash-digits": LINKS_HASHES, "uid-prefix-fields": LINKS_HASHES,
            "uid-suffix-fields": LINKS_HASHES, "uid-numeric-name": LINKS_HASHES,
            "date-increment": LINKS_DATES,
            "date-format": "dates are written in another format than in earlier uploads",
            "datetime-format": "date-times are written in another format than in earlier "
                               "uploads"}


def by_rank(old: int, new: int) -> str:
    return WEAKER if new < old else STRONGER if new > old else CHANGED


def setting(name: str, old, new) -> tuple[str, str]:
    """(kind, why) for a setting that went from ``old`` to ``new``: a dicom option, or the
    argument of one action (named as the option it follows, or ``op.argument``).  Secrets
    (salt, date increment) are never repeated."""
    if name == "salt":
        if old is None:
            return STRONGER, "hashes are now salted"
        if new is None:
            return WEAKER, "hashes are no longer salted: anyone can recompute them from the " \
                           "original values"
        return CHANGED, "another salt"
    if name == "date-increment":
        if old and not new:
            return WEAKER, "dates are no longer shifted"
        if new and not old:
            return STRONGER, "dates are now shifted"
        return CHANGED, "another date increment"
    if name in ("uid-prefix-fields", "uid-suffix-fields"):
        more = _compare(old, new)
        return ({1: (WEAKER, f"{name}: {old} → {new}, more of each original UID is kept"),
                 -1: (STRONGER, f"{name}: {old} → {new}, less of each original UID is kept")}
                .get(more, (CHANGED, f"{name}: {old} → {new}")))
    if name in ("jitter-range", "jitter.range"):
        wider = _compare(old, new)
        return ({1: (STRONGER, f"jitter range {old} → {new}"),
                 -1: (WEAKER, f"jitter range {old} → {new}: values stay closer to the "
                              "originals")}.get(wider, (CHANGED, f"jitter range {old} → {new}")))
    if name == "jitter":  # the random jitter of a date shift
        if old is None:
            return STRONGER, "dates are now jittered as well as shifted"
        if new is None:
            return WEAKER, "dates are no longer jittered: the shift alone is one constant"
        kind, why = setting("jitter-range", old.get("range"), new.get("range"))
        return kind, why if old.get("unit") == new.get("unit") else \
            f"jitter {old.get('range')} {old.get('unit')} → {new.get('range')} {new.get('unit')}"
    if name == "replace.value":
        return CHANGED, "another replacement value"
    if name == "regex_sub.items":
        return CHANGED, "other regex-sub patterns"
    return CHANGED, f"{name}: {_show(old)} → {_show(new)}"


def combined(kinds) -> str:
    """One kind for several changes of one thing: weaker if any part is weaker."""
    kinds = set(kinds)
    if WEAKER in kinds:
        return WEAKER
    return STRONGER if kinds == {STRONGER} else CHANGED


def _compare(old, new) -> int:
    try:
        return (new > old) - (new < old)
    except TypeError:
        return 0


def _show(value) -> str:
    return "not set" if value is None else repr(value) if isinstance(value, str) else str(value)
