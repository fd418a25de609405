"""The profile ``deidc create --conformance`` writes, generated row by row from Table E.1-1.

Nothing here is written by hand per attribute: each row's rule follows from the code the table
requires under the chosen options (:func:`deidc.conformance.table.required_action`), so a new
edition of the table gives a new profile.  How each code becomes a Flywheel rule:

- ``X`` and the compounds that offer it (``X/Z``, ``X/D``, ``X/Z/D``, ``X/Z/U*``): ``remove``.
  deidc cannot know an attribute's Type in the IOD, and removal is what every compound allows.
- ``Z`` and ``Z/D``: ``replace-with: ''`` (a sequence is removed, which Flywheel can do).
- ``D``: a dummy value of the attribute's VR (``hashuid`` for a UID); removed where no dummy
  value can be written (binary VRs, sequences).
- ``U``: ``hashuid``, which gives the same new UID for the same UID in every file.
- Retired attributes the code would transform are removed (current files do not carry them).
- ``C``: dates shifted by ``date-increment`` (the Modified Dates option); anything else gets the
  dummy of ``D``, which keeps nothing of the original.
- ``K``: no rule.

Where the table and Flywheel's sorting tags meet: PatientID is hashed (a salted pseudonym meets
``Z``), Study and Series UIDs are hashed UIDs (``U``).  The descriptions are ``X`` under the
Basic Profile and are removed then; under Clean Descriptors (``C``) they get a neutral label,
so that Flywheel still names sessions and acquisitions.

``recurse-sequence: true`` applies every rule inside sequences too (Annex E asks attributes
to be treated wherever they occur), and ``remove-private-tags`` removes private attributes.
What was done is recorded as PS3.15 E.1.1 asks: PatientIdentityRemoved YES and
DeidentificationMethod.  DeidentificationMethodCodeSequence cannot be written: Flywheel's
``replace-with`` inserts values, not sequence items.  DeidentificationMethod (LO, 1-n) then
holds the CID 7050 codes of the profile and options as its values, which E.1.1 allows when the
code sequence is absent (PS3.3 C.7.1.1: the text is required when the sequence is not present).
"""

from __future__ import annotations

from ..profile import dictionary
from . import table

# A dummy value per VR, consistent with it (PS3.5 6.2) and identifying no one.
DUMMY = {"AE": "ANONYMOUS", "AS": "000Y", "CS": "ANONYMOUS", "DA": "19000101",
         "DT": "19000101000000", "LO": "ANONYMOUS", "LT": "ANONYMOUS", "PN": "ANONYMOUS",
         "SH": "ANONYMOUS", "ST": "ANONYMOUS", "TM": "000000", "UC": "ANONYMOUS",
         "UT": "ANONYMOUS", "DS": "0", "IS": "0"}
SORTING_LABELS = {"StudyDescription": "DEIDENTIFIED STUDY",
                  "SeriesDescription": "DEIDENTIFIED SERIES"}
DATE_SHIFT = -17


def rule_for(row: table.Row, code: str) -> dict | None:
    """The Flywheel rule (without ``name``) that carries out ``code`` on ``row``; None keeps."""
    if code == "K":
        return None
    if row.keyword == "PatientID" and code in ("Z", "Z/D", "D"):
        return {"hash": True}
    if row.retired and code in ("U", "C"):
        return {"remove": True}  # lint D003: a transformed retired attribute is a mistake
    if code == "U" or (code in ("D", "C") and row.vr == "UI"):
        return {"hashuid": True}
    if code.startswith("X"):
        return {"remove": True}
    if code in ("Z", "Z/D"):
        return {"remove": True} if row.is_sequence else {"replace-with": ""}
    if code == "C" and row.keyword in SORTING_LABELS:
        return {"replace-with": SORTING_LABELS[row.keyword]}
    if code == "C" and row.vr == "DA":
        return {"increment-date": True}
    if row.vr in DUMMY and not row.retired:  # D, and C on what a dummy cleans
        return {"replace-with": DUMMY[row.vr]}
    return {"remove": True}


def selector(row: table.Row) -> str:
    """The rule's ``name``: the keyword pydicom knows, else the tag (newer than the
    dictionary), else the repeating-group mask Flywheel expands."""
    if row.keyword_source == "pydicom" and not row.is_repeating:
        return row.keyword
    return f"({row.tag[:4]},{row.tag[4:]})"


