rule train:
    input:
        **training_inputs(),
        code=stage_code("train.py"),
    output:
        model=f"{RESULTS}/train/model.pt",
        predictions=f"{RESULTS}/train/predictions.parquet",
        substrate=f"{RESULTS}/train/substrate_predictions.parquet",
        summary=f"{RESULTS}/train/summary.json",
        best_identity=f"{RESULTS}/train/best_identity.tsv",
        random_folds=f"{RESULTS}/train/random_fold_predictions.parquet",
    log:
        stage_log("train"),
    benchmark:
        stage_benchmark("train")
    conda:
        "../../envs/train.yaml"
    # One thread: the linear members are small and thread hand-offs cost more than they save.
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        settings=as_json("train"),
        embeddings=embeddings_argument,
    shell:
        "python workflow/scripts/train.py --labels {input.labels} --features {input.features}"
        " --positions {input.positions} --split {input.split} --folds {input.folds}"
        " --identity {input.identity} --enzymes {input.enzymes} {params.embeddings}"
        " --settings {params.settings:q} --threads {threads} --model {output.model}"
        " --predictions {output.predictions} --substrate {output.substrate}"
        " --summary {output.summary} --best-identity {output.best_identity}"
        " --random-folds {output.random_folds} > {log} 2>&1"


rule crossval_fold:
    input:
        **training_inputs(),
        code=stage_code("crossval.py"),
    output:
        f"{RESULTS}/cv/fold{{fold}}/metrics.json",
    log:
        stage_log("cv/fold{fold}"),
    benchmark:
        stage_benchmark("cv/fold{fold}")
    conda:
        "../../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        train=as_json("train"),
        calibrate=as_json("calibrate"),
        embeddings=embeddings_argument,
    shell:
        "python workflow/scripts/crossval.py --fold {wildcards.fold} --labels {input.labels}"
        " --features {input.features} --positions {input.positions} --folds {input.folds}"
        " --identity {input.identity}"
        " --enzymes {input.enzymes} {params.embeddings} --train-settings {params.train:q}"
        " --calibrate-settings {params.calibrate:q} --threads {threads} --output {output}"
        " > {log} 2>&1"


rule crossval_summary:
    input:
        folds=expand(
            f"{RESULTS}/cv/fold{{fold}}/metrics.json",
            fold=range(config["split"]["cv_folds"]),
        ),
        code=stage_code("crossval_summary.py"),
    output:
        f"{RESULTS}/cv/summary.json",
    log:
        stage_log("cv/summary"),
    benchmark:
        stage_benchmark("cv/summary")
    conda:
        "../../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    shell:
        "python workflow/scripts/crossval_summary.py --folds {input.folds} --output {output} > {log} 2>&1"


# Reliability by homology band (top-call precision with its interval, call precision and
# recall) for the model and the homology baseline, from the grouped OOF and CV rows and the
# random-fold rows; carried by the model bundle and copied into metrics.json.
rule reliability:
    input:
        calibrated=f"{RESULTS}/calibrate/calibrated_predictions.parquet",
        thresholds=f"{RESULTS}/calibrate/thresholds.json",
        labels=f"{RESULTS}/parse/labels.parquet",
        train_summary=f"{RESULTS}/train/summary.json",
        best_identity=f"{RESULTS}/train/best_identity.tsv",
        random_folds=f"{RESULTS}/train/random_fold_predictions.parquet",
        cv_folds=expand(
            f"{RESULTS}/cv/fold{{fold}}/metrics.json",
            fold=range(config["split"]["cv_folds"]),
        ),
        code=stage_code("band_reliability.py"),
    output:
        f"{RESULTS}/reliability/reliability.json",
    log:
        stage_log("reliability"),
    benchmark:
        stage_benchmark("reliability")
    conda:
        "../../envs/evaluate.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
    shell:
        "python workflow/scripts/band_reliability.py --calibrated {input.calibrated}"
        " --thresholds {input.thresholds} --labels {input.labels}"
        " --train-summary {input.train_summary} --best-identity {input.best_identity}"
        " --random-folds {input.random_folds} --cv-folds {input.cv_folds}"
        " --output {output} > {log} 2>&1"
