rule features:
    input:
        enzymes=f"{RESULTS}/parse/enzymes.parquet",
        pfam_dir=config["features"]["pfam_dir"],
        code=stage_code("features.py"),
    output:
        features=f"{RESULTS}/features/features.parquet",
        columns=f"{RESULTS}/features/feature_columns.tsv",
        positions=f"{RESULTS}/features/positions.parquet",
    log:
        stage_log("features"),
    benchmark:
        stage_benchmark("features")
    conda:
        "../../envs/features.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=30,
    shell:
        "python workflow/scripts/features.py --enzymes {input.enzymes} --pfam-dir {input.pfam_dir}"
        " --threads {threads} --output {output.features} --columns {output.columns}"
        " --positions {output.positions}"
        " > {log} 2>&1"
