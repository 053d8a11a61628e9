import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import DEMO_PFAM
from learning_synthetic import calibrate_settings, fast_train, make_dataset, make_hits

from terpene_ensembles.features.domains import profile_checksums
from terpene_ensembles.learning import cross_fitting as learner
from terpene_ensembles.learning.bundle import (
    BUNDLE_FILE,
    FORMAT_VERSION,
    MANIFEST_FILE,
    PFAM_DIR,
    BundleError,
    ModelBundle,
)
from terpene_ensembles.learning.calibration import calibrate_predictions
from terpene_ensembles.learning.model import FittedModel
from terpene_ensembles.learning.payload import load_payload, save_payload


def trained_bundle(tmp_path, plm_dim):
    """A model trained on 90 synthetic enzymes, its bundle and the 30 test enzymes."""
    data = make_dataset(n=120, plm_dim=plm_dim, positions=True)
    hits = make_hits(data)
    is_test = np.arange(120) >= 90
    dev, test = data.subset(~is_test), data.subset(is_test)
    cross_fit = learner.fit_predictors(dev, np.arange(90) % 3, hits, fast_train())
    cross_fit.model.save(tmp_path / "model.pt")
    cross_fit.model.save(tmp_path / "again.pt")
    assert (tmp_path / "model.pt").read_bytes() == (tmp_path / "again.pt").read_bytes()
    reloaded = FittedModel.load(tmp_path / "model.pt")
    test_scores = reloaded.score(test, hits)
    predictions = learner.long_predictions(cross_fit, dev, test_scores, test)
    thresholds, calibrated = calibrate_predictions(
        predictions, learner.labels_frame(data), data.ensemble_ids, calibrate_settings()
    )
    enzymes = pd.DataFrame({"id": data.ids, "sequence": ["MKV" + "A" * i for i in range(120)]})
    ensembles = pd.DataFrame({"ensemble_id": data.ensemble_ids, "name": data.ensemble_ids})
    ModelBundle.assemble(reloaded, thresholds, enzymes, ensembles, DEMO_PFAM).save(
        tmp_path / "model"
    )
    return data, test, hits, calibrated


@pytest.mark.parametrize("plm_dim", [None, 8])
def test_bundle_reproduces_training_run_predictions(tmp_path, plm_dim):
    data, test, hits, calibrated = trained_bundle(tmp_path, plm_dim)

    # The bundle file holds only tensors and plain python values.
    raw = torch.load(tmp_path / "model" / BUNDLE_FILE, weights_only=True)
    assert raw["format_version"] == FORMAT_VERSION
    assert len(raw["reference_sequences"]) == len(raw["model"]["reference_ids"]) == 90

    bundle = ModelBundle.load(tmp_path / "model")
    assert bundle.uses("positions") and bundle.uses("embeddings") == (plm_dim is not None)
    features = pd.DataFrame(test.features, columns=data.feature_columns)
    features.insert(0, "id", test.ids)
    embeddings = (
        None
        if plm_dim is None
        else pd.DataFrame({"id": test.ids, "embedding": list(test.embeddings)})
    )
    out = bundle.score(features, embeddings, hits, test.positions)
    rows = calibrated[(calibrated["predictor"] == "model") & (calibrated["split"] == "test")]
    expected = rows.set_index("id")[data.ensemble_ids]
    assert out["calibrated/model"].loc[expected.index].to_numpy() == pytest.approx(
        expected.to_numpy(), abs=1e-9
    )
    assert out["calls"].any(axis=1).all()  # always_call_top by default
    with pytest.raises(BundleError, match="positions"):
        bundle.score(features, embeddings, hits, None)
    if plm_dim is not None:
        with pytest.raises(BundleError, match="embeddings"):
            bundle.score(features, None, hits, test.positions)


def format_2_payload(payload: dict) -> dict:
    """The same bundle in format 2: the model's fields at the top level, the reference
    sequences inside the homology baseline's entry, homology members without a
    similarity (they weighed by identity then)."""
    model = payload["model"]
    members = {name: dict(state) for name, state in model["members"].items()}
    for state in members.values():
        if state.get("similarity") == "identity":
            del state["similarity"]
    members["knn_identity"]["reference_sequences"] = payload["reference_sequences"]
    old = {k: v for k, v in model.items() if k not in ("members", "reference_ids")}
    return old | {
        "format_version": 2,
        "members": members,
        "ensembles": payload["ensembles"],
        "calibration": payload["calibration"],
        "always_call_top": payload["always_call_top"],
    }


def test_a_format_2_bundle_is_migrated_on_load_and_scores_the_same(tmp_path):
    data, test, hits, _ = trained_bundle(tmp_path, None)
    payload = load_payload(tmp_path / "model" / BUNDLE_FILE)
    (tmp_path / "old").mkdir()
    save_payload(format_2_payload(payload), tmp_path / "old" / BUNDLE_FILE)
    new, old = ModelBundle.load(tmp_path / "model"), ModelBundle.load(tmp_path / "old")
    assert old.model.reference_ids == new.model.reference_ids
    assert old.reference_sequences == new.reference_sequences
    features = pd.DataFrame(test.features, columns=data.feature_columns)
    features.insert(0, "id", test.ids)
    scored_new = new.score(features, None, hits, test.positions)
    scored_old = old.score(features, None, hits, test.positions)
    for key, frame in scored_new.items():
        pd.testing.assert_frame_equal(scored_old[key], frame)


