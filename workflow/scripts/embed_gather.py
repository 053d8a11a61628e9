"""Concatenate the embedding shards into one Parquet file, in enzymes.parquet order.

Every enzyme must appear in exactly one shard and all shards must have been made with the
same model, weights, layer, pooling and precision; anything else is an error.
"""

import argparse

import _bootstrap  # noqa: F401
import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from terpene_ensembles.embed.embedding_files import (
    embeddings_table,
    read_embeddings,
    write_embeddings,
)
from terpene_ensembles.errors import InputDataError
from terpene_ensembles.io_utils import setup_logging

# Shard-specific metadata (where and which part ran); the rest must agree across shards.
PER_SHARD_KEYS = ("shard", "device")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--enzymes", required=True, help="parse/enzymes.parquet (row order)")
    parser.add_argument("--shards", nargs="+", required=True)
    parser.add_argument("--output", required=True)
    return parser.parse_args(argv)


def gather(enzymes_path, shard_paths):
    enzymes = pd.read_parquet(enzymes_path, columns=["id"])
    common: dict[str, str] | None = None
    devices = set()
    position: dict[str, tuple[int, int]] = {}
    matrices, hash_lists = [], []
    for number, path in enumerate(shard_paths):
        ids, matrix, metadata = read_embeddings(path)
        hash_lists.append(pq.read_table(path, columns=["sequence_sha256"]).column(0).to_pylist())
        devices.add(metadata.get("device", "unknown"))
        shared = {k: v for k, v in metadata.items() if k not in PER_SHARD_KEYS}
        if common is None:
            common = shared
        elif shared != common:
            differing = sorted(
                k for k in set(shared) | set(common) if shared.get(k) != common.get(k)
            )
            raise InputDataError(
                f"{path} was made with other settings than {shard_paths[0]}: {differing}"
            )
        for row, identifier in enumerate(ids):
            if identifier in position:
                raise InputDataError(f"id {identifier!r} appears in more than one shard")
            position[identifier] = (number, row)
        matrices.append(matrix)
    missing = [i for i in enzymes["id"] if i not in position]
    if missing:
        raise InputDataError(
            f"{len(missing)} enzymes have no embedding in any shard, e.g. {missing[:5]}"
        )
    extra = set(position) - set(enzymes["id"])
    if extra:
        raise InputDataError(f"shards hold ids not in {enzymes_path}: {sorted(extra)[:5]}")
    dim = int(common["embedding_dim"])
    ordered = np.zeros((len(enzymes), dim), dtype=np.float32)
    hashes = []
    for out_row, identifier in enumerate(enzymes["id"]):
        number, row = position[identifier]
        ordered[out_row] = matrices[number][row]
        hashes.append(hash_lists[number][row])
    metadata = {**common, "shards": str(len(shard_paths)), "device": ",".join(sorted(devices))}
    return embeddings_table(
        enzymes["id"].tolist(), hashes, common["model"], int(common["layer"]), ordered, metadata
    )


def main(argv=None):
    log = setup_logging()
    args = parse_args(argv)
    table = gather(args.enzymes, args.shards)
    write_embeddings(args.output, table)
    log.info(
        "gathered %d embeddings from %d shards into %s",
        table.num_rows,
        len(args.shards),
        args.output,
    )


if __name__ == "__main__":
    main()
