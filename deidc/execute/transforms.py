"""Pure value transforms: what one field action does to one element's value.

The executor hands these functions plain Python values (``str``, ``int``, ``float``, lists of
them, ``None``) and writes back what they return; ``None`` returned means "leave the element as
it is".  They must give Flywheel's bytes for Flywheel's inputs (flywheel-reference.md §5), so each
one follows flywheel-migration's arithmetic, and its random draws call for call: with a
``random.Random(seed)`` here and ``random.seed(seed)`` there, jitter comes out the same.  The few
places where deidc deliberately differs (profile-semantics.md, "Deliberate differences") are
named where they happen; ``compat_flywheel=True`` turns the value-format ones off.

No pydicom import (applying a compiled plan must start fast) and no dateutil: standard library
only.  A value that cannot be handled raises :class:`TransformError` with a message that says
what is wrong with the value; the caller adds file, tag and rule.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, timedelta

try:  # the interpreter's own SHA-256: importing hashlib first loads OpenSSL, slow to start
    from _sha2 import sha256  # Python 3.12 and later
except ImportError:
    try:
        from _sha256 import sha256  # Python 3.11
    except ImportError:  # a Python built without them
        from hashlib import sha256

TYPE_CHECKING = False  # typing itself is not imported: it weighs on start-up
if TYPE_CHECKING:
    import random

UID_MAX_LENGTH = 64
UID_HASH_NODES = 6  # Flywheel's fixed uid_hash_fields: six nodes ...
UID_HASH_NODE_LENGTH = 6  # ... of six digits each
UID_SUFFIX_DIGITS = 6  # a kept suffix node keeps its last six characters
MAX_AGE = 960  # the largest PatientAge Flywheel writes, in whatever unit it settles on
AGE_UNITS = ("D", "M", "Y")
DS_MAX_LENGTH = 16

# Flywheel strips these time-zone suffixes before parsing a DT and puts them back afterwards;
# the first pattern that matches wins.
_TIMEZONE_SUFFIXES = (re.compile(r"(.+)([-+]\d{4})$"), re.compile(r"(.+)([-+]\d{2}:\d{2})$"))
_RELATIVE_BOUND = re.compile(r"(?P<direction>[+-])(?P<amount>\d+)(?P<unit>years|weeks|days)")
_PLACEHOLDER = re.compile(r"\{([^}]+)\}")
_DOTTED_PLACEHOLDER_STANDIN = "___"

# Integer VRs whose range pydicom enforces when it writes the file: Flywheel clamps US (and UL
# below 0) and lets every other out-of-range or float value fail the whole file at save time, so
# clamping these changes nothing Flywheel manages to write.  IS is absent on purpose: pydicom
# writes any integer into an IS, so Flywheel's output there is well defined and kept.
_INTEGER_VR_LIMITS = {
    "US": (0, 2**16 - 1),
    "UL": (0, 2**32 - 1),
    "UV": (0, 2**64 - 1),
    "SS": (-(2**15), 2**15 - 1),
    "SL": (-(2**31), 2**31 - 1),
    "SV": (-(2**63), 2**63 - 1),
}


class TransformError(ValueError):
    """A value the transform cannot handle; the message says what is wrong with the value."""


def value_as_text(value: object) -> str | None:
    """Flywheel reads every value as text before transforming it: strings as they are, any
    sequence (multi-valued elements, lists, bytes) as its items' ``str`` joined with ``,``, and
    anything else (numbers, PersonName) as ``str``.  Hashes and UIDs depend on this exact text."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, Sequence):
        return ",".join(map(str, value))
    return str(value)


def hash_value(value: object, salt: str | None, digits: int) -> str | None:
    """``hash``: SHA-256 hex digest of salt + value, cut to ``digits`` characters (0, negative or
    more than 64 keep all 64).  Empty values stay empty, as in Flywheel."""
    text = value_as_text(value)
    if not text:
        return None
    digest = _sha256(salt, text).hex()
    return digest[:digits] if digits > 0 else digest


