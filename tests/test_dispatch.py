"""The shared action semantics of both executors, and their memo of deterministic results."""

from __future__ import annotations

import gc
import random
from datetime import datetime

from deidc.execute import transforms
from deidc.execute.actions import Actor
from deidc.plan.ir import Action, Origin

ORIGIN = Origin("p.yaml", 1, 0, "AccessionNumber")


def hash_action(salt: str) -> Action:
    return Action("hash", {"salt": salt, "digits": 16}, ORIGIN, 0)


def test_memo_never_answers_for_another_plans_action():
    actor = Actor(random.Random(0), False, datetime.now())
    results = []
    for salt in ("pepper", "salt", "pepper"):
        action = hash_action(salt)
        results.append(actor.run([action], True, "ACC123", "SH")[1])
        del action
        gc.collect()  # the next args dict may reuse the freed id
    assert results == [transforms.hash_value("ACC123", "pepper", 16),
                       transforms.hash_value("ACC123", "salt", 16),
                       transforms.hash_value("ACC123", "pepper", 16)]


def test_chain_semantics_replace_insert_and_remove():
    actor = Actor(random.Random(0), False, datetime.now())
    insert = Action("replace", {"value": "X", "insert": True}, ORIGIN, 0)
    no_insert = Action("replace", {"value": "X", "insert": False}, ORIGIN, 1)
    remove = Action("remove", {}, ORIGIN, 2)
    assert actor.run([insert], False, None, "LO") == (True, "X")
    assert actor.run([no_insert], False, None, "LO") == (False, None)
    assert actor.run([remove, insert, hash_action("s")], True, "A", "LO") == \
        (True, transforms.hash_value("X", "s", 16))


def test_jitter_is_never_memoised():
    actor = Actor(random.Random(0), False, datetime.now())
    jitter = Action("jitter", {"range": 10, "type": "float", "min": None, "max": None}, ORIGIN, 0)
    values = {actor.run([jitter], True, "50.0", "DS")[1] for _ in range(5)}
    assert len(values) == 5


def test_the_plans_keywords_are_the_dataset_paths():
    """The plan's dictionary (what the fast path matches regexes by inside items) gives each
    tag the keyword the Dataset path's walk gives it, and none to repeater instances, which
    pydicom names but Flywheel's keyword walk does not."""
    from pydicom.datadict import DicomDictionary, dictionary_VR

    from deidc.execute.dataset import flywheel_keyword
    from deidc.profile.dictionary import walk_keywords

    table = walk_keywords()
    for tag in DicomDictionary:
        keyword = flywheel_keyword(tag)
        assert table.get(f"{tag:08X}") == ([keyword, dictionary_VR(tag)] if keyword else None)
    for repeated in (0x60020010, 0x50100030, 0x00203101):
        assert flywheel_keyword(repeated) is None and f"{repeated:08X}" not in table
