"""The package's shape: stage sub-packages, modules that import on their own, members named
only by the registry, bundle and model look-ups only in their own modules."""

import ast
import json
import re
import subprocess
import sys

import pytest
from conftest import REPO

PACKAGE = REPO / "workflow" / "terpene_ensembles"
MAX_TOP_LEVEL_MODULES = 8
MAX_MODULE_LINES = 600


def module_names() -> list[str]:
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


IMPORT_EACH_FIRST = """
import importlib, json, sys
failed = {}
for name in sys.argv[1:]:
    for loaded in [m for m in sys.modules if m.split(".")[0] == "terpene_ensembles"]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception as error:
        failed[name] = f"{type(error).__name__}: {error}"
print(json.dumps(failed))
"""


def test_every_module_imports_first_without_a_cycle():
    """Each module is imported first into a fresh package state (no module of the package
    loaded before it), so an import cycle or an order dependency fails here."""
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_EACH_FIRST, *module_names()],
        capture_output=True,
        text=True,
        cwd=REPO / "workflow",
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {}


@pytest.mark.slow  # one interpreter per module: about a minute of CPU
@pytest.mark.parametrize("module", module_names())
def test_every_module_imports_in_its_own_interpreter(module):
    result = subprocess.run(
        [sys.executable, "-c", f"import {module}"],
        capture_output=True,
        text=True,
        cwd=REPO / "workflow",
        timeout=300,
    )
    assert result.returncode == 0, result.stderr


def test_top_level_holds_few_modules_and_no_module_is_long():
    top = [p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py"]
    assert len(top) <= MAX_TOP_LEVEL_MODULES, top
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not long


def test_no_module_shares_a_name_with_a_stage_script():
    scripts = {p.stem for p in (REPO / "workflow" / "scripts").glob("*.py")}
    modules = {p.stem for p in PACKAGE.rglob("*.py") if p.stem != "__init__"}
    assert not scripts & modules


def string_comparisons(tree: ast.AST, words: set[str]) -> list[int]:
    """Lines where a string literal out of ``words`` is compared (==, !=, in, not in)."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for operand in [node.left, *node.comparators]:
                values = operand.elts if isinstance(operand, ast.Tuple | ast.List) else [operand]
                if any(isinstance(v, ast.Constant) and v.value in words for v in values):
                    lines.append(node.lineno)
    return lines


def test_no_package_code_decides_by_a_member_name():
    """Only the registry (the member modules) and the settings schema name members."""
    from terpene_ensembles.learning.members import registry

    names = set(registry.names())
    offenders = {}
    for path in PACKAGE.rglob("*.py"):
        if "members" in path.relative_to(PACKAGE).parts:
            continue
        found = string_comparisons(ast.parse(path.read_text()), names)
        if found:
            offenders[str(path.relative_to(PACKAGE))] = found
    assert not offenders


def test_bundle_and_model_fields_are_read_only_in_their_modules():
    owners = {PACKAGE / "learning" / "bundle.py", PACKAGE / "learning" / "model.py"}
    lookup = re.compile(r"\b(bundle|fitted)\[")
    offenders = [
        f"{path.relative_to(REPO)}:{n}"
        for path in [*(REPO / "workflow").rglob("*.py"), *(REPO / "bench").rglob("*.py")]
        if path not in owners
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if lookup.search(line)
    ]
    assert not offenders