def hash_uid(
    value: object,
    salt: str | None,
    prefix_fields: int = 4,
    suffix_fields: int = 1,
    numeric_name: str | None = None,
    compat_flywheel: bool = False,
) -> str | None:
    """``hashuid``: a new UID made of the original's first nodes (or ``numeric_name``), six
    six-digit nodes from the salted digest, and the original's last nodes cut to six digits, then
    cropped to 64 characters.  The same (salt, UID) always gives the same result, so references
    between files stay consistent.

    deidc's deliberate difference: a kept suffix node starting with ``0`` (``.072730`` from a
    time stamp) is an invalid UID component, so its first digit becomes ``1``, as Flywheel
    already does for its hash nodes.  ``compat_flywheel`` keeps the ``0`` to reproduce UIDs
    Flywheel has already issued."""
    text = value_as_text(value)
    if not text:
        return None
    nodes = text.split(".")
    nodes_out = _uid_prefix(nodes, prefix_fields, suffix_fields, numeric_name)
    nodes_out += _uid_hash_nodes(salt, text)
    if suffix_fields > 0:
        nodes_out += [_uid_suffix_node(node, compat_flywheel) for node in nodes[-suffix_fields:]]
    return _crop_uid(nodes_out)


def _uid_prefix(nodes: list[str], prefix_fields: int, suffix_fields: int,
                numeric_name: str | None) -> list[str]:
    if prefix_fields <= 0:
        return []
    if numeric_name:
        named = numeric_name.split(".")
        if len(named) != prefix_fields:
            raise TransformError(
                f"uid-numeric-name {numeric_name!r} has {len(named)} nodes but uid-prefix-fields "
                f"is {prefix_fields}; they must be equal")
        return named
    # Never let the prefix reach into the nodes the suffix keeps.
    return nodes[:min(prefix_fields, max(0, len(nodes) - suffix_fields))]


def _uid_hash_nodes(salt: str | None, text: str) -> list[str]:
    # The decimal text of each digest byte, unpadded: Flywheel's "dec" output format.
    digits = "".join(map(str, _sha256(salt, text)))
    nodes = []
    for start in range(0, UID_HASH_NODES * UID_HASH_NODE_LENGTH, UID_HASH_NODE_LENGTH):
        node = digits[start:start + UID_HASH_NODE_LENGTH]
        nodes.append("1" + node[1:] if node.startswith("0") else node)
    return nodes


def _uid_suffix_node(node: str, compat_flywheel: bool) -> str:
    node = node[-UID_SUFFIX_DIGITS:]
    # A lone "0" is a valid component; only a leading zero before other digits is not.
    if not compat_flywheel and len(node) > 1 and node.startswith("0"):
        return "1" + node[1:]
    return node


def _crop_uid(nodes: list[str]) -> str:
    """Flywheel keeps the final node whole and shortens the node before it one character at a
    time (dropping it when one character is left) until the UID fits in 64 characters."""
    uid = ".".join(nodes)
    if len(uid) <= UID_MAX_LENGTH:
        return uid
    *rest, last = uid.split(".")
    while len(".".join(rest)) + 1 + len(last) > UID_MAX_LENGTH:
        if len(rest[-1]) > 1:
            rest[-1] = rest[-1][:-1]
        else:
            rest.pop()
    return ".".join([*rest, last])


_SHAPES = str.maketrans("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
                        "9" * 10 + "a" * 26 + "A" * 26)


def shape(text: str) -> str:
    """A value described for a failure line without repeating it (the line reaches logs and
    CI output: a birth date or a name must not): its length, and its shape, digits as 9 and
    letters as A or a, punctuation kept, anything else ?."""
    shown = "".join(c if c.isascii() and (c.isalnum() or c in " -.:/^\\+,_") else "?"
                    for c in text[:24].translate(_SHAPES))
    more = "..." if len(text) > 24 else ""
    return f"the value ({len(text)} characters, shaped '{shown}{more}')"


def _sha256(salt: str | None, text: str) -> bytes:
    try:
        return sha256(((salt or "") + text).encode("utf-8")).digest()
    except UnicodeEncodeError:
        raise TransformError(f"{shape(text)} holds a character UTF-8 cannot encode, so it "
                             "cannot be hashed") from None


