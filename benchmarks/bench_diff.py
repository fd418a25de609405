"""End-to-end speed of `deidc diff` (a new interpreter each time, imports included) on two real
profile versions (Penn BSC v3.0 → v4.0, and the 186-rule vbrename against a copy with every
keyword written as its tag), beside `deidc compile` of one of them and a bare `python -c pass`,
measured in the same interleaved rounds.  ``--before DIR`` also runs the diffs with another
copy of the package (``git archive REV deidc | tar -x -C DIR``), in the same rounds, for a
before/after ratio.

    python benchmarks/bench_diff.py [--rounds N] [--profiles DIR] [--before DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from pydicom.datadict import tag_for_keyword

PROFILES = Path("/work/shared/data/real-profiles")
OLD = "ftdc-picsl__de-id_upenn_Penn_BSC_profile_v3.0_20201111A.yaml"
NEW = "bsc-flywheel-deid__de-id_upenn_Penn_BSC_profile_v4.0_20250829.yaml"
LARGE = "ftdc-picsl__vbrename.yaml"


def timed(command: list[str], package: Path | None = None) -> float:
    """One run; ``package``: the folder holding another ``deidc`` to import instead."""
    env = {**os.environ, "PYTHONPATH": str(package)} if package else None
    started = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          check=False, env=env, cwd=package)
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 1):  # a failing run would be timed as a fast one
        sys.exit(f"{' '.join(command)} failed:\n{done.stderr.decode(errors='replace')}")
    return elapsed


def as_tags(source: Path, target: Path) -> None:
    data = yaml.safe_load(source.read_text())
    for rule in data["dicom"]["fields"]:
        if isinstance(rule.get("name"), str) and tag_for_keyword(rule["name"]) is not None:
            rule["name"] = f"{tag_for_keyword(rule['name']):08X}"
    target.write_text(yaml.safe_dump(data, sort_keys=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--profiles", type=Path, default=PROFILES)
    parser.add_argument("--before", type=Path, help="a folder holding an earlier deidc/")
    arguments = parser.parse_args()
    folder = arguments.profiles
    deidc = [sys.executable, "-m", "deidc"]
    with tempfile.TemporaryDirectory() as scratch:
        tagged = Path(scratch) / "vbrename-tags.yaml"
        as_tags(folder / LARGE, tagged)
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "compile v4.0": [*deidc, "compile", str(folder / NEW), "-o",
                             str(Path(scratch) / "plan.json")],
            "diff v3.0 v4.0": [*deidc, "diff", str(folder / OLD), str(folder / NEW)],
            "diff v3.0 v4.0 md": [*deidc, "diff", "--format", "markdown", str(folder / OLD),
                                  str(folder / NEW)],
            "diff vbrename tags": [*deidc, "diff", str(folder / LARGE), str(tagged)],
        }
        runs = {name: (command, None) for name, command in commands.items()}
        if arguments.before:
            runs.update({f"{name} (before)": (command, arguments.before.resolve())
                         for name, command in commands.items() if name.startswith("diff")})
        times: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(arguments.rounds):  # interleaved: the machine's noise hits all alike
            for name, (command, package) in runs.items():
                times[name].append(timed(command, package))
    bare = statistics.median(times["python -c pass"])
    compiled = statistics.median(times["compile v4.0"])
    for name, values in times.items():
        median = statistics.median(values)
        before = times.get(f"{name} (before)")
        ratio = f", {median / statistics.median(before):4.2f}x before" if before else ""
        print(f"{name:29} median {median:6.3f} s  ({median / bare:5.1f}x python -c pass, "
              f"{median / compiled:4.2f}x compile{ratio})")


if __name__ == "__main__":
    main()
