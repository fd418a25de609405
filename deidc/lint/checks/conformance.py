"""E: what a profile leaves identifiable, held against DICOM PS3.15 Annex E Table E.1-1.

These rules run only with ``deidc lint --conformance`` (or ``conformance = true`` in
``[tool.deidc]``): the judgement needs the profile compiled, which the API does for each
profile that lints without errors, and hands in as ``context.judged``.  The row by row
reasoning lives in :mod:`deidc.conformance.judge`; these rules only place its verdicts on the
profile's lines, so that an editor, SARIF viewer or pull request shows each gap where it is
decided.
"""

from __future__ import annotations

from ..diagnostic import Finding, LintContext, Severity, rule

# What each code of Table E.1-1 asks, as the profile would write it.
WRITE = {"X": "remove it (`remove: true`)", "Z": "blank it (`replace-with: ''`)",
         "D": "replace it with a dummy value (`replace-with`, or `hash` with a `salt`)",
         "U": "give it consistent new UIDs (`hashuid: true`)",
         "C": "clean it (`increment-date` for dates)", "K": "keep it",
         "U*": "`hashuid` the ReferencedSOPInstanceUID inside it"}


@rule("E001", "annex-e-gap", Severity.WARNING, conformance=True, fail="""
    name: keeps the patient's name
    dicom:
      remove-private-tags: true
      remove-undefined: true
      fields:
        - name: PatientName
          keep: true
    """, passes="""
    name: removes everything it does not name
    dicom:
      remove-private-tags: true
      remove-undefined: true
      fields:
        - name: PixelData
          keep: true
    """)
def annex_e_gap(ctx: LintContext):
    """An attribute of PS3.15 Table E.1-1 that the profile leaves short of what the table
    requires, at the line responsible (the `dicom:` line when no rule names it).

    Table E.1-1 is DICOM's own answer to "is this enough?": the attributes that identify a
    patient, and what the Basic Application Level Confidentiality Profile (and each of its
    options, `--option retain-uids` and so on) requires for each. A gap means the original
    value, or something derived from it that the table does not allow, reaches the release: a
    kept name, a date shifted where only blanking is allowed, a hash where a new UID is asked,
    an attribute treated at the top level while copies inside sequences survive. `deidc
    conformance` shows the whole table; this check puts each gap on the profile's line, and
    runs only with `deidc lint --conformance`."""
    judged = ctx.judged
    if judged is None or ctx.profile is None:
        return
    lines = {ctx.source.span(rule_.pointer).line: rule_ for rule_ in ctx.fields}
    dicom = ctx.profile.dicom.pointer if ctx.profile.dicom else ctx.profile.pointer
    for gap in judged.gaps:
        if isinstance(gap.line, int) and gap.line in lines:
            pointer, on_key = lines[gap.line].selector_pointer, False
        elif isinstance(gap.line, str) and gap.line.startswith("dicom:") and gap.line[6:]:
            pointer, on_key = ctx.option_pointer(gap.line[6:]), True
        else:
            pointer, on_key = dicom, True
        yield Finding(pointer, f"{gap.keyword or gap.tag} ({gap.tag}): {gap.action}",
                      hint(gap, named=pointer != dicom), on_key=on_key,
                      subject=f"{gap.keyword or gap.tag} ({gap.tag})")


def hint(gap, *, named: bool) -> str:
    if gap.nested_only:
        return ("copies inside sequences survive: set `recurse-sequence: true` (or "
                "`remove-undefined: true` with a keeplist)")
    asks = " or ".join(WRITE[code] for code in gap.required.split("/"))
    return asks if named else f"name it in a rule: {asks}; or set `remove-undefined: true`"


@rule("E002", "conformance-not-judged", Severity.WARNING, conformance=True, fail="""
    name: does not compile
    dicom:
      fields:
        - name: PatientNme
          remove: true
    """, passes="""
    name: compiles
    dicom:
      remove-undefined: true
      fields:
        - name: PixelData
          keep: true
    """)
def conformance_not_judged(ctx: LintContext):
    """`--conformance` was asked, but the profile could not be judged against PS3.15 Table
    E.1-1: it has lint errors, does not parse, or asks for what deidc cannot compile.

    The judgement reads what the compiled plan does to each attribute, and a profile that does
    not compile has no plan. Without this note, a profile that cannot be judged would look like
    one with no gap. Fix the errors reported with it (or, for encryption and pixel scrubbing,
    which deidc does not execute, judge a copy without them)."""
    judged = ctx.judged
    if judged is None or not judged.refused:
        return
    pointer = ctx.profile.pointer if ctx.profile else ""
    yield Finding(pointer, f"conformance to PS3.15 Table E.1-1 could not be judged: "
                           f"{judged.refused}",
                  "fix the errors above, then lint again with --conformance", on_key=True)
