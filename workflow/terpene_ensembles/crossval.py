"""Grouped k-fold cross-validation of the whole learning recipe.

Fold ``f`` is the test set, fold ``(f + 1) % k`` the validation set (early stopping,
combination weights, calibration, thresholds), the other folds train. Folds are whole
MMseqs2 clusters (split stage), so each fold measures generalisation to unseen families.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from terpene_ensembles import learner
from terpene_ensembles.calibration import calibrate_predictions
from terpene_ensembles.metrics import (
    HEADLINE_METRICS,
    acceptance,
    predictor_metrics,
    substrate_metrics,
)
from terpene_ensembles.training_data import TrainingData, TrainingInputError


def fold_roles(folds: np.ndarray, fold: int) -> np.ndarray:
    k = int(folds.max()) + 1
    if not 0 <= fold < k:
        raise TrainingInputError(f"fold {fold} outside 0..{k - 1}")
    roles = np.full(len(folds), "train", dtype=object)
    roles[folds == fold] = "test"
    roles[folds == (fold + 1) % k] = "val"
    return roles


def run_fold(
    data: TrainingData,
    folds: np.ndarray,
    fold: int,
    hits: pd.DataFrame,
    families_by_id: dict[str, str],
    train_settings: dict,
    calibrate_settings: dict,
    device: str = "cpu",
) -> dict:
    roles = fold_roles(folds, fold)
    parts = {name: data.subset(roles == name) for name in ("train", "val", "test")}
    for name, part in parts.items():
        if len(part.ids) == 0:
            raise TrainingInputError(f"fold {fold}: no {name} enzymes")
    fitted, history = learner.fit_predictors(
        parts["train"], parts["val"], hits, train_settings, device
    )
    frames = [
        learner.predictions_frame(
            parts[name].ids,
            name,
            learner.score_predictors(fitted, parts[name], hits),
            data.ensemble_ids,
        )
        for name in ("val", "test")
    ]
    labels = pd.DataFrame(data.labels, columns=data.ensemble_ids)
    labels.insert(0, "id", data.ids)
    calibration, calibrated = calibrate_predictions(
        pd.concat(frames, ignore_index=True), labels, data.ensemble_ids, calibrate_settings
    )
    test = predictor_metrics(
        calibrated, labels.set_index("id"), calibration, data.ensemble_ids, "test"
    )
    families, substrate = learner.fit_and_score_substrate(
        parts["train"], parts["val"], {"test": parts["test"]}, families_by_id, hits, train_settings
    )
    substrate_rows = []
    for predictor in learner.PREDICTORS:
        if predictor in substrate.get("test", {}):
            frame = pd.DataFrame(substrate["test"][predictor], columns=families)
            frame.insert(0, "predictor", predictor)
            frame.insert(0, "split", "test")
            frame.insert(0, "id", substrate["test"]["ids"])
            substrate_rows.append(frame)
    substrate_view = (
        substrate_metrics(pd.concat(substrate_rows, ignore_index=True), families_by_id)
        if substrate_rows
        else {}
    )
    return {
        "fold": fold,
        "n_train": len(parts["train"].ids),
        "n_val": len(parts["val"].ids),
        "n_test": len(parts["test"].ids),
        "fusion_epochs": len(history),
        "combination": fitted["combination"],
        "test": test,
        "acceptance": acceptance(test),
        "substrate": substrate_view,
    }


def _stats(values: list[float]) -> dict:
    clean = [v for v in values if v is not None]
    return {
        "mean": round(float(np.mean(clean)), 6) if clean else None,
        "std": round(float(np.std(clean, ddof=1)), 6) if len(clean) > 1 else None,
        "values": values,
    }


def summarise(fold_metrics: list[dict]) -> dict:
    """Mean and sample std per predictor and headline metric over the folds."""
    fold_metrics = sorted(fold_metrics, key=lambda m: m["fold"])
    predictors = {"model": lambda t: t["model"]}
    for name in fold_metrics[0]["test"]["baselines"]:
        predictors[name] = lambda t, n=name: t["baselines"][n]
    for name in fold_metrics[0]["test"].get("components", {}):
        predictors[name] = lambda t, n=name: t["components"][n]
    summary = {"n_folds": len(fold_metrics)}
    for name, getter in predictors.items():
        entry = {m: _stats([getter(f["test"])[m] for f in fold_metrics]) for m in HEADLINE_METRICS}
        substrate = [
            (
                f["substrate"].get("model")
                if name == "model"
                else f["substrate"]["baselines"].get(name)
            )
            if f.get("substrate")
            else None
            for f in fold_metrics
        ]
        if any(s for s in substrate):
            entry["substrate_map"] = _stats([s["map"] if s else None for s in substrate])
        summary[name] = entry
    model_map = summary["model"]["map"]["mean"]
    knn = summary.get("knn_identity", {})
    summary["acceptance"] = {
        "map_ratio_vs_knn": round(model_map / knn["map"]["mean"], 6) if knn else None,
        "macro_f1_model_minus_knn": round(
            summary["model"]["macro_f1"]["mean"] - knn["macro_f1"]["mean"], 6
        )
        if knn
        else None,
        "folds_passed": sum(bool(f["acceptance"]["passed"]) for f in fold_metrics),
    }
    summary["acceptance"]["passed"] = bool(
        (summary["acceptance"]["map_ratio_vs_knn"] or 0) >= 1.2
        and (summary["acceptance"]["macro_f1_model_minus_knn"] or -1) >= 0
    )
    summary["folds"] = [
        {k: f[k] for k in ("fold", "n_train", "n_val", "n_test", "fusion_epochs", "combination")}
        for f in fold_metrics
    ]
    return summary
