"""The streaming fast path: de-identify a file without building a pydicom Dataset.

A compiled plan knows exactly which tags it touches.  So instead of parsing and re-encoding
every element (what a pydicom round trip does), this walks the file element by element
(:mod:`deidc.execute.stream`), copies the bytes of every element the plan leaves alone, drops the ones
it removes, and decodes and re-encodes only the few it changes.  Sequences are entered only when
the plan needs to look inside them (private removal, recurse-sequence); large values (pixel
data) are never read into memory: they are copied from file to file by the kernel.

It must produce exactly the bytes the Dataset path (:mod:`deidc.execute.dataset`) produces, and it
mirrors that path's order of work element by element.  Wherever it meets something it does not
reproduce exactly (big endian or deflated files, text beyond ASCII to change in a character set
other than the single-byte ones and UTF-8, regex-sub groups that read another element,
a random draw inside an item, a UN value that may be a sequence of implicit VR items, a
value it reads that pydicom would write back otherwise), it raises
:class:`deidc.execute.stream.Unsupported` before writing anything, and the runner hands the file to the
Dataset path.  This module imports neither pydicom nor the linter.
"""

from __future__ import annotations

import json
import mmap
import os
import re
import struct
from datetime import datetime

from . import transforms
from .inputs import Input, InputChanged
from .outcome import FileOutcome
from .actions import (Actor, Dispatch, derived, draws_at_random, element_groups,
                      inserts_when_absent, path_matches, value_decides)
from ..plan.ir import Plan
from ..plan.targets import is_private, is_repeater, parse_path, parse_private, repeater_base
from .dicom import (BINARY_NUMBERS, FILE_META_GROUP, ITEM, ITEM_END, LONG_HEADER_VRS,
                    LONG_LENGTH, MAX_SEQUENCE_DEPTH, MEDIA_STORAGE_SOP_INSTANCE_UID,
                    META_GROUP_LENGTH, NESTING_LEVEL_BYTES, NUMBER_STRING_VRS,
                    PATIENT_AGE, PATIENT_BIRTH_DATE, REPEATER_MASK, SEQUENCE_END, SHORT_HEADER,
                    SINGLE_VALUED_VRS, SOP_CLASS_UID, SOP_INSTANCE_UID, SPECIFIC_CHARACTER_SET,
                    STRING_VRS, STUDY_DATE, TAG_LENGTH, TEXT_VRS, TRACKED_VRS, UNDEFINED_LENGTH,
                    delimiter)
from .stream import (IMPLICIT_LITTLE, LONG_VRS, UNKNOWN_VR, Element, Unsupported,
                     check_no_un_sequence, items, may_hold_items,
                     read_element, read_layout)

KERNEL_COPY = 2**20  # runs of unchanged bytes this long are copied by the kernel

INSERTABLE = STRING_VRS | set(BINARY_NUMBERS) | {"SQ"}
# The Dataset path refuses a "file" in which no DICOM attribute can be read; the fast path,
# which has no dictionary, accepts a file only if it holds one of these.
ANCHORS = frozenset({SOP_CLASS_UID, SOP_INSTANCE_UID})
# Character sets in which ASCII bytes mean ASCII characters (no ISO 2022 code extensions).
ASCII_SAFE_CHARSETS = frozenset({
    "", "ISO_IR 6", "ISO_IR 100", "ISO_IR 101", "ISO_IR 109", "ISO_IR 110", "ISO_IR 126",
    "ISO_IR 127", "ISO_IR 138", "ISO_IR 144", "ISO_IR 148", "ISO_IR 166", "ISO_IR 192",
    "ISO_IR 203", "GB18030", "GBK", "ISO 2022 IR 6"})
# The codecs pydicom reads and writes a dataset's text in, for the character sets above whose
# every byte is a character, or that are UTF-8: in both, a backslash, space or NUL byte is
# always that character, so a value splits and strips as its text does (in GBK and GB18030 a
# backslash byte may end a Chinese character).  With no Specific Character Set pydicom reads
# latin-1.  Only the VRs of CHARSET_VRS are read in the dataset's character set; the other
# text VRs are changed here only when they are ASCII.  tests/test_charsets.py checks these
# against pydicom's own table.
TEXT_CODECS = {
    "": "iso8859", "ISO_IR 6": "iso8859", "ISO 2022 IR 6": "iso8859", "ISO_IR 100": "latin_1",
    "ISO_IR 101": "iso8859_2", "ISO_IR 109": "iso8859_3", "ISO_IR 110": "iso8859_4",
    "ISO_IR 126": "iso_ir_126", "ISO_IR 127": "iso_ir_127", "ISO_IR 138": "iso_ir_138",
    "ISO_IR 144": "iso_ir_144", "ISO_IR 148": "iso_ir_148", "ISO_IR 166": "iso_ir_166",
    "ISO_IR 192": "UTF8"}
CHARSET_VRS = frozenset({"LO", "LT", "PN", "SH", "ST", "UC", "UT"})
_END = 0x1_0000_0000  # past every tag


def _accelerator():
    """The C header scan (:mod:`deidc.execute._scan`), unless it was not built or DEIDC_PURE_PYTHON is
    set; the walk below gives the same bytes without it, only slower."""
    if os.environ.get("DEIDC_PURE_PYTHON"):
        return None
    try:
        from ._scan import skip_plain
    except ImportError:
        return None
    return skip_plain


_skip_plain = _accelerator()


class _EveryTag:
    def __contains__(self, tag: object) -> bool:
        return True


_EVERY_TAG = _EveryTag()
_UNCHANGED = object()  # a transform that left the bytes as they were


