"""The Dataset path: Plan × pydicom Dataset → Dataset, and one file → one output stream.

Order of work is Flywheel's (flywheel-reference.md §6): remove private elements, compute the
patient age from the original dates, remove undefined elements (inside the sequences that stay,
too), then the field rules, each element's actions applied in the plan's settled order, then
replace-with on absent elements inserts them (public, private by creator, nested paths with the
sequences and items they need, file meta).  Field rules that read another element (regex-sub
groups named after one) see it as Flywheel's regex-sub-first order does.  The deliberate
differences of profile-semantics.md hold: a regex acts once per element, the file meta follows
SOPInstanceUID, and a value an action cannot handle fails the file with a message naming the
tag and the rule instead of losing it silently.

Elements the plan does not touch are never converted from pydicom's raw form, so they are
written back byte for byte; that is also what lets the streaming fast path
(:mod:`deidc.execute.fast`) produce exactly the same bytes.
"""

from __future__ import annotations

import copy
import io
import json
import re
import warnings
from datetime import datetime

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.datadict import (dictionary_VR, keyword_for_tag, private_dictionary_VR,
                               tag_for_keyword)
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from . import transforms
from .actions import (Actor, Dispatch, derived, element_groups, inserts_when_absent,
                      private_key_of)
from .inputs import MEMORY_LIMIT, Input
from .stream import check_whole
from .outcome import ExecutionError, FileOutcome
from .dicom import (FILE_META_GROUP, MEDIA_STORAGE_SOP_INSTANCE_UID, PATIENT_AGE,
                    PATIENT_BIRTH_DATE, SOP_INSTANCE_UID,
                    STUDY_DATE, UNDEFINED_LENGTH)
from ..plan import targets
from ..plan.ir import Action, Plan


def creators_of(dataset: Dataset) -> dict[tuple[int, int], str]:
    """(group, block) → private creator, read from the raw creator elements."""
    found = {}
    for tag in dataset.keys():
        if tag.group & 1 and 0x0010 <= tag.element <= 0x00FF:
            value = dataset.get_item(tag).value
            if isinstance(value, bytes):
                value = value.decode("latin-1")
            if isinstance(value, str):
                found[(tag.group, tag.element)] = value.rstrip("\0 ")
    return found


def is_sequence(dataset: Dataset, tag) -> bool:
    return element_is_sequence(dataset.get_item(tag), tag)


def element_is_sequence(element, tag) -> bool:
    """:func:`is_sequence` of an element already in hand (a walk over ``Dataset.items()``
    saves a lookup per element, which costs as much as the rest of verify's walk)."""
    if element is None:
        return False
    vr = element.VR
    # Read implicitly (no VR) or as UN, a raw element becomes a sequence when pydicom decodes
    # it if the dictionary says SQ.
    if vr in (None, "UN") and isinstance(element, RawDataElement):
        if element.length == UNDEFINED_LENGTH and vr is None:
            return True
        try:
            return dictionary_VR(tag) == "SQ"
        except KeyError:
            return False
    return vr == "SQ"


def flywheel_keyword(tag) -> str | None:
    """The keyword Flywheel's keyword walk gives an element: one that names this tag alone
    (private, unknown and repeater elements have none)."""
    keyword = keyword_for_tag(tag)
    return keyword if keyword and tag_for_keyword(keyword) == tag else None


def keyword_step(path: list | None, tag, index: int | None = None) -> list | None:
    """A keyword path one step further (``index``: the item the element is in), or None once
    a step has no keyword.  Flywheel's keyword walk enters only sequences with a keyword and
    lists only elements with one, so below a private sequence, and for a private element in
    a public one, a regex sees the hex path alone; deidc's regexes mean the same."""
    keyword = flywheel_keyword(tag)
    if path is None or keyword is None:
        return None
    return path + ([index] if index is not None else []) + [keyword]


# --- the plan on one dataset ---------------------------------------------------------------

def apply_plan(plan: Plan, dataset: Dataset, *, rng, compat_flywheel: bool = False,
               now: datetime | None = None) -> bool:
    """Apply ``plan`` to ``dataset`` in place; returns whether anything changed."""
    run = _Run(Dispatch.for_plan(plan), rng, compat_flywheel, now or datetime.now())
    return run.dataset(dataset)


