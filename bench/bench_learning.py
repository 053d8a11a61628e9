"""Time features + split + train + calibrate on the demo MARTS-DB data (target: < 5 min).

Runs the real stage CLIs one after another in a scratch folder (parse first, not counted),
with the PLM branch off unless --embeddings names an embeddings Parquet built for the same
enzymes. Prints one JSON object: seconds per stage, the total, and the test metrics of the
model and the identity kNN from an evaluate run (CV left out: `--cv` must exist, so an
empty summary is written).

    python bench/bench_learning.py [--marts resources/demo/marts_db.csv] [--keep DIR]
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = REPO / "workflow" / "scripts"
SPLIT_SETTINGS = {
    "min_seq_id": 0.4,
    "coverage": 0.8,
    "val_fraction": 0.1,
    "test_fraction": 0.1,
    "cv_folds": 5,
    "seed": 42,
}


def run(stage: str, args: list[str], timings: dict) -> None:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, str(SCRIPTS / f"{stage}.py"), *args], capture_output=True, text=True
    )
    timings[stage] = round(time.perf_counter() - started, 2)
    if result.returncode:
        sys.exit(f"{stage} failed:\n{result.stderr[-3000:]}")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--marts", default=str(REPO / "resources" / "demo" / "marts_db.csv"))
    parser.add_argument("--pfam-dir", default=str(REPO / "resources" / "demo" / "pfam"))
    parser.add_argument("--embeddings", default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--keep", default=None, help="work folder to keep (default: temporary)")
    args = parser.parse_args()
    work = Path(args.keep or tempfile.mkdtemp(prefix="bench_learning_"))
    r = {
        name: work / name
        for name in ("parse", "features", "split", "train", "calibrate", "cv", "report")
    }
    for folder in r.values():
        folder.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    threads = str(args.threads)
    run(
        "parse",
        [
            "--marts",
            args.marts,
            "--names",
            str(REPO / "config" / "ensemble_names.tsv"),
            "--enzymes",
            str(r["parse"] / "enzymes.parquet"),
            "--labels",
            str(r["parse"] / "labels.parquet"),
            "--ensembles",
            str(r["parse"] / "ensembles.tsv"),
            "--rejected",
            str(r["parse"] / "rejected.tsv"),
            "--summary",
            str(r["parse"] / "summary.json"),
        ],
        timings,
    )
    enzymes, labels = str(r["parse"] / "enzymes.parquet"), str(r["parse"] / "labels.parquet")
    counted = time.perf_counter()
    run(
        "features",
        [
            "--enzymes",
            enzymes,
            "--pfam-dir",
            args.pfam_dir,
            "--threads",
            threads,
            "--output",
            str(r["features"] / "features.parquet"),
            "--columns",
            str(r["features"] / "feature_columns.tsv"),
            "--positions",
            str(r["features"] / "positions.parquet"),
        ],
        timings,
    )
    run(
        "pairwise_identity",
        [
            "--enzymes",
            enzymes,
            "--threads",
            threads,
            "--output",
            str(r["split"] / "pairwise_identity.parquet"),
        ],
        timings,
    )
    run(
        "split",
        [
            "--enzymes",
            enzymes,
            "--labels",
            labels,
            "--threads",
            threads,
            "--settings",
            json.dumps(SPLIT_SETTINGS),
            "--split",
            str(r["split"] / "split.tsv"),
            "--folds",
            str(r["split"] / "cv_folds.tsv"),
            "--summary",
            str(r["split"] / "summary.json"),
        ],
        timings,
    )
    embeddings = ["--embeddings", args.embeddings] if args.embeddings else []
    run(
        "train",
        [
            "--labels",
            labels,
            "--features",
            str(r["features"] / "features.parquet"),
            "--positions",
            str(r["features"] / "positions.parquet"),
            "--split",
            str(r["split"] / "split.tsv"),
            "--folds",
            str(r["split"] / "cv_folds.tsv"),
            "--identity",
            str(r["split"] / "pairwise_identity.parquet"),
            "--enzymes",
            enzymes,
            *embeddings,
            "--threads",
            "1",
            "--model",
            str(r["train"] / "model.pt"),
            "--predictions",
            str(r["train"] / "predictions.parquet"),
            "--substrate",
            str(r["train"] / "substrate_predictions.parquet"),
            "--summary",
            str(r["train"] / "summary.json"),
        ],
        timings,
    )
    run(
        "calibrate",
        [
            "--predictions",
            str(r["train"] / "predictions.parquet"),
            "--labels",
            labels,
            "--thresholds",
            str(r["calibrate"] / "thresholds.json"),
            "--calibrated",
            str(r["calibrate"] / "calibrated_predictions.parquet"),
        ],
        timings,
    )
    total = round(time.perf_counter() - counted, 2)
    (r["cv"] / "summary.json").write_text("{}")
    run(
        "evaluate",
        [
            "--calibrated",
            str(r["calibrate"] / "calibrated_predictions.parquet"),
            "--thresholds",
            str(r["calibrate"] / "thresholds.json"),
            "--labels",
            labels,
            "--enzymes",
            enzymes,
            "--ensembles",
            str(r["parse"] / "ensembles.tsv"),
            "--substrate",
            str(r["train"] / "substrate_predictions.parquet"),
            "--train-summary",
            str(r["train"] / "summary.json"),
            "--parse-summary",
            str(r["parse"] / "summary.json"),
            "--split-summary",
            str(r["split"] / "summary.json"),
            "--cv",
            str(r["cv"] / "summary.json"),
            "--metrics",
            str(r["report"] / "metrics.json"),
            "--test-predictions",
            str(r["report"] / "test_predictions.tsv"),
        ],
        timings,
    )
    metrics = json.loads((r["report"] / "metrics.json").read_text())
    test = metrics["test"]
    print(
        json.dumps(
            {
                "seconds": timings,
                "features_split_train_calibrate_seconds": total,
                "target_seconds": 300,
                "model": {k: test["model"][k] for k in ("map", "precision_at_1", "macro_f1")},
                "knn_identity": {
                    k: test["baselines"]["knn_identity"][k]
                    for k in ("map", "precision_at_1", "macro_f1")
                },
                "acceptance": metrics["acceptance"],
                "work_dir": str(work),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
