import numpy as np
import pytest
from learning_synthetic import FAST_TRAIN, make_dataset, make_hits

from terpene_ensembles import learner
from terpene_ensembles.crossval import fold_roles, run_fold, summarise
from terpene_ensembles.training_data import TrainingInputError


def test_fold_roles_use_the_next_fold_for_validation():
    folds = np.array([0, 1, 2, 0, 1, 2])
    assert fold_roles(folds, 2).tolist() == ["val", "train", "test", "val", "train", "test"]
    with pytest.raises(TrainingInputError):
        fold_roles(folds, 3)


def test_combination_is_chosen_on_validation_and_never_below_its_best_member():
    data = make_dataset(n=150)
    hits = make_hits(data)
    train, val = data.subset(np.arange(150) < 100), data.subset(np.arange(150) >= 100)
    fitted, _ = learner.fit_predictors(train, val, hits, FAST_TRAIN)
    scores = learner.score_predictors(fitted, val, hits)
    from terpene_ensembles.metrics import mean_average_precision

    model_map = mean_average_precision(val.labels, scores["model"])
    assert model_map == pytest.approx(fitted["combination"]["val_map"])
    for member in learner.ENSEMBLE_MEMBERS:
        # every member alone is a grid point (gate 0 or 1 with a window at 0)
        if member != "knn_identity":
            assert model_map >= mean_average_precision(val.labels, scores[member]) - 1e-9


def test_run_fold_and_summary_on_synthetic_folds():
    data = make_dataset(n=150)
    folds = np.arange(150) % 3
    hits = make_hits(data)
    families = {i: ("C10" if data.labels[k, 0] else "C15") for k, i in enumerate(data.ids)}
    results = [
        run_fold(data, folds, fold, hits, families, FAST_TRAIN, {"min_val_positives": 3})
        for fold in range(3)
    ]
    for result in results:
        assert result["n_test"] == 50 and result["n_val"] == 50 and result["n_train"] == 50
        assert set(result["test"]["baselines"]) == {
            "knn_identity",
            "logistic_regression",
            "label_prior",
            "random",
        }
        assert result["substrate"]["model"]["map"] is not None
    summary = summarise(results)
    assert summary["n_folds"] == 3
    values = summary["model"]["map"]["values"]
    assert summary["model"]["map"]["mean"] == pytest.approx(np.mean(values), abs=1e-6)
    assert summary["model"]["map"]["std"] == pytest.approx(np.std(values, ddof=1), abs=1e-6)
    assert "substrate_map" in summary["model"]
    # the features carry the labels: the model must clearly beat random on every fold
    assert summary["model"]["map"]["mean"] > summary["random"]["map"]["mean"] + 0.1
