# Screening new sequences with the trained model: see docs/screening.md.
#   snakemake --cores N predict --config predict_input=PATH predict_name=NAME
# writes results/predict/NAME/ (metrics.json too when PATH is a MARTS-DB export).
# A MARTS-DB export is scored whole by one job. A FASTA (protein or nucleotide: genes
# called), GenBank or EMBL file goes through
# predict_prefilter (validation, TPS prefilter, candidates dealt into predict.shards
# files), one predict_shard job per shard, and the gathering `predict` job.
# Input functions and the output list are in common.smk. The jobs featurise with the
# model folder's own Pfam HMMs (results/model/pfam), those the model was trained with. With
# plm.precomputed set, the queries' embeddings come from that table; a query it lacks is
# rejected (rejected.tsv) unless the model was trained on ESM2 embeddings, which then
# embeds it.

PREDICT_DIR = predict_dir()

if predict_input_is_marts():

    rule predict:
        input:
            sequences=predict_input,
            bundle=f"{RESULTS}/model/bundle.pt",
            model_pfam=f"{RESULTS}/model/pfam",
            checkpoint=plm_checkpoint_inputs(),
            precomputed=plm_precomputed_inputs(),
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
            " --plm {params.plm:q} --cache-dir {params.cache_dir}"
            " --chunk-size {params.chunk_size} --identity-floor {params.identity_floor}"
            " --kingdom={params.kingdom:q} --threads {threads} --outdir {params.outdir}"
            " --report {output.report} > {log} 2>&1"

else:

    rule predict_prefilter:
        input:
            sequences=predict_input,
            bundle=f"{RESULTS}/model/bundle.pt",
            model_pfam=f"{RESULTS}/model/pfam",
            precomputed=plm_precomputed_inputs(),
            code=stage_code("predict_prefilter.py"),
        output:
            **predict_genome_files(),
            shards=scatter.predict(
                f"{PREDICT_DIR}/prefilter/candidates/{{scatteritem}}.parquet"
            ),
            not_tps=f"{PREDICT_DIR}/not_tps.tsv",
            rejected=f"{PREDICT_DIR}/rejected.tsv",
            summary=f"{PREDICT_DIR}/prefilter/summary.json",
        log:
            stage_log(f"predict/{predict_name()}/prefilter"),
        benchmark:
            stage_benchmark(f"predict/{predict_name()}/prefilter")
        conda:
            "../../envs/predict.yaml"
        threads: 8
        resources:
            mem_mb=4000,
            runtime=60,
        params:
            model_dir=lambda wildcards, input: Path(input.bundle).parent,
            prefilter=config["predict"]["prefilter"],
            kingdom=config["predict"]["kingdom"],
            plm=as_json("plm"),
            gene_calling=config["predict"]["gene_calling"],
            genetic_code=config["predict"]["genetic_code"],
            genome_files=lambda wildcards, output: (
                f"--genes {output.genes} --candidates-faa {output.candidates_faa}"
                if "genes" in output.keys()
                else ""
            ),
        shell:
            "python workflow/scripts/predict_prefilter.py --input {input.sequences}"
            " --model-dir {params.model_dir} --plm {params.plm:q}"
            " --prefilter {params.prefilter} --gene-calling {params.gene_calling}"
            " --genetic-code {params.genetic_code} {params.genome_files}"
            " --kingdom={params.kingdom:q} --threads {threads} --shards {output.shards}"
            " --not-tps {output.not_tps} --rejected {output.rejected}"
            " --summary {output.summary} > {log} 2>&1"

    rule predict_shard:
        input:
            candidates=f"{PREDICT_DIR}/prefilter/candidates/{{scatteritem}}.parquet",
            bundle=f"{RESULTS}/model/bundle.pt",
            model_pfam=f"{RESULTS}/model/pfam",
            checkpoint=plm_checkpoint_inputs(),
            precomputed=plm_precomputed_inputs(),
            code=stage_code("predict_shard.py"),
        output:
            predictions=f"{PREDICT_DIR}/shards/{{scatteritem}}/predictions.parquet",
            table=f"{PREDICT_DIR}/shards/{{scatteritem}}/predictions.tsv",
            summary=f"{PREDICT_DIR}/shards/{{scatteritem}}/summary.json",
        log:
            stage_log(f"predict/{predict_name()}/{{scatteritem}}"),
        benchmark:
            stage_benchmark(f"predict/{predict_name()}/{{scatteritem}}")
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
        shell:
            "python workflow/scripts/predict_shard.py --model-dir {params.model_dir}"
            " --candidates {input.candidates} --plm {params.plm:q}"
            " --cache-dir {params.cache_dir} --chunk-size {params.chunk_size}"
            " --identity-floor {params.identity_floor} --threads {threads}"
            " --outdir {params.outdir} > {log} 2>&1"

    rule predict:
        input:
            **predict_genome_files(),
            prefilter=f"{PREDICT_DIR}/prefilter/summary.json",
            not_tps=f"{PREDICT_DIR}/not_tps.tsv",
            rejected=f"{PREDICT_DIR}/rejected.tsv",
            shards=gather.predict(
                f"{PREDICT_DIR}/shards/{{scatteritem}}/predictions.parquet"
            ),
            code=stage_code("predict_gather.py"),
        output:
            **predict_outputs(),
        log:
            stage_log(f"predict/{predict_name()}"),
        benchmark:
            stage_benchmark(f"predict/{predict_name()}")
        conda:
            "../../envs/predict.yaml"
        threads: 1
        resources:
            mem_mb=4000,
            runtime=30,
        params:
            shard_dirs=lambda wildcards, input: [Path(p).parent for p in input.shards],
            outdir=lambda wildcards, output: Path(output.predictions).parent,
            settings=as_json("predict"),
            genes=lambda wildcards, input: (
                f"--genes {input.genes}" if "genes" in input.keys() else ""
            ),
        shell:
            "python workflow/scripts/predict_gather.py --prefilter-summary {input.prefilter}"
            " --shard-dirs {params.shard_dirs} --outdir {params.outdir} {params.genes}"
            " --settings {params.settings:q} --report {output.report} > {log} 2>&1"
