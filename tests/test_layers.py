"""The layout's promises, held by reading every module's imports (function-local ones too).

deidc is a pipeline, and its folders are its stages:

    profile ← lint ← compiler → plan ← execute ← run ← api ← cli

A stage imports only the stages before it (``ALLOWED``), so that, for example, the executor can
never read a profile (it gets a plan), and ``deidc apply plan.json`` cannot load the linter.
The plan consumers (explanation, conformance, diff, verify) read plans, not profiles, with the
DICOM dictionary for names.  The CLI is a thin shell: it calls :mod:`deidc.api`, the renderers
and the runner's option types, nothing else; :mod:`deidc.errors` is a leaf everyone may raise
from and catch.

If this test fails on your change, the message names the module and the import: move the
import to a stage that may make it, or give the API a function for what the CLI needed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "deidc"

# stage → the stages it may import (besides itself and deidc's leaves: deidc/__init__ for the
# version, deidc.errors).  A stage is a subpackage or a top-level module of deidc.
DICTIONARY = "profile.dictionary"  # DICOM names and tags, which every consumer may show
ALLOWED: dict[str, set[str]] = {
    "plan": set(),
    "profile": {"plan.targets"},  # a rule's meaning is said in the plan's target grammar
    "lint": {"profile", "plan.targets"},
    "compiler": {"profile", "lint", "plan"},
    "execute": {"plan"},
    "run": {"plan", "execute"},
    # `explain --tag X` reads X as a profile's selector would, to find its plan target
    "explanation": {"plan", "execute", DICTIONARY, "profile.model", "profile.meaning"},
    "conformance": {"plan", DICTIONARY, "explanation"},
    "plandiff": {"plan", DICTIONARY, "explanation", "conformance"},
    "verify": {"plan", "execute", "run", DICTIONARY, "conformance"},
    "render": {"lint", "profile", "plan", "explanation", "conformance", "plandiff", "verify",
               "run", "execute.outcome"},
    "api": {"profile", "lint", "compiler", "plan", "execute", "run", "explanation",
            "conformance", "plandiff", "verify", "render"},
    "cli": {"api", "render", "run"},
    "__main__": {"cli"},
}
LEAVES = {"", "errors"}  # deidc itself (the version string) and the shared error base

# Modules on the path of `deidc apply plan.json`: none may import these at module level.
APPLY_PATH = ["__init__", "__main__", "cli/__init__", "cli/quick", "cli/applying", "api",
              "plan/ir", "run/runner", "run/workers", "run/deidlog", "execute/fast",
              "execute/inputs", "execute/stream", "execute/actions", "execute/transforms",
              "execute/outcome", "execute/dicom", "errors"]
HEAVY = {"pydicom", "typer", "rich", "yaml", "jsonschema", "click", "typing"}


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py"))


def dotted(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path, *, top_level_only: bool = False) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in ``path``; names inside deidc are given
    relative to the package (``plan.ir``), others as written (``pydicom.tag``)."""
    tree = ast.parse(path.read_text(), str(path))
    own = dotted(path).split(".") if dotted(path) else []
    package = own if path.name == "__init__.py" else own[:-1]
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = []
    for node in nodes:
        if top_level_only and isinstance(node, ast.If):  # `if TYPE_CHECKING:` imports nothing
            continue
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                base = node.module or ""
            else:
                anchor = package[:len(package) - node.level + 1] if node.level > 1 else package
                base = ".".join(["deidc", *anchor, *([node.module] if node.module else [])])
            for alias in node.names:  # `from ..profile import dictionary` names a module
                module = f"{base}.{alias.name}"
                found.append((node.lineno, module if _is_module(module) else base))
    return [(line, name.removeprefix("deidc.") if name.startswith("deidc.") else
             ("" if name == "deidc" else name)) for line, name in found
            if not name.startswith("__future__")]


