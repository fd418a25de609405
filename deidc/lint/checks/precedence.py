"""P: precedence, which rule really acts on an attribute.  Uses :mod:`deidc.profile.meaning`, the
same resolution the compiler uses, so lint and compile agree on what "the same attribute" is."""

from __future__ import annotations

from ...profile.meaning import Effect, effective_order, rule_targets, settle
from ..diagnostic import Finding, LintContext, Severity, rule

PASSIVE = (None, "keep", "identity")


def _rules_by_target(ctx: LintContext) -> dict[str, list]:
    by_target: dict[str, list] = {}
    for field_rule in effective_order(ctx.fields):
        for target in rule_targets(field_rule):
            by_target.setdefault(target.key, []).append((field_rule, target))
    return by_target


def _line(ctx: LintContext, field_rule) -> int:
    return ctx.source.span(field_rule.pointer).line


def _effect(ctx: LintContext, field_rule) -> Effect:
    """The rule's action as :func:`deidc.profile.meaning.settle` sees it (as the compiler does)."""
    signature = (field_rule.action, repr(field_rule.action_value),
                 repr(sorted(field_rule.options.items(), key=str)))
    if field_rule.action == "remove":
        return Effect("remove", signature)
    if field_rule.action == "replace-with" and field_rule.action_value is not None:
        # Flywheel's regex rules act only on elements a file has
        insert = field_rule.selector.kind != "regex" and field_rule.options.get(
            "replace-with-insert", ctx.option("replace-with-insert"))
        return Effect("set" if insert else "write", signature)
    return Effect("change", signature)


@rule("P001", "duplicate-rule", Severity.WARNING,
      fail="""
      dicom:
        fields:
          - name: PatientName
            remove: true
          - name: (0010,0010)
            remove: true
      """,
      passes="""
      dicom:
        fields:
          - name: PatientName
            remove: true
          - name: PatientID
            remove: true
      """)
def duplicate_rule(ctx: LintContext):
    """Two rules do the same thing to the same attribute.

    Usually a copy-and-paste slip, sometimes under another notation (keyword and tag); the
    second rule adds nothing, and when someone later edits one copy the two disagree silently.
    """
    for key, pairs in _rules_by_target(ctx).items():
        seen: dict[tuple, object] = {}
        for field_rule, target in pairs:
            if field_rule.selector.kind == "regex":
                continue
            signature = _effect(ctx, field_rule).signature
            if signature in seen:
                first = seen[signature]
                yield Finding(field_rule.selector_pointer,
                              f"{target.label}: this rule repeats the one at line "
                              f"{_line(ctx, first)} ({first.selector} {field_rule.action})",
                              "delete one of the two")
            else:
                seen[signature] = field_rule


@rule("P002", "overridden-rule", Severity.WARNING,
      fail="""
      dicom:
        fields:
          - name: PatientID
            hash: true
          - name: PatientID
            remove: true
      """,
      passes="""
      dicom:
        fields:
          - name: PatientID
            replace-with: SUBJECT
          - name: PatientID
            hash: true
      """)
def overridden_rule(ctx: LintContext):
    """A rule never has an effect on its attribute: a later rule removes or overwrites it, or an
    earlier one removed it and nothing puts it back.

    Rules apply in order, each on the result of the ones before, so a hash followed by a remove
    is just a remove, and a hash after a remove hashes nothing: the author probably meant one
    of them, and the compiled plan drops the other.  (A regex rule that loses only some of its
    attributes this way is not reported; a repeated rule is P001's.)
    """
    for pairs in _rules_by_target(ctx).values():
        acting = [(r, t) for r, t in pairs if r.action not in PASSIVE]
        for dead in settle([_effect(ctx, r) for r, _ in acting]):
            field_rule, target = acting[dead.index]
            other = acting[dead.by][0]
            if field_rule.selector.kind == "regex" or dead.why == "duplicate":
                continue
            if dead.why == "absent":
                reason = f"the rule at line {_line(ctx, other)} removes it first"
            else:
                verb = "removes" if other.action == "remove" else "overwrites"
                reason = f"the rule at line {_line(ctx, other)} {verb} it afterwards"
            yield Finding(field_rule.action_pointer(),
                          f"{target.label}: `{field_rule.action}` here never has an effect: "
                          f"{reason}",
                          "delete this rule, or the other one if this is the one you meant")


@rule("P003", "several-actions", Severity.WARNING,
      fail="""
      dicom:
        fields:
          - name: PatientID
            remove: true
            replace-with: ANON
      """,
      passes="""
      dicom:
        fields:
          - name: PatientID
            replace-with: ANON
      """)
