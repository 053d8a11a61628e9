rule parse:
    input:
        marts=config["marts_csv"],
        names=config["parse"]["ensemble_names"],
        frozen=frozen_vocabulary_input(),
        code=stage_code("parse.py"),
    output:
        enzymes=f"{RESULTS}/parse/enzymes.parquet",
        labels=f"{RESULTS}/parse/labels.parquet",
        ensembles=f"{RESULTS}/parse/ensembles.tsv",
        rejected=f"{RESULTS}/parse/rejected.tsv",
        summary=f"{RESULTS}/parse/summary.json",
    log:
        stage_log("parse"),
    benchmark:
        stage_benchmark("parse")
    conda:
        "../../envs/parse.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
    params:
        settings=as_json("parse"),
    shell:
        "python workflow/scripts/parse.py --marts {input.marts} --names {input.names}"
        " --settings {params.settings:q} --enzymes {output.enzymes} --labels {output.labels}"
        " --ensembles {output.ensembles} --rejected {output.rejected}"
        " --summary {output.summary} > {log} 2>&1"