def _is_module(name: str) -> bool:
    """Is ``name`` (``deidc.profile.dictionary``) a module or package of deidc?"""
    first, *parts = name.split(".")
    if first != "deidc" or not parts:
        return False
    where = PACKAGE.joinpath(*parts)
    return where.with_suffix(".py").is_file() or (where / "__init__.py").is_file()


def stage_of(name: str) -> str:
    return name.split(".")[0]


def permitted(importer: str, imported: str) -> bool:
    stage = stage_of(importer)
    if imported in LEAVES or stage_of(imported) == stage or stage_of(imported) in LEAVES:
        return True
    allowed = ALLOWED[stage]
    return any(imported == entry or imported.startswith(entry + ".")
               or (entry == stage_of(imported) and "." not in entry) for entry in allowed)


def deidc_names(path: Path):
    known = {dotted(p) for p in modules()} | {dotted(p).split(".")[0] for p in modules()}
    for line, name in imports(path):
        if name == "" or name in known or name.split(".")[0] in known:
            yield line, name


def test_every_stage_has_its_arrows():
    stages = {stage_of(dotted(p)) for p in modules() if dotted(p)}
    assert stages - LEAVES <= set(ALLOWED), (
        f"new stage(s) {sorted(stages - LEAVES - set(ALLOWED))}: give them a row in ALLOWED")


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_follow_the_pipeline(path):
    importer = dotted(path)
    if importer in LEAVES:
        return
    wrong = [f"line {line}: imports deidc.{name or '__init__'}"
             for line, name in deidc_names(path) if not permitted(importer, name)]
    assert not wrong, (f"deidc/{path.relative_to(PACKAGE)} ({stage_of(importer)}) may import only "
                       f"{sorted(ALLOWED[stage_of(importer)])}: " + "; ".join(wrong))


@pytest.mark.parametrize("name", APPLY_PATH)
def test_apply_path_imports_nothing_heavy_at_module_level(name):
    path = PACKAGE / f"{name}.py"
    heavy = [f"line {line}: {module}" for line, module in imports(path, top_level_only=True)
             if module.split(".")[0] in HEAVY]
    assert not heavy, f"deidc/{name}.py loads at import time what `deidc apply plan.json` " \
                      f"must not: {heavy}"


def test_plan_is_standard_library_only():
    for path in (PACKAGE / "plan").rglob("*.py"):
        outside = [module for _, module in imports(path)
                   if module.split(".")[0] in HEAVY or (module and stage_of(module) in ALLOWED
                                                         and stage_of(module) != "plan")]
        assert not outside, f"{path.name}: the plan is the contract, stdlib only: {outside}"


def test_stage_packages_start_empty():
    """A stage's ``__init__`` loads nothing, so importing one module of it loads only that."""
    for init in PACKAGE.glob("*/__init__.py"):
        if init.parent.name in ("cli", "lint"):  # cli.main; lint's public names and registry
            continue
        code = [node for node in ast.parse(init.read_text()).body
                if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))]
        assert not code, f"{init.relative_to(PACKAGE)} should be empty (a docstring at most)"


def test_the_reader_sees_relative_imports_and_the_rule_refuses_a_wrong_one(tmp_path):
    """The checker itself: relative imports of every depth are read as the modules they name,
    and an executor that reads a profile, or a CLI that compiles by itself, is refused."""
    (tmp_path / "deidc" / "execute").mkdir(parents=True)
    (tmp_path / "deidc" / "execute" / "transforms.py").write_text("")
    probe = tmp_path / "deidc" / "execute" / "probe.py"
    probe.write_text("from ..profile.model import Profile\nfrom . import transforms\n"
                     "def late():\n    from ..plan.ir import Plan\n")
    global PACKAGE
    saved, PACKAGE = PACKAGE, tmp_path / "deidc"
    try:
        names = [name for _, name in imports(probe)]
    finally:
        PACKAGE = saved
    assert names == ["profile.model", "execute.transforms", "plan.ir"]
    assert permitted("execute.actions", "plan.ir")
    assert not permitted("execute.actions", "profile.model")
    assert not permitted("cli.lint_cmd", "compiler")
