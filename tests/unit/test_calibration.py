import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score

from terpene_ensembles.learning.calibration import (
    _logit,
    apply_calibrator,
    best_f1_threshold,
    calibrate_predictions,
    call_ensembles,
    fit_calibration,
    fit_isotonic,
    fit_platt,
)
from terpene_ensembles.settings import CalibrateConfig


def noisy_scores(n=300, seed=0):
    rng = np.random.default_rng(seed)
    scores = rng.random(n)
    y = (rng.random(n) < scores**2).astype(int)
    return scores, y


def test_platt_matches_scikit_learn_logistic_regression():
    scores, y = noisy_scores()
    ours = fit_platt(scores, y)
    reference = LogisticRegression(C=1e8, max_iter=1000).fit(_logit(scores)[:, None], y)
    assert ours["a"] == pytest.approx(reference.coef_[0, 0], rel=1e-3)
    assert ours["b"] == pytest.approx(reference.intercept_[0], rel=1e-3, abs=1e-3)


def test_platt_stays_finite_on_separable_data():
    params = fit_platt(np.array([0.1, 0.2, 0.8, 0.9]), np.array([0, 0, 1, 1]))
    assert np.isfinite([params["a"], params["b"]]).all()


def test_isotonic_is_monotone_and_keeps_raw_order():
    scores, y = noisy_scores()
    params = fit_isotonic(scores, y)
    grid = np.linspace(0, 1, 500)
    calibrated = apply_calibrator("isotonic", params, grid)
    assert (np.diff(calibrated) > 0).all()  # strictly: no artificial ties
    assert calibrated.min() >= 0 and calibrated.max() <= 1


def test_best_f1_threshold_is_the_f1_optimum():
    scores, y = noisy_scores(seed=3)
    threshold, f1 = best_f1_threshold(scores, y)
    assert f1 == pytest.approx(f1_score(y, scores >= threshold))
    brute = max(f1_score(y, scores >= t) for t in np.unique(scores))
    assert f1 == pytest.approx(brute)


def test_few_positives_fall_back_to_the_global_threshold():
    rng = np.random.default_rng(0)
    scores = rng.random((100, 2))
    labels = np.zeros((100, 2), dtype=int)
    labels[:, 0] = scores[:, 0] > 0.6
    labels[[5, 7], 1] = 1  # only 2 positives in class 1
    result = fit_calibration(scores, labels, ["rich", "rare"], min_positives=3)
    rare = result["classes"]["rare"]
    assert rare["fallback"] is True
    assert rare["threshold"] == pytest.approx(result["global_threshold"])
    assert rare["params"].get("pooled") is True
    assert result["classes"]["rich"]["fallback"] is False
    assert result["classes"]["rich"]["method"] in {"platt", "isotonic"}


def test_method_none_leaves_scores_unchanged():
    scores, y = noisy_scores()
    result = fit_calibration(scores[:, None], y[:, None], ["a"], method="none")
    assert result["classes"]["a"]["method"] == "none"
    assert apply_calibrator("none", {}, scores) == pytest.approx(scores)


def test_always_call_top_gives_every_enzyme_a_call():
    probabilities = np.array([[0.1, 0.2], [0.9, 0.1], [0.05, 0.01]])
    thresholds = np.array([0.5, 0.5])
    assert call_ensembles(probabilities, thresholds, False).sum(axis=1).tolist() == [0, 1, 0]
    calls = call_ensembles(probabilities, thresholds, True)
    assert calls.any(axis=1).all()
    assert calls[0].tolist() == [False, True]


def long_frame(scores, ids, split):
    frame = pd.DataFrame(scores, columns=["a", "b"])
    frame.insert(0, "predictor", "model")
    frame.insert(0, "split", split)
    frame.insert(0, "id", ids)
    return frame


def test_calibration_never_looks_at_test_labels_or_scores():
    rng = np.random.default_rng(1)
    val_ids = [f"v{i}" for i in range(80)]
    test_ids = [f"t{i}" for i in range(40)]
    val_scores = rng.random((80, 2))
    labels = pd.DataFrame({"id": val_ids + test_ids})
    labels["a"] = np.r_[(val_scores[:, 0] > 0.5).astype(int), rng.integers(0, 2, 40)]
    labels["b"] = np.r_[(val_scores[:, 1] > 0.3).astype(int), rng.integers(0, 2, 40)]
    predictions = pd.concat(
        [long_frame(val_scores, val_ids, "oof"), long_frame(rng.random((40, 2)), test_ids, "test")]
    )
    first, calibrated = calibrate_predictions(predictions, labels, ["a", "b"], CalibrateConfig())
    # Change every test label and test score: thresholds and calibrators stay identical.
    labels.loc[labels["id"].str.startswith("t"), ["a", "b"]] ^= 1
    shuffled = predictions.copy()
    shuffled.loc[shuffled["split"] == "test", ["a", "b"]] = rng.random((40, 2))
    second, _ = calibrate_predictions(shuffled, labels, ["a", "b"], CalibrateConfig())
    assert first == second
    assert len(calibrated) == len(predictions)
    assert set(calibrated["split"]) == {"oof", "test"}


