"""Per-class probability calibration and decision thresholds, fitted on out-of-fold rows.

The rows are the development enzymes' out-of-fold (cross-fitted) scores, never test rows.
For each class: Platt scaling (logistic regression on the logit of the raw score) or
isotonic regression, chosen by cross-validated Brier score *within* those rows (scoring a
method on the data it was fitted on would always favour isotonic). The threshold then
maximises the out-of-fold F1 of the calibrated probabilities.

Classes with fewer than ``min_positives`` positives (too few to trust a per-class fit)
share one Platt calibrator fitted on all (enzyme, class) pairs pooled
(``params.pooled = true``) and the global threshold that maximises pooled (micro) F1.
Calibrators are plain numbers (Platt: a, b; isotonic: x/y knots interpolated by
``np.interp``), so model bundles load with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import average_precision_score
from sklearn.model_selection import StratifiedKFold

from terpene_ensembles.errors import ConfigError, InputDataError
from terpene_ensembles.learning.training_data import OOF_SPLIT
from terpene_ensembles.settings import CalibrateConfig

EPSILON = 1e-6
CALLABLE_AP = 0.5
MIN_PLATT_SLOPE = 1e-3


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), EPSILON, 1 - EPSILON)
    return np.log(p / (1 - p))


def fit_platt(scores: np.ndarray, y: np.ndarray, iterations: int = 50) -> dict:
    """Platt scaling p = sigmoid(a * logit(score) + b), by Newton's method.

    A tiny ridge (1e-6) keeps perfectly separable data finite. Written out
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
        # positives is noise): fix the slope, refit the intercept alone.
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


class Platt:
    """p = sigmoid(a * logit(score) + b)."""

    fit = staticmethod(fit_platt)

    @staticmethod
    def apply(params: dict, scores: np.ndarray) -> np.ndarray:
        z = np.clip(params["a"] * _logit(scores) + params["b"], -50, 50)
        return _keep_order(1.0 / (1.0 + np.exp(-z)), scores)


class Isotonic:
    """A monotone step function through the x/y knots, interpolated."""

    fit = staticmethod(fit_isotonic)

    @staticmethod
    def apply(params: dict, scores: np.ndarray) -> np.ndarray:
        return _keep_order(np.interp(scores, params["x"], params["y"]), scores)


class Uncalibrated:
    """The raw scores as they are."""

    @staticmethod
    def fit(scores: np.ndarray, y: np.ndarray) -> dict:
        return {}

    @staticmethod
    def apply(params: dict, scores: np.ndarray) -> np.ndarray:
        return scores


# The calibration methods by the name the config and thresholds.json use.
CALIBRATORS = {"platt": Platt, "isotonic": Isotonic, "none": Uncalibrated}


def calibrator(method: str):
    if method not in CALIBRATORS:
        raise ConfigError(f"unknown calibration method {method!r}", where="calibrate.method")
    return CALIBRATORS[method]


def apply_calibrator(method: str, params: dict, scores: np.ndarray) -> np.ndarray:
    return calibrator(method).apply(params, np.asarray(scores, dtype=np.float64))


def _fit(method: str, scores, y) -> dict:
    return calibrator(method).fit(scores, y)


def choose_method(scores: np.ndarray, y: np.ndarray, seed: int = 0) -> tuple[str, dict]:
    """Platt or isotonic by cross-validated Brier score on out-of-fold rows."""
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


NO_EXTRA_CALLS = 1.0  # a threshold no calibrated probability exceeds


def best_f1_threshold(
    probabilities: np.ndarray,
    y: np.ndarray,
    already_called: np.ndarray | None = None,
    max_calls: float | None = None,
) -> tuple[float, float]:
    """Threshold maximising F1 (midpoint between neighbouring distinct scores).

    ``already_called`` rows are called whatever the threshold (the top call of each
    enzyme): the threshold then decides only the extra calls, and :data:`NO_EXTRA_CALLS`
    is chosen when no extra call improves F1. ``max_calls`` caps the number of calls
    (those already made included) a threshold may give.
    """
    probabilities, y = np.asarray(probabilities, dtype=np.float64), np.asarray(y)
    fixed = np.zeros(len(y), bool) if already_called is None else np.asarray(already_called)
    base_tp, base_called, positives = float(y[fixed].sum()), float(fixed.sum()), float(y.sum())
    rest_p, rest_y = probabilities[~fixed], y[~fixed]
    order = np.argsort(-rest_p, kind="stable")
    sorted_p, sorted_y = rest_p[order], rest_y[order]
    true_positives = base_tp + np.cumsum(sorted_y)
    called = base_called + np.arange(1, len(sorted_y) + 1)
    f1 = 2 * true_positives / np.maximum(called + positives, 1)
    # Only cut where the score changes, so every enzyme at one score is on the same side.
    cut_ok = np.append(sorted_p[:-1] > sorted_p[1:], True)
    f1 = np.where(cut_ok, f1, -1.0)
    if max_calls is not None:
        f1 = np.where(called <= max_calls, f1, -1.0)
    no_extra = 2 * base_tp / max(base_called + positives, 1)
    if not len(f1) or f1.max() < 0 or (already_called is not None and no_extra >= f1.max()):
        return NO_EXTRA_CALLS, float(no_extra)
    best = int(np.argmax(f1))
    below = sorted_p[best + 1] if best + 1 < len(sorted_p) else 0.0
    return float((sorted_p[best] + below) / 2), float(f1[best])


