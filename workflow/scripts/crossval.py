"""Cross-validation fold: the whole learning procedure (cross-fitting, stacking, calibration,
thresholds) on one grouped outer fold, plus the ablations -> fold metrics.json."""

import argparse
import time

import _bootstrap  # noqa: F401
import pandas as pd

from terpene_ensembles.io_utils import setup_logging, write_json
from terpene_ensembles.learning.cross_fitting import training_device
from terpene_ensembles.learning.cross_validation import run_fold
from terpene_ensembles.learning.training_data import (
    load_training_data,
    read_assignment,
    read_identity_hits,
)
from terpene_ensembles.settings import CalibrateConfig, TrainConfig


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fold", type=int, required=True)
    parser.add_argument("--labels", required=True)
    parser.add_argument("--features", required=True)
    parser.add_argument("--positions", required=True, help="features/positions.parquet")
    parser.add_argument("--folds", required=True, help="split/cv_folds.tsv")
    parser.add_argument("--identity", required=True)
    parser.add_argument("--enzymes", required=True, help="for the substrate-level view")
    parser.add_argument("--embeddings", default=None, help="omit when the PLM is disabled")
    parser.add_argument("--train-settings", default="{}")
    parser.add_argument("--calibrate-settings", default="{}")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", required=True, help="fold metrics.json")
    return parser.parse_args()


def main():
    args = parse_args()
    log = setup_logging()
    started = time.time()
    data = load_training_data(args.labels, args.features, args.embeddings, args.positions)
    folds = read_assignment(args.folds, "fold", data.ids).astype(int)
    enzymes = pd.read_parquet(args.enzymes, columns=["id", "substrate_family"])
    families = dict(zip(enzymes["id"].astype(str), enzymes["substrate_family"], strict=True))
    train_settings = TrainConfig.from_json(args.train_settings)
    device = training_device(train_settings, args.threads)
    metrics = run_fold(
        data,
        folds,
        args.fold,
        read_identity_hits(args.identity),
        families,
        train_settings,
        CalibrateConfig.from_json(args.calibrate_settings),
        device,
    )
    metrics["seconds"] = round(time.time() - started, 2)
    write_json(metrics, args.output)
    log.info("fold %d: %s", args.fold, metrics["acceptance"])


if __name__ == "__main__":
    main()