def test_platt_never_reverses_the_ranking():
    scores = np.array([0.1, 0.2, 0.3, 0.8, 0.9])
    params = fit_platt(scores, np.array([1, 1, 0, 0, 0]))  # anti-correlated noise
    assert params["a"] > 0
    calibrated = apply_calibrator("platt", params, scores)
    assert (np.diff(calibrated) > 0).all()
    assert calibrated.mean() == pytest.approx(0.4, abs=0.05)  # intercept fits the base rate


def test_a_class_without_skill_does_not_flood_the_calls():
    rng = np.random.default_rng(3)
    n = 200
    skilled_y = (rng.random(n) < 0.2).astype(int)
    skilled = np.clip(0.7 * skilled_y + 0.3 * rng.random(n), 0, 1)
    unskilled_y = (rng.random(n) < 0.1).astype(int)
    unskilled = rng.random(n)  # carries no information about its labels
    scores = np.column_stack([skilled, unskilled])
    labels = np.column_stack([skilled_y, unskilled_y])
    fitted = fit_calibration(
        scores, labels, ["skilled", "unskilled"], method="none", always_call_top=False
    )
    thresholds = np.array([fitted["classes"][c]["threshold"] for c in ("skilled", "unskilled")])
    calls = scores >= thresholds
    # Without the cap the F1 optimum of the uninformative class calls most enzymes.
    threshold, _ = best_f1_threshold(unskilled, unskilled_y)
    assert (unskilled >= threshold).mean() > 0.5
    # With it, a class is called at most 1.5x as often as it occurs.
    assert calls[:, 1].sum() <= 1.5 * unskilled_y.sum()
    # An informative class keeps its F1-optimal threshold.
    assert f1_score(skilled_y, calls[:, 0]) > 0.9
    loose = fit_calibration(
        scores,
        labels,
        ["skilled", "unskilled"],
        method="none",
        max_calls_per_positive=None,
        always_call_top=False,
    )
    assert (unskilled >= loose["classes"]["unskilled"]["threshold"]).mean() > 0.5


def test_thresholds_decide_only_the_calls_beyond_the_top_call():
    """With the top call made anyway, a class whose positives are all top calls needs no
    extra calls; the chosen threshold is F1-optimal for "top or above threshold"."""
    rng = np.random.default_rng(5)
    n = 150
    labels = np.zeros((n, 2), dtype=int)
    labels[np.arange(n), rng.integers(0, 2, n)] = 1
    scores = np.clip(labels * 0.6 + rng.random((n, 2)) * 0.5, 0, 1)
    fitted = fit_calibration(scores, labels, ["a", "b"], method="none")
    top = np.zeros_like(labels, dtype=bool)
    top[np.arange(n), scores.argmax(axis=1)] = True
    for j, name in enumerate(("a", "b")):
        threshold = fitted["classes"][name]["threshold"]
        chosen = f1_score(labels[:, j], top[:, j] | (scores[:, j] >= threshold))
        brute = max(
            f1_score(labels[:, j], top[:, j] | (scores[:, j] >= t))
            for t in [*np.unique(scores[:, j]), 1.0]
        )
        assert chosen == pytest.approx(brute)


def test_a_class_that_ranks_well_is_callable():
    """A class with AP >= 0.5 out of fold that is never anyone's top call, and whose calls
    the cap would forbid, keeps its plain F1-optimal threshold so that it can be called."""
    rng = np.random.default_rng(7)
    n = 200
    y = (rng.random(n) < 0.1).astype(int)
    weak_but_ranked = 0.05 + 0.1 * y + 0.01 * rng.random(n)  # ranks well, never the top
    dominant = 0.9 + 0.05 * rng.random(n)
    scores = np.column_stack([dominant, weak_but_ranked])
    labels = np.column_stack([np.ones(n, int), y])
    fitted = fit_calibration(
        scores, labels, ["all", "ranked"], method="none", max_calls_per_positive=0.01
    )
    entry = fitted["classes"]["ranked"]
    assert entry["callable_threshold"]
    calls = call_ensembles(scores, np.array([0.5, entry["threshold"]]), True)
    assert f1_score(y, calls[:, 1]) > 0.9
