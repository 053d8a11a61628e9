"""Query sequences and a precomputed embeddings table (plm.precomputed) in predict.

A query the table has a row for gets that row. One it lacks is embedded with the
configured ESM2 when the model was trained on ESM2 embeddings (the table is then a cache
made elsewhere); when the model was trained on a precomputed table, nothing can make its
embedding here, and the record is rejected with the reason ``no_precomputed_embedding``
(rejected.tsv) before it is scored.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from terpene_ensembles.data.sequence_input import Rejection, SequenceRecord
from terpene_ensembles.embed.precomputed import PrecomputedEmbeddings, culprits
from terpene_ensembles.errors import InputDataError
from terpene_ensembles.io_utils import sha256_text

MISSING_REASON = "no_precomputed_embedding"


def reject_missing(
    records: Iterable[SequenceRecord], precomputed: PrecomputedEmbeddings, rejected
) -> Iterator[SequenceRecord]:
    """Pass on the records the table has a row for; append a Rejection to ``rejected``
    (a RejectionWriter or a list) for each of the others."""
    for record in records:
        if record.sequence_sha256 in precomputed:
            yield record
        else:
            rejected.append(
                Rejection(
                    record.record,
                    record.id,
                    MISSING_REASON,
                    f"sequence_sha256 {record.sequence_sha256} has no row in {precomputed.path}",
                )
            )


def embed_queries(
    ids: Sequence[str],
    sequences: Sequence[str],
    precomputed: PrecomputedEmbeddings | None,
    embedder=None,
    cache_dir: str | os.PathLike | None = None,
) -> np.ndarray:
    """(n, dim) float32 embeddings: the table's rows, the rest from ``embedder`` (an
    embed.embedding.Embedder; None: every query must be in the table)."""
    if precomputed is None:
        return embedder.embed(list(sequences), cache_dir=cache_dir, progress=False, ids=list(ids))
    hashes = [sha256_text(sequence) for sequence in sequences]
    missing = precomputed.missing(hashes)
    if missing and embedder is None:
        # reject_missing keeps such records out of the scoring loop; reaching this is a bug
        # in the caller or a table changed during the run.
        raise InputDataError(
            f"{len(missing)} query sequences have no row in {precomputed.path}: "
            f"{culprits([ids[i] for i in missing])}"
        )
    if missing and embedder.dim != precomputed.dim:
        raise InputDataError(
            f"{precomputed.path} holds embeddings of length {precomputed.dim}, the configured "
            f"ESM2 makes length {embedder.dim}: they cannot be mixed"
        )
    matrix = np.zeros((len(hashes), precomputed.dim), dtype=np.float32)
    absent = set(missing)
    found = [i for i in range(len(hashes)) if i not in absent]
    matrix[found] = precomputed.vectors([hashes[i] for i in found])
    if missing:
        matrix[missing] = embedder.embed(
            [sequences[i] for i in missing],
            cache_dir=cache_dir,
            progress=False,
            ids=[ids[i] for i in missing],
        )
    return matrix
