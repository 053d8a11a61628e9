"""Rules own their output paths: a stage writes whatever file names its rule gives it."""

from __future__ import annotations

import subprocess

import pytest
from conftest import REPO, run_snakemake

RENAMED = {
    "parse.smk": {
        '/parse/rejected.tsv"': '/parse/renamed/rows_rejected.tsv"',
        '/parse/summary.json"': '/parse/renamed/parse_summary.json"',
    },
    "split.smk": {
        '/split/cv_folds.tsv"': '/split/renamed/folds.tsv"',
        '/split/summary.json"': '/split/renamed/split_summary.json"',
    },
}


def test_no_rule_passes_a_literal_output_folder():
    found = subprocess.run(
        ["grep", "-rn", "--", "--outdir results", str(REPO / "workflow" / "rules")],
        capture_output=True,
        text=True,
    )
    assert found.stdout == ""


@pytest.mark.pipeline
def test_renamed_outputs_in_a_copied_rule_file_are_written_under_the_new_names(workflow_copy):
    for rule_file, renames in RENAMED.items():
        path = workflow_copy / "workflow" / "rules" / rule_file
        text = path.read_text()
        for old, new in renames.items():
            assert old in text, (rule_file, old)
            text = text.replace(old, new)
        path.write_text(text)
    targets = [
        f"results{new.rstrip(chr(34))}" for renames in RENAMED.values() for new in renames.values()
    ]
    result = run_snakemake(
        workflow_copy,
        *targets,
        "--cores",
        "2",
        "--configfile",
        ".test/minimal/config.yaml",
    )  # fmt: skip  (targets first: --configfile takes every word after it)
    assert result.returncode == 0, result.stderr[-3000:]
    for target in targets:
        assert (workflow_copy / target).is_file(), target
    for old in ("parse/rejected.tsv", "parse/summary.json", "split/cv_folds.tsv"):
        assert not (workflow_copy / "results" / old).exists(), old
