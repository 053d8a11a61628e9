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


rule train:
    input:
        **training_inputs(),
    output:
        model=f"{RESULTS}/train/model.pt",
        history=f"{RESULTS}/train/history.tsv",
        predictions=f"{RESULTS}/train/predictions.parquet",
    params:
        settings=as_json("train"),
        embeddings=embeddings_argument,
    log:
        stage_log("train"),
    benchmark:
        stage_benchmark("train")
    threads: 2
    resources:
        mem_mb=8000,
        runtime=60,
    conda:
        "../../envs/train.yaml"
    shell:
        "python {SCRIPTS}/train.py --labels {input.labels} --features {input.features}"
        " --split {input.split} --identity {input.identity} {params.embeddings}"
        " --settings {params.settings:q} --outdir {RESULTS}/train > {log} 2>&1"


rule crossval_fold:
    input:
        **training_inputs(),
    output:
        f"{RESULTS}/cv/fold{{fold}}/metrics.json",
    params:
        train=as_json("train"),
        calibrate=as_json("calibrate"),
        embeddings=embeddings_argument,
    log:
        stage_log("cv/fold{fold}"),
    benchmark:
        stage_benchmark("cv/fold{fold}")
    threads: 2
    resources:
        mem_mb=8000,
        runtime=60,
    conda:
        "../../envs/train.yaml"
    shell:
        "python {SCRIPTS}/crossval.py --fold {wildcards.fold} --labels {input.labels}"
        " --features {input.features} --folds {input.folds} --identity {input.identity}"
        " {params.embeddings} --train-settings {params.train:q}"
        " --calibrate-settings {params.calibrate:q} --outdir {RESULTS}/cv/fold{wildcards.fold}"
        " > {log} 2>&1"


rule crossval_summary:
    input:
        expand(
            f"{RESULTS}/cv/fold{{fold}}/metrics.json",
            fold=range(config["split"]["cv_folds"]),
        ),
    output:
        f"{RESULTS}/cv/summary.json",
    log:
        stage_log("cv/summary"),
    benchmark:
        stage_benchmark("cv/summary")
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/train.yaml"
    shell:
        "python {SCRIPTS}/crossval_summary.py --folds {input} --output {output} > {log} 2>&1"
