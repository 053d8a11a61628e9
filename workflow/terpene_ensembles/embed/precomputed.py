"""Embeddings computed outside the pipeline (``plm.precomputed``): reading, checking, lookup.

The table is a Parquet file with one row per sequence:

- ``sequence_sha256``: lowercase hex SHA-256 of the sequence as the parse stage normalises
  it (``marts.normalize_sequence``; the value in ``results/parse/enzymes.parquet``),
- ``embedding``: list<float32> (other float widths are cast), one length for all rows,
- optional ``model`` (string) and ``layer`` (integer), one value each, which name the
  representation in the embeddings file, the model bundle, the report and metrics.json.

Every row is checked when the table is read (hash format, no duplicate, one length,
finite values), so a bad table fails at once with one line naming the culprits. The
embed stage then needs every enzyme in it (:func:`embeddings_for_enzymes`); predict
rejects or embeds the query sequences it lacks (predict.precomputed_queries).
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from terpene_ensembles.errors import UserInputError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

# plm identity "weights_source" of embeddings that come from a precomputed table.
SOURCE = "precomputed"
# The model name when the table has no ``model`` column.
UNNAMED_MODEL = "precomputed"
SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")
NAMED_CULPRITS = 5


class PrecomputedEmbeddingsError(UserInputError, ValueError):
    """The precomputed embeddings table cannot be used."""

    fix = (
        "rebuild the table: columns sequence_sha256 (lowercase hex SHA-256 of each "
        "normalised sequence) and embedding (list<float32>, one length), see "
        "docs/precomputed_embeddings.md"
    )


def culprits(labels: Sequence[str], limit: int = NAMED_CULPRITS) -> str:
    """'a, b, c' or 'a, b, c and 7 more': the first few offenders of a one-line error."""
    labels = list(labels)
    named = ", ".join(labels[:limit])
    return named if len(labels) <= limit else f"{named} and {len(labels) - limit} more"


@dataclass(frozen=True)
class PrecomputedEmbeddings:
    """A checked table: ``matrix[i]`` is the embedding of the sequence ``hashes[i]``."""

    path: str
    sha256: str
    hashes: list[str]
    matrix: np.ndarray  # (rows, dim) float32, all finite
    model: str | None = None
    layer: int | None = None
    _row: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self):
        self._row.update({digest: row for row, digest in enumerate(self.hashes)})

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])

    @property
    def model_name(self) -> str:
        return self.model or UNNAMED_MODEL

    def __contains__(self, sequence_sha256: str) -> bool:
        return sequence_sha256 in self._row

    def missing(self, sequence_sha256s: Iterable[str]) -> list[int]:
        """Positions of the hashes the table has no row for."""
        return [i for i, digest in enumerate(sequence_sha256s) if digest not in self._row]

    def vectors(self, sequence_sha256s: Sequence[str]) -> np.ndarray:
        """(n, dim) float32 rows in the order asked; every hash must be in the table."""
        rows = [self._row[digest] for digest in sequence_sha256s]
        return self.matrix[np.asarray(rows, dtype=np.int64)].reshape(len(rows), self.dim)

    def metadata(self) -> dict[str, str]:
        """Key-value metadata of the embeddings Parquet file made from this table."""
        metadata = {
            "model": self.model_name,
            "weights_source": SOURCE,
            "random_weights": "false",
            "precomputed_path": self.path,
            "precomputed_sha256": self.sha256,
            "embedding_dim": str(self.dim),
        }
        if self.layer is not None:
            metadata["layer"] = str(self.layer)
        return metadata


def read_precomputed(path: str | os.PathLike) -> PrecomputedEmbeddings:
    """Read and check a precomputed embeddings table; PrecomputedEmbeddingsError if unusable."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from terpene_ensembles.io_utils import sha256_file

    where = f"plm.precomputed = {path}"
    if not Path(path).is_file():
        raise PrecomputedEmbeddingsError(
            f"precomputed embeddings table {path} not found", where=where, fix="check the path"
        )
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as error:
        raise PrecomputedEmbeddingsError(
            f"{path} is not a readable Parquet file ({error})", where=where
        ) from error
    absent = [c for c in ("sequence_sha256", "embedding") if c not in table.column_names]
    if absent:
        raise PrecomputedEmbeddingsError(
            f"{path} lacks column(s) {absent} (it has {table.column_names})", where=where
        )
    if table.num_rows == 0:
        raise PrecomputedEmbeddingsError(f"{path} has no rows", where=where)
    hashes = _sequence_hashes(table.column("sequence_sha256"), path, where)
    matrix = _embedding_matrix(table.column("embedding"), hashes, path, where)
    return PrecomputedEmbeddings(
        path=str(path),
        sha256=sha256_file(path),
        hashes=hashes,
        matrix=matrix,
        model=_single_value(table, "model", pa.types.is_string, "a string", path, where),
        layer=_single_value(table, "layer", pa.types.is_integer, "an integer", path, where),
    )


def _sequence_hashes(column, path, where) -> list[str]:
    import pyarrow as pa

    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        raise PrecomputedEmbeddingsError(
            f"{path}: sequence_sha256 must be a string column, not {column.type}", where=where
        )
    hashes = column.to_pylist()
    malformed = [repr(h) for h in hashes if h is None or not SHA256_PATTERN.match(h)]
    if malformed:
        raise PrecomputedEmbeddingsError(
            f"{path}: {len(malformed)} sequence_sha256 values are not 64 lowercase hex "
            f"digits: {culprits(malformed)}",
            where=where,
        )
    repeated = [digest for digest, count in Counter(hashes).items() if count > 1]
    if repeated:
        raise PrecomputedEmbeddingsError(
            f"{path}: {len(repeated)} sequences have more than one row: {culprits(repeated)}",
            where=where,
        )
    return hashes


