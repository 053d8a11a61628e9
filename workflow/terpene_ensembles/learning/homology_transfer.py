"""Annotation transfer from homologs: the labels of training enzymes that MMseqs2 found
similar to a query, weighted by their similarity.

With ``k`` nearest and identity it is BLASTp-style transfer (the ``knn_identity``
baseline); with ``k=None`` and a steep power it is a sharp kernel over every homolog (the
``identity_kernel`` member). :func:`reference_best_identity` is the query's highest
identity to a reference enzyme, the homology the combiner weighs its members by.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from terpene_ensembles.learning.reference_predictors import label_prior

SIMILARITIES = ("identity", "covered_identity", "bits_per_residue")


def hit_similarity(hits: pd.DataFrame, similarity: str = "identity") -> pd.Series:
    """How alike a hit's two enzymes are.

    - ``identity``: MMseqs2 identity over the aligned stretch (0-1).
    - ``covered_identity``: identity x the smaller of the two coverages (a 90% identical
      alignment over a third of a protein is weak evidence for the whole enzyme).
    - ``bits_per_residue``: the alignment's bit score per residue of the longer protein.
      The score counts conservative substitutions (BLOSUM), which identity ignores, and
      the longer length discounts partial alignments and length mismatch, as coverage
      does. Unbounded above (about 2 for a self hit).
    """
    if similarity == "identity":
        return hits["identity"].astype(np.float64)
    if similarity == "covered_identity":
        coverage = np.minimum(hits["query_coverage"], hits["target_coverage"])
        return (hits["identity"] * coverage).astype(np.float64)
    if similarity == "bits_per_residue":
        longer = np.maximum(hits["query_length"], hits["target_length"])
        return (hits["bits"] / longer).astype(np.float64)
    raise ValueError(f"unknown similarity {similarity!r}; known {list(SIMILARITIES)}")


def score_knn_identity(
    query_ids,
    hits: pd.DataFrame,
    reference_ids,
    reference_labels: np.ndarray,
    prior: np.ndarray,
    k: int | None = 5,
    power: float = 3.0,
    similarity: str = "identity",
) -> tuple[np.ndarray, np.ndarray]:
    """Similarity-weighted label average over the ``k`` most similar reference enzymes
    (``k=None``: every reference enzyme among the query's hits).

    ``hits`` has columns query, target, identity (fraction), and the columns that
    :func:`hit_similarity` reads for ``similarity``. Weights are similarity**power so a 90%
    neighbour outweighs several 35% ones. Queries without any reference hit get the label
    prior (the best guess with no homology evidence).
    Returns (scores, best_identity) where best_identity is the highest identity of the hits
    used, 0 for queries without hits.
    """
    reference_index = {rid: i for i, rid in enumerate(reference_ids)}
    query_index = {qid: i for i, qid in enumerate(query_ids)}
    scores = np.tile(np.asarray(prior, dtype=np.float64), (len(query_index), 1))
    best = np.zeros(len(query_index))
    relevant = hits[hits["query"].isin(query_index) & hits["target"].isin(reference_index)]
    relevant = relevant[relevant["query"] != relevant["target"]]
    if relevant.empty:
        return scores, best
    relevant = relevant.assign(similarity=hit_similarity(relevant, similarity))
    # Best hit per (query, target) pair, then the k best targets per query; ties broken by
    # target id so the result never depends on the hit file's row order.
    relevant = relevant.sort_values(
        ["query", "similarity", "target"], ascending=[True, False, True]
    ).drop_duplicates(["query", "target"])
    if k is not None:
        relevant = relevant.groupby("query", sort=False).head(k)
    q = relevant["query"].map(query_index).to_numpy()
    t = relevant["target"].map(reference_index).to_numpy()
    w = np.maximum(relevant["similarity"].to_numpy(dtype=np.float64), 1e-6) ** power
    weighted = np.zeros_like(scores)
    np.add.at(weighted, q, w[:, None] * reference_labels[t])
    total = np.zeros(len(query_index))
    np.add.at(total, q, w)
    has_hit = total > 0
    scores[has_hit] = weighted[has_hit] / total[has_hit, None]
    np.maximum.at(best, q, relevant["identity"].to_numpy(dtype=np.float64))
    return scores, best


def _relevant_hits(query_ids, hits: pd.DataFrame, reference_ids) -> pd.DataFrame:
    relevant = hits[hits["query"].isin(set(query_ids)) & hits["target"].isin(set(reference_ids))]
    return relevant[relevant["query"] != relevant["target"]]


def reference_best_identity(query_ids, hits: pd.DataFrame, reference_ids) -> np.ndarray:
    """Highest MMseqs2 identity of each query to a reference enzyme other than itself (0
    without a hit)."""
    query_index = {qid: i for i, qid in enumerate(query_ids)}
    best = np.zeros(len(query_index))
    relevant = _relevant_hits(query_index, hits, reference_ids)
    if not relevant.empty:
        q = relevant["query"].map(query_index).to_numpy()
        np.maximum.at(best, q, relevant["identity"].to_numpy(dtype=np.float64))
    return best


@dataclass
class HomologyState:
    """What a homology member keeps: its kernel and the labelled reference enzymes."""

    k: int | None
    power: float
    similarity: str
    reference_ids: list[str]
    reference_labels: np.ndarray  # (n_reference, K) int8
    prior: np.ndarray  # (K,) training frequency: the score of a query without hits

    @classmethod
    def fit(cls, train, k: int | None, power: float, similarity: str) -> HomologyState:
        return cls(
            k=k,
            power=float(power),
            similarity=similarity,
            reference_ids=[str(i) for i in train.ids],
            reference_labels=train.labels.astype(np.int8),
            prior=label_prior(train.labels),
        )

    def scores(self, data, hits: pd.DataFrame) -> np.ndarray:
        scores, _ = score_knn_identity(
            data.ids,
            hits,
            self.reference_ids,
            np.asarray(self.reference_labels, dtype=np.float64),
            self.prior,
            k=self.k,
            power=self.power,
            similarity=self.similarity,
        )
        return scores

    def to_payload(self) -> dict:
        return {
            "k": self.k,
            "power": self.power,
            "similarity": self.similarity,
            "reference_ids": list(self.reference_ids),
            "reference_labels": self.reference_labels,
            "prior": self.prior,
        }

    @classmethod
    def from_payload(cls, payload: dict) -> HomologyState:
        return cls(
            k=None if payload["k"] is None else int(payload["k"]),
            power=float(payload["power"]),
            similarity=str(payload["similarity"]),
            reference_ids=[str(i) for i in payload["reference_ids"]],
            reference_labels=np.asarray(payload["reference_labels"]),
            prior=np.asarray(payload["prior"]),
        )
