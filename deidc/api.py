"""The public Python API; the CLI is a thin shell over these functions."""

from __future__ import annotations

import os
from .errors import DeidcError

# typing.TYPE_CHECKING without importing typing, a few ms of every `deidc apply` start-up
# (type checkers read any TYPE_CHECKING so)
TYPE_CHECKING = False
if TYPE_CHECKING:  # the stages are imported where used: apply(plan) loads no linter, no pydicom
    from .lint import LintConfig, LintReport
    from .profile.model import Profile

PROFILE_SUFFIXES = (".yaml", ".yml", ".json")


class ProfileError(DeidcError):
    """A profile could not be loaded or has lint errors; ``diagnostics`` says why."""

    def __init__(self, message: str, diagnostics=()):
        super().__init__(message)
        self.diagnostics = list(diagnostics)


def expand_paths(paths: list[str]) -> tuple[list[str], list[str]]:
    """Files, folders (searched recursively for .yaml/.yml/.json) and globs → profile files.
    Compiled deidc plans found in folders or globs are left out: they are the compiler's
    output, kept beside the profiles, not profiles.  Returns (files, arguments that matched
    nothing)."""
    import glob
    from pathlib import Path

    from .plan.ir import is_plan_file

    found: list[str] = []
    missing: list[str] = []
    for argument in paths:
        if os.path.isdir(argument):
            found.extend(sorted(str(p) for p in Path(argument).rglob("*")
                                if p.is_file() and p.suffix.lower() in PROFILE_SUFFIXES
                                and not is_plan_file(str(p))))
        elif os.path.exists(argument):
            found.append(argument)
        else:
            matches = sorted(glob.glob(argument, recursive=True))
            if matches and any(ch in argument for ch in "*?["):
                found.extend(m for m in matches if os.path.isfile(m) and not is_plan_file(m))
            else:
                missing.append(argument)
    return list(dict.fromkeys(found)), missing


def is_plan(path: str) -> bool:
    """Is the file at ``path`` a compiled deidc plan (as opposed to a profile)?"""
    from .plan.ir import is_plan_file

    return is_plan_file(path)


def lint(paths: list[str] | str, config: LintConfig | None = None) -> LintReport:
    """Lint profile files, folders or globs; with ``config.conformance`` (the options of
    :func:`lint_config`'s ``conformance``), each profile is also judged against PS3.15 Table
    E.1-1 and its gaps reported as E001 findings."""
    from .lint import lint_files

    files, _ = expand_paths([paths] if isinstance(paths, str) else list(paths))
    return lint_files(files, config, _lint_judge(config))


def lint_config(*, select=None, ignore=None, sorting_tags=None, strict=None,
                conformance=None, options=None) -> LintConfig:
    """The linter's configuration: these arguments (as the command line gives them: lists of
    comma-separated names, ``None`` for "not given") over ``[tool.deidc]`` in the nearest
    ``pyproject.toml``.  ``conformance`` (a bool) judges each profile against PS3.15 Table
    E.1-1 under ``options``.  Raises :class:`deidc.lint.settings.ConfigError` naming what is
    wrong and where it was written, or :class:`deidc.conformance.table.OptionError`."""
    from .lint.settings import load_settings, resolve_config

    config = resolve_config(load_settings(), select=select, ignore=ignore,
                            sorting_tags=sorting_tags, strict=strict, conformance=conformance,
                            options=options)
    if config.conformance:  # the judge is loaded only when a run judges
        from .conformance.judge import check_options

        config.conformance = check_options(config.conformance)
    return config


def _lint_judge(config: LintConfig | None):
    """What lint's conformance rules read for each profile that lints without errors: its
    plan judged against Table E.1-1 (``None`` when the run does not judge)."""
    if config is None or config.conformance is None:
        return None
    options = config.conformance

    def judge_profile(source, profile):
        from .compiler import CompileError, compile_linted
        from .conformance.judge import judge
        from .lint.diagnostic import Gap, Judged

        try:
            plan = compile_linted(source, profile)
        except CompileError as exc:
            return Judged(refused=str(exc).removeprefix(f"{source.path}: "))
        report = judge(plan, options)
        return Judged(tuple(Gap(f.line, f.row.tag, f.row.keyword, f.required, f.action,
                                f.top_verdict != "gap") for f in report.gaps))

    return judge_profile


