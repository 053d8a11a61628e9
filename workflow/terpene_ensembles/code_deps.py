"""Which project source files a stage script depends on, read from its imports with ``ast``.

Two views of the same import graph (standard library only: Snakemake reads this module
while it parses the workflow, before any stage environment exists):

* :func:`code_files` - the source files whose code a stage can run: the script, the
  script-local helpers it imports (``_bootstrap``) and the ``terpene_ensembles`` modules
  it reaches, followed by *name*. ``from terpene_ensembles.learning.metrics import
  mean_average_precision`` makes the stage depend on ``metrics.py`` and on what
  ``mean_average_precision`` itself uses, not on a module that some other function of
  ``metrics.py`` imports lazily. The rules list these files as inputs, so editing a
  module reruns exactly the stages that can run its code (``common.smk``).
* :func:`scan_imports` - every third-party import reachable from the script, module by
  module (lazy imports included), for the conda environment check in the tests. It is
  deliberately coarser: an environment must cover every import a stage might reach.

Unresolvable uses (a module object passed around or looked up with ``getattr``) count
as using everything in that module, so the name-level view errs towards rerunning.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

PACKAGE = "terpene_ensembles"
PACKAGE_DIR = Path(__file__).resolve().parent
DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


# --- parsing --------------------------------------------------------------------------


@dataclass(frozen=True)
class Binding:
    """What a name bound by an import refers to: a module, or a member of one."""

    module: Path
    member: str | None = None


@dataclass
class Module:
    path: Path
    tree: ast.Module
    definitions: dict[str, ast.AST]  # top-level functions and classes
    body: list[ast.AST]  # what runs on import: other statements, decorators, bases


@cache
def _parse(path: Path) -> Module:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    definitions: dict[str, ast.AST] = {}
    body: list[ast.AST] = []
    for node in tree.body:
        if isinstance(node, DEFINITIONS):
            definitions[node.name] = node
            body.extend(node.decorator_list)
            if isinstance(node, ast.ClassDef):
                body.extend(node.bases + [k.value for k in node.keywords])
            else:
                body.extend(d for d in node.args.defaults + node.args.kw_defaults if d)
        else:
            body.append(node)
    return Module(path, tree, definitions, body)


class Resolver:
    """Maps dotted import names to files: the package, and modules next to the script."""

    def __init__(self, script_dir: Path, package_dir: Path = PACKAGE_DIR):
        self.script_dir = script_dir
        self.package_dir = package_dir

    def module(self, dotted: str) -> Path | None:
        parts = dotted.split(".")
        if parts[0] == PACKAGE:
            if len(parts) == 1:
                return self.package_dir / "__init__.py"
            candidate = self.package_dir.joinpath(*parts[1:])
            if (candidate / "__init__.py").is_file():
                return candidate / "__init__.py"
            candidate = candidate.with_suffix(".py")
            return candidate if candidate.is_file() else None
        if len(parts) == 1:  # a helper next to the script, e.g. _bootstrap
            candidate = self.script_dir / f"{dotted}.py"
            return candidate if candidate.is_file() else None
        return None

    def parents(self, dotted: str) -> list[Path]:
        """Files that importing ``dotted`` runs first (the package __init__)."""
        parts = dotted.split(".")
        found = []
        for end in range(1, len(parts)):
            path = self.module(".".join(parts[:end]))
            if path:
                found.append(path)
        return found


def _absolute(node: ast.ImportFrom) -> str:
    if node.level:  # relative imports only occur inside the package
        return PACKAGE + (f".{node.module}" if node.module else "")
    return node.module or ""


def _imports(nodes, resolver: Resolver) -> tuple[dict[str, Binding], set[Path], set[str]]:
    """Bindings, local modules loaded, and third-party top-level names of import nodes."""
    bindings: dict[str, Binding] = {}
    loads: set[Path] = set()
    external: set[str] = set()

    def local(dotted: str) -> Path | None:
        path = resolver.module(dotted)
        if path:
            loads.add(path)
            loads.update(resolver.parents(dotted))
        return path

    def note_external(dotted: str) -> None:
        top = dotted.split(".")[0]
        if top and top != "__future__" and top not in sys.stdlib_module_names:
            external.add(top)

    for root in nodes:
        for node in ast.walk(root):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    path = local(alias.name)
                    if path is None:
                        if alias.name.split(".")[0] != PACKAGE:
                            note_external(alias.name)
                        continue
                    if alias.asname:
                        bindings[alias.asname] = Binding(path)
                    else:  # `import a.b` binds `a`
                        top = alias.name.split(".")[0]
                        bindings[top] = Binding(resolver.module(top) or path)
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(node)
                path = local(base)
                if path is None:
                    if base.split(".")[0] != PACKAGE:
                        note_external(base)
                    continue
                for alias in node.names:
                    name = alias.asname or alias.name
                    star = alias.name == "*"
                    submodule = None if star else resolver.module(f"{base}.{alias.name}")
                    if submodule:
                        loads.add(submodule)
                        bindings[name] = Binding(submodule)
                    elif star:
                        bindings[f"*{path}"] = Binding(path)  # marks the whole module
                    else:
                        bindings[name] = Binding(path, alias.name)
    return bindings, loads, external


def _references(nodes) -> list[list[str]]:
    """Names used, as attribute chains: ``a.b.c`` -> ["a", "b", "c"], ``x`` -> ["x"]."""
    chains: list[list[str]] = []

    def visit(node) -> None:
        if isinstance(node, ast.Attribute):
            attributes = []
            current = node
            while isinstance(current, ast.Attribute):
                attributes.append(current.attr)
                current = current.value
            if isinstance(current, ast.Name):
                chains.append([current.id, *reversed(attributes)])
            else:
                visit(current)
            return
        if isinstance(node, ast.Name):
            chains.append([node.id])
            return
        for child in ast.iter_child_nodes(node):
            visit(child)

    for node in nodes:
        visit(node)
    return chains


# --- the name-level view: code files of a stage -----------------------------------------


@dataclass
class _Walk:
    resolver: Resolver
    files: set[Path] = field(default_factory=set)
    done: set[tuple[Path, str]] = field(default_factory=set)
    pending: list[tuple[Path, str]] = field(default_factory=list)

    def load(self, path: Path) -> None:
        if path not in self.files:
            self.files.add(path)
            self.pending.append((path, "<module>"))

    def use(self, path: Path, member: str) -> None:
        self.load(path)
        self.pending.append((path, member))

    def run(self) -> None:
        while self.pending:
            path, member = self.pending.pop()
            if (path, member) in self.done:
                continue
            self.done.add((path, member))
            module = _parse(path)
            module_bindings, _, _ = _imports(module.body, self.resolver)
            if member == "<module>":
                self.unit(module, module.body, module_bindings)
            elif member == "<all>":
                for name in module.definitions:
                    self.pending.append((path, name))
            elif member in module.definitions:
                self.unit(module, [module.definitions[member]], module_bindings)
            elif member in module_bindings:  # re-exported: from x import f (then f used)
                self.follow(module_bindings[member], [])
            # else: a module-level variable; the module body is processed on load

    def unit(self, module: Module, nodes, module_bindings: dict[str, Binding]) -> None:
        local_bindings, loads, _ = _imports(nodes, self.resolver)
        for path in loads:
            self.load(path)
        scope = {**module_bindings, **local_bindings}
        for key, binding in scope.items():
            if key.startswith("*"):
                self.use(binding.module, "<all>")
        for chain in _references(nodes):
            head = chain[0]
            if head in local_bindings or head in module_bindings:
                self.follow(scope[head], chain[1:])
            elif head in module.definitions:
                self.pending.append((module.path, head))

    def follow(self, binding: Binding, attributes: list[str]) -> None:
        if binding.member is not None:
            self.use(binding.module, binding.member)
            return
        path = binding.module
        self.load(path)
        for attribute in attributes:
            package = path.parent if path.name == "__init__.py" else None
            submodule = package / f"{attribute}.py" if package else None
            if submodule is not None and submodule.is_file():
                path = submodule
                self.load(path)
                continue
            self.use(path, attribute)
            return
        self.use(path, "<all>")  # the module object itself is used: assume everything


def code_files(script: str | Path, package_dir: Path = PACKAGE_DIR) -> list[Path]:
    """Source files whose code ``script`` can run, sorted (the script first)."""
    script = Path(script).resolve()
    walk = _Walk(Resolver(script.parent, package_dir))
    walk.files.add(script)
    walk.pending.append((script, "<module>"))
    walk.pending.append((script, "<all>"))  # a script's own functions all count
    walk.run()
    return [script] + sorted(walk.files - {script})


# --- the module-level view: third-party imports (conda environments) ----------------------


@dataclass
class Usage:
    imports: set[str]  # third-party top-level import names
    modules: set[Path]  # local modules reached (module by module)
    executables: set[str] = field(default_factory=set)  # string constants naming programs
    attributes: set[str] = field(default_factory=set)  # attribute names of interest seen


def scan_imports(
    script: str | Path,
    package_dir: Path = PACKAGE_DIR,
    executables: frozenset[str] | set[str] = frozenset(),
    attributes: frozenset[str] | set[str] = frozenset(),
) -> Usage:
    """Third-party imports, executables and attributes reachable from a stage script.

    Follows every local module a reached module imports (at the top or inside functions);
    ``executables`` are program names to look for as the first word of string constants
    (e.g. "mmseqs"), ``attributes`` attribute names to report when used (e.g.
    "read_parquet", which needs pyarrow without an import).
    """
    script = Path(script).resolve()
    resolver = Resolver(script.parent, package_dir)
    usage = Usage(set(), set())
    pending = [script]
    while pending:
        path = pending.pop()
        if path in usage.modules:
            continue
        usage.modules.add(path)
        tree = _parse(path).tree
        _, loads, external = _imports([tree], resolver)
        usage.imports |= external
        pending.extend(loads)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in attributes:
                usage.attributes.add(node.attr)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                first_word = node.value.split(" ", 1)[0]
                if first_word in executables:
                    usage.executables.add(first_word)
    return usage


def main(argv: list[str] | None = None) -> int:  # pragma: no cover - a debugging aid
    """``python -m terpene_ensembles.code_deps SCRIPT``: print the code files of a script."""
    for script in argv if argv is not None else sys.argv[1:]:
        print(f"{script}:")
        for path in code_files(script):
            print(f"  {path}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
