"""Screening benchmark: `snakemake predict` on proteome-like FASTA files.

The proteome (``terpene_ensembles.predict.synthetic``): the 991 distinct TPS sequences of
``resources/demo/marts_db.csv`` diluted 1:100 in decoys; each decoy is a TPS sequence drawn
at random with its residues shuffled (same length distribution and composition, no real
domain). 10,000 proteins hold 99 TPS, 100,000 hold 990; records in seeded random order.

The model: the workflow's own, trained with ``--config`` (default ``config/offline.yaml``,
the ``make run`` model: all demo enzymes but the test split) with that configuration's own
``train.members`` (the model users get; ``--members`` overrides them, e.g.
``knn_identity positions plm`` for a model that embeds every candidate with the
RANDOM-weight esm2_t6_8M on the CPU). Built once per member set in ``--workdir`` (a copy of
the workflow, default ``/tmp/bench_screen/<members or default>``; its ``workflow/`` code is
refreshed from this tree on every call) unless it is there already. Most proteome TPS are
then training enzymes of the model, which the prefilter's homology arm finds trivially;
recall is therefore also reported for the TPS that are not (the test split's clusters: new
to the model).

With ``--input nucleotide`` the same proteins are planted as genes of one synthetic genome
(``synthetic.proteome_genome``: three contigs, random strands, GC about 0.65) and screened
from nucleotide FASTA: predict calls the genes; called genes are matched back to the
planted proteins by their stop codon for the recall figures.

Per proteome size it runs, in that workflow copy,

    snakemake predict --cores C --configfile bench_config.yaml \
        --config predict_input=proteome_N.faa.gz predict_name=bench_N

and reports wall seconds, proteins/s, the largest peak RSS of any predict job (prefilter,
shards, gather; from summary.json), of MMseqs2, and of a job's whole process tree (Snakemake's
benchmark files), the fraction of the TPS among the
candidates (prefilter recall; also for the TPS held out of the model's training), the
fraction of decoys in not_tps.tsv, and the fraction of
the TPS that reach a TPS Pfam gathering cutoff at all (the most the prefilter can recover
with the shipped profiles); per job its wall and CPU seconds (Snakemake's benchmark files;
CPU seconds there miss short-lived children such as MMseqs2), the wall time outside the
jobs (Snakemake's own) and the load average at the end.

    .venv/bin/python bench/bench_screen.py --proteins 10000 100000 --cores 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow"))
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "workflow" / "scripts"))

BIN = Path(sys.executable).parent
MARTS = REPO / "resources" / "demo" / "marts_db.csv"
CONFIG = "config/offline.yaml"


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    return subprocess.run(
        [str(BIN / "snakemake"), *args], cwd=workdir, env=env, capture_output=True, text=True
    )


def prepare(
    workdir: Path, cores: int, shards: int, prefilter: str, config: str, members: list[str] | None
) -> None:
    """A workflow copy with a model trained on ``config``: its own members (the model users
    get), or ``members`` (e.g. with the PLM member, embedded with the random t6 on the CPU)."""
    from conftest import build_random_esm, copy_workflow

    if not (workdir / "Snakefile").exists():
        copy_workflow(workdir)
    else:  # this tree's predict code (the model there stays: only predict rules may run)
        shutil.copytree(
            REPO / "workflow", workdir / "workflow", dirs_exist_ok=True,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )  # fmt: skip
    text = (workdir / config).read_text()
    if members:
        line = f"  members: [{', '.join(members)}]\n"
        text = (
            text.replace("train:\n", "train:\n" + line)
            if "\ntrain:\n" in text
            else text + "train:\n" + line
        )
    trained_with = workdir / "bench_training_config.yaml"  # what the model there was trained on
    if (workdir / "results" / "model" / "bundle.pt").exists():
        if not trained_with.exists() or trained_with.read_text() != text:
            raise SystemExit(
                f"{workdir} holds a model trained with another configuration; use another --workdir"
            )
    trained_with.write_text(text)
    text += f"predict:\n  shards: {shards}\n  prefilter: {prefilter}\n"
    (workdir / "bench_config.yaml").write_text(text)
    checkpoint = workdir / "resources" / "esm" / "random_esm2_t6_8M_UR50D.pt"
    if not checkpoint.exists():
        build_random_esm(checkpoint)
    if not (workdir / "results" / "model" / "bundle.pt").exists():
        result = snakemake(
            workdir, "results/model/bundle.pt", "--cores", str(cores),
            "--configfile", "bench_config.yaml",
        )  # fmt: skip
        if result.returncode != 0:
            raise SystemExit(result.stdout[-3000:] + result.stderr[-3000:])


def gathering_reached(sequences: list[str], threads: int) -> float:
    """Fraction of ``sequences`` with some TPS profile at its gathering cutoff."""
    from terpene_ensembles.data.sequence_input import SequenceRecord
    from terpene_ensembles.predict.prefilter import TpsPrefilter

    records = [SequenceRecord(i + 1, f"s{i}", "", s) for i, s in enumerate(sequences)]
    verdicts = TpsPrefilter(REPO / "resources" / "demo" / "pfam", threads).classify(records)
    return sum(v.candidate for v in verdicts) / len(verdicts)


def model_summary(workdir: Path) -> tuple[set[str], dict]:
    """The sequences of the bench model's training enzymes, and what the model combines
    (its members, whether predict embeds candidates with the PLM)."""
    from terpene_ensembles.learning.bundle import ModelBundle

    bundle = ModelBundle.load(workdir / "results" / "model")
    return set(bundle.reference_sequences), {
        "model_members": bundle.model.combined_members,
        "model_baselines": bundle.model.baseline_members,
        "model_uses_embeddings": bundle.uses("embeddings"),
    }


def planted_names(outdir: Path, planted) -> dict[str, str]:
    """Called gene id -> the planted protein's name, matched by the stop codon (a caller may
    choose another start) on the same contig and strand."""
    import pandas as pd

    by_stop = {(g.contig, g.strand, g.end if g.strand == "+" else g.start): g.name
               for g in planted}  # fmt: skip
    genes = pd.read_csv(outdir / "genes.tsv", sep="\t", usecols=["id", "contig", "start",
                        "end", "strand"])  # fmt: skip
    stops = genes["end"].where(genes["strand"] == "+", genes["start"])
    names = {}
    for identifier, contig, strand, stop in zip(
        genes["id"], genes["contig"], genes["strand"], stops, strict=True
    ):
        name = by_stop.get((contig, strand, int(stop)))
        if name is not None:
            names[identifier] = name
    return names


def run_one(
    workdir: Path, proteins: int, cores: int, seed: int, training: set[str], nucleotide: bool
) -> dict:
    import pandas as pd

    from terpene_ensembles.predict.synthetic import (
        export_sequences,
        proteome_genome,
        proteome_records,
        write_proteome,
    )

    tps = export_sequences(MARTS)
    records = proteome_records(tps, proteins, decoys_per_tps=100, seed=seed)
    planted = None
    if nucleotide:  # the same proteins as genes of one synthetic genome (3 contigs)
        contigs, planted = proteome_genome(records, contigs=3, seed=seed)
        fasta = write_proteome(workdir / f"genome_{proteins}.fna.gz", contigs)
        name = f"bench_genome_{proteins}"
    else:
        fasta = write_proteome(workdir / f"proteome_{proteins}.faa.gz", records)
        name = f"bench_{proteins}"
    shutil.rmtree(workdir / "results" / "predict" / name, ignore_errors=True)
    started = time.perf_counter()
    result = snakemake(
        workdir, "predict", "--cores", str(cores), "--configfile", "bench_config.yaml",
        "--allowed-rules", "predict_prefilter", "predict_shard", "predict",
        "--config", f"predict_input={fasta.name}", f"predict_name={name}",
    )  # fmt: skip
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(result.stdout[-3000:] + result.stderr[-3000:])
    outdir = workdir / "results" / "predict" / name
    summary = json.loads((outdir / "summary.json").read_text())
    predicted = pd.read_parquet(outdir / "predictions.parquet", columns=["id"])["id"]
    not_tps = pd.read_csv(outdir / "not_tps.tsv", sep="\t", usecols=["id"])["id"]
    genome = {}
    if planted is not None:  # called genes named as the proteins they code for
        names = planted_names(outdir, planted)
        genome = {
            "input": "nucleotide",
            "genome_megabases": round(sum(len(s) for _, s in contigs) / 1e6, 2),
            "planted_genes": len(planted),
            "planted_genes_called": len(set(names.values())),
            "genes_called": summary["records_in"],
        }
        predicted = predicted.map(names).fillna("unplanted")
        not_tps = not_tps.map(names).fillna("unplanted")
    benchmarks = workdir / "results" / "benchmarks" / "predict"
    job_tables = [benchmarks / f"{name}.tsv", *sorted((benchmarks / name).glob("*.tsv"))]
    jobs = {t.stem: pd.read_csv(t, sep="\t").iloc[0] for t in job_tables}
    job_max_rss = max(float(job["max_rss"]) for job in jobs.values())
    n_tps = sum(identifier.startswith("tps_") for identifier, _ in records)
    n_decoys = len(records) - n_tps
    held_out = {i for i, seq in records if i.startswith("tps_") and seq not in training}
    held_out_found = int(predicted.isin(held_out).sum())
    return {
        "proteins": proteins,
        "tps": n_tps,
        "decoys": n_decoys,
        "cores": cores,
        **genome,
        "shards": len(summary["shards"]),
        "wall_seconds": round(wall, 1),
        "proteins_per_second": round(proteins / wall, 1),
        "prefilter_seconds": summary["prefilter_seconds"],
        "prefilter_proteins_per_second": round(proteins / summary["prefilter_seconds"], 1),
        "tps_candidates": summary["tps_candidates"],
        "tps_among_candidates": round(predicted.str.startswith("tps_").sum() / n_tps, 4),
        "tps_held_out_of_training": len(held_out),
        "held_out_tps_among_candidates": held_out_found,
        "held_out_tps_recall": round(held_out_found / len(held_out), 4) if held_out else None,
        "decoys_in_not_tps": round(not_tps.str.startswith("decoy_").sum() / n_decoys, 4),
        "decoys_among_candidates": int(predicted.str.startswith("decoy_").sum()),
        "peak_rss_mib_largest_job": summary["peak_rss_mib"],
        "peak_rss_mib_prefilter": summary["prefilter_peak_rss_mib"],
        "peak_rss_mib_mmseqs": summary["peak_rss_mib_mmseqs"],
        # Snakemake's benchmark: the largest job's process tree (MMseqs2 children included)
        "max_rss_mb_largest_job_tree": job_max_rss,
        # per job (Snakemake's benchmark): wall and CPU seconds; the rest of the wall time
        # is Snakemake's own (start-up, DAG, scheduling)
        "job_seconds": {k: round(float(j["s"]), 1) for k, j in jobs.items()},
        "job_cpu_seconds": {k: round(float(j["cpu_time"]), 1) for k, j in jobs.items()},
        "snakemake_overhead_seconds": round(wall - sum(float(j["s"]) for j in jobs.values()), 1),
        "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
        "records_in": summary["records_in"],
        "predicted": summary["predicted"],
        "not_tps": summary["not_tps"],
        "rejected": summary["rejected"],
        "out_of_domain": summary["out_of_domain"],
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proteins", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--shards", type=int, default=1)
    parser.add_argument("--prefilter", default="tps_domain_or_homolog")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--input", choices=("protein", "nucleotide"), default="protein",
        help="nucleotide: the proteome's proteins as genes of a synthetic genome "
        "(predict.synthetic.proteome_genome), screened from nucleotide FASTA (genes called)",
    )  # fmt: skip
    parser.add_argument("--config", default=CONFIG, help="training config (workflow-relative)")
    parser.add_argument(
        "--members", nargs="+", default=None,
        help="train.members of the bench model (default: the training config's own, the "
        "model users get; e.g. knn_identity positions plm for the PLM model)",
    )  # fmt: skip
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="default /tmp/bench_screen/<members or 'default'>",
    )
    parser.add_argument("--output", type=Path, default=None, help="JSON results file")
    args = parser.parse_args(argv)
    if args.workdir is None:
        tag = "_".join(args.members) if args.members else "default"
        args.workdir = Path("/tmp/bench_screen") / tag
    prepare(args.workdir, args.cores, args.shards, args.prefilter, args.config, args.members)
    training, model = model_summary(args.workdir)
    from terpene_ensembles.predict.synthetic import export_sequences

    results = {
        "prefilter": args.prefilter,
        "training_config": args.config,
        "model_training_enzymes": len(training),
        **model,
        "tps_reaching_a_gathering_cutoff": round(
            gathering_reached(export_sequences(MARTS), args.cores), 4
        ),
        "runs": [],
    }
    for proteins in args.proteins:
        results["runs"].append(
            run_one(
                args.workdir, proteins, args.cores, args.seed, training,
                args.input == "nucleotide",
            )
        )  # fmt: skip
        print(json.dumps(results["runs"][-1]), flush=True)
    text = json.dumps(results, indent=2)
    print(text)
    if args.output:
        args.output.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
