"""Reruns from cached intermediates: which jobs Snakemake schedules after a change.

A copy of the workflow gets every output of a full run as an empty file, recorded as
up to date with `snakemake --touch --forceall` (this stores the provenance metadata that
Snakemake 9's rerun triggers compare: params, input, code, software environment). Each
test then changes one thing and reads the job list of `snakemake --dry-run`.
The cache test at the end runs the real parse and embedding stages on a small subset.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
from pathlib import Path

import pytest
import yaml
from conftest import DEMO_MARTS, DEMO_PFAM, copy_workflow, run_snakemake
from readme_blocks import readme_commands

pytestmark = pytest.mark.snakemake  # every test plans or runs the workflow

BIN = Path(sys.executable).parent
UPSTREAM = {"parse", "embed_shard", "embed_gather", "features", "pairwise_identity"}
# What a change to the train stage alone reruns (the CV folds do not read its outputs).
TRAIN_AND_BELOW = {"train", "calibrate", "reliability", "model_bundle", "evaluate", "report"}
TRAINING_AND_BELOW = {
    "train",
    "crossval_fold",
    "crossval_summary",
    "calibrate",
    "reliability",
    "model_bundle",
    "evaluate",
    "report",
}
CV_FOLDS = 3
SHARDS = 2


def write_config(workdir: Path, name: str = "test_config.yaml", **changes) -> Path:
    """Small configuration; `changes` are {section: {key: value}} or {key: value}."""
    checkpoint = workdir / "resources" / "esm" / "random_esm2_t6_8M_UR50D.pt"
    if not checkpoint.exists():
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
        checkpoint.write_bytes(b"placeholder: dry-runs never load it")
    config = {
        "marts_csv": str(DEMO_MARTS),
        "plm": {"enabled": True, "model": "esm2_t6_8M_UR50D", "checkpoint": str(checkpoint)},
        "embed": {"shards": SHARDS, "cache_dir": str(workdir / "embedding_cache")},
        "features": {"pfam_dir": str(DEMO_PFAM)},
        "split": {"cv_folds": CV_FOLDS},
    }
    for key, value in changes.items():
        if isinstance(value, dict):
            config.setdefault(key, {}).update(value)
        else:
            config[key] = value
    path = workdir / name
    path.write_text(yaml.safe_dump(config, sort_keys=True))
    return path


def scheduled_jobs(workdir: Path, config: Path, *extra: str) -> dict[str, int]:
    """Rule -> number of jobs a dry-run would run (the `Job stats` table)."""
    result = run_snakemake(
        workdir, "--dry-run", "--quiet", "rules", "--configfile", str(config), *extra
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return job_table(result)


def job_table(result) -> dict[str, int]:
    """The `Job stats` table of a dry run's output; {} when there is nothing to do."""
    if "Nothing to be done" in result.stdout + result.stderr:
        return {}
    table = result.stdout.split("Job stats:", 1)[1].split("total", 1)[0]
    jobs = {}
    for line in table.splitlines():
        match = re.fullmatch(r"\s*(\w+)\s+(\d+)\s*", line)
        if match and match.group(1) != "job":
            jobs[match.group(1)] = int(match.group(2))
    assert jobs, result.stdout
    return jobs


def rules_of(jobs: dict[str, int]) -> set[str]:
    return set(jobs) - {"all"}


