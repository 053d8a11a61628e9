"""Evaluate stage: test metrics of the model and every baseline (same run) -> metrics.json.

Also writes test_predictions.tsv: one row per test enzyme with its true and called
ensembles (';'-joined ensemble ids), the evidence columns of screening predictions
(support, identity band and expected top-call precision, nearest training enzymes with
their name and ensembles: predict.evidence) and one calibrated model probability column per
ensemble, named by ensemble id (the column order of ensembles.tsv).
"""

import argparse
from pathlib import Path

import _bootstrap  # noqa: F401
import numpy as np
import pandas as pd

from terpene_ensembles.errors import InputDataError
from terpene_ensembles.io_utils import read_json, setup_logging, write_json, write_tsv
from terpene_ensembles.learning.calibration import called_names, calls_from_thresholds
from terpene_ensembles.learning.metrics import acceptance, predictor_metrics, substrate_metrics
from terpene_ensembles.learning.training_data import OOF_SPLIT, read_identity_hits, read_labels
from terpene_ensembles.predict.evidence import (
    PredictionContext,
    evidence_columns,
    nearest_neighbours,
)
from terpene_ensembles.settings import PlmConfig

SUBSTRATE_METHOD = (
    "Chain-length family (C5/C10/C15/...) from the MARTS Type column, used only as the label "
    "(never a feature). Scored by the same procedure as the ensemble model with two members: "
    "one-vs-rest logistic regression on the sequence features plus identity-weighted kNN over "
    "the MMseqs2 hits to training enzymes, cross-fitted and stacked like the ensemble model; "
    "mAP = mean over families present in the test enzymes of the one-vs-rest average precision. "
    "Enzymes whose family is 'none' (inactive only / unknown Type) are left out."
)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calibrated", required=True)
    parser.add_argument("--thresholds", required=True)
    parser.add_argument("--labels", required=True)
    parser.add_argument("--enzymes", required=True)
    parser.add_argument("--ensembles", required=True)
    parser.add_argument("--substrate", required=True, help="train/substrate_predictions.parquet")
    parser.add_argument("--train-summary", required=True)
    parser.add_argument("--parse-summary", required=True)
    parser.add_argument("--split-summary", required=True)
    parser.add_argument("--cv", required=True)
    parser.add_argument("--predictions", required=True, help="train/predictions.parquet (raw)")
    parser.add_argument("--reliability", required=True, help="reliability/reliability.json")
    parser.add_argument("--identity", required=True, help="split/pairwise_identity.parquet")
    parser.add_argument("--bundle-manifest", default=None, help="model/manifest.json")
    parser.add_argument("--plm", default="{}", help="config `plm` section as JSON")
    parser.add_argument("--metrics", required=True, help="output: metrics.json")
    parser.add_argument("--test-predictions", required=True, help="output: test_predictions.tsv")
    return parser.parse_args()


def prediction_context(calibrated, truth, enzymes, train_summary, reliability, ensemble_ids):
    """The evidence context of the trained model: its training enzymes are the development
    enzymes (the OOF rows)."""
    training = calibrated.loc[calibrated["split"] == OOF_SPLIT, "id"].astype(str).unique()
    names = dict(zip(enzymes["id"].astype(str), enzymes["enzyme_name"].fillna(""), strict=True))
    rows = truth.loc[training, ensemble_ids].to_numpy().astype(bool)
    return PredictionContext(
        members=list(train_summary["combiner_members"]),
        reliability=reliability["predictors"]["model"],
        reference_names={i: str(names.get(i, "")) for i in training},
        reference_ensembles={
            i: [c for c, on in zip(ensemble_ids, row, strict=True) if on]
            for i, row in zip(training, rows, strict=True)
        },
    )


