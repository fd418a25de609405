"""Value transforms on DICOM edge cases: multi-values, empties, DT forms, UID lengths, VR limits."""

from __future__ import annotations

import hashlib
import random
import re
import subprocess
import sys
from datetime import date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deidc.execute import transforms
from deidc.execute.transforms import (
    TransformError,
    datetime_bound,
    format_ds,
    hash_uid,
    hash_value,
    jitter,
    patient_age,
    regex_sub,
    shift_date,
    shift_datetime,
    value_as_text,
    whole_months_between,
)

CT_STUDY_UID = "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322"
VALID_UID_NODE = re.compile(r"0|[1-9][0-9]*")


class PersonNameLike:
    """Stands in for pydicom's PersonName: not a str, not a sequence, str() gives the text."""

    def __str__(self) -> str:
        return "Doe^John"


def test_transforms_import_neither_pydicom_nor_dateutil():
    # The executor's fast start-up depends on it.
    probe = "import sys, deidc.execute.transforms; print(sorted({'pydicom', 'dateutil'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"


# value_as_text ------------------------------------------------------------------------------

@pytest.mark.parametrize("value, text", [
    ("A", "A"),
    (["A", "B"], "A,B"),
    ((1.5, 2), "1.5,2"),
    (b"ab", "97,98"),  # Flywheel joins a bytes value's integers
    (PersonNameLike(), "Doe^John"),
    (512, "512"),
    (80.0, "80.0"),
    ("", ""),
    (None, None),
])
def test_value_as_text_follows_flywheel(value, text):
    assert value_as_text(value) == text


# hash ---------------------------------------------------------------------------------------

def test_hash_is_salted_sha256_cut_to_digits():
    full = hashlib.sha256(b"salt1CT1").hexdigest()
    assert hash_value("1CT1", "salt", 16) == full[:16]
    assert hash_value("1CT1", "salt", 0) == full
    assert hash_value("1CT1", "salt", 64) == full
    assert hash_value("1CT1", "salt", 100) == full
    assert hash_value("1CT1", "", 16) == hash_value("1CT1", None, 16) == \
        hashlib.sha256(b"1CT1").hexdigest()[:16]


def test_hash_reads_multi_values_and_names_as_flywheel_text():
    assert hash_value(["A", "B"], None, 0) == hashlib.sha256(b"A,B").hexdigest()
    assert hash_value(PersonNameLike(), None, 0) == hashlib.sha256(b"Doe^John").hexdigest()


@pytest.mark.parametrize("empty", [None, "", []])
def test_hash_leaves_empty_values_alone(empty):
    assert hash_value(empty, "salt", 16) is None


# hashuid ------------------------------------------------------------------------------------

def test_hashuid_reference_example():
    assert hash_uid(CT_STUDY_UID, None) == \
        "1.3.6.1.411022.112492.511743.914111.124216.512410.12322"


def test_hashuid_salt_changes_hash_nodes_only():
    salted = hash_uid(CT_STUDY_UID, "s3cret").split(".")
    assert salted[:4] == ["1", "3", "6", "1"] and salted[-1] == "12322"
    assert salted != hash_uid(CT_STUDY_UID, None).split(".")


def test_hashuid_prefix_and_suffix_fields():
    nodes = hash_uid(CT_STUDY_UID, None, prefix_fields=2, suffix_fields=2).split(".")
    assert nodes[:2] == ["1", "3"]
    assert nodes[-2:] == ["172730", "12322"]  # 20040119072730 -> last 6 digits, 0 -> 1
    assert len(nodes) == 2 + 6 + 2


def test_hashuid_prefix_never_overlaps_suffix():
    assert hash_uid("1.2", None, prefix_fields=4, suffix_fields=1).split(".")[0] == "1"
    assert len(hash_uid("1.2", None).split(".")) == 1 + 6 + 1


def test_hashuid_numeric_name_replaces_prefix():
    uid = hash_uid(CT_STUDY_UID, None, prefix_fields=3, numeric_name="2.25.99")
    assert uid.startswith("2.25.99.") and uid.endswith(".12322")
    with pytest.raises(TransformError, match="uid-numeric-name"):
        hash_uid(CT_STUDY_UID, None, prefix_fields=4, numeric_name="2.25.99")


def test_hashuid_suffix_leading_zero_fixed_unless_compat():
    uid = "1.3.6.1.4.1.5962.1.2.1.20040119072730"
    assert hash_uid(uid, None).split(".")[-1] == "172730"
    assert hash_uid(uid, None, compat_flywheel=True).split(".")[-1] == "072730"
    assert hash_uid("1.2.840.0", None).split(".")[-1] == "0"  # a lone 0 is a valid node


