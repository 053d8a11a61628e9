"""Per-class probability calibration and decision thresholds, fitted on validation only.

For each class: Platt scaling (logistic regression on the logit of the raw score) or
isotonic regression, chosen by cross-validated Brier score *within* the validation set
(scoring a method on the data it was fitted on would always favour isotonic). The
threshold then maximises validation F1 of the calibrated probabilities.

Classes with fewer than ``min_val_positives`` validation positives (too few to trust a
per-class fit) share one Platt calibrator fitted on all (enzyme, class) validation pairs
pooled (``params.pooled = true``) and the global threshold that maximises pooled (micro)
F1. Calibrators are plain numbers (Platt: a, b; isotonic: x/y knots interpolated by
``np.interp``), so model bundles load with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression
from sklearn.model_selection import StratifiedKFold

from terpene_ensembles.errors import ConfigError, InputDataError

EPSILON = 1e-6
MIN_PLATT_SLOPE = 1e-3


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), EPSILON, 1 - EPSILON)
    return np.log(p / (1 - p))


def fit_platt(scores: np.ndarray, y: np.ndarray, iterations: int = 50) -> dict:
    """Platt scaling p = sigmoid(a * logit(score) + b), by Newton's method.

    A tiny ridge (1e-6) keeps perfectly separable validation data finite. Written out
    because it runs for every (predictor, class, CV split): thousands of 2-parameter fits.
    """
    x = _logit(scores)
    y = np.asarray(y, dtype=np.float64)
    design = np.column_stack([x, np.ones_like(x)])
    theta = np.array([1.0, 0.0])
    ridge = 1e-6 * np.eye(2)
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(design @ theta, -50, 50)))
        gradient = design.T @ (p - y) + ridge @ theta
        hessian = (design * (p * (1 - p))[:, None]).T @ design + ridge
        step = np.linalg.solve(hessian, gradient)
        theta -= step
        if np.abs(step).max() < 1e-8:
            break
    if theta[0] < MIN_PLATT_SLOPE:
        # A calibrator must never reverse the ranking (a flat or negative slope on a few
        # validation positives is noise): fix the slope, refit the intercept alone.
        theta[0] = MIN_PLATT_SLOPE
        theta[1] = float(_logit(np.array([y.mean()]))[0] - MIN_PLATT_SLOPE * x.mean())
        for _ in range(iterations):
            p = 1.0 / (1.0 + np.exp(-np.clip(design @ theta, -50, 50)))
            step = (np.sum(p - y) + 1e-6 * theta[1]) / (np.sum(p * (1 - p)) + 1e-6)
            theta[1] -= step
            if abs(step) < 1e-8:
                break
    return {"a": float(theta[0]), "b": float(theta[1])}


def fit_isotonic(scores: np.ndarray, y: np.ndarray) -> dict:
    model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(scores, y)
    return {
        "x": [float(v) for v in model.X_thresholds_],
        "y": [float(v) for v in model.y_thresholds_],
    }


def _keep_order(calibrated: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Mix in a 1e-6 share of the raw score: isotonic's flat steps (small-sample artefacts)
    and saturated sigmoids would otherwise create artificial ties that degrade rankings."""
    return (1 - 1e-6) * calibrated + 1e-6 * np.clip(scores, 0.0, 1.0)


