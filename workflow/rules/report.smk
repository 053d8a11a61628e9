rule evaluate:
    input:
        calibrated=f"{RESULTS}/calibrate/calibrated_predictions.parquet",
        thresholds=f"{RESULTS}/calibrate/thresholds.json",
        labels=f"{RESULTS}/parse/labels.parquet",
        enzymes=f"{RESULTS}/parse/enzymes.parquet",
        ensembles=f"{RESULTS}/parse/ensembles.tsv",
        parse_summary=f"{RESULTS}/parse/summary.json",
        split_summary=f"{RESULTS}/split/summary.json",
        cv=f"{RESULTS}/cv/summary.json",
        substrate=f"{RESULTS}/train/substrate_predictions.parquet",
        train_summary=f"{RESULTS}/train/summary.json",
        reliability=f"{RESULTS}/reliability/reliability.json",
        predictions=f"{RESULTS}/train/predictions.parquet",
        identity=f"{RESULTS}/split/pairwise_identity.parquet",
        # Built (and checked against calibrate's predictions) before metrics are final.
        bundle_manifest=f"{RESULTS}/model/manifest.json",
        code=stage_code("evaluate.py"),
    output:
        metrics=report(
            f"{RESULTS}/report/metrics.json",
            caption="../report/metrics.rst",
            category="Metrics",
        ),
        test_predictions=report(
            f"{RESULTS}/report/test_predictions.tsv",
            caption="../report/test_predictions.rst",
            category="Predictions",
        ),
    log:
        stage_log("evaluate"),
    benchmark:
        stage_benchmark("evaluate")
    conda:
        "../../envs/evaluate.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
    params:
        plm=as_json("plm"),
    shell:
        "python workflow/scripts/evaluate.py --calibrated {input.calibrated}"
        " --thresholds {input.thresholds} --labels {input.labels} --enzymes {input.enzymes}"
        " --ensembles {input.ensembles} --parse-summary {input.parse_summary}"
        " --split-summary {input.split_summary} --cv {input.cv}"
        " --substrate {input.substrate} --train-summary {input.train_summary}"
        " --reliability {input.reliability} --identity {input.identity}"
        " --predictions {input.predictions}"
        " --bundle-manifest {input.bundle_manifest} --plm {params.plm:q}"
        " --metrics {output.metrics} --test-predictions {output.test_predictions}"
        " > {log} 2>&1"


rule report:
    input:
        metrics=f"{RESULTS}/report/metrics.json",
        test_predictions=f"{RESULTS}/report/test_predictions.tsv",
        calibrated=f"{RESULTS}/calibrate/calibrated_predictions.parquet",
        labels=f"{RESULTS}/parse/labels.parquet",
        enzymes=f"{RESULTS}/parse/enzymes.parquet",
        ensembles=f"{RESULTS}/parse/ensembles.tsv",
        parse_summary=f"{RESULTS}/parse/summary.json",
        split=f"{RESULTS}/split/split.tsv",
        split_summary=f"{RESULTS}/split/summary.json",
        identity=f"{RESULTS}/split/pairwise_identity.parquet",
        marts=config["marts_csv"],
        code=stage_code("report.py"),
    output:
        html=report(
            f"{RESULTS}/report/report.html",
            caption="../report/report_html.rst",
            category="Report",
        ),
        figures=report(
            directory(f"{RESULTS}/report/figures"),
            patterns=["{figure}.png"],
            caption="../report/figures.rst",
            category="Figures",
            labels={"figure": "{figure}"},
        ),
    log:
        stage_log("report"),
    benchmark:
        stage_benchmark("report")
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
    params:
        benchmarks=f"{RESULTS}/benchmarks",
        own_benchmark=stage_benchmark("report"),
        config=lambda wildcards: json.dumps(config, sort_keys=True),
    shell:
        "python workflow/scripts/report.py --metrics {input.metrics}"
        " --test-predictions {input.test_predictions} --calibrated {input.calibrated}"
        " --labels {input.labels} --enzymes {input.enzymes}"
        " --ensembles {input.ensembles} --parse-summary {input.parse_summary}"
        " --split {input.split} --split-summary {input.split_summary}"
        " --identity {input.identity} --marts {input.marts}"
        " --benchmarks {params.benchmarks} --own-benchmark {params.own_benchmark}"
        " --config {params.config:q} --output {output.html} --figures-dir {output.figures}"
        " > {log} 2>&1"