def shift_date(
    value: object,
    days: float | None,
    fmt: str = "%Y%m%d",
    *,
    jitter_range: float | None = None,
    jitter_unit: str = "days",
    rng: random.Random | None = None,
) -> str | list[str] | None:
    """``increment-date``: parse with ``fmt``, add ``days`` (plus a non-zero random jitter of
    ``jitter_unit``s when ``jitter_range`` is given), format with ``fmt``.  A multi-valued
    element (``A,B`` once read as text) gives a list, each value with its own jitter draw.
    Flywheel ignores datetime-min/max here, hence no such parameters."""
    return _shift_values(value, days, fmt, jitter_range, jitter_unit, rng,
                         timezone=False, minimum=None, maximum=None)


def shift_datetime(
    value: object,
    days: float | None,
    fmt: str = "%Y%m%d%H%M%S.%f",
    *,
    jitter_range: float | None = None,
    jitter_unit: str = "days",
    rng: random.Random | None = None,
    minimum: datetime | None = None,
    maximum: datetime | None = None,
) -> str | list[str] | None:
    """``increment-datetime``: as :func:`shift_date`, and a trailing time zone (``+0100``,
    ``-05:00``) is set aside before parsing and put back unchanged; the result is clamped to
    ``minimum``/``maximum`` (see :func:`datetime_bound`).  With a format ending in ``.%f`` a
    value without fraction gets ``.0`` first, so ``20040119072730`` parses (and comes back with
    six fraction digits); partial DTs such as ``2004`` do not parse and are an error."""
    return _shift_values(value, days, fmt, jitter_range, jitter_unit, rng,
                         timezone=True, minimum=minimum, maximum=maximum)


def datetime_bound(spec: str | int, now: datetime) -> datetime:
    """A ``datetime-min``/``datetime-max`` value as a datetime: ``YYYYMMDD``, or
    ``[+-]N(years|weeks|days)`` from ``now`` (a year counts 365.25 days, as in Flywheel).  Like
    Flywheel, the relative form only has to start the text (``re.match``)."""
    match = _RELATIVE_BOUND.match(str(spec))
    if match:
        amount = float(match["amount"])
        unit = match["unit"]
        if unit == "years":
            amount, unit = amount * 365.25, "days"
        offset = timedelta(**{unit: amount})
        return now - offset if match["direction"] == "-" else now + offset
    try:
        return strptime(str(spec), "%Y%m%d")
    except ValueError:
        raise TransformError(
            f"datetime bound {spec!r} is neither YYYYMMDD nor [+-]N(years|weeks|days)") from None


def _shift_values(value, days, fmt, jitter_range, jitter_unit, rng, *, timezone, minimum,
                  maximum):
    text = value_as_text(value)
    if not text:
        return None
    if "," in text:
        return [_shift_one(item, days, fmt, jitter_range, jitter_unit, rng, timezone, minimum,
                           maximum) for item in text.split(",")]
    return _shift_one(text, days, fmt, jitter_range, jitter_unit, rng, timezone, minimum, maximum)


def _shift_one(text, days, fmt, jitter_range, jitter_unit, rng, timezone, minimum, maximum):
    # An empty value inside a multi-valued element stays empty (Flywheel puts None there).
    if not text:
        return ""
    if days is None:
        raise TransformError("no date-increment is set for this date shift")
    offsets = {"days": days}
    if jitter_range is not None:
        # Drawn before parsing, as Flywheel does, so seeded draws stay in step.
        offsets[jitter_unit] = offsets.get(jitter_unit, 0) + _nonzero_randint(jitter_range, rng)
    try:
        delta = timedelta(**offsets)
    except TypeError:
        raise TransformError(f"jitter-unit {jitter_unit!r} is not a timedelta unit (days, "
                             "weeks, hours, minutes, seconds, ...)") from None
    parsed, zone = read_moment(text, fmt, timezone)
    if parsed is None:
        kind = "date-time (complete YYYYMMDDHHMMSS, partial DTs are not supported)" \
            if timezone else "date"
        raise TransformError(f"{shape(text)} is not a {kind} in the format {fmt!r}")
    try:
        shifted = parsed + delta
    except OverflowError:
        raise TransformError(f"{shape(text)} shifted by {delta} leaves the calendar") \
            from None
    if minimum is not None:
        shifted = max(shifted, minimum)
    if maximum is not None:
        shifted = min(shifted, maximum)
    return shifted.strftime(fmt) + zone


