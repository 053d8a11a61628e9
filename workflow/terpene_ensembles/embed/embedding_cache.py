"""Content-addressed on-disk cache of sequence embeddings.

Layout: ``<cache_dir>/<model>/<namespace>/chunk-<digest>.parquet``. The namespace is a hash
of everything that determines an embedding besides the sequence (model name, weights
sha256, layer, pooling incl. long-sequence handling, numeric precision); inside it every
row is keyed by the sequence's sha256. Chunks are written atomically (temporary file +
rename), so a killed run leaves only complete chunks behind and the next run embeds only
what no chunk holds yet. Concurrent shards may share one cache directory: chunk names are
derived from their content and never overwritten with different content.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from terpene_ensembles.io_utils import atomic_path, write_json

log = logging.getLogger(__name__)
NAMESPACE_METADATA_KEY = b"embedding_cache_namespace"


def namespace_key(identity: dict) -> str:
    """Stable hash of the settings that, with the sequence, determine an embedding."""
    canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def matrix_to_list_array(matrix: np.ndarray) -> pa.ListArray:
    """(n, dim) float32 matrix as an Arrow list<float32> column, without Python loops."""
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    rows, dim = matrix.shape
    offsets = pa.array(np.arange(rows + 1, dtype=np.int32) * dim, pa.int32())
    return pa.ListArray.from_arrays(offsets, pa.array(matrix.reshape(-1), pa.float32()))


def list_column_to_matrix(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Arrow list<float> column of equal-length rows as an (n, dim) float32 matrix."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    rows = len(column)
    if rows == 0:
        return np.zeros((0, 0), dtype=np.float32)
    lengths = np.diff(column.offsets.to_numpy())
    if (lengths != lengths[0]).any():
        raise ValueError("embedding rows differ in length")
    values = column.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    return values.reshape(rows, int(lengths[0]))


class EmbeddingCache:
    """Lookup and append of embeddings keyed by sequence sha256 within one namespace.

    ``identity`` must name the model, weights checksum, layer and pooling (and anything
    else that changes the numbers); it is stored next to the chunks as ``namespace.json``.
    Entries are buffered and written as one chunk when ``flush_every`` sequences or
    ``flush_seconds`` have accumulated, and on ``flush()``.
    """

    def __init__(
        self,
        root: str | Path,
        identity: dict,
        flush_every: int = 64,
        flush_seconds: float = 60.0,
    ):
        for required in ("model", "weights_sha256", "layer", "pooling"):
            if required not in identity:
                raise ValueError(f"cache identity lacks {required!r}")
        self.identity = dict(identity)
        self.key = namespace_key(self.identity)
        self.directory = Path(root) / str(identity["model"]) / self.key[:24]
        self.flush_every = flush_every
        self.flush_seconds = flush_seconds
        self._buffer: dict[str, np.ndarray] = {}
        self._last_flush = time.monotonic()
        self.chunks_written = 0

    def chunk_paths(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        # Temporary files of writers still running start with "." and are skipped.
        return sorted(p for p in self.directory.glob("chunk-*.parquet"))

    def lookup(self, sequence_sha256s: Iterable[str]) -> dict[str, np.ndarray]:
        """Cached embeddings of the requested sequences (missing ones are simply absent)."""
        wanted = set(sequence_sha256s)
        found: dict[str, np.ndarray] = {}
        for path in self.chunk_paths():
            if len(found) == len(wanted):
                break
            table = pq.read_table(path)
            stored_key = (table.schema.metadata or {}).get(NAMESPACE_METADATA_KEY, b"").decode()
            if stored_key != self.key:
                raise ValueError(
                    f"cache chunk {path} belongs to namespace {stored_key!r}, not {self.key!r}; "
                    "it was moved or edited by hand: delete it"
                )
            hashes = table.column("sequence_sha256").to_pylist()
            vectors = list_column_to_matrix(table.column("embedding"))
            for row, digest in enumerate(hashes):
                if digest in wanted and digest not in found:
                    found[digest] = vectors[row]
        found.update({h: v for h, v in self._buffer.items() if h in wanted})
        return found

    def add(self, sequence_sha256: str, embedding: np.ndarray) -> None:
        self._buffer[sequence_sha256] = np.asarray(embedding, dtype=np.float32)
        due = time.monotonic() - self._last_flush >= self.flush_seconds
        if len(self._buffer) >= self.flush_every or due:
            self.flush()

    def flush(self) -> Path | None:
        """Write buffered entries as one atomic chunk; return its path (None if empty)."""
        self._last_flush = time.monotonic()
        if not self._buffer:
            return None
        hashes = sorted(self._buffer)
        digest = hashlib.sha256("".join(hashes).encode()).hexdigest()[:32]
        path = self.directory / f"chunk-{digest}.parquet"
        table = pa.table(
            {
                "sequence_sha256": pa.array(hashes, pa.string()),
                "embedding": matrix_to_list_array(np.stack([self._buffer[h] for h in hashes])),
            }
        ).replace_schema_metadata({NAMESPACE_METADATA_KEY: self.key.encode()})
        self.directory.mkdir(parents=True, exist_ok=True)
        manifest = self.directory / "namespace.json"
        if not manifest.exists():
            write_json({"key": self.key, **self.identity}, manifest)
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp)
        self.chunks_written += 1
        log.info("cached %d embeddings in %s", len(hashes), path)
        self._buffer.clear()
        return path


class NullCache:
    """Stand-in when no cache directory is configured: remembers nothing."""

    chunks_written = 0

    def lookup(self, sequence_sha256s: Iterable[str]) -> dict[str, np.ndarray]:
        return {}

    def add(self, sequence_sha256: str, embedding: np.ndarray) -> None:
        pass

    def flush(self) -> None:
        return None
