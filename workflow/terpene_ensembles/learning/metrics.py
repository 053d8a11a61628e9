"""Multi-label metrics (scikit-learn) shared by evaluate, cross-validation and predict.

Conventions:
- macro-F1 and mAP average over classes with at least one positive among the scored
  enzymes (a class without positives has no defined recall or AP).
- micro-F1 pools every (enzyme, class) decision.
- precision@1: fraction of enzymes with >= 1 true ensemble whose top-scored ensemble is true.
- recall@3: over those enzymes, mean fraction of their true ensembles among the top 3.
- call_rate: fraction of enzymes with >= 1 true ensemble that get >= 1 called ensemble.
- calls_per_enzyme / true_per_enzyme: mean called / true ensembles per labelled enzyme.
- best_threshold_macro_f1: macro-F1 if every class used its best threshold on these very
  enzymes (an oracle); decision_efficiency = macro_f1 / best_threshold_macro_f1;
  best_threshold_calls_per_enzyme: how many calls per labelled enzyme the oracle makes for
  that (classes without positives keep the actual calls), next to calls_per_enzyme.
- ece_called: expected calibration error of the called probabilities (10 equal-width bins;
  per bin |mean probability - fraction true|, weighted by the bin's share of calls);
  ``reliability`` holds the bins for the plot.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, f1_score, precision_recall_fscore_support

from terpene_ensembles.learning.reference_predictors import REFERENCE_PREDICTORS


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


RELIABILITY_BINS = 10


def best_threshold_calls(
    y_true: np.ndarray, scores: np.ndarray, calls: np.ndarray, always_call_top: bool
) -> tuple[list[float], np.ndarray]:
    """The oracle: each class with positives at the threshold that maximises its F1 on these
    very enzymes (fewest calls among equal F1). Returns (its F1 per such class, its calls);
    the top call of each enzyme stays whatever the threshold when ``always_call_top``;
    classes without positives keep ``calls``."""
    from terpene_ensembles.learning.calibration import best_f1_threshold, top_calls

    top = top_calls(scores) if always_call_top else np.zeros(scores.shape, dtype=bool)
    oracle_calls = np.asarray(calls).astype(bool)  # a new array: astype copies
    f1 = []
    for j in np.flatnonzero(y_true.sum(axis=0) > 0):
        threshold, best = best_f1_threshold(
            scores[:, j], y_true[:, j], top[:, j] if always_call_top else None
        )
        f1.append(best)
        oracle_calls[:, j] = (scores[:, j] >= threshold) | top[:, j]
    return f1, oracle_calls


def reliability(probabilities: np.ndarray, outcomes: np.ndarray, bins: int = RELIABILITY_BINS):
    """(ece, bins) of called probabilities: equal-width bins over [0, 1]."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    outcomes = np.asarray(outcomes, dtype=np.float64)
    if not len(probabilities):
        return None, []
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(probabilities, edges[1:-1]), 0, bins - 1)
    table, ece = [], 0.0
    for b in range(bins):
        inside = index == b
        if not inside.any():
            continue
        mean_p, observed = probabilities[inside].mean(), outcomes[inside].mean()
        ece += inside.mean() * abs(mean_p - observed)
        table.append(
            {
                "low": _round(edges[b]),
                "high": _round(edges[b + 1]),
                "n": int(inside.sum()),
                "mean_probability": _round(mean_p),
                "fraction_true": _round(observed),
            }
        )
    return _round(ece), table


