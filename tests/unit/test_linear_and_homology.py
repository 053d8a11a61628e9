import numpy as np
import pandas as pd
import pytest

from terpene_ensembles.learning.homology_transfer import (
    hit_similarity,
    reference_best_identity,
    score_knn_identity,
)
from terpene_ensembles.learning.linear import fit_logistic_regression_path
from terpene_ensembles.learning.reference_predictors import label_prior, score_random

REFERENCE_IDS = ["r1", "r2", "r3"]
REFERENCE_LABELS = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
PRIOR = np.array([0.2, 0.3])


def hits_frame(rows):
    return pd.DataFrame(rows, columns=["query", "target", "identity"])


def test_knn_is_identity_weighted_label_average():
    hits = hits_frame([("q", "r1", 0.9), ("q", "r2", 0.45)])
    scores, best = score_knn_identity(
        ["q"], hits, REFERENCE_IDS, REFERENCE_LABELS, PRIOR, k=5, power=1.0
    )
    assert scores[0] == pytest.approx([0.9 / 1.35, 0.45 / 1.35])
    assert best[0] == pytest.approx(0.9)
    assert reference_best_identity(["q"], hits, REFERENCE_IDS)[0] == pytest.approx(0.9)


def test_knn_keeps_only_the_k_nearest_and_ignores_non_reference_targets():
    hits = hits_frame(
        [("q", "r1", 0.5), ("q", "r2", 0.8), ("q", "r3", 0.3), ("q", "test_enzyme", 0.99)]
    )
    scores, best = score_knn_identity(["q"], hits, REFERENCE_IDS, REFERENCE_LABELS, PRIOR, k=1)
    assert scores[0] == pytest.approx([0.0, 1.0])  # only r2; the non-reference hit is ignored
    assert best[0] == pytest.approx(0.8)


def test_knn_with_k_none_weighs_every_reference_hit():
    hits = hits_frame(
        [("q", "r1", 0.5), ("q", "r2", 0.8), ("q", "r3", 0.3), ("q", "r2", 0.6), ("q", "x", 0.9)]
    )
    scores, best = score_knn_identity(
        ["q"], hits, REFERENCE_IDS, REFERENCE_LABELS, PRIOR, k=None, power=10.0
    )
    # one weight per reference (its best hit): r1 0.5**10, r2 0.8**10, r3 0.3**10
    weights = np.array([0.5, 0.8, 0.3]) ** 10
    expected = weights @ REFERENCE_LABELS / weights.sum()
    assert scores[0] == pytest.approx(expected)
    assert best[0] == pytest.approx(0.8)
    five, _ = score_knn_identity(
        ["q"], hits, REFERENCE_IDS, REFERENCE_LABELS, PRIOR, k=5, power=10.0
    )
    assert five == pytest.approx(scores)  # fewer hits than k: the same neighbours


def test_bits_per_residue_counts_substitutions_and_discounts_partial_hits():
    """Bit score per residue of the longer protein: a fragment's strong local hit weighs
    less than a full-length one, and a longer protein dilutes the score."""
    hits = pd.DataFrame(
        {
            "query": ["q", "q", "q"],
            "target": ["r1", "r2", "r3"],
            "identity": [0.9, 0.5, 0.5],
            "bits": [300.0, 500.0, 500.0],
            "query_length": [500, 500, 500],
            "target_length": [150, 500, 1000],
        }
    )
    assert hit_similarity(hits, "bits_per_residue").tolist() == pytest.approx([0.6, 1.0, 0.5])
    scores, best = score_knn_identity(
        ["q"], hits, REFERENCE_IDS, REFERENCE_LABELS, PRIOR, k=1, similarity="bits_per_residue"
    )
    assert scores[0] == pytest.approx([0.0, 1.0])  # r2: the full-length, same-length homolog
    assert best[0] == pytest.approx(0.5)  # still reported as identity
    # Similarities above 1 (near-identical pairs) are not clipped: weights 0.6**2, 1.8**2.
    strong = hits.iloc[:2].assign(bits=[300.0, 900.0])
    weighted, _ = score_knn_identity(
        ["q"], strong, REFERENCE_IDS, REFERENCE_LABELS, PRIOR, k=None, power=2.0,
        similarity="bits_per_residue",
    )  # fmt: skip
    assert weighted[0] == pytest.approx([0.1, 0.9])