def test_hashuid_crops_node_before_last_to_64():
    # 17 prefix chars + 6 hash nodes (41) + suffix (5) + 2 dots = 65: one character too many.
    nodes = hash_uid("1.2.840.123456789.12322", None).split(".")
    assert len(".".join(nodes)) == 64
    assert nodes[:4] == ["1", "2", "840", "123456789"] and nodes[-1] == "12322"
    assert [len(node) for node in nodes[4:-1]] == [6, 6, 6, 6, 6, 5]


def test_hashuid_crop_drops_a_node_cut_to_one_character():
    # 22 prefix chars: 70 in all; five cuts leave a 1-character node at 65, which is dropped.
    nodes = hash_uid("1.2.840.12345678901234.12322", None).split(".")
    assert len(".".join(nodes)) == 63
    assert [len(node) for node in nodes[4:-1]] == [6, 6, 6, 6, 6]
    assert nodes[-1] == "12322"


def test_hashuid_crop_drops_whole_nodes_when_needed():
    prefix = ".".join(["1234567890"] * 5)
    uid = hash_uid(prefix + ".5", None, prefix_fields=5)
    assert len(uid) <= 64 and uid.endswith(".5")
    assert uid.split(".")[:5] == ["1234567890"] * 5


def test_hashuid_without_suffix_keeps_last_hash_node():
    nodes = hash_uid(CT_STUDY_UID, None, suffix_fields=0).split(".")
    assert len(nodes) == 4 + 6 and all(len(node) == 6 for node in nodes[4:])


uid_nodes = st.one_of(st.just("0"), st.from_regex(r"[1-9][0-9]{0,20}", fullmatch=True))


@settings(max_examples=300, deadline=None)
@given(nodes=st.lists(uid_nodes, min_size=1, max_size=20), salt=st.text(max_size=8),
       prefix=st.integers(0, 8), suffix=st.integers(0, 3))
def test_hashuid_always_fits_and_every_node_is_valid(nodes, salt, prefix, suffix):
    uid = hash_uid(".".join(nodes), salt, prefix_fields=prefix, suffix_fields=suffix)
    assert len(uid) <= 64
    assert all(VALID_UID_NODE.fullmatch(node) for node in uid.split(".")), uid


# date and datetime shifts -------------------------------------------------------------------

def test_shift_date_basic_and_float_days():
    assert shift_date("20040119", 14) == "20040202"
    assert shift_date("20040119", -30) == "20031220"
    assert shift_date("20040119", 1.5) == "20040120"  # the half day is below a date's grain


def test_shift_date_multi_value_gives_list():
    assert shift_date("20040119,20040220", 1) == ["20040120", "20040221"]
    assert shift_date(["20040119", "20040220"], 1) == ["20040120", "20040221"]
    assert shift_date("20040119,", 1) == ["20040120", ""]


@pytest.mark.parametrize("empty", [None, ""])
def test_shift_leaves_empty_values_alone(empty):
    assert shift_date(empty, 10) is None
    assert shift_datetime(empty, 10) is None


def test_shift_date_unparseable_is_a_clear_error():
    with pytest.raises(TransformError, match=r"the value \(10 characters, shaped '9999-99-99'\) "
                       r"is not a date in the format '%Y%m%d'"):
        shift_date("2004-01-19", 1)
    with pytest.raises(TransformError, match="date-increment"):
        shift_date("20040119", None)


def test_shift_date_rejects_short_fields_strptime_would_accept():
    with pytest.raises(TransformError):
        shift_date("2004119", 1)  # strptime: 2004-11-09


def test_shift_date_custom_format():
    assert shift_date("2004-01-19", 1, "%Y-%m-%d") == "2004-01-20"


def test_shift_datetime_adds_fraction_when_format_wants_one():
    assert shift_datetime("20040119072730", 14) == "20040202072730.000000"
    assert shift_datetime("20040119072730.5", 14) == "20040202072730.500000"
    assert shift_datetime("20040119072730.123456", -1) == "20040118072730.123456"


@pytest.mark.parametrize("zone", ["+0100", "-0500", "+01:00", "-05:00"])
def test_shift_datetime_keeps_time_zone(zone):
    assert shift_datetime("20040119072730" + zone, 1) == "20040120072730.000000" + zone
    assert shift_datetime("20040119072730.25" + zone, 1) == "20040120072730.250000" + zone


