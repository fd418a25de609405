"""`regex_safety.backtracking_risk`: which `regex:` selectors deidc refuses to run."""


import pytest

from deidc.profile.regex_safety import MAX_PATTERN_LENGTH, backtracking_risk

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
