"""The prefilter's homology arm: an MMseqs2 database of a model's training enzymes, built once
per model and reused by every screening run.

The database (``createdb``, plus ``createindex`` with :data:`BUILD_INDEX`) lives in
``<cache>/<key>/``, normally the model folder's ``homologs/``. The key hashes what the search
depends on: the training ids and sequences, the MMseqs2 release and the search settings. A
retrained model (or another MMseqs2) gets a new key, so a stale database is never searched;
building a new one removes the other keys. A database is built in a scratch folder and
renamed into place, so concurrent runs never see half a database.

Every protein is one query against the same fixed target set, and E-values depend only on
the query and the target database, so a protein's verdict never depends on the batch it is
searched in.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from terpene_ensembles.split.homology import (
    MMseqsError,
    _run,
    find_mmseqs,
    resolve_mmseqs,
    write_fasta,
)

LOG = logging.getLogger("terpene_ensembles.predict.homolog_database")

COMPLETE_MARKER = "database.json"
DATABASE_NAME = "training_db"


@dataclass(frozen=True)
class HomologSearch:
    """MMseqs2 settings of the arm, which searches nearly every protein of a proteome.

    Held out by grouped CV folds (``bench/bench_homolog_recall.py``) these settings find as
    many of the demo enzymes no profile accepts as predict's neighbour search (sensitivity
    7.5, k-mer size 6, 200 alignments per query); see bench/README.md for the numbers.
    ``kmer_size`` 5 keeps the prefilter's k-mer table small (cache-resident lookups, about
    half the CPU of 6); ``max_seqs`` only bounds how many training enzymes are aligned per
    protein: one hit decides; ``min_ungapped_score`` drops the chance diagonals of unrelated
    proteins before they are aligned; sensitivity 3.5 finds the same 62 of 66 CV-fold
    enzymes as 4 with about 30% less CPU (3 finds 58).
    """

    sensitivity: float = 3.5
    kmer_size: int = 5
    max_seqs: int = 20
    min_ungapped_score: int = 25
    evalue: float = 1e-3

    def search_options(self) -> list[str]:
        return [
            "-s", str(self.sensitivity),
            "-k", str(self.kmer_size),
            "--max-seqs", str(self.max_seqs),
            "--min-ungapped-score", str(self.min_ungapped_score),
            "-e", str(self.evalue),
        ]  # fmt: skip


HOMOLOG_SEARCH = HomologSearch()
# A precomputed k-mer index spares each search call the index-table build (about 2 CPU s).
BUILD_INDEX = False


def database_key(training: pd.DataFrame, search: HomologSearch, mmseqs_version: str) -> str:
    """sha256 of the training ids and sequences, the search settings and the MMseqs2 release."""
    digest = hashlib.sha256()
    header = {"search": asdict(search), "mmseqs": mmseqs_version, "index": BUILD_INDEX}
    digest.update(json.dumps(header, sort_keys=True).encode())
    for identifier, sequence in zip(training["id"], training["sequence"], strict=True):
        digest.update(f"\n>{identifier}\n{sequence}".encode())
    return digest.hexdigest()[:20]


class TrainingHomologDatabase:
    """The training enzymes as an MMseqs2 target, from ``cache`` or built into it once."""

    def __init__(
        self,
        training: pd.DataFrame,
        cache: str | os.PathLike,
        threads: int = 1,
        search: HomologSearch = HOMOLOG_SEARCH,
    ):
        if training.empty:
            raise ValueError("the model has no training sequences to compare against")
        self.search_settings = search
        self.threads = max(1, int(threads))
        self.mmseqs = find_mmseqs()
        self.cache = Path(cache)
        self.key = database_key(training, search, resolve_mmseqs().version())
        self.folder = self.cache / self.key
        self.built = False  # whether this instance built the database (False: reused)
        if not (self.folder / COMPLETE_MARKER).is_file():
            self._build(training)
        else:
            LOG.info("homology arm: reusing the training database %s", self.folder)
        self.database = self.folder / DATABASE_NAME

    def _build(self, training: pd.DataFrame) -> None:
        self.cache.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=".building_", dir=self.cache))
        try:
            fasta = scratch / "training.fasta"
            write_fasta(((f"t{i}", seq) for i, seq in enumerate(training["sequence"])), fasta)
            _run([self.mmseqs, "createdb", str(fasta), str(scratch / DATABASE_NAME), "-v", "1"])
            if BUILD_INDEX:
                _run(
                    [
                        self.mmseqs, "createindex", str(scratch / DATABASE_NAME),
                        str(scratch / "tmp"), "-k", str(self.search_settings.kmer_size),
                        "-s", str(self.search_settings.sensitivity),
                        "--threads", str(self.threads), "-v", "1",
                    ]
                )  # fmt: skip
            shutil.rmtree(scratch / "tmp", ignore_errors=True)
            fasta.unlink()
            (scratch / COMPLETE_MARKER).write_text(
                json.dumps({"key": self.key, "training_enzymes": len(training),
                            "search": asdict(self.search_settings)}, indent=2) + "\n"
            )  # fmt: skip
            try:
                os.replace(scratch, self.folder)
            except OSError:  # another run put the same database there first
                if not (self.folder / COMPLETE_MARKER).is_file():
                    raise
            else:
                self.built = True
                LOG.info("homology arm: built the training database %s", self.folder)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        self._remove_stale()

    def _remove_stale(self) -> None:
        """Databases of other keys (an earlier training set or MMseqs2): never searched again."""
        for folder in self.cache.iterdir():
            if folder.is_dir() and folder.name != self.key and (folder / COMPLETE_MARKER).is_file():
                shutil.rmtree(folder, ignore_errors=True)

    def homologous(self, sequences: Sequence[str]) -> set[int]:
        """Positions of the ``sequences`` with a hit to some training enzyme."""
        return self.submit(sequences).result()

    def submit(self, sequences: Sequence[str]) -> PendingSearch:
        """Start the search of ``sequences`` in the background (the prefilter profiles the
        next batch meanwhile); ``.result()`` waits for :meth:`homologous`'s answer."""
        return PendingSearch(self, sequences)


