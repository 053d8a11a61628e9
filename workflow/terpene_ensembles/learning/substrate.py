"""Substrate-level view: chain-length family (C10/C15/...) predicted from sequence.

The family comes from the MARTS ``Type`` column and is used only as a LABEL, never a
feature. Same procedure as the ensemble model (cross-fitted members, stacked combiner)
with the baseline members, identity kNN and logistic regression on the engineered
features (C fixed at 0.1, to keep this side view cheap). Multi-substrate enzymes
("C10+C15") are positive for each family; enzymes with family "none" are left out.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from terpene_ensembles.learning import cross_fitting as learner
from terpene_ensembles.learning.members import registry
from terpene_ensembles.learning.training_data import TrainingData
from terpene_ensembles.settings import TrainConfig

LR_C = 0.1


def family_order(family: str):
    digits = "".join(ch for ch in family if ch.isdigit())
    return (int(digits) if digits else 10**6, family)


def family_data(data: TrainingData, families_by_id: dict[str, str], family_ids=None):
    """(TrainingData with one 0/1 column per family, mask of enzymes with a known family)."""
    values = np.array([families_by_id.get(i, "none") for i in data.ids])
    known = values != "none"
    if family_ids is None:
        family_ids = sorted({f for v in values[known] for f in v.split("+")}, key=family_order)
    sets = [set(v.split("+")) for v in values[known]]
    truth = np.array([[f in s for f in family_ids] for s in sets], dtype=np.float32).reshape(
        len(sets), len(family_ids)
    )
    subset = data.subset(known)
    subset.labels, subset.ensemble_ids = truth, list(family_ids)
    return subset, known


def substrate_predictions(
    data: TrainingData,
    is_test: np.ndarray,
    folds: np.ndarray,
    families_by_id: dict[str, str],
    hits: pd.DataFrame,
    train_settings: TrainConfig,
    device: str = "cpu",
) -> pd.DataFrame:
    """Long table (id, split="test", predictor, one column per family) of the test enzymes."""
    # Only seed, knn_k and knn_power of the section matter to these two members.
    settings = replace(train_settings, members=list(registry.baseline_names()), lr_c=LR_C)
    dev, dev_known = family_data(data.subset(~is_test), families_by_id)
    if not dev.ensemble_ids:
        return pd.DataFrame(columns=["id", "split", "predictor"])
    test, _ = family_data(data.subset(is_test), families_by_id, dev.ensemble_ids)
    cross_fit = learner.fit_predictors(dev, folds[~is_test][dev_known], hits, settings, device)
    scores = cross_fit.model.score(test, hits)
    return learner.predictions_frame(test.ids, "test", scores, dev.ensemble_ids)
