"""The fast path on files nobody wrote it for: the 68 files of pydicom-data (PyPI, the test
extra), under every profile of examples/ and every real profile that compiles.

For each file and plan, the fast path either declines (the Dataset path does the work) or
writes exactly the Dataset path's bytes; a file the Dataset path refuses fails alone, with a
one-line reason, and the fast path writes nothing for it.
"""

from __future__ import annotations

import io
import os
import random
from pathlib import Path

import pytest

from deidc.compiler import CompileError, compile_profile
from deidc.execute.dataset import ExecutionError, deidentify_file
from deidc.execute.fast import FastPlan
from tests.conftest import REAL_PROFILES
from tests.test_fastpath import both_paths

data_store = pytest.importorskip("data_store", reason="pydicom-data is not installed")

FILES = sorted(str(path) for path in data_store.DataStore().data_path.iterdir() if path.is_file())
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
PROFILES = sorted(EXAMPLES.glob("*.yaml")) + sorted(EXAMPLES.glob("seed/*.yaml")) + \
    (sorted(REAL_PROFILES.glob("*.yaml")) if REAL_PROFILES.is_dir() else [])

outcomes: dict[str, dict[str, str]] = {}  # file → profile → identical, declined or refused


@pytest.fixture(scope="module")
def plans():
    compiled = {}
    for path in PROFILES:
        try:
            plan = compile_profile(str(path))
            compiled[path.name] = plan, FastPlan(plan)
        except CompileError:
            continue  # lint refuses it: nothing to execute
    assert len(compiled) >= 2, "no profile compiled: the test would compare nothing"
    return compiled


def file_outcomes(plans, path: str) -> dict[str, str]:
    if path not in outcomes:
        found = outcomes[path] = {}
        for name, (plan, prepared) in plans.items():
            fast, fast_bytes, slow, slow_bytes = both_paths(plan, path, prepared=prepared)
            where = f"{os.path.basename(path)} under {name}"
            if slow == "error":
                assert fast is None or fast == "error", \
                    f"{where}: the fast path wrote a file the Dataset path refuses"
                with pytest.raises(ExecutionError) as refused:
                    deidentify_file(plan, path, io.BytesIO(), rng=random.Random(1))
                reason = str(refused.value)
                assert reason and "\n" not in reason and "Traceback" not in reason, where
                found[name] = "refused"
            elif fast is None:
                found[name] = "declined"
            else:
                assert fast != "error", f"{where}: the fast path fails what the Dataset path takes"
                assert fast.changed == slow.changed, where
                assert fast_bytes == slow_bytes, f"{where}: the two paths' bytes differ"
                found[name] = "identical"
    return outcomes[path]


@pytest.mark.parametrize("path", FILES, ids=os.path.basename)
def test_the_fast_path_declines_or_writes_the_dataset_paths_bytes(plans, path):
    file_outcomes(plans, path)


def test_the_fast_path_takes_most_of_these_files(plans):
    """Declining everything would pass the test above: it must take the ordinary files."""
    counts = {"identical": 0, "declined": 0, "refused": 0}
    for path in FILES:
        for outcome in file_outcomes(plans, path).values():
            counts[outcome] += 1
    assert counts["identical"] > counts["declined"] + counts["refused"], counts
