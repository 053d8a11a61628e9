"""File helpers shared by every stage: atomic writes, checksums, logging."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import logging
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import pandas as pd


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it into place only on success.

    A killed job therefore never leaves a half-written file under the final name.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp creates 0600; give the result the usual permissions under the current umask.
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o666 & ~umask)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


class AtomicTsvWriter:
    """A TSV written row by row that appears under its name only when the block ends
    without an exception (``with Writer(path) as out: out.write_row([...])``)."""

    columns: Sequence[str] = ()

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def __enter__(self):
        self._stack = contextlib.ExitStack()
        tmp = self._stack.enter_context(atomic_path(self.path))
        handle = self._stack.enter_context(open(tmp, "w", newline=""))
        self._writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        self._writer.writerow(self.columns)
        return self

    def write_row(self, row: Sequence) -> None:
        self._writer.writerow(row)

    def __exit__(self, *exc_info) -> bool:
        return self._stack.__exit__(*exc_info)


def write_json(obj, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n")


def read_json(path: str | os.PathLike):
    return json.loads(Path(path).read_text())


def write_tsv(frame: pd.DataFrame, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, sep="\t", index=False)


def write_parquet(
    frame: pd.DataFrame, path: str | os.PathLike, metadata: dict | None = None
) -> None:
    """Write a table to Parquet; ``metadata`` becomes key-value schema metadata."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    if metadata:
        merged = dict(table.schema.metadata or {})
        merged.update({str(k).encode(): str(v).encode() for k, v in metadata.items()})
        table = table.replace_schema_metadata(merged)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def parquet_metadata(path: str | os.PathLike) -> dict[str, str]:
    """Key-value metadata of a Parquet file (pandas' own entry left out)."""
    import pyarrow.parquet as pq

    raw = pq.read_schema(path).metadata or {}
    return {k.decode(): v.decode() for k, v in raw.items() if k != b"pandas"}


def sha256_file(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def setup_logging(verbose: bool = True) -> logging.Logger:
    """Log to stderr (Snakemake rules redirect it into the rule's log file)."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    return logging.getLogger("terpene_ensembles")
