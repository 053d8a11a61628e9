"""Fit every predictor on the development enzymes by cross-fitting, and score any enzymes.

The procedure (:func:`fit_predictors`), identical for the final model and inside every
outer cross-validation fold:

1. Inner folds are whole MMseqs2 clusters of the development enzymes (the grouped CV folds
   of the split stage restricted to them), so no cluster straddles an inner fold.
2. Every member is fitted on all inner folds but one and scores the held-out fold: the
   out-of-fold (OOF) scores of every development enzyme. A member's hyper-parameter (the
   L2 strength of a linear member) is the grid value with the best OOF mAP.
3. The members are refitted on all development enzymes with their chosen values.
4. The stacked combiner (:mod:`stacking`) is fitted on the OOF member scores; its own OOF
   probabilities (combiner cross-fitted over the same inner folds) are what calibration and
   thresholds are chosen on downstream.

Members:
- ``knn_identity``: identity-weighted labels of the nearest training enzymes (MMseqs2).
- ``identity_kernel``: the labels of every training homolog (MMseqs2 hits), weighted by
  similarity ** ``train.kernel_power``, where similarity is ``train.kernel_similarity``
  (default: the bit score per residue of the longer protein), a sharp kernel: the closest
  full-length homologs dominate, the others break ties and fill in where there is no close
  one.
- ``logistic_regression``: one-vs-rest L2 logistic regression on all engineered features
  (length, composition, motifs, Pfam scores, kingdom): the reference baseline, always fitted.
- ``positions``: one-vs-rest L2 logistic regression on the alignment-position one-hot
  (:mod:`alignment_positions`) plus the engineered features (less
  ``train.exclude_feature_groups``).
- ``plm``: one-vs-rest L2 logistic regression on the PLM mean embeddings.
- ``fusion``: the fusion network (PLM branch + feature branch), optional.

Which members the model combines is ``train.members``; a listed member whose input is
absent (``plm`` without embeddings) is left out and logged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from terpene_ensembles.features.alignment_positions import PositionEncoder
from terpene_ensembles.features.sequence_features import feature_group
from terpene_ensembles.learning import baselines, stacking
from terpene_ensembles.learning.metrics import mean_average_precision
from terpene_ensembles.learning.training_data import OOF_SPLIT, TrainingData, TrainingInputError
from terpene_ensembles.settings import TRAIN_MEMBERS, TrainConfig

log = logging.getLogger(__name__)

MEMBERS = TRAIN_MEMBERS
PREDICTORS = ("model", *MEMBERS, "label_prior", "random")
TORCH_MEMBERS = ("fusion",)  # the others are numpy / scikit-learn
LR_C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0)
POSITIONS_C_GRID = (0.03, 0.1, 0.3)
PLM_C_GRID = (0.01, 0.1)
POSITION_COMPONENTS = 256


def active_members(settings: TrainConfig, data: TrainingData) -> list[str]:
    members = []
    for name in settings.members:
        if name == "plm" and data.embeddings is None:
            log.info("member plm left out: no PLM embeddings (plm.enabled is false)")
            continue
        if name == "positions" and data.positions is None:
            log.info("member positions left out: no positions table")
            continue
        members.append(name)
    if not members:
        raise TrainingInputError("train.members: no member has its input")
    return members


# --- member inputs --------------------------------------------------------------------------


def engineered_columns(columns: list[str], exclude: list[str]) -> np.ndarray:
    """Indices of the feature columns whose group is not excluded."""
    kept = [i for i, c in enumerate(columns) if feature_group(c) not in set(exclude)]
    return np.array(kept, dtype=np.int64)


def _standardise(x: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    return (x - mean) / scale


def _scaler(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    return mean, scale


# --- members --------------------------------------------------------------------------------


def _c_grid(name: str, settings: TrainConfig) -> tuple:
    if name == "logistic_regression":
        return LR_C_GRID if settings.lr_c == "auto" else (float(settings.lr_c),)
    if name == "positions":
        return POSITIONS_C_GRID
    if name == "plm":
        return PLM_C_GRID
    return (None,)


def _columns(data: TrainingData, settings: TrainConfig) -> np.ndarray:
    return engineered_columns(data.feature_columns, settings.exclude_feature_groups)


def fit_member_grid(
    name: str, train: TrainingData, cs, settings: TrainConfig, device: str = "cpu"
) -> dict:
    """Fitted parameters of one member for every value of its grid ``cs`` ({c: params})."""
    if name == "positions":
        return _fit_positions(train, cs, settings)
    if name == "logistic_regression":  # the baseline: every engineered group, always
        columns = np.arange(len(train.feature_columns))
        path = baselines.fit_logistic_regression_path(train.features[:, columns], train.labels, cs)
        return {c: {**params, "columns": columns} for c, params in path.items()}
    if name == "plm":
        return baselines.fit_logistic_regression_path(train.embeddings, train.labels, cs)
    return {c: fit_member(name, train, c, settings, device) for c in cs}


def _homology_member(train: TrainingData, k: int | None, power: float, similarity: str) -> dict:
    return {
        "k": k,
        "power": float(power),
        "similarity": similarity,
        "reference_ids": [str(i) for i in train.ids],
        "reference_labels": train.labels.astype(np.int8),
        "prior": baselines.label_prior(train.labels),
    }


def fit_member(
    name: str, train: TrainingData, c, settings: TrainConfig, device: str = "cpu"
) -> dict:
    if name == "knn_identity":
        return _homology_member(train, int(settings.knn_k), settings.knn_power, "identity")
    if name == "identity_kernel":
        return _homology_member(train, None, settings.kernel_power, settings.kernel_similarity)
    if name in ("logistic_regression", "positions", "plm"):
        return fit_member_grid(name, train, (c,), settings, device)[c]
    if name == "fusion":
        return _fit_fusion(train, settings, device)
    raise ValueError(f"unknown member {name!r}")


def _position_design(encoder: PositionEncoder, data: TrainingData, columns, mean, scale):
    """[alignment one-hot | standardised engineered features] as a sparse matrix."""
    onehot = encoder.transform(data.positions)
    dense = _standardise(data.features[:, columns], mean, scale)
    return sparse.hstack([onehot, sparse.csr_matrix(dense)]).tocsr()


def _fit_positions(train: TrainingData, cs, settings: TrainConfig) -> dict:
    """Logistic regression on the leading principal components of the positions design.

    The design (about 15k one-hot columns + the engineered features) is projected on its
    :data:`POSITION_COMPONENTS` leading principal components (eigenvectors of the enzymes'
    Gram matrix: cheap with a few hundred enzymes); one-vs-rest L2 logistic regression is
    fitted there. The PCA and the regression are linear, so they fold into one weight
    vector per class over the original columns, which is what is stored and applied.
    """
    encoder = PositionEncoder.fit(train.positions, settings.position_min_coverage)
    columns = _columns(train, settings)
    mean, scale = _scaler(train.features[:, columns])
    design = _position_design(encoder, train, columns, mean, scale).toarray()
    centre = design.mean(axis=0)
    centred = design - centre
    eigenvalues, eigenvectors = np.linalg.eigh(centred @ centred.T)
    order = np.argsort(-eigenvalues, kind="stable")[: min(POSITION_COMPONENTS, len(design) - 1)]
    keep = order[eigenvalues[order] > 1e-9 * max(eigenvalues.max(), 1e-12)]
    root = np.sqrt(eigenvalues[keep])
    scores = eigenvectors[:, keep] * root  # principal-component scores of the training rows
    unit = scores.std() or 1.0
    projection = centred.T @ (eigenvectors[:, keep] / root) / unit  # column space -> z
    fitted = {}
    path = baselines.fit_logistic_regression_path(scores / unit, train.labels, cs, False)
    for c, params in path.items():
        coef = np.asarray(params["coef"]) @ projection.T  # (K, columns of the design)
        fitted[c] = {
            "coef": coef,
            "intercept": np.asarray(params["intercept"]) - coef @ centre,
            "c": float(c),
            "encoder": encoder.to_dict(),
            "columns": columns,
            "feature_mean": mean,
            "feature_scale": scale,
        }
    return fitted


def score_member(name: str, params: dict, data: TrainingData, hits: pd.DataFrame):
    """Scores (n, K) of one member; for knn_identity also the best identity (n,)."""
    if name in ("knn_identity", "identity_kernel"):
        scores, best_identity = baselines.score_knn_identity(
            data.ids,
            hits,
            params["reference_ids"],
            np.asarray(params["reference_labels"], dtype=np.float64),
            params["prior"],
            k=params["k"],
            power=params["power"],
            # format-2 bundles written before members stored a similarity weigh by identity
            similarity=params.get("similarity", "identity"),
        )
        return (scores, best_identity) if name == "knn_identity" else scores
    if name == "logistic_regression":
        columns = np.asarray(params["columns"], dtype=np.int64)
        return baselines.score_logistic_regression(params, data.features[:, columns])
    if name == "positions":
        design = _position_design(
            PositionEncoder.from_dict(params["encoder"]),
            data,
            np.asarray(params["columns"], dtype=np.int64),
            np.asarray(params["feature_mean"]),
            np.asarray(params["feature_scale"]),
        )
        return baselines.score_logistic_regression(params, design)
    if name == "plm":
        return baselines.score_logistic_regression(params, data.embeddings)
    if name == "fusion":
        return _score_fusion(params, data)
    raise ValueError(f"unknown member {name!r}")


def _fit_fusion(train: TrainingData, settings: TrainConfig, device: str) -> dict:
    """The network, early-stopped on a seeded tenth of its own training enzymes."""
    from terpene_ensembles.learning.fusion_network import export_fusion, train_fusion

    rng = np.random.default_rng(settings.seed)
    held = rng.random(len(train.ids)) < 0.1
    fit, stop = train.subset(~held), train.subset(held)
    net, scaler, history = train_fusion(
        fit.features,
        fit.labels,
        stop.features,
        stop.labels,
        settings,
        train_embeddings=fit.embeddings,
        val_embeddings=stop.embeddings,
        device=device,
    )
    return {"network": export_fusion(net.cpu(), scaler), "epochs": len(history)}


def _score_fusion(params: dict, data: TrainingData) -> np.ndarray:
    from terpene_ensembles.learning.fusion_network import import_fusion, predict_proba

    net, scaler = import_fusion(params["network"])
    embeddings = data.embeddings if net.plm_branch is not None else None
    return predict_proba(net, scaler.transform(data.features), embeddings)


# --- the procedure --------------------------------------------------------------------------


@dataclass
class CrossFit:
    fitted: dict  # the bundle-ready fitted state (members refitted on all dev enzymes)
    oof: dict[str, np.ndarray]  # out-of-fold scores of every predictor on the dev enzymes
    best_identity: np.ndarray  # OOF best identity of each dev enzyme


def out_of_fold_member(
    name: str,
    dev: TrainingData,
    folds: np.ndarray,
    hits: pd.DataFrame,
    settings: TrainConfig,
    cs=(None,),
    device: str = "cpu",
) -> tuple[dict, np.ndarray]:
    """OOF scores of one member for every value of ``cs`` ({c: scores}), and the OOF best
    identity (filled by knn_identity only)."""
    scores = {c: np.zeros(dev.labels.shape, dtype=np.float64) for c in cs}
    identity = np.zeros(len(dev.ids), dtype=np.float64)
    for fold in np.unique(folds):
        held = folds == fold
        held_data = dev.subset(held)
        for c, params in fit_member_grid(name, dev.subset(~held), cs, settings, device).items():
            result = score_member(name, params, held_data, hits)
            if name == "knn_identity":
                scores[c][held], identity[held] = result
            else:
                scores[c][held] = result
    return scores, identity


def select_member(
    name: str,
    dev: TrainingData,
    folds: np.ndarray,
    hits: pd.DataFrame,
    settings: TrainConfig,
    device: str = "cpu",
):
    """The grid value with the best OOF mAP (ties: the stronger L2).

    Returns (chosen C, its OOF scores, OOF best identity, selection record).
    """
    grid, identity = out_of_fold_member(
        name, dev, folds, hits, settings, _c_grid(name, settings), device
    )
    trials = {c: mean_average_precision(dev.labels, scores) for c, scores in grid.items()}
    best = max(trials, key=lambda c: (trials[c], -(c or 0)))
    record = {"c": best, "oof_map": {str(c): round(float(v), 6) for c, v in trials.items()}}
    log.info("member %s: C %s, OOF mAP %s", name, best, record["oof_map"])
    return best, grid[best], identity, record


def fit_predictors(
    dev: TrainingData,
    folds: np.ndarray,
    hits: pd.DataFrame,
    settings: dict | TrainConfig,
    device: str = "cpu",
) -> CrossFit:
    """The whole procedure of the module docstring on the development enzymes ``dev``."""
    settings = TrainConfig.from_config(settings)
    folds = np.asarray(folds)
    if len(np.unique(folds)) < 2:
        raise TrainingInputError("cross-fitting needs at least 2 inner folds")
    members = active_members(settings, dev)
    needed = sorted(set(members) | {"knn_identity", "logistic_regression"})  # baselines too
    oof, selection, chosen = {}, {}, {}
    best_identity = np.zeros(len(dev.ids))
    for name in needed:
        chosen[name], oof[name], identity, selection[name] = select_member(
            name, dev, folds, hits, settings, device
        )
        if name == "knn_identity":
            best_identity = identity
    prior = baselines.label_prior(dev.labels)
    combiner = stacking.fit_combiner(oof, members, best_identity, dev.labels)
    oof["model"] = stacking.cross_fitted_combination(oof, members, best_identity, dev.labels, folds)
    oof["label_prior"] = baselines.score_label_prior(prior, len(dev.ids))
    oof["random"] = baselines.score_random(dev.ids, len(dev.ensemble_ids), settings.seed)
    fitted = {
        "ensemble_ids": list(dev.ensemble_ids),
        "feature_columns": list(dev.feature_columns),
        "plm": dict(dev.plm),
        "seed": settings.seed,
        "label_prior": prior,
        "members": {name: fit_member(name, dev, chosen[name], settings, device) for name in needed},
        "combiner": combiner,
        "selection": selection,
    }
    log.info("model OOF mAP %.4f", mean_average_precision(dev.labels, oof["model"]))
    return CrossFit(fitted, oof, best_identity)


def score_predictors(fitted: dict, data: TrainingData, hits: pd.DataFrame) -> dict[str, np.ndarray]:
    """Raw scores of every predictor for ``data`` (rows in ``data.ids`` order), plus
    ``best_identity`` (highest identity to a training enzyme, 0 without hits)."""
    scores = {}
    best_identity = np.zeros(len(data.ids))
    for name, params in fitted["members"].items():
        result = score_member(name, params, data, hits)
        if name == "knn_identity":
            scores[name], best_identity = result
        else:
            scores[name] = result
    scores["model"] = stacking.apply_combiner(fitted["combiner"], scores, best_identity)
    scores["label_prior"] = baselines.score_label_prior(fitted["label_prior"], len(data.ids))
    scores["random"] = baselines.score_random(data.ids, len(fitted["ensemble_ids"]), fitted["seed"])
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


def long_predictions(cross_fit: CrossFit, dev: TrainingData, test_scores: dict, test: TrainingData):
    """Long table: the OOF rows of the development enzymes and the test rows."""
    return pd.concat(
        [
            predictions_frame(dev.ids, OOF_SPLIT, cross_fit.oof, dev.ensemble_ids),
            predictions_frame(test.ids, "test", test_scores, dev.ensemble_ids),
        ],
        ignore_index=True,
    )


def labels_frame(data: TrainingData) -> pd.DataFrame:
    labels = pd.DataFrame(data.labels, columns=data.ensemble_ids)
    labels.insert(0, "id", data.ids)
    return labels


def training_device(settings: TrainConfig, threads: int = 1) -> str:
    """Where the torch members (:data:`TORCH_MEMBERS`) train: cuda when a GPU is there and
    ``train.device`` allows it, else cpu; torch gets ``threads`` CPU threads. Without a torch
    member torch is not imported at all (its import costs seconds in every CV job)."""
    if not set(settings.members) & set(TORCH_MEMBERS):
        return "cpu"
    import torch

    torch.set_num_threads(max(1, threads))
    return "cuda" if torch.cuda.is_available() and settings.device != "cpu" else "cpu"


def fit_and_score(
    data: TrainingData,
    is_test: np.ndarray,
    folds: np.ndarray,
    hits: pd.DataFrame,
    settings: TrainConfig | dict,
    device: str = "cpu",
):
    """Cross-fit on ``~is_test`` and score ``is_test`` (the train stage, and each CV fold).

    Returns (cross_fit, test_scores, predictions): ``predictions`` is the long table of the
    out-of-fold rows of the development enzymes and the test rows.
    """
    dev, test = data.subset(~is_test), data.subset(is_test)
    for name, part in (("development", dev), ("test", test)):
        if len(part.ids) == 0:
            raise TrainingInputError(f"no {name} enzymes")
    cross_fit = fit_predictors(dev, folds[~is_test], hits, settings, device)
    test_scores = score_predictors(cross_fit.fitted, test, hits)
    predictions = long_predictions(cross_fit, dev, test_scores, test)
    return cross_fit, test_scores, predictions
