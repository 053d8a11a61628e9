"""Calibrate stage: per-predictor, per-class calibration and thresholds from validation rows."""

import argparse
import json

import _bootstrap  # noqa: F401
import pandas as pd

from terpene_ensembles.calibration import calibrate_predictions
from terpene_ensembles.io_utils import setup_logging, write_json, write_parquet
from terpene_ensembles.training_data import read_labels


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--predictions", required=True)
    parser.add_argument("--labels", required=True)
    parser.add_argument("--settings", default="{}", help="config `calibrate` section as JSON")
    parser.add_argument("--outdir", required=True)
    return parser.parse_args()


def main():
    args = parse_args()
    log = setup_logging()
    settings = json.loads(args.settings)
    predictions = pd.read_parquet(args.predictions)
    labels, ensemble_ids = read_labels(args.labels)
    thresholds, calibrated = calibrate_predictions(predictions, labels, ensemble_ids, settings)
    write_json(thresholds, f"{args.outdir}/thresholds.json")
    write_parquet(calibrated, f"{args.outdir}/calibrated_predictions.parquet")
    for predictor, entry in thresholds["predictors"].items():
        methods = pd.Series([c["method"] for c in entry["classes"].values()]).value_counts()
        log.info(
            "%s: %s, global threshold %.3f", predictor, methods.to_dict(), entry["global_threshold"]
        )


if __name__ == "__main__":
    main()
