"""Reliability by homology band (learning.reliability) and the evidence columns it feeds
(predict.evidence)."""

import math

import numpy as np
import pandas as pd
import pytest

from terpene_ensembles.learning.reliability import (
    BAND_LABELS,
    GROUPED,
    MIN_BAND_ENZYMES,
    RANDOM,
    band_table,
    enzyme_outcomes,
    expected_top_precision,
    honesty,
    identity_band,
    leave_fold_out_expected,
    monotone_in_identity,
    prediction_honesty,
    reliability_tables,
    wilson_interval,
)
from terpene_ensembles.predict.evidence import NO_SUPPORT, PredictionContext, evidence_columns


@pytest.mark.parametrize(
    ("identity", "band"),
    [
        (float("nan"), "<30%"),
        (0.0, "<30%"),
        (0.2999, "<30%"),
        (0.30, "30-40%"),
        (0.45, "40-50%"),
        (0.5, "50-70%"),
        (0.89, "70-90%"),
        (0.9, ">=90%"),
        (1.0, ">=90%"),
    ],
)
def test_identity_band_edges(identity, band):
    assert identity_band(identity) == band


def test_wilson_interval_matches_the_textbook_value():
    # 8 of 10: Wilson 95% interval (0.4902, 0.9433)
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4)
    assert high == pytest.approx(0.9433, abs=1e-4)
    assert wilson_interval(0, 5)[0] == 0.0
    assert all(math.isnan(v) for v in wilson_interval(0, 0))


def test_enzyme_outcomes_count_top_call_and_calls_and_drop_unlabelled():
    y = np.array([[1, 0, 1], [0, 1, 0], [0, 0, 0]])
    p = np.array([[0.9, 0.5, 0.1], [0.8, 0.3, 0.1], [0.5, 0.1, 0.1]])
    calls = p >= 0.5
    out = enzyme_outcomes(["a", "b", "c"], [0.95, 0.2, 0.5], y, p, calls, GROUPED)
    assert out["id"].tolist() == ["a", "b"]  # c has no true ensemble
    assert out["top_correct"].tolist() == [True, False]
    assert out["n_called"].tolist() == [2, 1]
    assert out["n_hits"].tolist() == [1, 0]
    assert out["n_true"].tolist() == [2, 1]


def outcomes(procedure, identity, correct, n, start=0):
    return pd.DataFrame(
        {
            "id": [f"{procedure}{start + i}" for i in range(n)],
            "procedure": procedure,
            "best_identity": identity,
            "top_correct": [i < correct for i in range(n)],
            "n_called": 2,
            "n_hits": [1 if i < correct else 0 for i in range(n)],
            "n_true": 1,
        }
    )


def test_band_table_fills_sparse_bands_from_random_folds():
    rows = pd.concat(
        [
            outcomes(GROUPED, 0.2, 10, MIN_BAND_ENZYMES),  # enough grouped enzymes
            outcomes(GROUPED, 0.95, 1, 3, start=100),  # too few: random folds fill it
            outcomes(RANDOM, 0.2, 0, 50),
            outcomes(RANDOM, 0.95, 27, 30, start=200),
        ]
    )
    table = {row["band"]: row for row in band_table(rows)}
    assert [row for row in table] == list(BAND_LABELS)
    assert table["<30%"]["procedure"] == GROUPED
    assert table["<30%"]["n"] == MIN_BAND_ENZYMES
    assert table["<30%"]["top_precision"] == 0.5
    assert table[">=90%"]["procedure"] == RANDOM
    assert table[">=90%"]["n"] == 30
    assert table[">=90%"]["top_precision"] == 0.9
    assert table[">=90%"]["top_precision_low"] < 0.9 < table[">=90%"]["top_precision_high"]
    assert table[">=90%"]["call_precision"] == pytest.approx(27 / 60)
    assert table[">=90%"]["call_recall"] == 0.9
    assert table["40-50%"]["n"] == 0 and table["40-50%"]["top_precision"] is None
    # the baseline is read off the bands the model's outcomes chose
    both = reliability_tables(
        {"model": rows, "baseline": rows[rows["procedure"] == RANDOM]}, "model"
    )
    assert [r["procedure"] for r in both["predictors"]["baseline"]] == [
        r["procedure"] for r in both["predictors"]["model"]
    ]
    assert both["predictors"]["baseline"][0]["n"] == 0  # no grouped rows for it


def test_expected_top_precision_and_honesty():
    table = band_table(outcomes(GROUPED, 0.2, 14, MIN_BAND_ENZYMES))
    assert expected_top_precision(table, 0.1) == 0.7
    assert math.isnan(expected_top_precision(table, 0.95))  # no estimate for the band
    assert math.isnan(expected_top_precision(None, 0.1))
    held = outcomes(GROUPED, 0.25, 11, MIN_BAND_ENZYMES, start=500)
    result = honesty(held, [0.7] * len(held))
    row = result["bands"][0]
    assert row["n"] == MIN_BAND_ENZYMES and row["checked"]
    assert row["observed_top_precision"] == 0.55
    assert row["difference"] == pytest.approx(-0.15)
    assert row["within_tolerance"] and result["passed"]
    assert honesty(held, [0.9] * len(held))["passed"] is False
    few = honesty(held.head(5), [0.0] * 5)
    assert few["n_bands_checked"] == 0 and few["passed"]


