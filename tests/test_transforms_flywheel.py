"""deidc's transforms against Flywheel's own field classes, on many generated inputs.

Runs Flywheel (flywheel-migration) in whatever interpreter has it: this one, or the separate
venv beside the repository (``../fwvenv``).  Neither exists in CI, where the module skips.
Flywheel is only ever run, never imported into deidc: a driver script gets the cases as JSON on
stdin, calls Flywheel's ``DeIdField`` classes with a profile whose ``read_field`` returns the
case's text, and prints the results as JSON.
"""

from __future__ import annotations

import json
import random
import subprocess
from datetime import datetime, timedelta

import pytest

from deidc.execute.transforms import (
    TransformError,
    format_ds,
    hash_uid,
    hash_value,
    jitter,
    patient_age,
    regex_sub,
    shift_date,
    shift_datetime,
    value_as_text,
)

from .conftest import flywheel_python

FLYWHEEL_PYTHON = flywheel_python()
pytestmark = pytest.mark.skipif(FLYWHEEL_PYTHON is None,
                                reason="flywheel-migration is not available")

DRIVER = r'''
import json, random, sys, warnings
warnings.simplefilter("ignore")
import logging
logging.disable(logging.CRITICAL)
from datetime import datetime
from flywheel_migration import util
from flywheel_migration.deidentify.deid_field import DeIdField
from flywheel_migration.deidentify.dicom_file_profile import (
    DicomDeIdFieldMixin, DicomFileProfile)
from pydicom.dataset import Dataset


def field_value(case):
    profile = DicomFileProfile()
    profile.load_config({"fields": [], **case.get("options", {})})
    profile.read_field = lambda state, record, fieldname: case["value"]
    profile.get_data_element_VR = lambda record, fieldname: case.get("vr")
    field = DeIdField.factory({"name": "X", **case["field"]}, mixin=DicomDeIdFieldMixin)
    if "seed" in case:
        random.seed(case["seed"])
    return field.get_value(profile, None, None)


def age(case):
    try:
        birth = datetime.strptime(case["birth"], case["format"])
        study = datetime.strptime(case["study"], case["format"])
    except ValueError:
        return None
    count, unit = util.date_delta(birth, study, desired_unit=case["units"], max_value=960)
    return "%03d%s" % (count, unit)


def read(case):
    dataset = Dataset()
    dataset.add_new(int(case["tag"], 16), case["vr"], case["raw"])
    profile = DicomFileProfile()
    profile.load_config({"fields": []})
    return profile.read_field(None, dataset, case["tag"])


RUN = {"field": field_value, "age": age, "read": read}
results = []
for case in json.load(sys.stdin):
    try:
        results.append({"value": RUN[case["kind"]](case)})
    except Exception as error:
        results.append({"error": f"{type(error).__name__}: {error}"})
print(json.dumps(results))
'''


def run_flywheel(cases: list[dict]) -> list[dict]:
    done = subprocess.run([FLYWHEEL_PYTHON, "-c", DRIVER], input=json.dumps(cases),
                          capture_output=True, text=True, timeout=300, check=True)
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(results) == len(cases)
    return results


def deidc_result(call) -> dict:
    try:
        return {"value": call()}
    except TransformError as error:
        return {"error": str(error)}


def assert_agree(cases, ours, theirs):
    """Same value, or both an error; lists compare as lists (JSON turns tuples into lists)."""
    disagreements = [(case, mine, fw) for case, mine, fw in zip(cases, ours, theirs)
                     if ("error" in mine) != ("error" in fw)
                     or ("value" in mine and mine["value"] != fw["value"])]
    assert not disagreements, f"{len(disagreements)} of {len(cases)} differ, e.g. " \
                              f"{disagreements[:3]}"


# inputs -------------------------------------------------------------------------------------

GEN = random.Random(20240601)


def random_uid() -> str:
    nodes = ["1", "2", "840"] + [str(GEN.choice([0, GEN.randint(1, 10**GEN.randint(1, 14))]))
                                 for _ in range(GEN.randint(0, 9))]
    if GEN.random() < 0.4:  # a time stamp node, the usual source of a leading-zero suffix
        nodes.append(f"20{GEN.randint(0, 99):02d}0101{GEN.randint(0, 235959):06d}")
    nodes.append(str(GEN.randint(1, 10**GEN.randint(1, 8))))
    return ".".join(nodes)[:64].rstrip(".")


