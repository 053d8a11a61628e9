"""Screening, step 1 of 3 (`snakemake predict` on FASTA, GenBank, EMBL): validate,
prefilter, shard.

Reads the input once (genes called in nucleotide FASTA; genome input also writes --genes
and --candidates-faa): invalid records go to rejected.tsv with their reason, proteins
without a TPS Pfam domain at its gathering cutoff (and, with the default --prefilter
tps_domain_or_homolog, without an MMseqs2 hit to a training enzyme) to not_tps.tsv,
and the TPS candidates are dealt round-robin into the --shards files, one predict job each.
"""

import argparse
import json
import sys

import _bootstrap  # noqa: F401

from terpene_ensembles.data.genome_input import GENE_CALLING_MODES, GeneCalling
from terpene_ensembles.errors import ConfigError
from terpene_ensembles.io_utils import setup_logging
from terpene_ensembles.predict.prefilter import PREFILTER_MODES
from terpene_ensembles.predict.shards import run_prefilter_stage


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--input", required=True, help="protein/nucleotide FASTA (plain or gzipped), GenBank, EMBL"
    )
    parser.add_argument(
        "--pfam-dir",
        default=None,
        help="TPS Pfam HMM folder (default: the model's own copy; with --model-dir it must "
        "hold the model's HMMs)",
    )
    parser.add_argument(
        "--model-dir", default=None, help="the trained model (its training enzymes)"
    )
    parser.add_argument("--prefilter", choices=PREFILTER_MODES, default=PREFILTER_MODES[0])
    parser.add_argument(
        "--plm",
        default=None,
        help="the run's plm config section as JSON (with plm.precomputed, candidates the "
        "table lacks are rejected unless the model's ESM2 can embed them)",
    )
    parser.add_argument("--kingdom", default="", help="MARTS kingdom of every sequence")
    parser.add_argument("--gene-calling", choices=GENE_CALLING_MODES, default="auto")
    parser.add_argument("--genetic-code", type=int, default=11)
    parser.add_argument("--genes", default=None, help="genes.tsv to write (genome input)")
    parser.add_argument(
        "--candidates-faa", default=None, help="candidates.faa to write (genome input)"
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--shards", nargs="+", required=True, help="candidate shard files")
    parser.add_argument("--not-tps", required=True)
    parser.add_argument("--rejected", required=True)
    parser.add_argument("--summary", required=True)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    setup_logging()
    args = parse_args(argv)
    try:
        plm_config = json.loads(args.plm) if args.plm else None
    except json.JSONDecodeError as error:
        raise ConfigError(f"--plm is not JSON ({error})", where="--plm") from error
    run_prefilter_stage(
        args.input,
        args.shards,
        args.not_tps,
        args.rejected,
        args.summary,
        args.prefilter,
        args.pfam_dir,
        threads=args.threads,
        kingdom=args.kingdom,
        model_dir=args.model_dir,
        plm_config=plm_config,
        gene_calling=GeneCalling(args.gene_calling, args.genetic_code, args.threads),
        genes_path=args.genes,
        candidates_fasta_path=args.candidates_faa,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
