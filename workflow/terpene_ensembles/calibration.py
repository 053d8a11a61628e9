"""Per-class probability calibration and decision thresholds, fitted on validation only.

For each class: Platt scaling (logistic regression on the logit of the raw score) or
isotonic regression, chosen by cross-validated Brier score *within* the validation set
(scoring a method on the data it was fitted on would always favour isotonic). The
threshold then maximises validation F1 of the calibrated probabilities. Classes with fewer
than ``min_val_positives`` validation positives get no calibration (identity) and the
global threshold that maximises pooled (micro) F1 over all classes: too few positives to
trust a per-class fit. Calibrators are stored as plain numbers (Platt: a, b; isotonic: the
x/y knots interpolated by ``np.interp``), so bundles load with ``weights_only=True``.
"""

from __future__ import annotations

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

EPSILON = 1e-6


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), EPSILON, 1 - EPSILON)
    return np.log(p / (1 - p))


def fit_platt(scores: np.ndarray, y: np.ndarray) -> dict:
    model = LogisticRegression(C=1e4, max_iter=1000).fit(_logit(scores)[:, None], y)
    return {"a": float(model.coef_[0, 0]), "b": float(model.intercept_[0])}


def fit_isotonic(scores: np.ndarray, y: np.ndarray) -> dict:
    model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(scores, y)
    return {
        "x": [float(v) for v in model.X_thresholds_],
        "y": [float(v) for v in model.y_thresholds_],
    }


def apply_calibrator(method: str, params: dict, scores: np.ndarray) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64)
    if method == "platt":
        return 1.0 / (1.0 + np.exp(-(params["a"] * _logit(scores) + params["b"])))
    if method == "isotonic":
        return np.interp(scores, params["x"], params["y"])
    if method == "none":
        return scores
    raise ValueError(f"unknown calibration method {method!r}")


def _fit(method: str, scores, y) -> dict:
    return fit_platt(scores, y) if method == "platt" else fit_isotonic(scores, y)


def choose_method(scores: np.ndarray, y: np.ndarray, seed: int = 0) -> tuple[str, dict]:
    """Platt or isotonic by cross-validated Brier score on validation data."""
    n_splits = int(min(3, y.sum(), len(y) - y.sum()))
    if n_splits < 2:
        return "platt", {}
    folds = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    brier = {}
    for method in ("platt", "isotonic"):
        errors = []
        for fit_rows, held_rows in folds.split(scores, y):
            params = _fit(method, scores[fit_rows], y[fit_rows])
            predicted = apply_calibrator(method, params, scores[held_rows])
            errors.append(np.mean((predicted - y[held_rows]) ** 2))
        brier[method] = float(np.mean(errors))
    best = min(brier, key=lambda m: (brier[m], m != "platt"))  # ties -> the simpler Platt
    return best, brier


def best_f1_threshold(probabilities: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Threshold maximising F1 (midpoint between neighbouring distinct scores)."""
    order = np.argsort(-probabilities, kind="stable")
    sorted_p, sorted_y = probabilities[order], y[order]
    true_positives = np.cumsum(sorted_y)
    called = np.arange(1, len(y) + 1)
    f1 = 2 * true_positives / (called + y.sum())
    # Only cut where the score changes, so every enzyme at one score is on the same side.
    cut_ok = np.append(sorted_p[:-1] > sorted_p[1:], True)
    f1 = np.where(cut_ok, f1, -1.0)
    best = int(np.argmax(f1))
    below = sorted_p[best + 1] if best + 1 < len(sorted_p) else 0.0
    return float((sorted_p[best] + below) / 2), float(f1[best])


def global_threshold(probabilities: np.ndarray, labels: np.ndarray) -> float:
    threshold, _ = best_f1_threshold(probabilities.ravel(), labels.ravel())
    return threshold


def fit_calibration(
    val_scores: np.ndarray,
    val_labels: np.ndarray,
    class_ids: list[str],
    method: str = "auto",
    min_val_positives: int = 3,
    seed: int = 0,
) -> dict:
    """Per-class calibrators and thresholds of one predictor from its validation scores."""
    val_labels = np.asarray(val_labels).astype(int)
    n_classes = val_labels.shape[1]
    calibrated = np.array(val_scores, dtype=np.float64, copy=True)
    classes = {}
    for j in range(n_classes):
        y, scores = val_labels[:, j], val_scores[:, j]
        positives = int(y.sum())
        entry = {"val_positives": positives, "fallback": positives < min_val_positives}
        chosen, params, brier = "none", {}, {}
        if not entry["fallback"] and method != "none" and positives < len(y):
            if method == "auto":
                chosen, brier = choose_method(scores, y, seed)
            else:
                chosen = method
            params = _fit(chosen, scores, y)
        entry.update(method=chosen, params=params, cv_brier=brier)
        calibrated[:, j] = apply_calibrator(chosen, params, scores)
        classes[class_ids[j]] = entry
    # Global threshold over the classes with enough validation positives (pooled F1).
    trusted = [j for j in range(n_classes) if not classes[class_ids[j]]["fallback"]]
    pool = trusted or list(range(n_classes))
    shared_threshold = global_threshold(calibrated[:, pool], val_labels[:, pool])
    for j, class_id in enumerate(class_ids):
        entry = classes[class_id]
        if entry["fallback"]:
            entry["threshold"], entry["val_f1"] = shared_threshold, None
        else:
            entry["threshold"], entry["val_f1"] = best_f1_threshold(
                calibrated[:, j], val_labels[:, j]
            )
    return {"global_threshold": shared_threshold, "classes": classes}


def calibrate_scores(calibration: dict, scores: np.ndarray, class_ids: list[str]) -> np.ndarray:
    out = np.empty_like(np.asarray(scores, dtype=np.float64))
    for j, class_id in enumerate(class_ids):
        entry = calibration["classes"][class_id]
        out[:, j] = apply_calibrator(entry["method"], entry["params"], scores[:, j])
    return out


def thresholds_vector(calibration: dict, class_ids: list[str]) -> np.ndarray:
    return np.array([calibration["classes"][c]["threshold"] for c in class_ids])


def call_ensembles(
    probabilities: np.ndarray, thresholds: np.ndarray, always_call_top: bool
) -> np.ndarray:
    """Boolean calls; with ``always_call_top`` every enzyme gets at least its top ensemble."""
    calls = probabilities >= thresholds[None, :]
    if always_call_top and len(probabilities):
        # Top by margin over the class threshold, so the call is the closest to being made.
        margin = probabilities - thresholds[None, :]
        top = np.argmax(margin, axis=1)
        calls[np.arange(len(calls)), top] = True
    return calls
