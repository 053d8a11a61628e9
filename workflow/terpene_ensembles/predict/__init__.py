"""Screen new sequences with a trained model: calls, evidence and trust flags per sequence.

Input is streamed in chunks (see :mod:`terpene_ensembles.sequence_input`); each chunk is
featurised, scored, compared with the training enzymes (MMseqs2) and appended to the
output files, so peak memory depends on the chunk size, not on the input size.

Modules, by concern: ``output`` (the per-sequence columns and the output files),
``neighbours`` (nearest training enzymes), ``model`` (loading and scoring a trained
bundle), ``screening`` (the chunk loop) and ``run`` (a whole FASTA or MARTS-DB input).
"""

from terpene_ensembles.predict.model import (
    BundleScorer,
    ChunkScorer,
    ChunkScores,
    Featurizer,
    ModelCompatibilityError,
    default_featurizer,
    load_compatible_bundle,
    plm_settings_for,
)
from terpene_ensembles.predict.neighbours import (
    TrainingNeighbourSearch,
    nearest_neighbours,
)
from terpene_ensembles.predict.output import (
    LEADING_COLUMNS,
    OOD_NO_DOMAIN,
    OOD_NO_NEIGHBOUR,
    PROBABILITY_PREFIX,
    TOP_K,
    PredictionWriter,
    RejectionWriter,
    out_of_domain_reason,
    prediction_schema,
    summarise_chunk,
    top_ensembles,
    tsv_view,
)
from terpene_ensembles.predict.run import (
    MetricsCollector,
    label_marts_export,
    marts_metrics,
    marts_records,
    run_prediction,
)
from terpene_ensembles.predict.screening import ScreeningSettings, records_frame, screen

__all__ = [
    "LEADING_COLUMNS",
    "OOD_NO_DOMAIN",
    "OOD_NO_NEIGHBOUR",
    "PROBABILITY_PREFIX",
    "TOP_K",
    "BundleScorer",
    "ChunkScorer",
    "ChunkScores",
    "Featurizer",
    "MetricsCollector",
    "ModelCompatibilityError",
    "PredictionWriter",
    "RejectionWriter",
    "ScreeningSettings",
    "TrainingNeighbourSearch",
    "default_featurizer",
    "label_marts_export",
    "load_compatible_bundle",
    "marts_metrics",
    "marts_records",
    "nearest_neighbours",
    "out_of_domain_reason",
    "plm_settings_for",
    "prediction_schema",
    "records_frame",
    "run_prediction",
    "screen",
    "summarise_chunk",
    "top_ensembles",
    "tsv_view",
]
