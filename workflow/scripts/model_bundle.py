"""Assemble the trained-model bundle (results/model/) for screening new sequences.

After writing it, the test enzymes are re-scored from the bundle alone (as the predict
stage will) and the job fails unless the calibrated model probabilities and calls match
calibrate's output. (The out-of-fold rows come from the cross-fitted members, not from the
final model, so they are not expected to match.)
"""

import argparse

import _bootstrap  # noqa: F401
import numpy as np
import pandas as pd

from terpene_ensembles.io_utils import read_json, setup_logging, write_json
from terpene_ensembles.learning.bundle import MANIFEST_FILE, BundleError, ModelBundle
from terpene_ensembles.learning.calibration import calls_from_thresholds
from terpene_ensembles.learning.model import FittedModel
from terpene_ensembles.learning.training_data import read_embeddings, read_identity_hits

TOLERANCE = 1e-5


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True, help="train/model.pt")
    parser.add_argument("--thresholds", required=True)
    parser.add_argument("--calibrated", required=True)
    parser.add_argument("--enzymes", required=True)
    parser.add_argument("--ensembles", required=True)
    parser.add_argument("--features", required=True)
    parser.add_argument("--positions", required=True)
    parser.add_argument("--identity", required=True)
    parser.add_argument("--embeddings", default=None)
    parser.add_argument(
        "--pfam-dir", required=True, help="the Pfam HMMs of the features stage (copied in)"
    )
    parser.add_argument("--labels", required=True, help="the training enzymes' ensembles")
    parser.add_argument("--reliability", required=True, help="reliability/reliability.json")
    parser.add_argument("--outdir", required=True, help="output: the model directory")
    return parser.parse_args()


def main():
    args = parse_args()
    log = setup_logging()
    thresholds = read_json(args.thresholds)
    ModelBundle.assemble(
        FittedModel.load(args.model),
        thresholds,
        pd.read_parquet(args.enzymes),
        pd.read_csv(args.ensembles, sep="\t"),
        args.pfam_dir,
        labels=pd.read_parquet(args.labels),
        reliability=read_json(args.reliability),
    ).save(args.outdir)
    bundle = ModelBundle.load(args.outdir)  # scored as predict will: from the files
    classes = bundle.ensemble_ids
    calibrated = pd.read_parquet(args.calibrated)
    rows = calibrated[(calibrated["predictor"] == "model") & (calibrated["split"] == "test")]
    expected = rows.set_index("id")[classes]
    features = pd.read_parquet(args.features)
    features = features[features["id"].isin(expected.index)]
    embeddings = read_embeddings(args.embeddings)[0] if args.embeddings else None
    scored = bundle.score(
        features,
        embeddings,
        read_identity_hits(args.identity),
        pd.read_parquet(args.positions),
    )
    got = scored["calibrated/model"].loc[expected.index]
    difference = float(np.abs(got.to_numpy() - expected.to_numpy()).max())
    expected_calls = calls_from_thresholds(thresholds, "model", expected.to_numpy(), classes)
    same_calls = bool((scored["calls"].loc[expected.index].to_numpy() == expected_calls).all())
    if difference > TOLERANCE or not same_calls:
        raise BundleError(
            f"bundle does not reproduce calibrate's predictions (max |diff| {difference:.2e}, "
            f"same calls: {same_calls})"
        )
    manifest_path = f"{args.outdir}/{MANIFEST_FILE}"
    manifest = read_json(manifest_path)
    manifest["consistency_max_abs_diff"] = difference
    manifest["consistency_enzymes"] = len(expected)
    write_json(manifest, manifest_path)
    log.info(
        "bundle written to %s; re-scored %d enzymes, max |diff| %.2e",
        args.outdir,
        len(expected),
        difference,
    )


if __name__ == "__main__":
    main()