def rules() -> dict:
    """Every lint rule by code (:class:`deidc.lint.diagnostic.Rule`: code, name, severity,
    family, summary, explanation and the failing and passing examples)."""
    from .lint import REGISTRY

    return dict(REGISTRY)


def rule_example_findings(rule, text: str | None = None) -> list:
    """What ``rule`` reports on its own failing example (or on ``text``), linted as its
    examples are documented (a conformance rule with ``--conformance``)."""
    from .lint import LintConfig, lint_source
    from .profile.source import load_source

    config = LintConfig(conformance=() if rule.conformance else None)
    found = lint_source(load_source("example.yaml", rule.fail if text is None else text),
                        config, _lint_judge(config))
    return [d for d in found if d.code == rule.code]


def starter_profile(conformance: bool = False, options=()) -> str:
    """The text ``deidc create`` writes: the commented starter profile, or with ``conformance``
    the profile generated from PS3.15 Table E.1-1 under ``options``.  Either is judged against
    the table before it is returned, and its header says what the judge found, so that no
    profile deidc writes claims more than its report shows.  Raises
    :class:`deidc.conformance.table.OptionError` for options the judge refuses."""
    from .conformance.generate import conformance_profile
    from .conformance.judge import check_options, judge
    from .profile.starter import CONFORMANCE_PLACEHOLDER, new_salt
    from .profile.starter import starter_profile as starter

    chosen = check_options(options)
    text = conformance_profile(new_salt(), chosen, verdict_line=CONFORMANCE_PLACEHOLDER) \
        if conformance else starter()
    report = judge(compile_with_stats("deidc-create.yaml", text=text)[0], chosen)
    return text.replace(CONFORMANCE_PLACEHOLDER, _conformance_header(report))


def _conformance_header(report) -> str:
    """The header lines that say whether a written profile meets Table E.1-1."""
    counts = report.counts()
    table = f"PS3.15 {report.edition} Table E.1-1"
    if not report.gaps:
        options = "".join(f" --option {name}" for name in report.options)
        return (f"# `deidc conformance{options}` finds no gap against {table}:\n"
                f"# {counts['meets']} rows met, {counts['stricter']} stricter (more removed "
                "than the table asks).")
    inside = f" ({report.nested_only} only inside sequences)" if report.nested_only else ""
    return (f"# Not conformant: `deidc conformance` finds {counts['gap']} gaps against {table}"
            f"\n# in {len(report.findings)} rows{inside}; `deidc create --conformance` writes "
            "a profile\n# that has none.")


def load_profile(path: str) -> Profile:
    """Load the single profile in ``path``; raises :class:`ProfileError` if there is none."""
    from .profile.model import profiles_in
    from .profile.source import load_source

    source = load_source(path)
    if source.error is not None:
        raise ProfileError(f"{path}:{source.error.span.line}:{source.error.span.column}: "
                           f"{source.error.message}")
    profiles = profiles_in(source)
    if len(profiles) != 1:
        raise ProfileError(f"{path}: expected one profile, found {len(profiles)}")
    return profiles[0]


def apply(policy, inputs: list[str] | str, output: str | None = None, *, client=None,
          **options):
    """De-identify DICOM files and folders with a compiled plan (a :class:`deidc.plan.ir.Plan` or a
    plan file) or a profile path (compiled first).  ``options`` are those of
    :class:`deidc.run.runner.RunOptions` (in_place, overwrite, jobs, dry_run, seed, compat_flywheel,
    log_path).  ``client``: a :class:`distributed.Client` whose workers do the files (inputs and
    output on a filesystem they all see); ``jobs`` is then not used.  Returns the run's
    :class:`deidc.run.runner.Summary`."""
    from .run.runner import RunOptions, run

    inputs = [inputs] if isinstance(inputs, str) else list(inputs)
    return run(load_policy(policy), inputs, RunOptions(output=output, **options), client=client)