class FastPlan:
    """A plan rearranged for the walk, built once per process."""

    def __init__(self, plan: Plan, log: bool = False):
        self.plan = plan
        self.dispatch = dispatch = Dispatch.for_plan(plan)
        self.public, self.private = dispatch.public, dispatch.private
        self.repeaters, self.patterns = dispatch.repeaters, dispatch.patterns
        self.keep = dispatch.keep
        self.kept_groups = {group for group, _ in dispatch.kept_creators}
        self.unsupported: str | None = None
        if any(element_groups(action) for entry in [*plan.entries, *plan.patterns]
               for action in entry.actions):
            # the Dataset path reads those elements before any rule acts
            self.unsupported = "regex-sub groups named after elements"
        policy = plan.policy
        self.remove_private = policy.remove_private
        self.remove_undefined = policy.remove_undefined
        self.recurse = policy.recurse_sequences
        # Regexes inside sequences match an element's keyword path (Seq.0.Keyword) as well as
        # its hex path: the plan carries the keywords (plans compiled before it did not).
        self.keywords = {int(tag, 16): keyword for tag, (keyword, _) in plan.dictionary.items()}
        self.nested_patterns = bool(self.patterns and self.keywords)
        self.enter_sequences = self.remove_private or self.recurse or self.nested_patterns
        self.age = policy.patient_age
        self.inserts = sorted(
            (tag, entry) for tag, entry in self.public.items()
            if tag >> 16 != FILE_META_GROUP
            and inserts_when_absent(entry))
        self.private_insert_groups, self.private_inserted = self._private_inserts()
        # Nested path rules (Seq.0.Keyword, Seq.*.Keyword): the walk enters the sequences
        # they go through and acts on the elements they name; replace-with on a path of item
        # numbers inserts what is missing (the element, the items before it, its sequences).
        self.paths = dispatch.paths
        self.path_tags = {step for steps, _ in self.paths for step in steps[0::2]}
        # The C scan copies a top-level sequence no rule names, as _Walk.copy_sequence does
        # (and drops or empties one its lane decides), when no rule reaches into sequences and
        # it is shorter than this (so check_depth would not look inside it); 0: it leaves
        # every sequence to the walk.
        self.plain_sequence_bytes = 0 if self.enter_sequences or self.remove_undefined \
            or self.path_tags else MAX_SEQUENCE_DEPTH * NESTING_LEVEL_BYTES
        self.nested_inserts = {
            tuple(int(step) if place % 2 else step for place, step in enumerate(steps)): entry
            for steps, entry in self.paths
            if "*" not in steps[1::2] and inserts_when_absent(entry)
            and Actor(None, False, None).run(list(entry.actions), False, None, "")[0]}
        if self.paths and policy.remove_undefined:
            self.unsupported = "nested path rules with remove-undefined"
        if any(tag >> 16 & 1 for tag in self.path_tags):
            self.unsupported = "nested path rules through private elements"
        self.inserts = _merge_nested_roots(self.inserts, {path[0] for path in self.nested_inserts},
                                           self)
        self.meta_entries = {tag: entry for tag, entry in self.public.items()
                             if tag >> 16 == FILE_META_GROUP}
        self.meta_inserts = {tag for tag, entry in self.meta_entries.items()
                             if inserts_when_absent(entry)}
        self.logged = []  # (title, tag) of the deid log's columns; file meta tags included
        # (title, steps) of the nested path columns (Seq.0.Keyword, Seq.*.Keyword): their cells
        # are read from the bytes of the top-level sequence they start in, before and after
        self.logged_paths: list[tuple[str, list]] = []
        self.logged_blank = []  # titles of the columns that read nothing (always '')
        # (title, (group, creator, offset)) of the private element columns: each reads the
        # element of the first block of its creator in the group, as the Dataset path does
        self.logged_private: list[tuple[str, tuple[int, str, int]]] = []
        # (title, tag in the first group) of the repeater columns ('60XX0010'): each logs a
        # JSON object {hex tag: value} of the top-level elements of every group it spans
        self.logged_repeaters: list[tuple[str, int]] = []
        for column in plan.log_columns if log else ():
            target = column.target
            if column.pattern is None and not target:
                self.logged_blank.append(column.title)
            elif column.pattern is None and _PATH_COLUMN.fullmatch(target):
                steps = parse_path(target)
                self.logged_paths.append((column.title, steps))
                if any(tag >> 16 & 1 for tag in steps[0::2]):
                    self.unsupported = self.unsupported or \
                        "deid-log columns of nested private elements"
            elif column.pattern is None and is_private(target):
                self.logged_private.append((column.title, parse_private(target)))
            elif column.pattern is None and is_repeater(target) and self.repeaters:
                self.logged_repeaters.append((column.title, repeater_base(target)))
            elif column.pattern is not None or len(target) != 8 or \
                    not _TAG_COLUMN.fullmatch(target):
                self.unsupported = self.unsupported or \
                    "deid-log columns of regexes or wildcards"
            else:
                self.logged.append((column.title, int(target, 16)))
        self.logged_roots = frozenset(steps[0] for _, steps in self.logged_paths)
        self.logged_private_keys = frozenset(key for _, key in self.logged_private)
        self.logged_repeater_bases = frozenset(base for _, base in self.logged_repeaters)
        # their groups are looked at under remove-private-tags, not dropped unseen
        self.kept_groups |= {group for group, _, _ in self.logged_private_keys}
        self.logged_meta = {tag for _, tag in self.logged if tag >> 16 == 0x0002}
        # Top-level values read whatever happens to them: the patient age's inputs, the SOP
        # UID the file meta follows, and the deid-log's columns.
        self.tracked = {SOP_INSTANCE_UID, SPECIFIC_CHARACTER_SET} | \
            {tag for _, tag in self.logged if tag >> 16 != 0x0002}
        if self.age is not None:
            self.tracked |= {STUDY_DATE, PATIENT_BIRTH_DATE}
        # What makes an element worth a closer look in the walk (anything else is copied).
        # Regexes and repeaters may hit any element: then every element is looked at.
        self.top_special = _EVERY_TAG if self.patterns or self.repeaters else \
            set(self.public) | self.tracked | ANCHORS | {steps[0] for steps, _ in self.paths} \
            | self.logged_roots
        # (an item's own SpecificCharacterSet sets the codec of its values; recurse-sequence
        # applies repeaters inside items too; under remove-undefined every element of an
        # item is kept or pruned, _Walk.prune)
        self.nested_special = _EVERY_TAG if (self.recurse and self.repeaters
                                             or self.remove_undefined or self.nested_patterns) \
            else (set(self.public) if self.recurse else set()) | self.path_tags \
            | {SPECIFIC_CHARACTER_SET}
        # pydicom writes a changed text value in the character set the dataset has when it is
        # written: where the plan may change SpecificCharacterSet, only ASCII text is changed
        # here (it means the same in every character set the walk accepts)
        self.charset_stays = not (
            dispatch.actions_for(SPECIFIC_CHARACTER_SET, None, True)
            or dispatch.actions_for(SPECIFIC_CHARACTER_SET, None, False)
            or self.remove_undefined and not dispatch.defined(SPECIFIC_CHARACTER_SET, None)
            or any(steps[-1] == SPECIFIC_CHARACTER_SET for steps, _ in self.paths))
        self.top_odd_plain = not (self.remove_private or self.private or self.patterns
                                  or self.remove_undefined or self.logged_private)
        self.nested_odd_plain = not (self.remove_private or (self.recurse and self.private)
                                     or self.nested_patterns)
        # (tag, VR, raw value, compat, codec, chain) → what a deterministic chain made of it
        # (see _Walk.transform): series share most values, so most changed elements are
        # looked up.  The chain is part of the key: one tag meets other rules in an item.
        # The bytes include the element's header, so implicit VR files have their own table.
        self.outcomes: dict[tuple, tuple] = {}
        self.implicit_outcomes: dict[tuple, tuple] = {}
        # (birth date, study date) → patient age: a patient's files share them
        self.ages: dict[tuple[str, str], str | None] = {}
        # (character set, sequence bytes, implicit) → its deid-log cell, which only pydicom
        # prints: a series' files share most logged sequences
        self.sequence_cells: dict[tuple, str] = {}
        # Implicit VR files: which elements are sequences (the plan's copy of the dictionary)
        # and the VRs of what the walk decodes; any other element is UNKNOWN_VR, copied as is.
        self.sequences = frozenset(int(tag, 16) for tag in plan.sequences)
        self.implicit_vrs = {tag: vr.encode() for tag, vr in TRACKED_VRS.items()}
        self.implicit_vrs.update((tag, entry.vr.encode()) for tag, entry in self.public.items()
                                 if entry.vr and len(entry.vr) == 2)
        self.implicit_vrs.update((steps[-1], entry.vr.encode()) for steps, entry in self.paths
                                 if entry.vr and len(entry.vr) == 2)
        # (a regex may hit any element inside an item: the VRs of the plan's dictionary)
        self.implicit_vrs.update((int(tag, 16), vr.encode()) for tag, (_, vr) in
                                 plan.dictionary.items() if len(vr) == 2)
        self.implicit_vrs.update((tag, b"SQ") for tag in self.sequences)
        self._actions: dict[tuple, tuple[list, bool, tuple | None] | Unsupported] = {}
        self.inserted_runs: dict[tuple, tuple | Unsupported] = {}
        self._created: dict[tuple, bytes | list] = {}
        # Top-level public attributes whose only business is their own actions (no log, no
        # file meta, no patient age, no remove-undefined): the walk handles them inline.  Each
        # lane: its actions, whether they remove it, its chain key, and, for a chain that
        # replaces whatever the value (see _lane), the outcomes of its constant.
        self.lanes = {} if self.remove_undefined or self.patterns or self.repeaters else {
            tag: _lane(self.actions(tag, None, True)) for tag in self.public
            if tag >> 16 != FILE_META_GROUP and not tag >> 16 & 1 and tag not in self.tracked
            and tag not in ANCHORS and tag not in self.logged_roots}

    def _private_inserts(self) -> tuple[frozenset[int], dict]:
        """Add to :attr:`inserts` what replace-with on private elements inserts into a file
        that has no element of their group: each creator's block, numbered from 0x10 in the
        order of the plan's private rules (pydicom's first free block, as the Dataset path
        creates them), and the elements.  Returns those groups (a file holding any element of
        one goes to the Dataset path, which fits the inserts among what is there) and the
        value inserted for each private key, as pydicom holds it."""
        blocks: dict[tuple[int, str], int] = {}
        added = []
        inserted: dict[tuple[int, str, int], object] = {}
        for key, entry in self.private.items():
            if not inserts_when_absent(entry):
                continue
            present, value = Actor(None, False, None).run(list(entry.actions), False, None,
                                                          entry.vr or "")
            if not present:
                continue
            group, creator, offset = key
            if not entry.vr or entry.vr not in INSERTABLE or entry.vr == "SQ":
                self.unsupported = self.unsupported or \
                    f"private replace-with inserting a {entry.vr or 'unknown'} element"
                return frozenset(), {}
            if (group, creator) not in blocks:
                block = blocks[(group, creator)] = 0x10 + sum(
                    1 for in_group, _ in blocks if in_group == group)
                if block > 0xFF:
                    self.unsupported = self.unsupported or "more than 240 private blocks"
                    return frozenset(), {}
                added.append((group << 16 | block, _PrivateCreator(creator)))
            added.append((group << 16 | blocks[(group, creator)] << 8 | offset, entry))
            inserted[key] = held(value, entry.vr)
        self.inserts = sorted(self.inserts + added, key=lambda insert: insert[0])
        return frozenset(group for group, _ in blocks), inserted

    def inserted_run(self, first: int, count: int, implicit: bool,
                     codec: str | None) -> tuple[bytes, dict]:
        """What replace-with inserts for ``count`` absent elements from ``self.inserts[first]``
        on: their encoded elements, joined, and their values as pydicom holds them (of the
        elements the walk tracks).  On an absent element a chain runs only its replace and
        remove actions, so this is the same in every file: it is made once per run and
        encoding and character set (a Penn BSC profile inserts ~60 empty elements into every
        file)."""
        key = (first, count, implicit, codec)
        found = self.inserted_runs.get(key)
        if found is None:
            try:
                found = _insertions(self.inserts[first:first + count], implicit, self.tracked,
                                    self.logged_roots, codec)
            except Unsupported as declined:
                found = declined
            _bounded(self.inserted_runs)[key] = found
        if isinstance(found, Unsupported):
            raise Unsupported(*found.args)
        return found

    def actions(self, tag: int, key, top: bool,
                here: tuple = ()) -> tuple[list, bool, tuple | None]:
        """The element's actions (Dispatch.actions_for, and the nested paths that name it in
        the item at ``here``, and the regexes that match it there; looked up once per tag and
        place), whether they always remove it, and the key of their outcomes
        (:func:`_chain_key`)."""
        here = here if self.paths or self.nested_patterns else ()
        found = self._actions.get((tag, key, top, here))
        if found is None:
            if here:
                at = here + (tag,)
                actions = self.dispatch.nested_actions(tag, key, at, *self.walk_paths(at))
            else:
                actions = self.dispatch.actions_for(tag, key, top)
            removes = bool(actions) and actions[0].op == "remove" and \
                not any(action.op == "replace" for action in actions)
            found = (actions, removes, _chain_key(actions))
            if not top and any(draws_at_random(action) for action in actions):
                # the Dataset path draws for the items after every top-level element
                found = Unsupported("a random draw inside a sequence")
            _bounded(self._actions)[(tag, key, top, here)] = found
        if type(found) is Unsupported:
            raise Unsupported(*found.args)
        return found

    def named(self, tag: int, key, top: bool, here: tuple = ()) -> bool:
        """Does a rule name this element (so remove-undefined keeps it), at the top level or
        inside the item at ``here``?  (Nested paths and remove-undefined go to the Dataset
        path: inside items recurse-sequence names and regexes do.)"""
        if top:
            return self.dispatch.defined(tag, key)
        at = here + (tag,)
        return self.dispatch.named_nested(tag, key, at, *self.walk_paths(at))

    def walk_paths(self, at: tuple) -> tuple[str | None, str]:
        """The two paths a regex matches an element inside sequences by, as Flywheel's walk
        writes them: keywords (``Seq.0.Keyword``; None once a step has no keyword) and hex
        (``0008a115.0.0020000d``).  ``at``: its tags and item numbers from the top.  Without
        regexes nothing reads them."""
        if not self.patterns:
            return None, ""
        found = self._created.get(("paths", at))
        if found is None:
            keywords = [self.keywords.get(step) if place % 2 == 0 else str(step)
                        for place, step in enumerate(at)]
            found = (".".join(keywords) if None not in keywords else None,
                     ".".join(f"{step:08x}" if place % 2 == 0 else str(step)
                              for place, step in enumerate(at)))
            _bounded(self._created)[("paths", at)] = found
        return found

    def reaches_into(self, path: tuple) -> bool:
        """Does a nested path rule go below the sequence at ``path`` (its tags and item
        numbers)?"""
        found = self._created.get(("reaches", path))
        if found is None:
            depth = len(path)
            found = self._created[("reaches", path)] = any(
                len(steps) > depth and path_matches(steps[:depth], path)
                for steps, _ in self.paths)
        return found

    def items_wanted(self, path: tuple) -> int:
        """How many items nested inserts need the sequence at ``path`` to have."""
        depth = len(path)
        return max((steps[depth] + 1 for steps in self.nested_inserts
                    if len(steps) > depth and steps[:depth] == path), default=0)

    def item_inserts(self, path: tuple, implicit: bool) -> list:
        """(tag, element) of what nested inserts add to the item at ``path`` where the tag is
        absent: named elements, and sequences that lead to one, as pydicom writes them."""
        key = ("item", path, implicit)
        found = self._created.get(key)
        if found is None:
            depth = len(path)
            pieces = {}
            for steps, entry in self.nested_inserts.items():
                if len(steps) <= depth or steps[:depth] != path or steps[depth] in pieces:
                    continue
                tag = steps[depth]
                if len(steps) == depth + 1:
                    pieces[tag] = _insertions([(tag, entry)], implicit, ())[0]
                else:
                    pieces[tag] = self.new_sequence(path + (tag,), implicit)
            found = self._created[key] = sorted(pieces.items())
        return found

    def new_item(self, path: tuple, implicit: bool) -> bytes:
        """An item nested inserts create at ``path``, as pydicom writes a new Dataset in a
        sequence: a defined length, its elements in tag order."""
        content = b"".join(piece for _, piece in self.item_inserts(path, implicit))
        return delimiter(ITEM, len(content)) + content

    def new_sequence(self, path: tuple, implicit: bool) -> bytes:
        """A sequence nested inserts create at ``path`` (with the items they need), as pydicom
        writes a new sequence: a defined length."""
        key = ("sequence", path, implicit)
        found = self._created.get(key)
        if found is None:
            if path[-1] not in self.sequences:
                raise Unsupported(f"a nested insert through {path[-1]:08X}, not a sequence")
            data = b"".join(self.new_item(path + (index,), implicit)
                            for index in range(self.items_wanted(path)))
            make_header = implicit_header if implicit else header
            found = self._created[key] = make_header(path[-1], "SQ", len(data)) + data
        return found


