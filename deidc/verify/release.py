"""A whole release: pair every input with its output, check each pair (in ``jobs``
processes), then check the UIDs across the release.

Pairs are found as ``deidc apply`` makes them (:func:`deidc.run.runner.discover`): an input
file goes to OUTPUT/name, a folder's files to OUTPUT/<path relative to the folder>.  An input
that apply would de-identify (DICOM by its preamble, or matched by the plan's file-filter) with
no output is a finding, and so is every file of the output folder no input explains: a stray
file (a deid log, a copy made by hand) can carry the PHI the release was meant to remove.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict

from ..errors import DeidcError
from ..run.journal import JOURNAL_NAME
from ..run.runner import RunOptions, accepts, discover, is_temporary
from .findings import Finding, Report, finding
from .pair import check_pair

BATCH = 4  # pairs to a batch for the workers (a pair takes a few milliseconds)


class VerifyError(DeidcError):
    """The release cannot be verified as asked (a folder missing or unreadable)."""


def verify_release(inputs: list[str], output: str, plan=None, jobs: int = 1,
                   strays: bool = True) -> Report:
    """Check the outputs in ``output`` against ``inputs`` (files or folders, as given to
    ``deidc apply``).  ``strays``: report the output folder's files no input explains (off
    for ``apply --verify``, whose output folder may hold earlier runs' files)."""
    _check_folders(inputs, output)
    pairs, findings, seen_outputs = pair_files(inputs, output, plan)
    if strays:
        findings += stray_outputs(inputs, output, seen_outputs)
    from .identifiers import plan_written_values

    plan_values = plan_written_values(plan) if plan is not None else frozenset()
    ignored: Counter = Counter()
    all_links: list[tuple] = []
    for checked in _checked(pairs, jobs, plan, plan_values):
        findings += checked.findings
        all_links += checked.links
        ignored.update(checked.ignored)
    findings += linkage(all_links)
    outputs = len(seen_outputs) + sum(f.kind == "unpaired-output" for f in findings)
    return Report(findings, inputs=len(pairs) + sum(f.kind == "unpaired-input"
                                                    for f in findings),
                  outputs=outputs, pairs=len(pairs), ignored=ignored,
                  checked_plan=plan is not None)


def _check_folders(inputs: list[str], output: str) -> None:
    for path in [*inputs, output]:
        if not os.path.exists(path):
            raise VerifyError(f"{path}: no such file or folder")
        if not os.access(path, os.R_OK | (os.X_OK if os.path.isdir(path) else 0)):
            raise VerifyError(f"{path}: cannot be read (permission denied)")
    if not os.path.isdir(output):
        raise VerifyError(f"{output}: the output must be a folder (the -o of deidc apply)")
    for path in inputs:
        if os.path.isdir(path) and os.path.samefile(path, output):
            raise VerifyError(f"{path} is both the input and the output: an in-place run "
                              "leaves no original to verify against")


def pair_files(inputs: list[str], output: str, plan) -> tuple[list, list[Finding], set]:
    """(source, target, relative) of each input with an output; findings for the inputs
    apply would have written an output for and did not; the output paths paired."""
    file_filter = plan.options.get("file-filter") if plan is not None else None
    pairs, findings, seen = [], [], set()
    try:
        for job in discover(inputs, RunOptions(output=output)):
            if job.earlier == "unreadable":  # its files would go unpaired, unseen
                raise VerifyError(f"{job.source}: this input folder cannot be read, so its "
                                  "files cannot be checked; make it readable and run again")
            if os.path.isfile(job.target):
                pairs.append((job.source, job.target, job.relative))
                seen.add(os.path.abspath(job.target))
            elif accepts(job.source, file_filter):
                findings.append(finding(job.relative, "unpaired-input",
                                        "this input has no output (deidc apply fails or "
                                        "skips files it cannot de-identify: see its report)"))
    except OSError as exc:
        raise VerifyError(f"cannot read the input folders: {exc}") from None
    return pairs, findings, seen


def stray_outputs(inputs: list[str], output: str, seen: set) -> list[Finding]:
    def unreadable(error: OSError):  # a folder skipped unseen could hold any stray file
        raise VerifyError(f"{error.filename}: this output folder cannot be read "
                          f"({error.strerror or error}), so the files in it cannot be "
                          "checked; make it readable and run again")

    findings = []
    for folder, subfolders, files in os.walk(output, onerror=unreadable):
        subfolders.sort()
        for name in sorted(files):
            path = os.path.join(folder, name)
            if name == JOURNAL_NAME or is_temporary(name) or os.path.abspath(path) in seen:
                continue
            findings.append(finding(os.path.relpath(path, output), "unpaired-output",
                                    "no input has this relative path: a file apply did not "
                                    "write can hold anything (a deid log holds the originals)"))
    return findings


def linkage(links: list[tuple]) -> list[Finding]:
    """Layer 3: one input UID is one output UID across the release, and two input UIDs never
    one output UID.  Where an input UID was written in several ways, the places that differ
    from its most common spelling are the findings."""
    outputs_of: dict[str, Counter] = defaultdict(Counter)
    inputs_of: dict[str, set] = defaultdict(set)
    for original, released, *_ in links:
        outputs_of[original][released] += 1
        inputs_of[released].add(original)
    findings = []
    for original, released, file, tag, location in links:
        written = outputs_of[original]
        if len(written) > 1 and released != written.most_common(1)[0][0]:
            findings.append(finding(file, "uid-split", f"this input UID is written as "
                                    f"{len(written)} different UIDs across the release; "
                                    f"here it differs from the {written.most_common(1)[0][1]} "
                                    "other places that agree", tag=tag, location=location,
                                    value=released))
        if len(inputs_of[released]) > 1:
            findings.append(finding(file, "uid-merge", f"this output UID stands for "
                                    f"{len(inputs_of[released])} different input UIDs across "
                                    "the release", tag=tag, location=location,
                                    value=released))
    return findings


def _checked(pairs: list, jobs: int, plan, plan_values):
    def check(items):
        return [check_pair(*item, plan=plan, plan_values=plan_values) for item in items]

    from ..run import workers

    if jobs <= 1 or not workers.available() or len(pairs) <= BATCH * jobs:
        for item in pairs:
            yield check_pair(*item, plan=plan, plan_values=plan_values)
        return
    pool = workers.Workers(jobs - 1, check, ahead=2 * jobs)
    batches = iter([pairs[start:start + BATCH] for start in range(0, len(pairs), BATCH)])
    # a worker that died lost its batch: check it here
    yield from pool.share(batches, check,
                          lambda batch, results: check(batch) if results is None else results)
