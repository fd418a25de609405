"""Real profiles x transfer syntaxes: files/s of `deidc apply --jobs 1` and the share of files
through the fast path, side by side with the pydicom read+write loop on the same files.

Run by hand (never in CI):

    python benchmarks/corpus.py --small 300 --large 0
    python benchmarks/corpus.py --small 300 --large 0 --implicit
    python benchmarks/bench_profiles.py [--rounds 3] [--log] [--profiles DIR] [--corpus DIR]
                                        [--only TEXT] [--baseline SRC]

Every profile of ``--profiles`` (default: the real profiles in ../shared/data/real-profiles,
looked for in each folder above this one) that compiles is applied to ``small`` (Explicit VR
Little Endian) and ``small-implicit`` (Implicit VR Little Endian), without and (``--log``) with
a deid log.  Each command is timed as a whole, start-up included (as a regular install starts:
see as_installed), until its output is flushed (deidc ends with os.sync; the pydicom loop is
followed by sync), each into a folder of its own (benchmarks/_outputs.py says why), in
interleaved rounds; the median round is shown.  The share through the fast path is read from
one more run with ``--verbose``, not timed, and the reasons that sent files to the Dataset path
are listed under the table.
``--baseline SRC``: also time the deidc whose sources are in SRC (``git archive`` of another
revision, with its ``_scan`` built or copied in) on the same plans, in the same rounds (which
of the two goes first alternates), and print this deidc's speed over it: the median of the
rounds' own ratios, the least disturbed by the machine's drift.
"""

from __future__ import annotations

import argparse
import collections
import itertools
import os
import re
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

from _outputs import OutputFolders

HERE = Path(__file__).resolve().parent
# ../shared/data/real-profiles beside the repository (or beside a folder of worktrees)
REAL_PROFILES = next((parent / "shared" / "data" / "real-profiles" for parent in HERE.parents
                      if (parent / "shared" / "data" / "real-profiles").is_dir()), HERE)
BLOCKLIST = HERE / "profiles" / "blocklist.yaml"
SYNTAXES = {"small": "explicit LE", "small-implicit": "implicit LE"}
PYDICOM_LOOP = """
import os, sys, pydicom
src, dst = sys.argv[1], sys.argv[2]
for name in sorted(os.listdir(src)):
    pydicom.dcmread(os.path.join(src, name)).save_as(os.path.join(dst, name))
os.sync()
"""
FALLBACK = re.compile(r"\(Dataset path: (.*)\)$")
SITE_PACKAGES = sysconfig.get_paths()["purelib"]


def as_installed(code: str, source: str | None = None) -> list[str]:
    """``python -S -c code`` with ``source`` (a folder holding deidc/) and this environment's
    site-packages on the path, but none of its .pth hooks: the start-up of a regular
    ``pip install`` (Python's own site adds little more).  An editable install's import hook,
    a .pth file, would cost every command, deidc's and the pydicom loop's alike, some 16 ms
    that no user of a released deidc pays."""
    path = f"sys.path[:0] = [{source!r}]; " if source else ""
    return [sys.executable, "-S", "-c",
            f"import sys; {path}sys.path.append({SITE_PACKAGES!r})\n{code}"]


