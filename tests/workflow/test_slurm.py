"""Cluster execution: the SLURM profile, and a small pipeline run on a real one-node SLURM.

The profile checks need no cluster. The pipeline test (marker `slurm`) needs the cluster of
`.ci/slurm/start.sh`; it skips without one, but FAILS when the environment variable CI is
set (CI must prove cluster execution, not skip it). Each stage command records the
$SLURM_JOB_ID it runs under (a BASH_ENV hook sourced by the `bash -c` Snakemake runs the
rule's shell command with); those ids are matched against the plugin's submission log, the
sbatch calls, slurmctld's log and `squeue`.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import DEMO_MARTS, DEMO_PFAM, REPO, TEST_CONFIGS, rule_blocks, run_snakemake
from readme_blocks import readme_commands

BIN = Path(sys.executable).parent
PROFILE = REPO / "profiles" / "slurm" / "config.yaml"
CI_CONFIG = TEST_CONFIGS / "ci_slurm" / "config.yaml"
STATE_DIR = Path(os.environ.get("TERPENE_SLURM_DIR", "/tmp/terpene-slurm"))
RUN_TIMEOUT_S = int(os.environ.get("TERPENE_SLURM_TEST_TIMEOUT", "1500"))


def stage_scripts() -> dict[str, str]:
    """Rule name -> stage script it runs (rules with a shell command only)."""
    scripts = {}
    for path in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        text = path.read_text()
        for name, body in rule_blocks(text):
            found = re.search(r"workflow/scripts/(\w+)\.py", body)
            if found:
                scripts[name] = found.group(1)
    return scripts


def profile() -> dict:
    return yaml.safe_load(PROFILE.read_text())


# --- the profile ---------------------------------------------------------------------


def test_profile_uses_the_slurm_executor_and_squeue_status():
    settings = profile()
    assert settings["executor"] == "slurm"
    # Without an accounting database sacct fails and the plugin polls forever.
    assert settings["slurm-status-command"] == "squeue"
    for key in ("mem_mb", "runtime", "cpus_per_task"):
        assert key in settings["default-resources"], key


def test_profile_sizes_every_stage_rule():
    settings = profile()
    rules = stage_scripts()
    assert {"parse", "embed_shard", "train", "report"} <= set(rules)
    missing = sorted(set(rules) - set(settings["set-resources"]))
    assert not missing, f"profiles/slurm/config.yaml has no set-resources for {missing}"
    for rule, resources in settings["set-resources"].items():
        assert rule in rules, f"set-resources names unknown rule {rule}"
        for key in ("mem_mb", "runtime", "cpus_per_task"):
            assert isinstance(resources.get(key), int), f"{rule}: {key}"


def test_profile_threads_equal_reserved_cpus():
    """A stage told to use N threads must get N CPUs from SLURM, and vice versa."""
    settings = profile()
    threads = settings.get("set-threads", {})
    rule_threads = {}
    for path in (REPO / "workflow" / "rules").glob("*.smk"):
        for name, body in rule_blocks(path.read_text()):
            found = re.search(r"^    threads: (\d+)", body, re.M)
            if found:
                rule_threads[name] = max(rule_threads.get(name, 0), int(found.group(1)))
    for rule, resources in settings["set-resources"].items():
        effective = threads.get(rule, rule_threads.get(rule, 1))
        assert resources["cpus_per_task"] == effective, (rule, resources, effective)


def dry_run_resources(config: Path) -> dict[str, dict[str, str]]:
    """Resources Snakemake computes per rule with the profile (first job of each rule)."""
    result = run_snakemake(
        REPO, "--dry-run", "--forceall", "--profile", "profiles/slurm", "--configfile", str(config)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    resources = {}
    for rule, line in re.findall(
        r"^rule (\w+):\n(?:    .*\n)*?    resources: (.*)$", result.stdout, re.M
    ):
        resources.setdefault(rule, dict(item.split("=", 1) for item in line.split(", ")))
    return resources


class _Resources(dict):
    __getattr__ = dict.get


class _Job:
    def __init__(self, resources: dict):
        self.resources = _Resources(resources)


@pytest.fixture
def dag_config(tmp_path):
    """The CI configuration with paths that exist (only the DAG is built)."""
    checkpoint = tmp_path / "random.pt"
    checkpoint.write_bytes(b"placeholder")
    config = yaml.safe_load(CI_CONFIG.read_text())
    config["plm"]["checkpoint"] = str(checkpoint)
    return config


@pytest.mark.snakemake
@pytest.mark.parametrize(("device", "expected"), [("auto", " --gpus=1"), ("cpu", "")])
def test_embed_shard_asks_slurm_for_a_gpu_unless_device_is_cpu(
    dag_config, tmp_path, device, expected
):
    from snakemake_executor_plugin_slurm.utils import set_gres_string

    dag_config["plm"]["device"] = device
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(dag_config))
    resources = dry_run_resources(path)
    embed = {k: int(v) if v.isdigit() else v for k, v in resources["embed_shard"].items()}
    assert embed["cpus_per_task"] == profile()["set-resources"]["embed_shard"]["cpus_per_task"]
    assert set_gres_string(_Job(embed)) == expected
    assert set_gres_string(_Job({"mem_mb": 1000, "gpu": 0})) == ""
    train = {k: int(v) if v.isdigit() else v for k, v in resources["train"].items()}
    assert set_gres_string(_Job(train)) == "", "only the embedding stage asks for a GPU"


@pytest.mark.snakemake
def test_readme_slurm_command_plans_every_stage(tmp_path):
    """The README's cluster command, as a dry run with a checkpoint and export that exist."""
    (command,) = readme_commands("slurm-profile")
    words = shlex.split(command)
    assert words[:3] == ["snakemake", "--profile", "profiles/slurm"]
    # config/config.yaml names a local export and hub weights a user provides: point both
    # at files that exist, after the README's config (later --configfile entries win).
    checkpoint = tmp_path / "weights.pt"
    checkpoint.write_bytes(b"placeholder: only the DAG is built")
    paths = tmp_path / "paths.yaml"
    paths.write_text(
        yaml.safe_dump(
            {
                "marts_csv": str(DEMO_MARTS),
                "plm": {"checkpoint": str(checkpoint)},
                "features": {"pfam_dir": str(DEMO_PFAM)},
            }
        )
    )
    result = run_snakemake(REPO, *words[1:], str(paths), "--dry-run", "--forceall")
    assert result.returncode == 0, result.stdout + result.stderr
    for rule in ("parse", "embed_shard", "embed_gather", "train", "calibrate", "report"):
        assert f"rule {rule}:" in result.stdout, rule
    # the SLURM profile, and the workflow profile profiles/default that every run loads
    output = result.stdout + result.stderr
    assert "Using profiles profiles/slurm and workflow specific profile profiles/default" in output
    # The real configuration's embedding jobs ask SLURM for a GPU (plm.device: auto).
    embed = re.search(
        r"^rule embed_shard:\n(?:    .*\n)*?    resources: (.*)$", result.stdout, re.M
    )
    assert embed and "gpu=1" in embed.group(1), result.stdout


