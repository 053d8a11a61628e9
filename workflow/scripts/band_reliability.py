"""Reliability stage: top-call precision, call precision and recall by homology band, for
the model and the homology baseline (learning.reliability), and its honesty check on the
test split and the CV folds -> reliability.json (read by the model bundle and evaluate)."""

import argparse

import _bootstrap  # noqa: F401
import pandas as pd

from terpene_ensembles.io_utils import read_json, setup_logging, write_json
from terpene_ensembles.learning.reliability import reliability_section
from terpene_ensembles.learning.training_data import read_labels


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calibrated", required=True)
    parser.add_argument("--thresholds", required=True)
    parser.add_argument("--labels", required=True)
    parser.add_argument("--train-summary", required=True)
    parser.add_argument("--best-identity", required=True, help="train/best_identity.tsv")
    parser.add_argument(
        "--random-folds", required=True, help="train/random_fold_predictions.parquet"
    )
    parser.add_argument("--cv-folds", nargs="+", required=True, help="cv fold metrics.json")
    parser.add_argument("--output", required=True, help="reliability.json")
    return parser.parse_args()


def main():
    args = parse_args()
    log = setup_logging()
    labels, ensemble_ids = read_labels(args.labels)
    section = reliability_section(
        pd.read_parquet(args.calibrated),
        read_json(args.thresholds),
        labels.assign(id=labels["id"].astype(str)).set_index("id"),
        ensemble_ids,
        pd.read_csv(args.best_identity, sep="\t", dtype={"id": str}),
        pd.read_parquet(args.random_folds),
        [read_json(path) for path in args.cv_folds],
        "model",
        read_json(args.train_summary).get("homology_baseline"),
    )
    write_json(section, args.output)
    for row in section["predictors"]["model"]:
        log.info(
            "band %s (%s): n %d, top-call precision %s",
            row["band"],
            row["procedure"],
            row["n"],
            row["top_precision"],
        )
    log.info(
        "honesty: test %s, CV folds %s",
        section["honesty"]["test"]["passed"],
        (section["honesty"]["cv_folds"] or {}).get("passed"),
    )


if __name__ == "__main__":
    main()
