"""Cluster enzymes with MMseqs2 and assign whole clusters to train/val/test and CV folds."""

import argparse
import time

import _bootstrap  # noqa: F401
import pandas as pd

from terpene_ensembles.errors import InputDataError
from terpene_ensembles.io_utils import setup_logging, write_json, write_tsv
from terpene_ensembles.settings import SplitConfig
from terpene_ensembles.split import homology, splitting

SPLITS = ["train", "val", "test"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--enzymes", required=True, help="parse/enzymes.parquet")
    parser.add_argument("--labels", required=True, help="parse/labels.parquet")
    parser.add_argument("--settings", required=True, help="the config's split section (JSON)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--split", required=True, help="output: split.tsv")
    parser.add_argument("--folds", required=True, help="output: cv_folds.tsv")
    parser.add_argument("--summary", required=True, help="output: summary.json")
    args = parser.parse_args()
    log = setup_logging()
    started = time.perf_counter()
    settings = SplitConfig.from_json(args.settings)

    enzymes = pd.read_parquet(args.enzymes, columns=["id", "sequence", "substrate_family"])
    labels = pd.read_parquet(args.labels)
    if list(labels["id"]) != list(enzymes["id"]):
        missing = sorted(set(enzymes["id"]) ^ set(labels["id"]))[:5]
        raise InputDataError(
            f"labels and enzymes must list the same ids in the same order (differences: {missing})"
        )
    label_columns = labels.drop(columns="id").astype("int64")

    mmseqs = homology.resolve_mmseqs()
    clusters = homology.cluster_sequences(
        enzymes["id"].tolist(),
        enzymes["sequence"].tolist(),
        min_seq_id=settings.min_seq_id,
        coverage=settings.coverage,
        threads=args.threads,
        executable=mmseqs.path,
    )
    sizes = clusters["cluster"].value_counts()
    log.info("%d enzymes in %d clusters (largest %d)", len(clusters), len(sizes), sizes.max())

    matrix, stratified_on = splitting.stratification_matrix(
        label_columns, enzymes["substrate_family"]
    )
    stratified = pd.DataFrame(matrix, columns=stratified_on)
    split = splitting.train_val_test_split(
        clusters["cluster"], matrix, settings.val_fraction, settings.test_fraction,
        settings.seed,
    )  # fmt: skip
    folds = splitting.grouped_folds(clusters["cluster"], matrix, settings.cv_folds, settings.seed)
    for name, assignment in [("split", split), ("cv folds", folds)]:
        straddling = splitting.straddling_groups(assignment, clusters["cluster"])
        if straddling:  # the assignment is by cluster, so this is a bug, never a data issue
            raise RuntimeError(f"clusters straddle {name}: {straddling[:5]}")

    write_tsv(
        pd.DataFrame({"id": clusters["id"], "split": split, "cluster": clusters["cluster"]}),
        args.split,
    )
    write_tsv(
        pd.DataFrame({"id": clusters["id"], "fold": folds, "cluster": clusters["cluster"]}),
        args.folds,
    )
    summary = {
        "settings": settings.as_dict(),
        "mmseqs2": mmseqs.record(),  # version, path and source of the binary that ran
        "clustering": {
            "command": (
                f"mmseqs easy-cluster --min-seq-id {settings.min_seq_id}"
                f" -c {settings.coverage} --cov-mode 0"
            ),
            "n_enzymes": int(len(clusters)),
            "n_clusters": int(len(sizes)),
            "singletons": int((sizes == 1).sum()),
            "largest_clusters": [int(n) for n in sizes.head(10)],
        },
        "stratified_on": stratified_on,
        "split": splitting.split_label_report(split, clusters["cluster"], stratified, SPLITS),
        "cv": splitting.split_label_report(
            folds, clusters["cluster"], stratified, range(settings.cv_folds)
        ),
        "seconds": round(time.perf_counter() - started, 2),
    }
    write_json(summary, args.summary)
    log.info(
        "split enzymes %s clusters %s; folds %s",
        summary["split"]["enzymes"], summary["split"]["clusters"], summary["cv"]["enzymes"],
    )  # fmt: skip


if __name__ == "__main__":
    main()
