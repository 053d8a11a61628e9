"""``train.members: auto``: the combiner's members chosen on out-of-fold scores."""

import numpy as np
import pytest
from learning_synthetic import calibrate_settings, fast_train, make_dataset, make_hits

from terpene_ensembles.errors import ConfigError
from terpene_ensembles.learning import cross_fitting as learner
from terpene_ensembles.learning.cross_validation import run_fold, summarise
from terpene_ensembles.learning.members import registry
from terpene_ensembles.learning.metrics import mean_average_precision

# Every non-torch member is a candidate (fusion is excluded as in the offline config).
AUTO = {"members": "auto", "excluded_candidates": ["fusion"]}


def cross_fit(informative_plm: bool, **settings):
    data = make_dataset(n=120, plm_dim=8, informative_plm=informative_plm)
    folds = np.arange(len(data.ids)) % 3
    fitted = learner.fit_predictors(data, folds, make_hits(data), fast_train(**settings))
    return data, fitted


@pytest.fixture(scope="module")
def informative():
    """The auto cross-fit on embeddings that carry the labels (shared: it costs seconds)."""
    return cross_fit(True, **AUTO)


def model_oof_map(data, fitted) -> float:
    return mean_average_precision(data.labels, fitted.oof["model"])


def test_embeddings_that_carry_the_labels_are_selected_and_raise_out_of_fold_map(informative):
    data, with_plm = informative
    _, without_plm = cross_fit(True, members="auto", excluded_candidates=["fusion", "plm"])
    assert "plm" in with_plm.model.combined_members
    assert with_plm.candidates["plm"]["selected"] and with_plm.candidates["plm"]["step"] >= 1
    assert "plm" not in without_plm.candidates
    assert model_oof_map(data, with_plm) > model_oof_map(data, without_plm) + 0.01
    # the fitted model scores with exactly the selected members (plus the baselines)
    assert set(with_plm.model.members) == set(with_plm.model.combined_members) | set(
        registry.baseline_names()
    )


def test_random_embeddings_are_not_selected():
    _, fitted = cross_fit(False, **AUTO)
    plm = fitted.candidates["plm"]
    assert not plm["selected"] and plm["step"] is None
    assert "plm" not in fitted.model.combined_members
    # a member left out is not in the model (so scoring never needs its input) ...
    assert "plm" not in fitted.model.members and "plm" not in fitted.oof
    assert "embeddings" not in fitted.model.inputs()
    # ... but its cross-fitted scores are kept for the ablations
    assert "plm" in fitted.left_out


def test_random_embeddings_fail_the_signal_check_and_informative_ones_pass(informative):
    _, noise = cross_fit(False, **AUTO)
    _, signal = informative
    assert noise.candidates["plm"]["min_fold_map_over_random"] < learner.SIGNAL_MIN_GAIN
    assert signal.candidates["plm"]["min_fold_map_over_random"] >= learner.SIGNAL_MIN_GAIN


def test_signal_check_keeps_members_above_random_scores_on_every_fold():
    rng = np.random.default_rng(0)
    labels = (rng.random((90, 4)) < 0.3).astype(int)
    folds = np.arange(90) % 3
    random_scores = rng.random(labels.shape)
    informative = labels + 0.5 * rng.random(labels.shape)
    # chance level exactly: the random scores themselves, and a rescaled copy (same ranks)
    candidates = {"informative": informative, "chance": random_scores, "scaled": 3 * random_scores}
    signal = {
        name: learner.signal_over_random(scores, random_scores, labels, folds)
        for name, scores in candidates.items()
    }
    assert signal["informative"] > 0.3
    assert signal["chance"] == signal["scaled"] == 0.0
    assert learner.candidates_with_signal(signal) == ["informative"]
    # with no candidate above chance, selection still gets every candidate to start from
    assert learner.candidates_with_signal({"noise": -0.01, "other": 0.0}) == ["noise", "other"]


def test_candidates_table_records_each_candidate_and_the_selection_order(informative):
    data, fitted = informative
    table = fitted.candidates
    # every member with its input (no positions here), in registry order
    assert list(table) == ["knn_identity", "identity_kernel", "logistic_regression", "plm"]
    steps = sorted((e["step"], n) for n, e in table.items() if e["step"] is not None)
    assert [n for _, n in steps] == fitted.model.combined_members
    assert [s for s, _ in steps] == list(range(1, len(steps) + 1))
    for name, entry in table.items():
        assert entry["selected"] == (name in fitted.model.combined_members)
        assert 0.0 <= entry["oof_precision_at_1"] <= 1.0
    # the member-alone numbers are those of its out-of-fold scores
    plm_oof = fitted.oof["plm"]
    assert table["plm"]["oof_map"] == round(mean_average_precision(data.labels, plm_oof), 6)