def test_bundle_carries_the_reliability_table_and_training_annotations(tmp_path):
    from terpene_ensembles.learning.reliability import GROUPED, band_table, enzyme_outcomes
    from terpene_ensembles.predict.model import BundleScorer

    data, _, _, _ = trained_bundle(tmp_path, None)
    model = FittedModel.load(tmp_path / "model.pt")
    labels = learner.labels_frame(data)
    y = data.labels[:30]
    table = band_table(enzyme_outcomes(data.ids[:30], np.full(30, 0.35), y, y, y > 0, GROUPED))
    reliability = {"predictors": {"model": table}}
    thresholds = load_payload(tmp_path / "model" / BUNDLE_FILE)
    enzymes = pd.DataFrame(
        {
            "id": data.ids,
            "sequence": ["MKV" + "A" * i for i in range(120)],
            "enzyme_name": [f"synthase {i}" for i in range(120)],
        }
    )
    ensembles = pd.DataFrame({"ensemble_id": data.ensemble_ids, "name": data.ensemble_ids})
    ModelBundle.assemble(
        model,
        {
            "predictors": thresholds["calibration"],
            "settings": {"always_call_top": thresholds["always_call_top"]},
        },
        enzymes,
        ensembles,
        DEMO_PFAM,
        labels=labels,
        reliability=reliability,
    ).save(tmp_path / "annotated")
    bundle = ModelBundle.load(tmp_path / "annotated")
    assert bundle.model_reliability() == table
    names, made = bundle.reference_annotation_maps()
    first = str(model.reference_ids[0])
    row = labels.set_index("id").loc[first]
    assert names[first] == f"synthase {list(data.ids).index(first)}"
    assert made[first] == [c for c in data.ensemble_ids if row[c] == 1]
    context = BundleScorer(bundle, featurizer=None).context
    assert context.reliability == table and context.members == model.combined_members

    # A format-4 bundle (band rows without expected_top_precision) gets it derived on load.
    bare = [{k: v for k, v in row.items() if k != "expected_top_precision"} for row in table]
    old_reliability = {"predictors": {"model": bare}}
    (tmp_path / "v4").mkdir()
    save_payload(
        load_payload(tmp_path / "annotated" / BUNDLE_FILE)
        | {"format_version": 4, "reliability": old_reliability},
        tmp_path / "v4" / BUNDLE_FILE,
    )
    assert ModelBundle.load(tmp_path / "v4").model_reliability() == table

    # A format-3 bundle (no table, no annotations) still loads; its evidence stays empty.
    payload = load_payload(tmp_path / "annotated" / BUNDLE_FILE)
    old = {k: v for k, v in payload.items() if k not in ("reliability", "reference_annotations")}
    (tmp_path / "v3").mkdir()
    save_payload(old | {"format_version": 3}, tmp_path / "v3" / BUNDLE_FILE)
    migrated = ModelBundle.load(tmp_path / "v3")
    assert migrated.model_reliability() is None
    assert migrated.reference_annotation_maps() == ({}, {})


def test_bundle_checks(tmp_path):
    with pytest.raises(BundleError, match="no model bundle"):
        ModelBundle.load(tmp_path)
    save_payload({"format_version": 999}, tmp_path / BUNDLE_FILE)
    with pytest.raises(BundleError, match="format"):
        ModelBundle.load(tmp_path)


def test_bundle_carries_its_pfam_hmms_and_refuses_others(tmp_path):
    data = make_dataset(n=60, positions=True)
    hits = make_hits(data)
    is_test = np.arange(60) >= 45
    dev, test = data.subset(~is_test), data.subset(is_test)
    cross_fit = learner.fit_predictors(dev, np.arange(45) % 3, hits, fast_train())
    test_scores = cross_fit.model.score(test, hits)
    predictions = learner.long_predictions(cross_fit, dev, test_scores, test)
    thresholds, _ = calibrate_predictions(
        predictions, learner.labels_frame(data), data.ensemble_ids, calibrate_settings()
    )
    enzymes = pd.DataFrame({"id": data.ids, "sequence": ["MKV" + "A" * i for i in range(60)]})
    ensembles = pd.DataFrame({"ensemble_id": data.ensemble_ids, "name": data.ensemble_ids})
    trained = tmp_path / "trained"
    ModelBundle.assemble(cross_fit.model, thresholds, enzymes, ensembles, DEMO_PFAM).save(trained)
    checksums = profile_checksums(DEMO_PFAM)
    assert profile_checksums(trained / PFAM_DIR) == checksums
    assert json.loads((trained / MANIFEST_FILE).read_text())["pfam_profiles"] == checksums

    # A copied model folder uses its own HMMs; the same HMMs elsewhere are accepted.
    copied = tmp_path / "elsewhere" / "model"
    shutil.copytree(trained, copied)
    bundle = ModelBundle.load(copied)
    assert bundle.pfam_folder(copied) == copied / PFAM_DIR
    assert bundle.pfam_folder(copied, DEMO_PFAM) == DEMO_PFAM

    # Other HMMs (one profile edited, one missing) are refused with what differs.
    other = tmp_path / "other_pfam"
    shutil.copytree(DEMO_PFAM, other)
    edited = sorted(other.glob("*.hmm"))[0]
    edited.write_text(edited.read_text().replace("NAME  ", "NAME  x", 1))
    with pytest.raises(BundleError, match=rf"--pfam-dir .*{edited.name}.*leave out --pfam-dir"):
        bundle.pfam_folder(copied, other)
    missing = sorted((copied / PFAM_DIR).glob("*.hmm"))[-1]
    missing.unlink()
    with pytest.raises(BundleError, match=rf"{missing.name}.*the model folder is damaged"):
        bundle.pfam_folder(copied)
    with pytest.raises(BundleError, match="Pfam HMM folder not found"):
        bundle.pfam_folder(copied, tmp_path / "nowhere")
