rule pairwise_identity:
    input:
        enzymes=f"{RESULTS}/parse/enzymes.parquet",
        code=stage_code("pairwise_identity.py"),
    output:
        f"{RESULTS}/split/pairwise_identity.parquet",
    log:
        stage_log("pairwise_identity"),
    benchmark:
        stage_benchmark("pairwise_identity")
    conda:
        "../../envs/pairwise_identity.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=60,
    shell:
        "python workflow/scripts/pairwise_identity.py --enzymes {input.enzymes}"
        " --threads {threads} --output {output} > {log} 2>&1"


rule split:
    input:
        enzymes=f"{RESULTS}/parse/enzymes.parquet",
        labels=f"{RESULTS}/parse/labels.parquet",
        code=stage_code("split.py"),
    output:
        split=f"{RESULTS}/split/split.tsv",
        folds=f"{RESULTS}/split/cv_folds.tsv",
        summary=f"{RESULTS}/split/summary.json",
    log:
        stage_log("split"),
    benchmark:
        stage_benchmark("split")
    conda:
        "../../envs/split.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        settings=as_json("split"),
    shell:
        "python workflow/scripts/split.py --enzymes {input.enzymes} --labels {input.labels}"
        " --settings {params.settings:q} --threads {threads} --split {output.split}"
        " --folds {output.folds} --summary {output.summary} > {log} 2>&1"
