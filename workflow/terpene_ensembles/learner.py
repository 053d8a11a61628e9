"""Fit every predictor on training enzymes and score any set of enzymes with them.

Predictors: fusion (network), knn_identity (homology), logistic_regression (features),
label_prior, random, and ``model``: a weighted mean of fusion, knn_identity and
logistic_regression probabilities whose weights are chosen on validation mAP only (a grid
over the simplex). With random PLM weights the search can give the fusion network a small
or zero weight, so an uninformative branch cannot drag the model down.
"""

from __future__ import annotations

import itertools
import logging

import numpy as np
import pandas as pd

from terpene_ensembles import baselines
from terpene_ensembles.fusion_model import TrainSettings, export_fusion, predict_proba, train_fusion
from terpene_ensembles.metrics import mean_average_precision
from terpene_ensembles.training_data import TrainingData

log = logging.getLogger("terpene_ensembles.learner")

ENSEMBLE_MEMBERS = ("fusion", "knn_identity", "logistic_regression")
PREDICTORS = ("model", "fusion", "knn_identity", "logistic_regression", "label_prior", "random")
DEFAULTS = {"knn_k": 5, "knn_power": 3.0, "lr_c": 0.1, "combination_step": 0.1}


def simplex_grid(n_members: int, step: float) -> list[tuple[float, ...]]:
    units = round(1 / step)
    grid = []
    for combo in itertools.product(range(units + 1), repeat=n_members):
        if sum(combo) == units:
            grid.append(tuple(c / units for c in combo))
    return grid


def choose_combination(
    member_scores: dict[str, np.ndarray], labels: np.ndarray, step: float
) -> tuple[dict[str, float], float]:
    """Weights (summing to 1) maximising validation mAP; ties -> the earlier grid point."""
    names = list(member_scores)
    best_weights, best_map = None, -1.0
    for weights in simplex_grid(len(names), step):
        combined = sum(w * member_scores[n] for w, n in zip(weights, names, strict=True))
        value = mean_average_precision(labels, combined)
        if value > best_map + 1e-9:
            best_weights, best_map = weights, value
    return dict(zip(names, best_weights, strict=True)), best_map


def combine(member_scores: dict[str, np.ndarray], weights: dict[str, float]) -> np.ndarray:
    return sum(weights[n] * member_scores[n] for n in weights)


def fit_predictors(
    train: TrainingData,
    val: TrainingData,
    hits: pd.DataFrame,
    settings: dict,
    device: str = "cpu",
) -> tuple[dict, list[dict]]:
    """Fit all predictors; returns (fitted state as plain python/tensors, fusion history)."""
    options = {**DEFAULTS, **{k: settings[k] for k in DEFAULTS if k in settings}}
    train_settings = TrainSettings.from_dict(settings)
    prior = baselines.label_prior(train.labels)
    lr_params = baselines.fit_logistic_regression(
        train.features, train.labels, c=options["lr_c"], seed=train_settings.seed
    )
    model, scaler, history = train_fusion(
        train.features,
        train.labels,
        val.features,
        val.labels,
        train_settings,
        train_embeddings=train.embeddings,
        val_embeddings=val.embeddings,
        device=device,
    )
    fitted = {
        "ensemble_ids": list(train.ensemble_ids),
        "feature_columns": list(train.feature_columns),
        "plm": dict(train.plm),
        "seed": train_settings.seed,
        "label_prior": prior,
        "logistic_regression": lr_params,
        "fusion": export_fusion(model.cpu(), scaler),
        "knn": {
            "k": int(options["knn_k"]),
            "power": float(options["knn_power"]),
            "reference_ids": [str(i) for i in train.ids],
            "reference_labels": train.labels.astype(np.int8),
        },
        "combination": None,
    }
    val_members = {
        k: v for k, v in score_predictors(fitted, val, hits).items() if k in ENSEMBLE_MEMBERS
    }
    weights, val_map = choose_combination(val_members, val.labels, options["combination_step"])
    log.info("combination weights %s (validation mAP %.4f)", weights, val_map)
    fitted["combination"] = {"weights": weights, "val_map": val_map}
    return fitted, history


