"""Nearest characterised training enzymes of new sequences (MMseqs2)."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import pandas as pd

from terpene_ensembles.homology import (
    DEFAULT_EVALUE,
    DEFAULT_MAX_SEQS,
    DEFAULT_SENSITIVITY,
    find_mmseqs,
)
from terpene_ensembles.predict.output import TOP_K

# Columns of the MMseqs2 tabular output used for the nearest-neighbour evidence.
MMSEQS_COLUMNS = ["query", "target", "fident", "qcov", "tcov", "evalue", "bits"]


def write_fasta(records: Iterable[tuple[str, str]], path: str | os.PathLike) -> None:
    with open(path, "w") as handle:
        for identifier, sequence in records:
            handle.write(f">{identifier}\n{sequence}\n")


class TrainingNeighbourSearch:
    """MMseqs2 search of query chunks against the characterised training enzymes.

    The training database is built once; each chunk is one ``mmseqs easy-search`` call with
    the settings of the split stage's all-vs-all search (homology.pairwise_identity), so the
    kNN member of the model sees the same neighbours it was trained and calibrated with.
    """

    def __init__(
        self,
        training: pd.DataFrame,
        workdir: str | os.PathLike,
        threads: int = 1,
        sensitivity: float = DEFAULT_SENSITIVITY,
        max_evalue: float = DEFAULT_EVALUE,
        max_seqs: int = DEFAULT_MAX_SEQS,
    ):
        if training.empty:
            raise ValueError("the model has no training sequences to compare against")
        self.workdir = Path(workdir)
        self.threads = threads
        self.sensitivity = sensitivity
        self.max_evalue = max_evalue
        self.max_seqs = max_seqs
        self.executable = find_mmseqs()
        self.workdir.mkdir(parents=True, exist_ok=True)
        fasta = self.workdir / "training.fasta"
        write_fasta(zip(training["id"], training["sequence"], strict=True), fasta)
        self.database = self.workdir / "training_db"
        self._mmseqs("createdb", str(fasta), str(self.database))

    def _mmseqs(self, *arguments: str) -> None:
        command = [self.executable, *arguments, "-v", "1"]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(command)} failed ({result.returncode}): {result.stderr.strip()}"
            )

    def search(self, queries: Sequence[tuple[str, str]]) -> pd.DataFrame:
        """Hits of each query against the training set: MMSEQS_COLUMNS, identity as 0-1."""
        if not queries:
            return pd.DataFrame(columns=[*MMSEQS_COLUMNS, "identity"])
        with tempfile.TemporaryDirectory(dir=self.workdir) as scratch:
            scratch = Path(scratch)
            query_fasta = scratch / "queries.fasta"
            hits_path = scratch / "hits.tsv"
            # Positional ids avoid any trouble with characters MMseqs2 treats specially.
            write_fasta(((f"q{i}", seq) for i, (_, seq) in enumerate(queries)), query_fasta)
            self._mmseqs(
                "easy-search",
                str(query_fasta),
                str(self.database),
                str(hits_path),
                str(scratch / "tmp"),
                "--format-output",
                ",".join(MMSEQS_COLUMNS),
                "-s",
                str(self.sensitivity),
                "-e",
                str(self.max_evalue),
                "--max-seqs",
                str(self.max_seqs),
                "--alignment-mode",
                "3",
                "--threads",
                str(self.threads),
            )
            hits = pd.read_csv(hits_path, sep="\t", names=MMSEQS_COLUMNS, header=None)
        position_to_id = {f"q{i}": identifier for i, (identifier, _) in enumerate(queries)}
        hits["query"] = hits["query"].map(position_to_id)
        hits["target"] = hits["target"].astype(str)
        hits["identity"] = hits["fident"].astype(float)
        return hits


def nearest_neighbours(
    hits: pd.DataFrame, query_ids: Sequence[str], k: int = TOP_K
) -> dict[str, tuple[list[str], list[float]]]:
    """Per query: the k training enzymes of highest identity (ties: higher bit score)."""
    result = {identifier: ([], []) for identifier in query_ids}
    if hits.empty:
        return result
    ranked = hits.sort_values(
        ["query", "fident", "bits", "target"], ascending=[True, False, False, True]
    ).drop_duplicates(["query", "target"])
    for query, group in ranked.groupby("query", sort=False):
        top = group.head(k)
        result[query] = (top["target"].tolist(), [float(v) for v in top["fident"]])
    return result