def test_an_explicit_list_skips_selection(monkeypatch):
    def no_selection(*args, **kwargs):
        raise AssertionError("an explicit member list must not be selected from")

    monkeypatch.setattr(learner, "forward_selection", no_selection)
    _, fitted = cross_fit(False, members=["knn_identity", "plm"])
    assert fitted.model.combined_members == ["knn_identity", "plm"]
    assert {n: (e["step"], e["selected"]) for n, e in fitted.candidates.items()} == {
        "knn_identity": (None, True),
        "plm": (None, True),
    }


def test_selection_is_deterministic(informative):
    _, first = informative
    _, second = cross_fit(True, **AUTO)
    assert first.model.combined_members == second.model.combined_members
    assert first.candidates == second.candidates
    np.testing.assert_array_equal(first.oof["model"], second.oof["model"])


def test_forward_selection_stops_below_the_minimum_gain(informative):
    data, fitted = informative
    oof = {**fitted.oof, **{n: scores for n, (_, scores) in fitted.left_out.items()}}
    folds = np.arange(len(data.ids)) % 3
    candidates = list(fitted.candidates)
    args = (oof, candidates, fitted.best_identity, data.labels, folds)
    selected, steps = learner.forward_selection(*args)
    assert selected == fitted.model.combined_members
    gains = np.diff([step["criterion"] for step in steps])
    assert (gains >= learner.SELECTION_MIN_GAIN - 1e-6).all()
    # an unreachable minimum gain keeps only the first, best single member
    only_first, _ = learner.forward_selection(*args, min_gain=10.0)
    assert only_first == selected[:1]


def test_candidates_come_from_the_registry_less_the_excluded_ones():
    assert learner.configured_members(fast_train(**AUTO)) == [
        n for n in registry.names() if n != "fusion"
    ]
    assert learner.configured_members(fast_train(members=["plm"])) == ["plm"]
    with pytest.raises(ConfigError, match="neither 'auto' nor a list"):
        learner.configured_members(fast_train(members="best"))
    with pytest.raises(ConfigError, match="unknown member 'oracle'"):
        learner.configured_members(fast_train(members="auto", excluded_candidates=["oracle"]))
    # without their input, candidates are left out (no embeddings: no plm)
    data = make_dataset(n=40)
    assert "plm" not in learner.active_members(fast_train(**AUTO), data)


def test_every_cv_fold_selects_and_the_summary_counts_the_selections():
    data = make_dataset(n=150, plm_dim=8, informative_plm=True, positions=True)
    folds = np.arange(150) % 3
    hits = make_hits(data)
    families = {i: ("C10" if data.labels[k, 0] else "C15") for k, i in enumerate(data.ids)}
    settings = fast_train(**AUTO)
    results = [
        run_fold(
            data,
            folds,
            fold,
            hits,
            families,
            settings,
            calibrate_settings(min_positives=3),
            with_ablations=fold == 0,
        )
        for fold in range(3)
    ]
    for result in results:
        assert set(result["candidates"]) == set(learner.configured_members(settings))
        selected = [n for n, e in result["candidates"].items() if e["selected"]]
        assert sorted(selected) == sorted(result["combiner_members"])
    # the ablations' `combined` is what the fold selected; left-out candidates come back
    ablation = results[0]["ablations"]
    left_out = [n for n, e in results[0]["candidates"].items() if not e["selected"]]
    assert all(f"with:{n}" in ablation for n in left_out)
    summary = summarise(results)
    counts = summary["member_selection"]
    assert set(counts) == set(learner.configured_members(settings))
    for name, count in counts.items():
        assert count == sum(name in r["combiner_members"] for r in results)
    assert [f["candidates"] for f in summary["folds"]] == [r["candidates"] for r in results]
    # a member's CV row has values only in the folds whose model combines it (baselines
    # are scored in every fold, selected or not)
    baselines = set(results[0]["test"]["baselines"])
    members = {n for r in results for n in r["combiner_members"]} - baselines
    assert any(any(n not in r["combiner_members"] for r in results) for n in members)
    for name in members:
        present = [value is not None for value in summary[name]["map"]["values"]]
        assert present == [name in r["combiner_members"] for r in results]


def test_summary_of_folds_that_selected_different_members():
    """A fold that selected a member has without:<member>, one that did not has
    with:<member>; the summary keeps both variants, None where a fold lacks one."""
    data = make_dataset(n=150, plm_dim=8, informative_plm=True, positions=True)
    folds = np.arange(150) % 3
    families = {i: ("C10" if data.labels[k, 0] else "C15") for k, i in enumerate(data.ids)}
    result = run_fold(
        data, folds, 0, make_hits(data), families, fast_train(**AUTO), calibrate_settings()
    )
    other = {**result, "fold": 1, "ablations": dict(result["ablations"])}
    moved = next(v for v in other["ablations"] if v.startswith(("with:", "without:")))
    del other["ablations"][moved]
    other["ablations"]["with:imaginary"] = result["ablations"]["model"]
    summary = summarise([result, other])
    assert summary["ablations"][moved]["map"]["values"] == [result["ablations"][moved]["map"], None]
    assert summary["ablations"][moved]["map"]["mean"] == result["ablations"][moved]["map"]
    assert summary["ablations"]["with:imaginary"]["map"]["values"][0] is None
