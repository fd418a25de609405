"""`deidc apply --cluster` on two local Dask workers against `--jobs 2`, side by side.

Run by hand (never in CI), with the dask extra installed (pip install -e '.[dask]'):

    python benchmarks/corpus.py                 # once: benchmarks/corpus/small
    python benchmarks/bench_cluster.py [--rounds 3] [--files 1000]

Both are whole commands (start-up included: the cluster's client imports distributed), on the
same files, through the Dataset path (--no-fast-path), where the work outweighs the start-up,
in interleaved rounds.  The cluster (a scheduler in this process, two single-threaded worker
processes) is started once and warmed up by one run first, as a cluster is long-lived.
Also printed, for the README's estimate of a run on a large cluster:

* the per-task overhead: the wall time per task of trivial tasks through the same scheduler
  and workers, submitted as deidc submits its batches (a window of tasks in flight), and with
  many in flight (what the scheduler sustains);
* the client's CPU per file, its start-up (measured on an empty folder) taken out: everything
  the committing process does (discovery, journal, log, renames, talking to the scheduler),
  which a cluster does not spread.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _outputs import OutputFolders

HERE = Path(__file__).resolve().parent
PROFILE = HERE / "profiles" / "blocklist.yaml"


def timed(command: list[str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def nothing(plan, number):
    return number


def task_overhead(client, plan, tasks: int, ahead: int) -> float:
    """Seconds of wall time per trivial task, with ``ahead`` tasks in flight."""
    from distributed import as_completed

    scattered = client.scatter(plan, broadcast=True, hash=False)
    started = time.perf_counter()
    completed = as_completed()
    submitted = 0
    while submitted < min(ahead, tasks):
        completed.add(client.submit(nothing, scattered, submitted, pure=False))
        submitted += 1
    for future in completed:
        future.result()
        if submitted < tasks:
            completed.add(client.submit(nothing, scattered, submitted, pure=False))
            submitted += 1
    return (time.perf_counter() - started) / tasks


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--files", type=int, default=1000, help="files of the small corpus")
    parser.add_argument("--corpus", default=str(HERE / "corpus" / "small"))
    args = parser.parse_args()
    import distributed

    import deidc
    from deidc.run.runner import BATCH

    deidc_command = [sys.executable, "-m", "deidc"]
    scratch = Path(tempfile.mkdtemp(prefix="deidc-bench-cluster-"))
    outputs = OutputFolders(scratch)
    inputs = scratch / "in"
    inputs.mkdir()
    for path in sorted(Path(args.corpus).iterdir())[:args.files]:
        os.symlink(path, inputs / path.name)
    files = len(os.listdir(inputs))
    plan = scratch / "plan.json"
    subprocess.run([*deidc_command, "compile", str(PROFILE), "-o", str(plan)], check=True)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster:
        commands = {
            "--jobs 2": ["--jobs", "2"],
            "2 Dask workers": ["--cluster", cluster.scheduler_address],
        }

        def run(name: str) -> tuple[float, float]:
            # a new folder (benchmarks/_outputs.py says why), with the last run's writes
            # flushed: they are not this one's to flush
            out = outputs.fresh(create=False)
            return timed([*deidc_command, "apply", str(plan), str(inputs), "-o", str(out),
                          "--no-fast-path", *commands[name]])

        run("2 Dask workers")  # warm-up: the workers import pydicom and deidc once
        walls: dict[str, list[float]] = {name: [] for name in commands}
        cpus: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.rounds):
            for name in commands:
                wall, cpu = run(name)
                walls[name].append(wall)
                cpus[name].append(cpu)
        empty = scratch / "empty"
        empty.mkdir()
        startup = statistics.median(
            timed([*deidc_command, "apply", str(plan), str(empty), "-o", str(scratch / "none"),
                   "--cluster", cluster.scheduler_address])[1] for _ in range(3))
        with distributed.Client(cluster) as client:
            compiled = deidc.compile_profile(str(PROFILE))
            latency = task_overhead(client, compiled, 1000, 6)  # as deidc keeps 2 per thread
            throughput = task_overhead(client, compiled, 4000, 400)
    print(f"{files} files through the Dataset path, {args.rounds} rounds (median)")
    for name in commands:
        print(f"  {name:<16}{statistics.median(walls[name]):>8.2f} s wall"
              f"{statistics.median(cpus[name]):>8.2f} s CPU of the deidc process")
    paired = statistics.median(cluster_wall / local_wall for cluster_wall, local_wall in
                               zip(walls["2 Dask workers"], walls["--jobs 2"]))
    print(f"  2 Dask workers / --jobs 2: {paired:.2f}x the time (median of the rounds' own "
          "ratios)")
    client_cpu = (statistics.median(cpus["2 Dask workers"]) - startup) / files
    print(f"  cluster client CPU: {startup:.2f} s to start (an empty folder), then "
          f"{client_cpu * 1e6:.0f} us per file")
    print(f"  per-task overhead of trivial tasks (a deidc task is a batch of up to {BATCH} "
          f"files): {latency * 1e3:.2f} ms with 6 in flight, {throughput * 1e3:.2f} ms with "
          "400 in flight (the scheduler's rate)")
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