def read_moment(text: str, fmt: str, timezone: bool) -> tuple[datetime | None, str]:
    """A date (or, ``timezone``, a date-time) value as the shifts read it: the moment, or
    ``None`` when ``text`` does not read whole under ``fmt``, and the trailing time zone set
    aside.  ``deidc verify`` reads the input and output values with it too, so a shift is
    checked against the very reading the shift made."""
    zone = ""
    if timezone:
        for pattern in _TIMEZONE_SUFFIXES:
            match = pattern.match(text)
            if match:
                text, zone = match.groups()
                break
    if fmt.endswith(".%f") and "." not in text:
        text += ".0"
    try:
        parsed = strptime(text, fmt)
    except ValueError:
        return None, zone
    return (parsed if _reads_whole_fields(text, parsed, fmt) else None), zone


def strptime(text: str, fmt: str) -> datetime:
    """``datetime.strptime(text, fmt)``, with DICOM's DA (eight ASCII digits as ``%Y%m%d``)
    read directly.  strptime reads such a string as year, month and day of 4, 2 and 2 digits,
    or refuses it, exactly as ``datetime()`` does (its month and day patterns take at most two
    digits each, and it must use all eight); but it costs 5.5 µs a call against 0.8 µs, and its
    first call 14.5 M instructions (it imports _strptime, locale and calendar and compiles a
    pattern), a sixth of applying a plan to one file.  Raises :class:`ValueError` as strptime
    does."""
    if fmt == "%Y%m%d" and len(text) == 8 and text.isascii() and text.isdigit():
        return datetime(int(text[:4]), int(text[4:6]), int(text[6:]))
    return datetime.strptime(text, fmt)


def _reads_whole_fields(text: str, parsed: datetime, fmt: str) -> bool:
    """strptime accepts one digit where the format means two, so the partial DT
    ``200401191030`` reads as 10:03:00 and Flywheel shifts that silently.  deidc refuses it:
    a value that parsed right formats back to the same length (the fraction aside, which
    may legitimately be shorter than ``%f``'s six digits)."""
    if fmt.endswith(".%f"):
        return len(text.rpartition(".")[0]) == len(parsed.strftime(fmt[:-3]))
    return len(text) == len(parsed.strftime(fmt))


def _module_random():
    """The random module's shared generator, for callers that pass no ``rng`` (imported when
    first needed: most plans draw nothing)."""
    import random

    return random


def _nonzero_randint(jitter_range, rng: random.Random | None) -> int:
    """Flywheel's integer jitter: ``randint(-int(range), int(range))``, redrawn while 0."""
    draws = rng if rng is not None else _module_random()
    bound = _jitter_bound(jitter_range, int)
    if bound < 1:
        # Flywheel would redraw 0 forever here.
        raise TransformError(f"jitter-range {jitter_range!r} must be at least 1 for an integer "
                             "jitter")
    offset = 0
    while not offset:
        offset = draws.randint(-bound, bound)
    return offset


def _jitter_bound(jitter_range, cast):
    try:
        return cast(jitter_range)
    except (TypeError, ValueError):
        raise TransformError(f"jitter-range {jitter_range!r} is not a number") from None


