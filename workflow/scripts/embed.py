"""Embed one shard of enzymes.parquet with ESM2 (mean over residues of one layer).

The shard ("i-of-n", Snakemake's scatter item) is chosen deterministically from the
sequences themselves; embeddings already in the content-addressed cache are reused, new
ones are added to it as they finish, so a killed job resumes where it stopped.
"""

import argparse

import _bootstrap  # noqa: F401
import pandas as pd

from terpene_ensembles.embed.embedding import Embedder
from terpene_ensembles.embed.embedding_files import (
    assign_shards,
    embeddings_table,
    parse_scatteritem,
    write_embeddings,
)
from terpene_ensembles.errors import InputDataError
from terpene_ensembles.io_utils import setup_logging, sha256_text
from terpene_ensembles.settings import PlmConfig


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--enzymes", required=True, help="parse/enzymes.parquet")
    parser.add_argument("--shard", default="1-of-1", help="scatter item i-of-n")
    parser.add_argument("--settings", required=True, help="the plm config section as JSON")
    parser.add_argument("--cache-dir", default=None, help="embedding cache folder")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    parser.add_argument("--output", required=True)
    return parser.parse_args(argv)


def read_enzymes(path) -> pd.DataFrame:
    enzymes = pd.read_parquet(path, columns=None)
    missing = {"id", "sequence"} - set(enzymes.columns)
    if missing:
        raise InputDataError(f"{path} lacks column(s) {sorted(missing)}")
    if enzymes["id"].duplicated().any():
        duplicated = enzymes.loc[enzymes["id"].duplicated(), "id"].tolist()[:5]
        raise InputDataError(f"{path}: duplicated ids, e.g. {duplicated}")
    hashes = [sha256_text(seq) for seq in enzymes["sequence"]]
    if "sequence_sha256" in enzymes.columns:
        stale = enzymes["sequence_sha256"].ne(pd.Series(hashes, index=enzymes.index))
        if stale.any():
            raise InputDataError(
                f"{path}: sequence_sha256 does not match the sequence for ids "
                f"{enzymes.loc[stale, 'id'].tolist()[:5]}"
            )
    return enzymes.assign(sequence_sha256=hashes)[["id", "sequence", "sequence_sha256"]]


def main(argv=None):
    log = setup_logging()
    args = parse_args(argv)
    plm = PlmConfig.from_json(args.settings)
    shard_index, shard_count = parse_scatteritem(args.shard)
    enzymes = read_enzymes(args.enzymes)
    assignment = assign_shards(
        enzymes["sequence_sha256"].tolist(), enzymes["sequence"].str.len().tolist(), shard_count
    )
    mine = enzymes[[shard == shard_index for shard in assignment]]
    log.info("shard %s: %d of %d sequences", args.shard, len(mine), len(enzymes))

    embedder = Embedder.from_config(plm, threads=args.threads)
    if embedder.loaded.random_weights:
        log.warning(
            "%s has RANDOM weights: embeddings carry no pretrained knowledge",
            embedder.loaded.weights_path,
        )
    matrix = embedder.embed(
        mine["sequence"].tolist(), cache_dir=args.cache_dir, ids=mine["id"].tolist()
    )
    metadata = {**embedder.metadata(), "shard": args.shard}
    table = embeddings_table(
        mine["id"].tolist(),
        mine["sequence_sha256"].tolist(),
        embedder.loaded.model_name,
        embedder.layer,
        matrix,
        metadata,
    )
    write_embeddings(args.output, table)
    log.info(
        "embedded %d new, %d from cache; wrote %s",
        embedder.last_computed,
        len(mine) - embedder.last_computed,
        args.output,
    )


if __name__ == "__main__":
    main()