class _Run:
    def __init__(self, dispatch: Dispatch, rng, compat: bool, now: datetime):
        self.dispatch = dispatch
        self.plan = dispatch.plan
        self.enter_sequences = bool(dispatch.recurse or dispatch.paths or dispatch.patterns)
        self.actor = Actor(rng, compat, now)
        self.changed = False

    def dataset(self, ds: Dataset) -> bool:
        policy = self.plan.policy
        original_sop = self.text(ds, SOP_INSTANCE_UID)
        if policy.remove_private:
            self.remove_private(ds)
        if policy.patient_age:
            self.patient_age(ds)
        creators = creators_of(ds)
        if policy.remove_undefined:
            self.remove_undefined(ds, creators)
        names = element_group_names(self.plan)
        if names:
            # Flywheel runs regex-sub rules first: the elements they read are unchanged yet
            values = {name: self.text(ds, tag) for name, tag in names.items()}
            self.actor.read_element = values.get
        present = set(ds.keys())
        for tag in sorted(present):
            if tag in ds:
                self.element(ds, tag, self.dispatch.actions_for(
                    tag, private_key_of(tag, creators), True))
        self.inserts(ds, present, creators)
        if self.enter_sequences:
            for tag in list(ds.keys()):
                if is_sequence(ds, tag):
                    self.nested(ds[tag], [tag], keyword_step([], tag),
                                [f"{tag:08x}"])
        self.nested_inserts(ds)
        if getattr(ds, "file_meta", None) is not None:
            self.file_meta(ds, original_sop)
        return self.changed

    @staticmethod
    def text(ds: Dataset, tag: int) -> str | None:
        element = ds.get(tag)
        return transforms.value_as_text(element.value) if element is not None else None

    def remove_private(self, ds: Dataset) -> None:
        creators = creators_of(ds)
        for tag in list(ds.keys()):
            if tag.group & 1:
                kept = self.dispatch.private_kept(tag, private_key_of(tag, creators),
                                                  creators.get((tag.group, tag.element)))
                if not kept:
                    del ds[tag]
                    self.changed = True
                    continue
            if is_sequence(ds, tag):
                for item in ds[tag].value:
                    self.remove_private(item)

    def remove_undefined(self, ds: Dataset, creators: dict) -> None:
        """Flywheel's keeplist: every element no rule names goes, at the top level and inside
        the items of the sequences that stay.  A sequence stays when a rule names it or
        something inside it; a plain name keeps the sequence, not its contents (its items
        are emptied, as in Flywheel)."""
        reach_inside = self.plan.policy.recurse_sequences or bool(self.dispatch.patterns)
        path_roots = {steps[0] for steps, _ in self.dispatch.paths}
        kept_blocks = set()
        creator_tags = []
        for tag in list(ds.keys()):
            if tag.group & 1 and 0x0010 <= tag.element <= 0x00FF:
                creator_tags.append(tag)
                continue
            defined = self.dispatch.defined(tag, private_key_of(tag, creators))
            # an undefined sequence no rule can reach into goes whole, unread
            inside = (defined or reach_inside or tag in path_roots) and \
                is_sequence(ds, tag) and self.prune_items(
                    ds[tag], [int(tag)], keyword_step([], tag),
                    [f"{int(tag):08x}"])
            if defined or inside:
                if tag.group & 1:
                    kept_blocks.add((tag.group, tag.element >> 8))
            else:
                del ds[tag]
                self.changed = True
        for tag in creator_tags:
            if not self.dispatch.creator_defined(tag, (tag.group, tag.element) in kept_blocks):
                del ds[tag]
                self.changed = True

    def prune_items(self, element, tags: list, keyword_path: list | None,
                    hex_path: list) -> bool:
        """Remove-undefined inside a sequence's items; returns whether anything in them is
        named (and so kept).  A private creator stays while its block keeps an element."""
        kept_any = False
        for index, item in enumerate(element.value):
            creators = creators_of(item)
            kept_blocks = set()
            creator_tags = []
            for tag in list(item.keys()):
                tag_int = int(tag)
                if tag.group & 1 and 0x0010 <= tag.element <= 0x00FF:
                    creator_tags.append(tag)
                    continue
                here = tags + [index, tag_int]
                kw_path = keyword_step(keyword_path, tag, index)
                hx_path = hex_path + [index, f"{tag_int:08x}"]
                named = self.named_nested(tag_int, private_key_of(tag_int, creators), here,
                                          kw_path, hx_path)
                inside = is_sequence(item, tag) and self.prune_items(item[tag], here, kw_path,
                                                                     hx_path)
                if named or inside:
                    kept_any = True
                    if tag.group & 1:
                        kept_blocks.add((tag.group, (tag.element >> 8) & 0xFF))
                else:
                    del item[tag]
                    self.changed = True
            for tag in creator_tags:
                if (tag.group, tag.element) not in kept_blocks:
                    del item[tag]
                    self.changed = True
        return kept_any

    def named_nested(self, tag: int, key, here: list, keyword_path: list | None,
                     hex_path: list) -> bool:
        kw_path = ".".join(map(str, keyword_path)) if keyword_path is not None else None
        return self.dispatch.named_nested(tag, key, here, kw_path, ".".join(map(str, hex_path)))

    def patient_age(self, ds: Dataset) -> None:
        age = self.plan.policy.patient_age
        birth, study = ds.get(PATIENT_BIRTH_DATE), ds.get(STUDY_DATE)
        if birth is None or study is None:
            return
        value = transforms.patient_age(birth.value, study.value, age.date_format, age.units)
        if value is None:
            return
        if PATIENT_AGE in ds:
            if ds[PATIENT_AGE].value == value:
                return
            ds[PATIENT_AGE].value = value
        else:
            ds.add_new(PATIENT_AGE, "AS", value)
        self.changed = True

    def element(self, ds: Dataset, tag, actions: list[Action]) -> None:
        if not actions:
            return
        if is_sequence(ds, tag):
            for action in actions:
                if action.op == "remove":
                    del ds[tag]
                    self.changed = True
                    return
                if action.op == "replace" and action.args.get("value") == "":
                    if len(ds[tag].value):
                        ds[tag].value = []  # replace-with '' empties a sequence
                        self.changed = True
                    continue
                raise ExecutionError(f"cannot {action.op} a sequence", tag=int(tag),
                                     origin=action.origin)
            return
        element = ds[tag]
        original = element.value
        present, value = self.chain(actions, True, original, element.VR, int(tag))
        action = actions[-1]
        if not present:
            del ds[tag]
            self.changed = True
        elif value is not original:
            if transforms.value_as_text(value) != transforms.value_as_text(original) or \
                    type(value) is not type(original):
                self.assign(element, value, action)

    def assign(self, element, value, action: Action) -> None:
        try:
            element.value = value
        except Exception as exc:  # pydicom refuses the value for the VR
            # (a new value may hold part of the old one: neither is repeated)
            text = value if isinstance(value, str) else repr(value)
            why = exc.__class__.__name__ if text in str(exc) else _reason(exc)
            raise ExecutionError(f"cannot write the new value into a {element.VR}, "
                                 f"{transforms.shape(text)}: {why}",
                                 tag=int(element.tag), origin=action.origin) from None
        self.changed = True

    def chain(self, actions, present: bool, value, vr: str, tag: int):
        """Run a chain of actions; a value a transform cannot handle fails the file."""
        try:
            return self.actor.run(actions, present, value, vr)
        except transforms.TransformError as exc:
            raise ExecutionError(str(exc), tag=tag, origin=exc.action.origin) from None

    def inserts(self, ds: Dataset, present: set, creators: dict) -> None:
        """Replace-with on absent elements inserts them (replace-with-insert)."""
        for tag, entry in self.dispatch.public.items():
            if tag in present or tag >> 16 == FILE_META_GROUP:
                continue
            if not inserts_when_absent(entry):
                continue
            state, value = self.chain(entry.actions, False, None, entry.vr or "", tag)
            if not state:
                continue
            vr = entry.vr
            if not vr or " or " in vr:
                raise ExecutionError(f"cannot insert an element whose VR is "
                                     f"{vr or 'unknown'}", tag=tag,
                                     origin=entry.actions[-1].origin)
            try:
                ds.add_new(tag, vr, value)
            except Exception as exc:
                raise ExecutionError(f"cannot insert {value!r} as {vr}: {exc}", tag=tag,
                                     origin=entry.actions[-1].origin) from None
            self.changed = True
        for key, entry in self.dispatch.private.items():
            group, creator, offset = key
            if not inserts_when_absent(entry) or \
                    private_tag(ds, group, creator, offset, creators) is not None:
                continue
            state, value = self.chain(entry.actions, False, None, entry.vr or "", None)
            if state:
                self.insert_private(ds, key, entry, value)

    def insert_private(self, ds: Dataset, key: tuple, entry, value) -> None:
        """As Flywheel: into the creator's block, which is created when the file has none,
        with the VR pydicom's private dictionary gives."""
        group, creator, offset = key
        origin = entry.actions[-1].origin
        vr = entry.vr
        if not vr:
            try:
                vr = private_dictionary_VR((group << 16) | 0x1000 | offset, creator)
            except KeyError:
                raise ExecutionError(f"cannot insert private element {entry.target}: its VR "
                                     "is not in the private dictionary", origin=origin) from None
        try:
            ds.private_block(group, creator, create=True).add_new(offset, vr, value)
        except Exception as exc:
            raise ExecutionError(f"cannot insert {value!r} into {entry.target} as {vr}: "
                                 f"{_reason(exc)}", origin=origin) from None
        self.changed = True

    def nested_inserts(self, ds: Dataset) -> None:
        """Replace-with on an absent nested element (concrete item indices only) creates
        it, and the sequence and items leading to it, as Flywheel does."""
        for steps, entry in self.dispatch.paths:
            if "*" in steps[1::2] or not inserts_when_absent(entry):
                continue
            parent, leaf = self.walk_creating(ds, steps, entry, dry=True)
            if parent is not None and leaf in parent:
                continue
            state, value = self.chain(entry.actions, False, None, entry.vr or "", steps[-1])
            if not state:
                continue
            parent, leaf = self.walk_creating(ds, steps, entry, dry=False)
            vr = entry.vr
            if not vr or " or " in vr:
                raise ExecutionError(f"cannot insert an element whose VR is "
                                     f"{vr or 'unknown'}", tag=leaf,
                                     origin=entry.actions[-1].origin)
            try:
                parent.add_new(leaf, vr, value)
            except Exception as exc:
                raise ExecutionError(f"cannot insert {value!r} as {vr}: {_reason(exc)}",
                                     tag=leaf, origin=entry.actions[-1].origin) from None
            self.changed = True

    def walk_creating(self, ds: Dataset, steps: list, entry, *, dry: bool):
        """The item holding a nested path's last element, and that element's tag; unless
        ``dry``, missing sequences are created and short ones padded with empty items.
        ``dry`` returns ``(None, tag)`` where the path is missing."""
        current = ds
        for position in range(0, len(steps) - 1, 2):
            tag, index = steps[position], int(steps[position + 1])
            if tag not in current:
                if dry:
                    return None, steps[-1]
                if dictionary_vr(tag) != "SQ":
                    raise ExecutionError(f"cannot create {entry.target}: {tag:08X} is not a "
                                         "sequence", tag=tag, origin=entry.actions[-1].origin)
                current.add_new(tag, "SQ", [])
                self.changed = True
            if not is_sequence(current, tag):
                raise ExecutionError(f"cannot reach {entry.target}: {tag:08X} is not a sequence",
                                     tag=tag, origin=entry.actions[-1].origin)
            items = current[tag].value
            if index >= len(items):
                if dry:
                    return None, steps[-1]
                while len(items) <= index:
                    items.append(Dataset())
                self.changed = True
            current = items[index]
        return current, steps[-1]

    def nested(self, element, tags: list, keyword_path: list | None, hex_path: list) -> None:
        """Rules that reach inside sequences: recurse-sequence, nested paths, regexes."""
        dispatch = self.dispatch
        for index, item in enumerate(element.value):
            creators = creators_of(item)
            for tag in list(item.keys()):
                if tag not in item:
                    continue
                tag_int = int(tag)
                here = tags + [index, tag_int]
                kw_steps = keyword_step(keyword_path, tag, index)
                kw_path = ".".join(map(str, kw_steps)) if kw_steps is not None else None
                hx_path = ".".join(map(str, hex_path + [index, f"{tag_int:08x}"]))
                actions = dispatch.nested_actions(tag_int, private_key_of(tag_int, creators),
                                                  here, kw_path, hx_path)
                self.element(item, tag, actions)
                if tag in item and is_sequence(item, tag):
                    self.nested(item[tag], here, kw_steps,
                                hex_path + [index, f"{tag_int:08x}"])

    def file_meta(self, ds: Dataset, original_sop: str | None) -> None:
        meta = ds.file_meta
        # the meta must name the instance the file holds, even after a rule removed the UID
        had_media = MEDIA_STORAGE_SOP_INSTANCE_UID in meta
        for tag in list(meta.keys()):
            entry = self.dispatch.public.get(int(tag))
            if entry is not None:
                self.element(meta, tag, list(entry.actions))
        present = set(meta.keys())
        for tag, entry in self.dispatch.public.items():
            if tag >> 16 == FILE_META_GROUP and tag not in present and inserts_when_absent(entry):
                state, value = self.chain(entry.actions, False, None, entry.vr or "", tag)
                if state:  # as Flywheel: replace-with inserts into the file meta too
                    meta.add_new(tag, dictionary_vr(tag) or "UN", value)
                    self.changed = True
        if not self.plan.policy.sync_media_storage:
            return
        sop = ds.get(SOP_INSTANCE_UID)
        if not had_media or original_sop is None:
            return
        if sop is None:
            if MEDIA_STORAGE_SOP_INSTANCE_UID in meta:
                del meta[MEDIA_STORAGE_SOP_INSTANCE_UID]
                self.changed = True
        elif MEDIA_STORAGE_SOP_INSTANCE_UID not in meta:
            meta.add_new(MEDIA_STORAGE_SOP_INSTANCE_UID, "UI", sop.value)
            self.changed = True
        elif transforms.value_as_text(sop.value) != original_sop or \
                meta[MEDIA_STORAGE_SOP_INSTANCE_UID].value != sop.value:
            if str(meta[MEDIA_STORAGE_SOP_INSTANCE_UID].value) != str(sop.value):
                meta[MEDIA_STORAGE_SOP_INSTANCE_UID].value = sop.value
                self.changed = True


