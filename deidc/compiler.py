"""Profile → Plan: do once, at compile time, everything that does not depend on a file.

Selectors become canonical targets, regexes are expanded against the data dictionary (their
residue, private/unknown/nested elements, stays a small per-file matcher), precedence is settled
into one ordered chain of actions per target, actions that can never have an effect are dropped
(and recorded with the reason), per-field options are folded into each action's arguments, and
the default policy is computed.  Every action keeps its provenance: profile file, line, rule.

A profile with lint errors does not compile; neither does one that asks for what deidc cannot
execute (encryption, pixel scrubbing).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__
from .errors import DeidcError
from .profile import dictionary
from .profile.regex_safety import safe_length
from .lint import LintConfig, Severity, lint_source
from .plan.ir import (PLAN_FORMAT, Action, Entry, LogColumn, Origin, Override, PatientAge,
                   PatternRule, Plan, Policy, ProfileRef)
from .profile.meaning import (Effect, Target, compile_regex, effective_order, renaming_templates,
                              rule_targets, selector_target, settle)
from .profile.model import FILE_TYPE_SECTIONS, FieldRule, Profile, profiles_in
from .profile.source import Source, load_source

UNSUPPORTED_ACTIONS = ("encrypt", "decrypt")
UNSUPPORTED_OPTIONS = ("alter_pixels", "retain", "asymmetric-encryption", "public-key",
                       "private-key", "force-nonce")
LOG_UID_COLUMNS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")


def effect_of(action: Action) -> Effect:
    kind = "change"
    if action.op == "remove":
        kind = "remove"
    elif action.op == "replace" and action.args["value"] is not None:
        kind = "set" if action.args["insert"] else "write"
    return Effect(kind, (action.op, json.dumps(action.args, sort_keys=True)))


def dead_reason(why: str, action: Action, by: Action) -> str:
    line = by.origin.line
    if why == "duplicate":
        return f"repeats the rule at line {line}"
    if why == "absent":
        return f"the rule at line {line} removes it first, and nothing puts it back"
    return f"a later rule (line {line}) {'removes' if by.op == 'remove' else 'replaces'} it"


class CompileError(DeidcError):
    """The profile cannot be compiled; ``diagnostics`` holds the lint findings, if any."""

    def __init__(self, message: str, diagnostics=()):
        super().__init__(message)
        self.diagnostics = list(diagnostics)


@dataclass
class Stats:
    """What the compiler did, for ``deidc compile --stats``."""

    rules: int = 0
    entries: int = 0
    regexes: dict[str, int] = field(default_factory=dict)  # pattern → dictionary tags
    dropped: list[tuple[Origin, str]] = field(default_factory=list)


def compile_profile(path: str | Path, *, config: LintConfig | None = None) -> Plan:
    """Compile the profile at ``path`` into a plan (raises :class:`CompileError`)."""
    return compile_with_stats(path, config=config)[0]


def compile_with_stats(path: str | Path, *, config: LintConfig | None = None,
                       text: str | bytes | None = None) -> tuple[Plan, Stats]:
    """Compile the profile at ``path``, or ``text`` named ``path`` (a file from another git
    revision, which has no file of its own)."""
    source = load_source(path, text)
    diagnostics = lint_source(source, config or LintConfig())
    errors = [d for d in diagnostics if d.severity is Severity.ERROR]
    if errors:
        raise CompileError(f"{source.path}: {len(errors)} lint error(s); fix them before "
                           "compiling", errors)
    profiles = profiles_in(source)
    if len(profiles) != 1:
        raise CompileError(f"{source.path}: holds {len(profiles)} profiles; deidc compiles one "
                           "profile per file (split the list into files)")
    return _Compiler(source, profiles[0]).run()


def compile_linted(source: Source, profile: Profile) -> Plan:
    """Compile one profile of ``source`` that the caller has linted without errors (``deidc
    lint --conformance`` judges each profile of a file it has just linted; linting it again
    would double the cost).  Raises :class:`CompileError` for what deidc cannot execute."""
    return _Compiler(source, profile).run()[0]


class _Compiler:
    def __init__(self, source: Source, profile: Profile):
        self.source = source
        self.profile = profile
        self.dicom = profile.dicom
        self.stats = Stats(rules=len(profile.fields))
        self.notes: list[str] = []

    def option(self, key: str):
        from .profile.model import DICOM_DEFAULTS

        return self.dicom.option(key) if self.dicom else DICOM_DEFAULTS.get(key)

    def origin(self, rule: FieldRule) -> Origin:
        return Origin(self.source.path, self.source.span(rule.pointer).line, rule.index,
                      rule.selector.text if rule.selector else "?")

    def run(self) -> tuple[Plan, Stats]:
        self.refuse_unsupported()
        chains: dict[str, list[Action]] = {}
        origins: dict[str, list[Origin]] = {}
        targets: dict[str, Target] = {}
        patterns: list[PatternRule] = []
        for order, rule in enumerate(effective_order(self.profile.fields)):
            origin = self.origin(rule)
            action = self.action(rule, origin, order)
            found = rule_targets(rule)
            if rule.selector and rule.selector.kind == "regex":
                self.stats.regexes[rule.selector.pattern] = len(found)
                compiled = compile_regex(rule.selector.pattern)
                if compiled is not None:
                    patterns.append(PatternRule(rule.selector.pattern,
                                                (action,) if action else (), origin))
            for target in found:
                targets.setdefault(target.key, target)
                origins.setdefault(target.key, []).append(origin)
                chain = chains.setdefault(target.key, [])
                if action is not None:
                    chain.append(action)
        entries = []
        for key in sorted(targets):
            target = targets[key]
            chain, overridden = self.settle(chains[key])
            self.stats.dropped.extend((o.origin, o.reason) for o in overridden)
            entries.append(Entry(key, target.kind, target.keyword, target.vr, tuple(chain),
                                 tuple(origins[key]), tuple(overridden)))
        self.stats.entries = len(entries)
        plan = Plan(
            format=PLAN_FORMAT, deidc_version=__version__,
            pydicom_version=dictionary.pydicom_version(),
            profile=ProfileRef(self.profile.name, self.source.path,
                               hashlib.sha256(self.source.text.encode("utf-8")).hexdigest()),
            options=self.options(), policy=self.policy(targets),
            entries=tuple(entries), patterns=tuple(patterns),
            log_path=self.profile.data.get("deid-log"),
            log_columns=self.log_columns(), notes=tuple(self.notes),
            sequences=dictionary.sequence_tags(),
            dictionary=dictionary.walk_keywords() if patterns else {})
        return plan, self.stats

    def refuse_unsupported(self) -> None:
        problems = []
        for rule in self.profile.fields:
            for key in UNSUPPORTED_ACTIONS:
                if key in rule.raw:
                    problems.append(f"rule {rule.index} ({rule.selector}) uses `{key}`")
        for key in UNSUPPORTED_OPTIONS:
            if self.dicom and key in self.dicom.options:
                problems.append(f"the dicom section sets `{key}`")
        unresolved = [f"line {self.source.span(rule.pointer).line}: {rule.selector or '(none)'}"
                      for rule in self.profile.fields
                      if rule.selector is None or (rule.selector.kind != "regex"
                                                   and selector_target(rule.selector) is None)]
        if unresolved:
            raise CompileError(f"{self.source.path}: rules name no attribute deidc can resolve "
                               f"({'; '.join(unresolved)}); run `deidc lint` for details")
        renaming = [f"line {self.source.span(f'{self.dicom.pointer}/filenames/{i}').line}"
                    for i in renaming_templates(self.dicom.options.get("filenames"))
                    ] if self.dicom else []
        if renaming:
            raise CompileError(f"{self.source.path}: the dicom `filenames` template(s) at "
                               f"{', '.join(renaming)} rename outputs, which deidc apply does "
                               "not do (it keeps each input's name, and any PHI in it). Run "
                               "this profile in Flywheel, or delete the templates and rename "
                               "the files yourself.")
        if problems:
            raise CompileError(f"{self.source.path}: deidc cannot execute encryption or pixel "
                               f"scrubbing: {'; '.join(problems)}. Run this profile in "
                               "Flywheel, or remove these keys to compile it with deidc.")
        for section in FILE_TYPE_SECTIONS:
            if section != "dicom" and section in self.profile.data:
                self.notes.append(f"the `{section}` section is validated but not executed by "
                                  "deidc apply (DICOM only)")
        if self.profile.data.get("map-subjects"):
            self.notes.append("`map-subjects` is used by Flywheel's uploader, not by field "
                              "rules: deidc apply ignores it")

    # --- actions ---------------------------------------------------------------------------

    def action(self, rule: FieldRule, origin: Origin, order: int) -> Action | None:
        spec = self.action_spec(rule.action, rule.action_value, rule.options)
        if spec is None:
            return None
        op, args = spec
        if op == "replace" and rule.selector and rule.selector.kind == "regex":
            args["insert"] = False  # Flywheel's regex rules act only on elements a file has
        return Action(op, args, origin, order)

    def action_spec(self, key: str | None, value, options: dict) -> tuple[str, dict] | None:
        """(op, args) for one rule's action, with every option it needs resolved."""
        option = self.option
        if key in (None, "keep", "identity"):
            return None
        if key == "remove":
            return "remove", {}
        if key == "replace-with":
            insert = options.get("replace-with-insert", option("replace-with-insert"))
            return "replace", {"value": value, "insert": bool(insert)}
        if key == "hash":
            return "hash", {"salt": option("salt"), "digits": option("hash-digits")}
        if key == "hashuid":
            return "hashuid", {"salt": option("salt"),
                               "prefix_fields": option("uid-prefix-fields"),
                               "suffix_fields": option("uid-suffix-fields"),
                               "numeric_name": option("uid-numeric-name")}
        if key in ("increment-date", "increment-datetime"):
            days = options.get("date-increment-override", option("date-increment"))
            jitter = None
            if options.get("jitter-date"):
                jitter = {"range": options.get("jitter-range", 10),
                          "unit": options.get("jitter-unit", "days")}
            if key == "increment-date":
                return "shift_date", {"days": days, "jitter": jitter,
                                      "format": options.get("date-format",
                                                            option("date-format"))}
            return "shift_datetime", {"days": days, "jitter": jitter,
                                      "format": options.get("datetime-format",
                                                            option("datetime-format")),
                                      "min": options.get("datetime-min"),
                                      "max": options.get("datetime-max")}
        if key == "jitter":
            # Flywheel ignores a file-level jitter-type (its field default wins): so do we.
            return "jitter", {"range": options.get("jitter-range", option("jitter-range")),
                              "type": "int" if options.get("jitter-type") == "int" else "float",
                              "min": options.get("jitter-min"), "max": options.get("jitter-max")}
        if key == "regex-sub":
            return "regex_sub", {"items": [self.regex_sub_item(item) for item in value or []
                                           if isinstance(item, dict)]}
        raise CompileError(f"unknown action {key!r}")

    def regex_sub_item(self, item: dict) -> dict:
        groups = []
        for group in item.get("groups") or []:
            if not isinstance(group, dict):
                continue
            from .profile.model import _build_rule

            rule = _build_rule(0, "", group)
            spec = self.action_spec(rule.action, rule.action_value, rule.options)
            groups.append({"name": group.get("name"), "op": spec[0] if spec else "keep",
                           "args": spec[1] if spec else {}})
        pattern = item.get("input-regex")
        return {"input_regex": pattern, "output": item.get("output"), "groups": groups,
                "max_length": safe_length(pattern) if isinstance(pattern, str) else None}

    @staticmethod
    def settle(chain: list[Action]) -> tuple[list[Action], list[Override]]:
        """Drop the actions that can never have an effect (see :func:`precedence.settle`),
        each recorded with the reason."""
        dead = {d.index: d for d in settle([effect_of(action) for action in chain])}
        overridden = []
        for index, action in enumerate(chain):
            if index in dead:
                by = chain[dead[index].by]
                overridden.append(Override(action.origin, dead_reason(dead[index].why, action,
                                                                      by)))
        return [a for i, a in enumerate(chain) if i not in dead], overridden

    # --- policy, options, log --------------------------------------------------------------

    def policy(self, targets: dict[str, Target]) -> Policy:
        keep = set()
        for target in targets.values():
            if target.kind == "tag":
                keep.add(target.key)
            elif target.kind == "path":
                keep.add(target.key.split(".", 1)[0])
        private_keep = sorted(key for key, target in targets.items() if target.kind == "private")
        age = None
        if self.option("patient-age-from-birthdate"):
            units = self.option("patient-age-units")
            age = PatientAge(self.option("date-format"), units if units in ("D", "M", "Y")
                             else None)
        return Policy(remove_private=bool(self.option("remove-private-tags")),
                      private_keep=tuple(private_keep),
                      remove_undefined=bool(self.option("remove-undefined")),
                      keep=tuple(sorted(keep)),
                      recurse_sequences=bool(self.option("recurse-sequence")),
                      patient_age=age, sync_media_storage=True)

    def options(self) -> dict:
        from .profile.model import DICOM_DEFAULTS

        return {key: self.option(key) for key in DICOM_DEFAULTS if key != "secret-key"}

    def log_columns(self) -> tuple[LogColumn, ...]:
        """Flywheel's deid-log columns: the three UIDs, then each rule's name or regex text in
        profile order, repeats not repeated."""
        columns: dict[str, LogColumn] = {}
        for keyword in LOG_UID_COLUMNS:
            columns[keyword] = LogColumn(keyword, dictionary.by_keyword(keyword).hex, None)
        for rule in self.profile.fields:
            if rule.selector is None or rule.selector.text in columns:
                continue
            if rule.selector.kind == "regex":
                columns[rule.selector.text] = LogColumn(rule.selector.text, None,
                                                        rule.selector.pattern)
            else:
                target = selector_target(rule.selector)
                columns[rule.selector.text] = LogColumn(rule.selector.text,
                                                        target.key if target else None, None)
        return tuple(columns.values())
