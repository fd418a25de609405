"""The proof of `deidc create --conformance`: its profiles, applied with `deidc apply` to files
with identifying content, leave nothing the table says must go.

Inputs: every file of pydicom's test files and of pydicom-data (when installed), and files of
the benchmark generator (benchmarks/corpus.py: names, IDs, addresses, UIDs shared by studies
and series, private blocks, nested sequences).  Every output is walked at every depth with
pydicom, file meta included, independently of deidc's own reports, and held against its input:

- no element of a Table E.1-1 row whose code (under the options) is X, Z, D or U, or a
  compound of them, holds its original value anywhere in the output, under any tag;
- no private (odd group), overlay (60xx) or curve (50xx) element survives;
- UIDs are remapped consistently over the whole release: one input UID, one output UID, and two
  input UIDs never one output UID; the file meta names the instance the file holds.

Files deidc refuses (corrupt, truncated, not DICOM) are counted, not hidden: the counts are
asserted to be what pydicom itself makes of them.
"""

from __future__ import annotations

import importlib.util
import random
import shutil
from collections import defaultdict
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

import deidc.api as api
from deidc.conformance import table
from deidc.conformance.generate import DUMMY, SORTING_LABELS

ROOT = Path(__file__).resolve().parent.parent
OPTION_SETS = [(), ("retain-uids", "clean-descriptors"),
               ("retain-longitudinal-modified-dates", "clean-structured-content",
                "clean-graphics"),
               ("retain-patient-characteristics", "retain-device-identity",
                "retain-institution-identity", "retain-longitudinal-full-dates")]
NAMED = ["examples_overlay.dcm", "waveform_ecg.dcm", "test-SR.dcm", "rtplan.dcm"]
# Values the generated profiles write themselves, which an input may happen to hold already.
WRITTEN = set(DUMMY.values()) | set(SORTING_LABELS.values()) | {"YES", "REMOVED", "MODIFIED",
                                                                 "UNMODIFIED"}


# The file meta's ImplementationClassUID names the software that wrote the file; in two of
# pydicom's files (reportsi.dcm, test-SR.dcm) it is also the InstanceCreatorUID, which the
# table removes.  The table does not list it: counted as a recurrence, not failed.
IMPLEMENTATION_CLASS_UID = 0x00020012
# deidc writes the file's new SOPInstanceUID here, even where the input's meta disagreed with
# its SOPInstanceUID (rtplan.dcm): held by the assertion that the two are equal.
MEDIA_STORAGE_SOP_INSTANCE_UID = 0x00020003


