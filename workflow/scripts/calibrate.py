"""Calibrate stage: per-predictor, per-class calibration and thresholds from validation rows."""

import argparse

import _bootstrap  # noqa: F401
import pandas as pd

from terpene_ensembles.io_utils import setup_logging, write_json, write_parquet
from terpene_ensembles.learning.calibration import calibrate_predictions
from terpene_ensembles.learning.training_data import read_labels
from terpene_ensembles.settings import CalibrateConfig


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--predictions", required=True)
    parser.add_argument("--labels", required=True)
    parser.add_argument("--settings", default="{}", help="config `calibrate` section as JSON")
    parser.add_argument("--thresholds", required=True, help="output: thresholds.json")
    parser.add_argument("--calibrated", required=True, help="output: calibrated predictions")
    return parser.parse_args()


def main():
    args = parse_args()
    log = setup_logging()
    settings = CalibrateConfig.from_json(args.settings)
    predictions = pd.read_parquet(args.predictions)
    labels, ensemble_ids = read_labels(args.labels)
    thresholds, calibrated = calibrate_predictions(predictions, labels, ensemble_ids, settings)
    write_json(thresholds, args.thresholds)
    write_parquet(calibrated, args.calibrated)
    for predictor, entry in thresholds["predictors"].items():
        methods = pd.Series([c["method"] for c in entry["classes"].values()]).value_counts()
        log.info(
            "%s: %s, global threshold %.3f", predictor, methods.to_dict(), entry["global_threshold"]
        )


if __name__ == "__main__":
    main()