# Actions whose result depends only on the value (and the plan): their outcome can be reused.
_OUTCOMES_LIMIT = 65536
_TAG_COLUMN = re.compile(r"[0-9A-Fa-f]{8}")
_PATH_COLUMN = re.compile(r"[0-9A-Fa-f]{8}(\.(\d+|\*)\.[0-9A-Fa-f]{8})+")


def _bounded(table: dict, limit: int = _OUTCOMES_LIMIT) -> dict:
    """``table``, emptied when it holds ``limit`` entries (memory stays bounded whatever the
    run's length)."""
    if len(table) >= limit:
        table.clear()
    return table


_LONGEST_REUSED = 256  # longer values are transformed each time, not kept as keys
# logged sequences up to this long are kept, this many at most (4 MiB)
_LONGEST_SEQUENCE_REUSED, _SEQUENCES_REUSED = 4096, 1024


class _PrivateCreator:
    """In FastPlan.inserts: the creator element of a private block replace-with creates."""

    def __init__(self, name: str):
        self.name = name


class _NestedRoot:
    """In FastPlan.inserts: a top-level sequence that nested inserts create where absent."""

    def __init__(self, fast: "FastPlan"):
        self.fast = fast


def _merge_nested_roots(inserts: list, roots: set, fast: "FastPlan") -> list:
    """The top-level inserts with the sequences nested inserts create: such a sequence
    replaces its own replace-with insert (an empty sequence the nested inserts then fill,
    or none at all, comes to the same)."""
    return inserts if not roots else sorted(
        [(tag, entry) for tag, entry in inserts if tag not in roots]
        + [(tag, _NestedRoot(fast)) for tag in roots], key=lambda insert: insert[0])


def _insertions(inserts: list, implicit: bool, tracked, roots=frozenset(),
                codec: str | None = None) -> tuple[bytes, dict]:
    """The elements (joined) the entries insert where absent, and the held values of the
    tracked ones (a chain on an absent element draws nothing: no generator, no clock), and
    the bytes of the ``roots`` (of nested deid-log columns) under ``("raw", tag)``."""
    pieces, values = [], {}
    for tag, entry in inserts:
        if isinstance(entry, _PrivateCreator):
            data = encode(entry.name, "LO", codec)
            pieces.append((implicit_header if implicit else header)(tag, "LO", len(data)) + data)
            continue
        if isinstance(entry, _NestedRoot):
            if tag in tracked:
                raise Unsupported("logging a sequence nested inserts create")
            pieces.append(entry.fast.new_sequence((tag,), implicit))
            if tag in roots:
                values[("raw", tag)] = pieces[-1]
            continue
        present, value = Actor(None, False, None).run(list(entry.actions), False, None,
                                                       entry.vr or "")
        if not present:
            continue
        vr = entry.vr
        if not vr or vr not in INSERTABLE:
            raise Unsupported(f"inserting a {vr or 'unknown'} element")
        data = encode(value, vr, codec)
        pieces.append((implicit_header if implicit else header)(tag, vr, len(data)) + data)
        if tag in tracked:
            values[tag] = held(value, vr)
        if tag in roots:
            values[("raw", tag)] = pieces[-1]
    return b"".join(pieces), values


def _lane(found: tuple) -> tuple:
    """A lane of FastPlan.lanes from what FastPlan.actions found for its tag.  A chain that
    only replaces gives a present element the same value whatever it was: then a value met
    for the first time is either that value already (unchanged) or replaced by bytes the walk
    has made before, and the C scan tells which for plain ASCII text without calling back (a
    Penn BSC profile empties some ten attributes that way, with values new in every file)."""
    actions = found[0]
    constant = bool(actions) and all(action.op == "replace" for action in actions) \
        and any(action.args.get("value") is not None for action in actions)
    return (*found, {} if constant else None)


def _chain_key(actions) -> tuple | None:
    """What tells a chain from the others in its outcome table (the places of its rules in
    the plan's order), or None when its outcome may not be reused (it draws at random)."""
    if not all(value_decides(action.op, action.args) for action in actions):
        return None
    return tuple(action.order for action in actions)


# --- values: as pydicom reads and writes them --------------------------------------------------

def decode(raw: bytes, vr: str, codec: str | None = None) -> object:
    """A stored value as pydicom reads it (str, or a list for multi-valued elements), if
    pydicom writes it back as the same bytes.  The Dataset path re-encodes every element it
    reads, even one whose value stays: a value padded otherwise (an SH of two spaces, which
    pydicom reads as '' and writes empty; a UID padded with a space) would be copied here
    and rewritten there, so it goes to the Dataset path.  ``codec``: the dataset's (see
    TEXT_CODECS), for the VRs of CHARSET_VRS; without one, only ASCII is read."""
    value = _read_value(raw, vr, codec)
    if encode(value, vr, codec) != raw:
        raise Unsupported(f"a {vr} value pydicom writes back otherwise (its padding)")
    return value


