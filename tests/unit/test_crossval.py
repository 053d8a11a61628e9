import numpy as np
import pandas as pd
import pytest
from learning_synthetic import calibrate_settings, fast_train, make_dataset, make_hits

from terpene_ensembles.errors import ConfigError
from terpene_ensembles.learning import cross_fitting as learner
from terpene_ensembles.learning.cross_validation import (
    ablations,
    fold_partition,
    run_fold,
    run_procedure,
    summarise,
)
from terpene_ensembles.learning.homology_transfer import score_knn_identity
from terpene_ensembles.learning.members import registry
from terpene_ensembles.learning.members.logistic_regression import C_GRID as LR_C_GRID
from terpene_ensembles.learning.metrics import mean_average_precision, predictor_metrics
from terpene_ensembles.learning.reference_predictors import label_prior
from terpene_ensembles.learning.training_data import (
    HIT_COLUMNS,
    TrainingInputError,
    read_identity_hits,
)
from terpene_ensembles.settings import TrainConfig


def test_fold_partition_marks_the_test_fold():
    folds = np.array([0, 1, 2, 0, 1, 2])
    assert fold_partition(folds, 2).tolist() == [False, False, True, False, False, True]
    with pytest.raises(TrainingInputError):
        fold_partition(folds, 3)


def test_hit_table_of_an_older_version_asks_for_the_search_again(tmp_path):
    hits = make_hits(make_dataset(n=30))
    hits.drop(columns=["query_length", "target_length"]).to_parquet(tmp_path / "old.parquet")
    with pytest.raises(TrainingInputError, match="forcerun pairwise_identity"):
        read_identity_hits(tmp_path / "old.parquet")
    hits.to_parquet(tmp_path / "new.parquet")
    assert list(read_identity_hits(tmp_path / "new.parquet").columns) == HIT_COLUMNS


def test_out_of_fold_scores_never_see_their_own_fold():
    """Changing the labels of one inner fold leaves that fold's OOF member scores as they
    were: each enzyme is scored by members fitted without its fold."""
    data = make_dataset(n=120, positions=True)
    folds = np.arange(120) % 4
    hits = make_hits(data)
    settings = fast_train()
    altered = data.subset(np.ones(120, bool))
    altered.labels = data.labels.copy()
    altered.labels[folds == 2] = 1 - altered.labels[folds == 2]
    members = ("logistic_regression", 0.1), ("positions", 0.1), ("knn_identity", None)
    for member, c in (*members, ("identity_kernel", None)):
        before = learner.out_of_fold_member(member, data, folds, hits, settings, (c,))
        after = learner.out_of_fold_member(member, altered, folds, hits, settings, (c,))
        held = folds == 2
        np.testing.assert_allclose(before[c][held], after[c][held])
        assert not np.allclose(before[c][~held], after[c][~held])


def test_procedure_chooses_on_out_of_fold_scores_and_stacks_the_members():
    data = make_dataset(n=160, positions=True, plm_dim=8)
    folds = np.arange(160) % 4
    hits = make_hits(data)
    cross_fit = learner.fit_predictors(data, folds, hits, fast_train())
    selection = cross_fit.model.selection["logistic_regression"]
    assert selection["c"] == max(LR_C_GRID, key=lambda c: (selection["oof_map"][str(c)], -c))
    assert set(cross_fit.model.combined_members) == {
        "knn_identity",
        "logistic_regression",
        "positions",
        "plm",
    }
    for name in ("model", "knn_identity", "logistic_regression", "positions", "plm"):
        assert cross_fit.oof[name].shape == data.labels.shape
    # the positions spell the labels: that member, and the stack, rank far above chance
    assert mean_average_precision(data.labels, cross_fit.oof["positions"]) > 0.9
    assert mean_average_precision(data.labels, cross_fit.oof["model"]) > 0.9
    scores = cross_fit.model.score(data, hits)
    assert scores["model"].shape == data.labels.shape
    assert ((scores["model"] > 0) & (scores["model"] < 1)).all()


@pytest.mark.parametrize("similarity", ["bits_per_residue", "covered_identity"])
def test_identity_kernel_member_weighs_every_training_homolog(similarity):
    """identity_kernel is the kNN scorer over all hits with weight
    similarity**kernel_power (``train.kernel_similarity``, by default the bit score per
    residue); it returns scores only (the best identity comes from knn_identity)."""
    data = make_dataset(n=60, positions=False)
    hits = make_hits(data)
    train, query = data.subset(np.arange(60) % 3 != 0), data.subset(np.arange(60) % 3 == 0)
    overrides = {"kernel_power": 7.0}
    if similarity != TrainConfig().kernel_similarity:
        overrides["kernel_similarity"] = similarity
    settings = fast_train(**overrides)
    kernel = registry.get("identity_kernel")
    state = kernel.fit(train, None, settings)
    assert state.k is None and state.power == 7.0
    assert state.similarity == similarity
    scores = kernel.score(state, query, hits)
    expected, _ = score_knn_identity(
        query.ids, hits, train.ids, train.labels.astype(float), label_prior(train.labels),
        k=None, power=7.0, similarity=similarity,
    )  # fmt: skip
    np.testing.assert_allclose(scores, expected)
    other = "covered_identity" if similarity == "bits_per_residue" else "bits_per_residue"
    state.similarity = other
    assert not np.allclose(scores, kernel.score(state, query, hits))
    knn = registry.get("knn_identity")
    knn_state = knn.fit(train, None, settings)
    knn_scores = knn.score(knn_state, query, hits)
    assert knn_state.k == settings.knn_k and not np.allclose(knn_scores, scores)