def verify(inputs: list[str] | str, output: str, policy=None, jobs: int = 1,
           strays: bool = True):
    """Check a de-identified release: the outputs in ``output`` against the originals in
    ``inputs`` (as given to :func:`apply`), and, with ``policy`` (a plan, plan file or
    profile), that every action of the plan took effect.  ``strays``: also report the files
    of ``output`` no input explains (``apply --verify`` does not: its output folder may hold
    other runs' files).  Returns a :class:`deidc.verify.findings.Report`; raises
    :class:`deidc.verify.release.VerifyError` for a folder that is missing or unreadable."""
    from .verify.release import verify_release

    inputs = [inputs] if isinstance(inputs, str) else list(inputs)
    plan = load_policy(policy) if policy is not None else None
    return verify_release(inputs, output, plan, jobs=jobs, strays=strays)


def compile_profile(path: str, config: LintConfig | None = None):
    """Compile the profile at ``path`` into a :class:`deidc.plan.ir.Plan`.  Raises
    :class:`deidc.compiler.CompileError` (its ``diagnostics`` hold the lint errors) when the
    profile has lint errors or asks for what deidc cannot execute."""
    from .compiler import compile_profile as compile_

    return compile_(path, config=config)


def compile_with_stats(path: str, config: LintConfig | None = None, text: str | None = None):
    """:func:`compile_profile`, and what the compiler did (:class:`deidc.compiler.Stats`);
    ``text``, when given, is the profile's content (``path`` then only names it)."""
    from .compiler import compile_with_stats as compile_

    return compile_(path, config=config, text=text)


def explain(policy, tag: str | None = None, file: str | None = None, options=()):
    """What a plan (a :class:`deidc.plan.ir.Plan`, a plan file or a profile path, compiled first)
    does: to every attribute it names, to one attribute (``tag``: keyword or tag), or to the
    elements of one DICOM ``file`` (nothing written).  For one attribute, the report's
    ``conformance`` also says what PS3.15 Table E.1-1 requires of it under ``options`` and
    whether the plan meets it.  Returns a :class:`deidc.explanation.Report`; raises
    :class:`deidc.explanation.ExplainError` for an unknown attribute or unreadable file, and
    :class:`deidc.conformance.table.OptionError` for options the table does not have."""
    from . import explanation as explaining

    if options and tag is None:
        raise explaining.ExplainError("--option says which Table E.1-1 requirement --tag "
                                      "shows; give --tag too")
    if tag is None:
        plan = load_policy(policy)
        return explaining.preview(plan, file) if file is not None else \
            explaining.explain_plan(plan)
    from .conformance import judge, table

    chosen = judge.check_options(options)
    plan = load_policy(policy)
    report = explaining.explain_tag(plan, tag)
    row = report.rows[0]
    found = judge.judge_target(plan, row["tag"], chosen)
    row["required"] = found.required if found else ""
    row["verdict"] = found.verdict if found else ""
    report.columns = ("keyword", "tag", "vr", "chain", "required", "verdict", "lines",
                      "overridden")
    report.conformance = {
        "edition": f"PS3.15 {table.EDITION} Table E.1-1", "options": list(chosen),
        **(found.to_dict() if found else {"tag": None, "required": None, "verdict": None})}
    return report


def conformance(policy, options=()):
    """Hold a plan (a :class:`deidc.plan.ir.Plan`, a plan file or a profile path, compiled
    first) against DICOM PS3.15 Table E.1-1 under ``options`` (the table's option names, such
    as ``retain-uids``).  Returns a :class:`deidc.conformance.judge.Report`; raises
    :class:`deidc.conformance.table.OptionError` for unknown, exclusive or unsupported options
    (checked before anything is compiled), and what :func:`load_policy` raises."""
    from .conformance.judge import check_options, judge

    chosen = check_options(options)
    return judge(load_policy(policy), chosen)