def apply_calibrator(method: str, params: dict, scores: np.ndarray) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64)
    if method == "platt":
        z = np.clip(params["a"] * _logit(scores) + params["b"], -50, 50)
        return _keep_order(1.0 / (1.0 + np.exp(-z)), scores)
    if method == "isotonic":
        return _keep_order(np.interp(scores, params["x"], params["y"]), scores)
    if method == "none":
        return scores
    raise ConfigError(f"unknown calibration method {method!r}", where="calibrate.method")


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
    max_called_fraction: float = 0.25,
) -> dict:
    """Per-class calibrators and thresholds of one predictor from its validation scores.

    A class whose F1-optimal threshold calls more than ``max_called_fraction`` of the
    validation enzymes shows no skill beyond "call everything" (the F1 optimum of a weak
    scorer sits at about half its F1, far down the ranking); its threshold is raised to the
    global one so that it does not flood every enzyme's calls (``broad_threshold_raised``).
    """
    val_labels = np.asarray(val_labels).astype(int)
    val_scores = np.asarray(val_scores, dtype=np.float64)
    n_classes = val_labels.shape[1]
    # Pooled Platt over every (enzyme, class) pair: the shared scale of the fallback classes.
    pooled = (
        fit_platt(val_scores.ravel(), val_labels.ravel())
        if method != "none" and 0 < val_labels.sum() < val_labels.size
        else None
    )
    calibrated = np.array(val_scores, copy=True)
    classes = {}
    for j in range(n_classes):
        y, scores = val_labels[:, j], val_scores[:, j]
        positives = int(y.sum())
        entry = {"val_positives": positives, "fallback": positives < min_val_positives}
        chosen, params, brier = "none", {}, {}
        if method == "none":
            pass
        elif entry["fallback"] or positives == len(y):
            if pooled is not None:
                chosen, params = "platt", dict(pooled, pooled=True)
        else:
            chosen, brier = choose_method(scores, y, seed) if method == "auto" else (method, {})
            params = _fit(chosen, scores, y)
        entry.update(method=chosen, params=params, cv_brier=brier)
        calibrated[:, j] = apply_calibrator(chosen, params, scores)
        classes[class_ids[j]] = entry
    # Global threshold: best pooled (micro) F1 over all classes' calibrated probabilities.
    shared_threshold = global_threshold(calibrated, val_labels)
    for j, class_id in enumerate(class_ids):
        entry = classes[class_id]
        if entry["fallback"]:
            entry["threshold"], entry["val_f1"] = shared_threshold, None
        else:
            threshold, val_f1 = best_f1_threshold(calibrated[:, j], val_labels[:, j])
            called = float((calibrated[:, j] > threshold).mean())
            entry["broad_threshold_raised"] = called > max_called_fraction
            if entry["broad_threshold_raised"]:
                threshold = max(threshold, shared_threshold)
            entry["threshold"], entry["val_f1"] = threshold, val_f1
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


CALIBRATE_DEFAULTS = {
    "method": "auto",
    "min_val_positives": 3,
    "max_called_fraction": 0.25,
    "always_call_top": True,
    "seed": 0,
}


def calibrate_predictions(
    predictions: pd.DataFrame, labels: pd.DataFrame, ensemble_ids: list[str], settings: dict
) -> tuple[dict, pd.DataFrame]:
    """Fit on the ``val`` rows of every predictor; apply to all rows (val and test).

    Returns (thresholds.json content, calibrated predictions in the same long layout).
    Test rows are never looked at when fitting.
    """
    settings = {**CALIBRATE_DEFAULTS, **settings}
    missing = [c for c in ensemble_ids if c not in predictions.columns]
    if missing:
        raise InputDataError(f"predictions lack ensemble columns {missing[:5]}")
    truth = labels.set_index("id")[ensemble_ids]
    result = {"settings": settings, "predictors": {}}
    calibrated_frames = []
    for predictor, rows in predictions.groupby("predictor", sort=False):
        val = rows[rows["split"] == "val"]
        if val.empty:
            raise InputDataError(f"{predictor}: no validation rows to calibrate on")
        unknown = set(val["id"]) - set(truth.index)
        if unknown:
            raise InputDataError(
                f"{predictor}: validation ids without labels, e.g. {sorted(unknown)[:3]}"
            )
        fitted = fit_calibration(
            val[ensemble_ids].to_numpy(dtype=np.float64),
            truth.loc[val["id"]].to_numpy(),
            ensemble_ids,
            method=settings["method"],
            min_val_positives=int(settings["min_val_positives"]),
            seed=int(settings["seed"]),
            max_called_fraction=float(settings["max_called_fraction"]),
        )
        result["predictors"][predictor] = fitted
        out = rows.copy()
        out[ensemble_ids] = calibrate_scores(
            fitted, rows[ensemble_ids].to_numpy(np.float64), ensemble_ids
        )
        calibrated_frames.append(out)
    return result, pd.concat(calibrated_frames, ignore_index=True)