def _read_value(raw: bytes, vr: str, codec: str | None) -> object:
    if vr in NUMBER_STRING_VRS:
        try:
            parts = [part.strip(" \0") for part in raw.decode("ascii").split("\\")]
        except UnicodeDecodeError:
            raise Unsupported(f"a non-ASCII {vr} value") from None
        return parts[0] if len(parts) == 1 else parts
    if vr in BINARY_NUMBERS:
        return _unpack_numbers(raw, vr)
    if vr not in TEXT_VRS:
        raise Unsupported(f"changing a {vr} value")
    if b"\x1b" in raw:
        raise Unsupported("a value with character set escapes")
    codec = _text_codec(vr, codec)
    try:
        text = raw.decode(codec or "ascii")
    except UnicodeDecodeError:
        raise Unsupported("a non-ASCII value to change" + (
            ", not in its character set" if codec else "")) from None
    if vr in SINGLE_VALUED_VRS:
        stripped = text.rstrip("\0 ")
        if stripped != text.rstrip(" ") and vr == "UR":
            raise Unsupported("UR value with trailing nulls")
        return stripped
    if "\\" in text:
        each = [p.strip(" ") if vr == "AE" else p.rstrip("\0 ") for p in text.split("\\")]
        if vr != "AE" and each != text.rstrip("\0 ").split("\\"):
            raise Unsupported(f"{vr} value with padding inside")
    else:  # one value, the usual case: nothing to split and compare
        each = [text.strip(" ") if vr == "AE" else text.rstrip("\0 ")]
    if vr == "PN" and any(name.endswith("=") for name in each):
        # pydicom reads "Doe^John=" as "Doe^John": it drops empty trailing component groups
        raise Unsupported("a PN value ending in an empty component group")
    return each[0] if len(each) == 1 else each


def _text_codec(vr: str, codec: str | None) -> str | None:
    """The codec a value of ``vr`` is read and written in, given the dataset's (None: ASCII):
    pydicom reads the other text VRs in its default, of which the walk changes ASCII only."""
    return codec if vr in CHARSET_VRS else None


def encode(value: object, vr: str, codec: str | None = None) -> bytes:
    """A new value encoded as pydicom writes it: backslash-joined, padded to even length;
    binary numbers packed; an empty sequence (replace-with '' inserts one) has no bytes.
    ``codec``: as for :func:`decode`."""
    if type(value) is str and vr in STRING_VRS:  # text into a text VR, the usual case
        return _encode_text(value, vr, codec)
    if vr == "SQ":
        if value == "" or value == []:
            return b""
        raise Unsupported(f"writing a {type(value).__name__} into SQ")
    if vr in BINARY_NUMBERS:
        return _pack_numbers(value, vr)
    if isinstance(value, (list, tuple)):
        if vr in SINGLE_VALUED_VRS or not all(isinstance(v, str) for v in value):
            raise Unsupported(f"writing a list into {vr}")
        value = "\\".join(value)
    if vr in NUMBER_STRING_VRS and isinstance(value, (int, float)) and not isinstance(value, bool):
        value = _number_string(value, vr)
    if not isinstance(value, str) or vr not in STRING_VRS:
        raise Unsupported(f"writing a {type(value).__name__} into {vr}")
    return _encode_text(value, vr, codec)


def _encode_text(value: str, vr: str, codec: str | None) -> bytes:
    if vr == "AE" and "\\" in value:
        raise Unsupported("AE value with several parts")
    codec = _text_codec(vr, codec)
    try:
        data = value.encode(codec or "ascii")
    except UnicodeEncodeError:
        # (pydicom warns, and writes '?' for what the character set cannot hold)
        raise Unsupported("a value to write its character set cannot hold" if codec
                          else "a non-ASCII value to write") from None
    if len(data) % 2:
        data += b"\0" if vr == "UI" else b" "
    return data


def held(value: object, vr: str) -> object:
    """A new value as pydicom holds it once assigned (what the deid log reads back): a number
    given to DS or IS becomes the text it is written as."""
    if vr in NUMBER_STRING_VRS and isinstance(value, (int, float)) and not isinstance(value, bool):
        return _number_string(value, vr)
    return value


def _number_string(number: int | float, vr: str) -> str:
    """What pydicom's DSfloat and IS write for a number given as such (not as text)."""
    if vr == "IS":
        if type(number) is not int:
            raise Unsupported("writing a float into IS")
        return str(number)
    text = repr(float(number))  # DSfloat(0) is written "0.0"
    if len(text) > 16 or "e" in text or "n" in text:
        raise Unsupported("a number that does not fit a DS")
    return text


def _unpack_numbers(raw: bytes, vr: str):
    """A binary numeric value as pydicom reads it: None when empty, a number, or a list."""
    if not raw:
        return None
    code = BINARY_NUMBERS[vr]
    size = struct.calcsize("<" + code)  # standard sizes: a native "l" is 8 bytes here
    if len(raw) % size:
        raise Unsupported(f"a {vr} value of {len(raw)} bytes")
    numbers = list(struct.unpack(f"<{len(raw) // size}{code}", raw))
    return numbers[0] if len(numbers) == 1 else numbers


def _pack_numbers(value: object, vr: str) -> bytes:
    """A binary number (or list of them) packed as pydicom's write_numbers packs it; ''
    (replace-with '') is an empty value."""
    if value == "" or value is None:
        return b""
    numbers = list(value) if isinstance(value, (list, tuple)) else [value]
    code = BINARY_NUMBERS[vr]
    for number in numbers:
        if isinstance(number, bool) or not isinstance(number, (int, float)) or \
                (code not in "fd" and type(number) is not int):
            raise Unsupported(f"writing a {type(number).__name__} into {vr}")
    try:
        return struct.pack(f"<{len(numbers)}{code}", *numbers)
    except struct.error:
        raise Unsupported(f"a number out of range for {vr}") from None


def header(tag: int, vr: str, length: int) -> bytes:
    """An explicit VR little endian element header."""
    if vr in LONG_HEADER_VRS:
        return struct.pack("<HH2sHL", tag >> 16, tag & 0xFFFF, vr.encode(), 0, length)
    if length > 0xFFFF:
        raise Unsupported(f"value of {tag:08X} too long for a {vr} header")
    return struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr.encode(), length)


def implicit_header(tag: int, vr: str, length: int) -> bytes:
    """An implicit VR little endian element header: the tag and a 4-byte length."""
    return TAG_LENGTH.pack(tag >> 16, tag & 0xFFFF, length)


# --- the walk -------------------------------------------------------------------------------

