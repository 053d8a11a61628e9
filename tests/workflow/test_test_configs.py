"""The .test configurations: valid, self-contained, their data rebuilt from the demo export."""

from __future__ import annotations

import re
import shlex
import zipfile
from pathlib import Path

import pytest
import yaml
from conftest import DEMO_MARTS, REPO, TEST_CONFIGS, run_snakemake
from marts_subset import main as marts_subset_main
from marts_subset import write_subset
from snakemake.utils import validate

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
CONFIGS = sorted(TEST_CONFIGS.glob("*/config.yaml"))
MAKEFILE_ESM = re.search(r"^RANDOM_ESM := (\S+)$", (REPO / "Makefile").read_text(), re.M)[1]


def subset_command(config: Path) -> list[str]:
    """The marts_subset.py command written in the config's comments."""
    text = config.read_text()
    found = re.search(r"#\s+(python workflow/scripts/marts_subset\.py .*\\\n#\s+.*)$", text, re.M)
    assert found, f"{config}: no marts_subset.py command in the comments"
    command = re.sub(r"\\\n#\s+", " ", found.group(1))
    return shlex.split(command)


def test_both_test_configurations_exist():
    assert {path.parent.name for path in CONFIGS} == {"minimal", "ci_slurm"}


@pytest.mark.parametrize("config", CONFIGS, ids=lambda path: path.parent.name)
def test_config_validates_and_names_files_of_the_repository(config):
    settings = yaml.safe_load(config.read_text())
    validate(settings, str(SCHEMA), set_default=True)
    assert (REPO / settings["marts_csv"]).is_file()
    assert settings["marts_csv"].startswith(f".test/{config.parent.name}/")
    assert (REPO / settings["features"]["pfam_dir"]).is_dir()
    assert settings["plm"]["checkpoint"] == MAKEFILE_ESM  # what `make run` builds
    assert settings["split"]["cv_folds"] == 3


@pytest.mark.parametrize("config", CONFIGS, ids=lambda path: path.parent.name)
def test_subset_is_what_its_command_writes_from_the_demo_export(config, tmp_path):
    settings = yaml.safe_load(config.read_text())
    words = subset_command(config)
    assert words[words.index("--input") + 1] == "resources/demo/marts_db.csv"
    assert words[words.index("--output") + 1] == settings["marts_csv"]
    rebuilt = tmp_path / "subset.csv"
    words[words.index("--output") + 1] = str(rebuilt)
    words[words.index("--input") + 1] = str(DEMO_MARTS)
    marts_subset_main(words[2:])
    assert rebuilt.read_bytes() == (REPO / settings["marts_csv"]).read_bytes()


@pytest.mark.snakemake
def test_minimal_config_is_a_few_dozen_enzymes_through_every_stage(tmp_path):
    config = TEST_CONFIGS / "minimal" / "config.yaml"
    subset = write_subset(DEMO_MARTS, tmp_path / "subset.csv", stride=25)
    assert 20 <= subset.enzymes <= 60
    checkpoint = tmp_path / "random.pt"
    checkpoint.write_bytes(b"placeholder: only the DAG is built")
    override = tmp_path / "checkpoint.yaml"
    override.write_text(yaml.safe_dump({"plm": {"checkpoint": str(checkpoint)}}))
    result = run_snakemake(
        REPO, "--dry-run", "--forceall", "--quiet", "rules", "--configfile", str(config),
        str(override),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    for stage in ("parse", "embed_shard", "features", "split", "train", "crossval_fold", "report"):
        assert re.search(rf"^{stage}\s+\d+", result.stdout, re.M), (stage, result.stdout)


def test_subset_keeps_whole_enzymes_in_order(tmp_path):
    source = tmp_path / "export.csv"
    source.write_text(
        "Enzyme_marts_ID,Aminoacid_sequence,Product_smiles\n"
        "a,MKV,C\nb,MKL,C\na,MKV,CC\nc,MKA,C\nd,MKV*,C\n"
    )
    first = write_subset(source, tmp_path / "first.csv", first=2)
    assert (first.enzymes, first.rows) == (2, 3)
    assert (tmp_path / "first.csv").read_text().splitlines()[1:] == [
        "a,MKV,C",
        "b,MKL,C",
        "a,MKV,CC",
    ]
    every_other = write_subset(source, tmp_path / "stride.csv", stride=2)
    assert (every_other.enzymes, every_other.sequences, every_other.rows) == (2, 2, 3)
    with pytest.raises(ValueError, match="exactly one"):
        write_subset(source, tmp_path / "x.csv", first=1, stride=2)
    not_marts = tmp_path / "other.csv"
    not_marts.write_text("id,sequence\nx,MKV\n")
    with pytest.raises(ValueError, match="not a MARTS-DB export"):
        write_subset(not_marts, tmp_path / "x.csv", first=1)


# --- the report archive check that .ci/run applies to the minimal run -------------------


def load_checker():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "check_report_archive", REPO / ".ci" / "check_report_archive.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fake_results(root: Path) -> Path:
    results = root / "results" / "report"
    (results / "figures").mkdir(parents=True)
    for name in ("metrics.json", "test_predictions.tsv", "report.html"):
        (results / name).write_text(f"content of {name}")
    (results / "figures" / "pr-curves.png").write_bytes(b"\x89PNG fake")
    return results


def test_report_archive_check_accepts_a_complete_archive_and_names_what_is_wrong(tmp_path):
    checker = load_checker()
    results = fake_results(tmp_path)
    archive = tmp_path / "report.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("report/report.html", "Metrics Predictions Report Figures")
        for path in [*results.glob("*.*"), *results.glob("figures/*")]:
            bundle.writestr(f"report/data/raw/abc/{path.name}", path.read_bytes())
    assert checker.archive_problems(archive, results) == []

    (results / "metrics.json").write_text("changed after the archive was built")
    assert checker.archive_problems(archive, results) == [
        f"metrics.json: not in the archive, or not the same bytes as {results / 'metrics.json'}"
    ]
    (tmp_path / "broken.zip").write_bytes(b"not a zip")
    assert "not a zip archive" in checker.archive_problems(tmp_path / "broken.zip", results)[0]
    assert checker.main([str(archive), str(results)]) == 1
