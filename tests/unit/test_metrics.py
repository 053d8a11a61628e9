import numpy as np
import pandas as pd
import pytest

from terpene_ensembles.learning.metrics import (
    acceptance,
    mean_average_precision,
    multilabel_metrics,
    precision_at_1,
    predictor_metrics,
    recall_at_k,
    substrate_family_map,
)

Y = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 0]])


def test_perfect_scores_give_perfect_ranking_metrics():
    scores = Y + 0.01 * np.arange(3)  # positives strictly above negatives
    assert mean_average_precision(Y, scores) == pytest.approx(1.0)
    assert precision_at_1(Y, scores) == pytest.approx(1.0)
    assert recall_at_k(Y, scores, 3) == pytest.approx(1.0)


def test_map_and_macro_f1_ignore_classes_without_positives():
    scores = np.array([[0.9, 0.1, 0.5], [0.2, 0.8, 0.9], [0.7, 0.6, 0.1], [0.1, 0.2, 0.3]])
    calls = scores >= 0.5
    result = multilabel_metrics(Y, scores, calls, ["a", "b", "c"])
    # class c has no positives: AP undefined, excluded from the means
    assert result["per_class"]["c"]["ap"] is None
    assert result["n_classes_with_positives"] == 2
    f1_a = result["per_class"]["a"]["f1"]
    f1_b = result["per_class"]["b"]["f1"]
    assert result["macro_f1"] == pytest.approx((f1_a + f1_b) / 2, abs=1e-6)
    assert result["map"] == pytest.approx(1.0)
    # micro-F1 pools every decision: 4 TP, 2 FP (row0 c, row1 c), 0 FN
    assert result["micro_f1"] == pytest.approx(2 * 4 / (2 * 4 + 2 + 0), abs=1e-6)
    # 3 labelled enzymes, all with a call
    assert result["call_rate"] == pytest.approx(1.0)


def test_precision_at_1_and_recall_at_3_by_hand():
    truth = np.array([[1, 0, 0, 1], [0, 1, 0, 0]])
    scores = np.array([[0.1, 0.9, 0.8, 0.7], [0.5, 0.6, 0.1, 0.0]])
    assert precision_at_1(truth, scores) == pytest.approx(0.5)
    # row 0: top3 = {1, 2, 3} holds 1 of 2 true; row 1: class 1 in top 3
    assert recall_at_k(truth, scores, 3) == pytest.approx((0.5 + 1.0) / 2)


def test_call_rate_counts_only_labelled_enzymes():
    truth = np.array([[1, 0], [0, 1], [0, 0]])
    calls = np.array([[1, 0], [0, 0], [0, 0]])
    result = multilabel_metrics(truth, truth.astype(float), calls, ["a", "b"])
    assert result["call_rate"] == pytest.approx(0.5)


def test_substrate_map_is_multilabel_over_present_families():
    families = np.array(["C10", "C15", "C10+C15", "C20"])
    scores = np.array([[0.9, 0.1, 0.0], [0.1, 0.9, 0.0], [0.8, 0.8, 0.0], [0.0, 0.0, 1.0]])
    result = substrate_family_map(families, scores, ["C10", "C15", "C20"])
    assert result["per_family"]["C10"]["support"] == 2
    assert result["per_family"]["C15"]["support"] == 2
    assert result["map"] == pytest.approx(1.0)


def test_predictor_metrics_split_model_and_baselines():
    ids = ["a", "b", "c", "d"]
    truth = pd.DataFrame(Y, columns=["x", "y", "z"], index=ids)
    frames = []
    for predictor in ("model", "random", "fusion"):
        frame = pd.DataFrame(Y * 0.9 + 0.05, columns=["x", "y", "z"])
        frame.insert(0, "predictor", predictor)
        frame.insert(0, "split", "test")
        frame.insert(0, "id", ids)
        frames.append(frame)
    calibration = {
        "settings": {"always_call_top": False},
        "predictors": {
            p: {"classes": {c: {"threshold": 0.5} for c in "xyz"}}
            for p in ("model", "random", "fusion")
        },
    }
    result = predictor_metrics(pd.concat(frames), truth, calibration, ["x", "y", "z"], ())
    assert set(result["baselines"]) == {"random"}
    assert set(result["components"]) == {"fusion"}
    assert result["model"]["macro_f1"] == pytest.approx(1.0)
    assert result["model"]["per_class"]["x"]["threshold"] == pytest.approx(0.5)


def test_acceptance_compares_the_model_with_the_best_baseline():
    def predictor(p1, map_, calls=1.5, true=1.2):
        return {
            "precision_at_1": p1,
            "map": map_,
            "calls_per_enzyme": calls,
            "true_per_enzyme": true,
            "decision_efficiency": 0.8,
            "call_rate": 1.0,
        }

    test = {
        "model": predictor(0.40, 0.50),
        "baselines": {
            "knn_identity": predictor(0.35, 0.30),
            "logistic_regression": predictor(0.30, 0.45),
        },
    }
    checks = acceptance(test)
    assert checks["precision_at_1_minus_best_baseline"] == pytest.approx(0.05)
    assert checks["map_minus_best_baseline"] == pytest.approx(0.05)
    assert checks["calls_per_true_ensemble"] == pytest.approx(1.25)
    assert checks["passed"] is True
    test["model"]["map"] = 0.44  # below logistic regression
    assert acceptance(test)["passed"] is False
    test["model"].update(map=0.5, calls_per_enzyme=2.0)  # 1.67 calls per true ensemble
    assert acceptance(test)["passed"] is False


def test_best_threshold_oracle_reports_its_f1_and_how_many_calls_it_needs():
    # class a: positives at 0.9 and 0.3, a negative at 0.6 between them; class b: none.
    y = np.array([[1, 0], [0, 0], [1, 0], [0, 0]])
    scores = np.array([[0.9, 0.1], [0.6, 0.2], [0.3, 0.4], [0.1, 0.5]])
    calls = np.array([[1, 0], [0, 0], [0, 0], [0, 1]])  # the predictor's own calls
    result = multilabel_metrics(y, scores, calls, ["a", "b"])
    # class a, calling down to 0.9 / 0.6 / 0.3 / 0.1: F1 2/3, 1/2, 4/5, 2/3; the oracle
    # calls rows 0-2. Class b has no positives and keeps its actual call (row 3).
    assert result["best_threshold_macro_f1"] == pytest.approx(0.8)
    # per labelled enzyme (rows 0 and 2): the predictor calls 1 and 0, the oracle 1 and 1
    assert result["calls_per_enzyme"] == pytest.approx(0.5)
    assert result["best_threshold_calls_per_enzyme"] == pytest.approx(1.0)
    assert result["decision_efficiency"] == pytest.approx(result["macro_f1"] / 0.8, abs=1e-6)
