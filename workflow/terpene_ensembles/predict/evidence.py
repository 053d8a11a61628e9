"""What a biologist weighs a call by: the homology band and its expected top-call precision,
what the nearest training enzymes make, and which members rank each call first.

One function (:func:`evidence_columns`) fills these columns for the screening runs
(:mod:`.output`) and for the test predictions of the evaluate stage, so both read alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from terpene_ensembles.learning.reliability import expected_top_precision, identity_band

TOP_K = 3  # nearest training enzymes shown per sequence (and top ensembles)
NO_SUPPORT = "none"  # a call no member ranks first (the combiner's own)
# Between the ensembles of one neighbour (';' separates the neighbours in the TSV).
ENSEMBLE_SEPARATOR = ","


@dataclass(frozen=True)
class PredictionContext:
    """What the evidence columns need from a trained model."""

    members: list[str] = field(default_factory=list)  # the combiner's members, in order
    reliability: list[dict] | None = None  # the model's band rows (reliability.band_table)
    reference_names: dict[str, str] = field(default_factory=dict)  # training id -> name
    reference_ensembles: dict[str, list[str]] = field(default_factory=dict)


def nearest_neighbours(
    hits: pd.DataFrame, query_ids: Sequence[str], k: int = TOP_K
) -> dict[str, tuple[list[str], list[float]]]:
    """Per query: the k training enzymes of highest identity (ties: higher bit score)."""
    result = {identifier: ([], []) for identifier in query_ids}
    if hits.empty:
        return result
    ranked = hits.sort_values(
        ["query", "identity", "bits", "target"], ascending=[True, False, False, True]
    ).drop_duplicates(["query", "target"])
    for query, group in ranked.groupby("query", sort=False):
        top = group.head(k)
        result[query] = (top["target"].tolist(), [float(v) for v in top["identity"]])
    return result


def call_support(
    called: Sequence[Sequence[str]],
    member_scores: dict[str, np.ndarray],
    members: Sequence[str],
    ensemble_ids: Sequence[str],
) -> list[list[str]]:
    """Per row, aligned with its calls: the members whose top-scored ensemble is that call,
    ','-joined in member order (NO_SUPPORT when none is). ``member_scores`` are each
    member's raw scores, its own ranking (as the combiner sees it: per-class calibration
    may reorder the classes)."""
    tops = {
        name: [ensemble_ids[j] for j in np.argmax(member_scores[name], axis=1)]
        for name in members
        if name in member_scores
    }
    return [
        [
            ENSEMBLE_SEPARATOR.join(name for name, top in tops.items() if top[i] == call)
            or NO_SUPPORT
            for call in calls
        ]
        for i, calls in enumerate(called)
    ]


def evidence_columns(
    called: Sequence[Sequence[str]],
    member_scores: dict[str, np.ndarray],
    ensemble_ids: Sequence[str],
    nearest: Sequence[Sequence[str]],
    best_identity: Sequence[float],
    context: PredictionContext | None,
) -> dict[str, list]:
    """The evidence columns of rows with calls ``called``, nearest training enzymes
    ``nearest`` (most similar first) and best identity ``best_identity``."""
    context = context or PredictionContext()
    return {
        "support": call_support(called, member_scores, context.members, ensemble_ids),
        "identity_band": [identity_band(v) for v in best_identity],
        "expected_top_precision": [
            expected_top_precision(context.reliability, v) for v in best_identity
        ],
        "nearest_training_name": [
            context.reference_names.get(ids[0], "") if len(ids) else "" for ids in nearest
        ],
        "nearest_training_ensembles": [
            [ENSEMBLE_SEPARATOR.join(context.reference_ensembles.get(i, [])) for i in ids]
            for ids in nearest
        ],
    }