def score_predictors(fitted: dict, data: TrainingData, hits: pd.DataFrame) -> dict[str, np.ndarray]:
    """Raw probabilities of every predictor for ``data`` (rows in ``data.ids`` order)."""
    from terpene_ensembles.fusion_model import import_fusion

    n_classes = len(fitted["ensemble_ids"])
    net, scaler = import_fusion(fitted["fusion"])
    fusion_scores = predict_proba(
        net,
        scaler.transform(data.features),
        data.embeddings if net.plm_branch is not None else None,
    )
    knn = fitted["knn"]
    knn_scores, _ = baselines.score_knn_identity(
        data.ids,
        hits,
        knn["reference_ids"],
        np.asarray(knn["reference_labels"], dtype=np.float64),
        fitted["label_prior"],
        k=knn["k"],
        power=knn["power"],
    )
    scores = {
        "fusion": fusion_scores,
        "knn_identity": knn_scores,
        "logistic_regression": baselines.score_logistic_regression(
            fitted["logistic_regression"], data.features
        ),
        "label_prior": baselines.score_label_prior(fitted["label_prior"], len(data.ids)),
        "random": baselines.score_random(data.ids, n_classes, fitted["seed"]),
    }
    if fitted.get("combination"):
        scores["model"] = combine(
            {n: scores[n] for n in ENSEMBLE_MEMBERS}, fitted["combination"]["weights"]
        )
    return scores


def predictions_frame(ids, split: str, scores: dict[str, np.ndarray], ensemble_ids) -> pd.DataFrame:
    """Long layout of the predictions contract: id, split, predictor, one column per class."""
    frames = []
    for predictor in PREDICTORS:
        if predictor not in scores:
            continue
        frame = pd.DataFrame(scores[predictor], columns=list(ensemble_ids))
        frame.insert(0, "predictor", predictor)
        frame.insert(0, "split", split)
        frame.insert(0, "id", list(ids))
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


# --- substrate-level view -----------------------------------------------------------------


def fit_and_score_substrate(
    train: TrainingData,
    val: TrainingData,
    scored: dict[str, TrainingData],
    families_by_id: dict[str, str],
    hits: pd.DataFrame,
    settings: dict,
) -> tuple[list[str], dict[str, dict[str, np.ndarray]]]:
    """Chain-length family (from the MARTS ``Type``; a LABEL only) predicted from sequence.

    Same recipe as the ensemble model without the network: logistic regression on the
    features + identity kNN, combined with a weight chosen on validation mAP; baselines are
    the two members, label prior and random. Enzymes with family "none" are left out.
    Returns (family ids, {set name: {predictor: scores}}).
    """
    options = {**DEFAULTS, **{k: settings[k] for k in DEFAULTS if k in settings}}
    seed = int(settings.get("seed", 42))

    def known(data):
        fam = np.array([families_by_id.get(i, "none") for i in data.ids])
        return data.subset(fam != "none"), fam[fam != "none"]

    train_known, train_families = known(train)
    families = sorted(set(train_families))
    if not families:
        return [], {}
    onehot = np.stack([train_families == f for f in families], axis=1).astype(np.float64)
    prior = onehot.mean(axis=0)
    lr = baselines.fit_logistic_regression(
        train_known.features, onehot, c=options["lr_c"], seed=seed
    )

    def score(data):
        knn, _ = baselines.score_knn_identity(
            data.ids,
            hits,
            list(train_known.ids),
            onehot,
            prior,
            options["knn_k"],
            options["knn_power"],
        )
        return {
            "knn_identity": knn,
            "logistic_regression": baselines.score_logistic_regression(lr, data.features),
            "label_prior": baselines.score_label_prior(prior, len(data.ids)),
            "random": baselines.score_random(data.ids, len(families), seed + 1),
        }

    val_known, val_families = known(val)
    val_scores = score(val_known)
    val_truth = np.stack([val_families == f for f in families], axis=1).astype(int)
    weights, _ = choose_combination(
        {n: val_scores[n] for n in ("knn_identity", "logistic_regression")},
        val_truth,
        options["combination_step"],
    )
    out = {}
    for name, data in scored.items():
        subset, _ = known(data)
        s = score(subset)
        s["model"] = combine({n: s[n] for n in weights}, weights)
        s["ids"] = subset.ids
        out[name] = s
    return families, out