def random_moment() -> datetime:
    return datetime(1900, 1, 1) + timedelta(seconds=GEN.randint(0, 200 * 365 * 86400),
                                            microseconds=GEN.choice([0, GEN.randint(0, 999999)]))


SALTS = [None, "", "s3cret", "ünï"]


# comparisons --------------------------------------------------------------------------------

def test_reading_values_as_text_matches_flywheel():
    pydicom = pytest.importorskip("pydicom")
    elements = [("00100010", "PN", "Doe^John"), ("00080008", "CS", ["ORIGINAL", "PRIMARY"]),
                ("00101030", "DS", "80.0000"), ("00280010", "US", 512),
                ("00091001", "OB", b"ab"), ("00280030", "DS", ["0.5", "0.50"]),
                ("00101010", "AS", ""), ("00181310", "US", [0, 256, 256, 0]),
                ("00200013", "IS", "7"), ("00101020", "DS", 1.75)]
    cases = [{"kind": "read", "tag": tag, "vr": vr, "raw": raw if not isinstance(raw, bytes)
              else None} for tag, vr, raw in elements]
    theirs = run_flywheel([case for case in cases if case["raw"] is not None])
    ours = []
    for tag, vr, raw in elements:
        if isinstance(raw, bytes):
            continue
        dataset = pydicom.Dataset()
        dataset.add_new(int(tag, 16), vr, raw)
        ours.append({"value": value_as_text(dataset[int(tag, 16)].value)})
    assert ours == theirs
    assert value_as_text(b"ab") == "97,98"  # Flywheel's read of an OB, checked by hand


def test_hash_matches_flywheel():
    cases, ours = [], []
    for _ in range(300):
        text = "".join(GEN.choice("AZaz09^ -.éß漢") for _ in range(GEN.randint(1, 30)))
        salt, digits = GEN.choice(SALTS), GEN.choice([0, 1, 8, 16, 64, 100])
        cases.append({"kind": "field", "value": text, "field": {"hash": True},
                      "options": {"salt": salt, "hash-digits": digits}})
        ours.append(deidc_result(lambda: hash_value(text, salt, digits)))
    assert_agree(cases, ours, run_flywheel(cases))


def hashuid_cases(count: int):
    for _ in range(count):
        options = {"salt": GEN.choice(SALTS), "uid-prefix-fields": GEN.randint(0, 6),
                   "uid-suffix-fields": GEN.randint(0, 3)}
        if GEN.random() < 0.2:
            options["uid-numeric-name"] = GEN.choice(["1.2.3.4", "2.25.1234567"])
            options["uid-prefix-fields"] = len(options["uid-numeric-name"].split("."))
        yield random_uid(), options


def our_hash_uid(uid, options, compat):
    return hash_uid(uid, options["salt"], options["uid-prefix-fields"],
                    options["uid-suffix-fields"], options.get("uid-numeric-name"),
                    compat_flywheel=compat)


def test_hashuid_compat_matches_flywheel_exactly():
    cases, ours = [], []
    for uid, options in hashuid_cases(400):
        cases.append({"kind": "field", "value": uid, "field": {"hashuid": True},
                      "options": options})
        ours.append(deidc_result(lambda: our_hash_uid(uid, options, compat=True)))
    assert_agree(cases, ours, run_flywheel(cases))


def test_hashuid_differs_from_flywheel_only_in_leading_zero_suffix_nodes():
    cases, ours = [], []
    for uid, options in hashuid_cases(400):
        cases.append({"kind": "field", "value": uid, "field": {"hashuid": True},
                      "options": options})
        ours.append(our_hash_uid(uid, options, compat=False))
    differing = 0
    for mine, fw in zip(ours, run_flywheel(cases)):
        mine_nodes, fw_nodes = mine.split("."), fw["value"].split(".")
        assert len(mine_nodes) == len(fw_nodes)
        for a, b in zip(mine_nodes, fw_nodes):
            assert a == b or (b.startswith("0") and len(b) > 1 and a == "1" + b[1:])
        differing += mine != fw["value"]
    assert differing  # the generator makes time-stamp suffixes, some with a leading zero


