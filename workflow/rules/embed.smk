# ESM2 embeddings, split into config embed.shards independent jobs (one GPU node each on a
# cluster). Sequences are assigned to shards deterministically; finished embeddings also
# land in the content-addressed cache (embed.cache_dir), so an interrupted shard resumes.
# With plm.precomputed set, embed_precomputed writes the embeddings file from that table
# instead (embeddings_file() in common.smk), and no ESM2 job is planned.


rule embed_shard:
    input:
        enzymes=f"{RESULTS}/parse/enzymes.parquet",
        checkpoint=plm_checkpoint_inputs(),
        code=stage_code("embed.py"),
    output:
        f"{RESULTS}/embed/shards/{{model}}/{{scatteritem}}.parquet",
    log:
        stage_log("embed/{model}/{scatteritem}"),
    benchmark:
        stage_benchmark("embed/{model}/{scatteritem}")
    conda:
        "../../envs/embed.yaml"
    threads: 2
    resources:
        mem_mb=16000,
        runtime=240,
        gpu=plm_gpus(),
    params:
        settings=as_json("plm"),
        cache_dir=config["embed"]["cache_dir"],
    shell:
        "python workflow/scripts/embed.py --enzymes {input.enzymes} --shard {wildcards.scatteritem}"
        " --settings {params.settings:q} --cache-dir {params.cache_dir} --threads {threads}"
        " --output {output} > {log} 2>&1"


rule embed_gather:
    input:
        enzymes=f"{RESULTS}/parse/enzymes.parquet",
        shards=gather.embed(
            f"{RESULTS}/embed/shards/{{{{model}}}}/{{scatteritem}}.parquet"
        ),
        code=stage_code("embed_gather.py"),
    output:
        f"{RESULTS}/embed/{{model}}.parquet",
    log:
        stage_log("embed/{model}/gather"),
    benchmark:
        stage_benchmark("embed/{model}/gather")
    conda:
        "../../envs/embed_gather.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=15,
    shell:
        "python workflow/scripts/embed_gather.py --enzymes {input.enzymes}"
        " --shards {input.shards} --output {output} > {log} 2>&1"


rule embed_precomputed:
    input:
        enzymes=f"{RESULTS}/parse/enzymes.parquet",
        table=plm_precomputed_input,
        code=stage_code("embed_precomputed.py"),
    output:
        f"{RESULTS}/embed/precomputed.parquet",
    log:
        stage_log("embed/precomputed"),
    benchmark:
        stage_benchmark("embed/precomputed")
    conda:
        "../../envs/embed_precomputed.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=30,
    shell:
        "python workflow/scripts/embed_precomputed.py --enzymes {input.enzymes}"
        " --precomputed {input.table:q} --output {output} > {log} 2>&1"