class _Walk:
    """One file: the buffer, what changed, the values the log and the file meta need."""

    def __init__(self, fast: FastPlan, buffer, limit: int, rng, compat: bool, implicit: bool):
        self.fast = fast
        self.buffer = buffer
        self.limit = limit
        self.implicit = implicit
        if implicit and not fast.sequences:
            raise Unsupported("an Implicit VR file, and a plan compiled without the dictionary's "
                              "sequences (recompile it)")
        # what the walk needs to read and write elements of this file's encoding
        self.sequences = fast.sequences if implicit else None
        self.header = implicit_header if implicit else header
        self.outcomes = fast.implicit_outcomes if implicit else fast.outcomes
        self.actor = Actor(rng, compat, datetime.now())
        self.changed = False
        self.reencode = False  # something pydicom would drop when re-encoding (group lengths)
        self.anchored = False
        # remove-undefined inside items: whether the items walked keep anything, and where the
        # item being walked ends (its private blocks are read ahead to the end)
        self.kept = False
        self.item_stop = limit
        self.charset = b""  # the SpecificCharacterSet element, as stored
        # the codec of the text values of the dataset being walked (TEXT_CODECS), None: ASCII
        self.codec = TEXT_CODECS[""] if fast.charset_stays else None
        self.before: dict[int, object] = {}
        self.private_logged: dict[tuple[int, str, int], int] = {}  # column key → its tag here
        self.repeaters_logged: list[int] = []  # the file's elements repeater columns log
        self.removed: set[int] = set()  # top-level elements removed (not just emptied)
        self.after: dict[int, object] = {}
        # what the C scan needs to write inserts and lanes as catch_up and in_lane would
        self.scan_context = (len(fast.inserts), fast.inserted_runs, implicit, self.after,
                             fast.lanes, self.outcomes, self.actor.compat, _UNCHANGED,
                             self.removed, fast.implicit_vrs, UNKNOWN_VR,
                             fast.plain_sequence_bytes)

    def raw(self, element: Element) -> bytes:
        return bytes(self.buffer[element.value:element.end])

    def raw_element(self, element: Element) -> bytes:
        return bytes(self.buffer[element.start:element.end])

    @staticmethod
    def copy(out: list, start: int, end: int) -> None:
        """Queue a range of the input; adjacent ranges merge into one copy."""
        if out and type(out[-1]) is list and out[-1][1] == start:
            out[-1][1] = end
        else:
            out.append([start, end])

    def join(self, pieces: list) -> bytes:
        return b"".join(bytes(self.buffer[p[0]:p[1]]) if type(p) is list else p
                        for p in pieces)

    def dataset(self, start: int, stop: int, top: bool, out: list, here: tuple = ()) -> None:
        """Walk one dataset (``here``: the tags and item numbers of a nested one).  Most
        elements are "plain" (the plan can neither change nor drop them): those are recognised
        from their header alone and extend the current run of bytes to copy; only the others
        become :class:`Element` values and get looked at."""
        fast = self.fast
        buffer = self.buffer
        creators: dict[tuple[int, int], str] = {}
        inserts = self.pending_inserts(top, here)
        age_pending = top and fast.age is not None
        special = fast.top_special if top else fast.nested_special
        odd_plain = fast.top_odd_plain if top else fast.nested_odd_plain
        keep = fast.keep if top and fast.remove_undefined else None
        enter = fast.enter_sequences
        drop_private, kept_groups = fast.remove_private, fast.kept_groups
        next_stop = self.next_stop(inserts, age_pending)
        path_tags = fast.path_tags
        unpack, unpack_length = SHORT_HEADER.unpack_from, LONG_LENGTH.unpack_from
        run = offset = start
        previous = -1
        implicit, sequences, implicit_vrs = self.implicit, self.sequences, fast.implicit_vrs
        skip_plain = _skip_plain if special is not _EVERY_TAG else None
        top_inserts = inserts if top else None
        lanes = fast.lanes
        outer_stop, self.item_stop = self.item_stop, stop
        while offset < stop:
            if skip_plain is not None:
                # the two tests below (plain, or private to drop), in C, over many elements,
                # and at the top level the inserts catch_up writes and the lanes in_lane
                # passes when their outcome is known
                offset, previous, run, changed, next_stop = skip_plain(
                    buffer, offset, stop, previous, next_stop, special, odd_plain, keep, top,
                    drop_private, kept_groups, run, out, sequences, top_inserts, self.codec,
                    age_pending, self.scan_context)
                self.changed = self.changed or changed
                if offset >= stop:
                    break
            if offset + 8 > stop:
                raise Unsupported(f"truncated element header at byte {offset}")
            if implicit:
                group, number, length = TAG_LENGTH.unpack_from(buffer, offset)
            else:
                group, number, vr, short = unpack(buffer, offset)
            tag = group << 16 | number
            if tag <= previous:
                # pydicom writes elements sorted; a file out of order is rewritten by it
                raise Unsupported(f"element {tag:08X} out of order")
            if group < 0x0008 and top:
                raise Unsupported(f"command or file meta element {tag:08X} in the dataset")
            previous = tag
            if implicit:
                value = offset + 8
                if length == UNDEFINED_LENGTH:
                    vr, end = b"SQ", 0  # read_element decides
                else:
                    vr, end = implicit_vrs.get(tag, UNKNOWN_VR), value + length
            elif vr in LONG_VRS:
                if offset + 12 > stop:
                    raise Unsupported(f"truncated element header at byte {offset}")
                if short:
                    raise Unsupported(f"reserved bytes set in the header of {tag:08X}")
                length = unpack_length(buffer, offset + 8)[0]
                value = offset + 12
                end = value + length if length != UNDEFINED_LENGTH else 0
            elif vr.isalpha() and vr.isupper():
                value = offset + 8
                end = value + short
            else:
                raise Unsupported(f"not an explicit VR at byte {offset} (tag {tag:08X})")
            if end > stop:
                raise Unsupported(f"element {tag:08X} runs past the end of the file")
            if vr == b"UN" and not implicit and may_hold_items(buffer, value, length):
                # (in an implicit VR file UN means only that the plan gives no VR: pydicom
                # reads such an element as a sequence when its dictionary says so, and the
                # walk knows those from the plan)
                # pydicom reads such a value as a sequence, applies the item rules to it and
                # writes it as SQ, explicit VR; the walk would copy it as it stands
                raise Unsupported(f"{tag:08X} stored as UN may be a sequence of implicit VR "
                                  "items")
            if end and vr != b"SQ" and group != 0xFFFE and (number or group <= 6):
                if (tag not in special and (odd_plain or not group & 1)
                        and (keep is None or tag in keep)):
                    if tag >= next_stop and tag != PATIENT_AGE:
                        run, age_pending, next_stop = self.before_plain(
                            tag, top, inserts, age_pending, out, run, offset)
                    if tag < next_stop:
                        offset = end
                        continue
                if group & 1 and drop_private and group not in kept_groups and \
                        tag not in special:
                    # remove-private-tags and nothing kept in this group: drop it unseen.
                    if run < offset:
                        self.copy(out, run, offset)
                    offset = run = end
                    self.changed = True
                    continue
            if run < offset:
                self.copy(out, run, offset)
            if end and vr != b"SQ" and group != 0xFFFE and not (end - value) & 1:
                element = Element(tag, vr, offset, value, end - value, end)
            else:  # sequences (read_element bounds their depth), and what it reports
                element = read_element(buffer, offset, stop, sequences)
            offset = run = element.end
            if not number and group > 6:
                # pydicom never writes the retired group lengths (PS3.5 7.2): whenever it
                # re-encodes a dataset, they are gone.
                self.reencode = True
                continue
            if tag >= next_stop:
                age_pending, written = self.catch_up(tag, element, inserts, age_pending, out) \
                    if top else self.item_catch_up(tag, inserts, out)
                next_stop = self.next_stop(inserts, age_pending)
                if written:
                    continue
            lane = lanes.get(tag) if top else None
            if lane is not None and vr != b"SQ":
                self.in_lane(element, lane, out)
                continue
            if element.vr == b"SQ" and not enter and tag not in fast.public and keep is None \
                    and tag not in path_tags and not fast.remove_undefined:
                self.copy_sequence(element, out)
                continue
            self.element(element, top, creators, out, here)
        self.item_stop = outer_stop
        if run < offset:
            self.copy(out, run, offset)
        self.catch_up(_END, None, inserts, age_pending, out) if top else \
            self.item_catch_up(_END, inserts, out)

    def before_plain(self, tag: int, top: bool, inserts: list, age_pending: bool, out: list,
                     run: int, offset: int) -> tuple[int, bool, int]:
        """At a plain element (at ``offset``) past an insert point, what is inserted before it;
        the element then starts the next run.  Returns the run's start, whether the age is
        still to come, and the next stop.  (A Penn BSC profile stops ~20 times a file so:
        making an Element and looking up its actions each time was 8 % of the walk.)"""
        if run < offset:
            self.copy(out, run, offset)
        if top:
            age_pending = self.catch_up(tag, None, inserts, age_pending, out)[0]
        else:
            self.item_catch_up(tag, inserts, out)
        return offset, age_pending, self.next_stop(inserts, age_pending)

    def pending_inserts(self, top: bool, here: tuple) -> list:
        """(tag, what) the dataset's walk inserts where ``tag`` is absent: the plan's inserts
        at the top level, the nested inserts' elements in an item."""
        if top:
            return list(self.fast.inserts)
        if self.fast.nested_inserts:
            return list(self.fast.item_inserts(here, self.implicit))
        return []

    def item_catch_up(self, tag: int, inserts: list, out: list) -> tuple[bool, bool]:
        """Write what nested inserts add to an item before its stored element ``tag``
        (returns as catch_up does: no age inside items, the stored element still to do)."""
        while inserts and inserts[0][0] < tag:
            out.append(inserts.pop(0)[1])
            self.changed = True
        if inserts and inserts[0][0] == tag:
            inserts.pop(0)  # present: the rules that name it act on it where it is
        return False, False

    def in_lane(self, element: Element, lane: tuple, out: list) -> None:
        """A top-level attribute the plan transforms and nothing else watches: the outcome of
        its value is usually known already (series share values; the C scan passes those)."""
        actions, removes, chain, constants = lane
        if removes:
            self.drop(element.tag, True)
            return
        self.transform(element, actions, True, out, chain)
        self.made_constant(element, constants, actions)

    def made_constant(self, element: Element, constants: dict | None, actions: list) -> None:
        """Once a constant lane's element has been through the walk: its constant's outcome
        for this VR, encoding and character set, if not made yet (``constants``: the lane's
        table, None for a lane that is not constant)."""
        if constants is not None:
            key = (element.vr, self.codec, self.actor.compat, self.implicit)
            if key not in constants:
                constants[key] = self.constant_outcome(element, actions)

    def constant_outcome(self, element: Element, actions: list) -> tuple | None:
        """What a constant lane's chain writes for ``element`` whatever its value (this
        element's VR, this file's encoding and character set), for the C scan to use on values
        it has not met: (its bytes, its value, its text as ASCII bytes or None if it equals
        no ASCII text a file can hold).  None when the walk cannot write it."""
        vr = element.vr.decode()
        _, value = self.run_chain(actions, True, None, vr)
        try:
            data = encode(value, vr, self.codec)
            outcome = self.header(element.tag, vr, len(data)) + data, held(value, vr)
        except Unsupported:
            return None
        return *outcome, value.encode() if type(value) is str and value.isascii() else None

    def catch_up(self, tag: int, element: Element | None, inserts: list, age_pending: bool,
                 out: list) -> tuple[bool, bool]:
        """Write, in ascending tag order, what the Dataset path adds before the stored element
        ``tag`` (``_END``: the end of the dataset): the patient age and the replace-with
        inserts of absent elements.  Returns whether the age is still to come, and whether the
        stored element itself was written here (a PatientAge the age replaces)."""
        while True:
            insert_tag = inserts[0][0] if inserts else _END
            if age_pending and PATIENT_AGE <= tag and PATIENT_AGE <= insert_tag:
                age_pending = False
                if tag == PATIENT_AGE:
                    if insert_tag == tag:
                        inserts.pop(0)
                    self.patient_age(element, out)
                    return False, True
                if self.patient_age(None, out) and insert_tag == PATIENT_AGE:
                    inserts.pop(0)  # the age computed is PatientAge: nothing to insert
                continue
            if insert_tag < tag:
                limit = PATIENT_AGE if age_pending and PATIENT_AGE < tag else tag
                count = 1
                while count < len(inserts) and inserts[count][0] < limit:
                    count += 1
                self.insert_run(len(self.fast.inserts) - len(inserts), count, out)
                del inserts[:count]
                continue
            if inserts and insert_tag == tag:
                inserts.pop(0)  # present: its rule changes it where it is
            return age_pending, False

    @staticmethod
    def next_stop(inserts: list, age_pending: bool) -> int:
        """The first tag at which the walk must stop to insert something."""
        first = inserts[0][0] if inserts else _END
        return PATIENT_AGE if age_pending and PATIENT_AGE < first else first

    def element(self, element: Element, top: bool, creators: dict, out: list,
                here: tuple = ()) -> None:
        if top and element.tag in self.fast.logged_roots:
            self.logged_root(element, creators, out)
        else:
            self.act(element, top, creators, out, here)

    def logged_root(self, element: Element, creators: dict, out: list) -> None:
        """A top-level element nested deid-log columns start in: its bytes before and after
        the walk acts on it, from which :meth:`path_cell` reads the cells."""
        key = ("raw", element.tag)
        self.before[key] = self.raw_element(element)
        out.append(b"")  # so that no copied range before it merges with its own
        mark = len(out)
        self.act(element, True, creators, out)
        if len(out) > mark:
            self.after[key] = self.join(out[mark:])
        else:  # removed
            self.after.pop(key, None)

    def path_cell(self, raw: bytes | None, steps: list) -> str:
        """A nested path column's cell, as the Dataset path logs it: the value at the path, or
        with ``*`` items a JSON object {hex path: value} of every match ('' or {} when none)."""
        found: list = []
        if raw is not None:
            root = read_element(raw, 0, len(raw), self.sequences)
            self.path_values(raw, root, steps, 1, f"{root.tag:08x}", found)
        if "*" in steps[1::2]:
            return json.dumps(dict(found))
        return _log_cell(found[0][1]) if found else ""

    def path_values(self, raw: bytes, element: Element, steps: list, depth: int, place: str,
                    found: list) -> None:
        """(hex path, value as text) of the elements at ``steps[depth:]`` in the sequence
        ``element`` of ``raw``, in the order the Dataset path walks them."""
        if element.vr != b"SQ":
            raise Unsupported(f"a nested deid-log column through {element.tag:08X}, not a "
                              "sequence here")
        for index, (_, value, length, end) in enumerate(items(raw, element, len(raw),
                                                              self.implicit)):
            if steps[depth] != "*" and int(steps[depth]) != index:
                continue
            offset, stop = value, end - 8 if length == UNDEFINED_LENGTH else value + length
            while offset < stop:
                inner = read_element(raw, offset, stop, self.sequences)
                if inner.tag == steps[depth + 1]:
                    at = f"{place}.{index}.{inner.tag:08x}"
                    if depth + 2 < len(steps):
                        self.path_values(raw, inner, steps, depth + 2, at, found)
                    else:
                        found.append((at, transforms.value_as_text(self.nested_value(raw,
                                                                                     inner))))
                    break
                offset = inner.end

    def nested_value(self, raw: bytes, element: Element):
        """A nested element's value as pydicom reads it (text and numbers only)."""
        vr = self.fast.implicit_vrs.get(element.tag, UNKNOWN_VR) if self.implicit \
            else element.vr
        vr = vr.decode()
        if vr not in STRING_VRS and vr not in BINARY_NUMBERS:
            raise Unsupported(f"logging a nested {vr} value")
        return decode(bytes(raw[element.value:element.end]), vr)

    def act(self, element: Element, top: bool, creators: dict, out: list,
            here: tuple = ()) -> None:
        """What the plan does to an element the walk looked at."""
        fast = self.fast
        tag = element.tag
        group = tag >> 16
        if top and tag in ANCHORS:
            self.anchored = True
        if top and tag & REPEATER_MASK in fast.logged_repeater_bases:
            self.before[tag] = self.after[tag] = self.read(element)
            self.repeaters_logged.append(tag)
        if top and tag in fast.tracked:
            value = self.read(element)
            self.before[tag] = value
            self.after[tag] = value
            if tag == SPECIFIC_CHARACTER_SET:
                self.charset = self.raw_element(element)
                if not set(value if isinstance(value, list) else [value]) \
                        <= ASCII_SAFE_CHARSETS:
                    raise Unsupported(f"character set {value!r}")
                self.codec = self.codec_of(value)
        elif tag == SPECIFIC_CHARACTER_SET and not top:  # for the rest of this item
            self.codec = self.codec_of(decode(self.raw(element), "CS"))
        key = None
        if group & 1:
            if top and group in fast.private_insert_groups:
                raise Unsupported(f"replace-with inserting into private group {group:04X}, "
                                  "which the file has")
            number = tag & 0xFFFF
            if 0x0010 <= number <= 0x00FF:
                creators[(group, number)] = self.raw(element).decode("latin-1").rstrip("\0 ")
            elif number >= 0x1000:
                creator = creators.get((group, number >> 8))
                key = (group, creator, number & 0xFF) if creator is not None else None
                if top and key in fast.logged_private_keys:
                    self.logged_private(element, key, creators)
            if fast.remove_private and not fast.dispatch.private_kept(
                    tag, key, creators.get((group, number))):
                self.drop(tag, top)
                return
        if fast.remove_undefined:
            creator = group & 1 and 0x0010 <= tag & 0xFFFF <= 0x00FF
            if creator:
                keeps = self.block_keeps(element, creators[(group, tag & 0xFFFF)], top, here)
                named = fast.dispatch.creator_defined(tag, keeps) if top else keeps
            else:
                named = fast.named(tag, key, top, here)
            if element.vr == b"SQ" and element.value != element.end and \
                    (named or fast.recurse or fast.patterns or not top):
                self.prune(element, named, key, top, creators, out, here)
                return
            if not named:
                self.drop(tag, top)
                return
            if not top and not creator:
                self.kept = True
        actions, removes, chain = fast.actions(tag, key, top, here)
        if element.vr == b"SQ":
            self.sequence(element, actions, top, out, here + (tag,))
            return
        if not actions:
            self.copy(out, element.start, element.end)
            return
        if removes:
            self.drop(tag, top)
            return
        self.transform(element, actions, top, out, chain)

    def logged_private(self, element: Element, key: tuple, creators: dict) -> None:
        """A private element a deid-log column names: its value before and after, if its
        block is the first of its creator in the group (the one the column reads)."""
        group, creator, _ = key
        blocks = [block for (in_group, block), name in creators.items()
                  if in_group == group and name == creator]
        if len(blocks) > 1:
            raise Unsupported(f"logging a private element of {creator!r}, which has two blocks")
        if blocks == [element.tag >> 8 & 0xFF]:
            entry = self.fast.private.get(key)
            vr = entry.vr if entry is not None else None
            if self.implicit and vr and len(vr) == 2:
                # pydicom reads it with the VR of its private dictionary, as the plan has it
                element = element._replace(vr=vr.encode())
            self.private_logged[key] = element.tag
            self.before[element.tag] = self.after[element.tag] = self.read(element)

    def codec_of(self, charset) -> str | None:
        """The codec of a dataset's text, given its SpecificCharacterSet value."""
        return TEXT_CODECS.get(charset) if self.fast.charset_stays and type(charset) is str \
            else None

    def block_keeps(self, creator_element: Element, creator: str, top: bool,
                    here: tuple) -> bool:
        """Does remove-undefined keep an element of this creator's block (in the item being
        walked, unless ``top``)?  The block's elements follow their creator in the group:
        read their headers ahead."""
        group, block = creator_element.tag >> 16, creator_element.tag & 0xFF
        offset, stop = creator_element.end, self.limit if top else self.item_stop
        while offset + 8 <= stop:
            following = read_element(self.buffer, offset, stop, self.sequences)
            if following.tag >> 16 != group:
                return False
            number = following.tag & 0xFFFF
            key = (group, creator, number & 0xFF)
            if number >> 8 == block and not (
                    self.fast.remove_private
                    and not self.fast.dispatch.private_kept(following.tag, key, None)):
                # (remove-private-tags has taken what it does not keep before remove-undefined
                # looks: such an element keeps nothing)
                if self.fast.named(following.tag, key, top, here):
                    return True
                if following.vr == b"SQ" and following.value != following.end and \
                        (self.fast.recurse or not top):
                    # kept if anything inside it is: the block would keep its creator then
                    raise Unsupported("remove-undefined and a private sequence no rule names")
            offset = following.end
        return False

    def prune(self, element: Element, named: bool, key, top: bool, creators: dict,
              out: list, here: tuple) -> None:
        """A sequence under remove-undefined, as the Dataset path prunes it before any rule
        acts: inside its items only what a rule names stays (recurse-sequence names; without
        it, nothing: a sequence named plainly keeps its items, emptied), and the sequence
        stays if a rule names it or anything left inside it.  Its own rules act after."""
        tag = element.tag
        if tag >> 16 & 1 and not named:
            raise Unsupported("remove-undefined and a private sequence no rule names")
        actions = self.fast.actions(tag, key, top, here)[0]
        inner: list = []
        kept, self.kept = self.kept, False
        self.sequence(element, actions, top, inner, here + (tag,))
        inside, self.kept = self.kept, kept
        if not (named or inside):
            self.drop(tag, top)
            return
        if not top:
            self.kept = True
        out.extend(inner)

    def drop(self, tag: int, top: bool) -> None:
        self.changed = True
        if top:
            self.after[tag] = None
            self.removed.add(tag)

    def read(self, element: Element):
        vr = element.vr.decode()
        if vr == "SQ":
            if element.value == element.end or (element.length == UNDEFINED_LENGTH and
                                                element.end - element.value == 8):
                return ""  # Flywheel logs an empty sequence as ''
            key = (self.charset, self.raw_element(element), self.implicit)
            cell = self.fast.sequence_cells.get(key)
            if cell is None:
                from .dataset import sequence_log_cell  # pydicom, for the files that need it

                cell = sequence_log_cell(key[0] + key[1], element.tag, self.implicit)
                if len(key[1]) <= _LONGEST_SEQUENCE_REUSED:
                    _bounded(self.fast.sequence_cells, _SEQUENCES_REUSED)[key] = cell
            return cell
        if vr not in STRING_VRS and vr not in BINARY_NUMBERS:
            raise Unsupported(f"logging or reading a {vr} value")
        return decode(self.raw(element), vr, self.codec)

    def sequence(self, element: Element, actions: list, top: bool, out: list,
                 path: tuple) -> None:
        """A sequence at ``path`` (its tags and item numbers): its own actions, then the
        rules inside its items, then the items nested inserts add."""
        fast = self.fast
        wanted = fast.items_wanted(path) if fast.nested_inserts else 0
        emptied = False
        for action in actions:  # as the Dataset path acts on a sequence
            if action.op == "remove":
                if wanted:
                    raise Unsupported("a sequence removed, then made again by nested inserts")
                self.drop(element.tag, top)
                return
            if action.op != "replace" or action.args.get("value") != "":
                raise Unsupported(f"{action.op} on sequence {element.tag:08X}")
            emptied = True  # replace-with '' empties a sequence
        if emptied and wanted:
            raise Unsupported("a sequence emptied, then filled by nested inserts")
        if emptied:
            if top:
                self.after[element.tag] = ""
                if element.tag in fast.lanes:  # the C scan empties the next ones itself
                    self.made_constant(element, fast.lanes[element.tag][3], actions)
            if element.length == UNDEFINED_LENGTH:
                if element.end - element.value > 8:
                    out.append(self.header(element.tag, "SQ", UNDEFINED_LENGTH)
                               + delimiter(SEQUENCE_END))
                    self.changed = True
                    return
            elif element.length:
                out.append(self.header(element.tag, "SQ", 0))
                self.changed = True
                return
            self.copy(out, element.start, element.end)
            return
        if fast.patterns and not fast.nested_patterns:
            raise Unsupported("regex rules inside sequences, and a plan compiled without the "
                              "dictionary's keywords (recompile it)")
        if not (fast.enter_sequences or fast.remove_undefined
                or fast.paths and fast.reaches_into(path)) or \
                (element.value == element.end and not wanted):
            self.copy_sequence(element, out)
            return
        before, before_reencode = self.changed, self.reencode
        self.changed = self.reencode = False
        pieces = []
        for index, (start, value, length, end) in enumerate(items(
                self.buffer, element, self.limit, self.implicit)):
            inner: list = []
            stop = end - 8 if length == UNDEFINED_LENGTH else value + length
            codec = self.codec  # an item's own SpecificCharacterSet holds inside it only
            self.dataset(value, stop, False, inner, path + (index,))
            self.codec = codec
            pieces.append((length, inner))
        for index in range(len(pieces), wanted):
            # pydicom writes the new items (Datasets) with defined lengths
            pieces.append((None, [fast.new_item(path + (index,), self.implicit)]))
            self.changed = True
        inner_changed = self.changed or self.reencode
        if inner_changed and top and element.tag in self.fast.tracked:
            # the log would show its items as pydicom holds them once changed
            raise Unsupported("logging a sequence changed inside")
        self.changed = before or self.changed
        self.reencode = before_reencode
        if not inner_changed:
            self.copy(out, element.start, element.end)  # its items were walked: no UN check
            return
        body = []
        for length, inner in pieces:
            content = self.join(inner)
            if length is None:  # made whole by nested inserts
                body.append(content)
            elif length == UNDEFINED_LENGTH:
                body.append(delimiter(ITEM, UNDEFINED_LENGTH) + content
                            + delimiter(ITEM_END))
            else:
                body.append(delimiter(ITEM, len(content)) + content)
        data = b"".join(body)
        if element.length == UNDEFINED_LENGTH:
            out.append(self.header(element.tag, "SQ", UNDEFINED_LENGTH) + data
                       + delimiter(SEQUENCE_END))
        else:
            out.append(self.header(element.tag, "SQ", len(data)) + data)

    def copy_sequence(self, element: Element, out: list) -> None:
        """Copy a sequence the plan does not enter, after making sure pydicom would not
        rewrite part of it (see stream.check_no_un_sequence)."""
        if not self.implicit:  # an implicit VR file has no VRs, UN or other
            check_no_un_sequence(self.buffer, element, self.limit)
        self.copy(out, element.start, element.end)

    def run_chain(self, actions, present: bool, value, vr: str):
        """The shared action semantics; a value the Dataset path would report as failing
        goes to the Dataset path, so the message is the same on both."""
        try:
            return self.actor.run(actions, present, value, vr)
        except transforms.TransformError:
            raise Unsupported("a value the Dataset path reports") from None

    def transform(self, element: Element, actions: list, top: bool, out: list,
                  chain: tuple | None) -> None:
        tag = element.tag
        raw = self.raw(element)
        outcomes = self.outcomes
        key = (tag, element.vr, raw, self.actor.compat, self.codec, chain) \
            if len(raw) <= _LONGEST_REUSED and not tag >> 16 & 1 and chain is not None \
            else None
        outcome = outcomes.get(key) if key is not None else None
        if outcome is None:
            outcome = self._transformed(element, actions, element.vr.decode(), raw)
            if key is not None:
                _bounded(outcomes)[key] = outcome
        self.emit(element, outcome, top, out)

    def emit(self, element: Element, outcome: tuple, top: bool, out: list) -> None:
        """Queue a transformed element's bytes (see _transformed) and record its new value."""
        piece, value = outcome
        if top:
            self.after[element.tag] = list(value) if type(value) is list else value
        if piece is _UNCHANGED:
            self.copy(out, element.start, element.end)
        else:
            if piece is not None:
                out.append(piece)
            elif top:
                self.removed.add(element.tag)
            self.changed = True

    def _transformed(self, element: Element, actions: list, vr: str, raw: bytes):
        """(the element's new bytes, None if removed or _UNCHANGED; its new value)."""
        original = decode(raw, vr, self.codec)
        present, value = self.run_chain(actions, True, original, vr)
        if not present:
            return None, None
        if transforms.value_as_text(value) == transforms.value_as_text(original) and \
                type(value) is type(original):
            return _UNCHANGED, value
        data = encode(value, vr, self.codec)
        return self.header(element.tag, vr, len(data)) + data, held(value, vr)

    def insert_run(self, first: int, count: int, out: list) -> None:
        """Insert ``count`` of the plan's inserts from the ``first``: absent elements with no
        stored element between them, so their bytes are joined once per plan and encoding."""
        piece, values = self.fast.inserted_run(first, count, self.implicit, self.codec)
        if piece:
            out.append(piece)
            self.changed = True
        self.after.update(values)

    def patient_age(self, element: Element | None, out: list) -> bool:
        """Mirrors the executor: age from the original dates, set before remove-undefined.
        Returns whether an age was computed (then the file has a PatientAge to act on)."""
        age = self.fast.age
        birth, study = self.before.get(PATIENT_BIRTH_DATE), self.before.get(STUDY_DATE)
        value = None
        if birth is not None and study is not None:
            key = (birth, study) if type(birth) is str and type(study) is str else None
            value = self.fast.ages.get(key, _UNCHANGED) if key else _UNCHANGED
            if value is _UNCHANGED:
                value = transforms.patient_age(birth, study, age.date_format, age.units)
                if key:
                    _bounded(self.fast.ages)[key] = value
        if value is None:
            if element is not None:
                self.element(element, True, {}, out)
            return False
        if element is not None and decode(self.raw(element), "AS") == value:
            self.element(element, True, {}, out)
            return True
        self.changed = True
        if element is not None and PATIENT_AGE in self.fast.tracked:  # a log column's before
            self.before[PATIENT_AGE] = self.read(element)
        if self.fast.remove_undefined and not self.fast.dispatch.defined(PATIENT_AGE, None):
            self.after[PATIENT_AGE] = None
            return True
        present, new = self.run_chain(self.fast.dispatch.actions_for(PATIENT_AGE, None, True),
                                      True, value, "AS")
        self.after[PATIENT_AGE] = new if present else None
        if present:
            data = encode(new, "AS")
            out.append(self.header(PATIENT_AGE, "AS", len(data)) + data)
        return True


