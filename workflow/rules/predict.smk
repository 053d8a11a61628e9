# Screening new sequences with the trained model: see README "Predict".
#   snakemake --cores N predict --config predict_input=PATH predict_name=NAME
# writes results/predict/NAME/ (metrics.json too when PATH is a MARTS-DB export).
# Input functions and the output list are in common.smk.


rule predict:
    input:
        sequences=predict_input,
        bundle=f"{RESULTS}/model/bundle.pt",
        pfam_dir=config["features"]["pfam_dir"],
        checkpoint=plm_checkpoint_inputs(),
        code=stage_code("predict.py"),
    output:
        **predict_outputs(),
    log:
        stage_log(f"predict/{predict_name()}"),
    benchmark:
        stage_benchmark(f"predict/{predict_name()}")
    conda:
        "../../envs/predict.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=120,
        gpu=plm_gpus(),
    params:
        model_dir=lambda wildcards, input: Path(input.bundle).parent,
        plm=as_json("plm"),
        cache_dir=config["embed"]["cache_dir"],
        outdir=lambda wildcards, output: Path(output.predictions).parent,
        chunk_size=config["predict"]["chunk_size"],
        identity_floor=config["predict"]["identity_floor"],
        kingdom=config["predict"]["kingdom"],
    shell:
        "python workflow/scripts/predict.py --model-dir {params.model_dir} --input {input.sequences}"
        " --pfam-dir {input.pfam_dir} --plm {params.plm:q} --cache-dir {params.cache_dir}"
        " --chunk-size {params.chunk_size} --identity-floor {params.identity_floor}"
        " --kingdom={params.kingdom:q} --threads {threads} --outdir {params.outdir}"
        " > {log} 2>&1"