# --- the pipeline on the local cluster -----------------------------------------------


def ci_is_set() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def node_state() -> str | None:
    if shutil.which("sinfo") is None:
        return None
    result = subprocess.run(
        ["sinfo", "--noheader", "--Node", "--nodes", "localhost", "--format", "%t"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return result.stdout.strip() if result.returncode == 0 else None


@pytest.fixture
def slurm_cluster():
    state = node_state()
    if state not in ("idle", "mix", "alloc"):
        message = f"local SLURM cluster not up (node localhost: {state}); run .ci/slurm/start.sh"
        if ci_is_set():
            pytest.fail(f"CI is set but the {message}")
        pytest.skip(message)
    return STATE_DIR


RECORD_HOOK = r"""# Sourced (BASH_ENV) by every non-interactive bash of the SLURM test run.
if [[ "${BASH_EXECUTION_STRING:-}" =~ workflow/scripts/([A-Za-z0-9_]+)\.py ]]; then
    printf '%s\t%s\t%s\n' "${SLURM_JOB_ID:--}" "${BASH_REMATCH[1]}" \
        "${BASH_EXECUTION_STRING//[$'\t\n']/ }" >>"$TERPENE_SLURM_RECORDS"
fi
"""


def expected_jobs(workdir: Path, configs: list[str]) -> dict[str, int]:
    result = run_snakemake(workdir, "--dry-run", "--quiet", "rules", *configs)
    assert result.returncode == 0, result.stdout + result.stderr
    table = result.stdout.split("Job stats:", 1)[1].split("total", 1)[0]
    jobs = {
        m.group(1): int(m.group(2))
        for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", table, re.M)
        if m.group(1) not in ("job", "all")
    }
    assert jobs, result.stdout
    return jobs


def tail(path: Path, lines: int = 60) -> str:
    return (
        "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""
    )


@pytest.mark.pipeline
@pytest.mark.slurm
def test_pipeline_runs_every_stage_job_as_a_slurm_job(
    slurm_cluster, workflow_copy, random_esm_checkpoint, tmp_path
):
    workdir = workflow_copy
    ci_config = yaml.safe_load(CI_CONFIG.read_text())
    assert (workdir / ci_config["marts_csv"]).is_file()
    assert ci_config["plm"]["model"] == "esm2_t6_8M_UR50D"
    checkpoint = workdir / ci_config["plm"]["checkpoint"]
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(random_esm_checkpoint, checkpoint)
    configs = ["--configfile", str(CI_CONFIG.relative_to(REPO))]
    expected = expected_jobs(workdir, configs)
    assert expected.get("embed_shard") == ci_config["embed"]["shards"]

    hook = tmp_path / "record_slurm_job.sh"
    hook.write_text(RECORD_HOOK)
    records = tmp_path / "records.tsv"
    records.touch()
    ctld_log = slurm_cluster / "slurmctld.log"
    ctld_offset = ctld_log.stat().st_size if ctld_log.exists() else 0
    run_log = tmp_path / "snakemake.log"
    env = dict(
        os.environ,
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        BASH_ENV=str(hook),
        TERPENE_SLURM_RECORDS=str(records),
    )
    command = [
        "timeout", "-k", "30", str(RUN_TIMEOUT_S),  # a hung run ignores SIGTERM
        str(BIN / "snakemake"), "--profile", "profiles/slurm", *configs,
        "--slurm-no-account",
        "--slurm-init-seconds-before-status-checks", "5",
        "--retries", "0",
        "--jobs", "6",
        "--verbose",
    ]  # fmt: skip
    with run_log.open("w") as log:
        run = subprocess.run(command, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
    text = run_log.read_text(errors="replace")
    run_id = re.search(r"SLURM run ID: (\S+)", text)
    if run.returncode != 0:
        if run_id:  # leave no jobs of a killed or failed run behind
            subprocess.run(["scancel", "--name", run_id.group(1)], check=False)
        run_snakemake(workdir, "--unlock", *configs)
        rule_logs = "\n".join(
            f"--- {p.relative_to(workdir)}\n{tail(p, 15)}"
            for p in sorted((workdir / "results" / "logs").rglob("*.log"))
        )
        pytest.fail(f"snakemake exited {run.returncode}:\n{tail(run_log)}\n{rule_logs}")
    assert run_id, "no SLURM run ID in the log"

    for output in ("metrics.json", "report.html", "test_predictions.tsv"):
        assert (workdir / "results" / "report" / output).is_file(), output

    # 1. The plugin submitted one SLURM job per stage job, each with its own id.
    submitted = {}  # SLURM job id -> rule
    for slurm_id, log_path in re.findall(
        r"has been submitted with SLURM jobid (\d+) \(log: (\S+)\)", text
    ):
        rule = re.search(r"slurm_logs/rule_(\w+)/", log_path)
        assert rule, log_path
        assert slurm_id not in submitted, f"SLURM job id {slurm_id} reported twice"
        submitted[slurm_id] = rule.group(1)
    per_rule = {}
    for rule in submitted.values():
        per_rule[rule] = per_rule.get(rule, 0) + 1
    assert per_rule == expected, f"submitted {per_rule}, DAG has {expected}"

    # 2. The sbatch calls carry the profile's CPUs and memory, and no GPU request.
    set_resources = profile()["set-resources"]
    sbatch_calls = re.findall(r"^sbatch call: (sbatch .*)$", text, re.M)
    assert len(sbatch_calls) == len(submitted)
    for call in sbatch_calls:
        rule = re.search(r"slurm_logs/rule_(\w+)/", call).group(1)
        assert f"--cpus-per-task={set_resources[rule]['cpus_per_task']}" in call, call
        assert f"--mem {set_resources[rule]['mem_mb']}" in call, call
        assert "--gpus" not in call and "--gres" not in call, call

    # 3. Every stage command ran inside a SLURM job, the one submitted for its rule.
    scripts = stage_scripts()
    recorded = {}
    for line in records.read_text().splitlines():
        job_id, script, shell_command = line.split("\t", 2)
        assert job_id != "-", f"stage command ran outside SLURM: {shell_command}"
        assert job_id not in recorded, f"two stage commands in SLURM job {job_id}"
        recorded[job_id] = script
    assert set(recorded) == set(submitted), (recorded, submitted)
    for job_id, rule in submitted.items():
        assert recorded[job_id] == scripts[rule], (job_id, rule, recorded[job_id])

    # 4. slurmctld accepted, started and completed exactly these jobs, with exit status 0.
    with ctld_log.open(errors="replace") as handle:
        handle.seek(ctld_offset)
        ctld = handle.read()
    accepted = set(re.findall(r"_slurm_rpc_submit_batch_job: JobId=(\d+) ", ctld))
    started = set(re.findall(r"sched: Allocate JobId=(\d+) NodeList=localhost", ctld))
    started |= set(re.findall(r"sched/backfill: _start_job: Started JobId=(\d+) ", ctld))
    completed = dict(re.findall(r"_job_complete: JobId=(\d+) WEXITSTATUS (\d+)", ctld))
    assert accepted == set(submitted), (sorted(accepted), sorted(submitted))
    assert started == set(submitted), (sorted(started), sorted(submitted))
    failed = {job_id: code for job_id, code in completed.items() if code != "0"}
    assert set(completed) == set(submitted) and not failed, (completed, submitted)

    # 5. squeue (jobs stay listed for MinJobAge=600 s) knows them under this run's name,
    # completed, with the profile's CPU count.
    queue = subprocess.run(
        ["squeue", "--states=all", "--noheader", "--name", run_id.group(1)]
        + ["--format=%i|%T|%C|%k"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    listed = {line.split("|")[0]: line.split("|") for line in queue}
    assert listed, "squeue lists no job of this run"
    assert set(listed) <= set(submitted), listed
    for job_id, (_, state, cpus, comment) in listed.items():
        rule = submitted[job_id]
        assert state == "COMPLETED", (job_id, state)
        assert int(cpus) == set_resources[rule]["cpus_per_task"], (job_id, rule, cpus)
        assert comment.startswith(f"rule_{rule}"), (job_id, comment)

    # 6. Every stage job wrote its log and its benchmark.
    total = sum(expected.values())
    assert len(list((workdir / "results" / "benchmarks").rglob("*.tsv"))) == total
    assert len(list((workdir / "results" / "logs").rglob("*.log"))) == total

    # 7. Screening: a 2-shard `snakemake predict` of a handful of proteins, then of a small
    # nucleotide genome (genes called), through the profile. The prefilter, each shard and
    # the gather run as their own SLURM jobs, and the outputs equal those of a local
    # single-shard run.
    import pandas as pd

    enzymes = pd.read_parquet(workdir / "results" / "parse" / "enzymes.parquet")
    screen = ScreeningThroughTheProfile(workdir, configs, tmp_path, env, records)
    check_protein_screening(screen, enzymes.iloc[:4], tmp_path)
    check_genome_screening(screen, enzymes, tmp_path)


SCREENING_FILES = ["predictions.tsv", "not_tps.tsv", "rejected.tsv"]
GENOME_FILES = ["genes.tsv", "candidates.faa", "predictions.gff3"]
SCREENING_JOBS = {"predict_prefilter": 1, "predict_shard": 2, "predict": 1}


class ScreeningThroughTheProfile:
    """`snakemake predict` of one input with predict.shards 2 through profiles/slurm, and
    with 1 shard locally, for the pipeline test's trained model."""

    def __init__(self, workdir, configs, tmp_path, env, records):
        self.workdir, self.configs, self.tmp_path = workdir, configs, tmp_path
        self.env, self.records = env, records
        for shards in (1, 2):
            (tmp_path / f"shards{shards}.yaml").write_text(f"predict: {{shards: {shards}}}\n")

    def run(self, sequences: Path, name: str, files: list[str]) -> Path:
        """Screen ``sequences`` as results/predict/ci_<name> on SLURM; check its jobs and
        that ``files`` equal the local run's; return the SLURM run's output folder."""
        workdir, tmp_path = self.workdir, self.tmp_path
        already = set(self.records.read_text().splitlines())
        run_log = tmp_path / f"{name}.log"
        command = [
            "timeout", "-k", "30", "900", str(BIN / "snakemake"), "predict",
            "--profile", "profiles/slurm", *self.configs, str(tmp_path / "shards2.yaml"),
            "--config", f"predict_input={sequences}", f"predict_name=ci_{name}",
            "--slurm-no-account", "--slurm-init-seconds-before-status-checks", "5",
            "--retries", "0", "--jobs", "4", "--verbose",
        ]  # fmt: skip
        with run_log.open("w") as log:
            run = subprocess.run(
                command, cwd=workdir, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        text = run_log.read_text(errors="replace")
        assert run.returncode == 0, tail(run_log)
        submitted = {}
        for slurm_id, log_path in re.findall(
            r"has been submitted with SLURM jobid (\d+) \(log: (\S+)\)", text
        ):
            submitted[slurm_id] = re.search(r"slurm_logs/rule_(\w+)/", log_path).group(1)
        recorded = {}
        for line in set(self.records.read_text().splitlines()) - already:
            job_id, script, _ = line.split("\t", 2)
            recorded[job_id] = script
        assert set(recorded) == set(submitted), (recorded, submitted)
        scripts = {"predict_prefilter": "predict_prefilter", "predict_shard": "predict_shard"}
        scripts["predict"] = "predict_gather"
        for job_id, rule in submitted.items():
            assert recorded[job_id] == scripts[rule], (job_id, rule)
        per_rule = {}
        for rule in submitted.values():
            per_rule[rule] = per_rule.get(rule, 0) + 1
        assert per_rule == SCREENING_JOBS, per_rule

        local = run_snakemake(
            workdir, "predict", "--cores", "2", *self.configs, str(tmp_path / "shards1.yaml"),
            "--config", f"predict_input={sequences}", f"predict_name=local_{name}",
        )  # fmt: skip
        assert local.returncode == 0, local.stdout + local.stderr
        predict_dir = workdir / "results" / "predict"
        for file in files:
            assert (predict_dir / f"ci_{name}" / file).read_bytes() == (
                predict_dir / f"local_{name}" / file
            ).read_bytes(), file
        summary = json.loads((predict_dir / f"ci_{name}" / "summary.json").read_text())
        assert summary["records_in"] == (
            summary["predicted"] + summary["not_tps"] + summary["rejected"]
        )
        return predict_dir / f"ci_{name}"


def check_protein_screening(screen, enzymes, tmp_path):
    import numpy as np

    decoy = "".join(np.random.default_rng(0).permutation(list(enzymes["sequence"].iloc[0])))
    fasta = tmp_path / "screen.fasta"
    fasta.write_text(
        "".join(f">{i}_q\n{s}\n" for i, s in zip(enzymes["id"], enzymes["sequence"], strict=True))
        + f">decoy\n{decoy}\n>dna\n{'ACGT' * 20}\n"
    )
    out = screen.run(fasta, "screen", SCREENING_FILES)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["records_in"] == 6 and summary["rejected"] == 1
    assert "decoy" in (out / "not_tps.tsv").read_text()


def check_genome_screening(screen, enzymes, tmp_path):
    """Two short contigs (meta-mode gene calling) carrying three training TPS back-translated
    among random-protein genes: each TPS is predicted and placed in predictions.gff3 at its
    planted coordinates (overlap >= 90%: the caller may choose another start codon)."""
    import pandas as pd
    from BCBio import GFF

    from terpene_ensembles.predict.synthetic import synthetic_genome, write_proteome

    tps = [s for s in enzymes["sequence"] if s.startswith("M")][:3]
    contigs, planted = synthetic_genome(tps, contigs=2, other_genes=6, seed=0)
    genome = write_proteome(tmp_path / "genome.fna.gz", contigs)
    out = screen.run(genome, "genome", SCREENING_FILES + GENOME_FILES)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["input_format"] == "nucleotide_fasta"
    assert summary["genome"]["gene_calling"] == "meta"
    assert summary["genome"]["contigs_in"] == len(contigs)
    predicted = pd.read_csv(out / "predictions.tsv", sep="\t")
    with open(out / "predictions.gff3") as handle:
        features = [(r.id, f) for r in GFF.parse(handle) for f in r.features]
    assert sorted(f.id for _, f in features) == sorted(predicted["id"])
    for gene in (g for g in planted if g.is_tps):
        placed = [
            f
            for contig, f in features
            if gene.overlap(
                contig,
                int(f.location.start) + 1,
                int(f.location.end),
                "+" if f.location.strand == 1 else "-",
            )
            >= 0.9
        ]
        assert len(placed) == 1, (gene, [f.id for _, f in features])
        assert placed[0].qualifiers["top3"], placed[0].qualifiers