DATE_FORMATS = ["%Y%m%d", "%Y-%m-%d", "%d/%m/%Y"]


def test_date_shift_matches_flywheel():
    cases, ours = [], []
    for _ in range(300):
        fmt, days = GEN.choice(DATE_FORMATS), GEN.choice([GEN.randint(-4000, 4000),
                                                          round(GEN.uniform(-400, 400), 2)])
        values = [random_moment().strftime(fmt) for _ in range(GEN.choice([1, 1, 1, 3]))]
        text = ",".join(values)
        if GEN.random() < 0.1:
            text = GEN.choice(["2004-13-01", "notadate", "20040230"])
        field = {"increment-date": True, "date-format": fmt}
        cases.append({"kind": "field", "value": text, "field": field,
                      "options": {"date-increment": days}})
        ours.append(deidc_result(lambda: shift_date(text, days, fmt)))
    assert_agree(cases, ours, run_flywheel(cases))


def random_datetime_text(fmt: str) -> str:
    text = random_moment().strftime(fmt)
    if fmt.endswith(".%f"):
        text = GEN.choice([text.split(".")[0], text, text[:-GEN.randint(1, 5)]])
    return text + GEN.choice(["", "", "+0100", "-0500", "+01:00", "-05:30"])


def test_datetime_shift_matches_flywheel():
    cases, ours = [], []
    for _ in range(300):
        fmt = GEN.choice(["%Y%m%d%H%M%S.%f", "%Y%m%d%H%M%S", "%H%M%S"])
        days = GEN.choice([GEN.randint(-4000, 4000), round(GEN.uniform(-400, 400), 3)])
        text = ",".join(random_datetime_text(fmt) for _ in range(GEN.choice([1, 1, 2])))
        if GEN.random() < 0.1:
            text = GEN.choice(["garbage", "", "20041301"])  # short fields: see below
        field = {"increment-datetime": True, "datetime-format": fmt}
        bounds = {}
        if GEN.random() < 0.3:
            field["datetime-min"], field["datetime-max"] = "19500101", "20000101"
            bounds = {"minimum": datetime(1950, 1, 1), "maximum": datetime(2000, 1, 1)}
        cases.append({"kind": "field", "value": text, "field": field,
                      "options": {"date-increment": days}})
        ours.append(deidc_result(lambda: shift_datetime(text, days, fmt, **bounds)))
    assert_agree(cases, ours, run_flywheel(cases))


def test_seeded_date_jitter_matches_flywheel():
    cases, ours = [], []
    for seed in range(200):
        unit = GEN.choice(["days", "hours", "weeks", "minutes"])
        jitter_range, days = GEN.randint(1, 30), GEN.randint(-100, 100)
        datetime_rule = GEN.random() < 0.5
        fmt = "%Y%m%d%H%M%S.%f" if datetime_rule else "%Y%m%d"
        text = ",".join(random_moment().strftime(fmt) for _ in range(GEN.choice([1, 3])))
        key = "increment-datetime" if datetime_rule else "increment-date"
        cases.append({"kind": "field", "value": text, "seed": seed,
                      "field": {key: True, "jitter-date": True, "jitter-range": jitter_range,
                                "jitter-unit": unit},
                      "options": {"date-increment": days}})
        shift = shift_datetime if datetime_rule else shift_date
        ours.append(deidc_result(lambda: shift(text, days, jitter_range=jitter_range,
                                               jitter_unit=unit, rng=random.Random(seed))))
    assert_agree(cases, ours, run_flywheel(cases))


def test_partial_datetimes_flywheel_misreads_and_deidc_refuses():
    partial = [("200401191030", "%Y%m%d%H%M%S.%f"), ("2004011910", "%Y%m%d%H%M%S.%f"),
               ("2004", "%H%M%S")]
    cases = [{"kind": "field", "value": text,
              "field": {"increment-datetime": True, "datetime-format": fmt},
              "options": {"date-increment": 1}} for text, fmt in partial]
    theirs = [result["value"] for result in run_flywheel(cases)]
    # strptime reads one-digit fields: 10:30 becomes 10:03, "19 10" becomes day 1 09:01,
    # and the year 2004 read as a TM becomes 20:00:04.
    assert theirs == ["20040120100300.000000", "20040102090100.000000", "200004"]
    for text, fmt in partial:
        with pytest.raises(TransformError, match="partial DTs"):
            shift_datetime(text, 1, fmt)