def _embedding_matrix(column, hashes: list[str], path, where) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    is_list = pa.types.is_list(kind) or pa.types.is_large_list(kind)
    if not (is_list or pa.types.is_fixed_size_list(kind)) or not pa.types.is_floating(
        kind.value_type
    ):
        raise PrecomputedEmbeddingsError(
            f"{path}: embedding must be a list<float32> column, not {kind}", where=where
        )
    column = column.combine_chunks()
    null_rows = np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))
    if len(null_rows):
        raise PrecomputedEmbeddingsError(
            f"{path}: {len(null_rows)} rows have no embedding (null): "
            f"{culprits([hashes[i] for i in null_rows])}",
            where=where,
        )
    lengths = pc.list_value_length(column).to_numpy(zero_copy_only=False)
    common_length = Counter(lengths.tolist()).most_common(1)[0][0]
    if (lengths != common_length).any() or common_length == 0:
        odd = np.flatnonzero(lengths != common_length)
        counts = ", ".join(f"{n} rows of length {k}" for k, n in sorted(Counter(lengths).items()))
        raise PrecomputedEmbeddingsError(
            f"{path}: embeddings must all have one non-zero length, found {counts}; "
            f"odd rows: {culprits([hashes[i] for i in odd])}",
            where=where,
        )
    values = column.flatten().to_numpy(zero_copy_only=False)  # nulls inside become NaN
    with np.errstate(over="ignore"):  # float64 beyond float32's range becomes inf: reported
        matrix = values.astype(np.float32).reshape(len(hashes), int(common_length))
    bad_rows = np.flatnonzero(~np.isfinite(matrix).all(axis=1))
    if len(bad_rows):
        raise PrecomputedEmbeddingsError(
            f"{path}: {len(bad_rows)} embeddings hold NaN, infinite or missing values: "
            f"{culprits([hashes[i] for i in bad_rows])}",
            where=where,
        )
    return matrix


def _single_value(table, name: str, type_check, type_name: str, path, where):
    """The one value of an optional column (None when the table has no such column)."""
    if name not in table.column_names:
        return None
    column = table.column(name)
    if not type_check(column.type):
        raise PrecomputedEmbeddingsError(
            f"{path}: column {name} must be {type_name}, not {column.type}", where=where
        )
    values = set(column.to_pylist())
    if len(values) != 1 or None in values:
        raise PrecomputedEmbeddingsError(
            f"{path}: column {name} must hold one value for every row, found "
            f"{culprits(sorted(map(repr, values)))}",
            where=where,
        )
    return values.pop()


def embeddings_for_enzymes(precomputed: PrecomputedEmbeddings, enzymes: pd.DataFrame) -> pa.Table:
    """The embed/<model>.parquet table (pyarrow) for ``enzymes`` (id, sequence_sha256), in
    their order; every enzyme must have a row in the table."""
    from terpene_ensembles.embed.embedding_files import embeddings_table

    ids = [str(i) for i in enzymes["id"]]
    hashes = [str(h) for h in enzymes["sequence_sha256"]]
    missing = precomputed.missing(hashes)
    if missing:
        raise PrecomputedEmbeddingsError(
            f"{len(missing)} of {len(ids)} enzymes have no row in {precomputed.path}: "
            f"{culprits([f'{ids[i]} (sequence_sha256 {hashes[i]})' for i in missing])}",
            where=f"plm.precomputed = {precomputed.path}",
            fix="add their embeddings to the table (the hashes are in "
            "results/parse/enzymes.parquet, column sequence_sha256), or set plm.precomputed "
            "to null to embed with ESM2",
        )
    return embeddings_table(
        ids,
        hashes,
        precomputed.model_name,
        precomputed.layer,
        precomputed.vectors(hashes),
        precomputed.metadata(),
    )


def check_matches_model(precomputed: PrecomputedEmbeddings, trained: Mapping) -> None:
    """Raise unless the table holds the representation a model was trained on.

    ``trained`` is the model bundle's plm identity (training_data.plm_identity): the
    model name, the layer (when both know it) and, for a model trained on precomputed
    embeddings, the embedding length must agree.
    """
    trained_model = trained.get("model", "none")
    problems = []
    if precomputed.model_name != trained_model:
        problems.append(f"model {precomputed.model_name!r}, not {trained_model!r}")
    trained_layer = trained.get("layer")
    if None not in (precomputed.layer, trained_layer) and precomputed.layer != int(trained_layer):
        problems.append(f"layer {precomputed.layer}, not {trained_layer}")
    trained_dim = trained.get("embedding_dim")
    if trained_dim is not None and precomputed.dim != int(trained_dim):
        problems.append(f"embedding length {precomputed.dim}, not {trained_dim}")
    if problems:
        raise PrecomputedEmbeddingsError(
            f"{precomputed.path} holds {'; '.join(problems)} as the model was trained on: "
            "embeddings of another representation are meaningless to this model",
            where=f"plm.precomputed = {precomputed.path}",
            fix="give a table made with the model's representation (its `model` and "
            "`layer` columns name it)",
        )
