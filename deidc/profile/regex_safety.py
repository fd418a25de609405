"""Whether a profile's `regex:` can take unbounded time, decided without running it.

Flywheel runs a `regex:` selector with ``re.match`` against every element path of every file, and
so do deidc's compiler (against the dictionary) and executor (against the file).  A pattern such as
``(a+)+$``, ``(\\w|\\w)*x`` or ``.*.*.*.*x`` takes exponential or high-polynomial time on a long
path, and Python's ``re`` cannot be interrupted.  So the pattern is judged from its parse tree
(``re._parser``): we estimate how many ways a failing match can be tried on a path of
``PATH_LENGTH`` characters, and refuse patterns above ``MAX_ATTEMPTS``.

The estimate is deliberately coarse and errs towards refusing: a sequence multiplies the ways of its
parts, alternatives that can start with the same character add up, a repeat that can give back
characters its continuation could use multiplies by the number of counts it can take, and a repeat
of something ambiguous raises that ambiguity to the number of iterations.  A repeat that cannot give
anything useful back (``[^.]*\\.``, a run of digits before a dot) counts once, which is why the
ordinary ``.*IdentificationSequence.*`` shapes pass.
"""

from __future__ import annotations

import math
import re

try:
    import re._compiler as _compiler
    import re._parser as _parser
except ImportError:  # pragma: no cover  (Python < 3.11)
    import sre_compile as _compiler  # type: ignore[no-redef]
    import sre_parse as _parser  # type: ignore[no-redef]

# A long element path: three levels of nested sequences with their item indexes.
PATH_LENGTH = 256
# Above this many estimated attempts per path a pattern is not run (a million steps of the regex
# engine per element per file is already slow; the shapes we refuse are exponential or ~n^3).
MAX_ATTEMPTS = 10 ** 6
# Longer patterns are not analysed (nor run): no real selector is near this, and the analysis
# itself should stay small.
MAX_PATTERN_LENGTH = 1000

_REPEATS = {_parser.MAX_REPEAT, _parser.MIN_REPEAT,
            getattr(_parser, "POSSESSIVE_REPEAT", _parser.MAX_REPEAT)}
_ATOMS = {_parser.LITERAL, _parser.NOT_LITERAL, _parser.ANY, _parser.IN}
# Probe characters: ASCII, plus one stand-in for everything else.
_PROBES = tuple(chr(code) for code in range(128)) + ("\u00e9",)
_EVERYTHING = frozenset(_PROBES)
_INFINITE = float("inf")


