"""The plan's target grammar: every target the compiler writes for the real profiles, the
examples and a profile of every target kind parses back to what it was written from, and the
readers agree with the writers."""

from __future__ import annotations

from pathlib import Path

import pytest

from deidc.compiler import CompileError, compile_profile
from deidc.plan import targets

from tests.conftest import REAL_PROFILES

PROFILES = sorted([*REAL_PROFILES.glob("*.y*ml"),
                   *(Path(__file__).resolve().parents[1] / "examples").rglob("*.y*ml")])


EVERY_KIND = """\
dicom:
  fields:
    - name: PatientName
      remove: true
    - name: (0009, "GEMS_IDEN_01", 04)
      replace-with: X
    - name: ReferencedImageSequence.*.ReferencedSOPInstanceUID
      hashuid: true
    - name: BeamSequence.*.ControlPointSequence.*.GantryAngle
      remove: true
    - name: 60XX3000
      remove: true
"""


def compiled_targets(every_kind: Path) -> list[tuple[str, str]]:
    plan = compile_profile(every_kind)
    found = [(entry.kind, entry.target) for entry in plan.entries]
    for path in PROFILES:
        try:
            plan = compile_profile(path)
        except CompileError:
            continue
        found.extend((entry.kind, entry.target) for entry in plan.entries)
        found.extend(("private", target) for target in plan.policy.private_keep)
    return found


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    every_kind = tmp_path_factory.mktemp("targets") / "every_kind.yaml"
    every_kind.write_text(EVERY_KIND)
    found = compiled_targets(every_kind)
    kinds = {kind for kind, _ in found}
    assert kinds >= {"tag", "private", "path", "repeater"}, "the profile covers too little"
    return found


def test_every_compiled_target_parses_back_to_itself(written):
    for kind, target in written:
        if kind == "tag":
            assert targets.tag(int(target, 16)) == target
        elif kind == "private":
            assert targets.is_private(target)
            assert targets.private(*targets.parse_private(target)) == target
        elif kind == "repeater":
            base = targets.repeater_base(target)
            assert targets.repeater(base) == target
            assert targets.repeater_of(targets.tag(base + 0x00020000)) == target
        else:
            steps = targets.parse_path(target)
            assert targets.path(targets.tag(s) if i % 2 == 0 else s
                                for i, s in enumerate(steps)) == target
            assert all(isinstance(s, int) for s in steps[::2])


def test_a_creator_with_commas_and_the_wildcard_path():
    target = targets.private(0x0019, 'ACME, "Inc", 2', 0x1F)
    assert target == '(0019,"ACME, "Inc", 2",1F)'
    assert targets.parse_private(target) == (0x0019, 'ACME, "Inc", 2', 0x1F)
    assert targets.wildcard("00081110.3.00400275.0.00081155") == "00081110.*.00400275.*.00081155"
    assert targets.repeater_of("00100010") is None
    assert targets.repeater_of("50223000") == "50XX3000"


def test_the_last_element_of_each_kind_of_target():
    assert targets.last_element("00100010") == 0x00100010
    assert targets.last_element("00081110.0.00081155") == 0x00081155
    assert targets.last_element("00081110.*.00081155") == 0x00081155
    assert targets.last_element("60XX3000") == targets.last_element("60xx3000") == 0x60003000
    assert targets.last_element('(0009,"GEMS_IDEN_01",04)') == 0x00091004
    assert targets.last_element('(0009,"A, B",04)') == 0x00091004