@pytest.mark.parametrize("partial", ["2004", "200401191030", "20040119", "2004011910"])
def test_shift_datetime_partial_dt_fails_clearly(partial):
    # strptime alone would read 200401191030 as 10:03:00 (one-digit minute and second).
    with pytest.raises(TransformError, match="partial DTs are not supported"):
        shift_datetime(partial, 1)


def test_shift_time_with_time_only_format_keeps_time():
    assert shift_datetime("072730", 3, "%H%M%S") == "072730"
    with pytest.raises(TransformError):
        shift_datetime("072730", 3)  # default DT format cannot read a TM


def test_shift_datetime_clamps_to_bounds():
    low, high = datetime(2000, 1, 1), datetime(2010, 1, 1)
    assert shift_datetime("19900101120000", 0, minimum=low, maximum=high) == \
        "20000101000000.000000"
    assert shift_datetime("20200101120000", 0, minimum=low, maximum=high) == \
        "20100101000000.000000"
    assert shift_datetime("20050101120000", 0, minimum=low, maximum=high) == \
        "20050101120000.000000"


def test_datetime_bound_forms():
    now = datetime(2024, 6, 1, 12)
    assert datetime_bound("20000102", now) == datetime(2000, 1, 2)
    assert datetime_bound(20000102, now) == datetime(2000, 1, 2)
    assert datetime_bound("-2years", now) == now - timedelta(days=730.5)
    assert datetime_bound("+3weeks", now) == now + timedelta(weeks=3)
    assert datetime_bound("-10days", now) == now - timedelta(days=10)
    with pytest.raises(TransformError, match="neither YYYYMMDD"):
        datetime_bound("2000-01-02", now)


def test_date_jitter_draws_like_flywheel_and_never_zero():
    rng, reference = random.Random(7), random.Random(7)
    shifted = shift_date("20040119", 10, jitter_range=3, rng=rng)
    offset = 0
    while not offset:
        offset = reference.randint(-3, 3)
    assert shifted == (date(2004, 1, 19) + timedelta(days=10 + offset)).strftime("%Y%m%d")
    for seed in range(200):
        assert shift_date("20040119", 0, jitter_range=1, rng=random.Random(seed)) in \
            {"20040118", "20040120"}


def test_date_jitter_in_other_units_and_per_value_draws():
    shifted = shift_datetime("20040119000000", 0, jitter_range=5, jitter_unit="hours",
                             rng=random.Random(1))
    assert shifted.startswith("2004011") and shifted[8:10] != "00"
    values = shift_date(["20040119"] * 30, 0, jitter_range=10, rng=random.Random(1))
    assert len(set(values)) > 1  # one draw per value
    with pytest.raises(TransformError, match="jitter-unit"):
        shift_date("20040119", 0, jitter_range=5, jitter_unit="fortnights", rng=random.Random())
    with pytest.raises(TransformError, match="at least 1"):
        shift_date("20040119", 0, jitter_range=0.5, rng=random.Random())


@given(day=st.dates(min_value=date(1900, 1, 1), max_value=date(2099, 12, 31)),
       days=st.integers(-5000, 5000))
def test_shift_date_inverts(day, days):
    text = day.strftime("%Y%m%d")
    assert shift_date(shift_date(text, days), -days) == text


@given(moment=st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2099, 12, 31)),
       days=st.floats(-5000, 5000, allow_nan=False).map(lambda d: round(d, 3)),
       zone=st.sampled_from(["", "+0100", "-05:00"]))
def test_shift_datetime_inverts(moment, days, zone):
    text = moment.strftime("%Y%m%d%H%M%S.%f") + zone
    assert shift_datetime(shift_datetime(text, days), -days) == text


# jitter -------------------------------------------------------------------------------------

def first_nonzero(draw):
    offset = 0
    while not offset:
        offset = draw()
    return offset


def test_jitter_float_uses_flywheel_draw():
    reference = random.Random(3)
    offset = first_nonzero(lambda: reference.uniform(-1, 1) * 2.0)
    assert jitter("80.0000", rng=random.Random(3), vr="FD") == 80.0 + offset


def test_jitter_int_uses_flywheel_draw():
    reference = random.Random(5)
    offset = first_nonzero(lambda: reference.randint(-10, 10))
    assert jitter("70", 10, "int", rng=random.Random(5), vr="IS") == 70 + offset


