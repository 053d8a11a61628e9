import numpy as np
import pandas as pd
import pytest
import torch
from learning_synthetic import FAST_TRAIN, make_dataset, make_hits

from terpene_ensembles import learner
from terpene_ensembles.calibration import calibrate_predictions
from terpene_ensembles.model_bundle import (
    BUNDLE_FILE,
    BundleError,
    assemble_bundle,
    check_plm,
    load_bundle,
    load_payload,
    save_payload,
    score,
)


@pytest.mark.parametrize("plm_dim", [None, 8])
def test_bundle_reproduces_training_run_predictions(tmp_path, plm_dim):
    data = make_dataset(n=120, plm_dim=plm_dim)
    hits = make_hits(data)
    train, val = data.subset(np.arange(120) < 80), data.subset(np.arange(120) >= 80)
    fitted, _ = learner.fit_predictors(train, val, hits, FAST_TRAIN)
    save_payload(fitted, tmp_path / "model.pt")
    reloaded = load_payload(tmp_path / "model.pt")
    predictions = learner.predictions_frame(
        val.ids, "val", learner.score_predictors(reloaded, val, hits), data.ensemble_ids
    )
    labels = pd.DataFrame(data.labels, columns=data.ensemble_ids)
    labels.insert(0, "id", data.ids)
    thresholds, calibrated = calibrate_predictions(predictions, labels, data.ensemble_ids, {})
    enzymes = pd.DataFrame({"id": data.ids, "sequence": ["MKV" + "A" * i for i in range(120)]})
    ensembles = pd.DataFrame({"ensemble_id": data.ensemble_ids, "name": data.ensemble_ids})
    assemble_bundle(reloaded, thresholds, enzymes, ensembles, tmp_path / "model")

    # The bundle file holds only tensors and plain python values.
    raw = torch.load(tmp_path / "model" / BUNDLE_FILE, weights_only=True)
    assert raw["format_version"] == 1
    assert (tmp_path / "model" / "reference.fasta").read_text().count(">") == 80

    bundle = load_bundle(tmp_path / "model")
    features = pd.DataFrame(val.features, columns=data.feature_columns)
    features.insert(0, "id", val.ids)
    embeddings = (
        None
        if plm_dim is None
        else pd.DataFrame({"id": val.ids, "embedding": list(val.embeddings)})
    )
    out = score(bundle, features, embeddings, hits)
    expected = calibrated[calibrated["predictor"] == "model"].set_index("id")[data.ensemble_ids]
    assert out["calibrated/model"].loc[expected.index].to_numpy() == pytest.approx(
        expected.to_numpy(), abs=1e-9
    )
    assert out["calls"].any(axis=1).all()  # always_call_top by default
    if plm_dim is not None:
        with pytest.raises(BundleError, match="embeddings"):
            score(bundle, features, None, hits)


def test_bundle_checks(tmp_path):
    with pytest.raises(BundleError, match="no model bundle"):
        load_bundle(tmp_path)
    save_payload({"format_version": 999}, tmp_path / BUNDLE_FILE)
    with pytest.raises(BundleError, match="format"):
        load_bundle(tmp_path)
    bundle = {"plm": {"model": "esm2_t6_8M_UR50D", "weights_sha256": "abc"}}
    check_plm(bundle, "esm2_t6_8M_UR50D", "abc")
    with pytest.raises(BundleError, match="trained with PLM"):
        check_plm(bundle, None)
    with pytest.raises(BundleError, match="sha256"):
        check_plm(bundle, "esm2_t6_8M_UR50D", "def")
