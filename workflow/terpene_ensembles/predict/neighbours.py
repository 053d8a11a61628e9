"""Nearest characterised training enzymes of new sequences (MMseqs2)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

# The ranking lives with the evidence columns, which the evaluate stage also fills.
from terpene_ensembles.predict.evidence import nearest_neighbours  # noqa: F401
from terpene_ensembles.split.homology import (
    DEFAULT_SENSITIVITY,
    PAIRWISE_COLUMNS,
    create_database,
    easy_search,
    write_fasta,
)


class TrainingNeighbourSearch:
    """MMseqs2 search of query chunks against the characterised training enzymes.

    The training database is built once; each chunk is one :func:`homology.easy_search`,
    the search the split stage's all-vs-all identity runs, so the kNN member of the model
    sees the same neighbours it was trained and calibrated with.
    """

    def __init__(
        self,
        training: pd.DataFrame,
        workdir: str | os.PathLike,
        threads: int = 1,
        sensitivity: float = DEFAULT_SENSITIVITY,
    ):
        if training.empty:
            raise ValueError("the model has no training sequences to compare against")
        self.workdir = Path(workdir)
        self.threads = threads
        self.sensitivity = sensitivity
        self.workdir.mkdir(parents=True, exist_ok=True)
        fasta = self.workdir / "training.fasta"
        write_fasta(zip(training["id"], training["sequence"], strict=True), fasta)
        self.database = create_database(fasta, self.workdir / "training_db")

    def search(self, queries: Sequence[tuple[str, str]]) -> pd.DataFrame:
        """Hits of each query against the training set (homology.PAIRWISE_COLUMNS)."""
        if not queries:
            return pd.DataFrame(columns=PAIRWISE_COLUMNS)
        with tempfile.TemporaryDirectory(dir=self.workdir) as scratch:
            scratch = Path(scratch)
            query_fasta = scratch / "queries.fasta"
            # Positional ids avoid any trouble with characters MMseqs2 treats specially.
            write_fasta(((f"q{i}", seq) for i, (_, seq) in enumerate(queries)), query_fasta)
            hits = easy_search(
                query_fasta,
                self.database,
                scratch,
                threads=self.threads,
                sensitivity=self.sensitivity,
            )
        position_to_id = {f"q{i}": identifier for i, (identifier, _) in enumerate(queries)}
        hits["query"] = hits["query"].map(position_to_id)
        hits["identity"] = hits["identity"].astype(float)
        return hits
