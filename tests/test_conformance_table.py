"""The shipped PS3.15 Table E.1-1 against the public copies in ../shared/data, and the action the
table requires under options."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest

from deidc.conformance import table
from deidc.conformance.table import OptionError, required_action, row_for

from .conftest import SHARED

DATA = SHARED / "data"
OPTION_KEYS = {  # the 2024b JSON's key for each option column
    "retain-safe-private": "rtnSafePrivOpt", "retain-uids": "rtnUIDsOpt",
    "retain-device-identity": "rtnDevIdOpt", "retain-institution-identity": "rtnInstIdOpt",
    "retain-patient-characteristics": "rtnPatCharsOpt",
    "retain-longitudinal-full-dates": "rtnLongFullDatesOpt",
    "retain-longitudinal-modified-dates": "rtnLongModifDatesOpt",
    "clean-descriptors": "cleanDescOpt", "clean-structured-content": "cleanStructContOpt",
    "clean-graphics": "cleanGraphOpt",
}
needs_shared = pytest.mark.skipif(not DATA.is_dir(), reason="no shared/ beside the clone")


def shipped_tag(text: str) -> str:
    """The shared files' tag spelling, ``(0008,0050)`` or ``(50XX,XXXX)``, as the package
    writes it, by a route of its own."""
    if "gggg" in text.lower():
        return "ggggeeee"
    group, element = text.strip("()").split(",")[:2]
    return (group + element.split()[0]).upper().replace("X", "x")


@needs_shared
def test_every_2024b_row_is_shipped_with_its_codes():
    older = json.loads((DATA / "ps315-confidentiality-profile.json").read_text())
    shipped = table.by_tag()
    assert len(older) == 621
    for row in older:
        ours = shipped[shipped_tag(row["tag"])]
        assert ours.basic == row["basicProfile"], row["tag"]
        assert dict(ours.options) == {name: row[key] for name, key in OPTION_KEYS.items()
                                      if key in row}, row["tag"]
        assert "\n" not in ours.name and "(see Note" not in ours.name


@needs_shared
def test_every_2025c_row_is_shipped_newest_included():
    with open(DATA / "ps315-confidentiality-profile-2025c.csv", newline="") as handle:
        newer = list(csv.DictReader(handle))
    columns = list(newer[0])[5:]
    assert len(newer) == len(table.rows()) == 649
    shipped = table.by_tag()
    for row in newer:
        ours = shipped[shipped_tag(row["Tag"])]
        assert ours.basic == row["Basic Prof."]
        assert dict(ours.options) == {name: row[column] for name, column
                                      in zip(table.OPTIONS, columns) if row[column]}
        assert ours.in_std_comp_iod == (row["In Std. Comp. IOD (from PS3.3)"] == "Y")
        assert ours.retired == (row["Retd. (from PS3.6)"] == "Y")
    assert shipped["00100012"].name == "Name to Use" and shipped["00100012"].since == "2025c"


def test_edition_sources_and_option_names_are_named():
    assert table.EDITION == "2025c"
    assert {source["edition"] for source in table.SOURCES} == {"2024b", "2025c"}
    assert all(source["repository"] and source["commit"] for source in table.SOURCES)
    assert table.OPTIONS == tuple(OPTION_KEYS)


def test_keywords_are_pydicoms_where_it_knows_the_tag():
    from pydicom import datadict

    for row in table.rows():
        if row.keyword_source == "pydicom" and not row.is_repeating:
            assert datadict.keyword_for_tag(int(row.tag, 16)) == row.keyword
        elif not row.is_private and not row.is_repeating:
            assert int(row.tag, 16) not in datadict.DicomDictionary
    assert table.by_tag()["00100011"].keyword == "PersonNamesToUseSequence"


def test_patterns_match_the_elements_they_cover():
    assert row_for(0x60003000).tag == "60xx3000"
    assert row_for(0x601E4000).tag == "60xx4000"
    assert row_for(0x60013000).tag == "ggggeeee"  # odd group: private, not an overlay
    assert row_for(0x50020010).tag == "50xxxxxx"
    assert row_for(0x60200010) is None  # outside the repeating range
    assert row_for(0x00091001).tag == "ggggeeee"
    assert row_for(0x00100010).keyword == "PatientName"


def test_an_option_code_replaces_the_basic_code():
    birth_date = table.by_tag()["00100030"]
    assert required_action(birth_date) == "Z"
    study_date = table.by_tag()["00080020"]
    assert required_action(study_date, ["retain-longitudinal-full-dates"]) == "K"
    assert required_action(study_date, ["retain-longitudinal-modified-dates"]) == "C"
    assert required_action(study_date, ["clean-descriptors"]) == study_date.basic


def test_conflicting_option_codes_resolve_to_the_more_protective():
    conflicting = [row for row in table.rows()
                   if {row.options.get("retain-device-identity"),
                       row.options.get("retain-longitudinal-modified-dates")} == {"K", "C"}]
    assert len(conflicting) == 11
    for row in conflicting:
        assert required_action(row, ["retain-device-identity"]) == "K"
        assert required_action(row, ["retain-device-identity",
                                     "retain-longitudinal-modified-dates"]) == "C"


def test_unknown_and_exclusive_options_are_refused():
    row = table.rows()[0]
    with pytest.raises(OptionError, match="unknown option retain-everything"):
        required_action(row, ["retain-everything"])
    with pytest.raises(OptionError, match="alternatives"):
        required_action(row, ["retain-longitudinal-full-dates",
                              "retain-longitudinal-modified-dates"])


def test_the_table_loads_without_pydicom():
    code = ("import sys; from deidc.conformance import table; table.rows(); "
            "print('pydicom' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"
