"""Side-by-side throughput of `deidc apply` and the tools it is measured against.

Run by hand (never in CI; machines here are noisy, so every tool runs in the same invocation,
interleaved over several rounds; the best and the median round are both shown):

    python benchmarks/corpus.py            # once: generates benchmarks/corpus/{small,large}
    python benchmarks/bench_apply.py [--rounds 3] [--set small|large|both]

Compared, each as a whole command (start-up included), on the same files and the same
blocklist policy (benchmarks/profiles/blocklist.yaml):
  cp -r                      the floor (and cp -r; sync, durable like deidc's runs);
  pydicom read+write loop    dcmread + save_as per file, no changes;
  deidc apply --jobs 1 / 2   from a compiled plan (and -j1 without the C scan);
  flywheel-migration         when FLYWHEEL_PYTHON (default /work/fwvenv/bin/python) exists.
Prints files/s, MB/s, peak RSS per process, and the ratios the issues set targets for.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _outputs import OutputFolders

HERE = Path(__file__).resolve().parent
PROFILE = HERE / "profiles" / "blocklist.yaml"
PYDICOM_LOOP = """
import os, sys, pydicom
src, dst = sys.argv[1], sys.argv[2]
for name in sorted(os.listdir(src)):
    pydicom.dcmread(os.path.join(src, name)).save_as(os.path.join(dst, name))
"""


def measure(command: list[str]) -> tuple[float, float, int]:
    out = subprocess.run([sys.executable, str(HERE / "_measure.py"), *command],
                         capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), int(out[1]) / 1024, int(out[2])


def compile_bytecode() -> None:
    """`pip install .` compiles deidc's bytecode; an editable install (and this machine's
    PYTHONDONTWRITEBYTECODE) would make every run compile the sources again (+30 ms
    start-up)."""
    import deidc as package

    subprocess.run([sys.executable, "-m", "compileall", "-q", os.path.dirname(package.__file__)],
                   check=True, env={**os.environ, "PYTHONDONTWRITEBYTECODE": ""})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--set", default="both", choices=("small", "large", "both"))
    parser.add_argument("--corpus", default=str(HERE / "corpus"))
    args = parser.parse_args()
    deidc = shutil.which("deidc", path=os.path.dirname(sys.executable)) or shutil.which("deidc") \
        or "deidc"
    flywheel = os.environ.get("FLYWHEEL_PYTHON", "/work/fwvenv/bin/python")
    sets = ("small", "large") if args.set == "both" else (args.set,)
    scratch = Path(tempfile.mkdtemp(prefix="deidc-bench-"))
    plan = scratch / "plan.json"
    subprocess.run([deidc, "compile", str(PROFILE), "-o", str(plan)], check=True)
    compile_bytecode()
    for name in sets:
        corpus = Path(args.corpus) / name
        files = sorted(corpus.iterdir())
        size_mb = sum(f.stat().st_size for f in files) / 2**20
        tools = {
            "cp -r": lambda out: ["cp", "-r", str(corpus), str(out)],
            # deidc flushes to disk once at the end of a run (os.sync): the same for cp
            "cp -r; sync": lambda out: ["sh", "-c", f"cp -r '{corpus}' '{out}' && sync"],
            "pydicom read+write": lambda out: [sys.executable, "-c", PYDICOM_LOOP, str(corpus),
                                               str(out)],
            "deidc --jobs 1": lambda out: [deidc, "apply", str(plan), str(corpus), "-o",
                                           str(out), "--jobs", "1"],
            "deidc --jobs 2": lambda out: [deidc, "apply", str(plan), str(corpus), "-o",
                                           str(out), "--jobs", "2"],
            # the same without the C header scan (deidc.execute._scan), for its share of the speed
            "deidc -j1 pure Python": lambda out: ["env", "DEIDC_PURE_PYTHON=1", deidc, "apply",
                                                  str(plan), str(corpus), "-o", str(out),
                                                  "--jobs", "1"],
        }
        if os.path.exists(flywheel) and name == "small":
            tools["flywheel-migration"] = lambda out: [flywheel, str(HERE / "_flywheel_driver.py"),
                                                       str(PROFILE), str(corpus), str(out)]
        times: dict[str, list[float]] = {}
        peaks: dict[str, float] = {}
        outputs = OutputFolders(scratch / name)
        for _ in range(args.rounds):
            for tool, command in tools.items():
                # a new folder (benchmarks/_outputs.py says why), and nothing waiting to be
                # written: else the sync of deidc (and of "cp; sync") would also pay for the
                # previous tool's output
                out = outputs.fresh(create=not tool.startswith("cp"))
                seconds, peak, code = measure(command(out))
                if code != 0:
                    print(f"  {tool}: exit code {code}")
                times.setdefault(tool, []).append(seconds)
                peaks[tool] = max(peaks.get(tool, 0), peak)
        # This machine's disk and CPU are shared and noisy: a tool's luckiest round and its
        # typical round can differ by 2x, so both are shown, and ratios for both.
        print(f"\n{name}: {len(files)} files, {size_mb:.0f} MB, {args.rounds} rounds "
              "(best and median)")
        print(f"  {'tool':<22}{'best s':>8}{'median s':>10}{'files/s':>9}{'MB/s':>7}"
              f"{'peak MB':>9}")
        for tool, runs in times.items():
            best, median = min(runs), statistics.median(runs)
            print(f"  {tool:<22}{best:>8.2f}{median:>10.2f}{len(files) / best:>9.0f}"
                  f"{size_mb / best:>7.0f}{peaks[tool]:>9.0f}")
        for label, pick in (("best", min), ("median", statistics.median)):
            rate = {tool: len(files) / pick(runs) for tool, runs in times.items()}
            one = rate["deidc --jobs 1"]
            ratios = [("deidc/pydicom loop", one / rate["pydicom read+write"]),
                      ("deidc/cp", one / rate["cp -r"]),
                      ("deidc/(cp; sync)", one / rate["cp -r; sync"]),
                      ("jobs 2/jobs 1", rate["deidc --jobs 2"] / one),
                      ("C scan/pure Python", one / rate["deidc -j1 pure Python"])]
            if "flywheel-migration" in rate:
                ratios.append(("deidc/flywheel", one / rate["flywheel-migration"]))
            print(f"  ratios ({label}): " + ", ".join(f"{k} {v:.2f}x" for k, v in ratios))
        # The two runs of one round are seconds apart, so their ratio is the least disturbed
        # by this machine's drift from round to round.
        paired = statistics.median(one / two for one, two in zip(times["deidc --jobs 1"],
                                                                 times["deidc --jobs 2"]))
        print(f"  jobs 2/jobs 1, median of the rounds' own ratios: {paired:.2f}x")
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
