"""Write the embeddings file from a precomputed table (plm.precomputed) instead of ESM2.

Every enzyme of enzymes.parquet must have a row in the table (keyed by sequence_sha256);
the output has the layout of the ESM2 route's embed/<model>.parquet, in enzymes.parquet
order, and its metadata names the table (path, sha256) as the source.
"""

import argparse

import _bootstrap  # noqa: F401
import pandas as pd

from terpene_ensembles.embed.embedding_files import write_embeddings
from terpene_ensembles.embed.precomputed import embeddings_for_enzymes, read_precomputed
from terpene_ensembles.errors import InputDataError
from terpene_ensembles.io_utils import setup_logging


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--enzymes", required=True, help="parse/enzymes.parquet")
    parser.add_argument("--precomputed", required=True, help="the plm.precomputed table")
    parser.add_argument("--output", required=True)
    return parser.parse_args(argv)


def read_enzymes(path) -> pd.DataFrame:
    enzymes = pd.read_parquet(path)
    missing = {"id", "sequence_sha256"} - set(enzymes.columns)
    if missing:
        raise InputDataError(f"{path} lacks column(s) {sorted(missing)}")
    return enzymes[["id", "sequence_sha256"]]


def main(argv=None):
    log = setup_logging()
    args = parse_args(argv)
    enzymes = read_enzymes(args.enzymes)
    precomputed = read_precomputed(args.precomputed)
    table = embeddings_for_enzymes(precomputed, enzymes)
    write_embeddings(args.output, table)
    log.info(
        "%d enzymes: %s embeddings of length %d from %s (sha256 %s) -> %s",
        table.num_rows,
        precomputed.model_name,
        precomputed.dim,
        args.precomputed,
        precomputed.sha256,
        args.output,
    )


if __name__ == "__main__":
    main()