def element_group_names(plan: Plan) -> dict[str, int]:
    """regex-sub groups named after an element rather than a group of their regex
    (``{PatientID}`` with a ``hash`` group): name → tag of the element they read."""
    return derived(plan, element_group_names, lambda: _element_group_names(plan))


def _element_group_names(plan: Plan) -> dict[str, int]:
    names = {}
    actions = [a for e in plan.entries for a in e.actions] + \
        [a for rule in plan.patterns for a in rule.actions]
    for action in actions:
        for name in element_groups(action):
            tag = tag_for_keyword(name)
            if tag is None and re.fullmatch(r"[0-9A-Fa-f]{8}", name):
                tag = int(name, 16)
            if tag is not None:
                names[name] = tag
    return names


def dictionary_vr(tag: int) -> str | None:
    try:
        return dictionary_VR(tag)
    except KeyError:
        return None


def private_tag(ds: Dataset, group: int, creator: str, offset: int, creators: dict):
    for (g, block), name in creators.items():
        if g == group and name == creator:
            tag = Tag(group, (block << 8) | offset)
            return tag if tag in ds else None
    return None


# --- files ---------------------------------------------------------------------------------

def _reason(exc: Exception) -> str:
    """pydicom folds tracebacks into some messages: keep the first line."""
    return f"{exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


