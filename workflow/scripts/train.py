"""Train stage: fit the fusion network, the baselines and their validation-chosen combination."""

import argparse
import json
import time

import _bootstrap  # noqa: F401
import pandas as pd
import torch

from terpene_ensembles import learner
from terpene_ensembles.io_utils import setup_logging, write_json, write_parquet, write_tsv
from terpene_ensembles.model_bundle import save_payload
from terpene_ensembles.training_data import (
    TrainingInputError,
    load_training_data,
    read_assignment,
    read_identity_hits,
)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--labels", required=True)
    parser.add_argument("--features", required=True)
    parser.add_argument("--split", required=True)
    parser.add_argument("--identity", required=True)
    parser.add_argument(
        "--enzymes", required=True, help="for the substrate-level view (labels only)"
    )
    parser.add_argument("--embeddings", default=None, help="omit when the PLM is disabled")
    parser.add_argument("--settings", default="{}", help="config `train` section as JSON")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--outdir", required=True)
    return parser.parse_args()


def pick_device(settings: dict) -> str:
    return (
        "cuda" if torch.cuda.is_available() and settings.get("device", "auto") != "cpu" else "cpu"
    )


def main():
    args = parse_args()
    log = setup_logging()
    torch.set_num_threads(max(1, args.threads))
    started = time.time()
    settings = json.loads(args.settings)
    data = load_training_data(args.labels, args.features, args.embeddings)
    split = read_assignment(args.split, "split", data.ids)
    unknown = sorted(set(split) - {"train", "val", "test"})
    if unknown:
        raise TrainingInputError(f"split.tsv: unknown split names {unknown}")
    parts = {name: data.subset(split == name) for name in ("train", "val", "test")}
    for name, part in parts.items():
        if len(part.ids) == 0:
            raise TrainingInputError(f"split.tsv: no {name} enzymes")
    hits = read_identity_hits(args.identity)
    device = pick_device(settings)
    log.info(
        "train %d / val %d / test %d enzymes, %d classes, %d features, PLM %s, device %s",
        *(len(p.ids) for p in parts.values()),
        len(data.ensemble_ids),
        len(data.feature_columns),
        data.plm["model"],
        device,
    )
    fitted, history = learner.fit_predictors(parts["train"], parts["val"], hits, settings, device)
    frames = []
    for name in ("val", "test"):
        scores = learner.score_predictors(fitted, parts[name], hits)
        frames.append(learner.predictions_frame(parts[name].ids, name, scores, data.ensemble_ids))
    predictions = pd.concat(frames, ignore_index=True)

    enzymes = pd.read_parquet(args.enzymes, columns=["id", "substrate_family"])
    families, substrate = learner.fit_and_score_substrate(
        parts["train"],
        parts["val"],
        {"test": parts["test"]},
        dict(zip(enzymes["id"].astype(str), enzymes["substrate_family"].astype(str), strict=True)),
        hits,
        settings,
    )
    substrate_rows = []
    for set_name, scores in substrate.items():
        for predictor in learner.PREDICTORS:
            if predictor in scores:
                frame = pd.DataFrame(scores[predictor], columns=families)
                frame.insert(0, "predictor", predictor)
                frame.insert(0, "split", set_name)
                frame.insert(0, "id", scores["ids"])
                substrate_rows.append(frame)

    outdir = args.outdir
    save_payload(fitted, f"{outdir}/model.pt")
    write_tsv(pd.DataFrame(history), f"{outdir}/history.tsv")
    write_parquet(predictions, f"{outdir}/predictions.parquet")
    write_parquet(
        pd.concat(substrate_rows, ignore_index=True), f"{outdir}/substrate_predictions.parquet"
    )
    write_json(
        {
            "plm": data.plm,
            "n_train": len(parts["train"].ids),
            "n_val": len(parts["val"].ids),
            "n_test": len(parts["test"].ids),
            "n_classes": len(data.ensemble_ids),
            "n_features": len(data.feature_columns),
            "device": device,
            "fusion_epochs": len(history),
            "fusion_best_epoch": int(max(history, key=lambda r: r["val_map"])["epoch"]),
            "combination": fitted["combination"],
            "substrate_families": families,
            "seconds": round(time.time() - started, 2),
        },
        f"{outdir}/summary.json",
    )
    log.info("done in %.1f s; combination %s", time.time() - started, fitted["combination"])


if __name__ == "__main__":
    main()
