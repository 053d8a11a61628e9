"""Baselines and the non-neural members of the ensemble, as plain-parameter scorers.

Each scorer keeps only numpy arrays / python values (no pickled estimators), so a trained
model bundle loads with ``torch.load(weights_only=True)`` or JSON.

- ``random``: seeded uniform scores (a floor every metric must beat).
- ``label_prior``: every enzyme gets the training frequency of each ensemble.
- ``knn_identity``: identity-weighted labels of the nearest training enzymes in the MMseqs2
  all-vs-all hits (the homology scorer, what BLASTp-style annotation transfer does). With
  ``k=None``, coverage-weighted identity and a steep power it is the ``identity_kernel``
  member: every homolog's labels, weighted by a sharp kernel of their similarity.
- ``logistic_regression``: one-vs-rest logistic regression on standardised features.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler


def label_prior(train_labels: np.ndarray) -> np.ndarray:
    return train_labels.mean(axis=0).astype(np.float64)


def score_label_prior(prior: np.ndarray, n: int) -> np.ndarray:
    return np.tile(prior, (n, 1))


def score_random(ids, n_classes: int, seed: int) -> np.ndarray:
    """Uniform scores that depend only on (seed, id): reproducible and order-independent."""
    rows = []
    for enzyme_id in ids:
        entropy = [seed] + [ord(ch) for ch in str(enzyme_id)]
        rows.append(np.random.default_rng(entropy).random(n_classes))
    return np.array(rows).reshape(len(rows), n_classes)


# --- homology kNN -------------------------------------------------------------------------


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


# --- logistic regression ------------------------------------------------------------------


def fit_logistic_regression_path(
    features, labels: np.ndarray, cs, standardise: bool = True
) -> dict:
    """{c: params} of one-vs-rest L2 logistic regression on standardised features.

    Classes without training positives (or all positive) get a constant score equal to the
    training frequency. params: plain arrays mean, scale, coef (K, F), intercept (K,), c.
    ``standardise=False`` takes ``features`` as they are (mean 0 and scale 1 are stored).
    """
    if standardise:
        scaler = StandardScaler().fit(features)
        mean, scale = scaler.mean_, scaler.scale_
        standardised = scaler.transform(features)
    else:
        mean, scale = np.zeros(features.shape[1]), np.ones(features.shape[1])
        standardised = features
    return {
        c: {
            "mean": np.asarray(mean, dtype=np.float64),
            "scale": np.asarray(scale, dtype=np.float64),
            "coef": coef,
            "intercept": intercept,
            "c": float(c),
        }
        for c, (coef, intercept) in fit_one_vs_rest(standardised, labels, cs).items()
    }


def fit_one_vs_rest(x, labels: np.ndarray, cs) -> dict:
    """One scikit-learn L2 logistic regression per class for every C of ``cs``.

    Returns {c: (coef (K, F), intercept (K,))}. Each class walks the C values in increasing
    order with warm starts (the regularisation path), which saves most solver iterations.
    Classes without positives (or negatives) get weight 0 and the logit of their frequency.
    """
    y = np.asarray(labels).astype(int)
    k, d = y.shape[1], x.shape[1]
    frequency = y.mean(axis=0)
    constant = np.log(np.clip(frequency, 1e-6, 1 - 1e-6) / np.clip(1 - frequency, 1e-6, 1))
    path = {c: (np.zeros((k, d)), constant.copy()) for c in cs}
    for j in range(k):
        if y[:, j].min() == y[:, j].max():
            continue
        model = LogisticRegression(max_iter=2000, warm_start=True)
        for c in sorted(cs):
            model.set_params(C=c).fit(x, y[:, j])
            path[c][0][j] = model.coef_[0]
            path[c][1][j] = model.intercept_[0]
    return path


def score_logistic_regression(params: dict, features) -> np.ndarray:
    if sparse.issparse(features):  # fitted with standardise=False: mean 0, scale 1
        standardised = features
    else:
        standardised = (features - np.asarray(params["mean"])) / np.asarray(params["scale"])
    logits = np.asarray(standardised @ np.asarray(params["coef"]).T) + np.asarray(
        params["intercept"]
    )
    return 1.0 / (1.0 + np.exp(-np.clip(logits, -50, 50)))