def read_dataset(path: str, data=None, memory_limit: int = MEMORY_LIMIT) -> Dataset:
    """The dataset of the file at ``path``, every value read at once: none is deferred, since
    a deferred value is read again by the file's name, from whatever file has it by then.
    ``data``: the file's bytes (or a map of them), when the caller has opened it;
    ``memory_limit``: the bytes this may take, which a file is refused if it would exceed."""
    if data is None:
        with Input(path, memory_limit) as opened:
            return read_dataset(path, opened.data, memory_limit)
    try:
        held = check_whole(data, len(data), memory_limit)
        if 2 * held > memory_limit:  # the bytes read, and pydicom's values
            raise ExecutionError(f"refused: the Dataset path would hold about {2 * held} bytes "
                                 f"of it in memory, more than the bound of {memory_limit} "
                                 "bytes for one file")
    except ExecutionError as exc:
        exc.path = path
        raise
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(io.BytesIO(data) if isinstance(data, bytes) else data,
                                 force=True)
            keys = list(ds.keys())
    except Exception as exc:
        raise ExecutionError(f"cannot read as DICOM: {_reason(exc)}", path=path) from None
    if not any(keyword_for_tag(tag) for tag in keys):
        raise ExecutionError("not a DICOM file (no DICOM attribute could be read)", path=path)
    return ds