def fast_plan(plan: Plan, log: bool) -> FastPlan:
    """The FastPlan of ``plan``, built once per process."""
    return derived(plan, (FastPlan, log), lambda: FastPlan(plan, log))


def deidentify_fast(fast: FastPlan, source: str, output, *, rng, compat_flywheel=False,
                    opened: Input | None = None):
    """De-identify ``source`` into the binary file object ``output``; raises Unsupported (having
    written nothing) when the file must go through the Dataset path.  ``opened``: the input,
    when the caller has opened it already (:mod:`deidc.execute.inputs`)."""
    if fast.unsupported:
        raise Unsupported(fast.unsupported)
    if opened is None:
        with Input(source) as opened:
            return deidentify_fast(fast, source, output, rng=rng,
                                   compat_flywheel=compat_flywheel, opened=opened)
    # a mapped file's long runs are copied from its descriptor; a file read whole is in memory
    descriptor = opened.descriptor if opened.mapped else None
    try:
        return _walk_file(fast, descriptor, opened.data, len(opened.data), output, rng,
                          compat_flywheel)
    except (struct.error, IndexError, UnicodeError) as exc:
        # malformed structure the walk did not foresee: the Dataset path decides
        raise Unsupported(f"malformed file ({exc.__class__.__name__})") from None


