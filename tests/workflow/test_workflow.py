"""Whole-workflow checks: config schema, lint, formatting and the DAG's stages."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO, run_snakemake
from snakemake.utils import validate

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
BIN = Path(sys.executable).parent
STAGE_RULES = {
    "parse",
    "embed_shard",
    "embed_gather",
    "features",
    "split",
    "train",
    "calibrate",
    "report",
}


@pytest.fixture
def offline_config(tmp_path):
    """The `make run` configuration (demo data) with a placeholder checkpoint that exists."""
    checkpoint = tmp_path / "random_esm2_t6_8M_UR50D.pt"
    checkpoint.write_bytes(b"placeholder: only the DAG is built, nothing is loaded")
    config = yaml.safe_load((REPO / "config" / "offline.yaml").read_text())
    config["plm"]["checkpoint"] = str(checkpoint)
    path = tmp_path / "offline.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_default_config_validates_and_gets_defaults():
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    validate(config, str(SCHEMA), set_default=True)
    assert config["plm"]["model"] == "esm2_t33_650M_UR50D"
    assert config["split"]["min_seq_id"] == 0.4


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("split", "min_seq_id", 1.5),
        ("plm", "long_sequences", "chop"),
        ("train", "patience", 0),
        ("parse", "unknown_key", 1),
    ],
)
def test_wrong_config_is_rejected(section, key, value):
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config[section][key] = value
    with pytest.raises(Exception, match=key if key == "unknown_key" else None):
        validate(config, str(SCHEMA), set_default=True)


def test_dry_run_lists_every_stage(offline_config, workflow_copy):
    # In a copy without results/: in the checkout, a finished run leaves nothing to schedule.
    result = run_snakemake(
        workflow_copy, "-n", "--quiet", "rules", "--configfile", str(offline_config)
    )
    assert result.returncode == 0, result.stderr
    scheduled = {line.split()[0] for line in result.stdout.splitlines() if line.strip()}
    missing = STAGE_RULES - scheduled
    assert not missing, f"stages missing from the DAG: {missing}\n{result.stdout}"


@pytest.mark.snakemake
def test_plm_off_removes_embedding_stage(offline_config, tmp_path):
    config = yaml.safe_load(offline_config.read_text())
    config["plm"]["enabled"] = False
    path = tmp_path / "no_plm.yaml"
    path.write_text(yaml.safe_dump(config))
    result = run_snakemake(REPO, "-n", "--quiet", "rules", "--configfile", str(path))
    assert result.returncode == 0, result.stderr
    assert "embed_shard" not in result.stdout
    assert "train" in result.stdout


@pytest.mark.lint
@pytest.mark.snakemake
def test_snakemake_lint_is_clean(offline_config):
    result = run_snakemake(REPO, "--lint", "--configfile", str(offline_config))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Lints for" not in result.stdout + result.stderr, result.stdout + result.stderr


@pytest.mark.lint
def test_snakefmt_clean():
    result = subprocess.run(
        [str(BIN / "snakefmt"), "--check", "Snakefile", "workflow/rules"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.lint
@pytest.mark.skipif(shutil.which("ruff", path=str(BIN)) is None, reason="ruff not installed")
def test_ruff_clean():
    check = subprocess.run(
        [str(BIN / "ruff"), "check", "."], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout
    fmt = subprocess.run(
        [str(BIN / "ruff"), "format", "--check", "."],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert fmt.returncode == 0, fmt.stdout
