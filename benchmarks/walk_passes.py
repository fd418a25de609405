"""The fast path's walk alone, in process, for counting its instructions with callgrind.

Run by hand (never in CI).  Wall time is too noisy on these 2-core VMs for steps of a few
percent; callgrind gives the same count on every run:

    python benchmarks/corpus.py --small 300 --large 0 [--implicit]
    PLAN=plan.json CORPUS=benchmarks/corpus/small
    for passes in 0 1; do
        PYTHONHASHSEED=0 valgrind --tool=callgrind --callgrind-out-file=/tmp/walk$passes.out \\
            python benchmarks/walk_passes.py $PLAN $CORPUS $passes
    done

The difference between the two totals ("Collected") is the first pass: what a command pays,
with every table of the FastPlan empty at its start (``passes`` 2 and more show what a table
met before saves).  The inputs are read before the walk and the output goes nowhere, so only
the walk, the file meta and the log cells are counted.
"""

from __future__ import annotations

import argparse
import os

from deidc.execute import fast
from deidc.plan.ir import load_plan
from deidc.run.runner import file_rng


class _Nowhere:
    def write(self, data) -> int:
        return len(data)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("plan")
    parser.add_argument("corpus")
    parser.add_argument("passes", type=int)
    args = parser.parse_args()
    names = sorted(os.listdir(args.corpus))
    files = []
    for name in names:
        with open(os.path.join(args.corpus, name), "rb") as handle:
            files.append(handle.read())
    walk = fast.FastPlan(load_plan(args.plan))
    for _ in range(args.passes):
        for data in files:
            fast._walk_file(walk, None, data, len(data), _Nowhere(), file_rng(None, None), False)


if __name__ == "__main__":
    main()
