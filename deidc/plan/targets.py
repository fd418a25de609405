"""The plan's target strings: the one place that writes them and takes them apart.

Targets are canonical strings, which keep the plan's JSON readable and make lookups plain dict
hits:

* ``"00100020"``                  a public (or concrete private) tag, 8 upper-case hex digits;
* ``'(0009,"GEMS_IDEN_01",04)'``  a private element by creator and offset in its block;
* ``"00081110.*.00081155"``       a nested path: tags and item indices (``*`` = every item);
* ``"60XX3000"``                  a repeater: every group 6000-60FE (or 5000-50FE).

The compiler writes them with the formatters below; the executors, the explainer and every other
reader of a plan parse them with the parsers below.  Standard library only, like the plan.
"""

from __future__ import annotations

REPEATER_PREFIXES = ("50", "60")  # the first hex digits of the groups a repeater spans
EVERY_ITEM = "*"


def tag(number: int) -> str:
    """``0x00100020`` → ``"00100020"``."""
    return f"{number:08X}"


def private(group: int, creator: str, offset: int) -> str:
    """``(0x0009, "GEMS_IDEN_01", 0x04)`` → ``'(0009,"GEMS_IDEN_01",04)'``."""
    return f'({group:04X},"{creator}",{offset:02X})'


def parse_private(target: str) -> tuple[int, str, int]:
    """``'(0009,"GEMS_IDEN_01",04)'`` → ``(0x0009, "GEMS_IDEN_01", 0x04)``.  The creator may
    itself hold commas: the offset is after the last one."""
    inner = target.strip()[1:-1]
    group, rest = inner.split(",", 1)
    creator, offset = rest.rsplit(",", 1)
    return int(group, 16), creator.strip().strip('"'), int(offset, 16)


def is_private(target: str) -> bool:
    return target.startswith("(")


def repeater(number: int) -> str:
    """A repeating group's tag (any group of it) → ``"60XX3000"``."""
    return f"{number >> 24:02X}XX{number & 0xFFFF:04X}"


def is_repeater(target: str) -> bool:
    """``"60XX3000"``: a target of every group of a repeating range."""
    return len(target) == 8 and target[2:4].upper() == "XX"


def repeater_base(target: str) -> int:
    """``"60XX3000"`` → ``0x60003000``, the tag in the first group of the range."""
    return int(target.upper().replace("XX", "00"), 16)


def repeater_of(key: str) -> str | None:
    """The repeater target that covers tag ``key`` (``"60103000"`` → ``"60XX3000"``), or
    ``None`` outside the repeating groups."""
    return f"{key[:2]}XX{key[4:]}" if key[:2] in REPEATER_PREFIXES else None


def path(steps) -> str:
    """Tags (targets) and item indices (``int`` or ``"*"``) → ``"00081110.*.00081155"``."""
    return ".".join(str(step) for step in steps)


def parse_path(target: str) -> list:
    """``"00081110.0.00081155"`` → ``[0x00081110, "0", 0x00081155]``: tags as numbers at the
    even places, item indices (``"*"`` or digits) as written at the odd ones."""
    return [int(step, 16) if place % 2 == 0 else step
            for place, step in enumerate(target.split("."))]


def last_element(target: str) -> int:
    """The element a target ends in, as a tag number: ``"00081110.0.00081155"`` →
    ``0x00081155``, ``"60XX3000"`` → ``0x60003000`` (the range's first group), and a private
    key the element of its first block, ``'(0009,"GEMS_IDEN_01",04)'`` → ``0x00091004``."""
    if is_private(target):
        group, _, offset = parse_private(target)
        return group << 16 | 0x1000 | offset
    return repeater_base(target.rsplit(".", 1)[-1])


def wildcard(target: str) -> str:
    """The path with every item index ``*``: the target of a rule for every item."""
    return ".".join(EVERY_ITEM if place % 2 else step
                    for place, step in enumerate(target.split(".")))
