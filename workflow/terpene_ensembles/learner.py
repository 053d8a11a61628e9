"""Fit every predictor on training enzymes and score any set of enzymes with them.

Predictors: fusion (network), knn_identity (homology), logistic_regression (features),
label_prior, random, and ``model``, a homology-gated combination:

    learned = w_fusion * fusion + (1 - w_fusion) * logistic_regression
    gate    = w_knn * clip((best_identity - low) / (high - low), 0, 1)
    model   = gate * knn_identity + (1 - gate) * learned

``best_identity`` is the enzyme's highest MMseqs2 identity to a training enzyme: close
homologs make annotation transfer trustworthy, remote ones leave it to the learned
scorers. (w_fusion, w_knn, low, high) are picked on validation mAP only, from a small
grid. With random PLM weights the search can give the fusion network zero weight, so an
uninformative branch cannot drag the model down.
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
DEFAULTS = {"knn_k": 5, "knn_power": 3.0, "lr_c": "auto"}
LR_C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0)


def fit_logistic_regression_on_validation(train, val, lr_c, seed: int) -> dict:
    """Logistic regression with C fixed, or (``"auto"``) the C of LR_C_GRID that gives the
    best validation mAP."""
    if lr_c != "auto":
        return baselines.fit_logistic_regression(train.features, train.labels, float(lr_c), seed)
    best, best_map = None, -1.0
    for c in LR_C_GRID:
        params = baselines.fit_logistic_regression(train.features, train.labels, c, seed)
        value = mean_average_precision(
            val.labels, baselines.score_logistic_regression(params, val.features)
        )
        if value > best_map + 1e-9:
            best, best_map = params, value
    log.info("logistic regression: C = %s (validation mAP %.4f)", best["c"], best_map)
    return best


COMBINATION_GRID = {
    "fusion_weight": (0.0, 0.25, 0.5, 0.75, 1.0),
    "knn_weight": (0.0, 0.25, 0.5, 0.75, 1.0),
    "identity_window": ((0.0, 0.2), (0.0, 0.4), (0.3, 0.5), (0.3, 0.7), (0.5, 0.7), (0.5, 0.9)),
}


def combine(members: dict[str, np.ndarray], best_identity: np.ndarray, params: dict) -> np.ndarray:
    """The gated combination of the module docstring (rows aligned with best_identity)."""
    learned = (
        params["fusion_weight"] * members["fusion"]
        + (1 - params["fusion_weight"]) * (members["logistic_regression"])
    )
    low, high = params["identity_low"], params["identity_high"]
    gate = params["knn_weight"] * np.clip((best_identity - low) / (high - low), 0.0, 1.0)
    return gate[:, None] * members["knn_identity"] + (1 - gate[:, None]) * learned


def choose_combination(
    members: dict[str, np.ndarray], best_identity: np.ndarray, labels: np.ndarray
) -> dict:
    """Grid point with the best validation mAP; ties -> the first (simplest) point."""
    best_params, best_map = None, -1.0
    for fusion_weight, knn_weight, (low, high) in itertools.product(
        COMBINATION_GRID["fusion_weight"],
        COMBINATION_GRID["knn_weight"],
        COMBINATION_GRID["identity_window"],
    ):
        if knn_weight == 0 and (low, high) != COMBINATION_GRID["identity_window"][0]:
            continue  # the window is irrelevant without the kNN term
        params = {
            "fusion_weight": fusion_weight,
            "knn_weight": knn_weight,
            "identity_low": low,
            "identity_high": high,
        }
        value = mean_average_precision(labels, combine(members, best_identity, params))
        if value > best_map + 1e-9:
            best_params, best_map = params, value
    return {**best_params, "val_map": best_map}


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
    lr_params = fit_logistic_regression_on_validation(
        train, val, options["lr_c"], train_settings.seed
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
    val_scores = score_predictors(fitted, val, hits)
    fitted["combination"] = choose_combination(val_scores, val_scores["best_identity"], val.labels)
    log.info("combination %s", fitted["combination"])
    return fitted, history


def score_predictors(fitted: dict, data: TrainingData, hits: pd.DataFrame) -> dict[str, np.ndarray]:
    """Raw probabilities of every predictor for ``data`` (rows in ``data.ids`` order),
    plus ``best_identity`` (highest identity to a kNN reference enzyme, 0 without hits)."""
    from terpene_ensembles.fusion_model import import_fusion

    n_classes = len(fitted["ensemble_ids"])
    net, scaler = import_fusion(fitted["fusion"])
    fusion_scores = predict_proba(
        net,
        scaler.transform(data.features),
        data.embeddings if net.plm_branch is not None else None,
    )
    knn = fitted["knn"]
    knn_scores, best_identity = baselines.score_knn_identity(
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
        scores["model"] = combine(scores, best_identity, fitted["combination"])
    scores["best_identity"] = best_identity
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


def _family_order(family: str):
    digits = "".join(ch for ch in family if ch.isdigit())
    return (int(digits) if digits else 10**6, family)


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
    the two members, label prior and random. Multi-substrate enzymes ("C10+C15") are
    positive for each family (multi-label); enzymes with family "none" are left out.
    Returns (family ids, {set name: {predictor: scores}}).
    """
    options = {**DEFAULTS, **{k: settings[k] for k in DEFAULTS if k in settings}}
    seed = int(settings.get("seed", 42))

    def known(data):
        fam = np.array([families_by_id.get(i, "none") for i in data.ids])
        return data.subset(fam != "none"), fam[fam != "none"]

    def onehot(values, family_ids):
        sets = [set(v.split("+")) for v in values]
        return np.array([[f in s for f in family_ids] for s in sets], dtype=np.float64).reshape(
            len(sets), len(family_ids)
        )

    train_known, train_families = known(train)
    families = sorted({f for v in train_families for f in v.split("+")}, key=_family_order)
    if not families:
        return [], {}
    train_truth = onehot(train_families, families)
    prior = train_truth.mean(axis=0)
    lr = baselines.fit_logistic_regression(
        train_known.features,
        train_truth,
        c=0.1 if options["lr_c"] == "auto" else float(options["lr_c"]),
        seed=seed,
    )

    def score(data):
        knn, best_identity = baselines.score_knn_identity(
            data.ids,
            hits,
            list(train_known.ids),
            train_truth,
            prior,
            options["knn_k"],
            options["knn_power"],
        )
        return {
            "knn_identity": knn,
            "logistic_regression": baselines.score_logistic_regression(lr, data.features),
            "label_prior": baselines.score_label_prior(prior, len(data.ids)),
            "random": baselines.score_random(data.ids, len(families), seed + 1),
            "fusion": np.zeros((len(data.ids), len(families))),  # no network for substrates
            "best_identity": best_identity,
        }

    val_known, val_families = known(val)
    val_scores = score(val_known)
    params = choose_combination(
        {**val_scores, "fusion": np.zeros_like(val_scores["fusion"])},
        val_scores["best_identity"],
        onehot(val_families, families),
    )
    out = {}
    for name, data in scored.items():
        subset, _ = known(data)
        s = score(subset)
        s["model"] = combine(s, s.pop("best_identity"), params)
        s.pop("fusion")
        s["ids"] = subset.ids
        out[name] = s
    return families, out