def backtracking_risk(pattern: str, length: int = PATH_LENGTH) -> str | None:
    """Why running ``pattern`` on a text of ``length`` characters can take unbounded time, or
    ``None`` if it cannot.

    Call only with a pattern that compiles."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        return f"it is longer than {MAX_PATTERN_LENGTH} characters"
    try:
        parsed = _parser.parse(pattern)
        estimate = _Estimate(parsed.state.flags, length)
        attempts = estimate.sequence(list(parsed), frozenset())
    except RecursionError:
        return "it is nested too deeply to analyse"
    if attempts <= MAX_ATTEMPTS:
        return None
    if estimate.exponential:
        return ("it repeats something that can itself match the same text in several ways "
                "(like (a+)+ or (a|a)*): matching can take exponential time")
    return ("it has open-ended repeats in a row that can match the same characters (like "
            ".*.*.*): matching time grows with a high power of the path length")


def safe_length(pattern: str) -> int | None:
    """The longest text (a power of two times ``PATH_LENGTH``, up to a value's longest, 2**32
    bytes) that ``pattern``, safe on ``PATH_LENGTH`` characters, is proven to run on within
    ``MAX_ATTEMPTS``; ``None`` when that is any length (the attempts do not grow with it).  A
    `regex-sub` runs on values, which a UT can make megabytes long: the executor refuses a value
    longer than this instead of running a polynomial pattern on it for hours."""
    length = PATH_LENGTH
    while length < 2 ** 32:
        if backtracking_risk(pattern, length * 2) is not None:
            return length
        length *= 2
    return None


class _Estimate:
    """Attempt counts for one parsed pattern on a text of ``length`` characters; ``exponential``
    records the worst shape seen."""

    def __init__(self, flags: int, length: int):
        self.flags = flags
        self.length = length
        self.exponential = False

    # What can come first -------------------------------------------------------------------
    def first(self, items: list, follow: frozenset) -> frozenset:
        """Characters the sequence ``items`` (then ``follow``) can start with."""
        found: set = set()
        for item in items:
            chars, nullable = self.first_of(item)
            found |= chars
            if not nullable:
                return frozenset(found)
        return frozenset(found) | follow

    def first_of(self, item) -> tuple[frozenset, bool]:
        op, value = item
        if op in _ATOMS:
            return _charset(op, value, self.flags), False
        if op is _parser.SUBPATTERN:
            return self._first_body(value[-1])
        if op is _parser.ATOMIC_GROUP:
            return self._first_body(value)
        if op in _REPEATS:
            low, _, body = value
            chars, nullable = self._first_body(body)
            return chars, nullable or low == 0
        if op is _parser.BRANCH:
            parts = [self._first_body(alternative) for alternative in value[1]]
            return frozenset().union(*(c for c, _ in parts)), any(n for _, n in parts)
        if op is _parser.GROUPREF_EXISTS:
            parts = [self._first_body(body) for body in value[1:] if body is not None]
            return frozenset().union(*(c for c, _ in parts)), True
        if op is _parser.GROUPREF:
            return _EVERYTHING, True
        return frozenset(), True  # anchors and lookarounds consume nothing

    def _first_body(self, items) -> tuple[frozenset, bool]:
        items = list(items)
        return self.first(items, frozenset()), _parser.SubPattern(
            _parser.State(), items).getwidth()[0] == 0

    # How many ways to try ------------------------------------------------------------------
    def sequence(self, items: list, follow: frozenset) -> float:
        """Attempts for ``items`` followed by something starting with ``follow``."""
        follows = [follow] * len(items)
        after = follow
        for position in range(len(items) - 1, -1, -1):
            follows[position] = after
            chars, nullable = self.first_of(items[position])
            after = chars | after if nullable else chars
        total = 1.0
        for position, item in enumerate(items):
            total *= self.item(item, follows[position], _literal_run(items[position + 1:]))
            if total > MAX_ATTEMPTS:
                return _INFINITE
        return total

    def item(self, item, follow: frozenset, literal_after: int) -> float:
        op, value = item
        if op is _parser.SUBPATTERN:
            return self.sequence(list(value[-1]), follow)
        if op is _parser.ATOMIC_GROUP:
            return self.sequence(list(value), follow)
        if op in (_parser.ASSERT, _parser.ASSERT_NOT):
            return self.sequence(list(value[1]), _EVERYTHING)
        if op is _parser.BRANCH:
            alternatives = [list(a) for a in value[1]]
            costs = [self.sequence(a, follow) for a in alternatives]
            starts = [self.first(a, follow) for a in alternatives]
            overlapping = any(starts[i] & starts[j] for i in range(len(starts))
                              for j in range(i + 1, len(starts)))
            return sum(costs) if overlapping else max(costs)
        if op is _parser.GROUPREF_EXISTS:
            return max(self.sequence(list(body), follow) for body in value[1:] if body is not None)
        if op in _REPEATS:
            return self.repeat(*value, follow=follow, literal_after=literal_after)
        return 1.0

    def repeat(self, low: int, high: int, body, follow: frozenset, literal_after: int) -> float:
        body = list(body)
        body_first = self.first(body, frozenset())
        each = self.sequence(body, body_first | follow)
        shortest = max(1, _parser.SubPattern(_parser.State(), body).getwidth()[0])
        most = min(high, self.length // shortest + 1)
        if low == high:
            counts = 1.0
        elif not body_first & follow:
            counts = 1.0  # what it gives back cannot start the continuation: fails at once
        else:
            counts = float(max(1, most - low + 1))
            if literal_after > 1:  # the continuation needs a whole word: only where it occurs
                counts = min(counts, self.length / literal_after + 1)
        if each <= 1:
            return counts
        self.exponential = True
        if math.log(each) * most > math.log(MAX_ATTEMPTS):
            return _INFINITE
        return counts * each ** most


def _literal_run(items: list) -> int:
    """How many literal characters the continuation starts with."""
    run = 0
    for op, _ in items:
        if op is not _parser.LITERAL:
            break
        run += 1
    return run


_CHARSETS: dict[tuple, frozenset] = {}


def _charset(op, value, flags: int) -> frozenset:
    """The probe characters one atom matches (the atom recompiled on its own)."""
    key = (op, repr(value), flags)
    if key not in _CHARSETS:
        atom = _parser.SubPattern(_parser.State(), [(op, value)])
        compiled = _compiler.compile(atom, flags & ~re.VERBOSE)
        _CHARSETS[key] = frozenset(c for c in _PROBES if compiled.fullmatch(c))
    return _CHARSETS[key]
