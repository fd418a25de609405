"""Every rule's documented examples: the failing one triggers it, the passing one does not."""

from __future__ import annotations

import pytest

from deidc.api import rule_example_findings
from deidc.lint import REGISTRY

from tests.conftest import codes


def example(code, lint_text, text):
    """What linting ``text`` reports, with ``--conformance`` for a conformance rule (the API
    judges; the linter alone cannot)."""
    rule = REGISTRY[code]
    return rule_example_findings(rule, text) if rule.conformance else lint_text(text)


@pytest.mark.parametrize("code", sorted(REGISTRY))
def test_fail_example_triggers_rule(code, lint_text):
    assert code in codes(example(code, lint_text, REGISTRY[code].fail))


@pytest.mark.parametrize("code", sorted(REGISTRY))
def test_pass_example_does_not_trigger_rule(code, lint_text):
    assert code not in codes(example(code, lint_text, REGISTRY[code].passes))


@pytest.mark.parametrize("code", sorted(REGISTRY))
def test_rule_is_documented(code):
    rule = REGISTRY[code]
    assert rule.summary and rule.explanation, f"{code} needs a summary line and a why paragraph"
    assert rule.name == rule.name.lower() and " " not in rule.name


@pytest.mark.parametrize("code", sorted(REGISTRY))
def test_summary_is_the_whole_first_sentence(code):
    # A summary that wraps onto a second docstring line is joined, not cut mid-sentence.
    rule = REGISTRY[code]
    assert rule.summary.endswith(".") and "\n" not in rule.summary, rule.summary


def test_the_readme_counts_the_checks_there_are():
    """The README's command table says how many checks lint has; it drifted before (57 for 64)."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    said = re.search(r"\| (\d+) checks with stable codes", readme)
    assert said and int(said[1]) == len(REGISTRY)