def decode_if_reencoded(ds: Dataset) -> None:
    """A body in implicit VR under an explicit transfer syntax (pydicom reads it anyway) is
    written in the explicit VR the syntax names, as Flywheel does; pydicom can only do that
    once every element is decoded, since raw elements read implicitly carry no VR."""
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if syntax is None or not syntax.is_transfer_syntax or syntax.is_implicit_VR:
        return
    if any(element.VR is None for element in ds.elements()):
        for _ in ds.iterall():
            pass


def log_values(plan: Plan, ds: Dataset) -> dict[str, str]:
    """Flywheel's deid-log cells: the value as Flywheel reads it, '' when absent; for regex,
    wildcard and repeater columns a JSON object {path: value} of the matching elements (regex:
    keyword paths, then hex paths, each walked as Flywheel walks them).  Those walks read
    every element of a copy: pydicom keeps an element it reads in its decoded form and writes
    it re-encoded (an ImageType padded inside loses its spaces), and the output must not
    depend on whether a log is kept."""
    dispatch = Dispatch.for_plan(plan)
    compiled = {rule.pattern: pattern for pattern, rule in dispatch.patterns}
    cells = {}
    walked = None
    for column in plan.log_columns:
        target = column.target
        if column.pattern is not None:
            walked = copy.deepcopy(ds) if walked is None else walked
            pattern = compiled.get(column.pattern) or re.compile(column.pattern)
            matches = {path: value for path, value in keyword_paths(walked)
                       if pattern.match(path)}
            matches.update((path, value) for path, value in hex_paths(walked)
                           if pattern.match(path))
            cells[column.title] = json.dumps(matches)
        elif target is None:
            cells[column.title] = ""
        elif "*" in target or "X" in target.upper()[2:4]:
            walked = copy.deepcopy(ds) if walked is None else walked
            shape = re.compile(target.lower().replace(".", r"\.").replace("*", r"\d+")
                               .replace("xx", "[0-9a-f]{2}") + "$")
            cells[column.title] = json.dumps({path: value for path, value in hex_paths(walked)
                                              if shape.match(path)})
        else:
            cells[column.title] = _log_cell(ds, target)
    return cells