def test_jitter_ds_is_valid_unless_compat():
    for seed in range(50):
        text = jitter("80.0000", vr="DS", rng=random.Random(seed))
        raw = jitter("80.0000", vr="DS", rng=random.Random(seed), compat_flywheel=True)
        assert isinstance(text, str) and len(text) <= 16
        assert isinstance(raw, float) and abs(float(text) - raw) < 1e-10


@pytest.mark.parametrize("number, text", [
    (78.28974514667017, "78.2897451466702"),
    (80.0, "80.0"),
    (-0.000123456789012345, "-0.000123456789"),
    (1.2345678901234568e+17, "1.2345678901e+17"),
    (10**20, "1e+20"),
    (12, "12"),
])
def test_format_ds_fits_16_characters(number, text):
    assert format_ds(number) == text
    assert len(text) <= 16 and float(text) == pytest.approx(number, rel=1e-9)


@given(st.floats(-1e300, 1e300))  # nearer float's limit, rounding to 16 chars can overflow
def test_format_ds_always_valid(number):
    text = format_ds(number)
    assert len(text) <= 16 and re.fullmatch(r"[0-9+\-Ee.]+", text)
    assert float(text) == pytest.approx(number, rel=1e-7, abs=1e-300)


@pytest.mark.parametrize("vr, original, low, high", [
    ("US", "1", 0, None), ("US", "65535", None, 65535), ("UL", "0", 0, None),
    ("SS", "32767", None, 32767), ("SS", "-32768", -32768, None),
    ("SL", "2147483647", None, 2147483647),
])
def test_jitter_integer_vrs_stay_in_range(vr, original, low, high):
    for seed in range(40):
        value = jitter(original, 5, vr=vr, rng=random.Random(seed))
        assert isinstance(value, int)
        if low is not None:
            assert value >= low
        if high is not None:
            assert value <= high


def test_jitter_on_is_truncates_but_does_not_clamp():
    value = jitter("2147483647", 10, "int", vr="IS", rng=random.Random(0))
    assert isinstance(value, int) and value != 2147483647  # Flywheel writes it, so do we


def test_jitter_min_max_clamp_keeps_result_type():
    assert jitter("0.0", 5, minimum=0, rng=random.Random(2), vr="FD") >= 0.0
    clamped = [jitter("0", 5, "int", minimum=0.5, maximum=1, rng=random.Random(s)) for s in
               range(30)]
    assert set(clamped) <= {0, 1} and all(isinstance(v, int) for v in clamped)


@pytest.mark.parametrize("bad, message", [
    ("70.5", "not an integer"), ("1,2", "several values"), ("abc", "not an integer"),
])
def test_jitter_int_rejects_non_integers(bad, message):
    with pytest.raises(TransformError, match=message):
        jitter(bad, 2, "int", rng=random.Random())


def test_jitter_rejects_bad_ranges_and_non_finite():
    with pytest.raises(TransformError, match="must not be 0"):
        jitter("1.0", 0, rng=random.Random())
    with pytest.raises(TransformError, match="at least 1"):
        jitter("1", 0.5, "int", rng=random.Random())
    with pytest.raises(TransformError, match="finite"):
        jitter("nan", 2, rng=random.Random())
    assert jitter("5", "5", rng=random.Random(1)) != 5.0  # Flywheel accepts a string range


@pytest.mark.parametrize("empty", [None, ""])
def test_jitter_leaves_empty_values_alone(empty):
    assert jitter(empty, 2, vr="IS", rng=random.Random()) is None


# patient age --------------------------------------------------------------------------------

@pytest.mark.parametrize("birth, study, units, age", [
    ("20040101", "20040119", None, "018D"),
    ("20040119", "20040101", None, "018D"),  # swapped
    ("19700131", "20040119", "M", "407M"),
    ("19000101", "20040119", None, "104Y"),
    ("20010119", "20040119", None, "036M"),  # 1096 days is too many, 36 months is not
    ("20010120", "20040119", "D", "035M"),
    ("19700101", "20040119", "Y", "034Y"),
    ("19700101", "20040119", "x", "408M"),  # unknown unit: start at D
    ("00010101", "99991231", None, "960Y"),  # clamped
])
def test_patient_age_units(birth, study, units, age):
    assert patient_age(birth, study, units=units) == age


def test_patient_age_exactly_960_months_goes_to_years():
    assert patient_age("19240101", "20040101", units="M") == "080Y"
    assert patient_age("19240102", "20040101", units="M") == "959M"


@pytest.mark.parametrize("birth, study", [("", "20040119"), (None, "20040119"),
                                          ("2004-01-01", "20040119")])
