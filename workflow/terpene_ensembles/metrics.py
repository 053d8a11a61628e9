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
import pandas as pd
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


def substrate_family_map(families: np.ndarray, scores: np.ndarray, family_ids: list[str]) -> dict:
    """Substrate-level view: multi-label over chain-length families ("C10+C15" -> both).

    AP per family; mAP over families present among the scored enzymes.
    """
    sets = [set(str(v).split("+")) for v in families]
    truth = np.array([[f in s for f in family_ids] for s in sets], dtype=int).reshape(
        len(sets), len(family_ids)
    )
    per_family = {}
    for j, family in enumerate(family_ids):
        if truth[:, j].any():
            per_family[family] = {
                "ap": _round(average_precision_score(truth[:, j], scores[:, j])),
                "support": int(truth[:, j].sum()),
            }
    return {
        "n_enzymes": int(len(families)),
        "map": _round(mean_average_precision(truth, scores)),
        "precision_at_1": _round(precision_at_1(truth, scores)),
        "per_family": per_family,
    }


HEADLINE_METRICS = ("macro_f1", "micro_f1", "map", "precision_at_1", "recall_at_3", "call_rate")


BASELINES = ("random", "label_prior", "knn_identity", "logistic_regression")
COMPONENTS = ("fusion",)


def predictor_metrics(
    calibrated: pd.DataFrame,
    truth: pd.DataFrame,
    calibration: dict,
    ensemble_ids: list[str],
    split: str = "test",
) -> dict:
    """``{"model": ..., "baselines": {...}, "components": {...}}`` on one split.

    ``calibrated``: long layout (id, split, predictor, one column per class) of calibrated
    probabilities; ``truth``: labels indexed by id; ``calibration``: thresholds.json content.
    Calls use the calibrated per-class thresholds (+ the top ensemble when
    ``always_call_top``), exactly as the predict stage does.
    """
    from terpene_ensembles.calibration import call_ensembles, thresholds_vector

    always_call_top = bool(calibration["settings"].get("always_call_top", True))
    rows = calibrated[calibrated["split"] == split]
    out = {"model": None, "baselines": {}, "components": {}}
    for predictor, group in rows.groupby("predictor", sort=False):
        scores = group[ensemble_ids].to_numpy(dtype=np.float64)
        thresholds = thresholds_vector(calibration["predictors"][predictor], ensemble_ids)
        calls = call_ensembles(scores, thresholds, always_call_top)
        y = truth.loc[group["id"], ensemble_ids].to_numpy()
        result = multilabel_metrics(y, scores, calls, ensemble_ids, thresholds)
        if predictor == "model":
            out["model"] = result
        elif predictor in COMPONENTS:
            out["components"][predictor] = result
        else:
            out["baselines"][predictor] = result
    if out["model"] is None:
        raise ValueError(f"no `model` rows in the {split} predictions")
    return out


def substrate_metrics(substrate_scores: pd.DataFrame, families_by_id: dict, split: str = "test"):
    """Substrate-level mAP per predictor from the long substrate prediction table."""
    rows = substrate_scores[substrate_scores["split"] == split]
    family_ids = [c for c in rows.columns if c not in ("id", "split", "predictor")]
    out = {"families": family_ids, "model": None, "baselines": {}}
    for predictor, group in rows.groupby("predictor", sort=False):
        families = np.array([families_by_id[i] for i in group["id"]])
        result = substrate_family_map(families, group[family_ids].to_numpy(np.float64), family_ids)
        if predictor == "model":
            out["model"] = result
        else:
            out["baselines"][predictor] = result
    return out


def acceptance(test: dict) -> dict:
    """The issue's acceptance numbers (test split), recorded next to the metrics."""
    model, knn, random = (
        test["model"],
        test["baselines"]["knn_identity"],
        test["baselines"]["random"],
    )

    def ratio(a, b):
        return _round(a / b) if a is not None and b else None

    checks = {
        "map_ratio_vs_knn": ratio(model["map"], knn["map"]),
        "macro_f1_ratio_vs_knn": ratio(model["macro_f1"], knn["macro_f1"]),
        "macro_f1_ratio_vs_random": ratio(model["macro_f1"], random["macro_f1"]),
        "call_rate": model["call_rate"],
    }
    checks["passed"] = bool(
        (checks["map_ratio_vs_knn"] or 0) >= 1.2
        and (checks["macro_f1_ratio_vs_knn"] or 0) >= 1.0
        and (checks["macro_f1_ratio_vs_random"] or 0) > 2.0
        and (checks["call_rate"] or 0) >= 0.8
    )
    return checks
