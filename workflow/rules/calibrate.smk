rule calibrate:
    input:
        predictions=f"{RESULTS}/train/predictions.parquet",
        labels=f"{RESULTS}/parse/labels.parquet",
        code=stage_code("calibrate.py"),
    output:
        thresholds=f"{RESULTS}/calibrate/thresholds.json",
        calibrated=f"{RESULTS}/calibrate/calibrated_predictions.parquet",
    log:
        stage_log("calibrate"),
    benchmark:
        stage_benchmark("calibrate")
    conda:
        "../../envs/calibrate.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
    params:
        settings=as_json("calibrate"),
    shell:
        "python workflow/scripts/calibrate.py --predictions {input.predictions} --labels {input.labels}"
        " --settings {params.settings:q} --thresholds {output.thresholds}"
        " --calibrated {output.calibrated} > {log} 2>&1"


# The trained-model bundle for `snakemake predict` (with a copy of the Pfam HMMs); the job
# re-scores the test enzymes from the bundle alone and fails unless that reproduces
# calibrate's predictions.
rule model_bundle:
    input:
        model=f"{RESULTS}/train/model.pt",
        thresholds=f"{RESULTS}/calibrate/thresholds.json",
        calibrated=f"{RESULTS}/calibrate/calibrated_predictions.parquet",
        enzymes=f"{RESULTS}/parse/enzymes.parquet",
        ensembles=f"{RESULTS}/parse/ensembles.tsv",
        features=f"{RESULTS}/features/features.parquet",
        positions=f"{RESULTS}/features/positions.parquet",
        identity=f"{RESULTS}/split/pairwise_identity.parquet",
        embeddings=optional_embeddings(),
        pfam_dir=config["features"]["pfam_dir"],
        labels=f"{RESULTS}/parse/labels.parquet",
        reliability=f"{RESULTS}/reliability/reliability.json",
        code=stage_code("model_bundle.py"),
    output:
        bundle=f"{RESULTS}/model/bundle.pt",
        manifest=f"{RESULTS}/model/manifest.json",
        pfam=directory(f"{RESULTS}/model/pfam"),
    log:
        stage_log("model_bundle"),
    benchmark:
        stage_benchmark("model_bundle")
    conda:
        "../../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
    params:
        embeddings=embeddings_argument,
        model_dir=lambda wildcards, output: Path(output.bundle).parent,
    shell:
        "python workflow/scripts/model_bundle.py --model {input.model}"
        " --thresholds {input.thresholds} --calibrated {input.calibrated}"
        " --enzymes {input.enzymes} --ensembles {input.ensembles}"
        " --features {input.features} --positions {input.positions}"
        " --identity {input.identity} {params.embeddings} --pfam-dir {input.pfam_dir}"
        " --labels {input.labels} --reliability {input.reliability}"
        " --outdir {params.model_dir} > {log} 2>&1"