def _log_cell(ds: Dataset, target: str) -> str:
    """One element's value as Flywheel logs it: a tag (file meta included), a private
    element by creator, or a nested path; '' when absent."""
    if targets.is_private(target):
        group, creator, offset = targets.parse_private(target)
        tag = private_tag(ds, group, creator, offset, creators_of(ds))
        holder = ds
    else:
        steps = targets.parse_path(target)
        holder = ds.file_meta if len(steps) == 1 and steps[0] >> 16 == FILE_META_GROUP and \
            getattr(ds, "file_meta", None) is not None else ds
        for position in range(0, len(steps) - 1, 2):
            tag, index = steps[position], int(steps[position + 1])
            if tag not in holder or not is_sequence(holder, tag) or \
                    index >= len(holder[tag].value):
                return ""
            holder = holder[tag].value[index]
        tag = steps[-1]
    if tag is None or tag not in holder:
        return ""
    return transforms.value_as_text(holder[tag].value) or ""


def sequence_log_cell(elements: bytes, tag: int, implicit: bool) -> str:
    """The deid-log cell of a sequence that has items, read from its encoded bytes (preceded
    by the file's SpecificCharacterSet, which decodes its text): Flywheel logs each item as
    pydicom prints a dataset, which only pydicom reproduces.  The fast path calls this for
    the few sequences a log shows, and so keeps the rest of the file."""
    from io import BytesIO

    from pydicom.filereader import read_dataset as read_elements

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = read_elements(BytesIO(elements), implicit, True)
        return transforms.value_as_text(ds[tag].value) or ""


def keyword_paths(ds: Dataset, prefix: str = ""):
    """(keyword path, value) of every element with a keyword, keywords in alphabetical
    order at each level, each sequence followed by its items' elements (Flywheel's walk)."""
    named = sorted((keyword, tag) for tag in ds.keys() if (keyword := flywheel_keyword(tag)))
    for keyword, tag in named:
        path = prefix + keyword
        yield path, transforms.value_as_text(ds[tag].value)
        if is_sequence(ds, tag):
            for index, item in enumerate(ds[tag].value):
                yield from keyword_paths(item, f"{path}.{index}.")


