"""Sequence-derived feature table (length, composition, TPS motifs, Pfam domains, kingdom)
and the alignment-position table (residue per match state of each TPS Pfam profile)."""

import argparse
import time

import _bootstrap  # noqa: F401
import pandas as pd

from terpene_ensembles.features.alignment_positions import position_table
from terpene_ensembles.features.domains import search_profiles
from terpene_ensembles.features.sequence_features import feature_table, input_columns
from terpene_ensembles.io_utils import setup_logging, write_parquet, write_tsv


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--enzymes", required=True, help="parse/enzymes.parquet")
    parser.add_argument("--pfam-dir", required=True, help="folder of Pfam HMMs (HMMER3 text)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", required=True, help="features.parquet")
    parser.add_argument("--columns", required=True, help="feature_columns.tsv")
    parser.add_argument("--positions", required=True, help="positions.parquet")
    args = parser.parse_args()
    log = setup_logging()
    started = time.perf_counter()

    enzymes = input_columns(pd.read_parquet(args.enzymes))  # names missing columns
    ids, sequences = enzymes["id"].tolist(), enzymes["sequence"].tolist()
    # One hmmsearch: the domain features and the positions read the same hits.
    searched = search_profiles(sequences, args.pfam_dir, args.threads)
    features, documentation = feature_table(enzymes, args.pfam_dir, searched=searched)
    write_parquet(features, args.output, metadata={"pfam_dir": args.pfam_dir})
    write_tsv(documentation, args.columns)
    positions = position_table(ids, sequences, args.pfam_dir, searched=searched)
    write_parquet(positions, args.positions, metadata={"pfam_dir": args.pfam_dir})
    log.info(
        "%d enzymes x %d features, %d aligned profiles in %.1f s",
        len(features), features.shape[1] - 1, positions.shape[1] - 1,
        time.perf_counter() - started,
    )  # fmt: skip


if __name__ == "__main__":
    main()