def multilabel_metrics(
    y_true: np.ndarray,
    scores: np.ndarray,
    calls: np.ndarray,
    ensemble_ids: list[str],
    thresholds: np.ndarray | None = None,
    always_call_top: bool = False,
) -> dict:
    """Metrics dict of one predictor on one set of enzymes (JSON-ready).

    ``always_call_top``: the calls include each enzyme's top-scored ensemble, so the
    best-threshold oracle keeps those calls too (only thresholds differ)."""
    y_true = np.asarray(y_true).astype(int)
    calls = np.asarray(calls).astype(int)
    positive = y_true.sum(axis=0) > 0
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, calls, average=None, zero_division=0
    )
    per_class = {}
    for j, ensemble_id in enumerate(ensemble_ids):
        ap = average_precision_score(y_true[:, j], scores[:, j]) if positive[j] else None
        per_class[ensemble_id] = {
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
    oracle, oracle_calls = best_threshold_calls(y_true, scores, calls, always_call_top)
    oracle_macro_f1 = float(np.mean(oracle)) if oracle else float("nan")
    ece, bins = reliability(scores[calls == 1], y_true[calls == 1])

    def per_labelled(values):
        return values[labelled].mean() if labelled.any() else np.nan

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
        "calls_per_enzyme": _round(per_labelled(calls.sum(axis=1))),
        "true_per_enzyme": _round(per_labelled(y_true.sum(axis=1))),
        "best_threshold_macro_f1": _round(oracle_macro_f1),
        "decision_efficiency": _round(macro_f1 / oracle_macro_f1 if oracle_macro_f1 else np.nan),
        "best_threshold_calls_per_enzyme": _round(per_labelled(oracle_calls.sum(axis=1))),
        "ece_called": ece,
        "reliability": bins,
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


HEADLINE_METRICS = (
    "macro_f1",
    "micro_f1",
    "map",
    "precision_at_1",
    "recall_at_3",
    "call_rate",
    "calls_per_enzyme",
    "true_per_enzyme",
    "decision_efficiency",
    "ece_called",
)


# What the best-threshold oracle behind decision_efficiency reaches, and with how many calls.
ORACLE_METRICS = ("best_threshold_macro_f1", "best_threshold_calls_per_enzyme")


def predictor_metrics(
    calibrated: pd.DataFrame,
    truth: pd.DataFrame,
    calibration: dict,
    ensemble_ids: list[str],
    baseline_members,
    split: str = "test",
) -> dict:
    """``{"model": ..., "baselines": {...}, "components": {...}}`` on one split.

    Baselines are the reference predictors and ``baseline_members`` (the members flagged
    as baselines: ``registry.baseline_names()``, or the train summary's ``baselines``);
    the other members are components.

    ``calibrated``: long layout (id, split, predictor, one column per class) of calibrated
    probabilities; ``truth``: labels indexed by id; ``calibration``: thresholds.json content.
    Calls use the calibrated per-class thresholds (+ the top ensemble when
    ``always_call_top``), exactly as the predict stage does.
    """
    from terpene_ensembles.learning.calibration import calls_from_thresholds, thresholds_vector

    always_call_top = bool(calibration["settings"]["always_call_top"])
    rows = calibrated[calibrated["split"] == split]
    out = {"model": None, "baselines": {}, "components": {}}
    for predictor, group in rows.groupby("predictor", sort=False):
        scores = group[ensemble_ids].to_numpy(dtype=np.float64)
        thresholds = thresholds_vector(calibration["predictors"][predictor], ensemble_ids)
        calls = calls_from_thresholds(calibration, predictor, scores, ensemble_ids)
        y = truth.loc[group["id"], ensemble_ids].to_numpy()
        result = multilabel_metrics(y, scores, calls, ensemble_ids, thresholds, always_call_top)
        if predictor == "model":
            out["model"] = result
        elif predictor in REFERENCE_PREDICTORS or predictor in baseline_members:
            out["baselines"][predictor] = result
        else:
            out["components"][predictor] = result
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


def baseline_members_of(test: dict) -> list[str]:
    """The baselines of a metrics section that are members (not the reference predictors)."""
    return [name for name in test["baselines"] if name not in REFERENCE_PREDICTORS]


def acceptance(test: dict) -> dict:
    """Release checks on one test set: the model against the best baseline member (kNN and
    logistic regression; on the small test split it must only not fall below it)."""
    model = test["model"]
    baselines = [test["baselines"][name] for name in baseline_members_of(test)]

    def best(metric):
        values = [b[metric] for b in baselines if b[metric] is not None]
        return max(values) if values else None

    def difference(a, b):
        return _round(a - b) if a is not None and b is not None else None

    calls, true = model["calls_per_enzyme"], model["true_per_enzyme"]
    checks = {
        "precision_at_1_minus_best_baseline": difference(
            model["precision_at_1"], best("precision_at_1")
        ),
        "map_minus_best_baseline": difference(model["map"], best("map")),
        "decision_efficiency": model["decision_efficiency"],
        "calls_per_true_ensemble": _round(calls / true) if calls is not None and true else None,
        "call_rate": model["call_rate"],
    }
    checks["passed"] = bool(
        at_least(checks["precision_at_1_minus_best_baseline"], 0)
        and at_least(checks["map_minus_best_baseline"], 0)
        and at_least(1.5, checks["calls_per_true_ensemble"])
    )
    return checks


def at_least(value, bound) -> bool:
    """value >= bound, False when either is missing."""
    return value is not None and bound is not None and value >= bound