def _corpus_module():
    spec = importlib.util.spec_from_file_location("corpus", ROOT / "benchmarks" / "corpus.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pydicom_test_files() -> list[Path]:
    folder = Path(get_testdata_file("CT_small.dcm", download=False)).parent
    found = sorted(path for path in folder.rglob("*") if path.is_file())
    try:
        import data_store
    except ImportError:
        return found
    return found + sorted(path for path in data_store.DataStore().data_path.iterdir()
                          if path.is_file())


def add_graphics(ds, number: int) -> None:
    """Curves (none of pydicom's files has one), an overlay in a second group, and a private
    block and a name inside a sequence item: what Annex E asks gone wherever it occurs."""
    for group in (0x5000, 0x5002):
        ds.add_new((group, 0x0005), "US", 1)
        ds.add_new((group, 0x0010), "US", 2)
        ds.add_new((group, 0x0022), "LO", f"CURVE OF PATIENT {number}")
        ds.add_new((group, 0x3000), "OB", bytes(range(8)))
    ds.add_new((0x6002, 0x0010), "US", 8)
    ds.add_new((0x6002, 0x0011), "US", 8)
    ds.add_new((0x6002, 0x4000), "LT", f"OVERLAY COMMENT {number}")
    ds.add_new((0x6002, 0x3000), "OB", bytes(8))
    item = ds.ReferencedSeriesSequence[0]
    block = item.private_block(0x0011, "DEIDC PROOF", create=True)
    block.add_new(0x01, "LO", f"NESTED PRIVATE {number}")
    item.add_new(0x00081050, "PN", f"NESTED^PHYSICIAN{number}")  # PerformingPhysicianName


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """One folder: pydicom's files (and pydicom-data's), and 30 generated files (3 studies of
    10 files, 2 series each, which share their UIDs across files)."""
    base = tmp_path_factory.mktemp("proof") / "in"
    for number, path in enumerate(pydicom_test_files()):
        target = base / "pydicom" / f"{number:03d}_{path.name}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    corpus = _corpus_module()
    rng = random.Random(13)
    template = pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))
    (base / "corpus").mkdir()
    for number in range(30):
        ds = template.copy()
        corpus.add_phi(ds, rng, patient=number // 20, study=number // 10, series=number % 2)
        if number % 10 == 0:
            add_graphics(ds, number)
        ds.save_as(base / "corpus" / f"{number:03d}.dcm", enforce_file_format=True)
    return base


@pytest.fixture(scope="module", params=OPTION_SETS, ids=lambda o: "+".join(o) or "basic")
def release(request, inputs, tmp_path_factory):
    """(options, summary of the run, [(input, output)]) for one generated profile."""
    options = request.param
    base = tmp_path_factory.mktemp("release")
    profile = base / "profile.yaml"
    profile.write_text(api.starter_profile(True, options))
    summary = api.apply(str(profile), [str(inputs)], str(base / "out"))
    pairs = [(path, base / "out" / path.relative_to(inputs))
             for path in sorted(inputs.rglob("*")) if path.is_file()]
    return options, summary, [(source, output) for source, output in pairs if output.exists()]


def walk(ds, path=()):
    """(path, element) for every element at every depth, the file meta first."""
    if getattr(ds, "file_meta", None) is not None:
        for element in ds.file_meta:
            yield path + (element.tag,), element
    for element in ds:
        here = path + (element.tag,)
        yield here, element
        if element.VR == "SQ" and element.value is not None:
            for index, item in enumerate(element.value):
                yield from walk(item, here + (index,))


def values(element) -> list:
    """The element's values as comparable pieces (text values one by one, bytes whole)."""
    value = element.value
    if value is None or value == "" or value == b"" or element.VR == "SQ":
        return []
    if isinstance(value, (bytes, bytearray)):
        return [bytes(value)]
    if isinstance(value, (list, tuple, pydicom.multival.MultiValue)):
        return [str(v).strip() for v in value if str(v).strip()]
    text = str(value).strip()
    return [text] if text else []


def must_go(tag: int, options) -> bool:
    """Whether the table requires the element's original value to go (private elements are
    held by their own test: that none survives)."""
    row = table.row_for(int(tag))
    if row is None or row.is_private:
        return False
    code = table.required_action(row, options)
    return bool(set(code.replace("*", "").split("/")) & set("XZDU"))


def test_every_output_is_walked_and_refusals_are_counted(release):
    """Refused files are files cut short or without a readable attribute, whatever the
    profile; everything else is written and walked."""
    options, summary, pairs = release
    assert summary.written >= 30 + 150
    assert len(pairs) == summary.written + summary.unchanged
    reasons = [line.split(": ", 1)[1] for line in summary.failures]
    dates = [reason for reason in reasons if "is not a date" in reason]
    broken = [reason for reason in reasons if "truncated" in reason or "file ends" in reason
              or reason.startswith("not a DICOM file")]
    assert len(dates) + len(broken) == len(reasons), reasons
    # the same broken files whatever the profile; dates refused only where the profile shifts
    assert len(broken) == 6
    assert not dates or "retain-longitudinal-modified-dates" in options
    print(f"\n{'+'.join(options) or 'basic'}: {len(pairs)} outputs walked, {summary.skipped} "
          f"skipped (not DICOM), {len(broken)} refused as broken, {len(dates)} for a date "
          "increment-date cannot read")


def test_no_original_value_the_table_removes_survives(release):
    """At its own tag, anywhere in the output, no original value of a row the table removes
    survives; nor, under any tag, a name or a UID (values that do not recur by chance).  A
    description's words may recur in another attribute the table keeps (StudyDescription
    'Brain' as PositionReferenceIndicator): those are counted and printed, not failed."""
    options, _, pairs = release
    checked, found, elsewhere = 0, [], []
    for source, output in pairs:
        try:
            original = pydicom.dcmread(source, force=True)
        except Exception:  # noqa: BLE001 - deidc wrote it from bytes pydicom cannot parse
            continue
        secret = {}
        for _, element in walk(original):
            if must_go(element.tag, options):
                for value in values(element):
                    if value not in WRITTEN:
                        secret[(element.tag, value)] = element.VR
        at = defaultdict(set)
        for path, element in walk(pydicom.dcmread(output, force=True)):
            for value in values(element):
                at[value].add(path[-1])
        checked += len(secret)
        for (tag, value), vr in secret.items():
            if tag in at.get(value, ()):
                found.append(f"{source.name}: {tag} keeps its value")
            elif value in at and vr in ("PN", "UI") and at[value] != {IMPLEMENTATION_CLASS_UID}:
                found.append(f"{source.name}: {tag}'s {vr} value is in {sorted(at[value])}")
            elif value in at:
                elsewhere.append((tag, value, min(at[value])))
    assert checked > 3000
    assert found == [], f"{len(found)} of {checked}: " + "; ".join(found[:10])
    print(f"\n{'+'.join(options) or 'basic'}: {checked} original values checked, none "
          f"survives; {len(elsewhere)} recur in attributes the table keeps: "
          f"{sorted({(str(t), str(o)) for t, _, o in elsewhere})}")


def test_no_private_overlay_or_curve_element_survives(release):
    _, _, pairs = release
    found = []
    for _, output in pairs:
        for path, element in walk(pydicom.dcmread(output, force=True)):
            group = element.tag.group
            if group & 1 or 0x5000 <= group <= 0x501E or 0x6000 <= group <= 0x601E:
                found.append(f"{output.name} {path}")
    assert found == []


def test_inputs_have_what_the_walk_looks_for(inputs):
    """The walk above is no proof unless the inputs hold private, overlay and curve data."""
    seen = set()
    for path in inputs.rglob("*"):
        try:
            ds = pydicom.dcmread(path, force=True)
            for _, element in walk(ds):
                group = element.tag.group
                seen.add("private" if group & 1 and group > 8 else
                         "curve" if 0x5000 <= group <= 0x501E else
                         "overlay" if 0x6000 <= group <= 0x601E else "")
        except Exception:  # noqa: BLE001 - the corrupt files of pydicom's set
            continue
    assert {"private", "curve", "overlay"} <= seen


def test_uids_are_remapped_consistently_across_files(release):
    options, _, pairs = release
    forward, backward, files = defaultdict(set), defaultdict(set), defaultdict(set)
    for source, output in pairs:
        try:
            original = pydicom.dcmread(source, force=True)
        except Exception:  # noqa: BLE001
            continue
        released = pydicom.dcmread(output, force=True)
        before = {path: element.value for path, element in walk(original)
                  if element.VR == "UI" and must_go(element.tag, options)
                  and element.tag != MEDIA_STORAGE_SOP_INSTANCE_UID
                  and isinstance(element.value, str) and element.value}
        after = {path: element.value for path, element in walk(released) if element.VR == "UI"}
        for path, uid in before.items():
            if path in after:
                forward[uid].add(after[path])
                backward[after[path]].add(uid)
                files[uid].add(source)
        if "SOPInstanceUID" in released and \
                "MediaStorageSOPInstanceUID" in getattr(released, "file_meta", ()):
            assert released.file_meta.MediaStorageSOPInstanceUID == released.SOPInstanceUID
    if "retain-uids" in options:
        assert forward == {}  # no UID must go: the U rows are K
        return
    assert len(forward) > 200
    split = {uid: outs for uid, outs in forward.items() if len(outs) > 1}
    merged = {uid: ins for uid, ins in backward.items() if len(ins) > 1}
    kept = {uid for uid, outs in forward.items() if uid in outs}
    assert split == {} and merged == {} and kept == set()
    shared = sum(len(names) > 1 for names in files.values())
    assert shared > 10  # consistency across files is tested, not only within one
    print(f"\n{'+'.join(options) or 'basic'}: {len(forward)} input UIDs, each one new UID; "
          f"{shared} of them in more than one file")