def test_expected_precision_is_monotone_in_identity_pooling_only_bands_out_of_order():
    def row(precision, n):
        return {"top_precision": precision, "n": n}

    # 40-50% (0.4 of 30) above 50-70% (0.2 of 10): pooled to their weighted mean 0.35; the
    # bands in order keep their own values; a band without estimate stays None.
    rows = [row(0.1, 50), row(0.3, 40), row(0.4, 30), row(0.2, 10), row(None, 0), row(0.9, 20)]
    assert monotone_in_identity(rows) == [0.1, 0.3, 0.35, 0.35, None, 0.9]
    in_order = [row(0.1, 5), row(0.5, 5), row(0.6, 1)]
    assert monotone_in_identity(in_order) == [0.1, 0.5, 0.6]
    assert monotone_in_identity([row(None, 0)] * 3) == [None] * 3
    # The band table carries it and expected_top_precision reads it.
    table = band_table(
        pd.concat(
            [
                outcomes(GROUPED, 0.35, 12, MIN_BAND_ENZYMES),  # 0.6
                outcomes(GROUPED, 0.45, 8, MIN_BAND_ENZYMES, start=100),  # 0.4
            ]
        )
    )
    assert [r["top_precision"] for r in table[1:3]] == [0.6, 0.4]
    assert [r["expected_top_precision"] for r in table[1:3]] == [0.5, 0.5]
    assert expected_top_precision(table, 0.45) == 0.5


def test_prediction_honesty_reads_each_enzymes_own_expected_and_drops_unlabelled():
    y = np.array([[1, 0], [0, 1], [0, 0], [1, 0]])  # c has no true ensemble
    p = np.array([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.3, 0.7]])
    calls = p >= 0.5
    # d has no training hit at all (NaN): the lowest band, as in the predictions.
    identity = [0.95, 0.2, 0.25, float("nan")]
    result = prediction_honesty(["a", "b", "c", "d"], identity, [0.9, 0.6, 0.5, 0.4], y, p, calls)
    assert result["n_enzymes"] == 4 and result["n_labelled"] == 3
    bands = {row["band"]: row for row in result["bands"]}
    # b and d: both top calls wrong; their own expected values 0.6 and 0.4 (not c's 0.5).
    assert bands["<30%"]["n"] == 2
    assert bands["<30%"]["observed_top_precision"] == 0.0
    assert bands["<30%"]["mean_expected_top_precision"] == 0.5
    assert bands["<30%"]["difference"] == -0.5
    assert bands[">=90%"]["n"] == 1
    assert bands[">=90%"]["observed_top_precision"] == 1.0
    assert bands[">=90%"]["mean_expected_top_precision"] == 0.9
    assert bands[">=90%"]["difference"] == 0.1
    assert sum(row["n"] for row in result["bands"]) == result["n_labelled"]
    assert result["n_bands_checked"] == 0 and result["passed"]  # no band has 20 enzymes
    empty = prediction_honesty([], [], [], np.zeros((0, 2)), np.zeros((0, 2)), np.zeros((0, 2)))
    assert empty["n_enzymes"] == empty["n_labelled"] == 0
    with pytest.raises(ValueError, match="unique"):
        prediction_honesty(["a", "a"], identity[:2], [0.9, 0.6], y[:2], p[:2], calls[:2])


def test_leave_fold_out_expected_leaves_each_fold_out_of_its_estimate():
    fold0 = outcomes(GROUPED, 0.2, MIN_BAND_ENZYMES, MIN_BAND_ENZYMES)  # all right
    fold1 = outcomes(GROUPED, 0.2, 0, MIN_BAND_ENZYMES, start=100)  # all wrong
    both = pd.concat([fold0, fold1], ignore_index=True)
    fold_of = {i: 0 for i in fold0["id"]} | {i: 1 for i in fold1["id"]}
    expected = leave_fold_out_expected(both, both, fold_of)
    assert expected[: len(fold0)].tolist() == [0.0] * len(fold0)
    assert expected[len(fold0) :].tolist() == [1.0] * len(fold1)


def test_evidence_columns_support_band_and_neighbour_annotations():
    ensembles = ["a", "b", "c"]
    context = PredictionContext(
        members=["m1", "m2"],
        reliability=band_table(outcomes(GROUPED, 0.2, 14, MIN_BAND_ENZYMES)),
        reference_names={"t1": "limonene synthase"},
        reference_ensembles={"t1": ["a", "b"], "t2": []},
    )
    members = {
        "m1": np.array([[0.9, 0.1, 0.0], [0.1, 0.2, 0.9]]),
        "m2": np.array([[0.8, 0.1, 0.0], [0.1, 0.9, 0.2]]),
    }
    out = evidence_columns(
        [["a", "b"], ["c"]], members, ensembles, [["t1", "t2"], []], [0.25, float("nan")], context
    )
    assert out["support"] == [["m1,m2", NO_SUPPORT], ["m1"]]
    assert out["identity_band"] == ["<30%", "<30%"]
    assert out["expected_top_precision"] == [0.7, 0.7]
    assert out["nearest_training_name"] == ["limonene synthase", ""]
    assert out["nearest_training_ensembles"] == [["a,b", ""], []]
    empty = evidence_columns([["a"]], {}, ensembles, [["t1"]], [0.5], None)
    assert empty["support"] == [[NO_SUPPORT]]
    assert math.isnan(empty["expected_top_precision"][0])
