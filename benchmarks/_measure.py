"""Run a command and print its wall time and the peak RSS of any one of its processes (the
maximum over the command and every worker it waited for)."""

import resource
import subprocess
import sys
import time

started = time.perf_counter()
code = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
elapsed = time.perf_counter() - started
peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(f"{elapsed} {peak_kb} {code}")
