"""Fit every predictor on the development enzymes by cross-fitting, and score any enzymes.

The procedure (:func:`fit_predictors`), identical for the final model and inside every
outer cross-validation fold:

1. Inner folds are whole MMseqs2 clusters of the development enzymes (the grouped CV folds
   of the split stage restricted to them), so no cluster straddles an inner fold.
2. Every member is fitted on all inner folds but one and scores the held-out fold: the
   out-of-fold (OOF) scores of every development enzyme. A member's hyper-parameter (the
   L2 strength of a linear member) is the grid value with the best OOF mAP.
3. The members are refitted on all development enzymes with their chosen values.
4. With ``train.members: auto`` the members the combiner uses are chosen among the
   candidates that rank above random scores on every inner fold
   (:func:`candidates_with_signal`) by greedy forward selection on OOF scores
   (:func:`forward_selection`).
5. The stacked combiner (:mod:`stacking`) is fitted on the OOF member scores; its own OOF
   probabilities (combiner cross-fitted over the same inner folds) are what calibration and
   thresholds are chosen on downstream.

The members are the registered classes of :mod:`terpene_ensembles.learning.members`;
which ones the model combines is ``train.members``: ``auto`` (every registered member
whose input is present, less ``train.excluded_candidates``, is a candidate; selection
decides) or an explicit list (combined as listed, no selection). The baselines are fitted
as well, for comparison; a candidate or listed member whose input is absent (``plm``
without embeddings) is left out and logged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from terpene_ensembles.errors import ConfigError
from terpene_ensembles.learning import stacking
from terpene_ensembles.learning.homology_transfer import reference_best_identity
from terpene_ensembles.learning.members import registry
from terpene_ensembles.learning.metrics import mean_average_precision, precision_at_1
from terpene_ensembles.learning.model import MODEL, FittedModel
from terpene_ensembles.learning.reference_predictors import (
    LABEL_PRIOR,
    RANDOM,
    label_prior,
    score_label_prior,
    score_random,
)
from terpene_ensembles.learning.training_data import OOF_SPLIT, TrainingData, TrainingInputError
from terpene_ensembles.settings import TrainConfig

log = logging.getLogger(__name__)


def predictor_names() -> tuple[str, ...]:
    """Every predictor of the predictions tables, in their row order."""
    return (MODEL, *registry.names(), LABEL_PRIOR, RANDOM)


AUTO = "auto"
# Before selection, a candidate alone must rank better than random scores by at least this
# out-of-fold mAP on every inner fold. On the demo folds, Gaussian-noise embeddings came within
# 0.01 of random scores on every inner fold (and their combiner gain, noise of the size of
# SELECTION_MIN_GAIN, let them in once); every real member, the random-weight ESM2 included,
# was at least 0.06 above (docs/experiments.md, "Member selection: a signal check").
SIGNAL_MIN_GAIN = 0.02
# A selection step must raise the OOF criterion by at least this much: below it the gain is
# within the noise of a few hundred development enzymes and the member only adds variance.
SELECTION_MIN_GAIN = 0.005


def configured_members(settings: TrainConfig) -> list[str]:
    """``train.members`` as names: the candidates under ``auto``, else the list given."""
    for name in settings.excluded_candidates:
        registry.get(name)  # an unknown name is a clear error, not silently ignored
    if settings.members == AUTO:
        excluded = set(settings.excluded_candidates)
        return [name for name in registry.names() if name not in excluded]
    if isinstance(settings.members, str):
        raise ConfigError(
            f"train.members: {settings.members!r} is neither 'auto' nor a list of members",
            where="train.members",
        )
    for name in settings.members:
        registry.get(name)
    return list(settings.members)


def selects_members(settings: TrainConfig) -> bool:
    return settings.members == AUTO


def active_members(settings: TrainConfig, data: TrainingData) -> list[str]:
    """The configured members (or candidates) whose inputs ``data`` has (the others are
    logged)."""
    members = []
    available = data.available_inputs()
    for name in configured_members(settings):
        missing = registry.get(name).needs - available
        if missing:
            log.info("member %s left out: no %s input", name, ", ".join(sorted(missing)))
            continue
        members.append(name)
    if not members:
        raise TrainingInputError("train.members: no member has its input")
    return members


# --- the procedure --------------------------------------------------------------------------


@dataclass
class CrossFit:
    model: FittedModel  # members refitted on all development enzymes, and the combiner
    oof: dict[str, np.ndarray]  # out-of-fold scores of every predictor on the dev enzymes
    best_identity: np.ndarray  # OOF best identity of each dev enzyme
    # name -> {oof_map, oof_precision_at_1 (the member alone), step (at which selection
    # added it, None without selection or when not added), selected}
    candidates: dict[str, dict]
    # candidates not selected (and not baselines): name -> (chosen value, OOF scores), so
    # the ablations can add them back without cross-fitting them again
    left_out: dict[str, tuple]


def selection_criterion(labels: np.ndarray, scores: np.ndarray) -> float:
    """What forward selection maximises on each inner fold: mAP, the ranking metric the CV
    reports. Of the criteria measured on the demo CV (docs/experiments.md, "Combiner members
    chosen by forward selection") only mAP per inner fold kept positions next to the
    kernel and matched the hand-picked stack's mAP and macro-F1; the mean of mAP and
    precision@1 kept the kernel alone and lost 0.03 macro-F1."""
    return mean_average_precision(labels, scores)


def combination_score(
    oof: dict[str, np.ndarray],
    members: list[str],
    best_identity: np.ndarray,
    labels: np.ndarray,
    folds: np.ndarray,
    criterion=selection_criterion,
    per_fold: bool = True,
) -> float:
    """``criterion`` of the combiner over ``members`` cross-fitted over the inner ``folds``:
    on each inner fold's enzymes and averaged (``per_fold``), or on all OOF rows pooled."""
    combined = stacking.cross_fitted_combination(oof, members, best_identity, labels, folds)
    if not per_fold:
        return criterion(labels, combined)
    return float(
        np.mean([criterion(labels[folds == f], combined[folds == f]) for f in np.unique(folds)])
    )


def forward_selection(
    oof: dict[str, np.ndarray],
    candidates: list[str],
    best_identity: np.ndarray,
    labels: np.ndarray,
    folds: np.ndarray,
    min_gain: float = SELECTION_MIN_GAIN,
    criterion=selection_criterion,
    per_fold: bool = True,
) -> tuple[list[str], list[dict]]:
    """Greedy forward selection of the combiner's members on out-of-fold scores.

    Each step adds the candidate whose addition gives the cross-fitted combination (the
    combiner cross-fitted over the inner ``folds``) the best :func:`selection_criterion`;
    the first step always adds one, later ones only when the gain is at least ``min_gain``.
    Ties go to the earlier candidate. ``criterion(labels, scores)`` is what is maximised
    (a parameter for the benchmark of criteria). With ``per_fold`` it is computed on each
    inner fold's enzymes and averaged, as the CV summary averages its folds: pooled over
    all OOF rows, mAP mixes the scales of the per-fold combiners and favoured the kernel
    alone even where the pair was better on 3 of 4 inner folds. Returns (selected members
    in order, the steps).
    """
    selected, steps, best = [], [], float("-inf")
    remaining = list(candidates)

    def score(members: list[str]) -> float:
        return combination_score(oof, members, best_identity, labels, folds, criterion, per_fold)

    while remaining:
        trials = {name: score([*selected, name]) for name in remaining}
        name = max(remaining, key=trials.__getitem__)
        if selected and trials[name] < best + min_gain:
            break
        best = trials[name]
        selected.append(name)
        remaining.remove(name)
        steps.append({"added": name, "criterion": round(best, 6)})
        log.info("selection step %d: + %s, OOF criterion %.4f", len(steps), name, best)
    return selected, steps


def signal_over_random(
    scores: np.ndarray, random_scores: np.ndarray, labels: np.ndarray, folds: np.ndarray
) -> float:
    """The smallest, over the inner folds, of (OOF mAP of ``scores`` - that of random
    scores): how far a member alone stays above chance on its worst fold."""
    return float(
        min(
            mean_average_precision(labels[held], scores[held])
            - mean_average_precision(labels[held], random_scores[held])
            for held in (folds == fold for fold in np.unique(folds))
        )
    )


def candidates_with_signal(
    signal: dict[str, float], min_gain: float = SIGNAL_MIN_GAIN
) -> list[str]:
    """The candidates whose :func:`signal_over_random` is at least ``min_gain`` (all of them
    when none is, so that selection still has a first member)."""
    passing = [name for name, value in signal.items() if value >= min_gain]
    for name in signal:
        if name not in passing:
            log.info("candidate %s left out of selection: no signal over random scores", name)
    return passing or list(signal)


def candidates_table(
    oof: dict[str, np.ndarray],
    candidates: list[str],
    labels: np.ndarray,
    selected: list[str],
    steps: list[dict],
    signal: dict[str, float] | None = None,
) -> dict[str, dict]:
    step_of = {step["added"]: i + 1 for i, step in enumerate(steps)}
    return {
        name: {
            "oof_map": round(mean_average_precision(labels, oof[name]), 6),
            "oof_precision_at_1": round(precision_at_1(labels, oof[name]), 6),
            **({"min_fold_map_over_random": round(signal[name], 6)} if signal is not None else {}),
            "step": step_of.get(name),
            "selected": name in selected,
        }
        for name in candidates
    }


def out_of_fold_member(
    name: str,
    dev: TrainingData,
    folds: np.ndarray,
    hits: pd.DataFrame,
    settings: TrainConfig,
    values=(None,),
    device: str = "cpu",
) -> dict:
    """OOF scores of one member for every value of ``values`` ({value: scores})."""
    member = registry.get(name)
    scores = {v: np.zeros(dev.labels.shape, dtype=np.float64) for v in values}
    for fold in np.unique(folds):
        held = folds == fold
        held_data = dev.subset(held)
        for v, state in member.fit_grid(dev.subset(~held), values, settings, device).items():
            scores[v][held] = member.score(state, held_data, hits)
    return scores


def out_of_fold_best_identity(dev: TrainingData, folds: np.ndarray, hits: pd.DataFrame):
    """Each dev enzyme's best identity to the dev enzymes outside its inner fold."""
    identity = np.zeros(len(dev.ids), dtype=np.float64)
    for fold in np.unique(folds):
        held = folds == fold
        identity[held] = reference_best_identity(dev.ids[held], hits, dev.ids[~held])
    return identity


def select_member(
    name: str,
    dev: TrainingData,
    folds: np.ndarray,
    hits: pd.DataFrame,
    settings: TrainConfig,
    device: str = "cpu",
):
    """The grid value with the best OOF mAP (ties: the stronger L2).

    Returns (chosen value, its OOF scores, selection record).
    """
    grid = out_of_fold_member(
        name, dev, folds, hits, settings, registry.get(name).grid(settings), device
    )
    trials = {c: mean_average_precision(dev.labels, scores) for c, scores in grid.items()}
    best = max(trials, key=lambda c: (trials[c], -(c or 0)))
    record = {"c": best, "oof_map": {str(c): round(float(v), 6) for c, v in trials.items()}}
    log.info("member %s: C %s, OOF mAP %s", name, best, record["oof_map"])
    return best, grid[best], record


def fit_predictors(
    dev: TrainingData,
    folds: np.ndarray,
    hits: pd.DataFrame,
    settings: TrainConfig,
    device: str = "cpu",
) -> CrossFit:
    """The whole procedure of the module docstring on the development enzymes ``dev``."""
    folds = np.asarray(folds)
    if len(np.unique(folds)) < 2:
        raise TrainingInputError("cross-fitting needs at least 2 inner folds")
    candidates = active_members(settings, dev)
    needed = sorted(set(candidates) | set(registry.baseline_names()))  # baselines too
    oof, selection, chosen = {}, {}, {}
    for name in needed:
        chosen[name], oof[name], selection[name] = select_member(
            name, dev, folds, hits, settings, device
        )
    best_identity = out_of_fold_best_identity(dev, folds, hits)
    # The random reference predictor's scores: the chance level of the signal check too.
    random_scores = score_random(dev.ids, len(dev.ensemble_ids), settings.seed)
    if selects_members(settings):
        signal = {
            name: signal_over_random(oof[name], random_scores, dev.labels, folds)
            for name in candidates
        }
        eligible = candidates_with_signal(signal)
        members, steps = forward_selection(oof, eligible, best_identity, dev.labels, folds)
    else:
        members, steps, signal = candidates, [], None
    candidates_record = candidates_table(oof, candidates, dev.labels, members, steps, signal)
    kept = sorted(set(members) | set(registry.baseline_names()))
    left_out = {name: (chosen[name], oof.pop(name)) for name in needed if name not in kept}
    selection = {name: selection[name] for name in kept}
    prior = label_prior(dev.labels)
    combiner = stacking.fit_combiner(oof, members, best_identity, dev.labels)
    oof[MODEL] = stacking.cross_fitted_combination(oof, members, best_identity, dev.labels, folds)
    oof[LABEL_PRIOR] = score_label_prior(prior, len(dev.ids))
    oof[RANDOM] = random_scores
    model = FittedModel(
        ensemble_ids=list(dev.ensemble_ids),
        feature_columns=list(dev.feature_columns),
        plm=dict(dev.plm),
        seed=settings.seed,
        label_prior=prior,
        reference_ids=[str(i) for i in dev.ids],
        members={
            name: registry.get(name).fit(dev, chosen[name], settings, device) for name in kept
        },
        combiner=combiner,
        selection=selection,
    )
    log.info("model OOF mAP %.4f", mean_average_precision(dev.labels, oof[MODEL]))
    return CrossFit(model, oof, best_identity, candidates_record, left_out)


def predictions_frame(ids, split: str, scores: dict[str, np.ndarray], ensemble_ids) -> pd.DataFrame:
    """Long layout of the predictions contract: id, split, predictor, one column per class."""
    frames = []
    for predictor in predictor_names():
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
    """Where the torch members train: cuda when a GPU is there and ``train.device`` allows
    it, else cpu; torch gets ``threads`` CPU threads. Without a torch member torch is not
    imported at all (its import costs seconds in every CV job)."""
    if not any(registry.get(name).uses_torch for name in configured_members(settings)):
        return "cpu"
    import torch

    torch.set_num_threads(max(1, threads))
    return "cuda" if torch.cuda.is_available() and settings.device != "cpu" else "cpu"


def fit_and_score(
    data: TrainingData,
    is_test: np.ndarray,
    folds: np.ndarray,
    hits: pd.DataFrame,
    settings: TrainConfig,
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
    test_scores = cross_fit.model.score(test, hits)
    predictions = long_predictions(cross_fit, dev, test_scores, test)
    return cross_fit, test_scores, predictions


def random_folds(n: int, k: int, seed: int) -> np.ndarray:
    """Fold of each of ``n`` enzymes: a seeded random permutation dealt into ``k`` folds."""
    folds = np.empty(n, dtype=int)
    folds[np.random.default_rng(seed).permutation(n)] = np.arange(n) % k
    return folds


def random_fold_scores(
    cross_fit: CrossFit,
    dev: TrainingData,
    n_folds: int,
    hits: pd.DataFrame,
    settings: TrainConfig,
    device: str = "cpu",
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Out-of-fold scores of the model and the homology baseline over random (not grouped)
    folds of the development enzymes, so close homologs sit in training (the high-identity
    bands of :mod:`reliability`).

    Each member keeps the value it was chosen with; the combiner over the model's members
    is cross-fitted over the same random folds. Returns ({predictor: scores}, each enzyme's
    best identity to the enzymes outside its random fold).
    """
    folds = random_folds(len(dev.ids), n_folds, settings.seed)
    members = cross_fit.model.combined_members
    homology = registry.homology_baseline_name()
    oof = {}
    for name in dict.fromkeys([*members, *([homology] if homology else [])]):
        c = cross_fit.model.selection[name]["c"]
        oof[name] = out_of_fold_member(name, dev, folds, hits, settings, (c,), device)[c]
    best_identity = out_of_fold_best_identity(dev, folds, hits)
    scores = {
        MODEL: stacking.cross_fitted_combination(oof, members, best_identity, dev.labels, folds),
    }
    if homology:
        scores[homology] = oof[homology]
    return scores, best_identity


RANDOM_OOF_SPLIT = "random_oof"  # split name of the random-fold rows


def reliability_inputs(
    cross_fit: CrossFit,
    dev: TrainingData,
    test: TrainingData,
    test_scores: dict,
    n_folds: int,
    hits: pd.DataFrame,
    settings: TrainConfig,
    device: str = "cpu",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What the reliability table needs from the train stage: (the best identity of every
    OOF and test row: id, split, best_identity; the random-fold predictions: the long
    layout plus best_identity)."""
    identity = pd.concat(
        [
            pd.DataFrame(
                {"id": dev.ids, "split": OOF_SPLIT, "best_identity": cross_fit.best_identity}
            ),
            pd.DataFrame(
                {"id": test.ids, "split": "test", "best_identity": test_scores["best_identity"]}
            ),
        ],
        ignore_index=True,
    )
    scores, best_identity = random_fold_scores(cross_fit, dev, n_folds, hits, settings, device)
    random = predictions_frame(dev.ids, RANDOM_OOF_SPLIT, scores, dev.ensemble_ids)
    random.insert(3, "best_identity", np.tile(best_identity, len(random) // len(dev.ids)))
    return identity, random
