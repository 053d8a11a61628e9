"""Train stage: cross-fit the members and the stacked combiner on the development enzymes.

Development = every labelled enzyme outside the test split; inner folds = the grouped CV
folds restricted to them. Writes the fitted model, the out-of-fold (``oof``) and test
scores of every predictor, and the substrate-level test scores.
"""

import argparse
import time

import _bootstrap  # noqa: F401
import pandas as pd

from terpene_ensembles.io_utils import setup_logging, write_json, write_parquet, write_tsv
from terpene_ensembles.learning.cross_fitting import (
    fit_and_score,
    reliability_inputs,
    training_device,
)
from terpene_ensembles.learning.members import registry
from terpene_ensembles.learning.substrate import substrate_predictions
from terpene_ensembles.learning.training_data import (
    TrainingInputError,
    load_training_data,
    read_assignment,
    read_identity_hits,
)
from terpene_ensembles.settings import TrainConfig


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--labels", required=True)
    parser.add_argument("--features", required=True)
    parser.add_argument("--positions", required=True, help="features/positions.parquet")
    parser.add_argument("--split", required=True)
    parser.add_argument("--folds", required=True, help="split/cv_folds.tsv (inner folds)")
    parser.add_argument("--identity", required=True)
    parser.add_argument(
        "--enzymes", required=True, help="for the substrate-level view (labels only)"
    )
    parser.add_argument("--embeddings", default=None, help="omit when the PLM is disabled")
    parser.add_argument("--settings", default="{}", help="config `train` section as JSON")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", required=True, help="fitted model (model.pt)")
    parser.add_argument("--predictions", required=True, help="predictions.parquet")
    parser.add_argument("--substrate", required=True, help="substrate_predictions.parquet")
    parser.add_argument("--summary", required=True, help="summary.json")
    parser.add_argument(
        "--best-identity", required=True, help="best_identity.tsv (OOF and test rows)"
    )
    parser.add_argument(
        "--random-folds", required=True, help="random_fold_predictions.parquet (reliability)"
    )
    return parser.parse_args()


def main():
    args = parse_args()
    log = setup_logging()
    started = time.time()
    settings = TrainConfig.from_json(args.settings)
    data = load_training_data(args.labels, args.features, args.embeddings, args.positions)
    split = read_assignment(args.split, "split", data.ids)
    unknown = sorted(set(split) - {"train", "val", "test"})
    if unknown:
        raise TrainingInputError(f"split.tsv: unknown split names {unknown}")
    folds = read_assignment(args.folds, "fold", data.ids).astype(int)
    is_test = split == "test"
    if not is_test.any() or is_test.all():
        raise TrainingInputError("split.tsv: need both test and non-test enzymes")
    hits = read_identity_hits(args.identity)
    device = training_device(settings, args.threads)
    log.info(
        "development %d / test %d enzymes, %d inner folds, %d classes, %d features, PLM %s, %s",
        int((~is_test).sum()),
        int(is_test.sum()),
        len(set(folds[~is_test])),
        len(data.ensemble_ids),
        len(data.feature_columns),
        data.plm["model"],
        device,
    )
    cross_fit, test_scores, predictions = fit_and_score(
        data, is_test, folds, hits, settings, device
    )
    identity, random_folds = reliability_inputs(
        cross_fit,
        data.subset(~is_test),
        data.subset(is_test),
        test_scores,
        len(set(folds[~is_test])),
        hits,
        settings,
        device,
    )
    enzymes = pd.read_parquet(args.enzymes, columns=["id", "substrate_family"])
    families = dict(
        zip(enzymes["id"].astype(str), enzymes["substrate_family"].astype(str), strict=True)
    )
    substrate = substrate_predictions(data, is_test, folds, families, hits, settings, device)

    cross_fit.model.save(args.model)
    write_parquet(predictions, args.predictions)
    write_parquet(substrate, args.substrate)
    write_tsv(identity, args.best_identity)
    write_parquet(random_folds, args.random_folds)
    write_json(
        {
            "plm": data.plm,
            "n_dev": int((~is_test).sum()),
            "n_test": int(is_test.sum()),
            "n_inner_folds": len(set(folds[~is_test])),
            "n_classes": len(data.ensemble_ids),
            "n_features": len(data.feature_columns),
            "device": device,
            "members": list(cross_fit.model.members),
            "combiner_members": cross_fit.model.combined_members,
            "candidates": cross_fit.candidates,
            "baselines": list(registry.baseline_names()),
            "homology_baseline": registry.homology_baseline_name(),
            "selection": cross_fit.model.selection,
            "substrate_families": [
                c for c in substrate.columns if c not in ("id", "split", "predictor")
            ],
            "seconds": round(time.time() - started, 2),
        },
        args.summary,
    )
    log.info("done in %.1f s", time.time() - started)


if __name__ == "__main__":
    main()