def top_calls(probabilities: np.ndarray) -> np.ndarray:
    """Boolean mask of each enzyme's most probable ensemble."""
    mask = np.zeros(probabilities.shape, dtype=bool)
    if len(probabilities):
        mask[np.arange(len(probabilities)), np.argmax(probabilities, axis=1)] = True
    return mask


def global_threshold(
    probabilities: np.ndarray, labels: np.ndarray, already_called: np.ndarray | None = None
) -> float:
    threshold, _ = best_f1_threshold(
        probabilities.ravel(),
        labels.ravel(),
        None if already_called is None else already_called.ravel(),
    )
    return threshold


def fit_calibration(
    fit_scores: np.ndarray,
    fit_labels: np.ndarray,
    ensemble_ids: list[str],
    method: str = CalibrateConfig.method,
    min_positives: int = CalibrateConfig.min_positives,
    seed: int = 0,
    max_calls_per_positive: float | None = CalibrateConfig.max_calls_per_positive,
    always_call_top: bool = CalibrateConfig.always_call_top,
) -> dict:
    """Per-class calibrators and thresholds of one predictor from its out-of-fold scores.

    With ``always_call_top`` each enzyme's most probable ensemble is called anyway, so the
    thresholds are chosen for the calls beyond it (F1 of "top or above threshold").
    The F1 optimum of a weak scorer sits far down its ranking and would call the class for
    many enzymes; a class's threshold may therefore call it at most
    ``max_calls_per_positive`` times as often as it truly occurs out of fold (None: no
    cap). A class that ranks well out of fold (AP >= :data:`CALLABLE_AP`) but would never
    be called gets its plain F1-optimal threshold (``callable_threshold``).
    """
    fit_labels = np.asarray(fit_labels).astype(int)
    fit_scores = np.asarray(fit_scores, dtype=np.float64)
    n_classes = fit_labels.shape[1]
    # Pooled Platt over every (enzyme, class) pair: the shared scale of the fallback classes.
    pooled = (
        fit_platt(fit_scores.ravel(), fit_labels.ravel())
        if method != "none" and 0 < fit_labels.sum() < fit_labels.size
        else None
    )
    calibrated = np.array(fit_scores, copy=True)
    classes = {}
    for j in range(n_classes):
        y, scores = fit_labels[:, j], fit_scores[:, j]
        positives = int(y.sum())
        entry = {"positives": positives, "fallback": positives < min_positives}
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
        classes[ensemble_ids[j]] = entry
    top = top_calls(calibrated) if always_call_top else np.zeros(calibrated.shape, bool)
    # Global threshold: best pooled (micro) F1 over all classes' calibrated probabilities.
    shared_threshold = global_threshold(calibrated, fit_labels, top)
    for j, ensemble_id in enumerate(ensemble_ids):
        entry = classes[ensemble_id]
        y, p = fit_labels[:, j], calibrated[:, j]
        if entry["fallback"]:
            threshold, oof_f1 = shared_threshold, None
        else:
            cap = None if max_calls_per_positive is None else max_calls_per_positive * y.sum()
            threshold, oof_f1 = best_f1_threshold(p, y, top[:, j], cap)
        never_called = not ((p >= threshold) | top[:, j]).any()
        entry["callable_threshold"] = bool(
            never_called and y.any() and average_precision_score(y, p) >= CALLABLE_AP
        )
        if entry["callable_threshold"]:
            threshold, oof_f1 = best_f1_threshold(p, y)
        entry["threshold"], entry["oof_f1"] = threshold, oof_f1
    return {"global_threshold": shared_threshold, "classes": classes}


def calibrate_scores(calibration: dict, scores: np.ndarray, ensemble_ids: list[str]) -> np.ndarray:
    out = np.empty_like(np.asarray(scores, dtype=np.float64))
    for j, ensemble_id in enumerate(ensemble_ids):
        entry = calibration["classes"][ensemble_id]
        out[:, j] = apply_calibrator(entry["method"], entry["params"], scores[:, j])
    return out


def thresholds_vector(calibration: dict, ensemble_ids: list[str]) -> np.ndarray:
    return np.array([calibration["classes"][c]["threshold"] for c in ensemble_ids])


def call_ensembles(
    probabilities: np.ndarray, thresholds: np.ndarray, always_call_top: bool
) -> np.ndarray:
    """Boolean calls; with ``always_call_top`` every enzyme gets at least its most probable
    ensemble (the top of the calibrated probabilities, whatever the thresholds)."""
    calls = probabilities >= thresholds[None, :]
    if always_call_top:
        calls |= top_calls(probabilities)
    return calls