def load_policy(policy, config: LintConfig | None = None):
    """The plan to run for ``policy``: a :class:`deidc.plan.ir.Plan` as it is, a plan file
    loaded, anything else compiled as a profile (it must lint clean).  The one place that
    decides whether a path is a plan or a profile.  Raises :class:`deidc.plan.ir.PlanError`,
    :class:`deidc.compiler.CompileError` or :class:`ProfileError` (no such file)."""
    from .plan.ir import Plan, is_plan_file, load_plan

    if isinstance(policy, Plan):
        return policy
    text = str(policy)
    if is_plan_file(text):
        return load_plan(text)
    if not os.path.isfile(text):
        raise ProfileError(f"{text}: no such profile or plan")
    return compile_profile(text, config)


class DiffError(DeidcError):
    """A side of ``deidc diff`` that cannot be read (no such file, git or the revision fails)."""


def diff(old, new, config: LintConfig | None = None, options=()):
    """What changes in effect from ``old`` to ``new``: each a profile path, a plan file, a
    :class:`deidc.plan.ir.Plan`, or ``REV:PATH`` (the file at a git revision, read with
    ``git show``), and which rows of PS3.15 Table E.1-1 (under ``options``, the table's
    option names) it turns to gap or to met.  Returns a :class:`deidc.plandiff.compare.Diff`;
    raises :class:`DiffError` for a side it cannot read,
    :class:`deidc.conformance.table.OptionError` for an option the table does not have
    (before anything is compiled), and the errors of :func:`load_policy` for a side that does
    not compile."""
    from .conformance.judge import check_options
    from .plandiff.compare import compare

    chosen = check_options(options)
    before, after = _diff_side(old, config), _diff_side(new, config)
    return compare(before[0], after[0], old_name=before[1], new_name=after[1],
                   new_file=after[2], old_lines=before[3], new_lines=after[3], options=chosen)


def _diff_side(side, config):
    """(plan, name, file, option lines) for one side of a diff."""
    from .plan.ir import Plan

    if isinstance(side, Plan):
        return side, side.profile.path, side.profile.path, {}
    name = str(side)
    revision = _git_revision(name)
    if revision is None:
        if is_plan(name):
            return load_policy(name), name, name, {}
        return load_policy(name, config), name, name, _option_lines(name, None)
    text = _git_show(name)
    if text.lstrip().startswith("{") and '"deidc_version"' in text:
        return Plan.from_json(text, name), name, revision[1], {}
    plan = compile_with_stats(name, config, text=text)[0]
    return plan, name, revision[1], _option_lines(name, text)


def _git_revision(name: str) -> tuple[str, str] | None:
    """``REV:PATH`` → (REV, PATH) when ``name`` is no file here and reads as one (a Windows
    drive letter does not)."""
    if os.path.exists(name) or ":" not in name:
        return None
    revision, path = name.split(":", 1)
    if not revision or len(revision) == 1 and revision.isalpha():
        return None
    return revision, path


def _git_show(name: str) -> str:
    import subprocess

    try:
        done = subprocess.run(["git", "show", name], capture_output=True, timeout=60)
    except FileNotFoundError:
        raise DiffError(f"{name}: reading REV:PATH needs git, which is not installed (or not "
                        "on PATH); check the file out and give its path instead") from None
    except subprocess.TimeoutExpired:
        raise DiffError(f"{name}: `git show` did not answer within 60 s") from None
    if done.returncode != 0:
        said = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise DiffError(f"{name}: `git show {name}` failed: "
                        f"{said[-1] if said else f'exit {done.returncode}'} (is REV a commit or "
                        "branch of this repository, and PATH relative to its root?)")
    try:
        return done.stdout.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DiffError(f"{name}: not valid UTF-8; save the profile as UTF-8") from None


def _option_lines(path: str, text: str | None) -> dict[str, int]:
    """The line of each dicom option the profile writes (plans do not keep them)."""
    from .profile.model import profiles_in
    from .profile.source import escape, load_source

    source = load_source(path, text)
    profiles = profiles_in(source)
    dicom = profiles[0].dicom if len(profiles) == 1 else None
    if dicom is None:
        return {}
    return {key: source.span(f"{dicom.pointer}/{escape(key)}", key=True).line
            for key in dicom.options}