class PendingSearch:
    """One ``mmseqs easy-search`` of a batch against the training database, running as a
    child process until :meth:`result` (or :meth:`cancel`) is called."""

    def __init__(self, database: TrainingHomologDatabase, sequences: Sequence[str]):
        self.process = None
        self.scratch = None
        if not sequences:
            return
        self.scratch = tempfile.TemporaryDirectory(prefix="prefilter_mmseqs_")
        folder = Path(self.scratch.name)
        queries = folder / "queries.fasta"
        write_fasta(((f"q{i}", seq) for i, seq in enumerate(sequences)), queries)
        self.hits = folder / "hits.tsv"
        self.command = [
            database.mmseqs, "easy-search", str(queries), str(database.database),
            str(self.hits), str(folder / "tmp"), *database.search_settings.search_options(),
            "--format-output", "query", "--threads", str(database.threads), "-v", "1",
        ]  # fmt: skip
        try:
            self.process = subprocess.Popen(
                self.command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        except OSError as error:
            self.scratch.cleanup()
            raise MMseqsError(f"could not start {self.command[0]}: {error}") from error

    def result(self) -> set[int]:
        if self.process is None:
            return set()
        try:
            stdout, stderr = self.process.communicate()
            if self.process.returncode != 0:
                tail = (stderr or stdout)[-2000:]
                raise MMseqsError(
                    f"{' '.join(self.command[:2])} failed with exit code "
                    f"{self.process.returncode}:\n{tail}"
                )
            with open(self.hits) as handle:
                return {int(line[1:]) for line in handle.read().split()}
        finally:
            self.scratch.cleanup()

    def cancel(self) -> None:
        """Stop the search and remove its files (the screen was abandoned)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self.scratch is not None:
            self.scratch.cleanup()