def test_patient_age_invalid_gives_none(birth, study):
    assert patient_age(birth, study) is None


@pytest.mark.parametrize("earlier, later, months", [
    (datetime(2004, 1, 31), datetime(2004, 2, 29), 1),  # Jan 31 + 1 month = Feb 29
    (datetime(2004, 1, 31), datetime(2004, 2, 28), 0),
    (datetime(2003, 1, 31), datetime(2003, 2, 28), 1),
    (datetime(2004, 2, 29), datetime(2005, 2, 28), 12),
    (datetime(2004, 3, 15, 12), datetime(2004, 4, 15, 11), 0),
])
def test_whole_months_like_relativedelta(earlier, later, months):
    assert whole_months_between(earlier, later) == months


def _months_later(moment: datetime, months: int) -> datetime:
    """``moment`` + ``months``, the day cut to the month's length by calendar.monthrange."""
    import calendar

    year, index = divmod(moment.month - 1 + months, 12)
    year += moment.year
    return moment.replace(year=year, month=index + 1,
                          day=min(moment.day, calendar.monthrange(year, index + 1)[1]))


@settings(max_examples=300, deadline=None)
@given(earlier=st.datetimes(datetime(1, 1, 1), datetime(9000, 12, 31)),
       span=st.timedeltas(timedelta(0), timedelta(days=365 * 120)))
def test_whole_months_is_the_most_months_that_fit(earlier, span):
    """The month lengths come from the walk's own arithmetic: checked against calendar's."""
    later = earlier + span
    months = whole_months_between(earlier, later)
    assert _months_later(earlier, months) <= later < _months_later(earlier, months + 1)


# regex-sub ----------------------------------------------------------------------------------

ITEMS = [
    {"input_regex": r"(?P<site>[A-Z]+)-(?P<num>\d+)", "output": "{site}_{num}",
     "groups": [{"name": "num", "op": "hash"}]},
    {"input_regex": r".*", "output": "{PatientID}-x", "groups": [{"name": "PatientID"}]},
]


def test_regex_sub_first_match_with_group_transform():
    calls = []

    def transform(item, name, matched):
        calls.append((name, matched))
        return f"<{matched}>"

    assert regex_sub("ABC-123", ITEMS, transform) == "ABC_<123>"
    assert regex_sub("abc", ITEMS, transform) == "<None>-x"
    assert calls == [("num", "123"), ("PatientID", None)]


def test_regex_sub_no_match_and_undefined_placeholder_are_errors():
    with pytest.raises(TransformError, match="matches none"):
        regex_sub("abc", ITEMS[:1], lambda *a: None)
    with pytest.raises(TransformError, match="neither a named group"):
        regex_sub("x", [{"input_regex": "x", "output": "{missing}"}], lambda *a: None)


def test_regex_sub_dotted_placeholder_and_repeats():
    draws = iter(["first", "second"])
    item = {"input_regex": r"(?P<a>\w+)", "output": "{Seq.0.PatientID}/{a}/{Seq.0.PatientID}",
            "groups": [{"name": "Seq.0.PatientID"}]}
    assert regex_sub("v", [item], lambda *a: next(draws)) == "second/v/second"


def test_regex_sub_none_result_becomes_empty_and_none_value_untouched():
    assert regex_sub("ABC-1", ITEMS, lambda *a: None) == "ABC_"
    assert regex_sub(None, ITEMS, lambda *a: "x") is None


def assert_read_as_strptime_reads(text):
    """transforms.strptime gives the date datetime.strptime gives, or refuses as it does."""
    try:
        expected = datetime.strptime(text, "%Y%m%d")
    except ValueError:
        with pytest.raises(ValueError):
            transforms.strptime(text, "%Y%m%d")
    else:
        assert transforms.strptime(text, "%Y%m%d") == expected, text


@pytest.mark.parametrize("year", ["0000", "0001", "1900", "2000", "2004", "2100", "9999"])
def test_dicom_dates_read_directly_as_strptime_reads_them(year):
    """transforms.strptime reads 8-digit dates without datetime.strptime: for every month and
    day field, 0000 to 9999, it gives the same date or refuses the same values."""
    for month_day in range(10000):
        assert_read_as_strptime_reads(f"{year}{month_day:04d}")


@pytest.mark.parametrize("text", ["2004011", "200401190", "2004 119", "２００４０１１９", "20040119 ",
                                  "+2004011"])
def test_other_date_texts_are_read_as_strptime_reads_them(text):
    assert_read_as_strptime_reads(text)
