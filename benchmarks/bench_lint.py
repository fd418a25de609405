"""End-to-end speed of `deidc lint` (a new interpreter each time, imports included): one typical
profile, and thirty in one call, beside a bare `python -c pass` measured in the same rounds.

    python benchmarks/bench_lint.py [--rounds N]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    rounds = parser.parse_args().rounds
    with tempfile.TemporaryDirectory() as folder:
        sources = [EXAMPLES / "blocklist.yaml", EXAMPLES / "keeplist.yaml",
                   EXAMPLES / "seed" / "seed-blocklist-fixed.yaml"]
        for index in range(30):
            shutil.copy(sources[index % len(sources)], Path(folder) / f"profile{index:02}.yaml")
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "lint 1 profile": [sys.executable, "-m", "deidc", "lint", str(EXAMPLES / "blocklist.yaml")],
            "lint 30 profiles": [sys.executable, "-m", "deidc", "lint", folder],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(rounds):  # interleaved, so that the machine's noise hits every command alike
            for name, command in commands.items():
                times[name].append(timed(command))
    bare = statistics.median(times["python -c pass"])
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:18} median {median:6.3f} s  ({median / bare:5.1f}x python -c pass)")


if __name__ == "__main__":
    main()
