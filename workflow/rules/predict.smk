# Screening new sequences with the trained model: see README "Predict".
#   snakemake --cores N predict --config predict_input=PATH predict_name=NAME
# writes results/predict/NAME/ (metrics.json too when PATH is a MARTS-DB export).
import csv
import gzip


def predict_input(wildcards):
    if not config["predict_input"] or not config["predict_name"]:
        raise WorkflowError(
            "`snakemake predict` needs --config predict_input=PATH predict_name=NAME"
        )
    return config["predict_input"]


def predict_dir():
    # Outputs are fixed when the Snakefile is read; without a name the rule cannot run
    # anyway (predict_input raises), so a placeholder folder keeps the other targets usable.
    return f"{RESULTS}/predict/{config['predict_name'] or '_unset'}"


def predict_input_is_marts():
    """A MARTS-DB export gets labels and therefore metrics.json (decided on its header).

    Same test as terpene_ensembles.sequence_input.detect_input_format, kept to the standard
    library here because Snakemake itself may run without the stage environments.
    """
    path = config["predict_input"]
    if not path or not Path(path).is_file():
        return False
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
    try:
        with (gzip.open if gzipped else open)(path, "rt", encoding="utf-8") as handle:
            header = next((line for line in handle if line.strip()), "")
    except (OSError, UnicodeDecodeError, EOFError):
        return False  # the predict job itself reports the unreadable input
    columns = next(csv.reader([header.strip().lstrip("\ufeff")]), [])
    return all(
        c in columns
        for c in ("Enzyme_marts_ID", "Aminoacid_sequence", "Product_smiles")
    )


def predict_outputs():
    outputs = {
        "predictions": f"{predict_dir()}/predictions.parquet",
        "table": f"{predict_dir()}/predictions.tsv",
        "rejected": f"{predict_dir()}/rejected.tsv",
        "summary": f"{predict_dir()}/summary.json",
    }
    if predict_input_is_marts():
        outputs["metrics"] = f"{predict_dir()}/metrics.json"
    return outputs


rule predict:
    input:
        sequences=predict_input,
        bundle=f"{RESULTS}/model/bundle.pt",
        pfam_dir=config["features"]["pfam_dir"],
        checkpoint=plm_checkpoint_inputs(),
    output:
        **predict_outputs(),
    log:
        stage_log(f"predict/{config['predict_name'] or '_unset'}"),
    benchmark:
        stage_benchmark(f"predict/{config['predict_name'] or '_unset'}")
    conda:
        "../../envs/predict.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=120,
        gpu=1 if config["plm"]["enabled"] and config["plm"]["device"] != "cpu" else 0,
    params:
        model_dir=lambda wildcards, input: Path(input.bundle).parent,
        plm=as_json("plm"),
        cache_dir=config["embed"]["cache_dir"],
        outdir=predict_dir(),
    shell:
        "python workflow/scripts/predict.py --model-dir {params.model_dir} --input {input.sequences}"
        " --pfam-dir {input.pfam_dir} --plm {params.plm:q} --cache-dir {params.cache_dir}"
        " --threads {threads} --outdir {params.outdir} > {log} 2>&1"
