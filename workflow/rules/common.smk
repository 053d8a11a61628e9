import json
from pathlib import Path

RESULTS = "results"


def stage_log(name):
    return f"{RESULTS}/logs/{name}.log"


def stage_benchmark(name):
    return f"{RESULTS}/benchmarks/{name}.tsv"


def as_json(section):
    """Config section as a JSON string, passed to a stage script and tracked as params."""
    return json.dumps(config[section], sort_keys=True)


def plm_enabled():
    return bool(config["plm"]["enabled"])


def embeddings_file():
    return f"{RESULTS}/embed/{config['plm']['model']}.parquet"


def plm_checkpoint_inputs():
    """The local checkpoint file, when the config names one (so edits to it rerun embed)."""
    local_weights = config["plm"]["checkpoint"]
    return [local_weights] if local_weights else []


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
        "features": f"{RESULTS}/features/features.parquet",
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