def _walk_file(fast, descriptor, buffer, size, output, rng, compat):
    layout = read_layout(buffer, size)
    walk = _Walk(fast, buffer, size, rng, compat, layout.transfer_syntax == IMPLICIT_LITTLE)
    body: list = []
    walk.dataset(layout.body, size, True, body)
    if not walk.anchored:
        raise Unsupported("no SOP Class or SOP Instance UID: is this DICOM?")
    meta = _meta(walk, layout)
    log_before, log_after = _log_cells(walk, False), _log_cells(walk, True)
    if not walk.changed:
        _copy_range(descriptor, buffer, output, 0, size)
        return FileOutcome(False, log_before, log_after)
    if descriptor is None:  # a small file, in memory: one write
        view = memoryview(buffer)
        output.write(b"".join([view[:132], meta] + [
            view[piece[0]:piece[1]] if type(piece) is list else piece for piece in body]))
        return FileOutcome(True, log_before, log_after)
    output.write(bytes(buffer[:132]))
    output.write(meta)
    for piece in body:
        if type(piece) is list:
            _copy_range(descriptor, buffer, output, piece[0], piece[1])
        else:
            output.write(piece)
    return FileOutcome(True, log_before, log_after)


def _log_cells(walk: _Walk, after: bool) -> dict:
    """The deid log's cells of the file, before the walk acted on it or ``after``."""
    fast = walk.fast
    values = walk.after if after else walk.before
    cells = {title: _log_cell(values.get(tag)) for title, tag in fast.logged}
    for title, steps in fast.logged_paths:
        cells[title] = walk.path_cell(values.get(("raw", steps[0])), steps)
    for title, key in fast.logged_private:
        if key[0] in fast.private_insert_groups:  # a group the file lacks: what is inserted
            cells[title] = _log_cell(fast.private_inserted.get(key)) if after else ""
            continue
        tag = walk.private_logged.get(key)
        cells[title] = _log_cell(values.get(tag)) if tag is not None else ""
    for title, base in fast.logged_repeaters:
        cells[title] = json.dumps({
            f"{tag:08x}": transforms.value_as_text(values.get(tag))
            for tag in walk.repeaters_logged if tag & REPEATER_MASK == base
            and not (after and tag in walk.removed)})
    cells.update((title, "") for title in fast.logged_blank)
    return cells