def test_predictions_table(calibrated, raw, truth, calibration, ensemble_ids, hits, context):
    test = calibrated[calibrated["split"] == "test"]
    model = test[test["predictor"] == "model"]
    ids = model["id"].astype(str).tolist()
    scores = model[ensemble_ids].to_numpy(np.float64)
    calls = calls_from_thresholds(calibration, "model", scores, ensemble_ids)
    y = truth.loc[ids, ensemble_ids].to_numpy()
    names = np.array(ensemble_ids)
    called = called_names(scores, calls, ensemble_ids)
    training = set(context.reference_names)
    neighbours = nearest_neighbours(hits[hits["target"].isin(training)], ids)
    nearest = [neighbours[i][0] for i in ids]
    identities = [neighbours[i][1] for i in ids]
    best = [max(values) if values else float("nan") for values in identities]
    raw_test = raw[raw["split"] == "test"]
    members = {  # raw scores: each member's own ranking
        name: raw_test[raw_test["predictor"] == name]
        .set_index("id")
        .loc[ids, ensemble_ids]
        .to_numpy()
        for name in context.members
    }
    evidence = evidence_columns(called, members, ensemble_ids, nearest, best, context)
    table = pd.DataFrame(
        {
            "id": ids,
            "true_ensembles": [";".join(names[row == 1]) for row in y],
            "called_ensembles": [";".join(row) for row in called],
            "support": [";".join(row) for row in evidence["support"]],
            "identity_band": evidence["identity_band"],
            "expected_top_precision": np.round(evidence["expected_top_precision"], 6),
            "best_identity": np.round(best, 4),
            "nearest_training": [";".join(row) for row in nearest],
            "nearest_identity": [";".join(f"{v:.4f}" for v in row) for row in identities],
            "nearest_training_name": evidence["nearest_training_name"],
            "nearest_training_ensembles": [
                ";".join(row) for row in evidence["nearest_training_ensembles"]
            ],
        }
    )
    probabilities = pd.DataFrame(np.round(scores, 6), columns=ensemble_ids)
    return pd.concat([table, probabilities], axis=1)


def main():
    args = parse_args()
    log = setup_logging()
    labels, ensemble_ids = read_labels(args.labels)
    ensembles = pd.read_csv(args.ensembles, sep="\t")
    if list(ensembles["ensemble_id"]) != ensemble_ids:
        raise InputDataError("labels columns and ensembles.tsv disagree on the ensemble list")
    truth = labels.set_index("id")
    calibrated = pd.read_parquet(args.calibrated)
    calibration = read_json(args.thresholds)
    enzymes = pd.read_parquet(args.enzymes, columns=["id", "substrate_family", "enzyme_name"])
    families = dict(zip(enzymes["id"], enzymes["substrate_family"], strict=True))
    train_summary = read_json(args.train_summary)
    plm_settings = PlmConfig.from_json(args.plm)
    reliability = read_json(args.reliability)

    test = predictor_metrics(
        calibrated, truth, calibration, ensemble_ids, train_summary["baselines"], "test"
    )
    plm = dict(train_summary["plm"])
    plm["enabled"] = bool(plm_settings.enabled)
    substrate = substrate_metrics(pd.read_parquet(args.substrate), families, "test")
    metrics = {
        "plm": plm,
        "n_enzymes": int(len(labels)),
        "n_classes": len(ensemble_ids),
        "data": read_json(args.parse_summary),
        "split": read_json(args.split_summary),
        "training": {
            k: train_summary[k]
            for k in (
                "n_dev",
                "n_test",
                "n_inner_folds",
                "n_features",
                "members",
                "combiner_members",
                "baselines",
                "homology_baseline",
                "candidates",
                "selection",
                "device",
            )
            if k in train_summary
        },
        "calibration": {
            predictor: {
                "global_threshold": entry["global_threshold"],
                "methods": pd.Series([c["method"] for c in entry["classes"].values()])
                .value_counts()
                .to_dict(),
                "fallback_classes": sum(c["fallback"] for c in entry["classes"].values()),
            }
            for predictor, entry in calibration["predictors"].items()
        },
        "test": test,
        "acceptance": acceptance(test),
        "substrate": {"method": SUBSTRATE_METHOD, "test": substrate},
        "cv": read_json(args.cv),
        "reliability": reliability,
    }
    if args.bundle_manifest:
        manifest = read_json(args.bundle_manifest)
        metrics["model_bundle"] = {
            "path": str(Path(args.bundle_manifest).parent),
            "format_version": manifest.get("format_version"),
            "consistency_max_abs_diff": manifest.get("consistency_max_abs_diff"),
        }
    write_json(metrics, args.metrics)
    write_tsv(
        test_predictions_table(
            calibrated,
            pd.read_parquet(args.predictions),
            truth,
            calibration,
            ensemble_ids,
            read_identity_hits(args.identity),
            prediction_context(
                calibrated, truth, enzymes, train_summary, reliability, ensemble_ids
            ),
        ),
        args.test_predictions,
    )
    log.info(
        "test: model mAP %.4f macro-F1 %.4f | %s | acceptance %s",
        test["model"]["map"],
        test["model"]["macro_f1"],
        ", ".join(
            f"{name} mAP {entry['map']} macro-F1 {entry['macro_f1']}"
            for name, entry in test["baselines"].items()
        ),
        metrics["acceptance"],
    )
    log.info(
        "reliability honesty: test %s, CV folds %s",
        reliability["honesty"]["test"]["passed"],
        (reliability["honesty"]["cv_folds"] or {}).get("passed"),
    )


if __name__ == "__main__":
    main()