def several_actions(ctx: LintContext):
    """One rule has several action keys; Flywheel applies only the first in its fixed order.

    Flywheel's order is keep, remove, replace-with, hash, hashuid, increment-date, jitter,
    increment-datetime, regex-sub: `{remove, replace-with}` removes, `{keep, remove}` keeps.
    The other keys are ignored without a word.
    """
    for field_rule in ctx.fields:
        present = [key for key, _ in field_rule.actions]
        if len(present) > 1:
            ignored = [key for key in present if key != field_rule.action]
            yield Finding(field_rule.action_pointer(ignored[0]),
                          f"{field_rule.selector or 'this rule'}: only `{field_rule.action}` "
                          f"applies; {', '.join(f'`{k}`' for k in ignored)} "
                          f"{'is' if len(ignored) == 1 else 'are'} ignored",
                          "keep one action per rule; write a second rule for a second action")


@rule("P004", "keep-does-not-protect", Severity.WARNING,
      fail="""
      dicom:
        remove-private-tags: true
        fields:
          - name: '00091004'
            keep: true
      """,
      passes="""
      dicom:
        remove-private-tags: true
        fields:
          - name: (0009, "GEMS_IDEN_01", 04)
            keep: true
      """)
def keep_does_not_protect(ctx: LintContext):
    """A `keep` rule that does not keep what its author expects.

    Only the `(gggg, "CREATOR", ee)` form of a private tag survives `remove-private-tags`; a hex
    or `(gggg,eeee)` keep of a private tag is removed all the same.  And `keep` does nothing
    but count the attribute as named for `remove-undefined`: it does not exempt it from other
    rules, so a regex that removes every `...Date` removes the StudyDate kept below it too.
    """
    remove_private = bool(ctx.option("remove-private-tags"))
    by_target = _rules_by_target(ctx)
    for field_rule in ctx.fields:
        if field_rule.action not in ("keep", "identity") or field_rule.selector is None:
            continue
        selector = field_rule.selector
        if remove_private and selector.kind == "tag" and (selector.tag >> 16) & 1:
            yield Finding(field_rule.selector_pointer,
                          f"{selector}: remove-private-tags removes this private element "
                          "anyway; only the creator form survives it",
                          'name it as (gggg, "PRIVATE CREATOR", ee), e.g. '
                          '(0009, "GEMS_IDEN_01", 04)')
            continue
        for target in rule_targets(field_rule):
            other = next((r for r, _ in by_target.get(target.key, [])
                          if r.action not in PASSIVE), None)
            if other is None:
                continue
            through = f"the regex {other.selector.pattern!r}" \
                if other.selector.kind == "regex" else f"{other.selector}"
            yield Finding(field_rule.selector_pointer,
                          f"{target.label}: kept here, but the rule at line {_line(ctx, other)} "
                          f"({through}) still applies `{other.action}` to it: keep does not "
                          "exempt an attribute from other rules",
                          "narrow the other rule so it no longer reaches this attribute, or "
                          "drop this keep")


@rule("P005", "regex-sub-moved-first", Severity.INFO,
      fail="""
      dicom:
        fields:
          - name: PatientID
            replace-with: SUBJECT
          - name: PatientID
            regex-sub:
              - input-regex: '(?P<site>\\w+)-.*'
                output: '{site}'
      """,
      passes="""
      dicom:
        fields:
          - name: PatientID
            regex-sub:
              - input-regex: '(?P<site>\\w+)-.*'
                output: '{site}'
          - name: PatientID
            hash: true
      """)
def regex_sub_moved_first(ctx: LintContext):
    """A `regex-sub` rule comes after other rules on the same attribute, but runs before them.

    Flywheel moves every regex-sub rule to the front of the list (in reverse order) before
    applying anything, so it sees the original value, not the result of the rules written above
    it.
    """
    for field_rule in ctx.fields:
        if field_rule.action != "regex-sub":
            continue
        targets = {t.key for t in rule_targets(field_rule)}
        earlier = [r for r in ctx.fields[:field_rule.index] if r.action != "regex-sub"
                   and targets & {t.key for t in rule_targets(r)}]
        if earlier:
            yield Finding(field_rule.action_pointer(),
                          f"{field_rule.selector}: this regex-sub runs before the rule at line "
                          f"{_line(ctx, earlier[0])}, although it is written after it",
                          "move it above the other rules on this attribute so the profile reads "
                          "in the order it runs")