def repeating_selectors(row: table.Row) -> list[str]:
    """Every 50xx or 60xx element pydicom's dictionary knows, for a curve or overlay row
    (Flywheel expands a mask, not a whole group).  The table names only an overlay's data and
    comments; its other elements go too, since without its data an overlay module is broken,
    and a curve or an overlay is all graphics drawn on or beside the image."""
    prefix = row.tag[:2]
    return sorted(mask.upper() for mask in dictionary.repeater_keywords().values()
                  if mask.lower().startswith(prefix))


def conformance_profile(salt: str, options=(), *, verdict_line: str) -> str:
    """The text of a profile meeting Table E.1-1 under ``options``; ``salt`` for hashes;
    ``verdict_line`` a header line where the caller says what the judge found (the API
    judges the text, then fills it in, as for the starter profile)."""
    chosen = table.check_options(options)
    fields, kept, named = [], 0, set()
    for row in table.rows():
        if row.is_private:
            continue  # remove-private-tags
        code = table.required_action(row, chosen)
        rule = rule_for(row, code)
        if rule is None:
            kept += 1
            continue
        names = repeating_selectors(row) if row.is_repeating else [selector(row)]
        fields += [(name, rule, row, code) for name in names if name not in named]
        named.update(names)
    methods = table.methods(chosen)
    return _render(chosen, methods, fields, kept, salt, verdict_line)


def _render(chosen, methods, fields, kept, salt, verdict_line) -> str:
    named = f" with {', '.join(chosen)}" if chosen else ""
    dates = ("MODIFIED" if "retain-longitudinal-modified-dates" in chosen else
             "UNMODIFIED" if "retain-longitudinal-full-dates" in chosen else "REMOVED")
    lines = [
        "# A de-identification profile in Flywheel's format, written by",
        f"# `deidc create --conformance{''.join(f' --option {o}' for o in chosen)}` from DICOM "
        f"PS3.15 {table.EDITION}",
        f"# Table E.1-1 (Basic Profile{named}), one rule per row, as `deidc conformance` reads it.",
        "# The table covers attributes, not pixels: burned-in text is not removed.",
        verdict_line,
    ]
    if "clean-descriptors" not in chosen:
        lines += ["# StudyDescription and SeriesDescription are removed (the Basic Profile's X),",
                  "# so Flywheel labels sessions and acquisitions by date (lint T001);",
                  "# --option clean-descriptors gives them a neutral label instead."]
    lines += [
        "",
        f"name: deidc-conformance{'-' + '-'.join(chosen) if chosen else ''}",
        f"description: PS3.15 {table.EDITION} Table E.1-1, Basic Profile{named}.",
        "",
        "dicom:",
        "  # Rules apply inside sequences too: Annex E treats an attribute wherever it occurs.",
        "  recurse-sequence: true",
        "  remove-private-tags: true",
        "  # Shifted dates keep intervals; choose your own number and keep it secret.",
        f"  date-increment: {DATE_SHIFT}",
        "  # Secret mixed into every hash and hashuid (drawn at random by deidc create). Keep",
        "  # the same salt for one project, and keep it out of public repositories.",
        f"  salt: '{salt}'",
        "  fields:",
        "    # --- What was done, as PS3.15 E.1.1 asks. Flywheel cannot insert the code",
        "    # sequence, so DeidentificationMethod holds the CID 7050 codes (DCM):",
    ]
    lines += [f"    #   {code} {meaning}" for code, meaning in methods]
    lines += ["    - name: PatientIdentityRemoved", "      replace-with: 'YES'",
              "    - name: DeidentificationMethod", "      replace-with:"]
    lines += [f"        - 'DCM {code}'" for code, _ in methods]
    lines += ["    - name: LongitudinalTemporalInformationModified",
              f"      replace-with: {dates}",
              f"    # --- Table E.1-1: {len(fields)} rules; {kept} rows are kept as the "
              "options ask."]
    for name, rule, row, code in fields:
        (key, value), = rule.items()
        lines.append(f"    - name: {_scalar(name)}  # {code}")
        lines.append(f"      {key}: {_scalar(value)}")
    return "\n".join(lines) + "\n"


def _scalar(value) -> str:
    if value is True:
        return "true"
    return "'" + str(value).replace("'", "''") + "'" if (
        value == "" or not str(value).replace(" ", "").isalpha()) else str(value)