def test_covered_identity_discounts_partial_alignments():
    hits = pd.DataFrame(
        {
            "query": ["q", "q"],
            "target": ["r1", "r2"],
            "identity": [0.9, 0.6],
            "query_coverage": [0.3, 1.0],
            "target_coverage": [0.95, 0.9],
        }
    )
    assert hit_similarity(hits).tolist() == pytest.approx([0.9, 0.6])
    assert hit_similarity(hits, "covered_identity").tolist() == pytest.approx([0.27, 0.54])
    with pytest.raises(ValueError, match="unknown similarity"):
        hit_similarity(hits, "evalue")
    scores, best = score_knn_identity(
        ["q"], hits, REFERENCE_IDS, REFERENCE_LABELS, PRIOR, k=1, similarity="covered_identity"
    )
    assert scores[0] == pytest.approx([0.0, 1.0])  # r2, the full-length homolog, is nearest
    assert best[0] == pytest.approx(0.6)  # the identity of the hits used
    by_identity, _ = score_knn_identity(["q"], hits, REFERENCE_IDS, REFERENCE_LABELS, PRIOR, k=1)
    assert by_identity[0] == pytest.approx([1.0, 0.0])


def test_knn_without_hits_falls_back_to_prior_and_ignores_self_hits():
    hits = hits_frame([("r1", "r1", 1.0)])
    scores, best = score_knn_identity(["q", "r1"], hits, REFERENCE_IDS, REFERENCE_LABELS, PRIOR)
    assert scores == pytest.approx(np.tile(PRIOR, (2, 1)))
    assert best.tolist() == [0.0, 0.0]


def test_knn_does_not_depend_on_hit_row_order():
    rng = np.random.default_rng(0)
    rows = [(f"q{i}", REFERENCE_IDS[rng.integers(3)], rng.random()) for i in range(30)]
    hits = hits_frame(rows)
    queries = [f"q{i}" for i in range(30)]
    first, _ = score_knn_identity(queries, hits, REFERENCE_IDS, REFERENCE_LABELS, PRIOR, k=2)
    second, _ = score_knn_identity(
        queries, hits.sample(frac=1, random_state=1), REFERENCE_IDS, REFERENCE_LABELS, PRIOR, k=2
    )
    assert first == pytest.approx(second)


def test_label_prior_and_random_are_reproducible():
    assert label_prior(REFERENCE_LABELS) == pytest.approx([2 / 3, 2 / 3])
    first = score_random(["a", "b"], 3, seed=7)
    assert first.shape == (2, 3)
    # per-id seeding: the same id gets the same scores whatever the order
    assert score_random(["b", "a"], 3, seed=7)[1] == pytest.approx(first[0])
    assert not np.allclose(score_random(["a"], 3, seed=8), first[0])


def test_logistic_regression_learns_and_handles_constant_classes():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(200, 3)) * [1.0, 100.0, 0.01]  # scales differ: standardised
    labels = np.zeros((200, 3))
    labels[:, 0] = features[:, 0] > 0
    labels[:, 1] = features[:, 1] < 0
    # class 2: no positives at all
    params = fit_logistic_regression_path(features, labels, (1.0,))[1.0]
    scores = params.scores(features)
    assert ((scores[:, 0] > 0.5) == labels[:, 0].astype(bool)).mean() > 0.95
    assert ((scores[:, 1] > 0.5) == labels[:, 1].astype(bool)).mean() > 0.95
    assert scores[:, 2].max() < 1e-3
    payload = params.to_payload()
    assert all(isinstance(payload[k], np.ndarray) for k in ("mean", "scale", "coef", "intercept"))
