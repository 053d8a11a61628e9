"""The member contract, checked for every registered member, and a member added from a test.

Every member: scores of the right shape in [0, 1], a state that survives the bundle file
(plain payload, ``torch.load(weights_only=True)``), and out-of-fold scores that never see
their own fold. A toy member defined here only runs through the whole cross-fitting
procedure, calibration and a bundle round trip: adding a member edits no other file.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from conftest import DEMO_PFAM
from learning_synthetic import calibrate_settings, fast_train, make_dataset, make_hits

from terpene_ensembles.learning import cross_fitting
from terpene_ensembles.learning.bundle import ModelBundle
from terpene_ensembles.learning.cross_validation import run_fold, run_procedure
from terpene_ensembles.learning.members import registry
from terpene_ensembles.learning.model import FittedModel
from terpene_ensembles.learning.payload import load_payload, save_payload

N = 90


@pytest.fixture(scope="module")
def data():
    return make_dataset(n=N, positions=True, plm_dim=8)


@pytest.fixture(scope="module")
def hits(data):
    return make_hits(data)


def settings_for(name: str):
    return fast_train(members=[name], max_epochs=2)


@pytest.mark.parametrize("name", registry.names())
def test_every_member_keeps_the_contract(name, data, hits, tmp_path):
    member = registry.get(name)
    assert member.name == name and member.needs <= set(registry.INPUTS)
    settings = settings_for(name)
    train, query = data.subset(np.arange(N) % 3 != 0), data.subset(np.arange(N) % 3 == 0)
    grid = member.grid(settings)
    states = member.fit_grid(train, grid, settings)
    assert list(states) == list(grid)
    state = states[grid[0]]
    scores = member.score(state, query, hits)
    assert scores.shape == (len(query.ids), len(data.ensemble_ids))
    assert np.isfinite(scores).all() and scores.min() >= 0 and scores.max() <= 1
    assert member.inputs_of(state) <= set(registry.INPUTS)

    save_payload({"state": state.to_payload()}, tmp_path / "state.pt")
    reloaded = member.load_state(load_payload(tmp_path / "state.pt")["state"])
    np.testing.assert_allclose(member.score(reloaded, query, hits), scores, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", registry.names())
def test_out_of_fold_scores_of_every_member_never_see_their_own_fold(name, data, hits):
    """Flipping the labels of inner fold 2 leaves its out-of-fold scores unchanged."""
    folds = np.arange(N) % 3
    altered = data.subset(np.ones(N, bool))
    altered.labels = data.labels.copy()
    altered.labels[folds == 2] = 1 - altered.labels[folds == 2]
    settings = settings_for(name)
    value = registry.get(name).grid(settings)[0]
    before = cross_fitting.out_of_fold_member(name, data, folds, hits, settings, (value,))
    after = cross_fitting.out_of_fold_member(name, altered, folds, hits, settings, (value,))
    held = folds == 2
    np.testing.assert_allclose(before[value][held], after[value][held])
    assert not np.allclose(before[value][~held], after[value][~held])


def test_the_registry_lists_the_schema_members():
    import yaml
    from conftest import REPO

    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    train = schema["properties"]["train"]["properties"]
    listed = next(o for o in train["members"]["oneOf"] if o["type"] == "array")
    assert list(listed["items"]["enum"]) == list(registry.names())
    assert list(train["excluded_candidates"]["items"]["enum"]) == list(registry.names())
    assert set(registry.baseline_names()) == {"knn_identity", "logistic_regression"}


# --- a member added from this file only ------------------------------------------------------


@dataclass
class CentroidState:
    centroids: np.ndarray  # (K, F) mean features of each class's positives
    scale: float

    def to_payload(self) -> dict:
        return {"centroids": self.centroids, "scale": self.scale}


class NearestCentroid(registry.Member):
    """Scores each class by the distance of the enzyme's features to the class centroid."""

    name = "toy_centroid"
    needs = frozenset({"features"})

    def grid(self, settings):
        return (0.5, 2.0)

    def fit(self, train, value, settings, device="cpu"):
        positives = train.labels.T @ train.features / np.maximum(train.labels.sum(0), 1)[:, None]
        return CentroidState(positives, float(value))

    def score(self, state, data, hits):
        distance = ((data.features[:, None, :] - state.centroids[None]) ** 2).sum(-1)
        return np.exp(-distance / (state.scale * data.features.shape[1]))

    def load_state(self, payload):
        return CentroidState(np.asarray(payload["centroids"]), float(payload["scale"]))


@pytest.fixture
def toy_member():
    registry.register(NearestCentroid)
    yield NearestCentroid.name
    registry.unregister(NearestCentroid.name)


def test_a_member_defined_in_a_test_runs_through_the_whole_procedure(toy_member, tmp_path):
    data = make_dataset(n=120, positions=True)
    hits = make_hits(data)
    folds = np.arange(120) % 3
    train_settings = fast_train(members=[toy_member, "identity_kernel"])
    is_test = folds == 0
    cross_fit, test_scores, predictions, thresholds, calibrated = run_procedure(
        data, is_test, folds, hits, train_settings, calibrate_settings()
    )
    assert cross_fit.model.combined_members == [toy_member, "identity_kernel"]
    assert set(cross_fit.model.selection[toy_member]["oof_map"]) == {"0.5", "2.0"}
    assert toy_member in set(predictions["predictor"]) and toy_member in thresholds["predictors"]

    # the fitted model and the bundle round-trip through their files
    cross_fit.model.save(tmp_path / "model.pt")
    model = FittedModel.load(tmp_path / "model.pt")
    test = data.subset(is_test)
    np.testing.assert_allclose(model.score(test, hits)["model"], test_scores["model"])
    enzymes = pd.DataFrame({"id": data.ids, "sequence": ["MKV"] * 120})
    ensembles = pd.DataFrame({"ensemble_id": data.ensemble_ids})
    ModelBundle.assemble(model, thresholds, enzymes, ensembles, DEMO_PFAM).save(tmp_path / "bundle")
    bundle = ModelBundle.load(tmp_path / "bundle")
    features = pd.DataFrame(test.features, columns=data.feature_columns)
    features.insert(0, "id", test.ids)
    scored = bundle.score(features, None, hits, None)
    expected = calibrated[(calibrated["predictor"] == "model") & (calibrated["split"] == "test")]
    np.testing.assert_allclose(
        scored["calibrated/model"].loc[expected["id"]].to_numpy(),
        expected[data.ensemble_ids].to_numpy(),
        atol=1e-9,
    )

    # an outer CV fold with its ablations and metrics: the toy member is a component
    families = {i: ("C10" if data.labels[k, 0] else "C15") for k, i in enumerate(data.ids)}
    fold = run_fold(data, folds, 1, hits, families, train_settings, calibrate_settings())
    assert toy_member in fold["test"]["components"]
    assert {f"only:{toy_member}", f"without:{toy_member}"} <= set(fold["ablations"])
