import json
import os
import sys
from pathlib import Path

RESULTS = "results"
WORKFLOW_DIR = Path(workflow.current_basedir).parent
sys.path.insert(0, str(WORKFLOW_DIR))

from terpene_ensembles.data import input_format
from terpene_ensembles.code_deps import code_files


def stage_code(script):
    """A rule's code inputs: its stage script and every project module it can run.

    Computed from the imports (terpene_ensembles.code_deps), so editing a module reruns
    exactly the stages that use it (and what depends on them); Snakemake's own code
    trigger does not look into scripts run through shell:.
    """
    return [
        os.path.relpath(path) for path in code_files(WORKFLOW_DIR / "scripts" / script)
    ]


def stage_log(name):
    return f"{RESULTS}/logs/{name}.log"


def stage_benchmark(name):
    return f"{RESULTS}/benchmarks/{name}.tsv"


def as_json(section):
    """Config section as a JSON string, passed to a stage script and tracked as params."""
    return json.dumps(config[section], sort_keys=True)


def plm_enabled():
    return bool(config["plm"]["enabled"])


def plm_precomputed():
    """The precomputed embeddings table (plm.precomputed), or None: then ESM2 embeds."""
    return lookup(dpath="plm/precomputed", within=config, default=None)


def embeddings_file():
    if plm_precomputed():
        return f"{RESULTS}/embed/precomputed.parquet"  # rule embed_precomputed, no ESM2
    return f"{RESULTS}/embed/{config['plm']['model']}.parquet"


def plm_precomputed_inputs():
    """The precomputed table, when the config names one (so edits to it rerun its users)."""
    return [plm_precomputed()] if plm_precomputed() else []


def plm_precomputed_input(wildcards):
    if not plm_precomputed():
        raise WorkflowError(
            f"{RESULTS}/embed/precomputed.parquet needs plm.precomputed (a table path)"
        )
    return plm_precomputed()


def plm_checkpoint_inputs():
    """The local checkpoint file, when the config names one (so edits to it rerun embed)."""
    local_weights = lookup(dpath="plm/checkpoint", within=config, default=None)
    return [local_weights] if local_weights else []


def plm_gpus():
    """GPUs a job running the PLM asks for: one unless the PLM is off or set to the CPU."""
    return 1 if plm_enabled() and config["plm"]["device"] != "cpu" else 0


def frozen_vocabulary_input():
    """The saved ensembles.tsv in frozen-vocabulary mode (edits to it rerun parse)."""
    frozen = lookup(dpath="parse/frozen_vocabulary", within=config, default=None)
    return [frozen] if frozen else []


def optional_embeddings():
    return [embeddings_file()] if plm_enabled() else []


def final_outputs():
    return [
        f"{RESULTS}/report/metrics.json",
        f"{RESULTS}/report/report.html",
        f"{RESULTS}/report/test_predictions.tsv",
    ]


def training_inputs():
    return {
        "labels": f"{RESULTS}/parse/labels.parquet",
        "enzymes": f"{RESULTS}/parse/enzymes.parquet",
        "features": f"{RESULTS}/features/features.parquet",
        "positions": f"{RESULTS}/features/positions.parquet",
        "split": f"{RESULTS}/split/split.tsv",
        "folds": f"{RESULTS}/split/cv_folds.tsv",
        "identity": f"{RESULTS}/split/pairwise_identity.parquet",
        "embeddings": optional_embeddings(),
    }


def embeddings_argument(wildcards, input):
    return f"--embeddings {input.embeddings}" if input.embeddings else ""


# Without these, embed_gather's "{model}" also matches "shards/<model>/<i>-of-<n>" and the
# DAG recurses (PeriodicWildcardError) as soon as the PLM branch is on.
wildcard_constraints:
    model=r"esm2_t[0-9]+_[0-9]+[MB]_UR50D",
    scatteritem=r"[0-9]+-of-[0-9]+",


# --- predict (screening new sequences; rule in predict.smk) ---


def predict_setting(key):
    """predict_input or predict_name (None unless given with --config)."""
    return lookup(dpath=key, within=config, default=None)


def predict_input(wildcards):
    if not predict_setting("predict_input") or not predict_setting("predict_name"):
        raise WorkflowError(
            "`snakemake predict` needs --config predict_input=PATH predict_name=NAME"
        )
    return predict_setting("predict_input")


def predict_dir():
    # Outputs are fixed when the Snakefile is read; without a name the rule cannot run
    # anyway (predict_input raises), so a placeholder folder keeps the other targets usable.
    return f"{RESULTS}/predict/{predict_name()}"


def predict_name():
    return predict_setting("predict_name") or "_unset"


def predict_input_is_marts():
    """A MARTS-DB export gets labels and therefore metrics.json (decided on its header by
    terpene_ensembles.data.input_format, the detector of the parse and predict stages).
    """
    path = predict_setting("predict_input")
    if not path or not Path(path).is_file():
        return False
    try:
        return (
            input_format.format_of_line(input_format.first_line(path))
            == input_format.MARTS
        )
    except (OSError, UnicodeDecodeError, EOFError):
        return False  # the predict job itself reports the unreadable input


def predict_input_format():
    """The predict input's format by content (input_format.detect_format), or None when it
    is absent or unreadable (the predict job then reports it)."""
    path = predict_setting("predict_input")
    if not path or not Path(path).is_file():
        return None
    try:
        return input_format.detect_format(path)
    except (OSError, UnicodeDecodeError, EOFError):
        return None


def predict_genome_files():
    """Files of genome input (nucleotide FASTA, GenBank, EMBL) written by predict_prefilter:
    every protein with its coordinates and the TPS candidates' proteins."""
    if predict_input_format() not in input_format.GENOME_FORMATS:
        return {}
    return {
        "genes": f"{predict_dir()}/genes.tsv",
        "candidates_faa": f"{predict_dir()}/candidates.faa",
    }


def predict_outputs():
    """Outputs of the final `predict` job (the whole job for a MARTS-DB export; for FASTA
    the gather step, after predict_prefilter and the predict_shard jobs)."""
    outputs = {
        "predictions": f"{predict_dir()}/predictions.parquet",
        "table": f"{predict_dir()}/predictions.tsv",
        "summary": f"{predict_dir()}/summary.json",
        "report": f"{predict_dir()}/report.html",
    }
    if predict_input_is_marts():
        outputs["rejected"] = f"{predict_dir()}/rejected.tsv"
        outputs["metrics"] = f"{predict_dir()}/metrics.json"
    found = predict_input_format()
    if found in input_format.GENOME_FORMATS:
        outputs["gff3"] = f"{predict_dir()}/predictions.gff3"
    if found in input_format.ANNOTATED_FORMATS:
        outputs["genbank"] = f"{predict_dir()}/annotated.gbk"
    return outputs