JITTER_VRS = ["IS", "US", "UL", "DS", "FD", "FL", None]


def test_seeded_jitter_matches_flywheel():
    cases, ours_compat, ours_default = [], [], []
    for seed in range(300):
        jitter_type = GEN.choice(["int", "float", "float"])
        vr = GEN.choice(JITTER_VRS)
        original = str(GEN.randint(0, 70000)) if jitter_type == "int" or GEN.random() < 0.5 \
            else f"{GEN.uniform(-100, 300):.4f}"
        field = {"jitter": True, "jitter-type": jitter_type,
                 "jitter-range": GEN.choice([1, 2, 5, 10.5, 1000])}
        if GEN.random() < 0.3:
            field["jitter-min"] = GEN.choice([0, 10, 2.5])
        if GEN.random() < 0.3:
            field["jitter-max"] = GEN.choice([100, 65535, 99.5])
        cases.append({"kind": "field", "value": original, "vr": vr, "seed": seed,
                      "field": field})
        args = (original, field["jitter-range"], jitter_type, field.get("jitter-min"),
                field.get("jitter-max"), vr)
        ours_compat.append(deidc_result(
            lambda: jitter(*args, rng=random.Random(seed), compat_flywheel=True)))
        ours_default.append(jitter(*args, rng=random.Random(seed)))
    theirs = run_flywheel(cases)
    assert_agree(cases, ours_compat, theirs)
    for case, mine, fw in zip(cases, ours_default, theirs):
        expected = format_ds(fw["value"]) if case["vr"] == "DS" else fw["value"]
        assert mine == expected, case


def test_patient_age_matches_flywheel():
    cases, ours = [], []
    for _ in range(400):
        fmt = GEN.choice(["%Y%m%d", "%Y-%m-%d"])
        birth, study = random_moment(), random_moment()
        if GEN.random() < 0.5:  # ages near unit boundaries: same day of month, month ends
            birth = study.replace(year=max(1, study.year - GEN.randint(0, 90)),
                                  day=GEN.choice([1, min(28, study.day), 28]))
        case = {"kind": "age", "birth": birth.strftime(fmt), "study": study.strftime(fmt),
                "format": fmt, "units": GEN.choice([None, "D", "M", "Y", "x"])}
        if GEN.random() < 0.05:
            case["birth"] = "garbage"
        cases.append(case)
        ours.append(deidc_result(lambda: patient_age(case["birth"], case["study"], fmt,
                                                     case["units"])))
    assert_agree(cases, ours, run_flywheel(cases))


def test_regex_sub_with_hash_groups_matches_flywheel():
    config = [{"input-regex": r"(?P<site>[A-Z]+)-(?P<num>\d+)(?P<rest>.*)",
               "output": "{site}_{num}{rest}",
               "groups": [{"name": "num", "hash": True}]},
              {"input-regex": r"(?P<all>.+)", "output": "x-{all}", "groups": []}]
    items = [{"input_regex": item["input-regex"], "output": item["output"],
              "groups": [{"name": group["name"], "op": "hash"} for group in item["groups"]]}
             for item in config]
    salt, digits = "pepper", 10
    cases, ours = [], []
    for _ in range(50):
        text = GEN.choice(["ABC", "Q", "ZZZZ"]) + "-" + str(GEN.randint(0, 10**6)) + \
            GEN.choice(["", "/x", "suffix"])
        if GEN.random() < 0.3:
            text = text.lower()
        cases.append({"kind": "field", "value": text, "field": {"regex-sub": config},
                      "options": {"salt": salt, "hash-digits": digits}})
        ours.append(deidc_result(lambda: regex_sub(
            text, items, lambda item, name, matched: hash_value(matched, salt, digits))))
    assert_agree(cases, ours, run_flywheel(cases))