def _log_cell(value) -> str:
    return transforms.value_as_text(value) or "" if value is not None else ""


def _copy_range(source: int | None, buffer, output, start: int, end: int) -> None:
    """Copy input bytes to the output; long runs (pixel data) go file to file without passing
    through Python objects, in a fixed-size buffer whatever the file size.

    ``copy_file_range`` is the fastest way when source and target offsets sit at the same place
    in a page, but the kernel copies misaligned ranges (the usual case: the header before the
    pixel data changed length) at about half the speed of reading and writing them through one
    reused 1 MiB buffer, so that is used then."""
    if end - start >= KERNEL_COPY and source is not None and hasattr(output, "fileno"):
        try:
            target = output.fileno()
        except (OSError, ValueError):
            target = None
        if target is not None:
            output.flush()
            if (os.lseek(target, 0, os.SEEK_CUR) - start) % mmap.PAGESIZE == 0:
                start = _kernel_copy(source, target, start, end)
            else:
                start = _buffered_copy(source, target, start, end)
            if start == end:
                return
            if os.fstat(source).st_size < end:  # read before the map would fault (SIGBUS)
                raise InputChanged("it was truncated while it was read")
    output.write(buffer[start:end])


def _kernel_copy(source: int, target: int, start: int, end: int) -> int:
    """copy_file_range from ``start``; returns where it stopped (``end`` unless it could not)."""
    while start < end:
        copied = os.copy_file_range(source, target, end - start, start)
        if copied <= 0:
            break
        start += copied
    return start


_COPY_BUFFER: list[bytearray] = []  # one per process, made at the first long copy


def _buffered_copy(source: int, target: int, start: int, end: int) -> int:
    if not _COPY_BUFFER:
        _COPY_BUFFER.append(bytearray(KERNEL_COPY))
    chunk = _COPY_BUFFER[0]
    view = memoryview(chunk)
    while start < end:
        read = os.preadv(source, [view[:min(len(chunk), end - start)]], start)
        if read <= 0:
            break
        written = 0
        while written < read:
            written += os.write(target, view[written:read])
        start += read
    return start


def _meta(walk: _Walk, layout) -> bytes:
    """The file meta group as pydicom writes it: rules on meta elements applied,
    MediaStorageSOPInstanceUID following SOPInstanceUID, the group length recomputed."""
    fast = walk.fast
    buffer = walk.buffer
    original_sop = walk.before.get(SOP_INSTANCE_UID)
    new_sop = walk.after.get(SOP_INSTANCE_UID, original_sop) if original_sop is not None \
        else None
    pieces = []
    has_length = False
    tags = [element.tag for element in layout.meta]
    if tags != sorted(set(tags)):
        raise Unsupported("file meta elements out of order")
    if not fast.meta_entries and not fast.logged_meta:
        stored = _stored_meta(walk, layout, original_sop, new_sop)
        if stored is not None:
            return stored
    for element in layout.meta:
        tag = element.tag
        if tag == META_GROUP_LENGTH:
            has_length = True
            continue
        entry = fast.meta_entries.get(tag)
        raw = buffer[element.start:element.end]
        if entry is None and tag != MEDIA_STORAGE_SOP_INSTANCE_UID:
            pieces.append((tag, raw))
            continue
        vr = element.vr.decode()
        value = None
        present = True
        changed = False
        if entry is not None:
            original = decode(bytes(buffer[element.value:element.end]), vr)
            present, value = walk.run_chain(list(entry.actions), True, original, vr)
            changed = not present or transforms.value_as_text(value) != \
                transforms.value_as_text(original)
        if tag == MEDIA_STORAGE_SOP_INSTANCE_UID and fast.plan.policy.sync_media_storage \
                and original_sop is not None:
            current = value if changed else decode(bytes(buffer[element.value:element.end]), vr)
            if new_sop is None:
                present, changed = False, True
            elif transforms.value_as_text(current) != transforms.value_as_text(new_sop) or \
                    (changed and present):
                present, value, changed = True, new_sop, True
        if not present:
            walk.changed = True
            continue
        if changed:
            data = encode(value, vr)
            pieces.append((tag, header(tag, vr, len(data)) + data))
            walk.changed = True
        else:
            pieces.append((tag, raw))
    for tag in sorted(fast.meta_inserts - set(tags)):
        # as Flywheel: replace-with inserts into the file meta too
        entry = fast.meta_entries[tag]
        present, value = walk.run_chain(list(entry.actions), False, None, entry.vr or "")
        if present:
            if not entry.vr or entry.vr not in INSERTABLE:
                raise Unsupported(f"inserting a {entry.vr or 'unknown'} element")
            data = encode(value, entry.vr)
            pieces.append((tag, header(tag, entry.vr, len(data)) + data))
            walk.changed = True
    pieces.sort(key=lambda piece: piece[0])
    for element in layout.meta:
        if element.tag in fast.logged_meta:
            walk.before[element.tag] = decode(bytes(buffer[element.value:element.end]),
                                              element.vr.decode())
    for tag, piece in pieces:
        if tag in fast.logged_meta:
            written = read_element(piece, 0, len(piece))
            walk.after[tag] = decode(bytes(piece[written.value:]), written.vr.decode())
    content = b"".join(piece for _, piece in pieces)
    if has_length:
        content = header(META_GROUP_LENGTH, "UL", 4) + LONG_LENGTH.pack(len(content)) + content
    return content


def _stored_meta(walk: _Walk, layout, original_sop, new_sop) -> bytes | None:
    """The file meta group as stored, if :func:`_meta` would give the same bytes: called when
    no rule or log column names a meta element, so only MediaStorageSOPInstanceUID may
    change (it follows SOPInstanceUID) and the group length be recomputed.  None otherwise.
    Most files are such, and this spares them building the group piece by piece."""
    buffer = walk.buffer
    meta = layout.meta
    if walk.fast.plan.policy.sync_media_storage and original_sop is not None:
        for element in meta:
            if element.tag == MEDIA_STORAGE_SOP_INSTANCE_UID:
                stored = decode(bytes(buffer[element.value:element.end]), element.vr.decode())
                if new_sop is None or \
                        transforms.value_as_text(stored) != transforms.value_as_text(new_sop):
                    return None
    if meta and meta[0].tag == META_GROUP_LENGTH and \
            bytes(buffer[meta[0].start:meta[0].end]) != header(META_GROUP_LENGTH, "UL", 4) + \
            LONG_LENGTH.pack(layout.body - meta[0].end):
        return None
    return bytes(buffer[132:layout.body])
