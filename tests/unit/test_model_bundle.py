import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import DEMO_PFAM
from learning_synthetic import FAST_TRAIN, make_dataset, make_hits

from terpene_ensembles import learner
from terpene_ensembles.calibration import calibrate_predictions
from terpene_ensembles.domains import profile_checksums
from terpene_ensembles.model_bundle import (
    BUNDLE_FILE,
    FORMAT_VERSION,
    MANIFEST_FILE,
    PFAM_DIR,
    BundleError,
    assemble_bundle,
    load_bundle,
    load_payload,
    pfam_folder,
    save_payload,
    score,
)


@pytest.mark.parametrize("plm_dim", [None, 8])
def test_bundle_reproduces_training_run_predictions(tmp_path, plm_dim):
    data = make_dataset(n=120, plm_dim=plm_dim, positions=True)
    hits = make_hits(data)
    is_test = np.arange(120) >= 90
    dev, test = data.subset(~is_test), data.subset(is_test)
    cross_fit = learner.fit_predictors(dev, np.arange(90) % 3, hits, FAST_TRAIN)
    save_payload(cross_fit.fitted, tmp_path / "model.pt")
    save_payload(cross_fit.fitted, tmp_path / "again.pt")
    assert (tmp_path / "model.pt").read_bytes() == (tmp_path / "again.pt").read_bytes()
    reloaded = load_payload(tmp_path / "model.pt")
    test_scores = learner.score_predictors(reloaded, test, hits)
    predictions = learner.long_predictions(cross_fit, dev, test_scores, test)
    thresholds, calibrated = calibrate_predictions(
        predictions, learner.labels_frame(data), data.ensemble_ids, {}
    )
    enzymes = pd.DataFrame({"id": data.ids, "sequence": ["MKV" + "A" * i for i in range(120)]})
    ensembles = pd.DataFrame({"ensemble_id": data.ensemble_ids, "name": data.ensemble_ids})
    assemble_bundle(reloaded, thresholds, enzymes, ensembles, tmp_path / "model", DEMO_PFAM)

    # The bundle file holds only tensors and plain python values.
    raw = torch.load(tmp_path / "model" / BUNDLE_FILE, weights_only=True)
    assert raw["format_version"] == FORMAT_VERSION
    assert len(raw["members"]["knn_identity"]["reference_sequences"]) == 90

    bundle = load_bundle(tmp_path / "model")
    features = pd.DataFrame(test.features, columns=data.feature_columns)
    features.insert(0, "id", test.ids)
    embeddings = (
        None
        if plm_dim is None
        else pd.DataFrame({"id": test.ids, "embedding": list(test.embeddings)})
    )
    out = score(bundle, features, embeddings, hits, test.positions)
    rows = calibrated[(calibrated["predictor"] == "model") & (calibrated["split"] == "test")]
    expected = rows.set_index("id")[data.ensemble_ids]
    assert out["calibrated/model"].loc[expected.index].to_numpy() == pytest.approx(
        expected.to_numpy(), abs=1e-9
    )
    assert out["calls"].any(axis=1).all()  # always_call_top by default
    with pytest.raises(BundleError, match="positions"):
        score(bundle, features, embeddings, hits, None)
    if plm_dim is not None:
        with pytest.raises(BundleError, match="embeddings"):
            score(bundle, features, None, hits, test.positions)


def test_bundle_checks(tmp_path):
    with pytest.raises(BundleError, match="no model bundle"):
        load_bundle(tmp_path)
    save_payload({"format_version": 999}, tmp_path / BUNDLE_FILE)
    with pytest.raises(BundleError, match="format"):
        load_bundle(tmp_path)


def test_bundle_carries_its_pfam_hmms_and_refuses_others(tmp_path):
    data = make_dataset(n=60, positions=True)
    hits = make_hits(data)
    is_test = np.arange(60) >= 45
    dev, test = data.subset(~is_test), data.subset(is_test)
    cross_fit = learner.fit_predictors(dev, np.arange(45) % 3, hits, FAST_TRAIN)
    test_scores = learner.score_predictors(cross_fit.fitted, test, hits)
    predictions = learner.long_predictions(cross_fit, dev, test_scores, test)
    thresholds, _ = calibrate_predictions(
        predictions, learner.labels_frame(data), data.ensemble_ids, {}
    )
    enzymes = pd.DataFrame({"id": data.ids, "sequence": ["MKV" + "A" * i for i in range(60)]})
    ensembles = pd.DataFrame({"ensemble_id": data.ensemble_ids, "name": data.ensemble_ids})
    trained = tmp_path / "trained"
    assemble_bundle(cross_fit.fitted, thresholds, enzymes, ensembles, trained, DEMO_PFAM)
    checksums = profile_checksums(DEMO_PFAM)
    assert profile_checksums(trained / PFAM_DIR) == checksums
    assert json.loads((trained / MANIFEST_FILE).read_text())["pfam_profiles"] == checksums

    # A copied model folder uses its own HMMs; the same HMMs elsewhere are accepted.
    copied = tmp_path / "elsewhere" / "model"
    shutil.copytree(trained, copied)
    bundle = load_bundle(copied)
    assert pfam_folder(copied, bundle) == copied / PFAM_DIR
    assert pfam_folder(copied, bundle, DEMO_PFAM) == DEMO_PFAM

    # Other HMMs (one profile edited, one missing) are refused with what differs.
    other = tmp_path / "other_pfam"
    shutil.copytree(DEMO_PFAM, other)
    edited = sorted(other.glob("*.hmm"))[0]
    edited.write_text(edited.read_text().replace("NAME  ", "NAME  x", 1))
    with pytest.raises(BundleError, match=rf"--pfam-dir .*{edited.name}.*leave out --pfam-dir"):
        pfam_folder(copied, bundle, other)
    missing = sorted((copied / PFAM_DIR).glob("*.hmm"))[-1]
    missing.unlink()
    with pytest.raises(BundleError, match=rf"{missing.name}.*the model folder is damaged"):
        pfam_folder(copied, bundle)
    with pytest.raises(BundleError, match="Pfam HMM folder not found"):
        pfam_folder(copied, bundle, tmp_path / "nowhere")