def jitter(
    value: object,
    jitter_range: float | str = 2,
    jitter_type: str = "float",
    minimum: float | None = None,
    maximum: float | None = None,
    vr: str | None = None,
    rng: random.Random | None = None,
    compat_flywheel: bool = False,
) -> int | float | str | None:
    """``jitter``: the value (read as ``int`` when ``jitter_type`` is ``"int"``, else as
    ``float``) plus a non-zero random offset (``randint(-r, r)``, or ``uniform(-1, 1) * r``),
    clamped to ``minimum``/``maximum``, then fitted to the element's VR as Flywheel does (IS,
    US, UL truncated to ``int``; US and UL raised to 0, US lowered to 65535).  SS, SL, SV, UV
    and UL above its maximum are truncated and clamped the same way: Flywheel writes a float or
    out-of-range number there, which fails the whole file at save time.

    DS: deidc returns a valid DS string of at most 16 characters (deliberate difference);
    ``compat_flywheel`` returns the number itself, which pydicom writes as the full float repr
    (``78.28974514667017``, an invalid DS) exactly as Flywheel does.

    Empty values stay empty, as every other transform leaves them; Flywheel instead fails the
    whole file on any empty numeric value (``float('')``, ``int(None)``)."""
    text = value_as_text(value)
    if not text:
        return None
    number = _jitter_original(text, jitter_type)
    draws = rng if rng is not None else _module_random()
    if jitter_type == "int":
        offset = _nonzero_randint(jitter_range, draws)
    else:
        scale = _jitter_bound(jitter_range, float)
        if scale == 0:
            raise TransformError("jitter-range must not be 0")
        offset = 0
        while not offset:
            offset = draws.uniform(-1, 1) * scale
    jittered = number + offset
    if minimum is not None and jittered < minimum:
        jittered = type(jittered)(minimum)
    if maximum is not None and jittered > maximum:
        jittered = type(jittered)(maximum)
    return _fit_vr(jittered, vr, compat_flywheel)


def _jitter_original(text: str, jitter_type: str) -> int | float:
    cast = int if jitter_type == "int" else float
    try:
        number = cast(text)
    except ValueError:
        kind = "an integer" if cast is int else "a number"
        hint = " (several values cannot be jittered)" if "," in text else ""
        raise TransformError(f"{shape(text)} is not {kind}{hint}") from None
    if not math.isfinite(number):
        raise TransformError(f"{shape(text)} is not a finite number")
    return number


def _fit_vr(number: int | float, vr: str | None, compat_flywheel: bool) -> int | float | str:
    if vr == "IS":
        return int(number)
    if vr in _INTEGER_VR_LIMITS:
        low, high = _INTEGER_VR_LIMITS[vr]
        return min(max(int(number), low), high)
    if vr == "DS" and not compat_flywheel:
        return format_ds(number)
    return number


def format_ds(number: int | float) -> str:
    """The shortest faithful text of ``number`` that is a valid DS (at most 16 characters):
    Python's repr when it fits, else as many significant digits as fit."""
    text = str(number)
    precision = 15
    while len(text) > DS_MAX_LENGTH:
        text = f"{number:.{precision}g}"
        precision -= 1
    return text


def patient_age(birth: object, study: object, fmt: str = "%Y%m%d",
                units: str | None = None) -> str | None:
    """``patient-age-from-birthdate``: the age at the study as ``%03d`` + unit, in the first unit
    from ``units`` (or ``D``) upwards through D, M, Y whose count is below 960, clamped to 960.
    Months and years are whole calendar months/years, counted as dateutil's relativedelta does.
    Dates in the wrong order are swapped; a missing or unparseable date gives ``None`` (Flywheel
    leaves PatientAge alone then)."""
    birth_text, study_text = value_as_text(birth), value_as_text(study)
    if not birth_text or not study_text:
        return None
    try:
        earlier = strptime(birth_text, fmt)
        later = strptime(study_text, fmt)
    except ValueError:
        return None
    if earlier > later:
        earlier, later = later, earlier
    candidates = AGE_UNITS[AGE_UNITS.index(units):] if units in AGE_UNITS else AGE_UNITS
    for unit in candidates:
        if unit == "D":
            count = (later - earlier).days
        elif unit == "M":
            count = whole_months_between(earlier, later)
        else:
            count = whole_months_between(earlier, later) // 12
        if count < MAX_AGE:
            break
    return "%03d%s" % (min(count, MAX_AGE), unit)


