rule parse:
    input:
        marts=config["marts_csv"],
        names=config["parse"]["ensemble_names"],
    output:
        enzymes=f"{RESULTS}/parse/enzymes.parquet",
        labels=f"{RESULTS}/parse/labels.parquet",
        ensembles=f"{RESULTS}/parse/ensembles.tsv",
        rejected=f"{RESULTS}/parse/rejected.tsv",
        summary=f"{RESULTS}/parse/summary.json",
    params:
        settings=as_json("parse"),
    log:
        stage_log("parse"),
    benchmark:
        stage_benchmark("parse")
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
    conda:
        "../../envs/parse.yaml"
    shell:
        "python workflow/scripts/parse.py --marts {input.marts} --names {input.names}"
        " --settings {params.settings:q} --outdir results/parse > {log} 2>&1"
