rule calibrate:
    input:
        predictions=f"{RESULTS}/train/predictions.parquet",
        labels=f"{RESULTS}/parse/labels.parquet",
    output:
        thresholds=f"{RESULTS}/calibrate/thresholds.json",
        calibrated=f"{RESULTS}/calibrate/calibrated_predictions.parquet",
    params:
        settings=as_json("calibrate"),
    log:
        stage_log("calibrate"),
    benchmark:
        stage_benchmark("calibrate")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
    conda:
        "../../envs/calibrate.yaml"
    shell:
        "python workflow/scripts/calibrate.py --predictions {input.predictions} --labels {input.labels}"
        " --settings {params.settings:q} --outdir results/calibrate > {log} 2>&1"
