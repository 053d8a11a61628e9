"""Multi-label metrics (scikit-learn) shared by evaluate, cross-validation and predict.

Conventions:
- macro-F1 and mAP average over classes with at least one positive among the scored
  enzymes (a class without positives has no defined recall or AP).
- micro-F1 pools every (enzyme, class) decision.
- precision@1: fraction of enzymes with >= 1 true ensemble whose top-scored ensemble is true.
- recall@3: over those enzymes, mean fraction of their true ensembles among the top 3.
- call_rate: fraction of enzymes with >= 1 true ensemble that get >= 1 called ensemble.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, f1_score, precision_recall_fscore_support


def _round(value) -> float | None:
    if value is None or not np.isfinite(value):
        return None
    return round(float(value), 6)


def mean_average_precision(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Mean AP over classes with positives (nan when none has)."""
    positive = y_true.sum(axis=0) > 0
    if not positive.any():
        return float("nan")
    return float(
        np.mean(
            [average_precision_score(y_true[:, j], scores[:, j]) for j in np.flatnonzero(positive)]
        )
    )


def precision_at_1(y_true: np.ndarray, scores: np.ndarray) -> float:
    labelled = y_true.sum(axis=1) > 0
    if not labelled.any():
        return float("nan")
    top = np.argmax(scores[labelled], axis=1)
    return float(y_true[labelled][np.arange(labelled.sum()), top].mean())


def recall_at_k(y_true: np.ndarray, scores: np.ndarray, k: int = 3) -> float:
    labelled = y_true.sum(axis=1) > 0
    if not labelled.any():
        return float("nan")
    truth, ranked = y_true[labelled], scores[labelled]
    # Stable sort on negated scores: ties resolved by class order, reproducibly.
    top = np.argsort(-ranked, axis=1, kind="stable")[:, :k]
    hits = np.take_along_axis(truth, top, axis=1).sum(axis=1)
    return float(np.mean(hits / truth.sum(axis=1)))


def multilabel_metrics(
    y_true: np.ndarray,
    scores: np.ndarray,
    calls: np.ndarray,
    class_ids: list[str],
    thresholds: np.ndarray | None = None,
) -> dict:
    """Metrics dict of one predictor on one set of enzymes (JSON-ready)."""
    y_true = np.asarray(y_true).astype(int)
    calls = np.asarray(calls).astype(int)
    positive = y_true.sum(axis=0) > 0
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, calls, average=None, zero_division=0
    )
    per_class = {}
    for j, class_id in enumerate(class_ids):
        ap = average_precision_score(y_true[:, j], scores[:, j]) if positive[j] else None
        per_class[class_id] = {
            "precision": _round(precision[j]),
            "recall": _round(recall[j]),
            "f1": _round(f1[j]),
            "ap": _round(ap),
            "support": int(support[j]),
            "n_called": int(calls[:, j].sum()),
            "threshold": None if thresholds is None else _round(thresholds[j]),
        }
    labelled = y_true.sum(axis=1) > 0
    macro_f1 = float(np.mean(f1[positive])) if positive.any() else float("nan")
    return {
        "n_enzymes": int(len(y_true)),
        "n_labelled": int(labelled.sum()),
        "n_classes_with_positives": int(positive.sum()),
        "macro_f1": _round(macro_f1),
        "micro_f1": _round(f1_score(y_true, calls, average="micro", zero_division=0)),
        "map": _round(mean_average_precision(y_true, scores)),
        "precision_at_1": _round(precision_at_1(y_true, scores)),
        "recall_at_3": _round(recall_at_k(y_true, scores, 3)),
        "call_rate": _round(calls[labelled].any(axis=1).mean() if labelled.any() else np.nan),
        "per_class": per_class,
    }


def single_label_map(families: np.ndarray, scores: np.ndarray, family_ids: list[str]) -> dict:
    """Substrate-level view: one family per enzyme; AP per family, mean over families present."""
    truth = np.stack([families == f for f in family_ids], axis=1).astype(int)
    per_family = {}
    for j, family in enumerate(family_ids):
        if truth[:, j].any():
            per_family[family] = {
                "ap": _round(average_precision_score(truth[:, j], scores[:, j])),
                "support": int(truth[:, j].sum()),
            }
    top = np.asarray(family_ids)[np.argmax(scores, axis=1)] if len(scores) else np.array([])
    return {
        "n_enzymes": int(len(families)),
        "map": _round(mean_average_precision(truth, scores)),
        "accuracy": _round(float(np.mean(top == families)) if len(families) else np.nan),
        "per_family": per_family,
    }


HEADLINE_METRICS = ("macro_f1", "micro_f1", "map", "precision_at_1", "recall_at_3", "call_rate")