def called_names(
    probabilities: np.ndarray, calls: np.ndarray, ensemble_ids: list[str]
) -> list[list[str]]:
    """The called ensembles of each enzyme, most probable first (ties: vocabulary order), so
    that a reader meets the top call first."""
    order = np.argsort(-np.asarray(probabilities, dtype=np.float64), axis=1, kind="stable")
    calls = np.asarray(calls, dtype=bool)
    return [[ensemble_ids[j] for j in row if calls[i, j]] for i, row in enumerate(order)]


@dataclass(frozen=True)
class Thresholds:
    """Calibrators, thresholds and the call rule of every predictor (thresholds.json:
    ``{"settings": {"always_call_top": ...}, "predictors": {name: calibration}}``)."""

    predictors: dict[str, dict]
    always_call_top: bool

    @classmethod
    def from_dict(cls, thresholds: dict) -> Thresholds:
        return cls(
            predictors=dict(thresholds["predictors"]),
            always_call_top=bool(thresholds["settings"]["always_call_top"]),
        )

    def to_dict(self) -> dict:
        return {
            "settings": {"always_call_top": self.always_call_top},
            "predictors": self.predictors,
        }

    def calibrate(self, predictor: str, scores: np.ndarray, ensemble_ids: list[str]) -> np.ndarray:
        return calibrate_scores(self.predictors[predictor], scores, ensemble_ids)

    def thresholds(self, predictor: str, ensemble_ids: list[str]) -> np.ndarray:
        return thresholds_vector(self.predictors[predictor], ensemble_ids)

    def calls(self, predictor: str, probabilities: np.ndarray, ensemble_ids: list[str]):
        """The calls of ``predictor`` at its calibrated thresholds."""
        return call_ensembles(
            np.asarray(probabilities, dtype=np.float64),
            self.thresholds(predictor, ensemble_ids),
            self.always_call_top,
        )


def calls_from_thresholds(
    thresholds: dict, predictor: str, probabilities: np.ndarray, ensemble_ids: list[str]
) -> np.ndarray:
    """The calls of ``predictor`` at its calibrated thresholds (thresholds.json layout)."""
    return Thresholds.from_dict(thresholds).calls(predictor, probabilities, ensemble_ids)


# Seed of the calibrators' internal cross-validation (not a config setting).
CALIBRATION_SEED = 0


def calibration_with_settings(
    scores,
    labels,
    ensemble_ids: list[str],
    settings: CalibrateConfig,
    predictor: str = "model",
) -> dict:
    """:func:`fit_calibration` with the ``calibrate`` config section (defaults filled in).

    The model's probabilities come from the stacked combiner, itself a logistic model
    fitted on out-of-fold scores, so they get ``model_method`` (default none); members and
    baselines get ``method``.
    """
    return fit_calibration(
        scores,
        labels,
        ensemble_ids,
        method=settings.model_method if predictor == "model" else settings.method,
        min_positives=int(settings.min_positives),
        seed=CALIBRATION_SEED,
        max_calls_per_positive=settings.max_calls_per_positive,
        always_call_top=bool(settings.always_call_top),
    )


def calibrate_predictions(
    predictions: pd.DataFrame,
    labels: pd.DataFrame,
    ensemble_ids: list[str],
    settings: CalibrateConfig,
) -> tuple[dict, pd.DataFrame]:
    """Fit on the ``oof`` rows of every predictor; apply to all rows (oof and test).

    Returns (thresholds.json content, calibrated predictions in the same long layout).
    Test rows are never looked at when fitting.
    """
    missing = [c for c in ensemble_ids if c not in predictions.columns]
    if missing:
        raise InputDataError(f"predictions lack ensemble columns {missing[:5]}")
    truth = labels.set_index("id")[ensemble_ids]
    result = {"settings": {**settings.as_dict(), "seed": CALIBRATION_SEED}, "predictors": {}}
    calibrated_frames = []
    for predictor, rows in predictions.groupby("predictor", sort=False):
        fit_rows = rows[rows["split"] == OOF_SPLIT]
        if fit_rows.empty:
            raise InputDataError(f"{predictor}: no {OOF_SPLIT!r} rows to calibrate on")
        unknown = set(fit_rows["id"]) - set(truth.index)
        if unknown:
            raise InputDataError(
                f"{predictor}: {OOF_SPLIT} ids without labels, e.g. {sorted(unknown)[:3]}"
            )
        fitted = calibration_with_settings(
            fit_rows[ensemble_ids].to_numpy(dtype=np.float64),
            truth.loc[fit_rows["id"]].to_numpy(),
            ensemble_ids,
            settings,
            predictor,
        )
        result["predictors"][predictor] = fitted
        out = rows.copy()
        out[ensemble_ids] = calibrate_scores(
            fitted, rows[ensemble_ids].to_numpy(np.float64), ensemble_ids
        )
        calibrated_frames.append(out)
    return result, pd.concat(calibrated_frames, ignore_index=True)
