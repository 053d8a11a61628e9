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
        "python workflow/scripts/train.py --labels {input.labels} --features {input.features}"
        " --split {input.split} --identity {input.identity} {params.embeddings}"
        " --settings {params.settings:q} --outdir results/train > {log} 2>&1"


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
        "python workflow/scripts/crossval.py --fold {wildcards.fold} --labels {input.labels}"
        " --features {input.features} --folds {input.folds} --identity {input.identity}"
        " {params.embeddings} --train-settings {params.train:q}"
        " --calibrate-settings {params.calibrate:q} --outdir results/cv/fold{wildcards.fold}"
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
        "python workflow/scripts/crossval_summary.py --folds {input} --output {output} > {log} 2>&1"
