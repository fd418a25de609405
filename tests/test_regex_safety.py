"""`regex_safety.backtracking_risk`: which `regex:` selectors deidc refuses to run; and
`safe_length`: on how long a value a `regex-sub` pattern may run."""

import re
import time

import pytest

from deidc.profile.regex_safety import (MAX_PATTERN_LENGTH, PATH_LENGTH, backtracking_risk,
                                        safe_length)

# Shapes from the real profiles and the seed, and the ones the docs recommend: all must run.
SAFE = [
    r".*IdentificationSequence.*",
    r".*Date$",
    r"^0010[0-9a-f]{4}$",
    r"(?i).*patient.*",
    r"[^.]*\.0\.PatientID",
    r"ReferencedSeriesSequence\.\d+\.SeriesInstanceUID",
    r"(Study|Series)Date",
    r"\d+\.\d+\.\d+",
    r"(?P<name_value>.*)\.jpg$",
]

# Exponential (a repeat of something ambiguous) and high-polynomial (open repeats in a row).
EXPONENTIAL = [r"(a+)+$", r"(\w|\w)*x", r"(.*)*Date", r"((ab)*|a)*c", r"(a|aa)+$"]
POLYNOMIAL = [r".*.*.*.*x", r"\w*\w*\w*\w*!"]


@pytest.mark.parametrize("pattern", SAFE)
def test_ordinary_selectors_are_run(pattern):
    assert backtracking_risk(pattern) is None


@pytest.mark.parametrize("pattern", EXPONENTIAL)
def test_ambiguous_repeats_are_refused_as_exponential(pattern):
    assert "exponential" in backtracking_risk(pattern)


@pytest.mark.parametrize("pattern", POLYNOMIAL)
def test_runs_of_open_repeats_are_refused_as_polynomial(pattern):
    assert "high power" in backtracking_risk(pattern)


def test_very_long_and_very_deep_patterns_are_refused_quickly():
    assert "longer than" in backtracking_risk("a" * (MAX_PATTERN_LENGTH + 1))
    deep = "(" * 90 + "a" + ")" * 90
    assert backtracking_risk(deep) in (None, "it is nested too deeply to analyse")


# Patterns that pass at PATH_LENGTH but whose matching time grows with a power of the text.
GROWING = [r"(?P<a>.*)-(?P<b>.*)-(?P<c>.*)$", r".*a.*b", r"\w*\w*\w*!"]
# Patterns a real profile splits names with: linear however long the value.
LINEAR = [r"^(?P<last>[^^]*)\^(?P<first>.*)$", r"(?P<id>\w+)\s(?P<rest>\w+)", r".*",
          r"\w+( \w+)*"]


@pytest.mark.parametrize("pattern", GROWING)
def test_a_growing_pattern_is_bounded_where_a_longer_text_would_not_be_safe(pattern):
    bound = safe_length(pattern)
    assert bound is not None and bound >= PATH_LENGTH
    assert backtracking_risk(pattern, bound) is None
    assert backtracking_risk(pattern, bound * 2) is not None


@pytest.mark.parametrize("pattern", LINEAR)
def test_a_linear_pattern_runs_on_any_length(pattern):
    assert safe_length(pattern) is None
    started = time.process_time()
    re.match(pattern, "a" * 200_000)  # a UT-sized value: no backtracking blow-up
    assert time.process_time() - started < 5
