rule embed_shard:
    input:
        enzymes=f"{RESULTS}/parse/enzymes.parquet",
        checkpoint=plm_checkpoint_inputs(),
    output:
        f"{RESULTS}/embed/shards/{{model}}/{{scatteritem}}.parquet",
    params:
        settings=as_json("plm"),
        cache_dir=config["embed"]["cache_dir"],
    log:
        stage_log("embed/{model}/{scatteritem}"),
    benchmark:
        stage_benchmark("embed/{model}/{scatteritem}")
    threads: 2
    resources:
        mem_mb=16000,
        runtime=240,
        gpu=1 if config["plm"]["device"] != "cpu" else 0,
    conda:
        "../../envs/embed.yaml"
    shell:
        "python workflow/scripts/embed.py --enzymes {input.enzymes} --shard {wildcards.scatteritem}"
        " --settings {params.settings:q} --cache-dir {params.cache_dir} --output {output}"
        " > {log} 2>&1"


rule embed_gather:
    input:
        gather.embed(f"{RESULTS}/embed/shards/{{{{model}}}}/{{scatteritem}}.parquet"),
    output:
        f"{RESULTS}/embed/{{model}}.parquet",
    log:
        stage_log("embed/{model}/gather"),
    benchmark:
        stage_benchmark("embed/{model}/gather")
    threads: 1
    resources:
        mem_mb=4000,
        runtime=15,
    conda:
        "../../envs/embed.yaml"
    shell:
        "python workflow/scripts/embed_gather.py --shards {input} --output {output} > {log} 2>&1"