def hex_paths(ds: Dataset, prefix: str = ""):
    """(lower-case hex path, value) of every element, in the dataset's order."""
    for tag in list(ds.keys()):
        path = f"{prefix}{int(tag):08x}"
        yield path, transforms.value_as_text(ds[tag].value)
        if is_sequence(ds, tag):
            for index, item in enumerate(ds[tag].value):
                yield from hex_paths(item, f"{path}.{index}.")


def deidentify_file(plan: Plan, source_path: str, output, *, rng,
                    compat_flywheel: bool = False, log: bool = False,
                    opened: Input | None = None) -> FileOutcome:
    """Read ``source_path``, apply the plan, write the result to the binary file object
    ``output``.  When nothing changed, the input bytes are written verbatim: unlike Flywheel,
    which rewrites every file through pydicom and so loses retired group lengths (README,
    "Where deidc deliberately differs from Flywheel").  ``opened``: the input, when the caller
    has opened it already (:mod:`deidc.execute.inputs`)."""
    if opened is None:
        with Input(source_path) as opened:
            return deidentify_file(plan, source_path, output, rng=rng,
                                   compat_flywheel=compat_flywheel, log=log, opened=opened)
    if opened.mapped:
        opened.data.seek(0)
    ds = read_dataset(source_path, opened.data, opened.memory_limit)
    before = log_values(plan, ds) if log else {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            changed = apply_plan(plan, ds, rng=rng, compat_flywheel=compat_flywheel)
    except ExecutionError as exc:
        exc.path = source_path
        raise
    except Exception as exc:  # a value pydicom cannot parse: fail this file alone
        raise ExecutionError(f"cannot de-identify: {_reason(exc)}", path=source_path) from None
    after = log_values(plan, ds) if log else {}
    if not changed:
        output.write(opened.data)
        return FileOutcome(False, before, after)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            decode_if_reencoded(ds)
            ds.save_as(output, enforce_file_format=False)
    except Exception as exc:
        raise ExecutionError(f"cannot write the result: {_reason(exc)}",
                             path=source_path) from None
    return FileOutcome(True, before, after)


def preview_changes(plan: Plan, path: str, *, rng) -> list[dict]:
    """Each top-level element of a file with its fate, before and after, then every element
    inside a sequence that changed, was removed or was added (nothing written).  A nested row's
    ``path`` is its tag path (``00081115.0.0020000E``), its keyword the dotted keyword path."""
    ds = read_dataset(path)
    before = dict(_elements(ds))
    apply_plan(plan, ds, rng=rng)
    after = dict(_elements(ds))
    rows = []
    for key in sorted(set(before) | set(after), key=_path_order):
        old, new = before.get(key), after.get(key)
        fate = ("added" if old is None else "removed" if new is None
                else "changed" if new[2] != old[2] else "kept")
        if "." in key and fate == "kept":
            continue
        keyword, vr, _ = new or old
        rows.append({"keyword": keyword, "tag": key.rsplit(".", 1)[-1], "path": key,
                     "vr": vr, "fate": fate, "before": old[2] if old else "",
                     "after": new[2] if new else ""})
    return rows


def _elements(ds: Dataset, path: str = "", names: str = ""):
    """(tag path, (keyword path, VR, value shown)) of every element, items included."""
    for tag in ds.keys():
        key = f"{path}{int(tag):08X}"
        keyword = names + (keyword_for_tag(tag) or f"{int(tag):08X}")
        yield key, (keyword, ds[tag].VR or "", _show(ds, tag))
        if is_sequence(ds, tag):
            for index, item in enumerate(ds[tag].value):
                yield from _elements(item, f"{key}.{index}.", f"{keyword}[{index}].")


def _path_order(key: str) -> tuple:
    return tuple(int(step, 16) if len(step) == 8 else int(step) for step in key.split("."))


def _show(ds: Dataset, tag) -> str:
    if is_sequence(ds, tag):
        return f"<sequence of {len(ds[tag].value)} items>"
    value = ds[tag].value
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    text = transforms.value_as_text(value) or ""
    return text if len(text) <= 64 else text[:61] + "..."