def whole_months_between(earlier: datetime, later: datetime) -> int:
    """Whole calendar months from ``earlier`` to ``later`` (``later >= earlier``), counted as
    ``relativedelta(later, earlier)``: the largest n for which ``earlier`` + n months (the day
    cut to the month's length, so Jan 31 + 1 month = Feb 28/29) is not after ``later``."""
    months = (later.year - earlier.year) * 12 + later.month - earlier.month
    while _add_months(earlier, months) > later:
        months -= 1
    return months


def _add_months(moment: datetime, months: int) -> datetime:
    year, month_index = divmod(moment.month - 1 + months, 12)
    year += moment.year
    # the month's length, from the day before the next month's first (calendar.monthrange
    # would import calendar and locale into every run that computes an age: 1.4 ms)
    length = 31 if month_index == 11 else \
        (date(year, month_index + 2, 1) - timedelta(days=1)).day
    day = min(moment.day, length)
    return moment.replace(year=year, month=month_index + 1, day=day)


GroupTransform = Callable[[Mapping, str, str | None], object]


def _match(item: Mapping, text: str) -> re.Match | None:
    """``item``'s pattern matched against ``text``, run only on a text it is proven safe for:
    Python's ``re`` cannot be stopped once it runs."""
    bound = item.get("max_length")
    if bound is not None and len(text) > bound:
        raise TransformError(f"the value ({len(text)} characters) is longer than the {bound} "
                             f"that input-regex {item['input_regex']!r} is proven to match in "
                             "bounded time; it is not run (make the pattern linear: no "
                             "open-ended repeats in a row that can match the same characters)")
    return re.match(item["input_regex"], text)


def regex_sub(value: object, items: Sequence[Mapping], group_transform: GroupTransform) -> str | None:
    """``regex-sub``: the first item whose ``input_regex`` matches the start of the value
    (``re.match``) builds the new value from its ``output`` template (``str.format`` over the
    placeholders).  A placeholder takes the named group's text, or, when the item's ``groups``
    define a rule of that name, ``group_transform(item, name, text)``: the caller applies that
    dry rule to the group's text, or to the element of that name when the regex has no such
    group (``text`` is then None).  No matching item is an error, as in Flywheel.

    ``items`` are the plan's ``{"input_regex", "output", "groups": [{"name", ...}]}`` mappings.
    Placeholders are visited in template order, repeats included, so seeded random group rules
    draw exactly as often as in Flywheel."""
    text = value_as_text(value)
    if text is None:
        return None
    for item in items:
        if (match := _match(item, text)) is not None:
            break
    else:
        patterns = ", ".join(repr(item["input_regex"]) for item in items)
        raise TransformError(f"the value ({len(text)} characters) matches none of the "
                             f"input-regex patterns {patterns}")
    defined = {group["name"] for group in item.get("groups", ())}
    captured = match.groupdict()
    replacements = {}
    for name in _PLACEHOLDER.findall(item["output"]):
        matched = captured.get(name)
        if name in defined:
            replacement = group_transform(item, name, matched)
        elif matched is not None:
            replacement = matched
        else:
            raise TransformError(f"output placeholder {{{name}}} is neither a named group of "
                                 f"{item['input_regex']!r} nor defined in its groups")
        replacements[name] = "" if replacement is None else replacement
    return _format_output(item["output"], replacements)


def _format_output(template: str, replacements: dict[str, object]) -> str:
    """Fill ``template`` as Flywheel does: a dotted placeholder (``{Seq.0.PatientID}``) would
    read as attribute access in ``str.format``, so every occurrence of its text in the template
    is first spelled with ``___`` for the dots."""
    keys = {}
    for name in replacements:
        key = name.replace(".", _DOTTED_PLACEHOLDER_STANDIN)
        template = template.replace(name, key)
        keys[name] = key
    try:
        return template.format(**{keys[name]: value for name, value in replacements.items()})
    except (KeyError, IndexError, ValueError, AttributeError) as error:
        raise TransformError(f"output template {template!r} cannot be filled: {error}") from None