def timed(command: list[str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(command)}: exit code {done.returncode}\n{done.stderr}")
    return elapsed, done.stderr


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profiles", default=str(REAL_PROFILES))
    parser.add_argument("--corpus", default=str(HERE / "corpus"))
    parser.add_argument("--log", action="store_true", help="also run every profile with --log")
    parser.add_argument("--only", default="", help="only profiles whose name contains this")
    parser.add_argument("--baseline", help="a folder holding another revision's deidc/")
    args = parser.parse_args()
    import deidc as package

    run_deidc = "sys.argv[0] = 'deidc'; from deidc.cli import main; main()"
    deidcs = {"": as_installed(run_deidc, os.path.dirname(os.path.dirname(package.__file__)))}
    if args.baseline:
        deidcs["baseline"] = as_installed(run_deidc, os.path.abspath(args.baseline))
    deidc = deidcs[""]
    scratch = Path(tempfile.mkdtemp(prefix="deidc-profiles-"))
    # `pip install .` compiles deidc's bytecode; an editable install (and this machine's
    # PYTHONDONTWRITEBYTECODE) would make every run compile the sources again (+30 ms start-up).
    for source in [os.path.dirname(package.__file__)] + (
            [os.path.join(args.baseline, "deidc")] if args.baseline else []):
        subprocess.run([sys.executable, "-m", "compileall", "-q", source], check=True,
                       env={**os.environ, "PYTHONDONTWRITEBYTECODE": ""})
    plans = {}
    # the benchmark's own blocklist first, the figure the README's other tables give
    for profile in [BLOCKLIST] + sorted(Path(args.profiles).glob("*.y*ml")):
        if args.only not in profile.name and profile != BLOCKLIST:
            continue
        plan = scratch / f"{profile.stem}.json"
        if subprocess.run([*deidc, "compile", str(profile), "-o", str(plan)],
                          capture_output=True).returncode == 0:
            plans[profile.stem] = plan
    corpora = {name: Path(args.corpus) / name for name in SYNTAXES
               if (Path(args.corpus) / name).is_dir()}
    logs = (False, True) if args.log else (False,)
    runs: dict[tuple, list[float]] = collections.defaultdict(list)
    shares: dict[tuple, float] = {}
    reasons: dict[tuple, collections.Counter] = {}
    outputs = OutputFolders(scratch)
    for number in range(args.rounds):
        for corpus_name, corpus in corpora.items():
            out = outputs.fresh()
            runs[("pydicom loop", corpus_name, False)].append(
                timed([*as_installed(PYDICOM_LOOP), str(corpus), str(out)])[0])
            for name, plan in plans.items():
                programs = list(deidcs.items())[::-1 if number % 2 else 1]
                for log, (which, program) in itertools.product(logs, programs):
                    def command(out: Path) -> list[str]:
                        (scratch / "log.csv").unlink(missing_ok=True)
                        return [*program, "apply", str(plan), str(corpus), "-o", str(out),
                                "--jobs", "1"] + (["--log", str(scratch / "log.csv")] if log
                                                  else [])

                    key = (name, corpus_name, log) + ((which,) if which else ())
                    runs[key].append(timed(command(outputs.fresh()))[0])
                    if which or number:
                        continue
                    # the share and the reasons from one more run, --verbose, not timed: its
                    # line per file costs a run of 300 files 10-30 ms that a user's does not
                    stderr = timed(command(outputs.fresh()) + ["--verbose"])[1]
                    lines = [line for line in stderr.splitlines()
                             if line.startswith(("written ", "unchanged "))]
                    fallbacks = [m.group(1) for line in lines if (m := FALLBACK.search(line))]
                    shares[key] = 1 - len(fallbacks) / max(len(lines), 1)
                    reasons[key] = collections.Counter(fallbacks)
    files = {name: len(list(corpus.iterdir())) for name, corpus in corpora.items()}
    print(f"median of {args.rounds} rounds; files/s of deidc apply --jobs 1 (fast-path share), "
          "and its ratio to the pydicom read+write loop on the same files")
    header = f"{'profile':<58}" + "".join(
        f"{SYNTAXES[c] + (' --log' if log else ''):>26}" for c in corpora for log in logs)
    print(header)
    loop = {c: files[c] / statistics.median(runs[("pydicom loop", c, False)]) for c in corpora}
    print(f"{'pydicom read+write loop':<58}" + "".join(
        f"{loop[c]:>17.0f} files/s" for c in corpora for _ in logs))
    for name in plans:
        cells = []
        for corpus_name in corpora:
            for log in logs:
                key = (name, corpus_name, log)
                rate = files[corpus_name] / statistics.median(runs[key])
                cells.append(f"{rate:>6.0f} ({shares[key]:>4.0%}) {rate / loop[corpus_name]:>5.2f}x")
        print(f"{name[:57]:<58}" + "".join(f"{cell:>26}" for cell in cells))
        if args.baseline:
            cells = []
            for corpus_name in corpora:
                for log in logs:
                    now = runs[(name, corpus_name, log)]
                    then = runs[(name, corpus_name, log, "baseline")]
                    rate = files[corpus_name] / statistics.median(then)
                    paired = statistics.median(b / a for a, b in zip(now, then))
                    cells.append(f"{rate:>6.0f} {rate / loop[corpus_name]:>5.2f}x now {paired:.2f}x")
            print(f"{'  baseline':<58}" + "".join(f"{cell:>26}" for cell in cells))
    print("\nreasons for the Dataset path (files, over all profiles):")
    total = collections.Counter()
    for counter in reasons.values():
        total.update(counter)
    for reason, count in total.most_common():
        print(f"  {count:>6}  {reason}")
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
