"""`deidc verify` beside a plain pydicom read+write loop over the same inputs: the issue's
bound is 2x the loop (verify reads two files per pair, and walks and compares them).

Run by hand (never in CI; the machine is shared and noisy, so the commands run interleaved,
round after round, and the ratio of each round's own pair is shown beside best and median):

    python benchmarks/bench_verify.py [--files 300] [--rounds 5] [--corpus DIR]

The inputs are benchmarks/corpus.py's small files (generated into a temporary folder unless
``--corpus`` names a folder of them), the release is `deidc apply` of the benchmark blocklist
(benchmarks/profiles/blocklist.yaml), which leaves UIDs behind, so verify has findings to
report as it would on a real release.  Each command is timed whole, start-up included.
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
from bench_apply import PROFILE, PYDICOM_LOOP, compile_bytecode, measure

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--corpus", type=Path, help="a folder of inputs (default: generated)")
    args = parser.parse_args()
    deidc = shutil.which("deidc", path=os.path.dirname(sys.executable)) or "deidc"
    scratch = Path(tempfile.mkdtemp(prefix="deidc-bench-verify-"))
    try:
        corpus = args.corpus
        if corpus is None:
            subprocess.run([sys.executable, str(HERE / "corpus.py"), "--small", str(args.files),
                            "--large", "0", "--out", str(scratch / "corpus")], check=True,
                           stdout=subprocess.DEVNULL)
            corpus = scratch / "corpus" / "small"
        plan, release = scratch / "plan.json", scratch / "release"
        subprocess.run([deidc, "compile", str(PROFILE), "-o", str(plan)], check=True)
        compile_bytecode()
        subprocess.run([deidc, "apply", str(plan), str(corpus), "-o", str(release)], check=True,
                       stderr=subprocess.DEVNULL)
        files = sorted(corpus.iterdir())
        size_mb = sum(f.stat().st_size for f in files) / 2**20
        verify = [deidc, "verify", str(corpus), str(release)]
        # what each command runs, given a folder for its outputs (only the loop writes any)
        commands = {
            "pydicom read+write": lambda out: [sys.executable, "-c", PYDICOM_LOOP, str(corpus),
                                               str(out)],
            "verify -j1": lambda out: [*verify, "-j", "1"],
            "verify": lambda out: verify,
            "verify --plan -j1": lambda out: [*verify, "--plan", str(plan), "-j", "1"],
            "verify --plan": lambda out: [*verify, "--plan", str(plan)],
        }
        outputs = OutputFolders(scratch)  # benchmarks/_outputs.py says why
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.rounds):
            for name, command in commands.items():
                argv = command(outputs.fresh())
                seconds, _, code = measure(argv)
                if code not in (0, 1):  # 1: findings, as the blocklist leaves UIDs
                    sys.exit(f"{' '.join(argv)}: exit code {code}")
                times[name].append(seconds)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    loop = times["pydicom read+write"]
    print(f"{len(files)} files, {size_mb:.0f} MB, {args.rounds} rounds, {os.cpu_count()} cores")
    print(f"  {'command':<20}{'best s':>8}{'median s':>10}{'x loop (best)':>15}"
          f"{'x loop (median)':>17}{'x loop (per round)':>20}")
    for name, runs in times.items():
        paired = statistics.median(mine / theirs for mine, theirs in zip(runs, loop))
        print(f"  {name:<20}{min(runs):>8.2f}{statistics.median(runs):>10.2f}"
              f"{min(runs) / min(loop):>15.2f}{statistics.median(runs) / statistics.median(loop):>17.2f}"
              f"{paired:>20.2f}")


if __name__ == "__main__":
    main()
