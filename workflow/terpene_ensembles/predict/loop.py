"""The chunked screening loop: featurise, score, compare and write each chunk."""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from terpene_ensembles.data.sequence_input import (
    SequenceRecord,
    chunked,
)
from terpene_ensembles.errors import ConfigError
from terpene_ensembles.predict.model import ChunkScorer, ChunkScores
from terpene_ensembles.predict.neighbours import TrainingNeighbourSearch, nearest_neighbours
from terpene_ensembles.predict.output import TOP_K, PredictionWriter, summarise_chunk
from terpene_ensembles.settings import PredictConfig
from terpene_ensembles.split.homology import (
    DEFAULT_SENSITIVITY,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScreeningSettings:
    """The ``predict`` config section (settings.PredictConfig) and the run's resources."""

    chunk_size: int = PredictConfig.chunk_size
    # best training identity below this -> out of domain
    identity_floor: float = PredictConfig.identity_floor
    neighbours: int = TOP_K
    threads: int = 1
    mmseqs_sensitivity: float = DEFAULT_SENSITIVITY
    # MARTS kingdom of FASTA records (a feature); "" = unknown
    kingdom: str = PredictConfig.kingdom
    # FASTA only: one of prefilter.PREFILTER_MODES ("tps_domain_or_homolog",
    # "tps_domain": only TPS candidates are predicted; "none": every record). Off for
    # library callers; the CLI and the rules pass the config's value.
    prefilter: str = "none"
    # Nucleotide FASTA only: pyrodigal mode (auto, single, meta) and NCBI genetic code.
    gene_calling: str = PredictConfig.gene_calling
    genetic_code: int = PredictConfig.genetic_code

    def gene_calling_settings(self):
        from terpene_ensembles.data.genome_input import GeneCalling

        return GeneCalling(self.gene_calling, self.genetic_code, self.threads)

    def __post_init__(self):
        if self.chunk_size < 1:
            raise ConfigError(
                f"chunk_size must be >= 1, got {self.chunk_size}", where="predict.chunk_size"
            )
        if not 0 <= self.identity_floor <= 1:
            raise ConfigError(
                f"identity_floor must be in [0, 1], got {self.identity_floor}",
                where="predict.identity_floor",
            )


def records_frame(records: Sequence[SequenceRecord]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": [r.id for r in records],
            "record": [r.record for r in records],
            "sequence": [r.sequence for r in records],
            "sequence_sha256": [r.sequence_sha256 for r in records],
            "length": [len(r.sequence) for r in records],
            "kingdom": [r.kingdom for r in records],
            "profile_features": [r.profile_features for r in records],
        }
    )


def screen(
    records: Iterable[SequenceRecord],
    scorer: ChunkScorer,
    outdir: str | os.PathLike,
    settings: ScreeningSettings,
    on_chunk: Callable[[pd.DataFrame, ChunkScores, pd.DataFrame], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict:
    """Predict every record, chunk by chunk; write predictions.parquet/.tsv under ``outdir``.

    ``on_chunk(chunk, scores, predictions)`` sees each chunk (used to collect metrics);
    ``progress(n)`` is told the number of sequences each finished chunk held.
    Returns counts for the summary.
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    counts = {"predicted": 0, "out_of_domain": 0, "chunks": 0}
    with (
        tempfile.TemporaryDirectory(prefix=".mmseqs_", dir=outdir) as workdir,
        PredictionWriter(outdir, scorer.ensemble_ids) as writer,
    ):
        search = TrainingNeighbourSearch(
            scorer.training, workdir, settings.threads, settings.mmseqs_sensitivity
        )
        for chunk_records in chunked(records, settings.chunk_size):
            chunk = records_frame(chunk_records)
            hits = search.search(list(zip(chunk["id"], chunk["sequence"], strict=True)))
            neighbours = nearest_neighbours(hits, chunk["id"].tolist(), settings.neighbours)
            scores = scorer.score(chunk, hits)
            predictions = summarise_chunk(
                chunk,
                scores.probabilities,
                scorer.ensemble_ids,
                scores.calls,
                neighbours,
                scores.tps_domains,
                settings.identity_floor,
                scorer.context,
                scores.raw,
            )
            writer.write(predictions)
            if on_chunk is not None:
                on_chunk(chunk, scores, predictions)
            counts["predicted"] += len(predictions)
            counts["out_of_domain"] += int(predictions["out_of_domain"].sum())
            counts["chunks"] += 1
            log.info("predicted %d sequences", counts["predicted"])
            if progress is not None:
                progress(len(predictions))
    return counts