def test_members_without_their_input_are_left_out():
    data = make_dataset(n=80)
    settings = fast_train()
    assert learner.active_members(settings, data) == ["knn_identity", "logistic_regression"]
    with pytest.raises(ConfigError, match="unknown member 'oracle'"):
        learner.active_members(fast_train(members=["oracle"]), data)
    with pytest.raises(ConfigError, match="unknown train settings"):
        TrainConfig.from_config({"combination_grid": 3})


def test_run_fold_and_summary_on_synthetic_folds():
    data = make_dataset(n=150, positions=True, plm_dim=8)
    folds = np.arange(150) % 3
    hits = make_hits(data)
    families = {i: ("C10" if data.labels[k, 0] else "C15") for k, i in enumerate(data.ids)}
    settings = fast_train(members=["identity_kernel", "positions"])  # a fixed stack
    results = [
        run_fold(data, folds, fold, hits, families, settings, calibrate_settings(min_positives=3))
        for fold in range(3)
    ]
    for result in results:
        assert result["n_test"] == 50 and result["n_dev"] == 100
        assert set(result["test"]["baselines"]) == {
            "knn_identity",
            "logistic_regression",
            "label_prior",
            "random",
        }
        assert set(result["test"]["components"]) == {"identity_kernel", "positions"}
        assert result["substrate"]["model"]["map"] is not None
        ablations = result["ablations"]
        assert {
            "model",
            "only:positions",
            "without:positions",
            "without:identity_kernel",
            "with:knn_identity",
            "without_group:pfam",
            "with_group:motif",
        } <= set(ablations)
        # the ablation's full model is the reported model (taken from the test metrics)
        assert ablations["model"]["map"] == result["test"]["model"]["map"]
    summary = summarise(results)
    assert summary["n_folds"] == 3
    values = summary["model"]["map"]["values"]
    assert summary["model"]["map"]["mean"] == pytest.approx(np.mean(values), abs=1e-6)
    assert summary["model"]["map"]["std"] == pytest.approx(np.std(values, ddof=1), abs=1e-6)
    assert "substrate_map" in summary["model"]
    assert summary["ablations"]["without:positions"]["map"]["mean"] is not None
    assert set(summary["acceptance"]) >= {"precision_at_1_minus_best_baseline", "passed"}
    # the features carry the labels: the model must clearly beat random on every fold
    assert summary["model"]["map"]["mean"] > summary["random"]["map"]["mean"] + 0.1


def test_ablation_rows_taken_from_the_test_metrics_equal_recomputed_ones():
    """The model and only:<member> rows reuse the fold's test metrics instead of computing
    them again; the ablation's own recipe gives exactly the same numbers."""
    data = make_dataset(n=150, positions=True, plm_dim=8)
    folds = np.arange(150) % 3
    hits = make_hits(data)
    settings = fast_train(members=["knn_identity", "positions"])
    calibrate = calibrate_settings(min_positives=3)
    is_test = fold_partition(folds, 0)
    cross_fit, test_scores, _, calibration, calibrated = run_procedure(
        data, is_test, folds, hits, settings, calibrate
    )
    truth = learner.labels_frame(data).set_index("id")
    test = predictor_metrics(
        calibrated, truth, calibration, data.ensemble_ids, registry.baseline_names(), "test"
    )
    args = (data, is_test, folds, hits, cross_fit, test_scores, settings, calibrate)
    reused = ablations(*args, test_metrics=test)
    recomputed = ablations(*args)
    assert {"model", "only:knn_identity", "only:positions", "only:plm"} <= set(reused)
    assert reused == recomputed


def test_the_procedure_is_deterministic():
    """Training twice on the same inputs gives bit-identical predictions and thresholds."""
    data = make_dataset(n=120, positions=True, plm_dim=8)
    folds = np.arange(120) % 3
    hits = make_hits(data)
    is_test = folds == 0
    first = run_procedure(data, is_test, folds, hits, fast_train(), calibrate_settings())
    second = run_procedure(data, is_test, folds, hits, fast_train(), calibrate_settings())
    pd.testing.assert_frame_equal(first[2], second[2])  # raw predictions
    assert first[3] == second[3]  # thresholds.json content
    pd.testing.assert_frame_equal(first[4], second[4])  # calibrated predictions


def test_the_fusion_network_can_be_a_member():
    data = make_dataset(n=90, plm_dim=8)
    folds = np.arange(90) % 3
    settings = fast_train(members=["knn_identity", "fusion"], max_epochs=2)
    cross_fit = learner.fit_predictors(data, folds, make_hits(data), settings)
    assert cross_fit.model.combined_members == ["knn_identity", "fusion"]
    scores = cross_fit.model.score(data, make_hits(data))
    assert scores["fusion"].shape == data.labels.shape


def test_training_device_is_cpu_without_a_torch_member():
    """Only the fusion member runs on torch; without it nothing would use a GPU, so the
    stage reports cpu (and skips importing torch) whatever ``train.device`` says."""
    linear = TrainConfig.from_config({"members": ["knn_identity", "positions"], "device": "cuda"})
    assert learner.training_device(linear) == "cpu"
    fusion_on_cpu = TrainConfig.from_config({"members": ["fusion"], "device": "cpu"})
    assert learner.training_device(fusion_on_cpu, threads=1) == "cpu"
