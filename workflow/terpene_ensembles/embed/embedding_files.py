"""The embedding stage's files: shards of the sequences and the embeddings Parquet table
(``embed/<model>.parquet``: one row per id, list<float32> embedding, PLM metadata)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from terpene_ensembles.errors import ConfigError


def parse_scatteritem(item: str) -> tuple[int, int]:
    """Snakemake's scatter item "i-of-n" as (0-based shard index, shard count)."""
    try:
        number, total = (int(part) for part in item.split("-of-"))
    except ValueError as error:
        raise ConfigError(f"shard must look like 'i-of-n', got {item!r}") from error
    if not 1 <= number <= total:
        raise ValueError(f"shard {item!r}: i must be in 1..n")
    return number - 1, total


def assign_shards(sequence_sha256s: Sequence[str], lengths: Sequence[int], shards: int):
    """Shard index for every sequence: deterministic and balanced by residues.

    Longest-first greedy placement on the shard with the fewest residues so far; ties
    broken by sequence hash and shard number, so the same inputs always give the same
    assignment whatever their order in the file.
    """
    if shards < 1:
        raise ValueError("shards must be >= 1")
    load = [0] * shards
    assignment = [0] * len(lengths)
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], sequence_sha256s[i]))
    for index in order:
        target = min(range(shards), key=lambda shard: (load[shard], shard))
        assignment[index] = target
        load[target] += lengths[index]
    return assignment


def embeddings_table(ids, sequence_sha256s, model: str, layer: int | None, matrix, metadata: dict):
    """The embed/<model>.parquet table: one row per id, list<float32> embedding (layer
    null when unknown, as for a precomputed table without a layer column)."""
    import pyarrow as pa

    from terpene_ensembles.embed.embedding_cache import matrix_to_list_array

    rows = len(ids)
    matrix = np.asarray(matrix, dtype=np.float32).reshape(rows, -1)
    table = pa.table(
        {
            "id": pa.array(list(ids), pa.string()),
            "sequence_sha256": pa.array(list(sequence_sha256s), pa.string()),
            "model": pa.array([model] * rows, pa.string()),
            "layer": pa.array([None if layer is None else int(layer)] * rows, pa.int32()),
            "embedding": matrix_to_list_array(matrix),
        }
    )
    return table.replace_schema_metadata({str(k): str(v) for k, v in metadata.items()})


def write_embeddings(path, table) -> None:
    import pyarrow.parquet as pq

    from terpene_ensembles.io_utils import atomic_path

    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read_embeddings(path) -> tuple[list[str], np.ndarray, dict[str, str]]:
    """ids, (n, dim) float32 matrix and key-value metadata of an embeddings Parquet file."""
    import pyarrow.parquet as pq

    from terpene_ensembles.embed.embedding_cache import list_column_to_matrix

    table = pq.read_table(path)
    metadata = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
    matrix = list_column_to_matrix(table.column("embedding"))
    return table.column("id").to_pylist(), matrix, metadata
