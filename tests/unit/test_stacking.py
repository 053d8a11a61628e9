"""The stacked combiner: design, fit on out-of-fold scores, cross-fitting."""

import numpy as np

from terpene_ensembles.learning import stacking


def member_scores(seed=0, n=200, k=4):
    rng = np.random.default_rng(seed)
    labels = (rng.random((n, k)) < 0.3).astype(int)
    informative = np.clip(0.6 * labels + 0.4 * rng.random((n, k)), 0.01, 0.99)
    noise = rng.random((n, k))
    return {"good": informative, "noise": noise}, labels, rng.random(n)


def test_design_has_one_row_per_enzyme_and_class_and_named_columns():
    scores, _, identity = member_scores(n=5, k=3)
    x = stacking.design_matrix(scores, ["good", "noise"], identity)
    assert x.shape == (15, len(stacking.column_names(["good", "noise"])))
    # row-major (enzyme, class); the top-class indicator marks each enzyme's argmax
    top = x[:, stacking.column_names(["good", "noise"]).index("top(good)")].reshape(5, 3)
    np.testing.assert_array_equal(top.argmax(axis=1), scores["good"].argmax(axis=1))
    assert (top.sum(axis=1) == 1).all()


def test_combiner_trusts_the_informative_member():
    scores, labels, identity = member_scores()
    combiner = stacking.fit_combiner(scores, ["good", "noise"], identity, labels)
    weights = dict(zip(combiner.columns, combiner.coef, strict=True))
    assert weights["logit(good)"] > 5 * abs(weights["logit(noise)"])
    probabilities = combiner.apply(scores, identity)
    assert probabilities.shape == labels.shape
    assert ((probabilities > 0) & (probabilities < 1)).all()


def test_cross_fitted_probabilities_never_see_their_own_fold():
    scores, labels, identity = member_scores(seed=1)
    folds = np.arange(len(labels)) % 4
    first = stacking.cross_fitted_combination(scores, ["good", "noise"], identity, labels, folds)
    flipped = labels.copy()
    flipped[folds == 1] = 1 - flipped[folds == 1]
    second = stacking.cross_fitted_combination(scores, ["good", "noise"], identity, flipped, folds)
    np.testing.assert_allclose(first[folds == 1], second[folds == 1])
    assert not np.allclose(first[folds != 1], second[folds != 1])
    assert np.isfinite(first).all()


def penalised_gradient(combiner, scores, members, identity, labels):
    """Gradient of scikit-learn's objective C * log-loss + |w|^2 / 2 at the fitted weights."""
    x = stacking.design_matrix(scores, members, identity)
    p = combiner.apply(scores, identity).ravel()
    residual = p - np.asarray(labels).ravel()
    weights = np.asarray(combiner.coef)
    return np.append(stacking.COMBINER_C * x.T @ residual + weights, residual.sum())


def test_combiner_weights_are_the_optimum_not_a_solver_stopping_point():
    # Correlated members on many pairs, as in the pipeline: a loose solver stops where the
    # objective is flat, and where exactly depends on rounding (the BLAS thread count).
    rng = np.random.default_rng(3)
    labels = (rng.random((3000, 12)) < 0.1).astype(int)
    base = 0.5 * labels + 0.5 * rng.random(labels.shape)
    scores = {
        "a": np.clip(base + 0.1 * rng.random(labels.shape), 1e-6, 1 - 1e-6),
        "b": np.clip(base**3 + 0.1 * rng.random(labels.shape), 1e-6, 1 - 1e-6),
    }
    identity = rng.random(len(labels))
    combiner = stacking.fit_combiner(scores, ["a", "b"], identity, labels)
    gradient = penalised_gradient(combiner, scores, ["a", "b"], identity, labels)
    assert np.abs(gradient).max() < 1e-6