def touch_every_output(workdir: Path, config: Path) -> None:
    """Create every output of a full run as an empty file, recorded as up to date."""
    summary = run_snakemake(workdir, "--summary", "--configfile", str(config))
    assert summary.returncode == 0, summary.stderr
    outputs = [line.split("\t")[0] for line in summary.stdout.splitlines()[1:] if line.strip()]
    assert any(path.endswith("report.html") for path in outputs), summary.stdout
    # Benchmarks are outputs too (a real run writes them) but --summary does not list them.
    planned = run_snakemake(workdir, "--dry-run", "--forceall", "--configfile", str(config))
    assert planned.returncode == 0, planned.stderr
    outputs += re.findall(r"^    benchmark: (\S+)$", planned.stdout, re.M)
    for output in outputs:
        path = workdir / output
        if path.suffix:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        else:  # directory() outputs (e.g. the report's figures) carry no file extension
            path.mkdir(parents=True, exist_ok=True)
    touched = run_snakemake(
        workdir, "--touch", "--forceall", "--cores", "1", "--configfile", str(config)
    )
    assert touched.returncode == 0, touched.stdout + touched.stderr


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A workflow copy whose every output exists and is recorded as up to date."""
    workdir = copy_workflow(tmp_path_factory.mktemp("reruns") / "wf")
    config = write_config(workdir)
    touch_every_output(workdir, config)
    return workdir, config


def test_touched_run_is_up_to_date(finished_run):
    workdir, config = finished_run
    assert scheduled_jobs(workdir, config) == {}


def test_training_parameter_reruns_training_calibration_and_report_only(finished_run):
    workdir, _ = finished_run
    changed = write_config(workdir, "lr.yaml", train={"learning_rate": 0.001})
    jobs = scheduled_jobs(workdir, changed)
    assert rules_of(jobs) == TRAINING_AND_BELOW, jobs
    assert jobs["crossval_fold"] == CV_FOLDS


def test_calibration_parameter_leaves_training_alone(finished_run):
    workdir, _ = finished_run
    changed = write_config(workdir, "calibrate.yaml", calibrate={"method": "isotonic"})
    jobs = scheduled_jobs(workdir, changed)
    # Cross-validation folds calibrate inside each fold, so they follow calibrate settings.
    assert rules_of(jobs) == TRAINING_AND_BELOW - {"train"}, jobs


def test_split_identity_reruns_split_and_below_not_parse_embed_features(finished_run):
    workdir, _ = finished_run
    changed = write_config(workdir, "split.yaml", split={"cv_folds": CV_FOLDS, "min_seq_id": 0.5})
    jobs = scheduled_jobs(workdir, changed)
    assert rules_of(jobs) == {"split"} | TRAINING_AND_BELOW, jobs
    assert not rules_of(jobs) & UPSTREAM


def test_plm_layer_reruns_embedding_and_below_not_parse_features_split(finished_run):
    workdir, config = finished_run
    plm = yaml.safe_load(config.read_text())["plm"] | {"layer": 3}
    changed = write_config(workdir, "layer.yaml", plm=plm)
    jobs = scheduled_jobs(workdir, changed)
    assert rules_of(jobs) == {"embed_shard", "embed_gather"} | TRAINING_AND_BELOW, jobs
    assert jobs["embed_shard"] == SHARDS


def test_new_marts_file_reruns_from_parse(finished_run):
    workdir, _ = finished_run
    marts = workdir / "marts_copy.csv"
    shutil.copy(DEMO_MARTS, marts)
    changed = write_config(workdir, "marts.yaml", marts_csv=str(marts))
    jobs = scheduled_jobs(workdir, changed)
    assert {"parse", "embed_shard", "features", "split", "train", "report"} <= rules_of(jobs)


def jobs_after_editing(workdir: Path, config: Path, relative: str) -> dict[str, int]:
    """The dry-run job list after editing one source file of the copy (restored after)."""
    path = workdir / relative
    assert path.is_file(), path
    original, before = path.read_bytes(), path.stat()
    path.write_bytes(original + b"\n# an edit\n")
    try:
        return scheduled_jobs(workdir, config)
    finally:
        path.write_bytes(original)
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def test_editing_the_calibration_module_reruns_calibrate_and_below_only(finished_run):
    workdir, config = finished_run
    jobs = jobs_after_editing(workdir, config, "workflow/terpene_ensembles/learning/calibration.py")
    # crossval folds calibrate inside each fold, so they run calibration.py's code too.
    assert rules_of(jobs) == TRAINING_AND_BELOW - {"train"}, jobs
    assert jobs["crossval_fold"] == CV_FOLDS
    assert not rules_of(jobs) & (UPSTREAM | {"split", "train"})


def test_touching_the_calibration_module_reruns_calibrate_and_below_only(finished_run):
    """`touch calibration.py && snakemake -n`: no content change, the newer mtime is enough
    (profiles/default turns off Snakemake's same-checksum check)."""
    workdir, config = finished_run
    path = workdir / "workflow" / "terpene_ensembles" / "learning" / "calibration.py"
    before = path.stat()
    path.touch()
    try:
        jobs = scheduled_jobs(workdir, config)
    finally:
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert rules_of(jobs) == TRAINING_AND_BELOW - {"train"}, jobs
    assert not rules_of(jobs) & (UPSTREAM | {"split", "train"})


def test_editing_a_stage_script_reruns_its_stage_and_below(finished_run):
    workdir, config = finished_run
    jobs = jobs_after_editing(workdir, config, "workflow/scripts/train.py")
    assert rules_of(jobs) == TRAIN_AND_BELOW, jobs
    jobs = jobs_after_editing(workdir, config, "workflow/terpene_ensembles/split/splitting.py")
    assert rules_of(jobs) == {"split"} | TRAINING_AND_BELOW, jobs


def test_editing_a_module_every_stage_uses_reruns_everything(finished_run):
    workdir, config = finished_run
    jobs = jobs_after_editing(workdir, config, "workflow/terpene_ensembles/io_utils.py")
    assert rules_of(jobs) == UPSTREAM | {"split"} | TRAINING_AND_BELOW, jobs


def test_forcerun_train_reruns_train_and_what_depends_on_it(finished_run):
    workdir, config = finished_run
    jobs = scheduled_jobs(workdir, config, "--forcerun", "train")
    assert rules_of(jobs) == TRAIN_AND_BELOW, jobs


def test_forcerun_with_until_stops_at_the_named_rule(finished_run):
    workdir, config = finished_run
    jobs = scheduled_jobs(workdir, config, "--forcerun", "split", "--until", "split")
    assert rules_of(jobs) == {"split"}, jobs


def test_until_on_a_fresh_directory_runs_only_the_needed_stages(workflow_copy):
    workdir = workflow_copy
    config = write_config(workdir)
    jobs = scheduled_jobs(workdir, config, "--until", "split")
    assert jobs == {"parse": 1, "split": 1}
    jobs = scheduled_jobs(workdir, config, "--until", "embed_gather")
    assert jobs == {"parse": 1, "embed_shard": SHARDS, "embed_gather": 1}


# --- the embedding cache, through the real stages ------------------------------------


CACHE_LOG = re.compile(r"(\d+) sequences: (\d+) from cache, (\d+) to embed")


def cache_counts(workdir: Path) -> tuple[int, int, int]:
    """Sums of (sequences, from cache, embedded) over the shard logs of the last run."""
    totals = [0, 0, 0]
    logs = sorted((workdir / "results" / "logs" / "embed").glob("*/*-of-*.log"))
    assert len(logs) == SHARDS, logs
    for log in logs:
        found = CACHE_LOG.findall(log.read_text())
        assert found, f"no cache line in {log}:\n{log.read_text()}"
        for index, value in enumerate(found[-1]):
            totals[index] += int(value)
    return tuple(totals)


def test_added_enzymes_embed_only_the_new_sequences(
    workflow_copy, random_esm_checkpoint, marts_subset
):
    workdir = workflow_copy
    checkpoint = workdir / "resources" / "esm" / "random_esm2_t6_8M_UR50D.pt"
    checkpoint.parent.mkdir(parents=True)
    shutil.copy(random_esm_checkpoint, checkpoint)
    marts = workdir / "marts.csv"
    first = marts_subset(marts, first=24).sequences
    config = write_config(
        workdir,
        marts_csv=str(marts),
        parse={"min_support": 1},
        plm={"device": "cpu", "max_tokens_per_batch": 4096},
    )
    run = run_snakemake(
        workdir, "--cores", "2", "--until", "embed_gather", "--configfile", str(config)
    )
    assert run.returncode == 0, run.stdout + run.stderr
    sequences, cached, embedded = cache_counts(workdir)
    assert (sequences, cached, embedded) == (first, 0, first)

    grown = marts_subset(marts, first=30).sequences
    assert grown > first
    run = run_snakemake(
        workdir, "--cores", "2", "--until", "embed_gather", "--configfile", str(config)
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "embed_shard" in run.stderr  # the stage ran again ...
    sequences, cached, embedded = cache_counts(workdir)
    assert (sequences, cached, embedded) == (grown, first, grown - first)  # ... for new ones only


def test_readme_rerun_commands_plan_what_they_say(tmp_path):
    """The README's rerun commands, each as a dry run, on a finished `make run` (touched)."""
    workdir = copy_workflow(tmp_path / "wf")
    config = workdir / "config" / "offline.yaml"  # the README's; demo data in the copy
    checkpoint = workdir / yaml.safe_load(config.read_text())["plm"]["checkpoint"]
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_bytes(b"placeholder: dry-runs never load it")
    touch_every_output(workdir, config)
    commands = readme_commands("reruns")
    assert len(commands) == 5
    planned = {}
    for command in commands:
        words = shlex.split(command)
        assert words[:5] == ["snakemake", "--cores", "2", "--configfile", "config/offline.yaml"]
        result = run_snakemake(workdir, *words[1:], "--dry-run", "--quiet", "rules")
        assert result.returncode == 0, result.stdout + result.stderr
        planned[" ".join(w for w in words[5:] if w != "-n")] = rules_of(job_table(result))
    assert planned[""] == set()  # `-n`: nothing to do on a finished run
    assert planned["--forcerun train"] == {
        "train",
        "calibrate",
        "reliability",
        "model_bundle",
        "evaluate",
        "report",
    }
    assert planned["--until split"] == set()
    assert planned["--forcerun split --until split"] == {"split"}
    assert {"features", "train", "calibrate", "report"} <= planned["--forcerun features"]
    assert not planned["--forcerun features"] & {"parse", "embed_shard", "pairwise_identity"}
